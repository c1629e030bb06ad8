"""Where the UltraZend host lives: the Target interface and its local implementation.

Everything that touches the host goes through a :class:`Target`, so the same
phase code runs against the sandbox (``LocalTarget``) and against production
(``SSHTarget`` in :mod:`runbook.ssh`). Commands are argv lists; when a shell
line is needed it is built with :func:`shlex.join`, never by concatenation.

Example
-------
>>> t = LocalTarget()
>>> t.run(["echo", "hello; $(whoami)"]).stdout
'hello; $(whoami)\\n'
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from .errors import CommandFailed, CommandTimeout, TargetError

DEFAULT_COMMAND_TIMEOUT = 120.0


@dataclass
class CommandResult:
    """What one command did on the host."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def check(self) -> "CommandResult":
        """Return self, or raise :class:`CommandFailed` when the exit code is not 0."""
        if not self.ok:
            tail = (self.stderr or self.stdout).strip().splitlines()[-3:]
            raise CommandFailed(
                f"`{self.command_line}` exited {self.exit_code}: " + " | ".join(tail),
                result=self,
            )
        return self


@runtime_checkable
class Target(Protocol):
    """The operations the runbook needs from a host."""

    name: str

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = False,
    ) -> CommandResult: ...

    def read_bytes(self, path: str) -> bytes: ...

    def write_bytes(self, path: str, data: bytes, mode: int | None = None) -> None: ...

    def exists(self, path: str) -> bool: ...

    def fetch(self, path: str, local_path: Path) -> Path: ...

    def put(self, local_path: Path, path: str) -> None: ...

    def connect(self, host: str, port: int, timeout: float) -> Any:
        """A TCP connection opened *from the host* (socket-like: sendall, recv, close)."""
        ...

    def close(self) -> None: ...


class TargetFiles:
    """Text helpers shared by every Target implementation."""

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")  # type: ignore[attr-defined]

    def write_text(self, path: str, text: str, mode: int | None = None) -> None:
        self.write_bytes(path, text.encode("utf-8"), mode)  # type: ignore[attr-defined]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()  # type: ignore[attr-defined]


def shell_line(argv: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """One POSIX shell line for ``argv``, quoted with shlex, with optional cwd and env.

    >>> shell_line(["ls", "a b"], cwd="/srv/app", env={"X": "1"})
    "cd /srv/app && env X=1 ls 'a b'"
    """
    line = shlex.join([str(a) for a in argv])
    if env:
        line = shlex.join(["env", *[f"{k}={v}" for k, v in env.items()]]) + " " + line
    if cwd:
        line = f"cd {shlex.quote(cwd)} && {line}"
    return line


# openssl's SHA-256 uses the CPU's SHA instructions where it has them: about 1 s per GiB on the
# benchmark machine against 4 s for coreutils' sha256sum, which stays the fallback.
_SHA256_SH = ('if command -v openssl >/dev/null 2>&1; then exec openssl dgst -sha256 -r -- "$1"; '
              'else exec sha256sum -- "$1"; fi')


def sha256_argv(path: str) -> list[str]:
    """The host command printing the SHA-256 of ``path`` as its first word (the path is an argument, never code).

    >>> sha256_argv("/b/x; rm -rf /")[-1]
    '/b/x; rm -rf /'
    """
    return ["sh", "-c", _SHA256_SH, "sha256", path]


def host_sha256(target, path: str, *, timeout: float | None = 3600) -> str:
    """SHA-256 hex digest of a host file, computed on the host (no transfer).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     host_sha256(LocalTarget(), f.name)[:16]
    'e3b0c44298fc1c14'
    """
    r = target.run(sha256_argv(path), timeout=timeout)
    digest = r.stdout.split()[0] if r.ok and r.stdout.split() else ""
    if len(digest) != 64:
        raise TargetError(f"cannot checksum {path} on {target.name}: {(r.stderr or r.stdout).strip()[:200] or r.exit_code}.")
    return digest


class LocalTarget(TargetFiles):
    """The host is this machine: subprocess for commands, the local file system for files."""

    def __init__(self, *, command_timeout: float = DEFAULT_COMMAND_TIMEOUT, env: Mapping[str, str] | None = None):
        self.name = "local"
        self.command_timeout = command_timeout
        self.base_env = dict(env or {})

    def run(self, argv, *, timeout=None, cwd=None, env=None, input=None, check=False) -> CommandResult:
        argv = [str(a) for a in argv]
        full_env = {**os.environ, **self.base_env, **(env or {})}
        started = time.monotonic()
        limit = timeout or self.command_timeout
        try:
            # Own process group, so a timeout stops the whole tree: subprocess.run would
            # kill only argv[0] and leave e.g. the `sleep` of `sh -c "sleep 300"` running.
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.PIPE if input is not None else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                process_group=0,
            )
        except FileNotFoundError as exc:
            # Same convention as a shell: command not found is exit 127, not an exception.
            return CommandResult(argv, 127, "", f"{argv[0]}: command not found ({exc})", time.monotonic() - started)
        try:
            stdout, stderr = proc.communicate(input, timeout=limit)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            raise CommandTimeout(
                f"`{shlex.join(argv)}` did not finish within {limit:g} s and was stopped."
            ) from exc
        except BaseException:
            _kill_group(proc)  # Ctrl-C or an error while waiting: leave nothing running
            raise
        result = CommandResult(argv, proc.returncode, stdout, stderr, time.monotonic() - started)
        return result.check() if check else result

    def read_bytes(self, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise TargetError(f"cannot read {path} on the host: {exc.strerror}.") from exc

    def write_bytes(self, path: str, data: bytes, mode: int | None = None) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_bytes(data)
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(p)  # atomic on POSIX: readers see the old or the new file, never half

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def fetch(self, path: str, local_path: Path) -> Path:
        local_path = Path(local_path)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(path, local_path)
        except OSError as exc:
            raise TargetError(f"cannot fetch {path} from the host: {exc.strerror}.") from exc
        return local_path

    def put(self, local_path: Path, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, path)

    def connect(self, host: str, port: int, timeout: float):
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise TargetError(f"cannot connect to {host}:{port} from the host: {exc.strerror or exc}.") from exc
        sock.settimeout(timeout)
        return sock

    def close(self) -> None:
        pass


@dataclass
class RecordingTarget(TargetFiles):
    """A unit-test seam: records every command and answers from a script.

    ``answers`` maps a command's first words (joined by spaces) to a
    :class:`CommandResult`-like tuple ``(exit_code, stdout, stderr)``.

    >>> t = RecordingTarget(answers={"pm2 jlist": (0, "[]", "")})
    >>> t.run(["pm2", "jlist"]).stdout
    '[]'
    >>> t.commands
    [['pm2', 'jlist']]
    """

    answers: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    commands: list = field(default_factory=list)
    name: str = "recording"

    def run(self, argv, *, timeout=None, cwd=None, env=None, input=None, check=False) -> CommandResult:
        argv = [str(a) for a in argv]
        self.commands.append(argv)
        for n in range(len(argv), 0, -1):
            key = " ".join(argv[:n])
            if key in self.answers:
                code, out, err = self.answers[key]
                break
        else:
            code, out, err = 0, "", ""
        result = CommandResult(argv, code, out, err, 0.0)
        return result.check() if check else result

    def read_bytes(self, path: str) -> bytes:
        if path not in self.files:
            raise TargetError(f"cannot read {path} on the host: No such file or directory.")
        return self.files[path]

    def write_bytes(self, path: str, data: bytes, mode: int | None = None) -> None:
        self.files[path] = data

    def exists(self, path: str) -> bool:
        return path in self.files

    def fetch(self, path: str, local_path: Path) -> Path:
        Path(local_path).write_bytes(self.read_bytes(path))
        return Path(local_path)

    def put(self, local_path: Path, path: str) -> None:
        self.files[path] = Path(local_path).read_bytes()

    def close(self) -> None:
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.communicate(timeout=5)  # reap it and close the pipes
    except subprocess.TimeoutExpired:
        pass  # a grandchild left the group and holds a pipe: do not hang on it


def open_target(target_params, env: Mapping[str, str] | None = None) -> Target:
    """Open the Target described by the ``target`` section of the params.

    >>> from runbook.params import TargetParams
    >>> open_target(TargetParams(kind="local")).name
    'local'
    """
    if target_params.kind == "local":
        return LocalTarget(command_timeout=target_params.command_timeout, env=env)
    if target_params.kind == "ssh":
        from .ssh import SSHTarget  # paramiko is imported only when SSH is used

        return SSHTarget.from_params(target_params, env=env)
    raise TargetError(f"unknown target kind {target_params.kind!r}; expected 'local' or 'ssh'.")


# --- small host queries shared by several phases ------------------------------------------------


def file_size(target: Target, path: str) -> int | None:
    """Size of a file on the host in bytes, ``None`` when it does not exist."""
    r = target.run(["stat", "-c", "%s", path])
    return int(r.stdout.strip()) if r.ok and r.stdout.strip().isdigit() else None


def free_bytes(target: Target, path: str) -> int:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    probe = path
    while probe not in ("", "/") and not target.exists(probe):
        probe = probe.rsplit("/", 1)[0] or "/"
    r = target.run(["df", "-Pk", probe or "/"], check=True)
    return int(r.stdout.strip().splitlines()[-1].split()[3]) * 1024

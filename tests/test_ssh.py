"""SSHTarget against a real OpenSSH sshd on 127.0.0.1 (fixtures in conftest.py), and the
same behaviour checks for LocalTarget; plus unit tests of shell_line quoting."""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from runbook.errors import CommandFailed, CommandTimeout, HostKeyError, SecretError, TargetError
from runbook.params import TargetParams
from runbook.target import LocalTarget, open_target, shell_line

NASTY = [
    "with space",
    "single'quote",
    'double"quote',
    "semi;colon",
    "$(touch canary)",
    "`touch canary`",
    "new\nline",
    "-leading-dash",
    "glob*?[a]",
    "back\\slash",
    "&& touch canary ||",
]


# --- shell_line (no sshd needed) -----------------------------------------------------------------


@pytest.mark.parametrize("arg", NASTY + ["", "ünïcode", "tab\there", "$HOME", "~"])
def test_shell_line_round_trips_through_shlex(arg):
    argv = ["printf", "%s", arg]
    assert shlex.split(shell_line(argv)) == argv


def test_shell_line_passes_every_argument_literally_to_a_real_shell(tmp_path):
    line = shell_line(["printf", "[%s]\\n", *NASTY], cwd=str(tmp_path), env={"RB_V": "$(touch canary) x"})
    out = subprocess.run(["sh", "-c", line + '; printf "%s" "$RB_V"'], capture_output=True, text=True, check=True).stdout
    # `env` applies RB_V only to printf; the trailing $RB_V of the outer shell stays empty.
    assert out == "".join(f"[{a}]\n" for a in NASTY)
    assert not (tmp_path / "canary").exists()
    assert not Path("canary").exists()


def test_shell_line_cwd_and_env_shape():
    assert shell_line(["ls", "a b"]) == "ls 'a b'"
    assert shell_line(["ls"], cwd="/srv/my app") == "cd '/srv/my app' && ls"
    assert shell_line(["ls"], env={"A": "1", "B": "x y"}) == "env A=1 'B=x y' ls"
    assert shell_line(["ls"], cwd="/x", env={}) == "cd /x && ls"


def test_shell_line_quotes_env_values_and_cwd_against_injection(tmp_path):
    canary = tmp_path / "canary"
    line = shell_line(["printenv", "V"], cwd=f"{tmp_path}", env={"V": f"$(touch {canary});`touch {canary}`"})
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True).stdout
    assert out == f"$(touch {canary});`touch {canary}`\n"
    assert not canary.exists()


# --- both targets ---------------------------------------------------------------------------------


@pytest.fixture(params=["local", "ssh"])
def target(request):
    if request.param == "local":
        return LocalTarget(command_timeout=60)
    pytest.importorskip("paramiko")
    return request.getfixturevalue("ssh_target")


@pytest.fixture
def workdir(tmp_path):
    # sshd runs on this machine, so a local tmp folder is also a host folder.
    return tmp_path


def test_command_result_fields(target):
    r = target.run(["sh", "-c", "echo out; echo err >&2; sleep 0.2; exit 3"])
    assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert not r.ok
    assert 0.2 <= r.duration < 30
    with pytest.raises(CommandFailed, match="exited 3: err"):
        target.run(["sh", "-c", "echo err >&2; exit 3"], check=True)
    assert target.run(["true"], check=True).exit_code == 0


def test_input_is_sent_and_stdin_closed(target):
    assert target.run(["cat"], input="a\nb ü\n", timeout=20).stdout == "a\nb ü\n"
    assert target.run(["wc", "-c"], input="12345", timeout=20).stdout.strip() == "5"


def test_big_output_on_both_streams_does_not_deadlock(target):
    # 5 MB on stderr first, then 5 MB on stdout: a reader that drains only stdout
    # until EOF would block forever once stderr filled the channel window.
    script = "head -c 5000000 /dev/zero | tr '\\0' e >&2; head -c 5000000 /dev/zero | tr '\\0' o"
    started = time.monotonic()
    r = target.run(["sh", "-c", script], timeout=60)
    assert r.exit_code == 0
    assert len(r.stdout) == 5_000_000 and set(r.stdout) == {"o"}
    assert len(r.stderr) == 5_000_000 and set(r.stderr) == {"e"}
    assert time.monotonic() - started < 60


def test_interleaved_output_both_streams(target):
    script = "i=0; while [ $i -lt 2000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
    r = target.run(["sh", "-c", script], timeout=60)
    assert r.stdout.splitlines() == [f"out{i}" for i in range(2000)]
    assert r.stderr.splitlines() == [f"err{i}" for i in range(2000)]


def test_timeout_raises_and_kills_the_remote_process_tree(target):
    token = f"rb-timeout-{uuid.uuid4().hex[:8]}"
    # sh runs `sleep` as a child: killing only the shell would leave the sleep behind.
    with pytest.raises(CommandTimeout, match="did not finish within 1 s"):
        target.run(["sh", "-c", "sleep 97.5; echo never", token], timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = target.run(["pgrep", "-f", f"sleep 97.5|{token}"]).stdout.split()
        if not left:
            break
        time.sleep(0.2)
    assert left == [], f"processes left behind: {left}"
    # The target is still usable after a timeout.
    assert target.run(["echo", "alive"]).stdout == "alive\n"


def test_cwd_and_env_are_applied(target, workdir):
    (workdir / "sub dir").mkdir()
    r = target.run(["sh", "-c", 'pwd; printf "%s\\n" "$RB_ONE" "$RB_TWO"'], cwd=str(workdir / "sub dir"),
                   env={"RB_ONE": "1", "RB_TWO": "two words; $(touch canary)"})
    assert r.stdout == f"{workdir / 'sub dir'}\n1\ntwo words; $(touch canary)\n"
    assert not (workdir / "sub dir" / "canary").exists()


def test_arguments_are_never_executed(target, workdir):
    canary = workdir / "canary"
    args = [f"$(touch {canary})", f"`touch {canary}`", f"; touch {canary}", f"| touch {canary}",
            f"&& touch {canary}", f"\ntouch {canary}\n"]
    r = target.run(["printf", "%s|", *args], cwd=str(workdir))
    assert r.stdout == "".join(f"{a}|" for a in args)
    assert not canary.exists()


def test_nasty_file_names_are_literal(target, workdir):
    d = workdir / "names"
    d.mkdir()
    for i, name in enumerate(NASTY):
        path = str(d / name)
        if i % 2:
            target.run(["touch", "--", path], check=True)
        else:
            target.write_bytes(path, name.encode())
    listing = target.run(["find", ".", "-mindepth", "1", "-maxdepth", "1", "-print0"], cwd=str(d), check=True).stdout
    names = {n[2:] for n in listing.split("\0") if n}
    assert names == set(NASTY)  # exactly these: no `canary`, no leftovers of a split name
    assert not (d / "canary").exists() and not (workdir / "canary").exists()
    assert target.exists(str(d / "$(touch canary)"))
    assert target.read_bytes(str(d / "new\nline")) == b"new\nline"
    r = target.run(["ls", "-1", "--", "semi;colon", "with space"], cwd=str(d), check=True)
    assert r.stdout == "semi;colon\nwith space\n"


def test_write_read_exists_round_trip(target, workdir):
    path = str(workdir / "new" / "deeper" / "file.txt")
    assert not target.exists(path)
    target.write_bytes(path, b"one\x00two\n", mode=0o640)
    assert target.exists(path)
    assert target.read_bytes(path) == b"one\x00two\n"
    assert target.run(["stat", "-c", "%a", path]).stdout.strip() == "640"
    target.write_text(path, "replaced ü")
    assert target.read_text(path) == "replaced ü"
    # Atomic writes leave no temporary file beside the target.
    assert sorted(os.listdir(workdir / "new" / "deeper")) == ["file.txt"]
    with pytest.raises(TargetError, match="cannot read"):
        target.read_bytes(str(workdir / "missing"))


def test_put_and_fetch_round_trip(target, workdir, tmp_path_factory):
    local = tmp_path_factory.mktemp("local")
    src = local / "src.bin"
    src.write_bytes(os.urandom(300_000))
    remote = str(workdir / "up load" / "it's.bin")
    target.put(src, remote)
    assert Path(remote).read_bytes() == src.read_bytes()
    got = target.fetch(remote, local / "back" / "got.bin")
    assert got == local / "back" / "got.bin"
    assert got.read_bytes() == src.read_bytes()
    with pytest.raises(TargetError, match="cannot fetch"):
        target.fetch(str(workdir / "missing"), local / "x")


# --- SSH only ---------------------------------------------------------------------------------------


def test_fetch_50mb_with_checksum_verified(ssh_target, tmp_path):
    remote = tmp_path / "big.bin"
    ssh_target.run(["sh", "-c", 'head -c 50000000 /dev/urandom > "$1"', "sh", str(remote)], check=True)
    local = tmp_path / "fetched" / "big.bin"
    started = time.monotonic()
    assert ssh_target.fetch(str(remote), local, verify_sha256=True) == local
    took = time.monotonic() - started
    want = hashlib.sha256(remote.read_bytes()).hexdigest()
    assert hashlib.sha256(local.read_bytes()).hexdigest() == want
    assert ssh_target.sha256(str(remote)) == want
    assert ssh_target.fetch_verified(str(remote), tmp_path / "again.bin") == want
    assert not (tmp_path / "fetched" / "big.bin.part").exists()
    assert took < 60, f"50 MB took {took:.1f} s"


def test_fetch_with_wrong_checksum_fails_and_leaves_nothing(ssh_target, tmp_path, monkeypatch):
    remote = tmp_path / "f.bin"
    remote.write_bytes(b"payload")
    monkeypatch.setattr(ssh_target, "sha256", lambda path: "0" * 64)
    local = tmp_path / "out" / "f.bin"
    with pytest.raises(TargetError, match="checksum of .* the host says 0000"):
        ssh_target.fetch(str(remote), local, verify_sha256=True)
    assert not local.exists() and not local.with_name("f.bin.part").exists()


def test_file_calls_from_many_threads_share_one_target(ssh_target, tmp_path):
    """paramiko's SFTP client drops a reply another thread was waiting for; the target must not hang."""
    def work(i: int) -> bytes:
        path = str(tmp_path / "threads" / f"d{i % 3}" / f"f{i}.txt")
        for _ in range(5):
            assert not ssh_target.exists(path + ".missing")
            ssh_target.write_bytes(path, f"payload {i}".encode())
        ssh_target.fetch_sha256(path, tmp_path / "back" / f"f{i}.txt")
        return ssh_target.read_bytes(path)

    pool = [None] * 8
    threads = [threading.Thread(target=lambda i=i: pool.__setitem__(i, work(i)), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "an SFTP call never got its reply"
    assert pool == [f"payload {i}".encode() for i in range(8)]


def test_snapshot_fetched_while_the_host_verifies_it(ssh_target, tmp_path):
    """Phase 01's call over SSH: the copy streams while integrity_check runs, and must hash equal."""
    import sqlite3

    from runbook import backup

    db = tmp_path / "live db.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE emails (id INTEGER PRIMARY KEY, body TEXT)")
        con.executemany("INSERT INTO emails (body) VALUES (?)", [("x" * 200,)] * 5000)
    local = tmp_path / "fetched" / "snapshot.sqlite"
    b = backup.snapshot(ssh_target, str(db), str(tmp_path / "backups"), fetch_to=local)
    assert b.verified and b.integrity == "ok"
    assert hashlib.sha256(local.read_bytes()).hexdigest() == b.sha256
    with sqlite3.connect(f"file:{local}?mode=ro", uri=True) as con:
        assert con.execute("SELECT count(*) FROM emails").fetchone()[0] == 5000


def test_snapshot_whose_transfer_is_damaged_fails_and_keeps_no_copy(tmp_path):
    """A fetched copy that does not hash to the host's SHA-256 is deleted, and the backup does not count."""
    import sqlite3

    from runbook import backup
    from runbook.errors import BackupError

    class DamagingTarget(LocalTarget):
        def fetch(self, path, local_path):
            super().fetch(path, local_path)
            with open(local_path, "r+b") as f:
                f.seek(200)
                f.write(b"\x00bit rot")
            return Path(local_path)

    db = tmp_path / "live.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE emails (id INTEGER PRIMARY KEY, body TEXT)")
    local = tmp_path / "fetched" / "snapshot.sqlite"
    with pytest.raises(BackupError, match="does not match its SHA-256; the transfer was damaged"):
        backup.snapshot(DamagingTarget(), str(db), str(tmp_path / "backups"), fetch_to=local)
    assert not local.exists()


def test_target_env_applies_to_every_command_and_merges(sshd):
    from runbook.ssh import SSHTarget

    with SSHTarget.from_params(sshd.target_params(), env={"RB_BASE": "b", "RB_BOTH": "base"}) as t:
        r = t.run(["sh", "-c", 'echo "$RB_BASE $RB_BOTH $RB_CALL"'], env={"RB_BOTH": "call", "RB_CALL": "c"})
        assert r.stdout == "b call c\n"
        assert t.run(["printenv", "RB_BASE"]).stdout == "b\n"


def test_open_target_and_context_manager_close(sshd):
    t = open_target(sshd.target_params())
    with t:
        assert t.name == f"ssh:{sshd.user}@127.0.0.1:{sshd.port}"
        assert t.run(["id", "-un"]).stdout.strip() == sshd.user
    with pytest.raises(TargetError, match="closed"):
        t.run(["true"])


def test_connect_opens_tcp_from_the_host(ssh_target):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def echo():
        c, _ = srv.accept()
        c.sendall(c.recv(100).upper())
        c.close()

    threading.Thread(target=echo, daemon=True).start()
    conn = ssh_target.connect("127.0.0.1", port, 5.0)
    conn.sendall(b"ping")
    assert conn.recv(100) == b"PING"
    conn.close()
    srv.close()
    with pytest.raises(TargetError, match=f"cannot connect to 127.0.0.1:{port}"):
        ssh_target.connect("127.0.0.1", port, 5.0)


def _other_host_key(tmp_path: Path) -> str:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().split()[1]


def test_changed_host_key_is_refused(sshd, tmp_path):
    from runbook.ssh import SSHTarget

    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {_other_host_key(tmp_path)}\n")
    with pytest.raises(HostKeyError) as exc:
        SSHTarget.from_params(sshd.target_params(known_hosts=str(kh)))
    msg = str(exc.value)
    assert f"host key of 127.0.0.1:{sshd.port} does not match known_hosts {kh}" in msg
    assert f"verify its fingerprint and update {kh}" in msg
    assert "SHA256:" in msg and msg.count("\n") == 0


def test_unknown_host_is_refused_and_nothing_is_added(sshd, tmp_path):
    from runbook.ssh import SSHTarget

    kh = tmp_path / "known_hosts"
    kh.write_text("")
    with pytest.raises(HostKeyError, match=rf"\[127.0.0.1\]:{sshd.port} .* is not in known_hosts {kh}"):
        SSHTarget.from_params(sshd.target_params(known_hosts=str(kh)))
    assert kh.read_text() == ""  # RejectPolicy: never learns a key on its own


def test_known_hosts_must_be_given_and_exist(sshd, tmp_path):
    from runbook.ssh import SSHTarget

    with pytest.raises(HostKeyError, match="target.known_hosts is empty"):
        SSHTarget.from_params(sshd.target_params(known_hosts=""))
    with pytest.raises(HostKeyError, match="does not exist"):
        SSHTarget.from_params(sshd.target_params(known_hosts=str(tmp_path / "nope")))


def test_system_known_hosts_are_not_used(sshd, tmp_path, monkeypatch):
    # Even if ~/.ssh/known_hosts trusted the server, only target.known_hosts counts.
    from runbook.ssh import SSHTarget

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd.host_key_line() + "\n")
    monkeypatch.setenv("HOME", str(home))
    empty = tmp_path / "kh"
    empty.write_text("")
    with pytest.raises(HostKeyError):
        SSHTarget.from_params(sshd.target_params(known_hosts=str(empty)))


def test_wrong_client_key_is_a_target_error(sshd, tmp_path):
    from runbook.ssh import SSHTarget

    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with pytest.raises(TargetError) as exc:
        SSHTarget.from_params(sshd.target_params(key_file=str(key)))
    assert not isinstance(exc.value, HostKeyError)
    assert f"127.0.0.1:{sshd.port} refused to log in {sshd.user} with key {key}" in str(exc.value)
    assert "authorized_keys" in str(exc.value)


def test_refused_port_and_missing_key_file(sshd, tmp_path):
    from runbook.ssh import SSHTarget
    from runbook.sshd import free_ports

    port = free_ports(1)[0]
    with pytest.raises(TargetError, match=f"cannot connect to 127.0.0.1:{port}: connection refused"):
        SSHTarget.from_params(sshd.target_params(port=port, connect_timeout=3))
    with pytest.raises(TargetError, match="key file .* does not exist"):
        SSHTarget.from_params(sshd.target_params(key_file=str(tmp_path / "nokey")))


def test_password_only_from_a_secret_reference(sshd, monkeypatch):
    from runbook.ssh import SSHTarget

    monkeypatch.delenv("RB_SSH_PW_UNSET", raising=False)
    with pytest.raises(SecretError, match="RB_SSH_PW_UNSET"):
        SSHTarget.from_params(sshd.target_params(password="env:RB_SSH_PW_UNSET"))
    with pytest.raises(SecretError, match="reference"):
        SSHTarget.from_params(sshd.target_params(password="hunter2"))


def test_sshd_can_be_stopped_from_another_process(tmp_path):
    from runbook.sshd import LocalSshd

    server = LocalSshd(tmp_path / "second").start()
    port = server.port
    assert server.target_params() == TargetParams(
        kind="ssh", host="127.0.0.1", port=port, user=server.user,
        key_file=str(tmp_path / "second" / "id_ed25519"), known_hosts=str(tmp_path / "second" / "known_hosts"),
    )
    assert (server.known_hosts.read_text().startswith(f"[127.0.0.1]:{port} ssh-ed25519 "))
    code = f"from pathlib import Path; from runbook.sshd import LocalSshd; LocalSshd(Path({str(tmp_path / 'second')!r})).stop()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=30)
    server._reap(block=True)  # our child: reap the zombie the other process's SIGTERM left
    assert not server.running()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    server.stop()  # idempotent
    # A second start reuses the keys: the known_hosts line is unchanged.
    line = server.host_key_line()
    with LocalSshd(tmp_path / "second") as again:
        assert again.host_key_line().split()[1:] == line.split()[1:]
        assert again.running()
    assert not again.running()

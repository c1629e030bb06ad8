"""The sandbox: a real, broken UltraZend host on this machine, the default target of the runbook.

:func:`up` lays out ``<workdir>/ultrazend`` like ``/var/www/ultrazend`` on the production host
(``backend/`` with the Node.js app from ``<project>/sandbox``, ``logs/``, ``configs/``,
``deploy.sh``, ``ecosystem.config.js``), makes it a git repository with a local bare ``origin``,
brings ``backend/ultrazend.sqlite`` into a scenario's state **through the app's own knex
migrations**, fills it with realistic data, starts it under a private PM2 daemon
(``PM2_HOME=<workdir>/pm2``) and sends traffic so the logs hold real HTTP 500s.
:func:`status` reports on it and :func:`down` stops every process and removes the folder.

Layout of the default workdir (``<project>/.sandbox``), matching :mod:`runbook.params` defaults::

    .sandbox/
      .ultrazend-sandbox     marker: down() deletes only folders that carry it
      scenario.json          scenario, ports, creation time
      ultrazend/             app root (git repo, branch main, remote origin)
        backend/             app source, node_modules -> <project>/sandbox/node_modules
        logs/ logs/application/ configs/ deploy.sh ecosystem.config.js
      origin.git/            bare repository that deploy.sh pulls from
      pm2/  backups/  bin/   PM2_HOME, backup target, alert script folder

Example
-------
    info = up(Path("/tmp/uz"), scenario="stuck_lock", emails=500, api_port=3101,
              mx_port=3125, submission_port=3187)
    status(Path("/tmp/uz"))["health"]
    # -> 500
    down(Path("/tmp/uz"))
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .errors import InputError, SandboxError
from .params import PROJECT_ROOT

SCENARIOS: dict[str, str] = {
    "email_verified_only": "the incident: users has only email_verified; /health answers 500 (no such column: is_verified)",
    "both_columns": "users has email_verified and is_verified, with values that differ on some users (a careless drop loses data)",
    "no_column": "users has neither email_verified nor is_verified (an older 001 was applied)",
    "already_fixed": "users has only is_verified and a verified system user; /health answers 200",
    "stuck_lock": "the incident plus knex_migrations_lock.is_locked = 1, left by a migrator killed mid-run",
    "renamed_on_disk": "the incident plus the seed's mv of 007_add_bounce_reason_to_emails.js to 008_ by hand: knex says the directory is corrupt",
    "wal_busy": "the incident with the DB in WAL mode and ultrazend-writer inserting emails every 20-50 ms",
}
DEFAULT_SCENARIO = "email_verified_only"
DEFAULT_WORKDIR = PROJECT_ROOT / ".sandbox"
SANDBOX_SRC = PROJECT_ROOT / "sandbox"
MARKER = ".ultrazend-sandbox"
SYSTEM_EMAIL = "system@ultrazend.com.br"

# Files of sandbox/ that belong at the app root or nowhere, not in backend/.
_NOT_IN_BACKEND = {"node_modules", "scenarios", "ecosystem.config.js", "deploy.sh", "dist", "logs"}
_ROOT_GITIGNORE = "node_modules\ndist/\n*.sqlite\n*.sqlite-*\nlogs/\n.env\n.deploy.env\n"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "UltraZend Dev",
    "GIT_AUTHOR_EMAIL": "dev@ultrazend.com.br",
    "GIT_COMMITTER_NAME": "UltraZend Dev",
    "GIT_COMMITTER_EMAIL": "dev@ultrazend.com.br",
}
_STEPS = 9

Progress = Callable[[str], None]


def layout(workdir: Path | str | None = None) -> dict[str, Path]:
    """Paths of a sandbox rooted at ``workdir`` (default ``<project>/.sandbox``).

    >>> layout("/tmp/uz")["database"]
    PosixPath('/tmp/uz/ultrazend/backend/ultrazend.sqlite')
    """
    w = Path(workdir or DEFAULT_WORKDIR).expanduser().resolve()
    app = w / "ultrazend"
    return {
        "workdir": w,
        "app_root": app,
        "backend": app / "backend",
        "database": app / "backend" / "ultrazend.sqlite",
        "migrations": app / "backend" / "src" / "migrations",
        "logs": app / "logs",
        "configs": app / "configs",
        "pm2_home": w / "pm2",
        "origin": w / "origin.git",
        "backups": w / "backups",
        "bin": w / "bin",
        "ssh": w / "ssh",
        "scenario_file": w / "scenario.json",
    }


def up(
    workdir: Path | str | None = None,
    scenario: str = DEFAULT_SCENARIO,
    emails: int = 5000,
    api_port: int = 3001,
    mx_port: int = 2525,
    submission_port: int = 5875,
    progress: Progress | None = print,
    users: int = 50,
) -> dict:
    """Build the sandbox for ``scenario`` and start it; return what was created.

    An existing sandbox in ``workdir`` is taken down first (it is disposable by design).
    Bad input (unknown scenario, busy port, missing ``npm ci``) raises :class:`InputError`
    before anything is changed. If a later step fails, every process is stopped, the files are
    kept for inspection and :class:`SandboxError` names the step.

    >>> up(scenario="nope", progress=None)
    Traceback (most recent call last):
    ...
    runbook.errors.InputError: unknown scenario 'nope'; choose one of: email_verified_only, both_columns, no_column, already_fixed, stuck_lock, renamed_on_disk, wal_busy.
    """
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    p = layout(workdir)
    ports = {"api": api_port, "mx": mx_port, "submission": submission_port}

    # Step 1: validate everything before touching the disk.
    say(f"[1/{_STEPS}] checking inputs, tools and ports")
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}.")
    if not isinstance(emails, int) or emails < 0:
        raise InputError(f"--emails must be a whole number >= 0, got {emails!r}.")
    if len(set(ports.values())) != 3:
        raise InputError(f"the api, mx and submission ports must differ, got {ports}.")
    for tool in ("node", "git"):
        if not shutil.which(tool):
            raise InputError(f"{tool} is not on PATH; install it to run the sandbox.")
    if not (SANDBOX_SRC / "node_modules" / ".bin" / "pm2").exists():
        raise InputError(f"{SANDBOX_SRC}/node_modules is missing; run `make setup` (cd sandbox && npm ci) first.")
    p["workdir"].parent.mkdir(parents=True, exist_ok=True)
    existing = _is_sandbox(p["workdir"])
    if p["workdir"].exists() and not existing and any(p["workdir"].iterdir()):
        raise InputError(f"workdir {p['workdir']} exists and is not a sandbox; choose another --workdir.")
    # Ports held by the sandbox we are about to replace are not "busy": down() frees them.
    ours = set(_read_json(p["scenario_file"]).get("ports", {}).values()) if existing else set()
    for name, port in ports.items():
        if port not in ours and not _port_free(port):
            raise InputError(f"port {port} ({name}) is already in use; pass --{name}-port with a free port.")

    # Step 2: replace an old sandbox.
    if existing:
        say(f"[2/{_STEPS}] taking the existing sandbox in {p['workdir']} down")
        down(p["workdir"], progress=None)
        for name, port in ports.items():
            if not _port_free(port):
                raise InputError(f"port {port} ({name}) is still in use after down; pass --{name}-port with a free port.")
    else:
        say(f"[2/{_STEPS}] no previous sandbox in {p['workdir']}")

    p["workdir"].mkdir(parents=True, exist_ok=True)
    (p["workdir"] / MARKER).write_text("UltraZend runbook sandbox; removed by `runbook sandbox down`.\n")
    env = _env(p)
    try:
        _build(p, scenario, emails, users, ports, env, say)
    except Exception as exc:
        # Leave no process behind, but keep the files: they show what went wrong.
        _stop_processes(p, env)
        if isinstance(exc, SandboxError):
            raise SandboxError(f"{exc} (files kept in {p['workdir']}; `sandbox down` removes them)") from exc
        raise
    info = {
        "scenario": scenario,
        "description": SCENARIOS[scenario],
        "workdir": str(p["workdir"]),
        "app_root": str(p["app_root"]),
        "database": str(p["database"]),
        "pm2_home": str(p["pm2_home"]),
        "origin": str(p["origin"]),
        "backups": str(p["backups"]),
        "ports": ports,
        "api_url": f"http://127.0.0.1:{api_port}",
        "emails": emails,
        "users": users,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    p["scenario_file"].write_text(json.dumps(info, indent=2) + "\n")
    info["health"] = _http_code(f"{info['api_url']}/health")
    info["processes"] = _pm2_list(p, env)
    info["elapsed_s"] = round(time.monotonic() - started, 1)
    say(f"sandbox {scenario} is up in {info['elapsed_s']} s: {info['api_url']}/health answers {info['health']}")
    return info


def _build(p: dict, scenario: str, emails: int, users: int, ports: dict, env: dict, say: Progress) -> None:
    """Steps 3-9 of :func:`up`."""
    say(f"[3/{_STEPS}] laying out {p['app_root']}")
    for key in ("backups", "bin", "pm2_home"):
        p[key].mkdir(parents=True, exist_ok=True)
    shutil.copytree(SANDBOX_SRC, p["backend"], ignore=_ignore_top_level, symlinks=True)
    (p["backend"] / "node_modules").symlink_to(SANDBOX_SRC / "node_modules")
    for name in ("ecosystem.config.js", "deploy.sh"):
        shutil.copy2(SANDBOX_SRC / name, p["app_root"] / name)
    (p["logs"] / "application").mkdir(parents=True, exist_ok=True)
    _write_configs(p, scenario, ports)

    # The repository first records the migration files production really applied; where they
    # were edited afterwards (trap 10), a later commit holds the edit.
    say(f"[4/{_STEPS}] git repository on branch main with bare origin {p['origin'].name}")
    current = _swap_in_history(p, scenario)
    (p["app_root"] / ".gitignore").write_text(_ROOT_GITIGNORE)
    _run(["git", "init", "-q", "--bare", "-b", "main", str(p["origin"])], "git init origin", env)
    git = ["git", "-C", str(p["app_root"])]
    _run(["git", "init", "-q", "-b", "main", str(p["app_root"])], "git init", env)
    for key, value in (("user.name", "UltraZend Ops"), ("user.email", "ops@ultrazend.com.br"), ("commit.gpgsign", "false")):
        _run([*git, "config", key, value], "git config", env)
    _run([*git, "add", "-A"], "git add", env)
    _commit(git, "chore: import UltraZend backend 1.4.2", days_ago=21, env=env)
    _run([*git, "remote", "add", "origin", str(p["origin"])], "git remote add", env)

    say(f"[5/{_STEPS}] knex migrate:latest ({'applied versions of ' + ', '.join(sorted(current)) if current else 'current files'})")
    _run(["npm", "run", "--silent", "migrate:latest"], "migrate:latest", env, cwd=p["backend"])
    for name, text in current.items():
        (p["migrations"] / name).write_text(text)
    if current:
        _run([*git, "add", "-A"], "git add", env)
        _commit(git, "refactor(migrations): align users migrations with the current schema", days_ago=3, env=env)
    _run([*git, "push", "-q", "-u", "origin", "main"], "git push", env)
    _run_overlays(p, scenario, env, say)

    say(f"[6/{_STEPS}] seeding {users} users and {emails} emails")
    argv = ["node", "scripts/seed-data.js", "--db", str(p["database"]), "--users", str(users), "--emails", str(emails)]
    if scenario == "both_columns":
        argv.append("--diverge")
    _stream(argv, "seed data", env, p["backend"], say, timeout=900 + emails / 5000)

    say(f"[7/{_STEPS}] scenario {scenario}: finishing touches")
    if scenario == "wal_busy":
        with sqlite3.connect(p["database"]) as con:
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise SandboxError(f"could not switch {p['database']} to WAL (journal_mode is {mode}).")
    if scenario == "renamed_on_disk":
        # The seed's step 3.1, run by hand after 007_add_bounce... was applied; not committed.
        old = p["migrations"] / "007_add_bounce_reason_to_emails.js"
        old.rename(p["migrations"] / "008_add_bounce_reason_to_emails.js")

    say(f"[8/{_STEPS}] npm run build and pm2 start (PM2_HOME={p['pm2_home']})")
    _run(["npm", "run", "--silent", "build"], "npm run build", env, cwd=p["backend"])
    _run(["pm2", "start", "ecosystem.config.js"], "pm2 start", env, cwd=p["app_root"], timeout=60)
    _wait_listening(ports, timeout=30)

    say(f"[9/{_STEPS}] sending traffic to /health, /api/health, /api/users/me")
    codes = _traffic(ports["api"], rounds=12)
    say("           answers: " + ", ".join(f"{c}x{n}" for c, n in sorted(codes.items())))


def status(workdir: Path | str | None = None) -> dict:
    """What runs in the sandbox: scenario, PM2 processes and the /health code.

    >>> status("/nonexistent/sandbox")["exists"]
    False
    """
    p = layout(workdir)
    if not _is_sandbox(p["workdir"]):
        return {"exists": False, "workdir": str(p["workdir"]), "processes": [], "health": None}
    info = _read_json(p["scenario_file"])
    ports = info.get("ports", {})
    api = ports.get("api")
    return {
        "exists": True,
        "workdir": str(p["workdir"]),
        "scenario": info.get("scenario"),
        "ports": ports,
        "created": info.get("created"),
        "pm2_daemon": _pm2_daemon_pid(p) is not None,
        "processes": _pm2_list(p, _env(p)),
        "health": _http_code(f"http://127.0.0.1:{api}/health") if api else None,
    }


def down(workdir: Path | str | None = None, progress: Progress | None = print) -> dict:
    """Stop every sandbox process (sshd, PM2 daemon, apps, writer) and remove the folder.

    Idempotent: a missing workdir is not an error. Refuses to delete a folder that is not a
    sandbox (no marker file), so a wrong ``--workdir`` cannot wipe unrelated files.

    >>> down("/nonexistent/sandbox", progress=None)["removed"]
    False
    """
    say = progress or (lambda _msg: None)
    p = layout(workdir)
    if not p["workdir"].exists():
        say(f"no sandbox in {p['workdir']}")
        return {"workdir": str(p["workdir"]), "removed": False, "killed": []}
    if not _is_sandbox(p["workdir"]):
        raise SandboxError(f"{p['workdir']} is not a sandbox (no {MARKER} or scenario.json); not removing it.")
    if p["ssh"].exists():
        say("stopping the sandbox sshd")
        try:
            from .sshd import LocalSshd  # written separately; optional until --ssh is used

            LocalSshd(state_dir=p["ssh"]).stop()
        except ImportError:
            say("runbook.sshd is not available; any sshd left is found by the sweep below")
    say(f"stopping PM2 (PM2_HOME={p['pm2_home']})")
    killed = _stop_processes(p, _env(p))
    shutil.rmtree(p["workdir"], ignore_errors=False)
    say(f"removed {p['workdir']}" + (f"; killed leftover pids {killed}" if killed else ""))
    return {"workdir": str(p["workdir"]), "removed": True, "killed": killed}


# --- building blocks ---------------------------------------------------------------------------


_LAYOUT_NAMES = {MARKER, "scenario.json", "ultrazend", "pm2", "origin.git", "backups", "bin", "ssh"}


def _is_sandbox(workdir: Path) -> bool:
    if (workdir / MARKER).exists() or (workdir / "scenario.json").exists():
        return True
    # A folder holding only sandbox layout names is ours too, e.g. a PM2_HOME that `pm2` created
    # there (with its daemon) when someone ran pm2 with the default params before any `up`.
    try:
        names = {e.name for e in workdir.iterdir()}
    except OSError:
        return False
    return bool(names) and names <= _LAYOUT_NAMES


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR ignores TIME_WAIT leftovers of a previous sandbox but still fails on a listener.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _env(p: dict) -> dict:
    env = dict(os.environ)
    env.update(
        PM2_HOME=str(p["pm2_home"]),
        PATH=f"{SANDBOX_SRC / 'node_modules' / '.bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        DATABASE_URL=str(p["database"]),
        NPM_CONFIG_UPDATE_NOTIFIER="false",
        NPM_CONFIG_FUND="false",
        PM2_NO_INTERACTION="true",  # no Keymetrics agent
        PM2_DISCRETE_MODE="true",
    )
    for key in ("PORT", "SMTP_MX_PORT", "SMTP_SUBMISSION_PORT", "NODE_ENV"):
        env.pop(key, None)  # the app takes these from backend/.env, never from our shell
    return env


def _run(argv, what: str, env: dict, cwd: Path | None = None, timeout: float = 180, ok_codes=(0,)):
    try:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{what}: `{' '.join(map(str, argv))}` ran past {timeout:.0f} s.") from exc
    except FileNotFoundError as exc:
        raise SandboxError(f"{what}: {argv[0]} not found on PATH.") from exc
    if r.returncode not in ok_codes:
        tail = " | ".join((r.stderr.strip() or r.stdout.strip()).splitlines()[-4:])
        raise SandboxError(f"{what} failed (exit {r.returncode}): {tail}")
    return r


def _stream(argv, what: str, env: dict, cwd: Path, say: Progress, timeout: float) -> None:
    """Run a long command and pass its output lines to ``say`` as they come (progress for 10M rows)."""
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        say("           " + line.rstrip())
        if time.monotonic() > deadline:
            proc.kill()
            raise SandboxError(f"{what}: ran past {timeout:.0f} s.")
    if proc.wait() != 0:
        raise SandboxError(f"{what} failed (exit {proc.returncode}): {' | '.join(lines[-4:])}")


def _commit(git: list, message: str, days_ago: int, env: dict) -> None:
    when = (datetime.now(timezone.utc) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    _run([*git, "commit", "-q", "-m", message], "git commit", {**env, **_GIT_ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})


def _ignore_top_level(directory: str, names: list[str]) -> set[str]:
    if Path(directory).resolve() != SANDBOX_SRC.resolve():
        return set()
    return {n for n in names if n in _NOT_IN_BACKEND or ".sqlite" in n or n == ".env"}


def _swap_in_history(p: dict, scenario: str) -> dict[str, str]:
    """Put the scenario's historical (applied) migration versions in place; return the current texts."""
    folder = SANDBOX_SRC / "scenarios" / scenario
    current = {}
    for old in sorted(folder.glob("*.js")) if folder.is_dir() else []:
        target = p["migrations"] / old.name
        if target.exists():
            current[old.name] = target.read_text()
            shutil.copy2(old, target)
    return current


def _run_overlays(p: dict, scenario: str, env: dict, say: Progress) -> None:
    """Run the scenario's extra migrations once, then delete them (stuck_lock: a crashing migrator)."""
    folder = SANDBOX_SRC / "scenarios" / scenario
    extra = [f for f in sorted(folder.glob("*.js")) if not (SANDBOX_SRC / "src" / "migrations" / f.name).exists()] if folder.is_dir() else []
    if not extra:
        return
    for f in extra:
        shutil.copy2(f, p["migrations"] / f.name)
    say(f"           running {', '.join(f.name for f in extra)} (its migrator is killed mid-run)")
    r = _run(["npm", "run", "--silent", "migrate:latest"], "crashing migrate:latest", env, cwd=p["backend"], ok_codes=range(1, 256))
    for f in extra:
        (p["migrations"] / f.name).unlink()
    with sqlite3.connect(p["database"]) as con:
        locked = con.execute("SELECT is_locked FROM knex_migrations_lock").fetchone()
    if not locked or locked[0] != 1:
        raise SandboxError(f"the crashing migrator did not leave the lock set (exit {r.returncode}, lock {locked}).")


def _write_configs(p: dict, scenario: str, ports: dict) -> None:
    env_lines = [
        "# Written by runbook sandbox up; read by ecosystem.config.js (not in git).",
        "NODE_ENV=production",
        "HOST=127.0.0.1",
        f"PORT={ports['api']}",
        f"SMTP_MX_PORT={ports['mx']}",
        f"SMTP_SUBMISSION_PORT={ports['submission']}",
        f"DATABASE_URL={p['database']}",
        f"LOG_DIR={p['logs']}",
        f"ULTRAZEND_WRITER={'1' if scenario == 'wal_busy' else '0'}",
    ]
    (p["backend"] / ".env").write_text("\n".join(env_lines) + "\n")
    (p["app_root"] / ".deploy.env").write_text(f"PM2_HOME={p['pm2_home']}\n")
    p["configs"].mkdir(parents=True, exist_ok=True)
    (p["configs"] / "ultrazend.env.example").write_text(
        "# Production settings template (values on the host live in backend/.env).\n"
        "NODE_ENV=production\nPORT=3001\nSMTP_MX_PORT=25\nSMTP_SUBMISSION_PORT=587\n"
        "SMTP_HOSTNAME=mail.ultrazend.com.br\nDATABASE_URL=/var/www/ultrazend/backend/ultrazend.sqlite\n"
        "JWT_SECRET=<set on the host>\nDKIM_KEYSTORE=/etc/ultrazend/dkim\n"
    )
    (p["configs"] / "nginx-ultrazend.conf").write_text(
        "server {\n    listen 443 ssl http2;\n    server_name www.ultrazend.com.br;\n"
        "    location /api/ { proxy_pass http://127.0.0.1:3001; proxy_set_header Host $host; }\n"
        "    location /health { proxy_pass http://127.0.0.1:3001; }\n}\n"
    )


def _wait_listening(ports: dict, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                pending.pop(name)
            except OSError:
                pass
        time.sleep(0.2)
    if pending:
        raise SandboxError(f"the app did not open {pending} within {timeout:.0f} s; see logs/error.log.")


def _http_code(url: str, timeout: float = 5.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _traffic(api_port: int, rounds: int) -> dict[int, int]:
    codes: dict[int, int] = {}
    for _ in range(rounds):
        for path in ("/health", "/api/health", "/api/users/me"):
            code = _http_code(f"http://127.0.0.1:{api_port}{path}")
            codes[code] = codes.get(code, 0) + 1
        time.sleep(0.05)
    return codes


# --- processes -------------------------------------------------------------------------------------


def _pm2_daemon_pid(p: dict) -> int | None:
    try:
        pid = int((p["pm2_home"] / "pm2.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _pm2_list(p: dict, env: dict) -> list[dict]:
    # `pm2 jlist` would spawn a new daemon if none runs: only ask a live one.
    if _pm2_daemon_pid(p) is None:
        return []
    r = _run(["pm2", "jlist"], "pm2 jlist", env, cwd=p["workdir"], timeout=30)
    start = r.stdout.find("[")
    try:
        procs = json.loads(r.stdout[start:]) if start >= 0 else []
    except ValueError as exc:
        raise SandboxError(f"pm2 jlist printed something that is not JSON: {r.stdout[:200]!r}") from exc
    return [
        {
            "name": x.get("name"),
            "status": (x.get("pm2_env") or {}).get("status"),
            "pid": x.get("pid"),
            "restarts": (x.get("pm2_env") or {}).get("restart_time"),
        }
        for x in procs
    ]


def _stop_processes(p: dict, env: dict) -> list[int]:
    """``pm2 kill`` with this PM2_HOME, then kill any process still tied to this sandbox.

    The sweep only matches node processes whose environment names this sandbox's PM2_HOME or
    database, i.e. processes this module started.
    """
    if _pm2_daemon_pid(p) is not None:
        try:
            _run(["pm2", "kill"], "pm2 kill", env, cwd=p["workdir"], timeout=30)
        except SandboxError:
            pass  # the sweep below finishes the job
    leftovers = _sandbox_pids(p)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in leftovers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(_alive(pid) for pid in leftovers):
            time.sleep(0.1)
        if not any(_alive(pid) for pid in leftovers):
            break
    return leftovers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _sandbox_pids(p: dict) -> list[int]:
    # Only node processes (PM2 daemon, apps, writer) that carry this sandbox's PM2_HOME or
    # DATABASE_URL in their environment, never our own ancestors: a shell that happens to sit in
    # the workdir, or a notebook kernel, must survive `down`.
    needles = {f"PM2_HOME={p['pm2_home']}".encode(), f"DATABASE_URL={p['database']}".encode()}
    ancestors, pid = set(), os.getpid()
    while pid > 1:
        ancestors.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ancestors:
            continue
        try:
            exe = os.path.basename(os.readlink(entry / "exe"))
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if exe.startswith("node") and needles & environ and _alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


__all__ = ["SCENARIOS", "DEFAULT_SCENARIO", "DEFAULT_WORKDIR", "layout", "up", "status", "down"]

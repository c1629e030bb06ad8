"""Phase 05: the seed's tests (5.1 services, 5.2 build, 5.3 health), run on scratch copies.

Nothing live changes: the build runs in a scratch copy of the backend (``dist/`` of
the live app stays as it is), and the test instance of 5.3 runs from that copy on
spare ports, against a scratch copy of the database, in its own process group that
is always stopped (``try``/``finally``), after which its ports must be free again.

Which code and data are tested: with ``apply`` the live backend and a fresh verified
snapshot (what phase 03 repaired); in a dry run the rehearsal of phase 03 (its
backend with the fix migrations, and its database), i.e. what the live app *would* be.

Example
-------
>>> from runbook.target import RecordingTarget
>>> t = RecordingTarget(answers={"node": (0, '{"service":"logger","ok":true,"detail":"loaded"}\\n', "")})
>>> services_check(t, "/app/backend", env={}, database="/tmp/t.sqlite")["ok"]
True
"""

from __future__ import annotations

import json
import random
import shlex
import time

import pandas as pd

from . import health
from .errors import TargetError
from .repair import Workspace, copy_backend, npm_script, render_fix_migration

INSTANCE_START_TIMEOUT = 30.0  # seconds for the test instance to answer 200 on /health
PORT_RANGE = (41000, 48999)  # where spare ports are looked for on the host


# --- what is tested ---------------------------------------------------------------------------


def sources(ph) -> dict:
    """The backend and database phase 05 tests, as explained in the module docstring.

    Returns a dict with ``backend``, ``database`` (both host paths) and ``mode``.
    """
    from .steps import take_snapshot  # steps imports the diagnosis stack; keep it lazy

    rehearsal = ((ph.earlier("03") or {}).get("values") or {}).get("rehearsal") or {}
    if not ph.apply and rehearsal.get("database") and rehearsal.get("backend"):
        return {"backend": rehearsal["backend"], "database": rehearsal["database"], "mode": "rehearsal copy of phase 03"}
    snap = take_snapshot(ph, "tests", "snapshot_tests.sqlite")
    return {"backend": ph.params.app.path("backend"), "database": snap["path"],
            "mode": f"live backend, verified snapshot {snap['sha256'][:12]}…"}


def scratch_workspace(target, *, backend: str, database: str, scratch_dir: str, env: dict) -> Workspace:
    """A scratch copy of ``backend`` (shared ``node_modules``) and of ``database`` under ``scratch_dir``.

    ``database`` must not be live (a snapshot or the rehearsal copy): a plain copy is then exact.

    >>> from runbook.target import RecordingTarget
    >>> ws = scratch_workspace(RecordingTarget(), backend="/a/backend", database="/b/snap.sqlite",
    ...                        scratch_dir="/b/tests", env={})
    >>> ws.backend, ws.database
    ('/b/tests/backend', '/b/tests/test.sqlite')
    """
    root = scratch_dir.rstrip("/")
    target.run(["rm", "-rf", root], check=True)
    scratch_backend = copy_backend(target, backend, f"{root}/backend")
    db = f"{root}/test.sqlite"
    target.run(["cp", database, db], check=True, timeout=3600)
    return Workspace(backend=scratch_backend, database=db, migrations=f"{scratch_backend}/src/migrations", env=dict(env))


def remove_scratch(target, scratch_dir: str) -> None:
    """Delete the scratch folder (its database copy may be large)."""
    target.run(["rm", "-rf", scratch_dir], check=True)


# --- 5.1 services ------------------------------------------------------------------------------


def services_check(target, backend: str, *, env: dict, database: str, mx_port: int = 2525,
                   submission_port: int = 5875, timeout: float = 120) -> dict:
    """Seed 5.1: require and instantiate logger, SecurityManager, EmailProcessor and the SMTP server.

    The script runs with ``node -e`` in ``backend`` (no file is written there) and
    ``DATABASE_URL`` set to ``database``, so a service that opens the database opens a copy.

    Returns
    -------
    dict
        ``ok`` (exit code 0 and every service reported ok), ``exit_code``, ``rows``
        (service, ok, detail) and ``output``.
    """
    script = render_fix_migration("test_services.js", mx_port=int(mx_port), submission_port=int(submission_port))
    r = target.run(["node", "-e", script], cwd=backend, timeout=timeout,
                   env={**env, "DATABASE_URL": database, "NODE_ENV": "development", "FORCE_COLOR": "0"})
    rows = [{"service": doc["service"], "ok": bool(doc.get("ok")), "detail": doc.get("detail", "")}
            for doc in map(_json_or_none, r.stdout.splitlines()) if isinstance(doc, dict) and "service" in doc]
    ok = r.ok and bool(rows) and all(x["ok"] for x in rows)
    return {"ok": ok, "exit_code": r.exit_code, "rows": rows, "output": (r.stdout + r.stderr).strip()[-2000:]}


def connectivity_check(target, ws: Workspace, timeout: float = 120) -> dict:
    """Seed 4.2: the app's own database module opens ``ws.database`` and answers a user count.

    Returns
    -------
    dict
        ``ok``, ``users`` (the count, or ``None``) and ``evidence`` (one line for a check).
    """
    r = target.run(["node", "-e", render_fix_migration("test_connectivity.js")], cwd=ws.backend, timeout=timeout,
                   env={**ws.env, "DATABASE_URL": ws.database, "FORCE_COLOR": "0"})
    answer = next((doc for doc in map(_json_or_none, reversed(r.stdout.splitlines())) if isinstance(doc, dict)), {})
    ok = r.ok and answer.get("ok") is True
    evidence = (f"SELECT 1 and a count of {answer['users']} users through src/config/database" if ok
                else answer.get("error") or (r.stderr or r.stdout).strip()[-300:] or f"exit code {r.exit_code}")
    return {"ok": ok, "users": answer.get("users"), "evidence": evidence}


def _json_or_none(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None  # a log line of the app's own, not ours


# --- 5.2 build ---------------------------------------------------------------------------------


def build_check(target, ws: Workspace, timeout: float = 600) -> dict:
    """Seed 5.2: ``npm run build`` in the scratch backend, then list ``dist/`` (it must not be empty).

    Returns ``ok``, ``exit_code``, ``output`` and ``dist`` (rows: name, type, bytes).
    """
    r = npm_script(target, ws, "build", timeout=timeout)
    listing = target.run(["find", f"{ws.backend}/dist", "-mindepth", "1", "-maxdepth", "1",
                          "-printf", "%f\\t%y\\t%s\\n"], timeout=60)
    dist = []
    for line in sorted(listing.stdout.splitlines()) if listing.ok else []:
        name, kind, size = (line.split("\t") + ["", ""])[:3]
        dist.append({"name": name, "type": {"d": "dir", "f": "file", "l": "link"}.get(kind, kind),
                     "bytes": int(size) if size.isdigit() else None})
    return {"ok": r.ok and bool(dist), "exit_code": r.exit_code, "output": (r.stdout + r.stderr).strip()[-2000:],
            "dist": dist}


# --- 5.3 health on a test instance -------------------------------------------------------------


def free_ports(target, count: int = 3, port_range: tuple[int, int] = PORT_RANGE) -> list[int]:
    """``count`` TCP ports nobody listens on, on the host (``ss``/``netstat``, else a connect probe).

    >>> from runbook.target import RecordingTarget
    >>> t = RecordingTarget(answers={"ss -ltn": (0, "State Recv-Q Send-Q Local Address:Port Peer\\n", "")})
    >>> len(set(free_ports(t, 3)))
    3
    """
    lo, hi = port_range
    candidates = random.sample(range(lo, hi + 1), min(hi - lo + 1, count * 10))
    listening = health.listening_ports(target, candidates)
    chosen = []
    for row in listening.itertuples():
        if row.listening is None:  # neither ss nor netstat: a refused connection means free
            if _port_answers(target, row.port):
                continue
        elif row.listening:
            continue
        chosen.append(int(row.port))
        if len(chosen) == count:
            return chosen
    raise TargetError(f"no {count} free ports between {lo} and {hi} on the host")


def _port_answers(target, port: int) -> bool:
    try:
        target.connect("127.0.0.1", port, 1.0).close()
        return True
    except Exception:
        return False


def start_instance(target, ws: Workspace, *, port: int, mx_port: int, submission_port: int,
                   command: str = "npm start") -> dict:
    """Start the built app from ``ws`` in a new session (its own process group) in the background.

    Returns ``pgid``, ``log`` and the ports; stop it with :func:`stop_instance`.
    """
    root = ws.backend.rsplit("/", 1)[0]
    pidfile, log = f"{root}/instance.pid", f"{root}/instance.log"
    target.run(["rm", "-f", pidfile], check=True)
    # setsid: the instance and npm's children share one new process group, so one kill stops all;
    # the inner shell writes its pid (the group id) before exec'ing the start command.
    inner = f"echo $$ > {shlex.quote(pidfile)}; exec {command}"
    line = (f"cd {shlex.quote(ws.backend)} && setsid sh -c {shlex.quote(inner)} "
            f"</dev/null >{shlex.quote(log)} 2>&1 &")
    env = {**ws.env, "NODE_ENV": "development", "HOST": "127.0.0.1", "PORT": str(port),
           "SMTP_MX_PORT": str(mx_port), "SMTP_SUBMISSION_PORT": str(submission_port),
           "DATABASE_URL": ws.database, "LOG_DIR": f"{root}/logs"}
    target.run(["sh", "-c", line], env=env, check=True, timeout=30)
    deadline = time.monotonic() + 10
    pgid = None
    while time.monotonic() < deadline:
        r = target.run(["cat", pidfile])
        if r.ok and r.stdout.strip().isdigit():
            pgid = int(r.stdout.strip())
            break
        time.sleep(0.1)
    if pgid is None:
        raise TargetError(f"the test instance did not start (no {pidfile}); see {log}")
    return {"pgid": pgid, "log": log, "port": port, "mx_port": mx_port, "submission_port": submission_port}


def group_alive(target, pgid: int) -> bool:
    """Whether any process of the group still runs."""
    return target.run(["kill", "-0", "--", f"-{pgid}"]).ok


def stop_instance(target, instance: dict, grace: float = 10.0) -> dict:
    """SIGTERM the instance's process group, SIGKILL it after ``grace`` s; then check its ports are free."""
    pgid = instance["pgid"]
    signal_used = "none (already gone)"
    if group_alive(target, pgid):
        target.run(["kill", "-TERM", "--", f"-{pgid}"])
        signal_used = "TERM"
        deadline = time.monotonic() + grace
        while group_alive(target, pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_alive(target, pgid):
            target.run(["kill", "-KILL", "--", f"-{pgid}"])
            signal_used = "KILL"
            time.sleep(0.5)
    ports = [instance["port"], instance["mx_port"], instance["submission_port"]]
    free = False
    for _ in range(25):  # a closing socket may linger a moment after the process is gone
        listening = health.listening_ports(target, ports)
        if not listening.listening.fillna(False).any():
            free = True
            break
        time.sleep(0.2)
    return {"stopped": not group_alive(target, pgid), "signal": signal_used, "ports_free": free}


def instance_health(target, ws: Workspace, *, health_path: str = "/health", timeout: float = INSTANCE_START_TIMEOUT,
                    interval: float = 0.5, http_timeout: float = 5.0) -> dict:
    """Seed 5.3: start a test instance on spare ports, poll ``/health`` until 200 or ``timeout``, stop it.

    The instance is stopped whatever happens (``finally``) and its ports must be free afterwards.

    Returns
    -------
    dict
        ``ok`` (a 200 came and the instance was stopped with its ports free), ``url``,
        ``samples`` (see :func:`runbook.health.poll_health`), ``stop`` and ``log_tail``.
    """
    port, mx, sub = free_ports(target, 3)
    url = f"http://127.0.0.1:{port}/{health_path.lstrip('/')}"
    instance = start_instance(target, ws, port=port, mx_port=mx, submission_port=sub)
    samples: list[dict] = []
    try:
        tries = max(1, int(timeout / interval))
        samples = health.poll_health(target, url, tries=tries, interval=interval, timeout=http_timeout)
    finally:
        stop = stop_instance(target, instance)
        tail = target.run(["tail", "-n", "20", instance["log"]]).stdout
    got_200 = bool(samples) and samples[-1]["ok"]
    return {"ok": got_200 and stop["stopped"] and stop["ports_free"], "url": url, "ports": [port, mx, sub],
            "pgid": instance["pgid"], "samples": samples, "stop": stop, "log_tail": tail.strip()[-2000:],
            "answer": _answer(samples, got_200)}


def _answer(samples: list[dict], got_200: bool) -> str:
    if got_200:
        return f"HTTP 200 after {samples[-1]['t']:g} s ({len(samples)} tries)"
    return "no HTTP 200: " + (health.describe_polls(samples[-3:]) if samples else "not polled")


# --- report ------------------------------------------------------------------------------------


def results_table(services: dict, build: dict, instance: dict) -> pd.DataFrame:
    """One row per seed test: test, ok, evidence.

    >>> results_table({"ok": True, "rows": [{}]}, {"ok": False, "dist": []},
    ...               {"ok": True, "answer": "200", "stop": {"stopped": True, "ports_free": True}}).ok.tolist()
    [True, False, True]
    """
    stop = instance.get("stop", {})
    rows = [
        {"test": "5.1 services initialise", "ok": services["ok"],
         "evidence": f"{sum(1 for r in services['rows'] if r.get('ok'))}/{len(services['rows'])} services"},
        {"test": "5.2 npm run build, dist/ not empty", "ok": build["ok"], "evidence": f"{len(build['dist'])} entries in dist/"},
        {"test": "5.3 /health on a test instance", "ok": instance["ok"],
         "evidence": f"{instance['answer']}; stopped {stop.get('stopped')}, ports free {stop.get('ports_free')}"},
    ]
    return pd.DataFrame(rows, columns=["test", "ok", "evidence"])


__all__ = ["sources", "scratch_workspace", "remove_scratch", "services_check", "build_check", "free_ports",
           "start_instance", "stop_instance", "instance_health", "results_table", "group_alive"]

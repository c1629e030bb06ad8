"""The sandbox is a real broken host: check each scenario with real tools (HTTP, SMTP, sqlite, knex, git, PM2).

Each scenario is brought up once (module-scoped fixture) in a temporary workdir on free ports, so a
demo sandbox on the default ports keeps running; the finalizer takes it down even when a test fails.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support import free_ports

from runbook import sandbox as sb
from runbook.errors import InputError

pytestmark = pytest.mark.slow

USERS_COLUMNS = {
    "email_verified_only": {"email_verified"},
    "both_columns": {"email_verified", "is_verified"},
    "no_column": set(),
    "already_fixed": {"is_verified"},
    "stuck_lock": {"email_verified"},
    "renamed_on_disk": {"email_verified"},
    "wal_busy": {"email_verified"},
}
EMAILS = 300


def http(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def knex(info: dict, script: str) -> subprocess.CompletedProcess:
    env = sb._env(sb.layout(info["workdir"]))
    return subprocess.run(["npm", "run", "--silent", script], cwd=Path(info["app_root"]) / "backend",
                          env=env, capture_output=True, text=True, timeout=60)


def bring_up(tmp_path_factory, scenario: str, request) -> dict:
    workdir = tmp_path_factory.mktemp(f"sbx-{scenario}")
    api, mx, sub = free_ports(3)
    # Registered before up(): a failing up still gets taken down.
    request.addfinalizer(lambda: sb.down(workdir, progress=None))
    return sb.up(workdir, scenario=scenario, emails=EMAILS, api_port=api, mx_port=mx,
                 submission_port=sub, progress=None)


@pytest.fixture(scope="module", params=list(sb.SCENARIOS))
def sandbox(request, tmp_path_factory):
    return bring_up(tmp_path_factory, request.param, request)


def db(info: dict) -> sqlite3.Connection:
    return sqlite3.connect(info["database"])


def test_health_answers_like_the_incident(sandbox):
    code, body = http(sandbox["ports"]["api"], "/health")
    if sandbox["scenario"] == "already_fixed":
        assert (code, body["status"]) == (200, "ok")
        assert http(sandbox["ports"]["api"], "/api/users/me")[1]["user"]["email"] == sb.SYSTEM_EMAIL
    else:
        assert (code, body["status"]) == (500, "error")
        expected = "is not verified" if sandbox["scenario"] == "both_columns" else "no such column: is_verified"
        assert expected in body["error"]
        assert http(sandbox["ports"]["api"], "/api/users/me")[0] == 500
    assert http(sandbox["ports"]["api"], "/api/health")[0] == code
    assert http(sandbox["ports"]["api"], "/nope")[0] == 404


def test_users_columns_and_data(sandbox):
    with db(sandbox) as con:
        cols = {r[1] for r in con.execute("PRAGMA table_info(users)")}
        assert cols & {"email_verified", "is_verified"} == USERS_COLUMNS[sandbox["scenario"]]
        assert con.execute("SELECT count(*) FROM users WHERE email = ?", (sb.SYSTEM_EMAIL,)).fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM users").fetchone()[0] == 51
        assert con.execute("SELECT count(*) FROM emails").fetchone()[0] >= EMAILS
        assert con.execute("SELECT count(*) FROM webhooks").fetchone()[0] > 0
        if sandbox["scenario"] == "both_columns":
            assert con.execute("SELECT count(*) FROM users WHERE is_verified <> email_verified").fetchone()[0] > 1
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []


def test_migration_history_and_lock(sandbox):
    with db(sandbox) as con:
        names = [r[0] for r in con.execute("SELECT name FROM knex_migrations ORDER BY id")]
        locked = con.execute("SELECT is_locked FROM knex_migrations_lock").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert len(names) == 20 and names == sorted(names)  # knex's plain string order
    assert {"007_add_bounce_reason_to_emails.js", "007_create_webhooks_table.js", "015_create_system_user.js"} <= set(names)
    assert locked == (1 if sandbox["scenario"] == "stuck_lock" else 0)
    assert {"users", "emails", "webhooks", "processed_emails", "security_blacklists", "rate_limit_violations",
            "spam_analysis", "phishing_detection", "ip_reputation"} <= tables


def test_knex_migrate_status(sandbox):
    r = knex(sandbox, "migrate:status")
    out = r.stdout + r.stderr
    if sandbox["scenario"] == "renamed_on_disk":
        assert r.returncode != 0
        assert "The migration directory is corrupt, the following files are missing: 007_add_bounce_reason_to_emails.js" in out
    else:
        assert r.returncode == 0, out
        assert "No Pending Migration files Found" in out


def test_journal_mode_and_writer(sandbox):
    with db(sandbox) as con:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        before = con.execute("SELECT count(*) FROM emails").fetchone()[0]
    names = {p["name"]: p["status"] for p in sb.status(sandbox["workdir"])["processes"]}
    assert names.get("ultrazend-api") == "online"
    if sandbox["scenario"] == "wal_busy":
        assert mode == "wal" and names.get("ultrazend-writer") == "online"
        time.sleep(1.0)
        with db(sandbox) as con:
            assert con.execute("SELECT count(*) FROM emails").fetchone()[0] >= before + 10
    else:
        assert mode == "delete" and "ultrazend-writer" not in names


def test_smtp_banner_on_both_ports(sandbox):
    for port in (sandbox["ports"]["mx"], sandbox["ports"]["submission"]):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            f = s.makefile("rwb")
            banner = f.readline().decode()
            assert banner.startswith("220 ") and "UltraZend ESMTP" in banner
            f.write(b"EHLO test.local\r\n")
            f.flush()
            assert f.readline().startswith(b"250")


def test_logs_hold_the_traffic(sandbox):
    logs = Path(sandbox["app_root"]) / "logs"
    files = list((logs / "application").glob("app-*.log"))
    assert len(files) == 1
    entries = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert all(list(e) == ["ts", "level", "method", "path", "status", "ms", "error"] for e in entries)
    statuses = {e["status"] for e in entries if e["path"] in ("/health", "/api/health", "/api/users/me")}
    assert statuses == ({200} if sandbox["scenario"] == "already_fixed" else {500})
    assert len(entries) >= 36
    assert (logs / "app.log").read_text().count("HTTP API listening") >= 1
    error_log = (logs / "error.log").read_text()
    assert ("ERROR GET /health 500" in error_log) == (sandbox["scenario"] != "already_fixed")


def test_git_repo_and_origin(sandbox):
    app = sandbox["app_root"]

    def git(*args):
        return subprocess.run(["git", "-C", app, *args], capture_output=True, text=True, check=True).stdout.strip()

    assert git("rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git("rev-parse", "HEAD") == git("rev-parse", "origin/main")
    assert subprocess.run(["git", "--git-dir", sandbox["origin"], "rev-parse", "main"], capture_output=True,
                          text=True).stdout.strip() == git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain")
    if sandbox["scenario"] == "renamed_on_disk":
        assert "007_add_bounce_reason_to_emails.js" in dirty and "008_add_bounce_reason_to_emails.js" in dirty
    else:
        assert dirty == ""
    commits = git("log", "--oneline").splitlines()
    # Scenarios whose applied migrations were edited afterwards keep the edit as a later commit.
    edited = sandbox["scenario"] in ("no_column", "both_columns", "already_fixed")
    assert len(commits) == (2 if edited else 1)


DEPLOY_FAILS_WITH = {
    "stuck_lock": "Migration table is already locked",
    "renamed_on_disk": "The migration directory is corrupt",
}


def test_deploy_script(sandbox):
    # The seed's CI/CD deploy, on the host as it is: it stops at migrate:latest where knex refuses.
    app = Path(sandbox["app_root"])
    env = sb._env(sb.layout(sandbox["workdir"]))
    r = subprocess.run(["./deploy.sh"], cwd=app, env=env, capture_output=True, text=True, timeout=120)
    log = (app / "logs" / "deploy.log").read_text()
    reason = DEPLOY_FAILS_WITH.get(sandbox["scenario"])
    if reason:
        assert r.returncode != 0 and reason in log
        assert log.rstrip().endswith("DEPLOY FAILED")
    else:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "[reload] ok" in log and log.rstrip().endswith("DEPLOY OK")
        # pm2 reload returns before the new process listens: poll as the seed's monitor does.
        sb._wait_listening({"api": sandbox["ports"]["api"]}, timeout=15)
        assert http(sandbox["ports"]["api"], "/health")[0] == (200 if sandbox["scenario"] == "already_fixed" else 500)


def test_busy_port_is_refused_before_any_change(tmp_path):
    workdir = tmp_path / "never"
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(InputError, match=rf"port {port} \(api\) is already in use; pass --api-port"):
            sb.up(workdir, api_port=port, mx_port=free_ports(1)[0], submission_port=free_ports(1)[0], progress=None)
    finally:
        holder.close()
    assert not workdir.exists()
    with pytest.raises(InputError, match="unknown scenario"):
        sb.up(workdir, scenario="nope", progress=None)


def test_cli_up_deploy_down(tmp_path):
    from click.testing import CliRunner

    from runbook.sandbox_cli import sandbox as group

    workdir = tmp_path / "cli"
    api, mx, sub = free_ports(3)
    runner = CliRunner()
    try:
        r = runner.invoke(group, ["up", "--workdir", str(workdir), "--emails", "100", "--api-port", str(api),
                                  "--mx-port", str(mx), "--submission-port", str(sub)])
        assert r.exit_code == 0, r.output
        assert "[9/9]" in r.output and "ultrazend-api online" in r.output
        st = sb.status(workdir)
        pids = [p["pid"] for p in st["processes"]]
        daemon = int((workdir / "pm2" / "pm2.pid").read_text())
        assert st["health"] == 500 and all(alive(pid) for pid in pids + [daemon])

        # A deploy of a new commit: pull, migrate, build, reload; the app gets a new pid.
        app = workdir / "ultrazend"
        env = sb._env(sb.layout(workdir))
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(workdir / "origin.git"), str(clone)], check=True, env=env)
        (clone / "README.md").write_text("UltraZend\n")
        for cmd in (["add", "README.md"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "docs"], ["push", "-q"]):
            subprocess.run(["git", "-C", str(clone), *cmd], check=True, env=env)
        d = subprocess.run(["./deploy.sh"], cwd=app, env=env, capture_output=True, text=True, timeout=120)
        assert d.returncode == 0, d.stdout + d.stderr
        assert (app / "README.md").exists()
        assert (app / "logs" / "deploy.log").read_text().rstrip().endswith("DEPLOY OK")
        new_pids = [p["pid"] for p in sb.status(workdir)["processes"]]
        assert new_pids and new_pids != pids

        assert "scenario: email_verified_only" in runner.invoke(group, ["status", "--workdir", str(workdir)]).output
        r = runner.invoke(group, ["down", "--workdir", str(workdir)])
        assert r.exit_code == 0, r.output
        assert not workdir.exists()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in pids + new_pids + [daemon]):
            time.sleep(0.1)
        assert not any(alive(pid) for pid in pids + new_pids + [daemon])
        assert all(sb._port_free(port) for port in (api, mx, sub))
        assert runner.invoke(group, ["down", "--workdir", str(workdir)]).exit_code == 0  # idempotent
    finally:
        sb.down(workdir, progress=None)

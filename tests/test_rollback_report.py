"""Phase 90 (rollback) after a deploy broken on purpose, and phase 99 / index.html in a real browser.

The story, on a private sandbox:

1. run ``repair``: phases 00-04 and 99 with apply; /health answers 200.
2. run ``predeploy``: phase 01 alone takes a verified backup of the *repaired* database. It stands for the
   pre-deploy backup phase 06 takes before it ships. This is the backup that makes "health is back" true:
   the phase-01 backup of ``repair`` predates the repair, and restoring it would bring back the original
   HTTP 500 by design.
3. rows are written after that backup (they are what a restore loses), then a deploy is broken on purpose: the
   repair's migrations plus a bad ``022`` that renames ``users.is_verified`` back are committed with the
   runbook's deploy message, pushed, and ``deploy.sh`` runs them; /health answers 500.
4. run ``rollback-dry``: phase 90 without apply changes nothing.
5. run ``rollback``: phase 90 with apply, as its own run; it must find ``predeploy``'s backup by itself.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from runbook import pipeline, report
from runbook.params import PROJECT_ROOT, DeployParams
from runbook.records import Recorder, read_record
from runbook.render import render_index

pytestmark = pytest.mark.slow

BAD_MIGRATION = """// A bad change shipped on purpose: the code reads users.is_verified.
exports.up = (knex) => knex.schema.alterTable('users', (t) => t.renameColumn('is_verified', 'email_verified'));
exports.down = (knex) => knex.schema.alterTable('users', (t) => t.renameColumn('email_verified', 'is_verified'));
"""
CHROMIUM = "/usr/bin/chromium"


def quiet(_line: str) -> None:
    pass


def health(url: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_health(url: str, want: int, seconds: float = 20) -> int | None:
    deadline, got = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        got = health(url)
        if got == want:
            break
        time.sleep(0.5)
    return got


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def node_env(sbx) -> dict:
    return {**os.environ, "PM2_HOME": str(sbx.workdir / "pm2"), "FORCE_COLOR": "0",
            "PATH": f"{PROJECT_ROOT}/sandbox/node_modules/.bin:{os.environ['PATH']}"}


def git(sbx, *args, repo: Path | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo or sbx.app_root), *args], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


def pm2(sbx, *args) -> None:
    subprocess.run(["pm2", *args], env=node_env(sbx), check=True, capture_output=True, timeout=60)


def break_deploy(sbx) -> str:
    """Commit the repair's migrations and a bad one with the runbook's deploy message, push, deploy."""
    (sbx.migrations / "022_rename_is_verified_back.js").write_text(BAD_MIGRATION)
    git(sbx, "add", "backend/src/migrations")
    git(sbx, "commit", "-q", "-m", DeployParams().commit_message)
    git(sbx, "push", "-q", "origin", "HEAD:main")
    r = subprocess.run(["./deploy.sh"], cwd=sbx.app_root, env=node_env(sbx), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-500:]
    return git(sbx, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def story(make_sandbox, tmp_path_factory):
    sbx = make_sandbox("email_verified_only", emails=300)
    out = tmp_path_factory.mktemp("rollback-runs")
    timings = {}

    t = time.monotonic()
    repair = pipeline.run(sbx.params, apply=True, phases="00-04,99", run_id="repair", output_dir=out, progress=quiet)
    timings["repair 00-04,99"] = time.monotonic() - t
    assert repair.exit_code == 0, repair.message
    assert wait_health(sbx.api_url, 200) == 200

    t = time.monotonic()
    pre = pipeline.run(sbx.params, phases="01", run_id="predeploy", output_dir=out, progress=quiet)
    timings["predeploy 01"] = time.monotonic() - t
    assert pre.exit_code == 0, pre.message
    backup = read_record(out / "predeploy", "01")["values"]["backup"]

    # Writes after the backup: what a restore loses, and what the rollback must count first.
    con = sqlite3.connect(sbx.database, timeout=15)
    with con:
        con.executemany("INSERT INTO emails (message_id, from_email, to_email, subject, status) VALUES (?, ?, ?, ?, 'sent')",
                        [(f"<after-backup-{i}@ultrazend.test>", "a@ultrazend.test", "b@example.test", "after") for i in range(3)])
    con.close()
    bad = break_deploy(sbx)
    assert wait_health(sbx.api_url, 500) == 500, "the broken deploy should make /health answer 500"

    broken = {"db": sha256(sbx.database), "head": git(sbx, "rev-parse", "HEAD"),
              "origin": git(sbx, "rev-parse", "main", repo=sbx.workdir / "origin.git")}
    t = time.monotonic()
    dry = pipeline.run(sbx.params, phases="90", run_id="rollback-dry", output_dir=out, progress=quiet)
    timings["rollback dry run"] = time.monotonic() - t
    after_dry = {"db": sha256(sbx.database), "head": git(sbx, "rev-parse", "HEAD"),
                 "origin": git(sbx, "rev-parse", "main", repo=sbx.workdir / "origin.git"),
                 "health": health(sbx.api_url)}

    t = time.monotonic()
    rb = pipeline.run(sbx.params, apply=True, phases="90", run_id="rollback", output_dir=out, progress=quiet)
    timings["rollback apply"] = time.monotonic() - t
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return {"sbx": sbx, "out": out, "backup": backup, "bad": bad, "broken": broken, "dry": dry,
            "after_dry": after_dry, "rb": rb}


def test_dry_run_rollback_changes_nothing(story):
    assert story["dry"].exit_code == 0, story["dry"].message
    assert story["after_dry"]["db"] == story["broken"]["db"]
    assert story["after_dry"]["head"] == story["broken"]["head"]
    assert story["after_dry"]["origin"] == story["broken"]["origin"]
    assert story["after_dry"]["health"] == 500
    rec = read_record(story["out"] / "rollback-dry", "90")
    assert rec["changes"] and not any(c["done"] for c in rec["changes"])
    plan = {r["step"]: r["what"] for r in rec["tables"]["plan"]["rows"]}
    assert plan["revert code"] == f"git revert --no-edit {story['bad'][:10]}"
    assert plan["roll back migrations"] == "nothing"  # trap 8: never a blind migrate:rollback
    assert rec["values"]["backup"]["path"] == story["backup"]["path"]


def test_rollback_restores_the_predeploy_backup_and_health(story):
    sbx, rb = story["sbx"], story["rb"]
    assert rb.exit_code == 0, rb.message
    assert wait_health(sbx.api_url, 200) == 200
    rec = read_record(story["out"] / "rollback", "90")
    assert rec["values"]["backup"]["path"] == story["backup"]["path"]
    assert rec["values"]["backup_source"]["run"].endswith("predeploy")
    assert rec["values"]["restored_sha256"] == story["backup"]["sha256"]
    # The live file itself, with the services stopped: byte for byte the backup.
    pm2(sbx, "stop", "all")
    try:
        assert sha256(sbx.database) == story["backup"]["sha256"]
    finally:
        pm2(sbx, "restart", "all")
    assert wait_health(sbx.api_url, 200) == 200
    lost = {r["table"]: r["rows_lost"] for r in rec["tables"]["rows_lost"]["rows"]}
    assert lost["emails"] == 3 and lost["knex_migrations"] == 1
    assert (story["out"] / "rollback" / rec["figures"]["rows_lost"]).is_file()
    assert rec["values"]["batches_to_roll_back"] == []
    assert not any("migrate:rollback" in c["change"] for c in rec["changes"])


def test_rollback_reverts_without_rewriting_history(story):
    sbx, bad = story["sbx"], story["bad"]
    origin = sbx.workdir / "origin.git"
    head_msg = git(sbx, "log", "-1", "--format=%B")
    assert head_msg.startswith('Revert "') and f"This reverts commit {bad}" in head_msg
    assert git(sbx, "rev-parse", "HEAD~1") == bad  # a new commit on top: nothing rewritten
    subprocess.run(["git", "-C", str(sbx.app_root), "merge-base", "--is-ancestor", bad, "HEAD"], check=True)
    assert git(sbx, "rev-parse", "main", repo=origin) == git(sbx, "rev-parse", "HEAD")  # pushed
    subprocess.run(["git", "-C", str(origin), "merge-base", "--is-ancestor", bad, "main"], check=True)  # no force push
    assert not (sbx.migrations / "022_rename_is_verified_back.js").exists()
    # The repair's migrations are applied in the restored database: they stay on disk, and knex agrees.
    assert (sbx.migrations / "020_fix_email_verified_consistency.js").is_file()
    status = subprocess.run(["npm", "run", "--silent", "migrate:status"], cwd=sbx.app_root / "backend",
                            env={**node_env(sbx), "DATABASE_URL": str(sbx.database)}, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and "No Pending Migration" in status.stdout, status.stdout + status.stderr


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        subprocess.run([str(PROJECT_ROOT / "scripts" / "ensure-debian-packages"), "chromium=chromium,fonts-liberation"],
                       check=True, timeout=900)
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def _assert_page(index: Path, tmp_path: Path, verdicts: set[str]) -> str:
    from PIL import Image

    png = tmp_path / "index.png"
    _chromium([f"--screenshot={png}", "--window-size=1280,2000", index.as_uri()], tmp_path)
    assert png.is_file() and png.stat().st_size > 10_000
    colours = Image.open(png).convert("RGB").resize((320, 500)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the screenshot is (nearly) blank"
    dom = _chromium(["--dump-dom", index.as_uri()], tmp_path).stdout
    for name in report.CRITERIA:
        assert name in dom
    for v in verdicts:
        assert v in dom
    return dom


def test_report_of_the_repair_run_in_a_browser(story, tmp_path):
    run_dir = story["out"] / "repair"
    rec = read_record(run_dir, "99")
    rows = {r["criterion"]: r for r in rec["tables"]["criteria"]["rows"]}
    assert rows["Migrations without conflicts"]["verdict"] == "passed"
    assert rows["Schema consistent in every table"]["verdict"] == "passed"
    assert rows["Deploy pipeline without warnings"]["verdict"] == "not run"  # no phase 06 in this run
    assert rec["verdict"] == "passed" and rec["values"]["downtime_s"] == 0.0
    index = pipeline.report(run_dir)
    dom = _assert_page(index, tmp_path, {"PASSED", "NOT RUN"})
    assert "03_fix_migrations.html" in dom


def test_report_shows_failed_criteria(tmp_path):
    """Records of a run whose monitoring saw HTTP 500 after the repair and a stop of 42 s."""
    run = tmp_path / "run"
    for pid, values, checks in (
        ("01", {"apply": True, "services_stopped_at": "2026-12-03T19:00:00+00:00"}, []),
        ("03", {"apply": True, "applied_at": "2026-12-03T19:02:11+00:00"},
         [("knex migrate:status clean", True)]),
        ("07", {"apply": True, "health_samples_ok": "7/10", "error_500_before": 40, "error_500_after": 3},
         [("no HTTP 500 after the repair", False), ("SMTP MX answers on port 2525", True)]),
    ):
        rec = Recorder(run, pid)
        for k, v in values.items():
            rec.record(k, v)
        for name, ok in checks:
            rec.check(name, ok)
        if pid == "07":
            import pandas as pd

            rec.table("health_polls", pd.DataFrame([{"at": "2026-12-03T19:00:42+00:00", "ok": True}]))
        rec.set_verdict("failed" if pid == "07" else "passed")
    records = report.load_records(run)
    rows = report.criteria_rows(records)
    by = {r["criterion"]: r for r in rows}
    assert by["Zero HTTP 500 in the logs after the repair"] == {
        "criterion": "Zero HTTP 500 in the logs after the repair", "verdict": "failed",
        "evidence": "3 HTTP 500 after 19:02:11 (40 before the repair)"}
    assert by["All health checks return 200"]["evidence"] == "7/10 health checks 200"
    assert report.overall(rows) == "failed"
    assert report.downtime(records)[0] == 42.0
    out = Recorder(run, "99")
    out.table("criteria", report.pd.DataFrame(rows))
    out.record("downtime_s", 42.0)
    out.set_verdict("failed")
    phases = [{"id": p, "name": n, "title": t, "status": s, "duration": 1.0, "message": ""}
              for p, n, t, s in (("01", "backup", "Backup and state", "passed"), ("03", "fix_migrations", "Fix migrations", "passed"),
                                 ("07", "monitoring", "Monitoring", "failed"), ("99", "report", "Report", "failed"))]
    index = render_index(run, {"run_id": "synthetic", "params": {"apply": True}}, phases)
    dom = _assert_page(index, tmp_path, {"FAILED", "PASSED", "NOT RUN", "42.0 s"})
    assert "3 HTTP 500 after 19:02:11" in dom

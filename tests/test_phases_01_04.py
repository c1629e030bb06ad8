"""Phases 00-04 against every sandbox scenario: a dry run changes nothing, an applying run repairs,
no row is lost, and a second applying run changes nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import file_digest, tree_digest

from runbook import pipeline
from runbook import sandbox as sb
from runbook.params import PROJECT_ROOT
from runbook.records import read_record


def health(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def db_rows(path, sql):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=15)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def counts(path) -> dict[str, int]:
    names = [r[0] for r in db_rows(path, "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {n: db_rows(path, f'SELECT count(*) FROM "{n}"')[0][0] for n in names}


def verified_emails(path) -> set[str]:
    cols = {r[1] for r in db_rows(path, "PRAGMA table_info(users)")}
    conds = [f"coalesce({c}, 0) != 0" for c in ("is_verified", "email_verified") if c in cols]
    if not conds:
        return set()
    return {r[0] for r in db_rows(path, f"SELECT email FROM users WHERE {' OR '.join(conds)}")}


def knex_status(sbx) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": str(sbx.database), "FORCE_COLOR": "0",
           "PATH": f"{PROJECT_ROOT}/sandbox/node_modules/.bin:{os.environ['PATH']}"}
    return subprocess.run(["npm", "run", "--silent", "migrate:status"], cwd=sbx.app_root / "backend",
                          env=env, capture_output=True, text=True, timeout=120)


def run(sbx, tmp_path, apply: bool, name: str):
    outcome = pipeline.run(sbx.params, apply=apply, phases="00-04", run_id=name, output_dir=tmp_path,
                           progress=lambda _l: None)
    return outcome


@pytest.mark.parametrize("scenario", list(sb.SCENARIOS))
def test_phases_00_04_repair_every_scenario(scenario, make_sandbox, tmp_path):
    sbx = make_sandbox(scenario)
    wal = scenario == "wal_busy"
    before_counts = counts(sbx.database)
    before_verified = verified_emails(sbx.database)
    before_db, before_tree = file_digest(sbx.database), tree_digest(sbx.migrations)
    before_history = db_rows(sbx.database, "SELECT name, batch FROM knex_migrations ORDER BY id")
    before_lock = db_rows(sbx.database, "SELECT is_locked FROM knex_migrations_lock")
    before_health = health(sbx.api_url)
    initial_cols = {r[1] for r in db_rows(sbx.database, "PRAGMA table_info(users)")}

    # 1. Dry run: every phase passes (04 validates the rehearsal copy) and nothing on the host changes.
    dry = run(sbx, tmp_path, apply=False, name="dry")
    assert dry.exit_code == 0, dry.message
    assert tree_digest(sbx.migrations) == before_tree
    assert db_rows(sbx.database, "SELECT name, batch FROM knex_migrations ORDER BY id") == before_history
    assert db_rows(sbx.database, "SELECT is_locked FROM knex_migrations_lock") == before_lock
    if not wal:  # the writer of wal_busy changes the file on purpose
        assert file_digest(sbx.database) == before_db
    assert health(sbx.api_url) == before_health
    plan = read_record(dry.run_dir, "03")
    assert all(not c["done"] for c in plan["changes"])
    if scenario == "already_fixed":
        assert plan["values"]["plan"] == []
    else:
        assert plan["values"]["rehearsal"]["ok"]

    # 2. Applying run: repaired, healthy, knex happy, no row lost.
    applied = run(sbx, tmp_path, apply=True, name="apply")
    assert applied.exit_code == 0, applied.message
    assert health(sbx.api_url) == 200
    status = knex_status(sbx)
    assert status.returncode == 0, status.stderr
    assert "No Pending Migration files Found" in status.stdout
    cols = {r[1] for r in db_rows(sbx.database, "PRAGMA table_info(users)")}
    assert "is_verified" in cols and "email_verified" not in cols
    assert db_rows(sbx.database, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]
    after_counts = counts(sbx.database)
    for table, n in before_counts.items():
        if table == "users":
            assert after_counts[table] - n in (0, 1), "only the system user may be added"
        elif table == "knex_migrations":
            assert after_counts[table] >= n
        else:
            assert after_counts[table] >= n, f"rows lost in {table}"
    assert before_verified <= verified_emails(sbx.database), "a user verified before is no longer verified"
    diff = {(r["name"], r["change"]) for r in read_record(applied.run_dir, "04")["tables"]["schema_diff"]["rows"]}
    before_cols = {c for c in ("is_verified", "email_verified") if before_counts and c in initial_cols}
    assert (("users.email_verified", "removed") in diff) == ("email_verified" in before_cols)
    assert (("users.is_verified", "added") in diff) == ("is_verified" not in before_cols)
    # The snapshot's tables are counted once, when phase 01 fetches it; phase 04 compares those.
    snapshot = read_record(applied.run_dir, "01")["values"]["backup"]
    assert snapshot["row_counts"] == counts(snapshot["local"])
    compared = read_record(applied.run_dir, "04")["tables"]["row_counts"]["rows"]
    assert {r["table"]: r["before"] for r in compared} == snapshot["row_counts"]

    # 3. A second applying run changes nothing.
    after_tree = tree_digest(sbx.migrations)
    again = run(sbx, tmp_path, apply=True, name="again")
    assert again.exit_code == 0, again.message
    assert read_record(again.run_dir, "03")["changes"] == []
    assert tree_digest(sbx.migrations) == after_tree
    manifest = json.loads((again.run_dir / "manifest.json").read_text())
    assert [e["status"] for e in manifest["entries"] if e["kind"] == "phase"] == ["passed"] * 5


def test_phases_00_04_over_ssh(make_sandbox, sshd, tmp_path):
    """The same repair through params that reach the sandbox over a real OpenSSH server."""
    from support import sandbox_params

    sbx = make_sandbox("stuck_lock")
    tp = sshd.target_params()
    ssh_params = sandbox_params(sbx.info, tmp_path / "ssh.yaml", target={
        "kind": "ssh", "host": tp.host, "port": tp.port, "user": tp.user,
        "key_file": tp.key_file, "known_hosts": tp.known_hosts})
    before_db, before_tree = file_digest(sbx.database), tree_digest(sbx.migrations)

    dry = pipeline.run(ssh_params, phases="00-04", run_id="ssh-dry", output_dir=tmp_path, progress=lambda _l: None)
    assert dry.exit_code == 0, dry.message
    assert file_digest(sbx.database) == before_db and tree_digest(sbx.migrations) == before_tree
    manifest = json.loads((dry.run_dir / "manifest.json").read_text())
    assert manifest["params"]["target"]["kind"] == "ssh"

    applied = pipeline.run(ssh_params, apply=True, phases="00-04", run_id="ssh-apply", output_dir=tmp_path,
                           progress=lambda _l: None)
    assert applied.exit_code == 0, applied.message
    assert health(sbx.api_url) == 200
    assert db_rows(sbx.database, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]
    snapshot = read_record(applied.run_dir, "01")["values"]["backup"]
    assert snapshot["verified"] and file_digest(snapshot["local"]) == snapshot["sha256"]


def test_phase_03_alone_snapshots_once(make_sandbox, tmp_path):
    """Without phase 01 in the run, phase 03 makes one verified snapshot and rehearses on it."""
    sbx = make_sandbox("email_verified_only")
    before_db = file_digest(sbx.database)
    outcome = pipeline.run(sbx.params, phases="03", run_id="alone", output_dir=tmp_path, progress=lambda _l: None)
    assert outcome.exit_code == 0, outcome.message
    values = read_record(outcome.run_dir, "03")["values"]
    assert values["snapshot_before"]["verified"] and values["rehearsal"]["ok"]
    made = sorted(p.name for p in (Path(sbx.info["backups"]) / "alone").rglob("ultrazend_backup*.sqlite"))
    assert made == ["ultrazend_backup.sqlite"]
    assert file_digest(sbx.database) == before_db  # a dry run


def test_phase_01_stops_services_only_when_asked_and_applied(make_sandbox, tmp_path):
    """The seed's `pm2 stop all` before the backup: a parameter, recorded for the report's downtime."""
    import yaml

    sbx = make_sandbox("email_verified_only")
    data = yaml.safe_load(sbx.params.read_text())
    data["backup"]["stop_services"] = True
    params = tmp_path / "stop.yaml"
    params.write_text(yaml.safe_dump(data))

    dry = pipeline.run(params, phases="01", run_id="dry", output_dir=tmp_path, progress=lambda _l: None)
    assert dry.exit_code == 0, dry.message
    assert health(sbx.api_url) == 500  # still running, still broken
    assert "services_stopped_at" not in read_record(dry.run_dir, "01")["values"]
    assert [c["done"] for c in read_record(dry.run_dir, "01")["changes"]] == [False]

    applied = pipeline.run(params, phases="01", run_id="apply", apply=True, output_dir=tmp_path, progress=lambda _l: None)
    assert applied.exit_code == 0, applied.message
    values = read_record(applied.run_dir, "01")["values"]
    assert values["services_stopped_at"] and values["backup"]["verified"]
    with pytest.raises(urllib.error.URLError):
        health(sbx.api_url)
    from runbook import report
    assert report.downtime({"01": read_record(applied.run_dir, "01")}) == (
        None, f"services stopped at {values['services_stopped_at'][11:19]} (phase 01); no HTTP 200 recorded since")

"""The knex history model on its own, and the renumbering repair on a small real knex app."""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest

from runbook.diagnosis import Diagnosis, findings
from runbook.knex import MigrationHistory, history_on_host, knex_sort
from runbook.params import PROJECT_ROOT, RepairParams
from runbook.repair import Workspace, apply_plan, build_plan
from runbook.target import LocalTarget

SANDBOX = PROJECT_ROOT / "sandbox"
MIGRATION = "exports.up = (knex) => knex.schema.createTable('{t}', (t) => {{ t.increments('id'); }});\n" \
            "exports.down = (knex) => knex.schema.dropTable('{t}');\n"


def test_knex_order_is_string_order_not_numeric():
    assert knex_sort(["10_b.js", "9_a.js", "010_c.js", "2_x.ts"]) == ["010_c.js", "10_b.js", "2_x.ts", "9_a.js"]
    h = MigrationHistory(files=["9_a.js", "10_b.js", "notes.md"], applied=[])
    assert h.ordered_files == ["10_b.js", "9_a.js"], "non-migration files are ignored, order is by string"


def test_pending_missing_renamed_and_lock():
    h = MigrationHistory(
        files=["001_a.js", "007_x.js", "008_y.js", "009_new.js"],
        applied=[{"name": "001_a.js", "batch": 1}, {"name": "007_x.js", "batch": 1}, {"name": "007_y.js", "batch": 2}],
        lock=[{"index": 1, "is_locked": 1}])
    assert h.missing == ["007_y.js"]
    assert h.pending == ["008_y.js", "009_new.js"]
    assert h.probably_renamed == {"007_y.js": "008_y.js"}
    assert h.locked and h.knex_would_refuse and h.last_batch == 2
    table = h.status_table()
    assert table.loc[table.name == "007_y.js", "state"].item() == "MISSING from disk"


def test_rename_order_check():
    h = MigrationHistory(files=["001_a.js", "001_b.js", "003_c.js"], applied=[])
    assert h.rename_keeps_order("001_b.js", "002_b.js")
    seed_like = MigrationHistory(files=["007_add_bounce.js", "007_create_webhooks.js", "008_create_processed.js"], applied=[])
    # the seed's own rename would move 007_add_bounce after 007_create_webhooks
    assert not seed_like.rename_keeps_order("007_add_bounce.js", "008_add_bounce.js")
    assert not seed_like.rename_keeps_order("007_create_webhooks.js", "008_create_webhooks.js")


def test_findings_for_a_live_migrator_do_not_free_the_lock():
    h = MigrationHistory(files=["001_a.js"], applied=[{"name": "001_a.js", "batch": 1}], lock=[{"is_locked": 1}])
    d = Diagnosis(h, "is_verified only", {"exists": True, "verified": True}, 0, {}, migrators=["node knex migrate:latest"])
    assert [s.kind for s in build_plan(d, RepairParams())] == ["blocked"]
    f = findings(h, column_case="is_verified only", system_user={"exists": True, "verified": True},
                 migrators=d.migrators)
    assert f.iloc[0]["finding"] == "migration lock held by a running migrator"


@pytest.fixture
def knex_app(tmp_path):
    """A tiny knex app (the sandbox's knexfile and modules) with a duplicate prefix 001, all applied."""
    app = tmp_path / "app"
    (app / "src" / "migrations").mkdir(parents=True)
    for name in ("knexfile.js", "package.json"):
        (app / name).write_text((SANDBOX / name).read_text())
    (app / "node_modules").symlink_to(SANDBOX / "node_modules")
    for name, table in (("001_a.js", "a"), ("001_b.js", "b"), ("003_c.js", "c")):
        (app / "src" / "migrations" / name).write_text(MIGRATION.format(t=table))
    env = {**os.environ, "DATABASE_URL": str(app / "app.sqlite"), "FORCE_COLOR": "0",
           "PATH": f"{SANDBOX}/node_modules/.bin:{os.environ['PATH']}"}
    subprocess.run(["npm", "run", "--silent", "migrate:latest"], cwd=app, env=env, check=True, capture_output=True)
    return app, env


def test_renumber_moves_file_and_history_row_together(knex_app):
    app, env = knex_app
    target = LocalTarget()
    ws = Workspace(backend=str(app), database=str(app / "app.sqlite"), migrations=str(app / "src" / "migrations"))
    history = history_on_host(target, ws.database, ws.migrations)
    d = Diagnosis(history, "is_verified only", {"exists": True, "verified": True}, 0, {})
    plan = build_plan(d, RepairParams(renumber_duplicates=True))
    assert [(s.kind, s.detail.get("new")) for s in plan] == [("renumber", "002_b.js"), ("migrate-latest", None)]

    assert [c.done for c in apply_plan(target, plan, ws, apply=False)] == [False, False]
    assert (app / "src" / "migrations" / "001_b.js").exists(), "a dry run renames nothing"

    changes = apply_plan(target, plan, ws, apply=True)
    assert changes[0].done and (app / "src" / "migrations" / "002_b.js").exists()
    rows = [r[0] for r in sqlite3.connect(ws.database).execute("SELECT name FROM knex_migrations ORDER BY id")]
    assert rows == ["001_a.js", "002_b.js", "003_c.js"]
    status = subprocess.run(["npm", "run", "--silent", "migrate:status"], cwd=app, env=env, capture_output=True, text=True)
    assert status.returncode == 0 and "No Pending Migration files Found" in status.stdout
    assert apply_plan(target, plan, ws, apply=True) == [], "running it again changes nothing"

"""Steps that several phases share, each one line in a notebook cell.

They join library calls with what earlier phases of the same run recorded
(the backup of phase 01, the plan of phase 03), so a notebook run alone in
JupyterLab still works: a missing earlier record means "do it now".

Example
-------
>>> from runbook.params import Params
>>> live_workspace(Params()).migrations.endswith("backend/src/migrations")
True
"""

from __future__ import annotations

from pathlib import Path

from . import backup as backup_mod
from .diagnosis import Diagnosis, diagnose
from .knex import list_migration_files, running_migrators
from .repair import Workspace  # noqa: F401  (notebooks build workspaces through steps)


def backup_folder(ph) -> str:
    """This run's folder on the host, under ``backup.dir`` (one per run id)."""
    return f"{ph.params.backup.dir.rstrip('/')}/{ph.run_dir.name}"


def live_workspace(params) -> Workspace:
    app = params.app
    return Workspace(backend=app.path("backend"), database=app.path("database"),
                     migrations=app.path("migrations"), env=dict(app.env))


def take_snapshot(ph, label: str, local_name: str) -> dict:
    """Snapshot the live database on the host, verify it, fetch it into ``files/``, return its record."""
    local = ph.files_dir / local_name
    b = backup_mod.snapshot(ph.target, ph.params.app.path("database"), backup_folder(ph), label=label, fetch_to=local)
    return {**b.to_dict(), "local": str(local)}


def phase01_backup(ph) -> dict | None:
    """The backup phase 01 of this run made, if it ran."""
    rec = ph.earlier("01")
    return (rec or {}).get("values", {}).get("backup")


def before_snapshot(ph) -> Path:
    """The local copy of the database as it was before the repair (phase 01's, or a new one)."""
    b = phase01_backup(ph)
    if b and Path(b.get("local", "")).is_file():
        return Path(b["local"])
    return Path(take_snapshot(ph, "ultrazend_backup", "snapshot_before.sqlite")["local"])


def diagnose_snapshot(ph, snapshot: Path) -> Diagnosis:
    """Phase 02's diagnosis of a local snapshot against the migration files on the host."""
    files = list_migration_files(ph.target, ph.params.app.path("migrations"))
    r = ph.params.repair
    return diagnose(snapshot, files, system_user_email=r.system_user_email, wanted=r.verified_column,
                    legacy=r.legacy_column, migrators=running_migrators(ph.target))

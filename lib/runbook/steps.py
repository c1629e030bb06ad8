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

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from . import backup as backup_mod
from . import pm2, schema
from .diagnosis import Diagnosis, diagnose
from .knex import list_migration_files, running_migrators
from .repair import Workspace


def backup_folder(ph) -> str:
    """This run's folder on the host, under ``backup.dir`` (one per run id)."""
    return f"{ph.params.backup.dir.rstrip('/')}/{ph.run_dir.name}"


def live_workspace(params) -> Workspace:
    app = params.app
    return Workspace(backend=app.path("backend"), database=app.path("database"),
                     migrations=app.path("migrations"), env=dict(app.env))


def stop_services(ph) -> list:
    """The seed's ``pm2 stop all``; with ``apply`` the moment is recorded, as the report's downtime
    starts there."""
    changes = ph.changes(pm2.stop_all(ph.target, apply=ph.apply))
    if ph.apply:
        ph.record("services_stopped_at", _dt.datetime.now(_dt.timezone.utc).isoformat())
    return changes


def take_snapshot(ph, label: str, local_name: str, *, count_rows: bool = False) -> dict:
    """Snapshot the live database on the host, verify it, fetch it into ``files/``, return its record.

    With ``count_rows`` the fetched copy's tables are counted once, into the record: ``count(*)``
    walks a whole index, the cost that grows with the mail tables, so later phases reuse them.
    """
    local = ph.files_dir / local_name
    b = backup_mod.snapshot(ph.target, ph.params.app.path("database"), backup_folder(ph), label=label, fetch_to=local)
    return {**b.to_dict(), "local": str(local), "row_counts": schema.row_counts(local) if count_rows else None}


def phase01_backup(ph) -> dict | None:
    """The backup phase 01 of this run made, if it ran."""
    rec = ph.earlier("01")
    return (rec or {}).get("values", {}).get("backup")


def _known_before_backup(ph) -> dict | None:
    for b in (phase01_backup(ph), ph.rec.data["values"].get("snapshot_before")):
        if b and Path(b.get("local", "")).is_file():
            return b
    return None


def before_backup(ph) -> dict:
    """The verified backup of the database as it was before the repair: phase 01's of this run,
    else one this phase made already, else a new one (recorded as this phase's ``snapshot_before``,
    so a notebook run alone snapshots once)."""
    return _known_before_backup(ph) or ph.record(
        "snapshot_before", take_snapshot(ph, "ultrazend_backup", "snapshot_before.sqlite", count_rows=True))


def before_snapshot(ph) -> Path:
    """The local copy of the database as it was before the repair (see :func:`before_backup`)."""
    return Path(before_backup(ph)["local"])


def snapshot_row_counts(ph, snapshot: Path) -> dict[str, int]:
    """Row counts of a local snapshot: those recorded when it was fetched, else counted now."""
    b = _known_before_backup(ph) or {}
    if b.get("row_counts") is not None and Path(b["local"]) == Path(snapshot):
        return b["row_counts"]
    return schema.row_counts(snapshot)


def diagnose_snapshot(ph, snapshot: Path) -> Diagnosis:
    """Phase 02's diagnosis of a local snapshot against the migration files on the host."""
    files = list_migration_files(ph.target, ph.params.app.path("migrations"))
    r = ph.params.repair
    return diagnose(snapshot, files, system_user_email=r.system_user_email, wanted=r.verified_column,
                    legacy=r.legacy_column, migrators=running_migrators(ph.target),
                    counts=snapshot_row_counts(ph, snapshot))


@dataclass
class ValidatedDatabase:
    """The database phase 04 checks, and its copy fetched for offline reading."""

    workspace: Workspace
    local: Path
    mode: str  # "live" or "rehearsal copy"
    row_counts: dict[str, int]


def database_to_validate(ph) -> ValidatedDatabase:
    """The live database (a fresh verified snapshot) with ``apply``; in a dry run, phase 03's
    rehearsal copy, which is what the live database would become."""
    rehearsal = ((ph.earlier("03") or {}).get("values") or {}).get("rehearsal") or {}
    if ph.apply or not rehearsal.get("database"):
        after = take_snapshot(ph, "after_repair", "snapshot_after.sqlite", count_rows=True)
        return ValidatedDatabase(live_workspace(ph.params), Path(after["local"]), "live", after["row_counts"])
    ws = Workspace(rehearsal["backend"], rehearsal["database"], rehearsal["migrations"], dict(ph.params.app.env))
    local = ph.target.fetch(ws.database, ph.files_dir / "snapshot_after_rehearsal.sqlite")
    return ValidatedDatabase(ws, local, "rehearsal copy", schema.row_counts(local))

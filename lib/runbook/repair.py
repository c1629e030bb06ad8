"""Phase 03: a repair plan built from the findings, rehearsed on a copy, then applied.

The plan is data (a list of :class:`Step`); :func:`apply_plan` carries it out on
a *workspace* (a backend folder and a database). The rehearsal is the same call
on a scratch copy of the backend and of the snapshot, followed by the app's own
``DATABASE_URL=<copy> npm run migrate:latest`` (seed 8.2); the live run is the
same call on the real backend, only with ``apply: true``.

Example
-------
>>> from runbook.knex import MigrationHistory
>>> from runbook.diagnosis import Diagnosis
>>> from runbook.params import RepairParams
>>> h = MigrationHistory(files=["001_a.js"], applied=[{"name": "001_a.js", "batch": 1}])
>>> d = Diagnosis(h, "is_verified only", {"exists": True, "verified": True}, 0, {})
>>> [s.kind for s in build_plan(d, RepairParams())]
[]
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
from dataclasses import asdict, dataclass, field
from importlib import resources

import pandas as pd

from . import sqlite
from .changes import Change
from .diagnosis import Diagnosis
from .errors import RepairError
from .knex import MigrationHistory, history_on_host, knex_sort, prefix_of, suffix_of

FIX_COLUMN_SUFFIX = "fix_email_verified_consistency.js"
FIX_USER_SUFFIX = "create_system_user_fixed.js"


@dataclass
class Step:
    """One step of the repair plan."""

    kind: str  # free-lock | realign-row | renumber | write-migration | migrate-latest | blocked
    title: str
    why: str
    detail: dict = field(default_factory=dict)

    def to_row(self) -> dict:
        return {"step": self.kind, "what": self.title, "why": self.why}


@dataclass
class Workspace:
    """Where a plan is carried out: the live backend, or the rehearsal's scratch copy."""

    backend: str
    database: str
    migrations: str
    env: dict = field(default_factory=dict)


def render_fix_migration(template: str, **values) -> str:
    text = resources.files("runbook").joinpath("templates", template).read_text()
    for key, value in values.items():
        text = text.replace(f"__{key.upper()}_JSON__", json.dumps(value)).replace(f"__{key.upper()}__", str(value))
    return text


def build_plan(diag: Diagnosis, repair, files: list[str] | None = None) -> list[Step]:
    """The steps that bring the history and the schema to the expected state (empty when none)."""
    h = diag.history
    steps: list[Step] = []
    if h.locked:
        if diag.migrators:
            steps.append(Step("blocked", "migration lock held by a running migrator",
                              "freeing it would let two migrators run at once; wait for it to end",
                              {"migrators": diag.migrators}))
        elif repair.free_stale_lock:
            steps.append(Step("free-lock", "free the stale knex_migrations_lock row",
                              "a crashed migrator left is_locked = 1; knex waits on it forever"))
    renamed = h.probably_renamed
    for missing in h.missing:
        if missing in renamed:
            steps.append(Step("realign-row", f"rename history row {missing} -> {renamed[missing]}",
                              "the file was renamed on disk after it ran; the row must follow or knex refuses every command",
                              {"old": missing, "new": renamed[missing]}))
        else:
            steps.append(Step("blocked", f"{missing} is applied but missing from disk",
                              "restore it from the app's git history; the runbook does not invent migration files"))
    if repair.renumber_duplicates:
        steps += _renumber_steps(h)
    needs_column = diag.column_case != "is_verified only"
    needs_user = not (diag.system_user.get("exists") and diag.system_user.get("verified"))
    if repair.write_fix_migrations and (needs_column or needs_user):
        on_disk = list(files or h.files)
        next_number = int(h.next_prefix())
        width = len(h.next_prefix())
        for suffix, template, reason in (
            (FIX_COLUMN_SUFFIX, "fix_verified_column.js", f"users has {diag.column_case}; the code reads {repair.verified_column}"),
            (FIX_USER_SUFFIX, "fix_system_user.js", "015 inserted the system user under the old column"),
        ):
            existing = [f for f in on_disk if suffix_of(f) == suffix]
            name = existing[0] if existing else f"{str(next_number).zfill(width)}_{suffix}"
            if not existing:
                next_number += 1
            content = render_fix_migration(template, wanted=repair.verified_column, legacy=repair.legacy_column,
                                           email=repair.system_user_email)
            steps.append(Step("write-migration", f"write migration {name}", reason, {"name": name, "content": content}))
    if any(s.kind in ("free-lock", "realign-row", "renumber", "write-migration") for s in steps) or h.pending:
        steps.append(Step("migrate-latest", "npm run migrate:latest",
                          "runs every pending migration in one transaction (one failure rolls back the batch)"))
    return steps


def _renumber_steps(h: MigrationHistory) -> list[Step]:
    steps = []
    taken = set(h.files)
    for prefix, names in h.duplicate_prefixes.items():
        # The first file in knex order keeps the prefix; the others would move to the next number.
        for name in names[1:]:
            new = f"{str(int(prefix) + 1).zfill(len(prefix))}_{suffix_of(name)}"
            if new in taken:
                steps.append(Step("blocked", f"renumber {name}", f"{new} already exists"))
            elif not h.rename_keeps_order(name, new):
                after = h.order_after_rename(name, new)
                steps.append(Step("kept", f"leave {name} as it is",
                                  f"renaming it to {new} would change knex's string order "
                                  f"(it would run at position {after.index(new) + 1} instead of {h.ordered_files.index(name) + 1})"))
            else:
                steps.append(Step("renumber", f"rename {name} -> {new} with its history row",
                                  "file and knex_migrations row change together, or knex sees a corrupt directory",
                                  {"old": name, "new": new}))
                taken.add(new)
    return steps


def plan_table(steps: list[Step]) -> pd.DataFrame:
    return pd.DataFrame([s.to_row() for s in steps], columns=["step", "what", "why"])


def npm_script(target, ws: Workspace, script: str, timeout: float = 600):
    """``npm run <script>`` in the workspace's backend with ``DATABASE_URL`` set to its database."""
    # FORCE_COLOR=0: knex colours its status lines, which would litter the archive with escapes.
    return target.run(["npm", "run", "--silent", script], cwd=ws.backend,
                      env={**ws.env, "DATABASE_URL": ws.database, "FORCE_COLOR": "0", "NO_COLOR": "1"}, timeout=timeout)


def apply_plan(target, steps: list[Step], ws: Workspace, *, apply: bool) -> list[Change]:
    """Carry out ``steps`` on ``ws``; a dry run only says what it would do. Re-running changes nothing."""
    blocked = [s for s in steps if s.kind == "blocked"]
    if blocked:
        raise RepairError(f"the plan is blocked: {blocked[0].title} ({blocked[0].why}).")
    changes: list[Change] = []
    for s in steps:
        if s.kind == "free-lock":
            rows = sqlite.query(target, ws.database, "SELECT count(*) AS n FROM knex_migrations_lock WHERE is_locked = 1")
            if rows and rows[0]["n"]:
                if apply:
                    sqlite.execute(target, ws.database, "UPDATE knex_migrations_lock SET is_locked = 0 WHERE is_locked = 1")
                changes.append(Change("free the stale migration lock", apply, "UPDATE knex_migrations_lock SET is_locked = 0"))
        elif s.kind == "realign-row":
            old, new = s.detail["old"], s.detail["new"]
            rows = sqlite.query(target, ws.database, f"SELECT count(*) AS n FROM knex_migrations WHERE name = {sqlite.quote(old)}")
            if rows and rows[0]["n"]:
                sql = f"UPDATE knex_migrations SET name = {sqlite.quote(new)} WHERE name = {sqlite.quote(old)}"
                if apply:
                    sqlite.execute(target, ws.database, f"BEGIN IMMEDIATE; {sql}; COMMIT;")
                changes.append(Change(f"history row {old} -> {new}", apply, sql))
        elif s.kind == "renumber":
            changes += _renumber(target, ws, s.detail["old"], s.detail["new"], apply=apply)
        elif s.kind == "write-migration":
            path = f"{ws.migrations.rstrip('/')}/{s.detail['name']}"
            current = target.read_text(path) if target.exists(path) else None
            if current != s.detail["content"]:
                if current is not None:
                    raise RepairError(f"{path} exists with other content; refusing to overwrite a migration.")
                if apply:
                    target.write_text(path, s.detail["content"])
                changes.append(Change(f"write migration {s.detail['name']}", apply, path))
        elif s.kind == "migrate-latest":
            before = history_on_host(target, ws.database, ws.migrations) if apply else None
            if not apply:
                changes.append(Change("npm run migrate:latest", False, f"DATABASE_URL={ws.database}"))
                continue
            if before and not before.pending:
                continue
            r = npm_script(target, ws, "migrate:latest")
            if not r.ok:
                raise RepairError(f"migrate:latest failed on {ws.database}: {(r.stderr or r.stdout).strip()[-400:]}")
            after = history_on_host(target, ws.database, ws.migrations)
            ran = [n for n in after.applied_names if n not in before.applied_names]
            changes.append(Change("npm run migrate:latest", True, {"ran": ran, "batch": after.last_batch,
                                                                    "output": r.stdout.strip()[-400:]}))
    return changes


def _renumber(target, ws: Workspace, old: str, new: str, *, apply: bool) -> list[Change]:
    """Rename a migration file and its history row together (file first, row second, undo on failure)."""
    d = ws.migrations.rstrip("/")
    if not target.exists(f"{d}/{old}"):
        return []  # already done
    sql = f"UPDATE knex_migrations SET name = {sqlite.quote(new)} WHERE name = {sqlite.quote(old)}"
    if not apply:
        return [Change(f"rename {old} -> {new} and its history row", False, sql)]
    target.run(["mv", "-n", f"{d}/{old}", f"{d}/{new}"], check=True)
    try:
        sqlite.execute(target, ws.database, f"BEGIN IMMEDIATE; {sql}; COMMIT;")
    except Exception:
        target.run(["mv", "-n", f"{d}/{new}", f"{d}/{old}"])
        raise
    return [Change(f"rename {old} -> {new} and its history row", True, sql)]


# --- rehearsal --------------------------------------------------------------------------------------


def copy_backend(target, backend: str, scratch_backend: str) -> str:
    """Copy the backend's source into ``scratch_backend`` on the host, sharing its ``node_modules``.

    Databases (``*.sqlite*``), ``dist/`` and ``node_modules`` are left out: a copy of a live
    database must be made by SQLite, the build is redone in the copy, and the dependencies are
    symlinked (read-only use, no second ``npm ci``).

    >>> from runbook.target import RecordingTarget
    >>> t = RecordingTarget(answers={"readlink": (0, "/srv/nm\\n", "")})
    >>> copy_backend(t, "/app/backend", "/tmp/s/backend")
    '/tmp/s/backend'
    >>> t.commands[-1]
    ['ln', '-sfn', '/srv/nm', '/tmp/s/backend/node_modules']
    """
    target.run(["mkdir", "-p", scratch_backend], check=True)
    pack = shlex.join(["tar", "-C", backend, "--exclude=./node_modules", "--exclude=*.sqlite*", "--exclude=./dist",
                       "-cf", "-", "."])
    unpack = shlex.join(["tar", "-C", scratch_backend, "-xf", "-"])
    target.run(["sh", "-c", f"{pack} | {unpack}"], check=True, timeout=600)
    modules = target.run(["readlink", "-f", f"{backend.rstrip('/')}/node_modules"]).stdout.strip()
    if modules:
        target.run(["ln", "-sfn", modules, f"{scratch_backend}/node_modules"], check=True)
    return scratch_backend


def make_rehearsal(target, *, backend: str, migrations: str, snapshot: str, scratch_dir: str, env: dict) -> Workspace:
    """A scratch copy of the backend (without node_modules or databases) and of the snapshot."""
    rel_migrations = migrations[len(backend.rstrip("/")) + 1:] if migrations.startswith(backend.rstrip("/") + "/") else "src/migrations"
    scratch_backend = f"{scratch_dir.rstrip('/')}/backend"
    target.run(["rm", "-rf", scratch_dir], check=True)
    copy_backend(target, backend, scratch_backend)
    db = f"{scratch_dir.rstrip('/')}/rehearsal.sqlite"
    # The snapshot is not live (nothing writes to it), so a plain copy is exact here.
    target.run(["cp", snapshot, db], check=True, timeout=3600)
    return Workspace(backend=scratch_backend, database=db, migrations=f"{scratch_backend}/{rel_migrations}", env=env)


def rehearse(target, steps: list[Step], ws: Workspace) -> dict:
    """Apply the plan to the scratch workspace for real, then read the status the app's knex reports."""
    started = _dt.datetime.now(_dt.timezone.utc)
    try:
        changes = apply_plan(target, steps, ws, apply=True)
        error = ""
    except RepairError as exc:
        changes, error = [], str(exc)
    status = npm_script(target, ws, "migrate:status", timeout=300)
    history = history_on_host(target, ws.database, ws.migrations)
    return {
        "ok": not error and status.ok and not history.pending and not history.missing and not history.locked,
        "error": error,
        "changes": [asdict(c) for c in changes],
        "status_output": (status.stdout + status.stderr).strip()[-2000:],
        "pending_after": history.pending,
        "missing_after": history.missing,
        "database": ws.database,
        "backend": ws.backend,
        "migrations": ws.migrations,
        "started": started.isoformat(timespec="seconds"),
    }


def ordered_preview(files: list[str], steps: list[Step]) -> list[str]:
    """The migration files in knex order after the plan's renames and new files."""
    names = set(files)
    for s in steps:
        if s.kind == "renumber":
            names.discard(s.detail["old"])
            names.add(s.detail["new"])
        elif s.kind == "write-migration":
            names.add(s.detail["name"])
    return knex_sort(names)


__all__ = ["Step", "Workspace", "build_plan", "plan_table", "apply_plan", "copy_backend", "make_rehearsal", "rehearse",
           "ordered_preview", "prefix_of"]

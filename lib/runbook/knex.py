"""A model of a Knex migration history, for any Knex app: files on disk versus rows applied.

Knex (3.x, ``lib/migrations/migrate/Migrator.js`` and ``sources/fs-migrations.js``)
sorts migration files by plain string order (not numerically), refuses to run
when a name in ``knex_migrations`` has no file ("The migration directory is
corrupt, the following files are missing"), runs every pending file whatever
its position, and leaves ``knex_migrations_lock.is_locked = 1`` when a migrator
dies mid-run. This module reproduces those rules so the runbook can predict
what knex will do before running it.

Example
-------
>>> h = MigrationHistory(files=["002_b.js", "001_a.js", "010_c.js", "007_x.js", "007_y.js"],
...                      applied=[{"name": "001_a.js", "batch": 1}, {"name": "008_y.js", "batch": 1}])
>>> h.ordered_files
['001_a.js', '002_b.js', '007_x.js', '007_y.js', '010_c.js']
>>> h.duplicate_prefixes
{'007': ['007_x.js', '007_y.js']}
>>> h.missing, h.probably_renamed
(['008_y.js'], {'008_y.js': '007_y.js'})
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from . import sqlite

# knex's default loadExtensions (FsMigrations)
LOAD_EXTENSIONS = (".co", ".coffee", ".eg", ".iced", ".js", ".cjs", ".mjs", ".litcoffee", ".ls", ".ts")
_PREFIX = re.compile(r"^(\d+)[_-]")


def knex_sort(names) -> list[str]:
    """Knex's order: lodash ``sortBy(file)`` compares strings by UTF-16 code units.

    >>> knex_sort(["10_b.js", "9_a.js", "010_c.js"])
    ['010_c.js', '10_b.js', '9_a.js']
    """
    return sorted(names, key=lambda s: s.encode("utf-16-be"))


def prefix_of(name: str) -> str | None:
    m = _PREFIX.match(name)
    return m.group(1) if m else None


def suffix_of(name: str) -> str:
    """The part after the numeric prefix: ``007_add_x.js`` -> ``add_x.js``."""
    m = _PREFIX.match(name)
    return name[m.end():] if m else name


@dataclass
class MigrationHistory:
    """Migration files on disk against rows in ``knex_migrations``."""

    files: list[str]
    applied: list[dict]  # rows with at least name and batch
    lock: list[dict] = field(default_factory=list)  # rows of knex_migrations_lock
    has_history_table: bool = True

    @property
    def ordered_files(self) -> list[str]:
        return knex_sort([f for f in self.files if f.endswith(LOAD_EXTENSIONS)])

    @property
    def applied_names(self) -> list[str]:
        return [r["name"] for r in self.applied]

    @property
    def duplicate_prefixes(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for f in self.ordered_files:
            p = prefix_of(f)
            if p is not None:
                groups.setdefault(p, []).append(f)
        return {p: names for p, names in groups.items() if len(names) > 1}

    @property
    def pending(self) -> list[str]:
        """Files knex would run on ``migrate:latest``, in the order it would run them."""
        done = set(self.applied_names)
        return [f for f in self.ordered_files if f not in done]

    @property
    def missing(self) -> list[str]:
        """Applied names with no file: knex refuses to run ("migration directory is corrupt")."""
        on_disk = set(self.files)
        return [n for n in self.applied_names if n not in on_disk]

    @property
    def probably_renamed(self) -> dict[str, str]:
        """Missing name -> pending file with the same name after the prefix (a hand ``mv``)."""
        pending_by_suffix: dict[str, list[str]] = {}
        for f in self.pending:
            pending_by_suffix.setdefault(suffix_of(f), []).append(f)
        out = {}
        for m in self.missing:
            candidates = pending_by_suffix.get(suffix_of(m), [])
            if len(candidates) == 1:
                out[m] = candidates[0]
        return out

    @property
    def locked(self) -> bool:
        return any(int(r.get("is_locked") or 0) == 1 for r in self.lock)

    @property
    def last_batch(self) -> int:
        return max((int(r.get("batch") or 0) for r in self.applied), default=0)

    @property
    def knex_would_refuse(self) -> bool:
        return bool(self.missing)

    def order_after_rename(self, old: str, new: str) -> list[str]:
        return knex_sort([new if f == old else f for f in self.ordered_files])

    def rename_keeps_order(self, old: str, new: str) -> bool:
        """Whether renaming ``old`` to ``new`` keeps every other file on the same side of it."""
        before = self.ordered_files
        after = self.order_after_rename(old, new)
        return [f if f != old else new for f in before] == after and new not in self.files

    def next_prefix(self, width: int | None = None) -> str:
        """The number after the highest prefix, zero-padded like the existing files."""
        prefixes = [prefix_of(f) for f in self.files if prefix_of(f)]
        if not prefixes:
            return "001"
        width = width or max(len(p) for p in prefixes)
        return str(max(int(p) for p in prefixes) + 1).zfill(width)

    def status_table(self):
        """One row per migration name: where it is and what knex will do with it."""
        import pandas as pd

        applied = {r["name"]: r for r in self.applied}
        renamed_files = set(self.probably_renamed.values())
        dups = {f for names in self.duplicate_prefixes.values() for f in names}
        rows = []
        for i, f in enumerate(self.ordered_files, 1):
            r = applied.get(f)
            state = "applied" if r else ("pending (renamed on disk?)" if f in renamed_files else "pending")
            rows.append({"knex_order": i, "name": f, "state": state, "batch": r.get("batch") if r else None,
                         "migration_time": r.get("migration_time") if r else None,
                         "duplicate_prefix": f in dups})
        for m in self.missing:
            r = applied[m]
            rows.append({"knex_order": None, "name": m, "state": "MISSING from disk", "batch": r.get("batch"),
                         "migration_time": r.get("migration_time"), "duplicate_prefix": False})
        return pd.DataFrame(rows)


# --- reading a history ---------------------------------------------------------------------------


def list_migration_files(target, migrations_dir: str) -> list[str]:
    """Names of the files in the migrations folder on the host (not recursive, like knex)."""
    r = target.run(["find", migrations_dir, "-maxdepth", "1", "-type", "f", "-printf", "%f\\n"], timeout=60)
    if not r.ok:
        from .errors import TargetError

        raise TargetError(f"cannot list migrations in {migrations_dir}: {r.stderr.strip()[:200]}")
    return [line for line in r.stdout.splitlines() if line]


def history_from_db(engine_or_path, files: list[str]) -> MigrationHistory:
    """Build the history from a local database file (read-only, through SQLAlchemy)."""
    from sqlalchemy import inspect, text

    from .schema import readonly_engine

    engine = readonly_engine(engine_or_path) if not hasattr(engine_or_path, "connect") else engine_or_path
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as con:
        applied = []
        if "knex_migrations" in tables:
            applied = [dict(r._mapping) for r in con.execute(
                text("SELECT id, name, batch, migration_time FROM knex_migrations ORDER BY id"))]
        lock = []
        if "knex_migrations_lock" in tables:
            lock = [dict(r._mapping) for r in con.execute(text('SELECT "index", is_locked FROM knex_migrations_lock'))]
    return MigrationHistory(files=files, applied=applied, lock=lock, has_history_table="knex_migrations" in tables)


def history_on_host(target, db: str, migrations_dir: str) -> MigrationHistory:
    """The same, read with the ``sqlite3`` shell on the host (for the live database)."""
    files = list_migration_files(target, migrations_dir)
    tables = {r["name"] for r in sqlite.query(target, db, "SELECT name FROM sqlite_master WHERE type='table'")}
    applied = sqlite.query(target, db, "SELECT id, name, batch, migration_time FROM knex_migrations ORDER BY id") \
        if "knex_migrations" in tables else []
    lock = sqlite.query(target, db, 'SELECT "index", is_locked FROM knex_migrations_lock') \
        if "knex_migrations_lock" in tables else []
    return MigrationHistory(files=files, applied=applied, lock=lock, has_history_table="knex_migrations" in tables)


def running_migrators(target) -> list[str]:
    """Processes on the host that look like a knex migrator (a lock is stale only without them)."""
    r = target.run(["ps", "-eo", "pid=,args="], timeout=30)
    rows = []
    for line in r.stdout.splitlines():
        args = line.strip()
        if re.search(r"knex(\.js|/bin/cli\.js)?\s.*migrate|migrate:(latest|up|down|rollback)", args) and "ps -eo" not in args:
            rows.append(args)
    return rows


def migration_source(target, migrations_dir: str, name: str) -> str:
    """The text of one migration file (the seed's ``cat`` of the suspicious ones)."""
    return target.read_text(f"{migrations_dir.rstrip('/')}/{PurePosixPath(name).name}")

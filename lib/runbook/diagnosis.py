"""Phase 02: what is wrong, from the fetched snapshot and the migration files on the host.

The result is one findings table (severity, finding, evidence, proposed action)
that phase 03 turns into a repair plan.

Example
-------
>>> from runbook.knex import MigrationHistory
>>> h = MigrationHistory(files=["001_a.js"], applied=[{"name": "001_a.js", "batch": 1}], lock=[{"is_locked": 1}])
>>> f = findings(h, column_case="is_verified only", system_user={"exists": True, "verified": True}, migrators=[])
>>> f.iloc[0]["finding"]
'migration lock held by no running migrator'
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import schema
from .knex import MigrationHistory, history_from_db

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "info": 3}


@dataclass
class Diagnosis:
    """Everything phase 02 learned, and what phase 03 plans from."""

    history: MigrationHistory
    column_case: str
    system_user: dict
    differing_verified: int
    counts: dict
    migrators: list = field(default_factory=list)
    has_webhooks: bool = False
    has_bounce_reason: bool = False
    findings: pd.DataFrame | None = None

    def to_record(self) -> dict:
        h = self.history
        return {
            "column_case": self.column_case, "system_user": self.system_user,
            "differing_verified": self.differing_verified, "counts": self.counts,
            "ordered_files": h.ordered_files, "pending": h.pending, "missing": h.missing,
            "probably_renamed": h.probably_renamed, "duplicate_prefixes": h.duplicate_prefixes,
            "locked": h.locked, "last_batch": h.last_batch, "migrators": self.migrators,
            "has_webhooks": self.has_webhooks, "has_bounce_reason": self.has_bounce_reason,
        }


def system_user_state(db_path: str | Path, snap: dict, email: str, columns=("is_verified", "email_verified")) -> dict:
    """Whether the system user exists, and its verified flags under each column present."""
    if "users" not in snap["tables"]:
        return {"exists": False, "verified": False}
    present = [c for c in columns if c in schema.columns_of(snap, "users")]
    select = ", ".join(["id", "email", *[f'"{c}"' for c in present]])
    rows = schema.query(db_path, f"SELECT {select} FROM users WHERE email = :e", e=email)
    if not rows:
        return {"exists": False, "verified": False}
    row = rows[0]
    return {"exists": True, "verified": bool(row.get(columns[0])), **{c: row.get(c) for c in present}}


def count_differing(db_path: str | Path, snap: dict, wanted: str, legacy: str) -> int:
    """Users whose two verified columns disagree (a careless drop would lose these)."""
    cols = schema.columns_of(snap, "users")
    if wanted not in cols or legacy not in cols:
        return 0
    rows = schema.query(db_path, f'SELECT count(*) AS n FROM users WHERE coalesce("{wanted}",0) != coalesce("{legacy}",0)')
    return int(rows[0]["n"])


def diagnose(db_path: str | Path, files: list[str], *, system_user_email: str, wanted: str = "is_verified",
             legacy: str = "email_verified", migrators: list | None = None,
             counts: dict[str, int] | None = None) -> Diagnosis:
    """Read the snapshot (read-only) and build the :class:`Diagnosis` with its findings.

    ``counts`` are the snapshot's row counts when they are known already (phase 01 counts the
    copy it fetches); without them every table is counted here.
    """
    # count(*) walks a whole index of each table, the one cost that grows with the mail tables:
    # it runs on its own thread (sqlite3 releases the GIL while it steps) as the rest is read.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="row-counts") as pool:
        counting = pool.submit(schema.row_counts, db_path) if counts is None else None
        snap = schema.snapshot(db_path)
        history = history_from_db(db_path, files)
        case = schema.verified_column_case(snap, legacy, wanted)
        d = Diagnosis(
            history=history,
            column_case=case,
            system_user=system_user_state(db_path, snap, system_user_email, (wanted, legacy)),
            differing_verified=count_differing(db_path, snap, wanted, legacy),
            counts=counting.result() if counting else dict(counts),
            migrators=list(migrators or []),
            has_webhooks="webhooks" in snap["tables"],
            has_bounce_reason="bounce_reason" in schema.columns_of(snap, "emails"),
        )
    d.findings = findings(history, column_case=case, system_user=d.system_user, migrators=d.migrators,
                          differing=d.differing_verified, has_webhooks=d.has_webhooks,
                          has_bounce_reason=d.has_bounce_reason, users=d.counts.get("users"))
    return d


def findings(history: MigrationHistory, *, column_case: str, system_user: dict, migrators: list,
             differing: int = 0, has_webhooks: bool = True, has_bounce_reason: bool = True,
             users: int | None = None) -> pd.DataFrame:
    """The findings table, most severe first."""
    rows: list[dict] = []

    def add(severity, finding, evidence, action):
        rows.append({"severity": severity, "finding": finding, "evidence": evidence, "proposed action": action})

    if history.locked:
        if migrators:
            add("critical", "migration lock held by a running migrator", "; ".join(migrators)[:300],
                "wait for it to finish; never free a lock a live migrator holds")
        else:
            add("critical", "migration lock held by no running migrator", "knex_migrations_lock.is_locked = 1",
                "free the stale lock (UPDATE knex_migrations_lock SET is_locked = 0) after the backup")
    renamed = history.probably_renamed
    for m in history.missing:
        if m in renamed:
            add("critical", f"applied migration {m} was renamed on disk to {renamed[m]}",
                "knex refuses every command: 'The migration directory is corrupt, the following files are missing'",
                f"realign the history row: UPDATE knex_migrations SET name = '{renamed[m]}' WHERE name = '{m}'")
        else:
            add("critical", f"applied migration {m} is missing from disk",
                "knex refuses every command: the migration directory is corrupt",
                "restore the file from the app's git history; do not edit knex_migrations by hand")
    for prefix, names in history.duplicate_prefixes.items():
        add("medium", f"duplicate migration prefix {prefix}", ", ".join(names),
            "harmless to knex (names differ); renumber only together with its knex_migrations row, "
            "checking the whole string order (repair.renumber_duplicates)")
    renamed_files = set(renamed.values())
    pending = [p for p in history.pending if p not in renamed_files]
    if pending:
        add("high", f"{len(pending)} migration(s) pending", ", ".join(pending),
            "rehearse `migrate:latest` on a copy first: one failure rolls back the whole batch")
    if column_case != "is_verified only":
        actions = {
            "email_verified only": "fix migration: rename users.email_verified to is_verified",
            "neither column": "fix migration: add users.is_verified (default false)",
            "both columns": "fix migration: set is_verified = is_verified OR email_verified, then drop email_verified",
        }
        evidence = f"users has {column_case}; the code reads users.is_verified (HTTP 500)"
        if differing:
            evidence += f"; {differing} user(s) disagree between the two columns"
        add("critical", f"users verified column: {column_case}", evidence, actions[column_case])
    if not system_user.get("exists"):
        add("high", "system user missing", "no users row for the system address",
            "fix migration: insert the system user with only the columns that exist")
    elif not system_user.get("verified"):
        add("high", "system user not verified under the expected column", str(system_user),
            "fix migration: set the system user's is_verified = true")
    if not has_webhooks:
        add("high", "webhooks table missing", "007_create_webhooks_table.js not applied", "migrate:latest after the repair")
    if not has_bounce_reason:
        add("high", "emails.bounce_reason missing", "007_add_bounce_reason_to_emails.js not applied",
            "migrate:latest after the repair")
    if users is not None:
        add("info", "user count", f"{users} users", "none")
    add("info", "migrations applied", f"{len(history.applied)} rows, last batch {history.last_batch}", "none")
    frame = pd.DataFrame(rows, columns=["severity", "finding", "evidence", "proposed action"])
    return frame.sort_values("severity", key=lambda s: s.map(SEVERITY_ORDER), kind="stable").reset_index(drop=True)

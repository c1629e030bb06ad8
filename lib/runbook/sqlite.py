"""The ``sqlite3`` command-line shell on the host, driven with argv lists.

Heavy work (snapshots, counts) runs on the host next to the data; only small
JSON answers cross the wire. Values inside SQL are quoted with :func:`quote`.

Example
-------
>>> quote("it's")
"'it''s'"
>>> from runbook.target import RecordingTarget
>>> t = RecordingTarget(answers={"sqlite3": (0, '[{"n":3}]', "")})
>>> query(t, "/srv/db.sqlite", "SELECT 3 AS n")
[{'n': 3}]
"""

from __future__ import annotations

import json

from .errors import TargetError

BUSY_TIMEOUT_MS = 15000  # wait for the app's writers instead of failing with "database is locked"


def quote(value) -> str:
    """An SQL literal: NULL, a number, or a single-quoted string with quotes doubled."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _argv(db: str, sql: str, *, readonly: bool, json_mode: bool) -> list[str]:
    argv = ["sqlite3", "-bail", "-cmd", f".timeout {BUSY_TIMEOUT_MS}"]
    if readonly:
        argv.append("-readonly")
    if json_mode:
        argv.append("-json")
    return argv + [db, sql]


def query(target, db: str, sql: str, *, readonly: bool = True, timeout: float | None = None) -> list[dict]:
    """Rows of ``sql`` as dicts (sqlite3 ``-json`` mode)."""
    r = target.run(_argv(db, sql, readonly=readonly, json_mode=True), timeout=timeout)
    if not r.ok:
        raise TargetError(f"sqlite3 on {db} failed: {r.stderr.strip()[:300]}")
    out = r.stdout.strip()
    return json.loads(out) if out else []


def execute(target, db: str, sql: str, *, timeout: float | None = None) -> str:
    """Run statements that change ``db``; raise TargetError on failure."""
    r = target.run(_argv(db, sql, readonly=False, json_mode=False), timeout=timeout)
    if not r.ok:
        raise TargetError(f"sqlite3 on {db} failed: {r.stderr.strip()[:300]}")
    return r.stdout


def table_counts(target, db: str) -> dict[str, int]:
    """Row count of every table (one sqlite3 call on the host)."""
    tables = [r["name"] for r in query(
        target, db, "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    if not tables:
        return {}
    sql = " UNION ALL ".join(f"SELECT {quote(t)} AS name, count(*) AS n FROM {ident(t)}" for t in tables)
    return {r["name"]: int(r["n"]) for r in query(target, db, sql)}

"""Schema snapshots of a fetched SQLite file, their diff, and the expected-schema check.

Everything here reads a *local copy* of the database through SQLAlchemy in
read-only mode: no load on production, no way to change it by mistake.
Counts use ``count(*)``; no table is loaded into memory whole.

Example
-------
>>> import sqlite3, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "a.sqlite")
>>> con = sqlite3.connect(p); _ = con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email_verified BOOLEAN)"); con.close()
>>> verified_column_case(snapshot(p))
'email_verified only'
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pandas as pd
import yaml
from sqlalchemy import create_engine, inspect, text

COLUMN_CASES = {
    (True, False): "email_verified only",  # seed case 1: rename
    (False, False): "neither column",  # seed case 2: create is_verified
    (True, True): "both columns",  # seed case 3: merge, then drop email_verified
    (False, True): "is_verified only",  # seed case 4: correct
}


def readonly_uri(path: str | Path) -> str:
    """The SQLite URI that opens ``path`` read-only (characters such as ``?`` and ``#`` escaped).

    >>> readonly_uri(__file__).startswith("file:/") and readonly_uri(__file__).endswith("?mode=ro")
    True
    """
    path = Path(path).resolve()
    if not path.is_file():
        from .errors import InputError

        raise InputError(f"the database file {path} does not exist.")
    return f"file:{urllib.parse.quote(str(path))}?mode=ro"


def readonly_engine(path: str | Path):
    """A SQLAlchemy engine that cannot write to ``path``."""
    return create_engine(f"sqlite:///{readonly_uri(path)}&uri=true")


def snapshot(path: str | Path) -> dict:
    """Tables (columns, indexes, foreign keys), triggers and views of a database file."""
    engine = readonly_engine(path)
    insp = inspect(engine)
    out: dict = {"tables": {}, "triggers": {}, "views": {}}
    for table in sorted(insp.get_table_names()):
        cols = []
        for c in insp.get_columns(table):
            cols.append({"name": c["name"], "type": str(c["type"]), "nullable": bool(c["nullable"]),
                         "default": None if c.get("default") is None else str(c["default"]),
                         "primary_key": bool(c.get("primary_key"))})
        idx = [{"name": i["name"], "columns": list(i["column_names"]), "unique": bool(i["unique"])}
               for i in insp.get_indexes(table)]
        fks = [{"columns": fk["constrained_columns"], "references": f"{fk['referred_table']}({', '.join(fk['referred_columns'])})"}
               for fk in insp.get_foreign_keys(table)]
        out["tables"][table] = {"columns": cols, "indexes": idx, "foreign_keys": fks}
    with engine.connect() as con:
        for kind in ("trigger", "view"):
            for name, sql in con.execute(text("SELECT name, sql FROM sqlite_master WHERE type = :k ORDER BY name"), {"k": kind}):
                out[f"{kind}s"][name] = sql
    engine.dispose()
    return out


def columns_of(snap: dict, table: str) -> list[str]:
    return [c["name"] for c in snap["tables"].get(table, {}).get("columns", [])]


def verified_column_case(snap: dict, legacy: str = "email_verified", wanted: str = "is_verified") -> str:
    """Which of the seed's four cases holds for ``users``."""
    cols = set(columns_of(snap, "users"))
    return COLUMN_CASES[(legacy in cols, wanted in cols)]


def row_counts(path: str | Path, *, workers: int = 2) -> dict[str, int]:
    """``count(*)`` of every table of a database file.

    SQLite keeps no row count: ``count(*)`` walks a whole index of the table, the one cost of
    a diagnosis that grows with the mail tables. The tables are counted on ``workers``
    connections at once (the sqlite3 module releases the GIL while SQLite steps), shared out by
    their ``max(rowid)``, a size estimate SQLite answers without a scan.
    """
    uri = readonly_uri(path)
    with closing(sqlite3.connect(uri, uri=True)) as con:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        sizes = {n: _max_rowid(con, n) for n in names}
    shares: list[list[str]] = [[] for _ in range(max(1, workers))]
    loads = [0] * len(shares)
    for name in sorted(names, key=lambda n: -sizes[n]):  # the biggest first, each to the lightest share
        i = loads.index(min(loads))
        shares[i].append(name)
        loads[i] += sizes[name] + 1

    def count(share: list[str]) -> dict[str, int]:
        with closing(sqlite3.connect(uri, uri=True, check_same_thread=False)) as c:
            return {n: int(c.execute(f'SELECT count(*) FROM "{_quoted(n)}"').fetchone()[0]) for n in share}

    counts: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=len(shares), thread_name_prefix="count") as pool:
        for part in pool.map(count, [s for s in shares if s]):
            counts.update(part)
    return {n: counts[n] for n in names}


def compare_row_counts(before: dict[str, int], after: dict[str, int],
                       may_grow: frozenset = frozenset({"users", "knex_migrations"})) -> tuple[pd.DataFrame, bool, str]:
    """Row counts before and after a repair: the table, whether no row was lost, and the evidence.

    The migration lock table is not data (knex may recreate its row), so it never counts as lost;
    tables outside ``may_grow`` that grew are named, as live writes went on.

    >>> frame, ok, evidence = compare_row_counts({"users": 5, "emails": 9}, {"users": 6, "emails": 8})
    >>> frame.to_dict("records")[0], ok, evidence
    ({'table': 'emails', 'before': 9, 'after': 8, 'delta': -1}, False, 'emails: -1')
    """
    frame = pd.DataFrame([{"table": t, "before": before.get(t, 0), "after": after.get(t, 0),
                           "delta": after.get(t, 0) - before.get(t, 0)} for t in sorted(set(before) | set(after))],
                         columns=["table", "before", "after", "delta"])
    lost = frame[(frame.delta < 0) & (frame.table != "knex_migrations_lock")]
    if not lost.empty:
        return frame, False, ", ".join(f"{r.table}: {r.delta}" for r in lost.itertuples())
    grew = sorted(set(frame[frame.delta > 0].table) - may_grow)
    return frame, True, f"tables that grew (live writes): {', '.join(grew) or 'none'}"


def _quoted(name: str) -> str:
    return name.replace('"', '""')


def _max_rowid(con, table: str) -> int:
    try:
        return int(con.execute(f'SELECT max(rowid) FROM "{_quoted(table)}"').fetchone()[0] or 0)
    except sqlite3.OperationalError:  # a WITHOUT ROWID table: no estimate, counted like a small one
        return 0


def query(path: str | Path, sql: str, **params) -> list[dict]:
    """Rows of one read-only query on a database file."""
    engine = readonly_engine(path)
    with engine.connect() as con:
        rows = [dict(r._mapping) for r in con.execute(text(sql), params)]
    engine.dispose()
    return rows


def diff(before: dict, after: dict) -> pd.DataFrame:
    """Tables, columns (type, null, default), indexes, foreign keys, triggers and views that changed."""
    rows: list[dict] = []

    def add(kind, name, change, old="", new=""):
        rows.append({"object": kind, "name": name, "change": change, "before": old, "after": new})

    bt, at = before["tables"], after["tables"]
    for t in sorted(set(bt) - set(at)):
        add("table", t, "removed", f"{len(bt[t]['columns'])} columns")
    for t in sorted(set(at) - set(bt)):
        add("table", t, "added", "", f"{len(at[t]['columns'])} columns")
    for t in sorted(set(bt) & set(at)):
        bc = {c["name"]: c for c in bt[t]["columns"]}
        ac = {c["name"]: c for c in at[t]["columns"]}
        for c in bc.keys() - ac.keys():
            add("column", f"{t}.{c}", "removed", _col(bc[c]))
        for c in ac.keys() - bc.keys():
            add("column", f"{t}.{c}", "added", "", _col(ac[c]))
        for c in sorted(bc.keys() & ac.keys()):
            if _col(bc[c]) != _col(ac[c]):
                add("column", f"{t}.{c}", "changed", _col(bc[c]), _col(ac[c]))
        for kind in ("indexes", "foreign_keys"):
            bi = {_key(i): i for i in bt[t][kind]}
            ai = {_key(i): i for i in at[t][kind]}
            label = "index" if kind == "indexes" else "foreign key"
            for k in sorted(bi.keys() - ai.keys()):
                add(label, f"{t}: {k}", "removed", _desc(bi[k]))
            for k in sorted(ai.keys() - bi.keys()):
                add(label, f"{t}: {k}", "added", "", _desc(ai[k]))
            for k in sorted(bi.keys() & ai.keys()):
                if bi[k] != ai[k]:
                    add(label, f"{t}: {k}", "changed", _desc(bi[k]), _desc(ai[k]))
    for kind in ("triggers", "views"):
        b, a = before.get(kind, {}), after.get(kind, {})
        for n in sorted(set(b) | set(a)):
            if n not in a:
                add(kind[:-1], n, "removed", b[n])
            elif n not in b:
                add(kind[:-1], n, "added", "", a[n])
            elif b[n] != a[n]:
                add(kind[:-1], n, "changed", b[n], a[n])
    return pd.DataFrame(rows, columns=["object", "name", "change", "before", "after"])


def _col(c: dict) -> str:
    return f"{c['type']} {'NULL' if c['nullable'] else 'NOT NULL'}" + (f" DEFAULT {c['default']}" if c["default"] is not None else "")


def _key(item: dict) -> str:
    return item.get("name") or ",".join(item["columns"])


def _desc(item: dict) -> str:
    if "references" in item:
        return f"({', '.join(item['columns'])}) -> {item['references']}"
    return f"{'UNIQUE ' if item.get('unique') else ''}({', '.join(item['columns'])})"


def load_expected(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text()) or {}


def check_expected(db_path: str | Path, snap: dict, expected: dict, history=None) -> pd.DataFrame:
    """Every expectation of ``expected_schema.yaml`` as a row: check, ok, evidence."""
    rows = []
    for table, spec in (expected.get("tables") or {}).items():
        cols = set(columns_of(snap, table))
        exists = table in snap["tables"]
        rows.append({"check": f"table {table} exists", "ok": exists, "evidence": f"{len(cols)} columns" if exists else "not found"})
        if not exists:
            continue
        spec = spec or {}
        for c in spec.get("required", []):
            rows.append({"check": f"{table}.{c} present", "ok": c in cols, "evidence": "" if c in cols else "missing"})
        for c in spec.get("forbidden", []):
            rows.append({"check": f"{table}.{c} absent", "ok": c not in cols, "evidence": "" if c not in cols else "still there"})
    su = expected.get("system_user")
    if su:
        col = su.get("verified_column", "is_verified")
        found = []
        if col in columns_of(snap, "users"):
            found = query(db_path, f'SELECT email, "{col}" AS verified FROM users WHERE email = :e', e=su["email"])
        ok = bool(found) and bool(found[0]["verified"])
        rows.append({"check": f"system user {su['email']} exists and is verified", "ok": ok,
                     "evidence": found[0] if found else f"no such user (or no {col} column)"})
    mig = expected.get("migrations")
    if mig and history is not None:
        rows.append({"check": "no pending migrations", "ok": len(history.pending) <= mig.get("pending", 0),
                     "evidence": ", ".join(history.pending) or "none"})
        rows.append({"check": "no applied migration missing from disk", "ok": len(history.missing) <= mig.get("missing", 0),
                     "evidence": ", ".join(history.missing) or "none"})
        if mig.get("lock_free"):
            rows.append({"check": "migration lock free", "ok": not history.locked,
                         "evidence": "is_locked = 1" if history.locked else "is_locked = 0"})
    return pd.DataFrame(rows, columns=["check", "ok", "evidence"])

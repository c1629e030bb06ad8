"""Backups made by SQLite, verified, checksummed; and the restore that trusts only those.

A backup counts only when SQLite made it (``VACUUM INTO``, one read transaction,
so a WAL database with writers going on still gives a consistent copy; a ``cp``
of a live file can miss the ``-wal`` file), ``PRAGMA integrity_check`` and
``foreign_key_check`` passed on the copy, and its SHA-256 is recorded.

Example
-------
>>> Backup(path="/b/x.sqlite", sha256="a" * 64, size=1, integrity="ok", foreign_key_problems=0,
...        created="2026-12-03T10:00:00+00:00", seconds=0.1).verified
True
"""

from __future__ import annotations

import datetime as _dt
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from . import sqlite
from .changes import Change
from .errors import BackupError, TargetError
from .manifest import sha256_file
from .target import host_sha256


@dataclass
class Backup:
    """A snapshot on the host, with the evidence that it is usable."""

    path: str
    sha256: str
    size: int
    integrity: str
    foreign_key_problems: int
    created: str
    seconds: float

    @property
    def verified(self) -> bool:
        return self.integrity == "ok" and self.foreign_key_problems == 0 and len(self.sha256) == 64

    def to_dict(self) -> dict:
        return {**asdict(self), "verified": self.verified}


def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d_%H%M%S")


def remote_sha256(target, path: str) -> str:
    """SHA-256 of a file computed on the host (no transfer)."""
    try:
        return host_sha256(target, path)
    except TargetError as exc:
        raise BackupError(str(exc)) from exc


def snapshot(target, db: str, backup_dir: str, *, label: str = "ultrazend_backup",
             fetch_to: Path | None = None) -> Backup:
    """Make, verify and checksum a snapshot of ``db`` in a new folder under ``backup_dir``.

    With ``fetch_to`` the snapshot is also copied to that workstation path while the host
    verifies it, and the copy's SHA-256 must equal the host's (:class:`BackupError` otherwise).
    """
    if not target.exists(db):
        raise BackupError(f"the database {db} does not exist on the host; check app.database in the params.")
    folder = f"{backup_dir.rstrip('/')}/{_stamp()}"
    dest = f"{folder}/{label}.sqlite"
    target.run(["mkdir", "-p", folder], check=True)
    if target.exists(dest):  # two snapshots within a second: never overwrite
        dest = f"{folder}/{label}_{int(time.time() * 1000) % 1000:03d}.sqlite"
    started = time.monotonic()
    # VACUUM INTO holds one read transaction for the whole copy: consistent even while the
    # app writes in WAL mode (the CLI's .backup restarts whenever another connection writes).
    r = target.run(["sqlite3", "-bail", "-cmd", f".timeout {sqlite.BUSY_TIMEOUT_MS}", db,
                    f"VACUUM INTO {sqlite.quote(dest)}"], timeout=3600)
    if not r.ok:
        raise BackupError(f"SQLite could not snapshot {db}: {r.stderr.strip()[:300]}")
    # The copy inherits WAL mode; switch it to a rollback journal so it is one self-contained
    # file that opens read-only anywhere (it is ours, not live).
    target.run(["sqlite3", dest, "PRAGMA journal_mode=DELETE"], check=True)
    seconds = time.monotonic() - started
    if fetch_to is None:
        return verify_snapshot(target, dest, seconds=seconds)
    # The transfer lasts about as long as integrity_check on the host: both run at once, and the
    # snapshot counts only when the checks pass and the fetched bytes hash to the host's SHA-256.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch") as pool:
        fetching = pool.submit(_fetch_hashed, target, dest, Path(fetch_to))
        backup = verify_snapshot(target, dest, seconds=seconds)
        got = fetching.result()
    if got != backup.sha256:
        Path(fetch_to).unlink(missing_ok=True)
        raise BackupError(f"the fetched copy of {dest} does not match its SHA-256; the transfer was damaged.")
    return backup


def verify_snapshot(target, path: str, *, seconds: float = 0.0, expected_sha256: str | None = None) -> Backup:
    """Integrity check, foreign-key check and SHA-256 of a snapshot on the host."""
    if not target.exists(path):
        raise BackupError(f"the backup {path} does not exist on the host.")
    if expected_sha256:  # a restore: the checksum first, and nothing else runs on a damaged file
        digest = remote_sha256(target, path)
        if digest != expected_sha256:
            raise BackupError(f"the backup {path} does not match its recorded SHA-256 "
                              f"({digest[:12]}… instead of {expected_sha256[:12]}…); it was changed or damaged, do not restore it.")
        integrity = sqlite.query(target, path, "PRAGMA integrity_check")
        fk = sqlite.query(target, path, "PRAGMA foreign_key_check")
    else:
        # A new snapshot: the three reads are independent, so they run at the same time on the host
        # (integrity_check alone lasts as long as the other two together; bench/backup_ssh.py).
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="verify") as pool:
            jobs = [pool.submit(remote_sha256, target, path),
                    pool.submit(sqlite.query, target, path, "PRAGMA integrity_check"),
                    pool.submit(sqlite.query, target, path, "PRAGMA foreign_key_check")]
            digest, integrity, fk = (job.result() for job in jobs)
    status = "; ".join(str(next(iter(row.values()))) for row in integrity) or "no answer"
    size_r = target.run(["stat", "-c", "%s", path], check=True)
    backup = Backup(path=path, sha256=digest, size=int(size_r.stdout.strip()), integrity=status,
                    foreign_key_problems=len(fk), created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    seconds=round(seconds, 3))
    # A sidecar in sha256sum's format, so the backup can be checked by hand on the host.
    target.write_text(path + ".sha256", f"{digest}  {path.rsplit('/', 1)[-1]}\n")
    return backup


def _fetch_hashed(target, path: str, local_path: Path) -> str:
    """Copy a host file to ``local_path``; the SHA-256 of the copy."""
    fetch_sha256 = getattr(target, "fetch_sha256", None)
    if callable(fetch_sha256):  # SSHTarget hashes while it writes: one pass over a big file, not two
        return fetch_sha256(path, local_path)
    target.fetch(path, local_path)
    return sha256_file(local_path)


def archive_dirs(target, root: str, names: list[str], dest: str) -> dict:
    """``tar`` the given folders under ``root`` into ``dest`` on the host (the seed's logs/configs copy)."""
    present = [n for n in names if target.exists(f"{root.rstrip('/')}/{n}")]
    if not present:
        return {"path": "", "sha256": "", "folders": []}
    target.run(["tar", "-czf", dest, "-C", root, *present], timeout=3600, check=True)
    return {"path": dest, "sha256": remote_sha256(target, dest), "folders": present}


def rows_lost_by_restore(target, live_db: str, backup_path: str) -> list[dict]:
    """Per table: rows of the live database that a restore of ``backup_path`` would drop.

    ``rows_lost`` counts live rows with no identical row in the backup (written or changed
    after it), computed on the host with ``EXCEPT`` over both files attached read-only; a
    difference of counts alone would miss updates and inserts offset by deletes. When a table's
    columns differ between the two files, only the shared columns are compared (``exact`` False).
    """
    live = sqlite.table_counts(target, live_db)
    saved = sqlite.table_counts(target, backup_path)
    live_cols, saved_cols = _columns(target, live_db), _columns(target, backup_path)
    shared = {t: [c for c in live_cols.get(t, []) if c in saved_cols.get(t, [])] for t in live if t in saved}
    same = [t for t, cols in shared.items() if cols and live[t]]
    changed: dict[str, int] = {}
    for i in range(0, len(same), 50):  # SQLite caps compound SELECTs at 500 terms
        parts = []
        for t in same[i:i + 50]:
            cols = ", ".join(sqlite.ident(c) for c in shared[t])
            parts.append(f"SELECT {sqlite.quote(t)} AS name, count(*) AS n FROM "
                         f"(SELECT {cols} FROM main.{sqlite.ident(t)} EXCEPT SELECT {cols} FROM bk.{sqlite.ident(t)})")
        sql = f"ATTACH {sqlite.quote(backup_path)} AS bk; " + " UNION ALL ".join(parts)
        changed.update({r["name"]: int(r["n"]) for r in sqlite.query(target, live_db, sql, timeout=3600)})
    rows = []
    for table in sorted(set(live) | set(saved)):
        now, then = live.get(table, 0), saved.get(table, 0)
        exact = live_cols.get(table) == saved_cols.get(table) or now == 0 or table not in saved
        lost = changed.get(table, now if table not in saved else max(now - then, 0))
        rows.append({"table": table, "rows_now": now, "rows_in_backup": then, "rows_lost": lost, "exact": exact,
                     "table_only_in": "live" if table not in saved else ("backup" if table not in live else "")})
    return rows


def _columns(target, db: str) -> dict[str, list[str]]:
    rows = sqlite.query(target, db, "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p "
                                    "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid")
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["t"], []).append(r["c"])
    return out


def restore(target, backup: dict, db: str, *, apply: bool) -> list[Change]:
    """Replace ``db`` with a verified backup (services must be stopped by the caller).

    The checksum is verified first; the copy goes to a temporary file beside the
    database and is renamed over it, after the ``-wal``/``-shm`` files of the old
    database are removed, so SQLite never mixes the old WAL with the restored file.
    """
    verify_snapshot(target, backup["path"], expected_sha256=backup["sha256"])
    if target.exists(db) and not target.exists(db + "-wal") and remote_sha256(target, db) == backup["sha256"]:
        return []  # already the backup, byte for byte: a second rollback changes nothing
    if not apply:
        return [Change(f"restore {db} from {backup['path']} (SHA-256 verified)", False)]
    tmp = db + ".restoring"
    target.run(["cp", backup["path"], tmp], timeout=3600, check=True)  # the backup is not live: cp is exact
    if target.exists(db):  # keep the live file's mode (and owner, when allowed) for the app's user
        target.run(["chmod", "--reference", db, tmp])
        target.run(["chown", "--reference", db, tmp])
    if remote_sha256(target, tmp) != backup["sha256"]:
        target.run(["rm", "-f", tmp])
        raise BackupError(f"the copy of {backup['path']} next to {db} is damaged; the database was not touched.")
    target.run(["rm", "-f", db + "-wal", db + "-shm"], check=True)
    target.run(["mv", "-f", tmp, db], check=True)
    try:
        check = sqlite.query(target, db, "PRAGMA integrity_check")
    except TargetError as exc:
        raise BackupError(f"the restored database does not open: {exc}") from exc
    return [Change(f"restored {db} from {backup['path']}", True,
                   {"sha256": backup["sha256"], "integrity": check[0] if check else {}})]


def document_state(target, *, backend: str, database: str, env: dict) -> dict[str, str]:
    """The seed's 1.2: migration status, ``.schema`` and the table list, as texts.

    ``migrate:status`` may fail (a corrupt migration directory is one of the findings):
    its output is kept either way, prefixed with its exit code.
    """
    status = target.run(["npm", "run", "--silent", "migrate:status"], cwd=backend,
                        env={**env, "DATABASE_URL": database, "FORCE_COLOR": "0", "NO_COLOR": "1"}, timeout=300)
    schema_sql = target.run(["sqlite3", "-readonly", "-cmd", f".timeout {sqlite.BUSY_TIMEOUT_MS}", database, ".schema"],
                            timeout=300, check=True).stdout
    tables = sqlite.query(target, database, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
    return {
        "migration_status_before.txt": f"# exit code {status.exit_code}\n{status.stdout}{status.stderr}",
        "schema_before.sql": schema_sql,
        "tables_list.txt": "\n".join(r["name"] for r in tables) + "\n",
    }

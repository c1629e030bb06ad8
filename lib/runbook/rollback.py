"""Phase 90: the seed's rollback plan, done safely.

The seed's plan is ``pm2 stop all``, ``cp`` of the backup, three blind
``migrate:rollback`` and ``git reset --hard HEAD~1``. Here:

1. the backup is chosen from the run records (:func:`find_backup`), its SHA-256 verified first;
2. the rows written after it are counted by table, before anything changes (trap 7);
3. the restore goes through :func:`runbook.backup.restore` with the services stopped;
4. only migrations that a runbook run applied *after* the backup and that the restored
   history still shows are rolled back, newest batch first (:func:`migrations_to_roll_back`;
   normally nothing, trap 8);
5. the runbook's own deploy commits made after the backup are undone with
   ``git revert --no-edit`` and a plain push, never ``reset --hard`` or ``--force`` (trap 9);
6. the services restart and ``/health`` is polled.

Every mutating function takes ``apply`` and returns a list of :class:`~runbook.changes.Change`.

Example
-------
>>> from runbook.knex import MigrationHistory
>>> restored = MigrationHistory(files=[], applied=[{"name": "001_a.js", "batch": 1}, {"name": "020_fix.js", "batch": 2}])
>>> migrations_to_roll_back(restored, ["020_fix.js"])
([2], '')
>>> migrations_to_roll_back(restored, ["099_other.js"])
([], '')
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import sqlite
from .changes import Change, run_change
from .errors import BackupError, RepairError
from .knex import MigrationHistory, history_on_host
from .params import PROJECT_ROOT, Params
from .records import read_record
from .repair import Workspace, npm_script

# Records that may hold a verified backup, in the order they are preferred within one run:
# phase 06's pre-deploy backup is newer than phase 01's and loses fewer rows.
BACKUP_PHASES = ("06", "01")
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})")


# --- which backup ------------------------------------------------------------------------------


@dataclass
class BackupChoice:
    """The backup a rollback restores, where it was found and why it was picked."""

    backup: dict
    run: str
    phase: str
    key: str
    why: str
    candidates: list[dict] = field(default_factory=list)


def _parse_time(value) -> _dt.datetime | None:
    """An aware datetime from an ISO string (``Z`` accepted) or epoch seconds/milliseconds."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return _dt.datetime.fromtimestamp(value / 1000 if value > 1e11 else value, _dt.timezone.utc)
    try:
        t = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def backups_in_record(record: dict | None) -> list[tuple[str, dict]]:
    """``(key, backup)`` for every value of a record that is a backup (has path, sha256, verified).

    Read generically, so a phase that records its backup under another key is still found.

    >>> backups_in_record({"values": {"backup": {"path": "/b.sqlite", "sha256": "a", "verified": True},
    ...                               "logs_configs": {"path": "/l.tgz", "sha256": "b"}}})
    [('backup', {'path': '/b.sqlite', 'sha256': 'a', 'verified': True})]
    """
    out = []
    for key, value in ((record or {}).get("values") or {}).items():
        if isinstance(value, dict) and {"path", "sha256", "verified"} <= set(value):
            out.append((key, value))
    return out


def _run_database(run_dir: Path) -> tuple[str, str] | None:
    """``(target, database path)`` a run folder worked on, from its manifest's params."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        return None
    try:
        p = Params.from_dict(json.loads(path.read_text()).get("params") or {}, source=str(path))
    except Exception:  # an archive from another schema version: not comparable, not a candidate
        return None
    return _where(p)


def _where(params: Params) -> tuple[str, str]:
    t = params.target
    return (f"{t.kind}:{t.user}@{t.host}:{t.port}" if t.kind == "ssh" else "local", params.app.path("database"))


def same_database_runs(params: Params, run_dir: Path, search_dirs: list[Path] | None = None) -> list[Path]:
    """This run, then every run folder beside it (and under ``outputs/``) on the same target and database."""
    run_dir = Path(run_dir)
    here = _where(params)
    dirs = [d for d in dict.fromkeys(search_dirs or [run_dir.parent, PROJECT_ROOT / "outputs"]) if d.is_dir()]
    others = [r for d in dirs for r in sorted(d.iterdir())
              if r.is_dir() and r.resolve() != run_dir.resolve() and _run_database(r) == here]
    return [run_dir] + others


def find_backup(target, params: Params, run_dir: Path, *, source_run: str | Path | None = None,
                search_dirs: list[Path] | None = None) -> BackupChoice:
    """Pick the backup to restore: this run's own, else the newest verified one of an earlier run.

    Candidates are the backups in records 06 and 01 of ``source_run`` (when given), else of
    this run, else of every run folder beside it (and under ``outputs/``) whose manifest
    names the same target and database. A candidate counts only when it is verified and its
    file still exists on the host.

    Examples
    --------
    >>> import tempfile
    >>> empty = Path(tempfile.mkdtemp())
    >>> find_backup(None, Params(), empty / "run", search_dirs=[empty])
    Traceback (most recent call last):
    ...
    runbook.errors.BackupError: no verified backup of ...ultrazend.sqlite was found in this run or in the run folders beside it (...) or under outputs/; take one with phase 01 first.
    """
    run_dir = Path(run_dir)
    here = _where(params)
    if source_run:
        runs, scope = [Path(source_run)], f"the run {source_run} (given by name)"
    else:
        runs = same_database_runs(params, run_dir, search_dirs)
        scope = f"this run or in the run folders beside it ({run_dir.parent}) or under outputs/"
    candidates = []
    for r in runs:
        for phase in BACKUP_PHASES:
            for key, b in backups_in_record(read_record(r, phase)):
                candidates.append({"run": str(r), "phase": phase, "key": key, "path": b["path"],
                                   "created": b.get("created", ""), "sha256": b["sha256"],
                                   "verified": bool(b.get("verified")), "this_run": r.resolve() == run_dir.resolve(),
                                   "_backup": b})
    # This run first; then the newest backup, which loses the fewest rows; 06 before 01 at equal times.
    candidates.sort(key=lambda c: (not c["this_run"], -(_parse_time(c["created"]) or _dt.datetime.min.replace(
        tzinfo=_dt.timezone.utc)).timestamp(), BACKUP_PHASES.index(c["phase"])))
    chosen = None
    for c in candidates:
        if not c["verified"]:
            c["note"] = "not verified: never restored"
        elif target is not None and not target.exists(c["path"]):
            c["note"] = "file no longer on the host"
        elif chosen is None:
            chosen, c["note"] = c, "CHOSEN"
        else:
            c["note"] = "older"
    if chosen is None:
        raise BackupError(f"no verified backup of {here[1]} was found in {scope}; take one with phase 01 first.")
    where = "this run" if chosen["this_run"] else f"run {Path(chosen['run']).name}"
    why = (f"record {chosen['phase']} of {where} holds a verified backup of {here[1]} "
           f"taken {chosen['created']}" + ("" if chosen["this_run"] or source_run else
                                           f", the newest of {len(candidates)} candidate(s) for this database"))
    table = [{k: v for k, v in c.items() if not k.startswith("_")} for c in candidates]
    return BackupChoice(chosen["_backup"], chosen["run"], chosen["phase"], chosen["key"], why, table)


# --- which migrations ---------------------------------------------------------------------------


def runbook_migrations_after(run_dirs: list[Path], since: str) -> list[str]:
    """Names of migrations a runbook run applied after ``since`` (from the ``ran`` lists of its changes).

    >>> runbook_migrations_after([], "2026-12-03T10:00:00+00:00")
    []
    """
    since_t = _parse_time(since)
    names: list[str] = []
    for r in run_dirs:
        for rec_path in sorted((Path(r) / "records").glob("*.json")):
            rec = json.loads(rec_path.read_text())
            at = _parse_time(rec.get("values", {}).get("applied_at") or rec.get("finished") or rec.get("started"))
            if since_t and at and at < since_t:
                continue  # applied before the backup: part of the state being restored
            for c in rec.get("changes", []):
                detail = c.get("detail")
                if c.get("done") and isinstance(detail, dict) and isinstance(detail.get("ran"), list):
                    names += [n for n in detail["ran"] if n not in names]
    return names


def migrations_to_roll_back(restored: MigrationHistory, runbook_names: list[str]) -> tuple[list[int], str]:
    """Batches of the restored history to undo, newest first, and why not when it is unsafe.

    Only batches that hold nothing but migrations the runbook ran after the backup qualify,
    and only from the top: ``migrate:rollback`` undoes the last batch, so a batch under a
    foreign one cannot be reached without undoing healthy migrations (the seed's trap).

    >>> h = MigrationHistory(files=[], applied=[{"name": "a", "batch": 1}, {"name": "b", "batch": 2}])
    >>> migrations_to_roll_back(h, ["a"])
    ([], 'batch 1 holds migrations the runbook applied, under batch 2, which it did not apply: roll back by hand')
    """
    ours = set(runbook_names)
    batches: dict[int, set] = {}
    for r in restored.applied:
        batches.setdefault(int(r.get("batch") or 0), set()).add(r["name"])
    touched = sorted((b for b, names in batches.items() if names & ours), reverse=True)
    if not touched:
        return [], ""
    undo = []
    for b in sorted(batches, reverse=True):
        if b not in touched:
            return [], (f"batch {touched[0]} holds migrations the runbook applied, under batch {b}, "
                        "which it did not apply: roll back by hand")
        if not batches[b] <= ours:
            return [], f"batch {b} mixes migrations the runbook applied with others: roll back by hand"
        undo.append(b)
        if len(undo) == len(touched):
            return undo, ""
    return undo, ""


def rollback_migrations(target, ws: Workspace, batches: list[int], *, apply: bool) -> list[Change]:
    """``npm run migrate:rollback`` once per batch in ``batches``, each time checking it is the last."""
    changes = []
    for b in batches:
        if not apply:
            changes.append(Change(f"npm run migrate:rollback (batch {b})", False, f"DATABASE_URL={ws.database}"))
            continue
        before = history_on_host(target, ws.database, ws.migrations)
        if before.last_batch != b:
            raise RepairError(f"the last batch is {before.last_batch}, not {b}; the rollback stops before undoing other migrations.")
        r = npm_script(target, ws, "migrate:rollback")
        if not r.ok:
            raise RepairError(f"migrate:rollback of batch {b} failed: {(r.stderr or r.stdout).strip()[-300:]}")
        changes.append(Change(f"npm run migrate:rollback (batch {b})", True,
                              [x["name"] for x in before.applied if int(x["batch"]) == b]))
    return changes


# --- which commits ------------------------------------------------------------------------------


def _git(target, root: str, *args, check: bool = False, env: dict | None = None):
    return target.run(["git", "-C", root, *args], timeout=120, check=check, env=env)


def runbook_commits(target, root: str, message: str, since: str) -> list[dict]:
    """The runbook's deploy commits (message equal to ``deploy.commit_message``) made since ``since``.

    Newest first; ``reverted`` is true when a later commit says "This reverts commit <sha>".
    """
    since_t = _parse_time(since)
    window = [f"--since={(since_t - _dt.timedelta(seconds=1)).isoformat()}"] if since_t else []
    r = _git(target, root, "log", *window, "--format=%H%x1f%ct%x1f%P%x1f%B%x1e", "HEAD", check=True)
    rows, reverted = [], set()
    for entry in r.stdout.split("\x1e"):
        parts = entry.strip("\n").split("\x1f")
        if len(parts) != 4:
            continue
        sha, ct, parents, body = parts
        reverted |= set(_REVERTS.findall(body))
        at = _dt.datetime.fromtimestamp(int(ct), _dt.timezone.utc)
        if body.strip() != message.strip():
            continue
        if since_t and at < since_t.replace(microsecond=0):  # same second as the backup counts as after
            continue
        rows.append({"sha": sha, "short": sha[:10], "at": at.isoformat(), "subject": body.strip().splitlines()[0],
                     "merge": len(parents.split()) > 1})
    for c in rows:
        c["reverted"] = any(c["sha"].startswith(s) for s in reverted)
    return rows


def _identity(target, root: str) -> dict:
    """Author and committer for the revert when the host's git has none configured."""
    if _git(target, root, "config", "user.email").stdout.strip():
        return {}
    return {"GIT_AUTHOR_NAME": "UltraZend runbook", "GIT_AUTHOR_EMAIL": "runbook@localhost",
            "GIT_COMMITTER_NAME": "UltraZend runbook", "GIT_COMMITTER_EMAIL": "runbook@localhost"}


def revert_commits(target, root: str, commits: list[dict], *, apply: bool, push: bool,
                   remote: str = "origin", branch: str = "main") -> list[Change]:
    """``git revert --no-edit`` each commit not yet reverted (newest first), then a plain push.

    History is only added to: the reverted commits stay reachable, nothing is forced.
    """
    todo = [c for c in commits if not c["reverted"]]
    if not todo:
        return []
    merges = [c["short"] for c in todo if c["merge"]]
    if merges:
        raise RepairError(f"commit {merges[0]} is a merge; revert it by hand with `git revert -m 1` after review.")
    changes = []
    if apply:
        dirty = _git(target, root, "status", "--porcelain", "--untracked-files=no", check=True).stdout.strip()
        if dirty:
            raise RepairError(f"{root} has uncommitted changes ({dirty.splitlines()[0]}); commit or save them first, "
                              "the rollback does not discard anyone's work.")
    env = _identity(target, root) if apply else {}
    for c in todo:
        argv = ["git", "-C", root, "revert", "--no-edit", c["sha"]]
        if apply:
            r = target.run(argv, timeout=120, env=env)
            if not r.ok:
                _git(target, root, "revert", "--abort")
                raise RepairError(f"git revert of {c['short']} failed and was aborted: {(r.stderr or r.stdout).strip()[-300:]}")
        changes.append(Change(f"revert commit {c['short']} ({c['subject']})", apply, " ".join(argv)))
    if push:
        # A plain push: if the remote moved meanwhile, it is refused and a person merges; never --force.
        changes.append(run_change(target, ["git", "-C", root, "push", remote, f"HEAD:{branch}"],
                                  f"push the revert to {remote}/{branch}", apply=apply))
    return changes


def keep_applied_migration_files(target, root: str, migrations: str, commits: list[dict],
                                 restored_names: list[str], *, apply: bool) -> list[Change]:
    """Put back migration files that a reverted commit added but the restored history lists as applied.

    Phase 03 writes its fix migrations before phase 06 commits them, so a backup taken in
    between holds their history rows while the files were untracked. Reverting the commit
    deletes them, and knex then refuses every command ("migration directory is corrupt").
    They return as untracked files, exactly as they were when the backup was taken.
    """
    changes = []
    rel = migrations[len(root.rstrip("/")) + 1:] if migrations.startswith(root.rstrip("/") + "/") else None
    for c in commits:
        if c["reverted"] or rel is None:
            continue
        r = _git(target, root, "diff-tree", "--no-commit-id", "--name-status", "-r", c["sha"], "--", rel, check=True)
        for line in r.stdout.splitlines():
            status, _, path = line.partition("\t")
            name = path.rsplit("/", 1)[-1]
            if status != "A" or name not in restored_names:
                continue
            dest = f"{root.rstrip('/')}/{path}"
            if apply:
                if target.exists(dest):
                    continue
                target.write_text(dest, _git(target, root, "show", f"{c['sha']}:{path}", check=True).stdout)
            changes.append(Change(f"keep {name} on disk (applied in the restored database)", apply, dest))
    return changes


def build_if_needed(target, backend: str, env: dict, reverted: bool, *, apply: bool) -> list[Change]:
    """``npm run build`` after a code revert, when the app has a build script (PM2 runs the build)."""
    if not reverted:
        return []
    try:
        scripts = json.loads(target.read_text(f"{backend.rstrip('/')}/package.json")).get("scripts", {})
    except Exception:
        scripts = {}
    if "build" not in scripts:
        return []
    if not apply:
        return [Change("npm run build (the reverted code)", False, f"cd {backend} && npm run build")]
    r = target.run(["npm", "run", "--silent", "build"], cwd=backend, env={**env, "FORCE_COLOR": "0"}, timeout=600)
    if not r.ok:
        raise RepairError(f"npm run build failed after the revert: {(r.stderr or r.stdout).strip()[-300:]}")
    return [Change("npm run build (the reverted code)", True, f"cd {backend} && npm run build")]


# --- what a restore loses, and the plan ---------------------------------------------------------


def rows_lost_chart(rows: list[dict]):
    """Horizontal bars: rows per table that a restore would drop (a sentence when there are none)."""
    import matplotlib.pyplot as plt

    from . import charts  # noqa: F401  (selects the headless backend outside Jupyter)

    lost = [r for r in rows if r["rows_lost"]]
    fig, ax = plt.subplots(figsize=(8, max(1.6, 0.4 * len(lost) + 1)))
    if lost:
        ax.barh([r["table"] for r in lost], [r["rows_lost"] for r in lost], color="#cf222e")
        for i, r in enumerate(lost):
            ax.text(r["rows_lost"], i, f" {r['rows_lost']}", va="center")
        ax.invert_yaxis()
        ax.set_xlabel("rows written after the backup (lost by a restore)")
    else:
        ax.text(0.5, 0.5, "no row written after the backup: a restore loses nothing", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(f"Rows a restore would lose: {sum(r['rows_lost'] for r in rows)}")
    fig.tight_layout()
    return fig


@dataclass
class RollbackPlan:
    """What the rollback will undo after the restore, and whether that is safe."""

    restored: MigrationHistory  # the knex history the restored database will have
    runbook_migrations: list[str]  # migrations a runbook run applied after the backup
    batches: list[int]  # batches to roll back after the restore, newest first
    blocked: str  # why rolling back is unsafe ('' when it is safe)
    commits: list[dict]  # the runbook's deploy commits after the backup
    kept: list[Change]  # migration files to keep on disk although their commit is reverted
    idle: bool  # the live database already is the backup and nothing needs reverting
    rows: list[dict]  # the plan, step by step

    @property
    def evidence(self) -> str:
        """One line for the 'migration rollback is safe' check."""
        undone = [n for n in self.runbook_migrations if n not in self.restored.applied_names]
        return self.blocked or (f"restored history: {len(self.restored.applied)} migrations, last batch "
                                f"{self.restored.last_batch}; undone by the restore itself: {', '.join(undone) or 'nothing'}; "
                                f"to roll back after it: {self.batches or 'nothing'}")


def plan_rollback(target, params: Params, run_dir: Path, choice: BackupChoice) -> RollbackPlan:
    """Read the backup's history, the runbook's records and commits, and plan every step (changes nothing)."""
    app, db = params.app, params.app.path("database")
    restored = restored_history(target, choice.backup["path"], app.path("migrations"))
    ours = runbook_migrations_after(same_database_runs(params, run_dir), choice.backup["created"])
    batches, blocked = migrations_to_roll_back(restored, ours)
    commits = runbook_commits(target, app.root, params.deploy.commit_message, choice.backup["created"])
    kept = keep_applied_migration_files(target, app.root, app.path("migrations"), commits, restored.applied_names, apply=False)
    idle = live_matches_backup(target, db, choice.backup) and not batches and all(c["reverted"] for c in commits)
    return RollbackPlan(restored, ours, batches, blocked, commits, kept, idle,
                        plan_rows(choice, db, batches, blocked, commits, kept, params))


def plan_rows(choice: BackupChoice, database: str, batches: list[int], blocked: str, commits: list[dict],
              kept: list[Change], params: Params) -> list[dict]:
    """The rollback, step by step, as the dry run shows it and the applying run carries it out."""
    todo = [c for c in commits if not c["reverted"]]
    rows = [
        {"step": "stop services", "what": "pm2 stop all", "why": "no write may land between the restore and the check"},
        {"step": "restore", "what": f"{choice.backup['path']} -> {database}",
         "why": f"SHA-256 {choice.backup['sha256'][:16]}… verified first; {choice.why}"},
        {"step": "roll back migrations",
         "what": ", ".join(f"batch {b}" for b in batches) or "nothing",
         "why": blocked or ("batches the runbook applied after the backup that the restored history still shows"
                            if batches else "the restored history holds no migration the runbook applied after the backup")},
        {"step": "revert code", "what": ", ".join(f"git revert --no-edit {c['short']}" for c in todo) or "nothing",
         "why": (f"commits '{params.deploy.commit_message}' made after the backup" if todo
                 else "no runbook deploy commit after the backup (or already reverted)")},
    ]
    rows += [{"step": "keep file", "what": c.detail, "why": c.what} for c in kept]
    if todo and params.deploy.push:
        rows.append({"step": "push", "what": f"git push {params.app.git_remote} HEAD:{params.app.git_branch}",
                     "why": "a plain push: history only grows, no --force"})
    rows.append({"step": "restart", "what": "pm2 restart all, then poll /health", "why": "the seed's last step"})
    return rows


def restored_history(target, backup_path: str, migrations: str) -> MigrationHistory:
    """The knex history the database will have after the restore, read from the backup (read-only)."""
    return history_on_host(target, backup_path, migrations)


def live_matches_backup(target, db: str, backup: dict) -> bool:
    """Whether the live database already is the backup, byte for byte (a second rollback has nothing to do)."""
    from .backup import remote_sha256

    return target.exists(db) and not target.exists(db + "-wal") and remote_sha256(target, db) == backup["sha256"]


def database_sha256(target, db: str) -> str:
    """SHA-256 of the live database file, after a checkpoint so the file holds every commit."""
    sqlite.execute(target, db, "PRAGMA wal_checkpoint(TRUNCATE);")
    from .backup import remote_sha256

    return remote_sha256(target, db)


__all__ = ["BackupChoice", "find_backup", "backups_in_record", "runbook_migrations_after", "migrations_to_roll_back",
           "rollback_migrations", "runbook_commits", "revert_commits", "keep_applied_migration_files",
           "build_if_needed", "rows_lost_chart", "RollbackPlan", "plan_rollback", "plan_rows", "restored_history", "live_matches_backup", "database_sha256"]

"""Phase 06: pre-deploy backup, commit and push of the repaired migrations, the deploy itself.

The seed's 6.2 runs ``git add .``, which would commit databases, logs or anyone's
stray files; here only the paths named (the migrations folder) are staged, and
``git commit -- <paths>`` commits nothing else even if the index held other work.
Every call is dry-run aware (``apply=False`` returns what it would run) and
idempotent (nothing to commit and nothing to push: no change).

The deploy runs ``deploy.command`` in the app root and follows ``deploy.log`` from
the offset it had before, printing lines as they come; it passed when the command
exited 0 and the log's new part ends with ``DEPLOY OK``.

Example
-------
>>> from runbook.target import RecordingTarget
>>> t = RecordingTarget(answers={"git -C /app status": (0, "?? backend/src/migrations/020_fix.js\\0", ""),
...                              "git -C /app rev-parse --abbrev-ref": (0, "main\\n", "")})
>>> [str(c) for c in commit_paths(t, "/app", ["backend/src/migrations"], "fix", remote="origin",
...                                 branch="main", push=False, apply=False)][0]
'WOULD: git add backend/src/migrations/020_fix.js (git -C /app add -A -- backend/src/migrations/020_fix.js)'
"""

from __future__ import annotations

import threading
import time

from . import backup as backup_mod
from .changes import Change
from .errors import DeployError
from .target import file_size, shell_line

DEFAULT_IDENTITY = ("UltraZend recovery runbook", "runbook@ultrazend.invalid")
EXCERPT_LINES = 60


# --- git ---------------------------------------------------------------------------------------


def _git(root: str) -> list[str]:
    return ["git", "-C", root]


def relative_to_root(root: str, path: str) -> str:
    """``path`` (absolute or relative) as a path inside the repository at ``root``.

    >>> relative_to_root("/app", "/app/backend/src/migrations")
    'backend/src/migrations'
    """
    root = root.rstrip("/")
    if not path.startswith("/"):
        return path
    if not path.startswith(root + "/"):
        raise DeployError(f"{path} is outside the app repository {root}; it cannot be committed there.")
    return path[len(root) + 1:]


def changed_paths(target, root: str, paths: list[str]) -> list[dict]:
    """Paths under ``paths`` that differ from HEAD (``git status --porcelain -z``, untracked files listed one by one)."""
    r = target.run([*_git(root), "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths],
                   timeout=120, check=True)
    out, fields = [], r.stdout.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":  # a rename carries its old path in the next field
            out.append({"status": status, "path": path, "from": fields[i]})
            i += 1
        else:
            out.append({"status": status, "path": path})
    return out


def head(target, root: str) -> str:
    """The commit HEAD points at (empty in a repository without commits)."""
    r = target.run([*_git(root), "rev-parse", "HEAD"], timeout=60)
    return r.stdout.strip() if r.ok else ""


def ahead_of_remote(target, root: str, remote: str, branch: str) -> int | None:
    """Commits on HEAD that ``remote/branch`` (as last fetched or pushed) lacks; None when unknown."""
    r = target.run([*_git(root), "rev-list", "--count", f"{remote}/{branch}..HEAD"], timeout=60)
    return int(r.stdout.strip()) if r.ok and r.stdout.strip().isdigit() else None


def _identity_args(target, root: str, identity: tuple[str, str]) -> list[str]:
    """``-c user.name=... -c user.email=...`` only when git has no identity of its own on the host."""
    known = all(target.run([*_git(root), "var", v], timeout=30).ok for v in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"))
    return [] if known else ["-c", f"user.name={identity[0]}", "-c", f"user.email={identity[1]}"]


def commit_paths(target, root: str, paths: list[str], message: str, *, remote: str, branch: str, push: bool,
                 apply: bool, planned: list[str] = (), identity: tuple[str, str] = DEFAULT_IDENTITY) -> list[Change]:
    """Commit the changes under ``paths`` (relative to ``root``) and push them when ``push``.

    Parameters
    ----------
    paths : list of str
        Folders or files inside the repository; nothing outside them is staged or committed.
    planned : list of str
        Paths (relative to ``root``) an earlier phase would have written with ``apply``; a dry
        run counts them as changed, so it shows the commands a real run would use.
    identity : (name, email)
        Used only when git on the host has no author identity configured.

    Returns
    -------
    list of Change
        ``git add``, ``git commit`` (detail ends with the new sha) and ``git push``; empty when
        there is nothing to commit and nothing to push.
    """
    rel = [relative_to_root(root, p) for p in paths]
    current = target.run([*_git(root), "rev-parse", "--abbrev-ref", "HEAD"], timeout=60, check=True).stdout.strip()
    if current != branch:
        raise DeployError(f"the app repository {root} is on {current!r}, not on app.git_branch {branch!r}; "
                          "check out the branch (or fix the params) before committing.")
    changes: list[Change] = []
    status = changed_paths(target, root, rel)
    # A rename stages its old path too, or the commit would keep the old file.
    changed = sorted({c["path"] for c in status} | {c["from"] for c in status if c.get("from")}
                     | (set() if apply else {relative_to_root(root, p) for p in planned}))
    if changed:
        add = [*_git(root), "add", "-A", "--", *changed]
        ident = _identity_args(target, root, identity)
        commit = [*_git(root), *ident, "commit", "-q", "-m", message, "--", *changed]
        if apply:
            target.run(add, timeout=120, check=True)
            target.run(commit, timeout=120, check=True)
        changes.append(Change(f"git add {' '.join(changed)}", apply, shell_line(add)))
        sha = head(target, root) if apply else ""
        changes.append(Change(f"git commit {len(changed)} file(s)", apply,
                              shell_line(commit) + (f" -> {sha}" if sha else "")))
    ahead = ahead_of_remote(target, root, remote, branch)
    # Push when this call committed, or when an earlier commit never reached the remote.
    if push and (changed or ahead is None or ahead > 0):
        argv = [*_git(root), "push", remote, branch]
        if apply:
            target.run(argv, timeout=300, check=True)
        changes.append(Change(f"git push {remote} {branch}", apply, shell_line(argv)))
    return changes


# --- 6.1 pre-deploy backup ---------------------------------------------------------------------


def planned_migrations(ph) -> list[str]:
    """Migration files phase 03 of this run planned to write (host paths), for a dry run's commit preview."""
    rec = (ph.earlier("03") or {}).get("values") or {}
    names = [row["what"].split()[-1] for row in rec.get("plan") or [] if row.get("step") == "write-migration"]
    return [f"{ph.params.app.path('migrations').rstrip('/')}/{n}" for n in names]


def pre_deploy_backup(ph, *, apply: bool) -> dict:
    """Seed 6.1: a verified SQLite snapshot (as in phase 01) and a checksummed tar of the migrations.

    In a dry run nothing is written; ``changes`` says what would be.
    """
    from .steps import backup_folder, take_snapshot  # steps pulls in the diagnosis stack

    app = ph.params.app
    migrations = app.path("migrations").rstrip("/")
    parent, name = migrations.rsplit("/", 1)
    dest = f"{backup_folder(ph)}/pre_deploy_migrations.tar.gz"
    if not apply:
        return {"snapshot": None, "migrations": None, "changes": [
            Change("snapshot the database (VACUUM INTO, integrity and FK checks, SHA-256)", False, app.path("database")),
            Change("archive the migrations folder", False, shell_line(["tar", "-czf", dest, "-C", parent, name])),
        ]}
    snap = take_snapshot(ph, "pre_deploy", "snapshot_pre_deploy.sqlite")
    ph.target.run(["mkdir", "-p", backup_folder(ph)], check=True)
    archive = backup_mod.archive_dirs(ph.target, parent, [name], dest)
    if archive["path"]:
        ph.target.write_text(dest + ".sha256", f"{archive['sha256']}  {dest.rsplit('/', 1)[-1]}\n")
    return {"snapshot": snap, "migrations": archive, "changes": [
        Change("snapshot the database", True, snap["path"]),
        Change("archive the migrations folder", True, archive["path"]),
    ]}


# --- 6.3 the deploy ----------------------------------------------------------------------------


def deploy_line(root: str, command: list[str]) -> str:
    """The shell line of the deploy, as a dry run prints it.

    >>> deploy_line("/var/www/ultrazend", ["./deploy.sh"])
    'cd /var/www/ultrazend && ./deploy.sh'
    """
    return shell_line(command, cwd=root)


def run_deploy(target, root: str, command: list[str], log: str, *, timeout: float, apply: bool,
               progress=print, poll_interval: float = 1.0) -> dict:
    """Run the deploy in ``root`` and follow ``log`` from its current end until the command ends.

    Returns
    -------
    dict
        ``ok`` (None in a dry run), ``done``, ``command``, ``exit_code``, ``duration_s``,
        ``log`` and ``log_offset``, ``excerpt`` (the new log lines, last ``EXCERPT_LINES``),
        ``last_line`` and ``error``.
    """
    line = deploy_line(root, command)
    log = log if log.startswith("/") else f"{root.rstrip('/')}/{log}"
    if not apply:
        return {"ok": None, "done": False, "command": line, "log": log, "changes": [Change("deploy", False, line)]}
    offset = file_size(target, log) or 0
    box: dict = {}

    def work():
        try:
            box["result"] = target.run(list(command), cwd=root, timeout=timeout)
        except Exception as exc:  # a timeout must still end the follow loop and be reported
            box["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=work, name="deploy", daemon=True)
    thread.start()
    seen, partial, new_lines = offset, "", []
    while True:
        finished = not thread.is_alive()  # decided before the last read, so no line is lost
        size = file_size(target, log)
        if size is not None and size < seen:  # the log was rotated or truncated: start over
            seen = 0
        if size is not None and size > seen:
            chunk = target.run(["tail", "-c", f"+{seen + 1}", log], timeout=60).stdout
            seen = size
            text = partial + chunk
            *complete, partial = text.split("\n")
            for entry in complete:
                new_lines.append(entry)
                progress(entry)
        if finished:
            break
        thread.join(poll_interval)
    if partial:
        new_lines.append(partial)
        progress(partial)
    result, error = box.get("result"), box.get("error")
    if result is not None and not new_lines:  # the command did not write the log: use its output
        new_lines = result.stdout.splitlines()
    last = next((x for x in reversed(new_lines) if x.strip()), "")
    ok = result is not None and result.ok and last.rstrip().endswith("DEPLOY OK")
    return {"ok": ok, "done": True, "command": line, "exit_code": result.exit_code if result else None,
            "duration_s": round(time.monotonic() - started, 2), "log": log, "log_offset": offset,
            "excerpt": new_lines[-EXCERPT_LINES:], "last_line": last, "changes": [Change("deploy", True, line)],
            "error": str(error) if error else ("" if ok else (result.stderr.strip()[-400:] if result else ""))}


def health_after(target, params, *, apply: bool) -> list[dict]:
    """Poll ``/health`` after the deploy until 200 (at least 10 tries: PM2 restarts the app); [] in a dry run."""
    from . import health

    if not apply:
        return []
    s = params.services
    return health.poll_health(target, health.health_url(params), tries=max(s.health_retries, 10),
                              interval=s.health_interval, timeout=s.http_timeout)


def describe(result: dict) -> str:
    """One line of evidence for the deploy check.

    >>> describe({"done": True, "ok": True, "exit_code": 0, "last_line": "x DEPLOY OK", "duration_s": 3.2})
    'exit 0 in 3.2 s; last log line: x DEPLOY OK'
    """
    if not result.get("done"):
        return f"dry run: would run `{result['command']}`"
    text = f"exit {result['exit_code']} in {result['duration_s']} s; last log line: {result['last_line'] or '(none)'}"
    return text + (f"; {result['error']}" if result.get("error") else "")


__all__ = ["DeployError", "commit_paths", "changed_paths", "head", "ahead_of_remote", "relative_to_root",
           "planned_migrations", "pre_deploy_backup", "run_deploy", "deploy_line", "health_after", "describe"]

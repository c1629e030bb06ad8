"""Phase 08: the seed's prevention work (8.1 migration tests, 8.2 schema validation, 8.3 logger).

Three files are written into the app repository on the host, from templates in
``runbook/templates`` rendered with the run's parameters:

- ``<backend>/tests/migrations/migration.test.js``: every migration on a fresh
  temporary database, then the expected schema (the seed's typo fixed: it checked
  ``is_verified`` twice); runs with ``node --test``, no jest needed;
- ``scripts/validate_schema.sh``: the seed's pre-deploy check with a SQLite
  ``.backup`` copy, correct paths and a clean-up trap;
- ``<backend>/src/utils/migrationLogger.js``: the seed's MigrationLogger.

Writing is idempotent (same content: no change) and dry-run aware. The suite and
the script are then *run*: on the live app with ``apply``, else on a scratch copy
that holds the files, so a dry run still proves they pass.

Example
-------
>>> from runbook.params import Params
>>> [f.path for f in prevention_files(Params.from_dict({}), tables=["users"])]
['backend/tests/migrations/migration.test.js', 'scripts/validate_schema.sh', 'backend/src/utils/migrationLogger.js']
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from .changes import Change
from .deploy import commit_paths, relative_to_root
from .errors import RepairError
from .repair import copy_backend, render_fix_migration

MARKER = "UltraZend recovery runbook"  # every template carries it: only such files are replaced
COMMIT_MESSAGE = "chore: add migration tests, pre-deploy schema validation and migration logger"
_TAP = re.compile(r"^(\s*)(not ok|ok) \d+ - (.*?)(?: # .*)?$")


@dataclass
class PreventionFile:
    """A file for the app repository: ``path`` relative to the app root."""

    path: str
    content: str
    mode: int = 0o644


def prevention_files(params, tables: list[str] | None = None) -> list[PreventionFile]:
    """The three files, rendered for ``params`` (``tables``: the essential tables; default from the expected schema)."""
    app, r = params.app, params.repair
    if tables is None:
        from .schema import load_expected

        tables = list(load_expected(params.schema.expected).get("tables", {}))
    backend = relative_to_root(app.root, app.path("backend"))
    database = relative_to_root(app.root, app.path("database")) if app.path("database").startswith(app.root.rstrip("/") + "/") \
        else app.path("database")
    test = render_fix_migration("migration.test.js", wanted=r.verified_column, legacy=r.legacy_column,
                                email=r.system_user_email, tables=list(tables))
    script = resources.files("runbook").joinpath("templates", "validate_schema.sh").read_text()
    script = script.replace("__BACKEND_SH__", shlex.quote(backend)).replace("__DATABASE_SH__", shlex.quote(database))
    logger = resources.files("runbook").joinpath("templates", "migrationLogger.js").read_text()
    return [
        PreventionFile(f"{backend}/tests/migrations/migration.test.js", test),
        PreventionFile("scripts/validate_schema.sh", script, 0o755),
        PreventionFile(f"{backend}/src/utils/migrationLogger.js", logger),
    ]


def files_table(target, root: str, files: list[PreventionFile]) -> pd.DataFrame:
    """Each file's state on the host: ``new``, ``same`` or ``differs``."""
    rows = []
    for f in files:
        path = f"{root.rstrip('/')}/{f.path}"
        state = "new" if not target.exists(path) else ("same" if target.read_text(path) == f.content else "differs")
        rows.append({"path": f.path, "bytes": len(f.content.encode()), "mode": oct(f.mode), "state": state})
    return pd.DataFrame(rows, columns=["path", "bytes", "mode", "state"])


def write_files(target, root: str, files: list[PreventionFile], *, apply: bool) -> list[Change]:
    """Write the files under ``root``; unchanged files are left alone, foreign ones are never replaced.

    >>> from runbook.target import RecordingTarget
    >>> t = RecordingTarget()
    >>> f = [PreventionFile("scripts/x.sh", "# UltraZend recovery runbook\\n", 0o755)]
    >>> [c.done for c in write_files(t, "/app", f, apply=True)], write_files(t, "/app", f, apply=True)
    ([True], [])
    """
    changes = []
    for f in files:
        path = f"{root.rstrip('/')}/{f.path}"
        current = target.read_text(path) if target.exists(path) else None
        if current == f.content:
            if f.mode & 0o111 and not target.run(["test", "-x", path]).ok:
                if apply:
                    target.run(["chmod", "+x", path], check=True)
                changes.append(Change(f"make {f.path} executable", apply, path))
            continue
        if current is not None and MARKER not in current:
            raise RepairError(f"{path} exists and was not written by the runbook; move it away or merge by hand.")
        if apply:
            target.write_text(path, f.content, mode=f.mode)
        changes.append(Change(f"{'write' if current is None else 'update'} {f.path}", apply, path))
    return changes


def scratch_app(target, *, backend: str, backend_rel: str, scratch_dir: str, files: list[PreventionFile]) -> str:
    """A scratch app root on the host: a copy of ``backend`` at ``backend_rel`` plus ``files``; returns its path."""
    root = scratch_dir.rstrip("/")
    target.run(["rm", "-rf", root], check=True)
    copy_backend(target, backend, f"{root}/{backend_rel}")
    for f in files:
        target.write_text(f"{root}/{f.path}", f.content, mode=f.mode)
    return root


def where_to_run(ph, files: list[PreventionFile]) -> tuple[str, str]:
    """``(app root, backend)`` where the phase runs the files: the live app with ``apply``, else a scratch copy.

    The scratch copy starts from phase 03's rehearsal backend when it ran (it holds the
    repaired migrations a dry run did not write), else from the live backend.
    """
    from .steps import backup_folder

    app = ph.params.app
    backend_rel = relative_to_root(app.root, app.path("backend"))
    if ph.apply:
        return app.root, app.path("backend")
    rehearsal = ((ph.earlier("03") or {}).get("values") or {}).get("rehearsal") or {}
    root = scratch_app(ph.target, backend=rehearsal.get("backend") or app.path("backend"), backend_rel=backend_rel,
                       scratch_dir=f"{backup_folder(ph)}/prevention", files=files)
    return root, f"{root}/{backend_rel}"


def remove_scratch(target, root: str, app_root: str) -> bool:
    """Remove a scratch root made by :func:`where_to_run` (never the app root itself)."""
    if root.rstrip("/") == app_root.rstrip("/"):
        return False
    target.run(["rm", "-rf", root], check=True)
    return True


# --- running them ------------------------------------------------------------------------------


def run_suite(target, backend: str, *, env: dict, test_file: str = "tests/migrations/migration.test.js",
              timeout: float = 300) -> dict:
    """``node --test`` the migration suite in ``backend``; returns ``ok``, ``exit_code``, ``tests`` rows, ``output``."""
    r = target.run(["node", "--test", "--test-reporter=tap", test_file], cwd=backend, timeout=timeout,
                   env={**env, "NODE_ENV": "test", "FORCE_COLOR": "0", "NO_COLOR": "1"})
    tests = []
    lines = r.stdout.splitlines()
    for i, line in enumerate(lines):
        m = _TAP.match(line)
        if m and m.group(1):  # indented: a test inside the describe block (the block itself is top level)
            tests.append({"test": m.group(3).strip(), "ok": m.group(2) == "ok", "error": ""})
            if not tests[-1]["ok"]:
                tests[-1]["error"] = _tap_error(lines[i + 1:i + 40])
    return {"ok": r.ok and bool(tests) and all(t["ok"] for t in tests), "exit_code": r.exit_code, "tests": tests,
            "output": (r.stdout + r.stderr).strip()[-3000:]}


def _tap_error(block: list[str]) -> str:
    """The ``error:`` of a failed test's YAML block (first line of a ``|-`` text)."""
    for i, line in enumerate(block):
        text = line.strip()
        if text.startswith("error:"):
            value = text[len("error:"):].strip()
            if value in ("|-", "|", ">-", ">"):
                value = next((x.strip() for x in block[i + 1:] if x.strip()), "")
            return value.strip("'\"")
        if text == "...":
            break
    return ""


def run_validation(target, root: str, *, env: dict, source_database: str, timeout: float = 600) -> dict:
    """``scripts/validate_schema.sh`` in ``root`` against a ``.backup`` copy of ``source_database`` (read only)."""
    r = target.run(["bash", "scripts/validate_schema.sh"], cwd=root, timeout=timeout,
                   env={**env, "SOURCE_DATABASE": source_database, "FORCE_COLOR": "0", "NO_COLOR": "1"})
    out = (r.stdout + r.stderr).strip()
    return {"ok": r.ok and "Schema validation completed" in out, "exit_code": r.exit_code, "output": out[-3000:]}


def logger_check(target, backend: str, *, env: dict) -> dict:
    """Load ``src/utils/migrationLogger`` in ``backend`` and log one start line through the app's logger."""
    script = ("const L=require('./src/utils/migrationLogger');"
              "if(typeof L.logMigrationStart!=='function')process.exit(2);"
              "L.logMigrationStart('runbook-phase-08-check');")
    r = target.run(["node", "-e", script], cwd=backend, env={**env, "FORCE_COLOR": "0"}, timeout=60)
    return {"ok": r.ok and "migration_start" in r.stdout, "exit_code": r.exit_code,
            "output": (r.stdout + r.stderr).strip()[-500:]}


def commit(target, params, files: list[PreventionFile], *, apply: bool) -> list[Change]:
    """Commit (and push, with ``deploy.push``) exactly these files in the app repository."""
    app = params.app
    return commit_paths(target, app.root, [f.path for f in files], COMMIT_MESSAGE, remote=app.git_remote,
                        branch=app.git_branch, push=params.deploy.push, apply=apply)


__all__ = ["PreventionFile", "prevention_files", "files_table", "write_files", "scratch_app", "where_to_run",
           "remove_scratch", "run_suite",
           "run_validation", "logger_check", "commit", "MARKER"]

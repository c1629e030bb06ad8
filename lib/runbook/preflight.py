"""Phase 00: the seed's prerequisites, checked on the host before anything else runs.

Example
-------
>>> from runbook.target import RecordingTarget
>>> t = RecordingTarget(answers={"git --version": (0, "git version 2.39.5\\n", "")})
>>> tool_versions(t, ["git"]).loc[0, "version"]
'git version 2.39.5'
"""

from __future__ import annotations

import pandas as pd

from . import pm2
from .errors import TargetError
from .params import Params
from .target import file_size, free_bytes

TOOLS = ("sqlite3", "node", "npm", "pm2", "git")


def tool_versions(target, tools=TOOLS) -> pd.DataFrame:
    """One row per tool: found on the host, and the version it prints."""
    rows = []
    for tool in tools:
        r = target.run([tool, "--version"], timeout=60)
        first = (r.stdout or r.stderr).strip().splitlines()
        rows.append({"tool": tool, "found": r.ok, "version": first[-1] if r.ok and first else ""})
    return pd.DataFrame(rows)


def app_paths(target, params: Params) -> pd.DataFrame:
    """Whether every path of the ``app`` section exists on the host."""
    rows = []
    for key in ("root", "backend", "database", "migrations", "logs", "configs"):
        path = params.app.root if key == "root" else params.app.path(key)
        rows.append({"key": f"app.{key}", "path": path, "exists": target.exists(path)})
    return pd.DataFrame(rows)


def backup_space(target, params: Params) -> dict:
    """Free space where backups go versus what a snapshot of the database needs."""
    db = params.app.path("database")
    size = (file_size(target, db) or 0) + (file_size(target, db + "-wal") or 0)
    free = free_bytes(target, params.backup.dir)
    needed = int(size * params.backup.free_space_factor)
    return {"database_bytes": size, "free_bytes": free, "needed_bytes": needed, "enough": free >= needed and size > 0}


def pm2_state(target) -> dict:
    """Whether PM2 answers, and its processes."""
    try:
        procs = pm2.processes(target)
    except TargetError as exc:
        return {"reachable": False, "error": str(exc), "processes": []}
    return {"reachable": True, "error": "", "processes": procs}

"""PM2, the process manager UltraZend runs under.

Example
-------
>>> from runbook.target import RecordingTarget
>>> t = RecordingTarget(answers={"pm2 jlist": (0, '[{"name":"api","pid":7,"pm2_env":{"status":"online","restart_time":0}}]', "")})
>>> processes(t)[0]["status"]
'online'
"""

from __future__ import annotations

import json

from .changes import Change, run_change
from .errors import TargetError


def processes(target) -> list[dict]:
    """PM2's process table (name, status, pid, restarts, memory, cpu)."""
    r = target.run(["pm2", "jlist"], timeout=60)
    if not r.ok:
        raise TargetError(f"PM2 is not reachable on the host: `pm2 jlist` exited {r.exit_code}: {r.stderr.strip()[:200]}")
    out = r.stdout.strip()
    # pm2 may print a banner before the JSON the first time its daemon starts.
    start = out.find("[")
    try:
        items = json.loads(out[start:]) if start >= 0 else []
    except json.JSONDecodeError as exc:
        raise TargetError(f"`pm2 jlist` did not print JSON: {out[:200]!r}") from exc
    rows = []
    for p in items:
        env = p.get("pm2_env", {})
        monit = p.get("monit", {})
        rows.append({
            "name": p.get("name"),
            "status": env.get("status"),
            "pid": p.get("pid"),
            "restarts": env.get("restart_time"),
            "memory_mb": round(monit.get("memory", 0) / 2**20, 1),
            "cpu_pct": monit.get("cpu"),
        })
    return rows


def all_online(target) -> bool:
    procs = processes(target)
    return bool(procs) and all(p["status"] == "online" for p in procs)


def stop_all(target, *, apply: bool) -> list[Change]:
    """``pm2 stop all`` (no change when nothing is online)."""
    if apply and not any(p["status"] == "online" for p in processes(target)):
        return []
    return [run_change(target, ["pm2", "stop", "all"], "stop every PM2 process", apply=apply)]


def restart_all(target, *, apply: bool) -> list[Change]:
    """``pm2 restart all`` (the seed's way back after a stop)."""
    return [run_change(target, ["pm2", "restart", "all"], "restart every PM2 process", apply=apply)]

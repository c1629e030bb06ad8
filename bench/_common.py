"""Shared helpers of the benchmark scripts (not a benchmark itself).

Every script of ``bench/``:

- parses ``--quick`` (tiny sizes, one run: the smoke test's mode) and ``--runs N``;
- prints its setup, then each run of the baseline and of ours, then the medians;
- ends with ``RATIO <name> <ours/baseline>`` on its own line;
- writes its figures to ``bench/results/<name>.json`` (gitignored), which
  ``bench/run_all.py`` turns into the results table.

Sandboxes and databases it creates live in temporary folders that are removed at the
end, except the generated databases cached in ``bench/.cache/`` (gitignored), which
make a second ``make bench`` fast.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT / "lib"))  # runnable with any python that has the deps, not only the venv's
# run_all.py stops a script that runs past its limit with SIGTERM: turn it into SystemExit so the
# script's finally blocks still take its sandbox and sshd down and remove its temporary files.
signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))


def parse_args(doc: str, runs: int = 3, extra=None) -> argparse.Namespace:
    """``--quick`` and ``--runs`` (plus script-specific options added by ``extra(parser)``)."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and one run (the smoke test's mode)")
    p.add_argument("--runs", type=int, default=None, help=f"runs of each side (default {runs}, 1 with --quick)")
    if extra:
        extra(p)
    args = p.parse_args()
    if args.runs is None:
        args.runs = 1 if args.quick else runs
    return args


def say(msg: str = "") -> None:
    print(msg, flush=True)


def setup(name: str, **items) -> None:
    """Print the benchmark's name and setup (one ``key: value`` line each)."""
    say(f"== bench {name} ({machine()['summary']})")
    for key, value in items.items():
        say(f"setup {key}: {value}")


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fmt(x: float, unit: str = "s") -> str:
    if x != x:  # NaN
        return "n/a"
    if unit == "s":
        return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"
    if unit == "MB":
        return f"{x:.1f} MB"
    return f"{x:.3g} {unit}"


def finish(name: str, ours: float, baseline: float, *, unit: str = "s", quick: bool = False, goal: str = "",
           met: bool | None = None, extra: dict | None = None, runs: dict | None = None) -> float:
    """Print the medians and the ``RATIO`` line; save the figures for run_all's table."""
    ratio = ours / baseline if baseline else float("inf")
    say(f"median baseline: {fmt(baseline, unit)}")
    say(f"median ours:     {fmt(ours, unit)}")
    if goal:
        say(f"goal: {goal} -> {'MET' if met else 'NOT MET'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "quick": quick, "unit": unit, "baseline": baseline, "ours": ours, "ratio": ratio,
            "goal": goal, "met": met, "extra": extra or {}, "runs": runs or {}, "machine": machine(),
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    (RESULTS / f"{name}{'.quick' if quick else ''}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    say(f"RATIO {name} {ratio:.4f}")
    return ratio


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    n = os.cpu_count() or 0
    try:
        n = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or n)
    except (OSError, ValueError):
        pass
    gib = mem / 2**30
    return {"nproc": n, "memory_gib": round(gib, 1), "cpu": cpu, "python": platform.python_version(),
            "kernel": platform.release(), "summary": f"nproc {n}, {gib:.1f} GiB RAM, {cpu}"}


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tmpdir(prefix: str, in_memory_bytes: int = 0) -> Path:
    """A temporary folder; the caller removes it.

    With ``in_memory_bytes``, the folder is on the tmpfs ``/dev/shm`` when it has that much room
    (plus 2 GiB to spare), so that writing gigabytes measures the tools, not the disk's writeback.
    """
    shm = Path("/dev/shm")
    if in_memory_bytes and shm.is_dir() and os.access(shm, os.W_OK):
        if shutil.disk_usage(shm).free > in_memory_bytes + 2 * 2**30:
            return Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-", dir=shm))
    return Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))


# --- sandboxes ----------------------------------------------------------------------------------


def sandbox_params(info: dict, path: Path, **sections) -> Path:
    """A params file for a private sandbox (as tests/support.py writes one), sections merged in."""
    import yaml

    data = {
        "target": {"kind": "local"},
        "app": {"root": info["app_root"], "env": {
            "PM2_HOME": info["pm2_home"],
            "PATH": f"{ROOT}/sandbox/node_modules/.bin:/usr/local/bin:/usr/bin:/bin",
        }},
        "services": {"api_url": info["api_url"], "mx_port": info["ports"]["mx"],
                     "submission_port": info["ports"]["submission"], "health_interval": 0.5},
        "backup": {"dir": info["backups"]},
        "monitor": {"alert_script": str(Path(info["workdir"]) / "bin" / "ultrazend_health_monitor.sh"),
                    "alert_log": str(Path(info["app_root"]) / "logs" / "health_monitor.log"),
                    "polls": 4, "poll_interval": 0.2},
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _seed_progress(line: str) -> None:
    """Pass the seed script's progress on every 10 %, quietly otherwise."""
    m = re.search(r"emails: \d+/\d+ \((\d+)%", line)
    if m and int(m.group(1)) % 10 == 0:
        say("cache:   " + line.strip())


@contextlib.contextmanager
def sandbox(scenario: str = "email_verified_only", emails: int = 300, users: int = 30):
    """A fresh private sandbox on free ports in a temporary folder; always taken down."""
    from runbook import sandbox as sb

    base = tmpdir("sbx")
    workdir = base / "sandbox"
    api, mx, sub = free_ports(3)
    try:
        info = sb.up(workdir, scenario=scenario, emails=emails, api_port=api, mx_port=mx, submission_port=sub,
                     progress=_seed_progress if emails >= 1_000_000 else None, users=users)
        info["base"] = str(base)
        yield info
    finally:
        with contextlib.suppress(Exception):
            sb.down(workdir, progress=None)
        shutil.rmtree(base, ignore_errors=True)


def cached_db(emails: int, scenario: str = "email_verified_only", users: int = 50) -> Path:
    """A sandbox database with ``emails`` emails in ``bench/.cache`` (made once by ``sandbox up``).

    The sandbox is taken down right after its database is copied with SQLite's backup API;
    the copy is a self-contained file in rollback-journal mode.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{scenario}_{emails}_emails.sqlite"
    if path.is_file():
        return path
    say(f"cache: generating {path.name} with `sandbox up --emails {emails}` (once; later runs reuse it)")
    started = time.monotonic()
    with sandbox(scenario, emails=emails, users=users) as info:
        part = path.with_name(f"{path.name}.{os.getpid()}.part")  # two benches may build it at once
        src = sqlite3.connect(f"file:{info['database']}?mode=ro", uri=True)
        dst = sqlite3.connect(part)
        try:
            src.backup(dst, pages=65536)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
        part.replace(path)  # atomic: a reader sees no file or the whole file
    say(f"cache: {path.name} ready ({path.stat().st_size / 2**30:.2f} GiB, {time.monotonic() - started:.0f} s)")
    return path


def file_size_gib(path: Path) -> float:
    return Path(path).stat().st_size / 2**30


def run_quiet(argv, timeout: float, **kw) -> subprocess.CompletedProcess:
    """``subprocess.run`` with output captured and a hard timeout (failing loudly)."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"`{' '.join(map(str, argv))}` exited {r.returncode}: {(r.stderr or r.stdout)[-800:]}")
    return r

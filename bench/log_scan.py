"""HTTP 500 per minute over >= 1 GiB of request logs: ``logs.count_status_per_minute`` versus ``grep -c``.

The logs are generated fast (about 10 s) into ``logs/application/app-YYYY-MM-DD.log`` files of a
temporary folder (on the tmpfs ``/dev/shm`` when it has room: both sides read from memory, as
they would from the page cache, and no gigabyte of writeback slows the next benchmark), in the
sandbox's request-log format (one JSON object per line, ``ts`` first)::

    {"ts":"2026-12-03T18:50:01.123Z","level":"error","method":"GET","path":"/health","status":500,"ms":3,"error":"..."}

with a realistic mix: mostly 200, some 201/204/301/304/400/401/403/404/429/502/503, about 1% of
500 in normal hours and an incident window (a few hours a day) where half the answers are 500.

- baseline: ``grep -c '"status":500' FILES`` (one count per file, nothing per minute);
- ours: ``runbook.logs.count_status_per_minute(LocalTarget(), "<dir>/app-*.log")``, the call of
  phase 07: the scan runs on the host as one pipeline and only one line per minute comes back.

Both are run with the caller's environment (locale included). The sum of ours' per-minute
counts must equal the baseline's total: the run fails otherwise.

Usage: ``.venv/bin/python bench/log_scan.py [--quick] [--runs N]``
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import finish, fmt, median, parse_args, say, setup, tmpdir

NAME = "log_scan"
SIZE = 1.05 * 2**30  # a bit over 1 GiB
QUICK_SIZE = 4 * 2**20
GOAL = 1.5

PATHS = ["/health", "/api/health", "/api/users/me", "/api/emails", "/api/emails/send", "/api/webhooks",
         "/api/domains", "/api/auth/login"]
METHODS = {"/api/emails/send": "POST", "/api/auth/login": "POST"}
ERRORS = {500: "SqliteError: no such column: is_verified", 502: "upstream closed", 503: "service unavailable"}
# status -> weight (per 1000) outside and inside the incident window
NORMAL = {200: 860, 201: 30, 204: 10, 301: 5, 304: 20, 400: 10, 401: 20, 403: 5, 404: 20, 429: 5, 500: 10, 502: 3, 503: 2}
INCIDENT = {200: 420, 201: 10, 204: 5, 304: 10, 400: 5, 401: 20, 404: 20, 429: 5, 500: 500, 502: 3, 503: 2}


def _pool(weights: dict, rng: random.Random, n: int = 4096) -> list[str]:
    """``n`` line tails (everything after the timestamp) drawn from a status mix."""
    statuses = rng.choices(list(weights), weights=list(weights.values()), k=n)
    out = []
    for status in statuses:
        path = rng.choice(PATHS)
        level = "error" if status >= 500 else "warn" if status >= 400 else "info"
        tail = f'","level":"{level}","method":"{METHODS.get(path, "GET")}","path":"{path}","status":{status},"ms":{rng.randint(1, 900)}'
        if status in ERRORS:
            tail += f',"error":"{ERRORS[status]}"'
        out.append(tail + "}\n")
    return out


def generate(folder: Path, size: float, seed: int = 7) -> dict:
    """Write about ``size`` bytes of request logs, one file per day; return files, bytes, lines."""
    rng = random.Random(seed)
    normal, incident = _pool(NORMAL, rng), _pool(INCIDENT, rng)
    app = folder / "logs" / "application"
    app.mkdir(parents=True)
    start = datetime(2026, 11, 20, tzinfo=timezone.utc)
    per_minute = 700  # requests per minute: ~1 M lines and ~140 MB per day
    written = lines = 0
    files = []
    minute = 0
    fh = None
    day = None
    while written < size:
        t = start + timedelta(minutes=minute)
        if t.date() != day:
            if fh:
                fh.close()
            day = t.date()
            path = app / f"app-{day.isoformat()}.log"
            files.append(path)
            fh = open(path, "w", buffering=1 << 20)
        # The incident: 18:40-21:10 every day (the release went out at 18:40).
        pool = incident if (18 * 60 + 40) <= t.hour * 60 + t.minute < (21 * 60 + 10) else normal
        prefix = '{"ts":"' + t.strftime("%Y-%m-%dT%H:%M:")
        n = per_minute + rng.randint(-150, 150)
        offsets = sorted(rng.randrange(60000) for _ in range(n))
        ticks = [f"{o // 1000:02d}.{o % 1000:03d}Z" for o in offsets]
        k = rng.randrange(len(pool))
        chunk = "".join(prefix + ticks[j] + pool[(k + j * 7) % len(pool)] for j in range(n))
        fh.write(chunk)
        written += len(chunk)
        lines += n
        minute += 1
    if fh:
        fh.close()
    return {"files": files, "bytes": sum(p.stat().st_size for p in files), "lines": lines, "minutes": minute}


def baseline(files: list[Path]) -> tuple[float, int]:
    t0 = time.monotonic()
    r = subprocess.run(["grep", "-c", '"status":500', *map(str, files)], capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - t0
    if r.returncode > 1:
        raise RuntimeError(f"grep -c failed: {r.stderr[:300]}")
    total = sum(int(line.rpartition(":")[2]) for line in r.stdout.splitlines())
    return elapsed, total


def ours(glob: str) -> tuple[float, int, int]:
    from runbook.logs import count_status_per_minute
    from runbook.target import LocalTarget

    t0 = time.monotonic()
    df = count_status_per_minute(LocalTarget(command_timeout=600), glob)
    elapsed = time.monotonic() - t0
    return elapsed, int(df["count"].sum()), len(df)


def main() -> int:
    args = parse_args(__doc__, runs=5)
    size = QUICK_SIZE if args.quick else SIZE
    import pandas  # noqa: F401  (imported before timing: ours is a library call inside a loaded kernel)

    work = tmpdir("logs", in_memory_bytes=int(size))  # no disk writeback behind the next benchmarks
    try:
        t0 = time.monotonic()
        gen = generate(work, size)
        gen_s = time.monotonic() - t0
        files = gen["files"]
        glob = str(work / "logs" / "application" / "app-*.log")
        setup(NAME, logs=f"{len(files)} files, {gen['bytes'] / 2**30:.2f} GiB, {gen['lines']:,} lines, "
                         f"{gen['minutes']:,} minutes (generated in {gen_s:.1f} s) in {glob}",
              locale=f"LANG={os.environ.get('LANG', '')} LC_ALL={os.environ.get('LC_ALL', '')}",
              baseline="grep -c '\"status\":500' FILES",
              ours="runbook.logs.count_status_per_minute(LocalTarget(), GLOB) (phase 07)",
              runs=f"{args.runs} per side, alternating, after one untimed warm-up read of the files")
        baseline(files)  # warm-up: both sides then read from the page cache
        runs = {"baseline": [], "ours": []}
        for i in range(args.runs):
            b_s, b_total = baseline(files)
            o_s, o_total, minutes = ours(glob)
            if o_total != b_total:
                raise SystemExit(f"ours counted {o_total} HTTP 500 but grep -c counted {b_total}")
            runs["baseline"].append({"seconds": b_s, "count": b_total})
            runs["ours"].append({"seconds": o_s, "count": o_total, "minutes": minutes})
            say(f"run {i + 1}: baseline {fmt(b_s)} ({b_total:,} lines with 500), "
                f"ours {fmt(o_s)} ({o_total:,} in {minutes:,} minutes)")
        b = median([r["seconds"] for r in runs["baseline"]])
        o = median([r["seconds"] for r in runs["ours"]])
        say(f"throughput: baseline {gen['bytes'] / 2**20 / b:.0f} MiB/s, ours {gen['bytes'] / 2**20 / o:.0f} MiB/s")
        finish(NAME, o, b, quick=args.quick, goal=f"ours/baseline time <= {GOAL}", met=o / b <= GOAL,
               extra={"bytes": gen["bytes"], "lines": gen["lines"], "files": len(files)}, runs=runs)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

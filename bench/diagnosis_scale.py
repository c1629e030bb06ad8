"""Scale of phase 02's diagnosis: a snapshot with 10 million emails versus one with 10 thousand.

Both databases are sandbox databases in the incident's state (``email_verified_only``),
generated once by ``sandbox up --emails N`` into ``bench/.cache/`` (10 M emails: about 3 GB and
2-3 minutes on 2 cores; later runs reuse the file).

Each run is a fresh child process (so its peak RSS is its own) that imports the library,
then times phase 02's library call on the snapshot (``steps.diagnose_snapshot`` without the
listing of the migration folder; the notebook's tables come from its result)::

    diagnosis.diagnose(DB, FILES, system_user_email="system@ultrazend.com.br")

and reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. ``FILES`` are the sandbox's migration
file names, listed as phase 02 lists them. The baseline is the 10 thousand emails database, ours
the 10 million one: RATIO is time(10 M) / time(10 k). The first run of each size reads the file
from disk (it is printed); later runs find it in the page cache (23 GB of RAM here).

Usage: ``.venv/bin/python bench/diagnosis_scale.py [--quick] [--runs N]``
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from _common import ROOT, cached_db, file_size_gib, finish, fmt, median, parse_args, say, setup

NAME = "diagnosis_scale"
SMALL, LARGE = 10_000, 10_000_000
QUICK_SMALL, QUICK_LARGE = 2_000, 10_000
TIME_GOAL, RSS_GOAL_MB = 3.0, 300.0
CHILD_TIMEOUT = 600


def child(db: str) -> None:
    """The measured process: import, then time the calls; print one JSON line."""
    import resource

    from runbook import diagnosis
    from runbook.knex import list_migration_files
    from runbook.target import LocalTarget

    files = list_migration_files(LocalTarget(), str(ROOT / "sandbox" / "src" / "migrations"))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    d = diagnosis.diagnose(db, files, system_user_email="system@ultrazend.com.br")
    t1 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    print(json.dumps({"seconds": t1 - t0, "rss_mb": rss, "rss_after_imports_mb": rss_before,
                      "emails": d.counts.get("emails"), "tables": len(d.counts), "findings": len(d.findings),
                      "case": d.column_case}))


def measure(db) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", str(db)], capture_output=True, text=True,
                       timeout=CHILD_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"the child failed on {db}: {r.stderr[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    args = parse_args(__doc__, runs=3)
    small_n, large_n = (QUICK_SMALL, QUICK_LARGE) if args.quick else (SMALL, LARGE)
    small, large = cached_db(small_n), cached_db(large_n)
    setup(NAME, small=f"{small.name}: {small_n:,} emails, {file_size_gib(small) * 1024:.1f} MiB",
          large=f"{large.name}: {large_n:,} emails, {file_size_gib(large):.2f} GiB",
          calls="diagnosis.diagnose (phase 02), in a fresh child process per run",
          baseline=f"{small_n:,} emails", ours=f"{large_n:,} emails",
          runs=f"{args.runs} per size, alternating")
    runs = {"small": [], "large": []}
    for i in range(args.runs):
        for size, db in (("small", small), ("large", large)):
            r = measure(db)
            runs[size].append(r)
            say(f"run {i + 1} {size:5}: {fmt(r['seconds'])}, peak RSS {r['rss_mb']:.0f} MB "
                f"({r['rss_after_imports_mb']:.0f} MB after imports), {r['emails']:,} emails, {r['findings']} findings")
    t_small = median([r["seconds"] for r in runs["small"]])
    t_large = median([r["seconds"] for r in runs["large"]])
    rss_large = max(r["rss_mb"] for r in runs["large"])
    rss_small = max(r["rss_mb"] for r in runs["small"])
    ratio = t_large / t_small
    say(f"peak RSS: {rss_small:.0f} MB at {small_n:,} emails, {rss_large:.0f} MB at {large_n:,} emails "
        f"(goal < {RSS_GOAL_MB:.0f} MB: {'MET' if rss_large < RSS_GOAL_MB else 'NOT MET'})")
    say(f"RSS {NAME} {rss_large:.1f}")
    finish(NAME, t_large, t_small, quick=args.quick,
           goal=f"time ratio <= {TIME_GOAL:g} and peak RSS < {RSS_GOAL_MB:.0f} MB",
           met=ratio <= TIME_GOAL and rss_large < RSS_GOAL_MB,
           extra={"rss_large_mb": rss_large, "rss_small_mb": rss_small, "time_ratio_met": ratio <= TIME_GOAL,
                  "rss_met": rss_large < RSS_GOAL_MB, "small_emails": small_n, "large_emails": large_n,
                  "large_gib": file_size_gib(large)}, runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scale of phase 02's diagnosis: a snapshot with 10 million emails versus one with 10 thousand.

Both databases are sandbox databases in the incident's state (``email_verified_only``),
generated once by ``sandbox up --emails N`` into ``bench/.cache/`` (10 M emails: about 3 GB and
2-3 minutes on 2 cores; later runs reuse the file).

Each run is a fresh child process (so its peak RSS is its own) that imports the library,
then times, on the snapshot, the two calls a run makes with it::

    counts = schema.row_counts(DB)              # phase 01, once, when it fetches the snapshot
    diagnosis.diagnose(DB, FILES, system_user_email="system@ultrazend.com.br",
                       counts=counts)           # phase 02 (steps.diagnose_snapshot), counts from 01's record

and reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. ``FILES`` are the sandbox's migration
file names, listed as phase 02 lists them. The baseline is the 10 thousand emails database, ours
the 10 million one: RATIO is phase 02's time(10 M) / time(10 k); the count's own times and ratio
are printed beside it (``count(*)`` walks a whole index: it is the part that grows). The first
run of each size reads the file from disk (it is printed); later runs find it in the page cache.

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

    from runbook import diagnosis, schema
    from runbook.knex import list_migration_files
    from runbook.target import LocalTarget

    files = list_migration_files(LocalTarget(), str(ROOT / "sandbox" / "src" / "migrations"))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    counts = schema.row_counts(db)
    t1 = time.perf_counter()
    d = diagnosis.diagnose(db, files, system_user_email="system@ultrazend.com.br", counts=counts)
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    print(json.dumps({"seconds": t2 - t1, "count_seconds": t1 - t0, "rss_mb": rss, "rss_after_imports_mb": rss_before,
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
          calls="schema.row_counts (phase 01, once) then diagnosis.diagnose with those counts (phase 02), "
                "in a fresh child process per run",
          baseline=f"{small_n:,} emails", ours=f"{large_n:,} emails",
          runs=f"{args.runs} per size, alternating")
    runs = {"small": [], "large": []}
    for i in range(args.runs):
        for size, db in (("small", small), ("large", large)):
            r = measure(db)
            runs[size].append(r)
            say(f"run {i + 1} {size:5}: phase 02 {fmt(r['seconds'])} (phase 01's count {fmt(r['count_seconds'])}), "
                f"peak RSS {r['rss_mb']:.0f} MB "
                f"({r['rss_after_imports_mb']:.0f} MB after imports), {r['emails']:,} emails, {r['findings']} findings")
    t_small = median([r["seconds"] for r in runs["small"]])
    t_large = median([r["seconds"] for r in runs["large"]])
    rss_large = max(r["rss_mb"] for r in runs["large"])
    rss_small = max(r["rss_mb"] for r in runs["small"])
    ratio = t_large / t_small
    c_small = median([r["count_seconds"] for r in runs["small"]])
    c_large = median([r["count_seconds"] for r in runs["large"]])
    say(f"phase 01's count of the fetched snapshot: {fmt(c_small)} at {small_n:,} emails, {fmt(c_large)} at "
        f"{large_n:,} (ratio {c_large / c_small:.1f}; made once per run, not in the RATIO below)")
    say(f"peak RSS: {rss_small:.0f} MB at {small_n:,} emails, {rss_large:.0f} MB at {large_n:,} emails "
        f"(goal < {RSS_GOAL_MB:.0f} MB: {'MET' if rss_large < RSS_GOAL_MB else 'NOT MET'})")
    say(f"RSS {NAME} {rss_large:.1f}")
    finish(NAME, t_large, t_small, quick=args.quick,
           goal=f"time ratio <= {TIME_GOAL:g} and peak RSS < {RSS_GOAL_MB:.0f} MB",
           met=ratio <= TIME_GOAL and rss_large < RSS_GOAL_MB,
           extra={"rss_large_mb": rss_large, "rss_small_mb": rss_small, "time_ratio_met": ratio <= TIME_GOAL,
                  "rss_met": rss_large < RSS_GOAL_MB, "small_emails": small_n, "large_emails": large_n,
                  "large_gib": file_size_gib(large), "count_small_s": c_small, "count_large_s": c_large}, runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

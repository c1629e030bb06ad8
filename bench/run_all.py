"""Run every benchmark of ``bench/`` in one invocation (``make bench``) and print the results table.

Each script runs as its own process, one after the other (the machine has few cores: two
benchmarks at once would measure each other), with its output streamed as it comes and a
hard time limit. At the end the ``RATIO`` lines and a Markdown table built from
``bench/results/*.json`` are printed, and the table is written to ``bench/results/summary.md``.
The exit code is 1 when a script failed or printed no ``RATIO`` line; a goal that is not met is
a result, not a failure.

Usage: ``.venv/bin/python bench/run_all.py [--quick] [--only NAME[,NAME]]``
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

from _common import BENCH, RESULTS, machine

# Order: the cache builders first (diagnosis_scale makes the 10 M emails database, backup_ssh the
# 1 GiB one), the sandbox-heavy ones last. Limits are per script, far above their normal time.
SCRIPTS = [("log_scan", 300), ("diagnosis_scale", 600), ("backup_ssh", 600), ("overhead", 420), ("downtime", 600)]
RATIO = re.compile(r"^RATIO (\S+) (\S+)$", re.M)


def run(name: str, limit: int, quick: bool) -> tuple[int, str, float]:
    argv = [sys.executable, "-u", str(BENCH / f"{name}.py")] + (["--quick"] if quick else [])
    print(f"\n######## {name} (limit {limit} s): {' '.join(argv[2:])}", flush=True)
    t0 = time.monotonic()
    out: list[str] = []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=BENCH.parent)
    assert proc.stdout is not None
    try:
        deadline = t0 + limit
        for line in proc.stdout:
            # Kernels print a warning about TCP without encryption to stderr: loopback only, not news.
            if "Kernel is running over TCP without encryption" in line:
                continue
            out.append(line)
            print(line, end="", flush=True)
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(argv, limit)
        code = proc.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _stop(proc)
        print(f"######## {name}: stopped after {limit} s", flush=True)
        code = 124
    except BaseException:  # run_all itself stopped (SIGTERM, Ctrl-C): stop the script too, then leave
        _stop(proc)
        raise
    return code, "".join(out), time.monotonic() - t0


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the script's finally blocks take its sandbox and sshd down), SIGKILL after 60 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def table(names: list[str], quick: bool) -> str:
    m = machine()
    rows = ["| benchmark | baseline (median) | ours (median) | RATIO ours/baseline | goal | met |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name in names:
        path = RESULTS / f"{name}{'.quick' if quick else ''}.json"
        if not path.is_file():
            rows.append(f"| {name} | - | - | - | - | no result |")
            continue
        d = json.loads(path.read_text())
        unit = d.get("unit", "s")
        extra = ""
        if name == "diagnosis_scale":
            extra = f"; peak RSS {d['extra'].get('rss_large_mb', 0):.0f} MB"
        if name == "overhead":
            extra = f"; overhead {d['extra'].get('share_ours', 0):.0%} of ours' total"
        if name == "downtime":
            extra = f"; no-answer ratio {d['extra'].get('no_answer_ratio', float('nan')):.3f}"
        rows.append(f"| {name} | {d['baseline']:.3f} {unit} | {d['ours']:.3f} {unit} | {d['ratio']:.3f}{extra} | "
                    f"{d.get('goal', '')} | {'yes' if d.get('met') else 'NO'} |")
    return f"Machine: nproc {m['nproc']}, {m['memory_gib']} GiB RAM, {m['cpu']}, Python {m['python']}\n\n" + "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="every script with --quick (the smoke test's sizes)")
    p.add_argument("--only", default="", help="comma-separated names, e.g. log_scan,overhead")
    args = p.parse_args()
    chosen = [s for s in SCRIPTS if not args.only or s[0] in args.only.split(",")]
    started = time.monotonic()
    ratios, failed = {}, []
    for name, limit in chosen:
        code, out, seconds = run(name, limit, args.quick)
        found = RATIO.findall(out)
        if code != 0 or not found:
            failed.append(f"{name} (exit {code}{', no RATIO line' if not found else ''})")
        for n, value in found:
            ratios[n] = value
        print(f"######## {name}: exit {code} in {seconds:.0f} s", flush=True)
    total = time.monotonic() - started
    print(f"\n######## all benchmarks in {total / 60:.1f} min")
    for name, value in ratios.items():
        print(f"RATIO {name} {value}")
    summary = table([n for n, _ in chosen], args.quick)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"summary{'.quick' if args.quick else ''}.md").write_text(summary + f"\n\nTotal: {total / 60:.1f} min\n")
    print("\n" + summary)
    if failed:
        print("\nFAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

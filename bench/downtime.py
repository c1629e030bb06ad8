"""Downtime of a full applying run: ours versus the seed's order, run by the same tool.

Each run gets a fresh ``email_verified_only`` sandbox (the incident: ``/health`` answers 500)
and a sampler thread that asks ``GET /health`` every 100 ms with urllib while
``runbook run PARAMS --apply`` executes every phase (00-08, 99) as a subprocess.

- baseline, the seed's order: ``backup.stop_services: true``, so phase 01 stops PM2 before the
  backup and the app is back only when phase 06's deploy script runs ``pm2 startOrReload``;
- ours: the default params (the app keeps serving; phase 03 applies the fix to the live database).

Figures, per run, over the run's wall time [start of ``runbook run``, its exit]:

- ``not_200_s`` (the RATIO figure): seconds during which ``/health`` did not answer 200.
  Both orders start broken (HTTP 500), so this is the time from the start of the run until the
  first sustained 200 (a 200 followed only by 200s until the run ends), minus any 200 stretch
  in between; every sample holds until the next one (time-weighted, not a count of samples);
- ``no_answer_s``: seconds with no HTTP answer at all (connection refused, reset or timed out):
  the service was down, not merely broken;
- ``first_200_s`` and ``sustained_200_s``: from the start of the run.

Usage: ``.venv/bin/python bench/downtime.py [--quick] [--runs N]``
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import (VENV_BIN, finish, fmt, median, parse_args, sandbox, sandbox_params, say, setup)

NAME = "downtime"
INTERVAL = 0.1
PROBE_TIMEOUT = 2.0  # a busy 2-core machine can be slow to answer; slower counts as no answer
RUN_TIMEOUT = 600
GOAL = 0.10


class Sampler(threading.Thread):
    """``GET url`` on a 100 ms grid until stopped (or ``limit`` seconds); keeps (monotonic time, code)."""

    def __init__(self, url: str, limit: float):
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, int | None]] = []
        self.deadline = time.monotonic() + limit
        self.halt = threading.Event()

    def probe(self) -> int | None:
        try:
            with urllib.request.urlopen(self.url, timeout=PROBE_TIMEOUT) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return None  # refused, reset or timed out: no answer

    def run(self) -> None:
        tick = time.monotonic()
        while not self.halt.is_set() and time.monotonic() < self.deadline:
            t = time.monotonic()
            self.samples.append((t, self.probe()))
            tick += INTERVAL
            now = time.monotonic()
            if tick < now:  # a slow answer: skip the ticks it covered, stay on the grid
                tick += ((now - tick) // INTERVAL + 1) * INTERVAL
            self.halt.wait(tick - now)

    def stop(self) -> None:
        self.halt.set()
        self.join(PROBE_TIMEOUT + 1)


def figures(samples: list[tuple[float, int | None]], start: float, end: float) -> dict:
    """Time-weighted figures of the samples over [start, end] (each sample holds until the next)."""
    spans = []
    for i, (t, code) in enumerate(samples):
        nxt = samples[i + 1][0] if i + 1 < len(samples) else end
        lo, hi = max(t, start), min(nxt, end)
        if hi > lo:
            spans.append((lo, hi, code))
    not_200 = sum(hi - lo for lo, hi, c in spans if c != 200)
    no_answer = sum(hi - lo for lo, hi, c in spans if c is None)
    http_500 = sum(hi - lo for lo, hi, c in spans if c is not None and c >= 500)
    first_200 = next((lo - start for lo, _hi, c in spans if c == 200), None)
    last_bad = max((hi for _lo, hi, c in spans if c != 200), default=start)
    sustained = (last_bad - start) if spans and spans[-1][2] == 200 else None
    return {"not_200_s": not_200, "no_answer_s": no_answer, "http_5xx_s": http_500, "first_200_s": first_200,
            "sustained_200_s": sustained, "wall_s": end - start, "samples": len(spans),
            "final_code": spans[-1][2] if spans else None}


def one_run(order: str, emails: int, phases: str | None) -> dict:
    """A fresh sandbox, the sampler, and ``runbook run --apply``; the figures of that run."""
    stop_services = order == "seed"
    runbook = VENV_BIN / "runbook"
    argv_base = [str(runbook)] if runbook.exists() else [sys.executable, "-m", "runbook.cli"]
    with sandbox("email_verified_only", emails=emails) as info:
        base = Path(info["base"])
        params = sandbox_params(info, base / f"{order}.yaml", backup={"stop_services": stop_services})
        sampler = Sampler(f"{info['api_url']}/health", limit=RUN_TIMEOUT + 30)
        sampler.start()
        time.sleep(0.5)  # a few samples of the incident before the run starts
        argv = [*argv_base, "run", str(params), "--apply", "--output-dir", str(base / "outputs"), "--run-id", order]
        if phases:
            argv += ["--phases", phases]
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        finally:
            end = time.monotonic()
            time.sleep(1.0)  # the state right after the run, for final_code's context
            sampler.stop()
        if proc.returncode != 0:
            raise RuntimeError(f"runbook run ({order}) exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        result = figures(sampler.samples, start, end)
        result["phases"] = {m.group(1): float(m.group(2)) for m in
                            re.finditer(r"\] (\d\d) .*?: passed \(([\d.]+) s\)", proc.stdout)}
        return result


def main() -> int:
    args = parse_args(__doc__, runs=3)
    emails = 300 if args.quick else 5000
    # --quick: 04 and 05 change nothing, 07, 08 and 99 come after both orders recovered.
    phases = "00-03,06" if args.quick else None
    setup(NAME, sandbox=f"fresh email_verified_only sandbox per run, {emails} emails",
          command=f"runbook run PARAMS --apply{' --phases ' + phases if phases else ''} (phases {phases or '00-08, 99'})",
          sampler=f"GET /health every {INTERVAL * 1000:.0f} ms with urllib (timeout {PROBE_TIMEOUT:g} s)",
          baseline="seed order: backup.stop_services true (01 stops PM2; 06's deploy brings it back)",
          ours="default params: services keep running; the fix lands in phase 03",
          runs=f"{args.runs} per order, alternating")
    runs = {"seed": [], "ours": []}
    for i in range(args.runs):
        for order in ("seed", "ours"):
            r = one_run(order, emails, phases)
            runs[order].append(r)
            ph = ", ".join(f"{k} {v:.1f}s" for k, v in r["phases"].items())
            say(f"run {i + 1} {order:4}: not 200 {fmt(r['not_200_s'])}, no answer {fmt(r['no_answer_s'])}, "
                f"first 200 at {fmt(r['first_200_s'] if r['first_200_s'] is not None else float('nan'))}, "
                f"sustained 200 from {fmt(r['sustained_200_s'] if r['sustained_200_s'] is not None else float('nan'))}, "
                f"run {fmt(r['wall_s'])}, final {r['final_code']} | {ph}")
    med = {o: {k: median([r[k] for r in rs]) for k in ("not_200_s", "no_answer_s", "first_200_s", "sustained_200_s", "wall_s")}
           for o, rs in runs.items()}
    for o in ("seed", "ours"):
        say(f"median {o}: " + ", ".join(f"{k} {fmt(v)}" for k, v in med[o].items()))
    no_answer_ratio = med["ours"]["no_answer_s"] / med["seed"]["no_answer_s"] if med["seed"]["no_answer_s"] else float("nan")
    say(f"no-answer ratio (ours/seed): {no_answer_ratio:.4f}")
    ratio = med["ours"]["not_200_s"] / med["seed"]["not_200_s"]
    finish(NAME, med["ours"]["not_200_s"], med["seed"]["not_200_s"], quick=args.quick,
           goal=f"ours/seed not-200 seconds <= {GOAL:.2f}", met=ratio <= GOAL,
           extra={"medians": med, "no_answer_ratio": no_answer_ratio, "emails": emails, "phases": phases or "00-08,99"},
           runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

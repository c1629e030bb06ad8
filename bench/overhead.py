"""Runbook overhead: wall time of phases 00-04 (dry run) split into the cells' own work and the rest.

One ``email_verified_only`` sandbox serves every run (a dry run changes nothing but the backups
folder). Each run executes the notebooks of phases 00-04 with the same parameters:

- baseline: Papermill's default engine in a loop, a new kernel per phase::

      for nb in 00..04: papermill.execute_notebook(nb, out, parameters=P, kernel_name="python3", cwd=notebooks/)

- ours: ``runbook.pipeline.run(PARAMS, phases="00-04")``: one shared kernel for every phase
  (``lib/runbook/engine.py``), plus what the pipeline adds: manifest, records, HTML renderings
  (made on a worker thread while the next phase runs) and the index page.

The split, from each executed notebook's metadata:

- ``cells``: sum of ``metadata.papermill.duration`` of every code cell, i.e. the library's own work
  (including the imports the notebooks' cells make);
- ``overhead``: total wall time minus ``cells``: kernel start(s), Papermill's bookkeeping
  (reading, parameter injection, saving the notebook after every cell), and, for ours, the HTML
  renderings and the manifest. Kernel start is measured separately (median of 3 starts) and
  the HTML rendering of the five notebooks too (in ours it overlaps the next phase).

RATIO is ours' overhead seconds / the baseline's; the goal is ours' overhead under 25 % of ours'
total.

Usage: ``.venv/bin/python bench/overhead.py [--quick] [--runs N]``
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from _common import finish, fmt, median, parse_args, sandbox, sandbox_params, say, setup, tmpdir

NAME = "overhead"
GOAL = 0.25


def cells_seconds(run_dir: Path, stems: list[str]) -> tuple[float, float]:
    """(sum of code-cell durations, sum of notebook durations) over the executed notebooks."""
    import nbformat

    cells = notebooks = 0.0
    for stem in stems:
        nb = nbformat.read(run_dir / f"{stem}.ipynb", as_version=4)
        notebooks += float(nb.metadata.get("papermill", {}).get("duration") or 0.0)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cells += float(cell.metadata.get("papermill", {}).get("duration") or 0.0)
    return cells, notebooks


def kernel_start_seconds(n: int = 3) -> float:
    """Median time to start a python3 kernel and get its first reply (what each Papermill phase pays)."""
    from jupyter_client.manager import start_new_kernel

    times = []
    for _ in range(n):
        t0 = time.monotonic()
        km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
        times.append(time.monotonic() - t0)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return median(times)


def render_seconds(run_dir: Path, stems: list[str]) -> float:
    """Time to render the executed notebooks as the pipeline does (full and stakeholder HTML)."""
    from runbook.render import render_notebook

    scratch = run_dir / "render-bench"
    scratch.mkdir()
    t0 = time.monotonic()
    for stem in stems:
        render_notebook(run_dir / f"{stem}.ipynb", scratch / f"{stem}.html")
        render_notebook(run_dir / f"{stem}.ipynb", scratch / f"{stem}.stakeholder.html", hide_code=True)
    return time.monotonic() - t0


def baseline(params_file: Path, phases: str, out: Path) -> dict:
    import papermill as pm

    from runbook import pipeline
    from runbook.params import load_params

    t0 = time.monotonic()
    params = load_params(params_file, apply=False)
    ids = pipeline.select_phases(phases)
    out.mkdir(parents=True)
    parameters = {**params.to_dict(), "run_dir": str(out.resolve())}
    stems = []
    for pid in ids:
        spec = pipeline.BY_ID[pid]
        pm.execute_notebook(str(spec.notebook), str(out / f"{spec.stem}.ipynb"), parameters=parameters,
                            kernel_name="python3", cwd=str(pipeline.NOTEBOOKS_DIR), progress_bar=False)
        stems.append(spec.stem)
    total = time.monotonic() - t0
    cells, notebooks = cells_seconds(out, stems)
    return {"total_s": total, "cells_s": cells, "overhead_s": total - cells, "notebooks_s": notebooks,
            "stems": stems, "dir": out}


def ours(params_file: Path, phases: str, out: Path) -> dict:
    from runbook import pipeline

    t0 = time.monotonic()
    outcome = pipeline.run(params_file, phases=phases, output_dir=out, run_id="ours", progress=lambda _l: None)
    total = time.monotonic() - t0
    if outcome.exit_code != 0:
        raise RuntimeError(f"pipeline.run failed: {outcome.message}")
    stems = [pipeline.BY_ID[p].stem for p in outcome.statuses]
    cells, notebooks = cells_seconds(outcome.run_dir, stems)
    return {"total_s": total, "cells_s": cells, "overhead_s": total - cells, "notebooks_s": notebooks,
            "stems": stems, "dir": outcome.run_dir}


def main() -> int:
    args = parse_args(__doc__, runs=3)
    phases = "00-01" if args.quick else "00-04"
    emails = 300 if args.quick else 5000
    work = tmpdir("overhead")
    try:
        with sandbox("email_verified_only", emails=emails) as info:
            params = sandbox_params(info, work / "params.yaml")
            setup(NAME, sandbox=f"email_verified_only, {emails} emails, dry run (apply: false)",
                  phases=phases,
                  baseline="papermill.execute_notebook(..., kernel_name='python3') per phase (new kernel each)",
                  ours="runbook.pipeline.run(PARAMS, phases=...) (one shared kernel, records, HTML, manifest)",
                  runs=f"{args.runs} per side, alternating" + ("" if args.quick else ", after one untimed warm-up of each"))
            if not args.quick:  # file and import caches warm for both sides
                baseline(params, phases, work / "warm-baseline")
                ours(params, phases, work / "warm-ours")
            runs = {"baseline": [], "ours": []}
            for i in range(args.runs):
                for side, fn in (("baseline", baseline), ("ours", ours)):
                    r = fn(params, phases, work / f"{side}-{i}")
                    runs[side].append({k: v for k, v in r.items() if k.endswith("_s")})
                    say(f"run {i + 1} {side:8}: total {fmt(r['total_s'])}, in cells {fmt(r['cells_s'])}, "
                        f"overhead {fmt(r['overhead_s'])} ({r['overhead_s'] / r['total_s']:.0%}); "
                        f"notebooks (papermill) {fmt(r['notebooks_s'])}")
            kernel = kernel_start_seconds(1 if args.quick else 3)
            render = render_seconds(r["dir"], r["stems"])
        med = {side: {k: median([r[k] for r in rs]) for k in rs[0]} for side, rs in runs.items()}
        n = len(r["stems"])
        for side in ("baseline", "ours"):
            m = med[side]
            say(f"median {side}: total {fmt(m['total_s'])}, in cells {fmt(m['cells_s'])}, overhead "
                f"{fmt(m['overhead_s'])} = {m['overhead_s'] / m['total_s']:.1%} of the total")
        b, o = med["baseline"], med["ours"]
        say(f"kernel start measured alone: {fmt(kernel)} (median); HTML rendering of the {n} executed notebooks "
            f"measured alone: {fmt(render)}")
        say(f"split baseline: inside Papermill outside cells {fmt(b['notebooks_s'] - b['cells_s'])} "
            f"(~{n} kernel starts = {fmt(n * kernel)}, the rest is Papermill's bookkeeping); "
            f"around Papermill {fmt(b['total_s'] - b['notebooks_s'])}")
        say(f"split ours: inside Papermill outside cells {fmt(o['notebooks_s'] - o['cells_s'])} (the one kernel "
            f"start lands in the first notebook, plus the reset and Papermill's bookkeeping per notebook); "
            f"around Papermill (params, manifest, records, waiting for the HTML thread, index) "
            f"{fmt(o['total_s'] - o['notebooks_s'])}")
        share = o["overhead_s"] / o["total_s"]
        say(f"overhead share: baseline {b['overhead_s'] / b['total_s']:.1%}, ours {share:.1%} (goal < {GOAL:.0%})")
        say(f"total time ratio ours/baseline: {o['total_s'] / b['total_s']:.3f}")
        finish(NAME, o["overhead_s"], b["overhead_s"], quick=args.quick,
               goal=f"ours' overhead < {GOAL:.0%} of ours' total", met=share < GOAL,
               extra={"medians": med, "share_ours": share, "share_baseline": b["overhead_s"] / b["total_s"],
                      "kernel_start_s": kernel, "render_s": render, "phases": phases,
                      "total_ratio": o["total_s"] / b["total_s"]}, runs=runs)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

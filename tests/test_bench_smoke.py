"""Smoke test of ``bench/``: every benchmark script runs at a tiny size (``--quick``) and prints
its ``RATIO`` line, so the benchmarks cannot rot. The real figures come from ``make bench``
(bench/README.md); here only the plumbing is checked: exit code 0, the setup printed, and a
``RATIO <name> <number>`` line whose name is the script's.
"""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys

import pytest

from runbook.params import PROJECT_ROOT

BENCH = PROJECT_ROOT / "bench"
SCRIPTS = ["log_scan", "diagnosis_scale", "backup_ssh", "overhead", "downtime"]
RATIO = re.compile(r"^RATIO (\S+) (\S+)$", re.M)


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPTS)
def test_bench_script_quick(name):
    r = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--quick"], cwd=PROJECT_ROOT,
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"{name} --quick exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert f"== bench {name} " in r.stdout and "\nsetup " in r.stdout, r.stdout[-2000:]
    found = RATIO.findall(r.stdout)
    assert [n for n, _ in found] == [name], r.stdout[-2000:]
    value = float(found[0][1])
    assert math.isfinite(value) and value > 0, f"RATIO {name} is {found[0][1]}"
    assert r.stdout.rstrip().splitlines()[-1].startswith(f"RATIO {name} "), "RATIO must be the last line"


def test_run_all_lists_every_script():
    """run_all.py runs exactly the scripts of bench/ (a new script must be added to both lists)."""
    # Read, not imported: importing the bench helpers would install their SIGTERM handler here.
    tree = ast.parse((BENCH / "run_all.py").read_text())
    listed = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SCRIPTS")
    scripts = sorted(p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_") and p.stem != "run_all")
    assert sorted(n for n, _ in listed) == scripts == sorted(SCRIPTS)

"""nbval (lax) over every notebook with its default parameters: the sandbox, dry run.

The notebooks' defaults target the default sandbox (``.sandbox/``, port 3001), so this test
brings that sandbox up in the incident state (replacing a demo sandbox if one runs) and takes
it down afterwards. The notebooks chain through one interactive run folder, as in JupyterLab.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from runbook import sandbox as sb
from runbook.params import PROJECT_ROOT


@pytest.fixture(scope="module")
def default_sandbox():
    info = sb.up(progress=None, emails=500)
    yield info
    sb.down(progress=None)


def test_every_notebook_runs_as_is_with_nbval(default_sandbox, tmp_path):
    database = default_sandbox["database"]
    before = hashlib.sha256(open(database, "rb").read()).hexdigest()
    env = {**os.environ, "RUNBOOK_INTERACTIVE_DIR": str(tmp_path / "interactive")}
    r = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                        "-o", "addopts=", str(PROJECT_ROOT / "notebooks")],
                       cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    cells = sum(1 for nb in (PROJECT_ROOT / "notebooks").glob("*.ipynb")
                for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    assert f"{cells} passed" in r.stdout, "every code cell of every notebook ran without error"
    # dry run: the sandbox database was not changed by any notebook
    assert hashlib.sha256(open(database, "rb").read()).hexdigest() == before
    records = sorted(p.name for p in (tmp_path / "interactive" / "records").glob("*.json"))
    assert records == [f"{n}.json" for n in ("00", "01", "02", "03", "04", "05", "06", "07", "08", "90", "99")]

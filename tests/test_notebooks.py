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
from pathlib import Path

import pytest

from runbook import sandbox as sb
from runbook.params import PROJECT_ROOT


@pytest.fixture(scope="module")
def default_sandbox():
    info = sb.up(progress=None, emails=500)
    yield info
    sb.down(progress=None)  # also stops the sshd of the SSH test below


def health(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


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


def test_shipped_ssh_params_repair_the_default_sandbox(default_sandbox, tmp_path):
    """params/sandbox-ssh.yaml as shipped, against `runbook sandbox up --ssh`'s sshd on 127.0.0.1:2222."""
    from runbook import pipeline
    from runbook.sandbox_cli import SSH_PORT
    from runbook.sshd import LocalSshd, ensure_sshd_installed

    ensure_sshd_installed()
    LocalSshd(state_dir=Path(default_sandbox["workdir"]) / "ssh", port=SSH_PORT).start()
    assert health(default_sandbox["api_url"]) == 500
    outcome = pipeline.run(PROJECT_ROOT / "params" / "sandbox-ssh.yaml", apply=True, phases="00-04",
                           output_dir=tmp_path, progress=lambda _l: None)
    assert outcome.exit_code == 0, outcome.message
    assert health(default_sandbox["api_url"]) == 200
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["params"]["target"] | {"port": 2222} == manifest["params"]["target"]
    assert manifest["params"]["target"]["kind"] == "ssh"

"""The `runbook` command end to end: bad input, a real archived run, failure messages, resume,
plan, report, tamper detection and the secret-leak scan."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runbook.manifest import verify_manifest
from runbook.params import PROJECT_ROOT

RUNBOOK = [sys.executable, "-m", "runbook.cli"]


def cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([*RUNBOOK, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=PROJECT_ROOT)


@pytest.fixture(scope="module")
def sbx(make_sandbox):
    return make_sandbox("email_verified_only")


def with_changes(sbx, tmp_path, **sections) -> Path:
    data = yaml.safe_load(sbx.params.read_text())
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("args, words", [
    (["run", "params/missing.yaml"], ["params file params/missing.yaml does not exist."]),
    (["run", "params/sandbox.yaml", "--phases", "42"], ["unknown phase '42'"]),
    (["run", "params/sandbox.yaml", "--phases", "04-02"], ["range '04-02'"]),
    (["run", "params/sandbox.yaml", "--run-id", "../escape"], ["plain folder name"]),
])
def test_bad_input_exits_2_with_one_sentence_and_no_run_folder(tmp_path, args, words):
    r = cli(*args, "--output-dir", tmp_path / "out")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for w in words:
        assert w in lines[0]
    assert not (tmp_path / "out").exists()


def test_unknown_key_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("target:\n  kind: local\nfoo: 1\n")
    r = cli("run", bad, "--output-dir", tmp_path / "out")
    assert r.returncode == 2
    assert f"{bad}: unknown key 'foo'" in r.stderr
    assert not (tmp_path / "out").exists()


def test_existing_run_id_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    r = cli("run", "params/sandbox.yaml", "--phases", "00", "--run-id", "taken", "--output-dir", tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr


def test_a_run_is_archived_with_a_chained_manifest(sbx, tmp_path):
    r = cli("run", sbx.params, "--phases", "00-02", "--run-id", "r1", "--output-dir", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[1/3] 00 Preflight ..." in r.stdout and "[3/3] 02 Diagnosis: passed" in r.stdout
    run_dir = tmp_path / "r1"
    assert f"report: {run_dir / 'index.html'}" in r.stdout
    for stem in ("00_preflight", "01_backup", "02_diagnosis"):
        for suffix in (".ipynb", ".html", ".stakeholder.html"):
            assert (run_dir / f"{stem}{suffix}").is_file()
    for nb in run_dir.glob("*.ipynb"):  # one shared kernel, yet no trace of it in the outputs
        assert "Session/line number was not unique" not in nb.read_text()
    stakeholder = (run_dir / "02_diagnosis.stakeholder.html").read_text()
    assert "start_phase" not in stakeholder and "findings" in stakeholder.lower()
    assert "start_phase" in (run_dir / "02_diagnosis.html").read_text()

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run_id"] == "r1" and manifest["phases"] == ["00", "01", "02"]
    assert manifest["params"]["app"]["root"] == sbx.info["app_root"]
    assert len(manifest["runbook_commit"]) >= 40
    phases = [e for e in manifest["entries"] if e["kind"] == "phase"]
    assert [(e["phase"], e["status"]) for e in phases] == [("00", "passed"), ("01", "passed"), ("02", "passed")]
    files = {e["path"] for e in manifest["entries"] if e["kind"] == "file"}
    assert {"01_backup.ipynb", "01_backup.html", "records/02.json", "files/snapshot_before.sqlite", "index.html"} <= files
    assert verify_manifest(run_dir) == []
    index = (run_dir / "index.html").read_text()
    assert "02_diagnosis.html" in index and "passed" in index

    # tampering shows: an edited file and an edited entry
    (run_dir / "records" / "02.json").write_text("{}")
    manifest["entries"][0]["status"] = "edited"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    v = cli("verify", run_dir)
    assert v.returncode == 1
    assert "records/02.json changed after it was archived" in v.stdout
    assert "entry 0 was modified" in v.stdout


def test_report_rerenders_html(sbx, tmp_path):
    assert cli("run", sbx.params, "--phases", "00", "--run-id", "r2", "--output-dir", tmp_path).returncode == 0
    run_dir = tmp_path / "r2"
    (run_dir / "index.html").unlink()
    (run_dir / "00_preflight.html").unlink()
    r = cli("report", run_dir)
    assert r.returncode == 0 and (run_dir / "index.html").is_file() and (run_dir / "00_preflight.html").is_file()
    assert verify_manifest(run_dir) == []


def test_rendered_pages_show_host_text_as_text(tmp_path, monkeypatch):
    """Markup in a cell's source or in a check's evidence (host output) is escaped, never live HTML."""
    import nbformat

    from runbook import phase as phase_mod
    from runbook.render import render_notebook

    shown = []
    monkeypatch.setattr(phase_mod, "_display", shown.append)
    ph = phase_mod.start_phase("00", {"run_dir": str(tmp_path / "run")})
    ph.check("log line", False, "<script>alert(2)</script><img src=x onerror=alert(3)>")
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("print('<script>alert(1)</script>')  # <b>&amp;")
    code.outputs = [nbformat.v4.new_output("display_data", data={"text/html": shown[0].data})]
    nb.cells = [code]
    ipynb = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(ipynb))
    for hide in (False, True):
        page = render_notebook(ipynb, tmp_path / f"nb{hide}.html", hide_code=hide).read_text()
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(2)&lt;/script&gt;&lt;img src=x onerror=alert(3)&gt;" in page
        assert ("&lt;script&gt;alert(1)" in page) != hide  # the code shows only in the full rendering


def test_failed_phase_names_phase_cell_and_next_step_then_resume(sbx, tmp_path):
    db = sbx.database
    hidden = db.with_name("hidden.sqlite")
    shutil.move(db, hidden)
    try:
        r = cli("run", sbx.params, "--phases", "00-01", "--run-id", "r3", "--output-dir", tmp_path)
    finally:
        shutil.move(hidden, db)
    assert r.returncode == 1
    message = r.stderr.strip().splitlines()[-1]
    assert message.startswith("FAILED: phase 00 (Preflight) failed at cell ")
    assert "app paths exist" in message and "ultrazend.sqlite" in message
    assert f"runbook resume {tmp_path / 'r3'}" in message
    assert not (tmp_path / "r3" / "01_backup.ipynb").exists(), "the run stops at the first failed phase"

    resumed = cli("resume", tmp_path / "r3")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    manifest = json.loads((tmp_path / "r3" / "manifest.json").read_text())
    kinds = [(e["kind"], e.get("phase"), e.get("status")) for e in manifest["entries"] if e["kind"] != "file"]
    assert kinds == [("phase", "00", "failed"), ("resume", None, None), ("phase", "00", "passed"), ("phase", "01", "passed")]
    assert verify_manifest(tmp_path / "r3") == []


def test_plan_renders_without_executing(sbx, tmp_path):
    r = cli("plan", sbx.params, "--phases", "02-03", "--output-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    (plan_dir,) = tmp_path.glob("*-plan")
    nb = json.loads((plan_dir / "03_fix_migrations.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and sbx.info["app_root"] in "".join(injected[0]["source"])
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert (plan_dir / "03_fix_migrations.html").is_file()


def test_a_leaked_secret_fails_the_run(sbx, tmp_path):
    # The "secret" is a string the archive is known to hold, so the scan must find it.
    changed = with_changes(sbx, tmp_path, services={"api_token": "env:RB_TEST_TOKEN"})
    r = cli("run", changed, "--phases", "00", "--run-id", "leak", "--output-dir", tmp_path,
            env={"RB_TEST_TOKEN": "Preflight"})
    assert r.returncode == 1
    assert "secret value from the params was found in" in r.stderr
    ok = cli("run", changed, "--phases", "00", "--run-id", "noleak", "--output-dir", tmp_path,
             env={"RB_TEST_TOKEN": "kq93-unlikely-token-zz81"})
    assert ok.returncode == 0, ok.stderr

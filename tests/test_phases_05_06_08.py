"""Phases 05 (tests), 06 (deploy) and 08 (prevention) against a real private sandbox.

One sandbox per module (real PM2, knex, git with a bare origin), on free ports in a tmp
folder, taken down in a finalizer. Phases run through the pipeline (Papermill) like
``runbook run``; a few properties are checked through direct library calls. Fast tests at
the top use a throwaway git repository and shell commands only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from runbook import deploy, pipeline, prevention
from runbook import sandbox as sb
from runbook.params import load_params
from runbook.records import read_record
from runbook.target import LocalTarget
from support import free_ports

T = LocalTarget()


def _git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- fast: git and the deploy follower, no sandbox ----------------------------------------------


@pytest.fixture
def repo(tmp_path):
    """An app repository on branch main with a bare origin, a migrations folder and stray files."""
    origin, root = tmp_path / "origin.git", tmp_path / "app"
    _git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    _git("init", "-q", "-b", "main", str(root), cwd=tmp_path)
    for k, v in (("user.name", "T"), ("user.email", "t@example.org"), ("commit.gpgsign", "false")):
        _git("config", k, v, cwd=root)
    mig = root / "backend" / "src" / "migrations"
    mig.mkdir(parents=True)
    (mig / "001_a.js").write_text("// a\n")
    _git("add", "-A", cwd=root)
    _git("commit", "-q", "-m", "init", cwd=root)
    _git("remote", "add", "origin", str(origin), cwd=root)
    _git("push", "-q", "-u", "origin", "main", cwd=root)
    return root, origin


def test_commit_paths_commits_only_the_named_folder_and_is_idempotent(repo):
    root, origin = repo
    mig = root / "backend" / "src" / "migrations"
    (mig / "020_fix.js").write_text("// fix\n")
    (root / "backend" / "ultrazend.sqlite").write_text("not for git")  # untracked, outside the folder
    (root / "notes.txt").write_text("someone's work")
    _git("add", "notes.txt", cwd=root)  # staged by someone else: must not ride along
    head0 = _git("rev-parse", "HEAD", cwd=root).strip()

    dry = deploy.commit_paths(T, str(root), [str(mig)], "fix: migrations", remote="origin", branch="main",
                              push=True, apply=False)
    assert [c.done for c in dry] == [False, False, False]
    assert _git("rev-parse", "HEAD", cwd=root).strip() == head0  # the dry run changed nothing

    done = deploy.commit_paths(T, str(root), [str(mig)], "fix: migrations", remote="origin", branch="main",
                               push=True, apply=True)
    assert [c.what for c in done][-1] == "git push origin main" and all(c.done for c in done)
    committed = _git("show", "--name-only", "--format=", "HEAD", cwd=root).split()
    assert committed == ["backend/src/migrations/020_fix.js"]
    assert _git("rev-parse", "main", cwd=origin).strip() == _git("rev-parse", "HEAD", cwd=root).strip()
    status = _git("status", "--porcelain", cwd=root)
    assert "A  notes.txt" in status and "?? backend/ultrazend.sqlite" in status
    assert deploy.commit_paths(T, str(root), [str(mig)], "fix: migrations", remote="origin", branch="main",
                               push=True, apply=True) == []


def test_commit_paths_refuses_another_branch(repo):
    root, _ = repo
    _git("checkout", "-q", "-b", "feature", cwd=root)
    with pytest.raises(deploy.DeployError, match="not on app.git_branch 'main'"):
        deploy.commit_paths(T, str(root), ["backend/src/migrations"], "x", remote="origin", branch="main",
                            push=False, apply=False)


def test_run_deploy_follows_the_log_from_its_old_end(tmp_path):
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "deploy.log"
    log.write_text("old run\nDEPLOY OK\n")  # a previous deploy's verdict must not count
    script = "for s in pull migrate build; do echo \"[$s] ok\" >> logs/deploy.log; sleep 0.4; done; "
    seen = []
    ok = deploy.run_deploy(T, str(tmp_path), ["sh", "-c", script + "echo 'x DEPLOY OK' >> logs/deploy.log"],
                           "logs/deploy.log", timeout=30, apply=True, progress=seen.append, poll_interval=0.1)
    assert ok["ok"] is True and seen == ["[pull] ok", "[migrate] ok", "[build] ok", "x DEPLOY OK"]
    assert ok["log_offset"] == len("old run\nDEPLOY OK\n")
    bad = deploy.run_deploy(T, str(tmp_path), ["sh", "-c", "echo '[migrate] failed' >> logs/deploy.log; exit 3"],
                            "logs/deploy.log", timeout=30, apply=True, progress=lambda _l: None)
    assert bad["ok"] is False and bad["exit_code"] == 3 and bad["last_line"] == "[migrate] failed"
    silent = deploy.run_deploy(T, str(tmp_path), ["true"], "logs/deploy.log", timeout=30, apply=True,
                               progress=lambda _l: None)
    assert silent["ok"] is False  # exit 0 alone is not a verdict: no DEPLOY OK line
    before = log.read_text()
    dry = deploy.run_deploy(T, str(tmp_path), ["sh", "-c", "echo no >> logs/deploy.log"], "logs/deploy.log",
                            timeout=30, apply=False)
    assert dry["done"] is False and log.read_text() == before


# --- the sandbox ---------------------------------------------------------------------------------


def _sandbox_processes(workdir: Path) -> dict[int, str]:
    """pid -> command line of every process whose command line names the sandbox folder."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(workdir) in cmd:
                out[int(entry.name)] = cmd
    return out


@pytest.fixture(scope="module")
def sbx(tmp_path_factory, request):
    """A sandbox repaired by phases 00-05 (apply), with its params file and the 05 run."""
    base = tmp_path_factory.mktemp("p050608")
    workdir = base / "sbx"
    api, mx, sub = free_ports(3)
    ports = {"api": api, "mx": mx, "submission": sub}
    request.addfinalizer(lambda: sb.down(workdir, progress=None))
    sb.up(workdir, emails=200, users=20, api_port=ports["api"], mx_port=ports["mx"],
          submission_port=ports["submission"], progress=None)
    lay = sb.layout(workdir)
    data = {
        "app": {"root": str(lay["app_root"]),
                "env": {"PM2_HOME": str(lay["pm2_home"]),
                        "PATH": "{project}/sandbox/node_modules/.bin:/usr/local/bin:/usr/bin:/bin"}},
        "services": {"api_url": f"http://127.0.0.1:{ports['api']}", "mx_port": ports["mx"],
                     "submission_port": ports["submission"], "health_interval": 0.5},
        "backup": {"dir": str(lay["backups"])},
    }
    params_file = base / "params.yaml"
    params_file.write_text(yaml.safe_dump(data))
    procs_before = _sandbox_processes(workdir)
    started = time.monotonic()
    outcome = pipeline.run(params_file, apply=True, phases="00-05", output_dir=base / "runs", progress=lambda _m: None)
    return {"workdir": workdir, "layout": lay, "params_file": params_file, "params": load_params(params_file),
            "outcome": outcome, "procs_before": procs_before, "base": base, "ports": ports,
            "seconds": time.monotonic() - started}


def _run(sbx, phases: str, apply: bool, params_file=None):
    return pipeline.run(params_file or sbx["params_file"], apply=apply, phases=phases, output_dir=sbx["base"] / "runs",
                        progress=lambda _m: None)


def _repo_state(sbx) -> dict:
    root, origin = sbx["layout"]["app_root"], sbx["layout"]["origin"]
    return {"head": _git("rev-parse", "HEAD", cwd=root), "status": _git("status", "--porcelain", "-uall", cwd=root),
            "origin": _git("rev-parse", "main", cwd=origin)}


@pytest.mark.slow
def test_05_passes_and_leaves_no_test_instance(sbx):
    outcome = sbx["outcome"]
    assert outcome.statuses == {p: "passed" for p in ("00", "01", "02", "03", "04", "05")}, outcome.message
    rec = read_record(outcome.run_dir, "05")
    assert [c["ok"] for c in rec["checks"]] == [True, True, True, True]
    inst = rec["values"]["instance"]
    assert inst["samples"][-1]["status"] == 200 and inst["stop"]["ports_free"]
    for port in inst["ports"]:
        assert not _listening(port), f"the test instance still listens on {port}"
    with pytest.raises(ProcessLookupError):
        os.killpg(inst["pgid"], 0)  # the whole process group is gone
    assert rec["values"]["build"]["dist"], "dist/ listing recorded"
    assert {r["service"] for r in rec["values"]["services"]["rows"]} == {
        "logger", "SecurityManager", "EmailProcessor", "UltraZendSMTPServer"}
    # No extra process: the PM2 daemon and the app only (the app may have a new pid, not a new sibling).
    after = _sandbox_processes(sbx["workdir"])
    assert len(after) == len(sbx["procs_before"]), (sbx["procs_before"], after)
    assert not any("/tests/backend" in cmd for cmd in after.values())
    assert not Path(f"{sbx['params'].backup.dir}/{outcome.run_dir.name}/tests").exists()  # scratch removed


@pytest.mark.slow
def test_06_dry_run_changes_nothing(sbx):
    before = _repo_state(sbx)
    log = sbx["layout"]["app_root"] / "logs" / "deploy.log"
    log_size = log.stat().st_size if log.exists() else 0
    outcome = _run(sbx, "06", apply=False)
    assert outcome.statuses == {"06": "passed"}, outcome.message
    rec = read_record(outcome.run_dir, "06")
    assert rec["changes"] and not any(c["done"] for c in rec["changes"])
    shown = " ".join(str(c["detail"]) for c in rec["changes"])
    assert "commit -q -m" in shown and "020_fix_email_verified_consistency.js" in shown and "./deploy.sh" in shown
    assert _repo_state(sbx) == before
    assert (log.stat().st_size if log.exists() else 0) == log_size


@pytest.mark.slow
def test_06_apply_commits_pushes_and_deploys(sbx):
    outcome = _run(sbx, "06", apply=True)
    assert outcome.statuses == {"06": "passed"}, outcome.message
    rec = read_record(outcome.run_dir, "06")
    origin = sbx["layout"]["origin"]
    log = _git("log", "-1", "--name-only", "--format=%H %s", "main", cwd=origin).split("\n")
    sha, subject = log[0].split(" ", 1)
    assert subject == sbx["params"].deploy.commit_message and rec["values"]["commit"] == sha
    files = {Path(x).name for x in log[1:] if x}
    assert files == {"020_fix_email_verified_consistency.js", "021_create_system_user_fixed.js"}
    deploy_log = (sbx["layout"]["app_root"] / "logs" / "deploy.log").read_text().strip().splitlines()
    assert deploy_log[-1].endswith("DEPLOY OK") and rec["values"]["deploy"]["ok"]
    assert rec["values"]["health"][-1]["status"] == 200
    assert rec["values"]["pre_deploy_backup"]["snapshot"]["verified"]
    app = sbx["params"].app
    assert deploy.commit_paths(T, app.root, [app.path("migrations")], "again", remote="origin", branch="main",
                               push=True, apply=True) == []  # idempotent


@pytest.mark.slow
def test_06_failed_deploy_fails_the_phase_and_names_the_rollback(sbx):
    data = yaml.safe_load(sbx["params_file"].read_text())
    data["deploy"] = {"command": ["sh", "-c", "echo \"$(date -u) [migrate] failed\" >> logs/deploy.log; "
                                              "echo DEPLOY FAILED >> logs/deploy.log; exit 1"]}
    failing = sbx["base"] / "failing.yaml"
    failing.write_text(yaml.safe_dump(data))
    outcome = _run(sbx, "06", apply=True, params_file=failing)
    assert outcome.statuses == {"06": "failed"}
    assert "deploy ended with DEPLOY OK" in outcome.message and "--phases 90" in outcome.message


@pytest.mark.slow
def test_08_suite_passes_on_the_repaired_app_and_fails_on_the_broken_one(sbx, tmp_path):
    params = sbx["params"]
    files = prevention.prevention_files(params)
    root = prevention.scratch_app(T, backend=params.app.path("backend"), backend_rel="backend",
                                  scratch_dir=str(tmp_path / "app"), files=files)
    repaired = prevention.run_suite(T, f"{root}/backend", env=params.app.env)
    assert repaired["ok"], repaired["output"]
    assert len(repaired["tests"]) == 5
    for name in ("020_fix_email_verified_consistency.js", "021_create_system_user_fixed.js"):
        (tmp_path / "app" / "backend" / "src" / "migrations" / name).unlink()
    broken = prevention.run_suite(T, f"{root}/backend", env=params.app.env)
    assert not broken["ok"] and broken["exit_code"] != 0
    failed = {t["test"]: t["error"] for t in broken["tests"] if not t["ok"]}
    assert failed["has users.is_verified and no users.email_verified"] == "users.is_verified is missing"
    assert "has a verified system user" in failed


@pytest.mark.slow
def test_08_dry_run_writes_nothing(sbx):
    before = _repo_state(sbx)
    outcome = _run(sbx, "08", apply=False)
    assert outcome.statuses == {"08": "passed"}, outcome.message
    rec = read_record(outcome.run_dir, "08")
    assert len(rec["changes"]) == 3 and not any(c["done"] for c in rec["changes"])
    root = sbx["layout"]["app_root"]
    for f in ("backend/tests/migrations/migration.test.js", "scripts/validate_schema.sh",
              "backend/src/utils/migrationLogger.js"):
        assert not (root / f).exists()
    assert _repo_state(sbx) == before
    assert not Path(rec["values"]["ran_in"]).exists()  # the scratch copy was removed


@pytest.mark.slow
def test_08_apply_writes_runs_and_commits(sbx):
    outcome = _run(sbx, "08", apply=True)
    assert outcome.statuses == {"08": "passed"}, outcome.message
    rec = read_record(outcome.run_dir, "08")
    root = sbx["layout"]["app_root"]
    script = root / "scripts" / "validate_schema.sh"
    lines = [ln.strip() for ln in script.read_text().splitlines()]
    assert os.access(script, os.X_OK) and any(".backup" in ln for ln in lines if not ln.startswith("#"))
    assert not any(ln.startswith("cp ") for ln in lines) and any(ln.startswith("trap ") for ln in lines)
    suite = (root / "backend" / "tests" / "migrations" / "migration.test.js").read_text()
    assert "hasColumn('users', LEGACY)" in suite and 'const LEGACY = "email_verified"' in suite
    assert {t["test"] for t in rec["values"]["suite"]["tests"] if t["ok"]} >= {"has a verified system user"}
    names = set(_git("show", "--name-only", "--format=", "main", cwd=sbx["layout"]["origin"]).split())
    assert names == {"backend/tests/migrations/migration.test.js", "scripts/validate_schema.sh",
                     "backend/src/utils/migrationLogger.js"}
    files = prevention.prevention_files(sbx["params"])
    assert prevention.write_files(T, str(root), files, apply=True) == []
    assert _git("status", "--porcelain", cwd=root) == ""
    # The repository's own copy of the suite runs on the live (repaired) app too.
    r = subprocess.run(["node", "--test", "tests/migrations/migration.test.js"], cwd=root / "backend",
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PATH": sbx["params"].app.env["PATH"]})
    assert r.returncode == 0, r.stdout[-1500:]
    json.dumps(rec)  # the record is plain JSON

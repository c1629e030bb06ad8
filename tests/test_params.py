"""The params schema: validation messages, secret references, and the notebooks kept in sync with it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import papermill as pm
import pytest
import yaml

from runbook import params as P
from runbook.errors import ParamsError, SecretError
from runbook.pipeline import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def write(tmp_path, data) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("data, words", [
    ({"colour": "red"}, ["unknown key 'colour'"]),
    ({"target": {"hots": "x"}}, ["'target.hots' is unknown", "host"]),
    ({"services": {"mx_port": "abc"}}, ["'services.mx_port'", "expects an integer", "'abc'"]),
    ({"apply": "yes"}, ["'apply'", "true or false"]),
    ({"backup": ["x"]}, ["'backup'", "expects a mapping"]),
    ({"target": {"password": "hunter2"}}, ["'target.password'", "env:NAME or file:PATH", "not a literal"]),
    ({"schema": {"expected": "/nonexistent/expected.yaml"}}, ["'schema.expected'", "does not exist"]),
    ({"target": {"kind": "ssh", "known_hosts": "/nonexistent/kh"}}, ["'target.known_hosts'", "does not exist"]),
    ("target: [unclosed", ["not valid YAML", "line 1"]),
])
def test_bad_params_name_the_file_and_key(tmp_path, data, words):
    path = write(tmp_path, data)
    with pytest.raises(ParamsError) as info:
        P.load_params(path)
    message = str(info.value)
    assert str(path) in message
    for w in words:
        assert w in message
    assert message.count("\n") == 0, "one sentence"


def test_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(ParamsError, match=r"params file .*nope.yaml does not exist\."):
        P.load_params(tmp_path / "nope.yaml")


def test_secret_references_resolve_inside_the_library(tmp_path, monkeypatch):
    secret = tmp_path / "token"
    secret.write_text("t0ken-from-file\n")
    monkeypatch.setenv("RB_TEST_PASSWORD", "pw-from-env")
    p = P.load_params(write(tmp_path, {"target": {"password": "env:RB_TEST_PASSWORD"},
                                       "services": {"api_token": f"file:{secret}"}}))
    assert sorted(p.secret_values()) == ["pw-from-env", "t0ken-from-file"]
    # what notebooks and manifests receive are the references, never the values
    flat = json.dumps([p.to_dict(), p.redacted()])
    assert "pw-from-env" not in flat and "t0ken-from-file" not in flat
    assert p.to_dict()["target"]["password"] == "env:RB_TEST_PASSWORD"


def test_unset_secret_stops_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("RB_TEST_NOT_SET", raising=False)
    with pytest.raises(SecretError, match="RB_TEST_NOT_SET, which is not set"):
        P.load_params(write(tmp_path, {"target": {"password": "env:RB_TEST_NOT_SET"}}))


def test_project_placeholder_expands_and_folds_back():
    p = P.load_params(P.PROJECT_ROOT / "params" / "sandbox.yaml")
    assert p.app.root == f"{P.PROJECT_ROOT}/.sandbox/ultrazend"
    assert p.app.path("database") == f"{P.PROJECT_ROOT}/.sandbox/ultrazend/backend/ultrazend.sqlite"
    assert p.to_dict()["app"]["root"] == "{project}/.sandbox/ultrazend"
    assert P.Params.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("name", ["sandbox.yaml", "production.example.yaml"])
def test_shipped_params_files_are_valid(name):
    data = yaml.safe_load((P.PROJECT_ROOT / "params" / name).read_text())
    p = P.Params.from_dict(data, source=name)
    assert p.apply is False


def test_production_example_documents_every_key():
    data = yaml.safe_load((P.PROJECT_ROOT / "params" / "production.example.yaml").read_text())
    for section, cls in P.SECTIONS.items():
        assert set(data[section]) == {f.name for f in cls.__dataclass_fields__.values()}, section


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_parameters_match_the_schema(notebook):
    found = pm.inspect_notebook(str(notebook))
    defaults = P.notebook_defaults()
    assert set(found) == set(defaults) | {"run_dir"}
    for name, expected in defaults.items():
        assert ast.literal_eval(found[name]["default"]) == expected, f"{notebook.name}: {name}"
    assert ast.literal_eval(found["run_dir"]["default"]) == ""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_clean(notebook):
    nb = json.loads(notebook.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["language_info"]["name"] == "python"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "parameters" in code[0]["metadata"].get("tags", [])
    # logic lives in the library: cells stay short
    assert max(len("".join(c["source"]).splitlines()) for c in code[1:]) <= 15

"""The shared-kernel Papermill engine: one kernel and one client for a run, a clean namespace per notebook."""

from __future__ import annotations

import nbformat
import pytest
from papermill.exceptions import PapermillExecutionError

from runbook import engine


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def kernel(tmp_path):
    with engine.SharedKernel("python3", cwd=tmp_path) as k:
        yield k


def test_one_kernel_one_client_and_a_clean_namespace_per_notebook(kernel, tmp_path, monkeypatch):
    clients = []
    real_client = kernel.km.client
    monkeypatch.setattr(kernel.km, "client", lambda *a, **k: clients.append(1) or real_client(*a, **k))
    first = _notebook(tmp_path / "a.ipynb", "import os\nsecret_of_a = 1", "print(os.getpid())")
    second = _notebook(tmp_path / "b.ipynb", "import os\nprint(os.getpid())", "secret_of_a")
    out_a = kernel.execute(first, tmp_path / "a.out.ipynb", progress_bar=False)
    with pytest.raises(PapermillExecutionError) as failed:
        kernel.execute(second, tmp_path / "b.out.ipynb", progress_bar=False)
    assert failed.value.ename == "NameError"  # nothing of notebook a leaks into b
    out_b = nbformat.read(tmp_path / "b.out.ipynb", as_version=4)
    pid_a = out_a.cells[1].outputs[0]["text"].strip()
    code_b = [c for c in out_b.cells if c.cell_type == "code"]  # papermill adds an error banner on top
    pid_b = code_b[0].outputs[0]["text"].strip()
    assert pid_a == pid_b  # the same kernel process
    assert [c.execution_count for c in code_b] == [1, 2]  # numbered as in a fresh kernel
    assert clients == []  # the client started with the kernel served both notebooks


def test_a_dead_kernel_is_started_again(kernel, tmp_path):
    dies = _notebook(tmp_path / "dies.ipynb", "import os\nos._exit(3)")
    with pytest.raises(Exception):
        kernel.execute(dies, tmp_path / "dies.out.ipynb", progress_bar=False, execution_timeout=30)
    ok = _notebook(tmp_path / "ok.ipynb", "x = 6 * 7\nprint(x)")
    out = kernel.execute(ok, tmp_path / "ok.out.ipynb", progress_bar=False)
    assert out.cells[0].outputs[0]["text"].strip() == "42"


def test_the_output_notebook_is_written_at_start_and_end_not_per_cell(kernel, tmp_path, monkeypatch):
    import papermill.engines as pm_engines

    writes = []
    real_write = pm_engines.write_ipynb
    monkeypatch.setattr(pm_engines, "write_ipynb", lambda nb, path: writes.append(path) or real_write(nb, path))
    nb = _notebook(tmp_path / "many.ipynb", *[f"v{i} = {i}" for i in range(12)])
    out = kernel.execute(nb, tmp_path / "many.out.ipynb", progress_bar=False)
    assert len(out.cells) == 12 and all(c.execution_count for c in out.cells)
    assert len(writes) == 2, writes  # papermill's own engine writes twice per cell: 26 here
    assert nbformat.read(tmp_path / "many.out.ipynb", as_version=4).cells[-1].execution_count == 12


def test_a_cell_past_its_timeout_fails_and_frees_the_kernel(kernel, tmp_path):
    slow = _notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(120)")
    with pytest.raises(PapermillExecutionError) as failed:
        kernel.execute(slow, tmp_path / "slow.out.ipynb", progress_bar=False, execution_timeout=2)
    assert "timed out" in str(failed.value).lower() or failed.value.ename in ("KeyboardInterrupt", "CellTimeoutError")
    ok = _notebook(tmp_path / "after.ipynb", "print('free')")
    out = kernel.execute(ok, tmp_path / "after.out.ipynb", progress_bar=False, execution_timeout=30)
    assert out.cells[0].outputs[0]["text"].strip() == "free"

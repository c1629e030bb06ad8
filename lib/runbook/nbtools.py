"""Keep the phase notebooks tidy: build them, regenerate their ``parameters`` cell, strip outputs.

``python -m runbook.nbtools sync`` rewrites every notebook's parameters cell
from the schema (:func:`runbook.params.parameters_cell_source`) and removes outputs,
so committed notebooks stay in step with the params schema.

Example
-------
>>> nb = new_notebook("02", "Diagnosis", [("## Step", "1 + 1")])
>>> [c.cell_type for c in nb.cells][:3]
['markdown', 'code', 'code']
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from .params import PROJECT_ROOT, parameters_cell_source

METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "version": "3.11"},
}


def new_notebook(phase_id: str, title: str, steps: list[tuple[str, str]], intro: str = "") -> nbformat.NotebookNode:
    """A phase notebook: title, parameters, ``start_phase``, then one markdown + code cell per step."""
    v4 = nbformat.v4
    cells = [v4.new_markdown_cell(f"# {phase_id} · {title}\n\n{intro}".strip())]
    params = v4.new_code_cell(parameters_cell_source())
    params.metadata["tags"] = ["parameters"]
    cells.append(params)
    cells.append(v4.new_code_cell(f'import runbook\nph = runbook.start_phase("{phase_id}", globals())'))
    for markdown, code in steps:
        if markdown:
            cells.append(v4.new_markdown_cell(markdown))
        if code:
            cells.append(v4.new_code_cell(code))
    nb = v4.new_notebook(cells=cells, metadata=METADATA)
    return nb


def write_notebook(path: Path, nb) -> Path:
    clean(nb)
    nbformat.write(nb, str(path))
    return path


def clean(nb) -> None:
    """Drop outputs, execution counts and the papermill metadata of a notebook."""
    nb.metadata.pop("papermill", None)
    for c in nb.cells:
        c.metadata.pop("papermill", None)
        c.metadata.pop("execution", None)
        if c.cell_type == "code":
            c.outputs = []
            c.execution_count = None
    nb.metadata.update({k: v for k, v in METADATA.items() if k not in nb.metadata})


def sync(path: Path) -> bool:
    """Regenerate the parameters cell and strip outputs; return True when the file changed."""
    before = Path(path).read_text()
    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        if "parameters" in c.metadata.get("tags", []):
            c.source = parameters_cell_source()
    clean(nb)
    nbformat.write(nb, str(path))
    return Path(path).read_text() != before


def main(argv: list[str]) -> int:
    if argv[:1] != ["sync"]:
        print("usage: python -m runbook.nbtools sync [NOTEBOOK ...]")
        return 2
    paths = [Path(a) for a in argv[1:]] or sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
    for p in paths:
        if sync(p):
            print(f"synced {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

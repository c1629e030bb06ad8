"""The object a phase notebook works with: parameters, target, records and verdict.

A notebook's first code cell after ``parameters`` is::

    import runbook
    ph = runbook.start_phase("02", globals())

and its last is ``ph.finish()``. In between, each step calls one library
function and reports through ``ph.check`` / ``ph.record`` / ``ph.table``.

Example
-------
>>> import tempfile
>>> ph = start_phase("00", {"run_dir": tempfile.mkdtemp()})
>>> ph.check("python is here", True, "3.11", show=False)
>>> ph.finish(display_banner=False)
'passed'
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Any

from .params import PROJECT_ROOT, Params, params_from_notebook
from .records import Recorder

INTERACTIVE_RUN_DIR = PROJECT_ROOT / "outputs" / "interactive"


def _display(obj) -> None:
    try:
        from IPython.display import display

        display(obj)
    except ImportError:  # plain Python: print instead
        print(obj)


def _html(markup: str):
    try:
        from IPython.display import HTML

        return HTML(markup)
    except ImportError:
        return markup


def _cell_number() -> int | None:
    """The execution count of the running cell (papermill runs code cells in order from 1)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return int(shell.execution_count) if shell is not None else None
    except Exception:
        return None


class Phase:
    """One phase of one run."""

    def __init__(self, phase_id: str, params: Params, run_dir: Path):
        self.id = phase_id
        self.params = params
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rec = Recorder(self.run_dir, phase_id)
        self._target = None
        self.started = time.monotonic()
        self.rec.record("apply", params.apply)

    # --- what the phase works with --------------------------------------------------------------
    @property
    def apply(self) -> bool:
        return self.params.apply

    @property
    def target(self):
        """The host, opened on first use (so a phase that needs no host opens no connection)."""
        if self._target is None:
            from .target import open_target

            self._target = open_target(self.params.target, env=self.params.app.env)
        return self._target

    @property
    def files_dir(self) -> Path:
        """Folder of this run for files the phase writes (snapshots, schema dumps, ...)."""
        path = self.run_dir / "files"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def earlier(self, phase_id: str) -> dict | None:
        """The record of an earlier phase of this run (``None`` when it did not run)."""
        from .records import read_record

        return read_record(self.run_dir, phase_id)

    # --- reporting ------------------------------------------------------------------------------
    def record(self, key: str, value: Any) -> Any:
        self.rec.record(key, value)
        return value

    def table(self, key: str, frame):
        """Record a DataFrame and return it, so the cell shows it."""
        self.rec.table(key, frame)
        return frame

    def figure(self, key: str, fig):
        self.rec.figure(key, fig)
        return fig

    def check(self, name: str, ok: bool | None, evidence: Any = "", show: bool = True) -> None:
        """Record a check and show a one-line verdict for it."""
        self.rec.check(name, ok, evidence, cell=_cell_number())
        if not show:
            return
        mark = {True: "✅", False: "❌", None: "ℹ️"}[None if ok is None else bool(ok)]
        _display(_html(f"<p><b>{mark} {html.escape(name)}</b> <span style='color:#555'>{html.escape(str(evidence))[:400]}</span></p>"))

    def changes(self, changes) -> list:
        """Record what a mutating call changed (or would change, in a dry run) and return it."""
        for c in changes:
            self.rec.change(c.what, c.done, c.detail)
        return list(changes)

    def failed_checks(self) -> list[dict]:
        return [c for c in self.rec.data["checks"] if c["ok"] is False]

    def finish(self, verdict: str | None = None, reason: str = "", display_banner: bool = True) -> str:
        """Record the verdict: ``failed`` if any check failed, unless given explicitly."""
        failed = self.failed_checks()
        if verdict is None:
            verdict = "failed" if failed else "passed"
            reason = reason or ("; ".join(c["check"] for c in failed) if failed else "every check passed")
        self.rec.record("duration_s", round(time.monotonic() - self.started, 2))
        self.rec.set_verdict(verdict, reason)
        if self._target is not None:
            self._target.close()
        if display_banner:
            color = {"passed": "#1a7f37", "failed": "#cf222e", "skipped": "#9a6700"}[verdict]
            _display(
                _html(
                    f"<div style='padding:8px;border-left:6px solid {color}'><b>Phase {self.id}: {verdict.upper()}</b>"
                    f" ({'apply' if self.apply else 'dry run'}): {html.escape(reason)}</div>"
                )
            )
        return verdict


def start_phase(phase_id: str, namespace: dict) -> Phase:
    """Build the :class:`Phase` from a notebook's parameter variables.

    ``namespace`` is the notebook's ``globals()``; ``run_dir`` empty means the
    interactive run folder ``outputs/interactive`` (JupyterLab users chain phases there),
    or ``$RUNBOOK_INTERACTIVE_DIR`` when set.
    """
    params = params_from_notebook(namespace)
    run_dir = namespace.get("run_dir") or os.environ.get("RUNBOOK_INTERACTIVE_DIR") or INTERACTIVE_RUN_DIR
    return Phase(phase_id, params, Path(run_dir))

"""One kernel for every phase of a run: a Papermill engine that reuses a started kernel.

Starting a kernel and importing pandas, SQLAlchemy and matplotlib costs a few
seconds, paid once per phase by Papermill's default engine. Here one kernel and
one client connection serve the whole run; before each notebook the kernel's
namespace is cleared and its execution counter reset, so a phase sees nothing of
the previous one and its cell numbers read as in a fresh kernel. A kernel that
died is started again.

Papermill writes the output notebook twice per cell; here it is written when the
notebook starts, at most every ``autosave_cell_every`` seconds while cells run
(so a long phase can still be followed on disk), and when it ends or fails.

Example
-------
    with SharedKernel() as kernel:
        kernel.execute("notebooks/00_preflight.ipynb", "out.ipynb", parameters={})
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import papermill as pm
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE = "runbook-shared-kernel"
# %reset clears user variables; the counter reset keeps "cell N" in messages equal to the notebook's [N].
RESET = "get_ipython().run_line_magic('reset', '-f')\nget_ipython().execution_count = 1"


class _ResettingClient(PapermillNotebookClient):
    """Clears the shared kernel before the notebook's first cell; uses the caller's started client."""

    def __init__(self, nb_man, km=None, kc=None, **kw):
        super().__init__(nb_man, km=km, **kw)
        # kc is not a trait of nbclient's client (as a keyword it would be dropped with a warning);
        # set after __init__, nbclient sees a client and starts none of its own.
        self.kc = kc

    def papermill_execute_cells(self):
        self.wait_for_reply(self.kc.execute(RESET, silent=True, store_history=False))
        super().papermill_execute_cells()


class _SparseSavingManager(NotebookExecutionManager):
    """Papermill's execution manager without the two notebook writes per cell (time-based autosave stays)."""

    cells_running = False

    def notebook_start(self, **kwargs):
        super().notebook_start(**kwargs)
        self.cells_running = True

    def notebook_complete(self, **kwargs):
        self.cells_running = False
        super().notebook_complete(**kwargs)

    def save(self, **kwargs):
        if self.cells_running:
            since = (self.now() - self.last_save_time).total_seconds()
            if not self.autosave_cell_every or since < self.autosave_cell_every:
                return
        super().save(**kwargs)


class SharedKernelEngine(NBClientEngine):
    """NBClientEngine with a caller-owned kernel manager (``km=``) and client (``kc=``) that outlive the notebook."""

    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                         autosave_cell_every=30, **kwargs):
        # Engine.execute_notebook, with the sparse-saving manager.
        nb_man = _SparseSavingManager(nb, output_path=output_path, progress_bar=progress_bar,
                                      log_output=log_output, autosave_cell_every=autosave_cell_every)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, *, kc, **kwargs):
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                             log=pm.log.logger, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        # With km and kc given, nbclient neither starts nor stops the kernel or its channels.
        return _ResettingClient(nb_man, kc=kc, **final).execute()


papermill_engines.register(ENGINE, SharedKernelEngine)


class SharedKernel:
    """A started kernel that executes notebooks one after the other."""

    def __init__(self, kernel_name: str = "python3", cwd: Path | None = None):
        self.kernel_name = kernel_name
        self.cwd = str(cwd) if cwd else None
        self._sockets = tempfile.mkdtemp(prefix="runbook-kernel-")
        self.km = None
        self.kc = None

    def _start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager

        # The asynchronous manager and client, as nbclient's own: with a blocking client, its wait
        # for a cell's output blocks the event loop, so a kernel that dies or a cell past its
        # timeout would hang the run instead of failing the phase.
        # IPC sockets in a private folder: local only, and ipykernel does not warn about unencrypted TCP.
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc",
                                     ip=os.path.join(self._sockets, f"k{time.monotonic_ns()}"))
        # No history database: with the counter reset per notebook, IPython would report
        # "Session/line number was not unique" into the first cell's output.
        run_sync(self.km.start_kernel)(cwd=self.cwd, extra_arguments=["--HistoryManager.enabled=False"])
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=60)
        self.kc.allow_stdin = False  # as nbclient sets on the clients it starts: a cell asking input() fails

    def __enter__(self) -> "SharedKernel":
        self._start()
        return self

    def _stop(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km is not None and self.km.has_kernel:
            # The kernel holds nothing to save (each phase wrote its records): reap it here, as
            # jupyter_client's forced shutdown polls for the exit every 0.1 s (0.17 s per run).
            process = getattr(self.km.provisioner, "process", None)
            if process is not None:
                process.kill()
                process.wait(timeout=10)
            run_sync(self.km.shutdown_kernel)(now=True)  # then its own clean-up (files, state)

    def __exit__(self, *exc) -> None:
        self._stop()
        shutil.rmtree(self._sockets, ignore_errors=True)

    def execute(self, input_path, output_path, **kwargs):
        """``papermill.execute_notebook`` on the shared kernel (a new one if it died)."""
        if not run_sync(self.km.is_alive)():
            self._stop()
            self._start()
        # The output path reaches the engine, whose _SparseSavingManager writes it at the start,
        # every autosave_cell_every seconds and at the end, not twice per cell.
        # A cell past execution_timeout is interrupted and fails like any failing cell, so the
        # kernel is free for the next notebook.
        kwargs.setdefault("interrupt_on_timeout", True)
        return pm.execute_notebook(str(input_path), str(output_path), engine_name=ENGINE, km=self.km, kc=self.kc,
                                   kernel_name=self.kernel_name, **kwargs)

"""One kernel for every phase of a run: a Papermill engine that reuses a started kernel.

Starting a kernel and importing pandas, SQLAlchemy and matplotlib costs a few
seconds, paid once per phase by Papermill's default engine. Here one kernel
serves the whole run; before each notebook its namespace is cleared and its
execution counter reset, so a phase sees nothing of the previous one and its
cell numbers read as in a fresh kernel. A kernel that died is started again.

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
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE = "runbook-shared-kernel"
# %reset clears user variables; the counter reset keeps "cell N" in messages equal to the notebook's [N].
RESET = "get_ipython().run_line_magic('reset', '-f')\nget_ipython().execution_count = 1"


class _ResettingClient(PapermillNotebookClient):
    """Clears the shared kernel before the notebook's first cell."""

    def papermill_execute_cells(self):
        self.wait_for_reply(self.kc.execute(RESET, silent=True, store_history=False))
        super().papermill_execute_cells()


class SharedKernelEngine(NBClientEngine):
    """NBClientEngine with a caller-owned kernel manager (``km=``) that outlives the notebook."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, **kwargs):
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                             log=pm.log.logger, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        client = _ResettingClient(nb_man, **final)
        try:
            return client.execute()
        finally:
            if client.kc is not None:  # the kernel stays; only this notebook's channels close
                client.kc.stop_channels()


papermill_engines.register(ENGINE, SharedKernelEngine)


class SharedKernel:
    """A started kernel that executes notebooks one after the other."""

    def __init__(self, kernel_name: str = "python3", cwd: Path | None = None):
        self.kernel_name = kernel_name
        self.cwd = str(cwd) if cwd else None
        self._sockets = tempfile.mkdtemp(prefix="runbook-kernel-")
        self.km = None

    def _start(self) -> None:
        from jupyter_client.manager import KernelManager

        # IPC sockets in a private folder: local only, and ipykernel does not warn about unencrypted TCP.
        self.km = KernelManager(kernel_name=self.kernel_name, transport="ipc",
                                ip=os.path.join(self._sockets, f"k{time.monotonic_ns()}"))
        # No history database: with the counter reset per notebook, IPython would report
        # "Session/line number was not unique" into the first cell's output.
        self.km.start_kernel(cwd=self.cwd, extra_arguments=["--HistoryManager.enabled=False"])

    def __enter__(self) -> "SharedKernel":
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        if self.km is not None and self.km.has_kernel:
            self.km.shutdown_kernel(now=True)
        shutil.rmtree(self._sockets, ignore_errors=True)

    def execute(self, input_path, output_path, **kwargs):
        """``papermill.execute_notebook`` on the shared kernel (a new one if it died)."""
        if not self.km.is_alive():
            self._start()
        # The notebook is written once at the end (and on failure), not after every cell:
        # per-cell saves cost more than most phases' own work.
        kwargs.setdefault("request_save_on_cell_execute", False)
        return pm.execute_notebook(str(input_path), str(output_path), engine_name=ENGINE, km=self.km,
                                   kernel_name=self.kernel_name, **kwargs)

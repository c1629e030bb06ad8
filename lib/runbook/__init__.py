"""UltraZend recovery runbook: the library the phase notebooks call.

Example
-------
>>> import runbook
>>> runbook.load_params(runbook.PROJECT_ROOT / "params" / "sandbox.yaml").apply
False
"""

from .errors import RunbookError
from .params import PROJECT_ROOT, Params, load_params
from .phase import Phase, start_phase

__version__ = "0.1.0"
__all__ = ["RunbookError", "Params", "load_params", "start_phase", "Phase", "PROJECT_ROOT"]

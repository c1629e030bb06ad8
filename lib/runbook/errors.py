"""One exception tree for the whole runbook.

Every error the library raises on purpose derives from :class:`RunbookError`,
so the CLI converts them at the edge into one sentence and an exit code::

    RunbookError                 anything the runbook raises on purpose
    ├── InputError               bad input, nothing changed (exit 2)
    │   ├── ParamsError          a params file or key is wrong
    │   └── SecretError          a secret reference cannot be resolved
    ├── TargetError              the host cannot be reached or used
    │   ├── HostKeyError         SSH host key unknown or different
    │   ├── CommandTimeout       a command ran past its timeout
    │   └── CommandFailed        a command exited non-zero where it must not
    ├── SandboxError             the sandbox cannot be brought up or down
    ├── BackupError              a backup is missing, corrupt or unverified
    ├── RepairError              a repair step cannot be planned or applied
    ├── DeployError              the app repository is not in a state the deploy can use
    ├── PhaseFailed              a phase ended with verdict ``failed`` (exit 1)
    ├── Interrupted              Ctrl-C during a run; the archive is kept (exit 130)
    └── SecretLeak               a resolved secret was found in the run archive

Example
-------
>>> try:
...     raise ParamsError("params/x.yaml: key 'target.port' expects an integer, got 'abc'.")
... except InputError as exc:
...     print(exc.exit_code)
2
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base of every error the runbook raises on purpose."""

    exit_code = 1


class InputError(RunbookError):
    """Bad input: the run stops before anything is executed or changed."""

    exit_code = 2


class ParamsError(InputError):
    """A parameters file, key or value is wrong."""


class SecretError(InputError):
    """A secret reference (``env:NAME`` or ``file:PATH``) cannot be resolved."""


class TargetError(RunbookError):
    """The host cannot be reached, or a file or command on it misbehaved."""


class HostKeyError(TargetError):
    """The SSH host key is not in known_hosts or does not match it."""


class CommandTimeout(TargetError):
    """A command on the host ran past its timeout and was stopped."""


class CommandFailed(TargetError):
    """A command on the host exited non-zero where success was required."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class SandboxError(RunbookError):
    """The sandbox cannot be brought up, inspected or torn down."""


class BackupError(RunbookError):
    """A backup is missing, failed its integrity check or its checksum."""


class RepairError(RunbookError):
    """A repair of the migration history cannot be planned or applied safely."""


class DeployError(RunbookError):
    """The app repository is not in a state the deploy can work with (wrong branch, paths outside it)."""


class PhaseFailed(RunbookError):
    """A phase finished with verdict ``failed``."""


class Interrupted(RunbookError):
    """The operator stopped a run (Ctrl-C); what ran is archived and can be resumed."""

    exit_code = 130


class SecretLeak(RunbookError):
    """A resolved secret value was found in the run's archive."""

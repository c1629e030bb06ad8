"""What a mutating call changed, or would change in a dry run.

Every function that changes the host takes ``apply`` and returns a list of
:class:`Change`; with ``apply=False`` it changes nothing and says what it would do
(Ansible's check mode). Calling it twice changes nothing the second time.

Example
-------
>>> from runbook.target import RecordingTarget
>>> t = RecordingTarget()
>>> run_change(t, ["pm2", "stop", "all"], "stop services", apply=False)
Change(what='stop services', done=False, detail='pm2 stop all')
>>> t.commands
[]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


@dataclass
class Change:
    """One change to the host: ``done`` when applied, else only planned."""

    what: str
    done: bool
    detail: Any = ""

    def __str__(self) -> str:
        return f"{'DONE' if self.done else 'WOULD'}: {self.what}" + (f" ({self.detail})" if self.detail else "")


def run_change(target, argv: Sequence[str], what: str, *, apply: bool, cwd: str | None = None,
               timeout: float | None = None) -> Change:
    """Run ``argv`` on the host only when ``apply``; raise CommandFailed if it fails."""
    from .target import shell_line

    line = shell_line(list(argv))
    if not apply:
        return Change(what, False, line)
    target.run(list(argv), cwd=cwd, timeout=timeout, check=True)
    return Change(what, True, line)

"""Shared fixtures: private sandboxes on free ports and params files for them.

Every sandbox a test brings up lives in a temporary folder on its own ports, so a demo
sandbox on the default ports keeps running, and is taken down at the end even on failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import Sandbox, free_ports, sandbox_params

from runbook import sandbox as sb


@pytest.fixture(scope="session")
def make_sandbox(tmp_path_factory):
    """Factory: ``make_sandbox(scenario, emails=300)`` -> :class:`Sandbox`; all taken down at the end."""
    made: list[Path] = []

    def make(scenario: str = "email_verified_only", emails: int = 300) -> Sandbox:
        workdir = tmp_path_factory.mktemp(f"sbx-{scenario}")
        api, mx, sub = free_ports(3)
        made.append(workdir)
        info = sb.up(workdir, scenario=scenario, emails=emails, api_port=api, mx_port=mx, submission_port=sub,
                     progress=None, users=30)
        return Sandbox(info, sandbox_params(info, workdir.parent / f"{workdir.name}.yaml"), workdir)

    yield make
    for workdir in made:
        sb.down(workdir, progress=None)

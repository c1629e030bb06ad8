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


# --- SSH: a real OpenSSH sshd on 127.0.0.1 with throwaway keys (tests/test_ssh.py) -------------


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A started :class:`runbook.sshd.LocalSshd` in a temporary folder, stopped at the end."""
    from runbook.sshd import LocalSshd, ensure_sshd_installed

    ensure_sshd_installed()  # the test setup installs Debian's openssh-server when it is missing
    server = LocalSshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ssh_target(sshd):
    """An :class:`runbook.ssh.SSHTarget` logged in to :func:`sshd`, closed at the end."""
    from runbook.ssh import SSHTarget

    target = SSHTarget.from_params(sshd.target_params())
    yield target
    target.close()

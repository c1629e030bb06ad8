"""``runbook sandbox up|status|down``: a thin click layer over :mod:`runbook.sandbox`.

Errors the library raises on purpose (:class:`~runbook.errors.RunbookError`) become one line on
stderr and the error's ``exit_code``; anything else is a bug and keeps its traceback.
The main CLI registers the group with ``cli.add_command(sandbox)``.

Example
-------
>>> from click.testing import CliRunner
>>> print(CliRunner().invoke(sandbox, ["status", "--workdir", "/nonexistent/sb"]).output.strip())
no sandbox in /nonexistent/sb
>>> r = CliRunner().invoke(sandbox, ["down", "--workdir", "/etc"])
>>> r.exit_code, r.output.strip()
(1, 'error: /etc is not a sandbox (no .ultrazend-sandbox or scenario.json); not removing it.')
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from . import sandbox as sb
from .errors import RunbookError, SandboxError

SSH_PORT = 2222


def errors_to_exit(fn):
    """Turn a RunbookError into ``error: <sentence>`` and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RunbookError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper


_workdir = click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=sb.DEFAULT_WORKDIR,
    show_default=True,
    help="Folder that holds the sandbox (app root, PM2_HOME, bare origin, backups).",
)


@click.group(name="sandbox")
def sandbox():
    """A real, broken UltraZend host on this machine (the runbook's default target)."""


@sandbox.command()
@click.option(
    "--scenario",
    type=click.Choice(list(sb.SCENARIOS)),
    default=sb.DEFAULT_SCENARIO,
    show_default=True,
    help="State of the database: " + "; ".join(f"{k}: {v}" for k, v in sb.SCENARIOS.items()),
)
@_workdir
@click.option("--emails", type=click.IntRange(min=0), default=5000, show_default=True, help="Emails to seed (10 million works).")
@click.option("--api-port", type=click.IntRange(1, 65535), default=3001, show_default=True)
@click.option("--mx-port", type=click.IntRange(1, 65535), default=2525, show_default=True)
@click.option("--submission-port", type=click.IntRange(1, 65535), default=5875, show_default=True)
@click.option("--ssh", is_flag=True, help=f"Also start a local sshd on port {SSH_PORT} to reach the sandbox over SSH.")
@errors_to_exit
def up(scenario, workdir, emails, api_port, mx_port, submission_port, ssh):
    """Build the sandbox in SCENARIO's state, start it under PM2 and make traffic."""
    info = sb.up(
        workdir,
        scenario=scenario,
        emails=emails,
        api_port=api_port,
        mx_port=mx_port,
        submission_port=submission_port,
        progress=click.echo,
    )
    if ssh:
        from .sshd import LocalSshd  # lazy: only --ssh needs it

        try:
            sshd = LocalSshd(state_dir=Path(info["workdir"]) / "ssh", port=SSH_PORT).start()
        except (OSError, ValueError) as exc:  # RunbookErrors pass through to the decorator
            raise SandboxError(f"the sandbox is up but sshd did not start: {exc}") from exc
        # LocalSshd picks another port when 2222 is taken: print the one it really uses.
        click.echo(
            f"sshd: ssh -p {sshd.port} -i {sshd.client_key} -o UserKnownHostsFile={sshd.known_hosts} "
            f"{sshd.user}@{sshd.host}"
        )
    click.echo(f"app root: {info['app_root']}")
    click.echo(f"database: {info['database']}")
    click.echo(f"PM2_HOME: {info['pm2_home']}")
    for proc in info["processes"]:
        click.echo(f"pm2: {proc['name']} {proc['status']} pid {proc['pid']}")


@sandbox.command()
@_workdir
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@errors_to_exit
def status(workdir, as_json):
    """Scenario, PM2 processes and /health code of the sandbox."""
    info = sb.status(workdir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if not info["exists"]:
        click.echo(f"no sandbox in {info['workdir']}")
        return
    click.echo(f"scenario: {info['scenario']} (created {info['created']})")
    click.echo(f"ports: {info['ports']}")
    click.echo(f"pm2 daemon: {'running' if info['pm2_daemon'] else 'not running'}")
    for proc in info["processes"]:
        click.echo(f"pm2: {proc['name']} {proc['status']} pid {proc['pid']} restarts {proc['restarts']}")
    click.echo(f"/health: {info['health'] if info['health'] is not None else 'no answer'}")


@sandbox.command()
@_workdir
@errors_to_exit
def down(workdir):
    """Stop every sandbox process (sshd, PM2, writer) and remove the folder."""
    sb.down(workdir, progress=click.echo)


__all__ = ["sandbox"]

"""The ``runbook`` command: a thin layer over :mod:`runbook.pipeline` and :mod:`runbook.sandbox`.

Errors of the library are converted here, at the edge, into one sentence on
stderr and an exit code: 0 every phase passed, 1 a phase failed, 2 bad input.

Example
-------
``runbook run params/sandbox.yaml --phases 00-04``
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import pipeline
from .sandbox_cli import errors_to_exit, sandbox


def _progress(line: str) -> None:
    click.echo(line, err=False)


def _finish(outcome: pipeline.RunOutcome) -> None:
    click.echo(f"report: {outcome.index}")
    if outcome.exit_code:
        click.echo(f"FAILED: {outcome.message}", err=True)
    sys.exit(outcome.exit_code)


@click.group()
@click.version_option(package_name="ultrazend-runbook")
def main():
    """UltraZend recovery runbook: executable, archived recovery of the Knex migrations."""


@main.command()
@click.argument("params_file", type=click.Path(path_type=Path))
@click.option("--apply", is_flag=True, help="Change the host (default: dry run, nothing changes).")
@click.option("--phases", default=None, help="Which phases: 00-04, 02,03 or 90 (default: all but the rollback).")
@click.option("--run-id", default=None, help="Name of the run folder (default: timestamp and mode).")
@click.option("--output-dir", type=click.Path(path_type=Path), default=None, help="Where run folders go (default: outputs/).")
@errors_to_exit
def run(params_file, apply, phases, run_id, output_dir):
    """Execute the phase notebooks in order and archive the run."""
    outcome = pipeline.run(params_file, apply=apply, phases=phases, run_id=run_id, output_dir=output_dir,
                           progress=_progress)
    _finish(outcome)


@main.command()
@click.argument("params_file", type=click.Path(path_type=Path))
@click.option("--apply", is_flag=True, help="Plan an applying run.")
@click.option("--phases", default=None)
@click.option("--output-dir", type=click.Path(path_type=Path), default=None)
@errors_to_exit
def plan(params_file, apply, phases, output_dir):
    """Render the parameterised notebooks without executing them."""
    out = pipeline.plan(params_file, apply=apply, phases=phases, output_dir=output_dir, progress=_progress)
    click.echo(f"plan: {out}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@errors_to_exit
def resume(run_dir):
    """Continue a failed or interrupted run from its first phase that did not pass."""
    _finish(pipeline.resume(run_dir, progress=_progress))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@errors_to_exit
def report(run_dir):
    """(Re)render the HTML report of a run."""
    click.echo(f"report: {pipeline.report(run_dir)}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@errors_to_exit
def verify(run_dir):
    """Check a run's manifest chain and the checksum of every archived file."""
    from .manifest import verify_manifest

    if not (Path(run_dir) / "manifest.json").is_file():
        raise pipeline.InputError(f"{run_dir} is not a run folder (no manifest.json).")
    problems = verify_manifest(run_dir)
    for p in problems:
        click.echo(f"TAMPERED: {p}")
    click.echo("archive intact" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


main.add_command(sandbox)


if __name__ == "__main__":
    main()

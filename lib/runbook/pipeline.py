"""Run the phase notebooks in order with Papermill and archive everything they produce.

A run lives in ``outputs/<run-id>/``: the executed notebooks, their HTML
renderings (full and stakeholder), ``records/`` (verdicts, tables, charts),
``files/`` (snapshots, schema dumps), ``manifest.json`` and ``index.html``.
The first phase whose verdict is not ``passed`` stops the run.

Example
-------
>>> select_phases("00-02")
['00', '01', '02']
>>> select_phases("02,03")
['02', '03']
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import InputError, Interrupted, PhaseFailed, SecretLeak
from .manifest import Manifest, verify_manifest
from .params import PROJECT_ROOT, Params, load_params
from .records import read_record

# nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (jupyterlab
# brings it): that module compiles 39 grammars at import, 1.5 s of every `runbook` command, for
# the "iri" string format, which no notebook schema uses. Marked absent in this process only
# (the kernels are not affected); jsonschema then skips that one format check.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
OUTPUTS_DIR = PROJECT_ROOT / "outputs"
KERNEL = "python3"


@dataclass(frozen=True)
class PhaseSpec:
    """A phase of the runbook and its notebook."""

    id: str
    name: str
    title: str
    mutating: bool  # may change the host when the run has apply: true

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS_DIR / f"{self.id}_{self.name}.ipynb"

    @property
    def stem(self) -> str:
        return f"{self.id}_{self.name}"


PHASES: tuple[PhaseSpec, ...] = (
    PhaseSpec("00", "preflight", "Preflight", False),
    PhaseSpec("01", "backup", "Backup and state", True),
    PhaseSpec("02", "diagnosis", "Diagnosis", False),
    PhaseSpec("03", "fix_migrations", "Fix migrations", True),
    PhaseSpec("04", "validate_schema", "Validate schema", False),
    PhaseSpec("05", "tests", "Tests", False),
    PhaseSpec("06", "deploy", "Deploy", True),
    PhaseSpec("07", "monitoring", "Monitoring", True),
    PhaseSpec("08", "prevention", "Prevention", True),
    PhaseSpec("90", "rollback", "Rollback", True),
    PhaseSpec("99", "report", "Report", False),
)
BY_ID = {p.id: p for p in PHASES}
ON_DEMAND = {"90"}  # the rollback runs only when asked for by name


def available_phases() -> list[PhaseSpec]:
    """Phases that have a notebook in ``notebooks/``."""
    return [p for p in PHASES if p.notebook.is_file()]


def select_phases(spec: str | None) -> list[str]:
    """Phase ids for ``--phases`` (``00-04``, ``02,03``, ``90``); every normal phase when empty."""
    known = [p.id for p in PHASES]
    if not spec:
        return [p.id for p in available_phases() if p.id not in ON_DEMAND]
    chosen: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, _, hi = part.partition("-")
            lo, hi = lo.strip().zfill(2), hi.strip().zfill(2)
            if lo not in BY_ID or hi not in BY_ID or lo > hi:
                raise InputError(f"--phases: range {part!r} must go from one known phase to a later one ({', '.join(known)}).")
            ids = [i for i in known if lo <= i <= hi and (i not in ON_DEMAND or lo == hi == i)]
        else:
            pid = part.zfill(2)
            if pid not in BY_ID:
                raise InputError(f"--phases: unknown phase {part!r}; known phases are {', '.join(known)}.")
            ids = [pid]
        chosen += [i for i in ids if i not in chosen]
    missing = [i for i in chosen if not BY_ID[i].notebook.is_file()]
    if missing:
        raise InputError(f"--phases: phase {missing[0]} has no notebook ({BY_ID[missing[0]].notebook.name}) in this checkout.")
    return sorted(chosen, key=known.index)


@dataclass
class RunOutcome:
    """How a run ended."""

    run_dir: Path
    statuses: dict[str, str] = field(default_factory=dict)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return 0 if self.statuses and all(s in ("passed", "skipped") for s in self.statuses.values()) else 1

    @property
    def index(self) -> Path:
        return self.run_dir / "index.html"


def new_run_id(apply: bool) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{'apply' if apply else 'dry'}"


def _make_run_dir(output_dir: Path | None, run_id: str | None, apply: bool) -> Path:
    output_dir = Path(output_dir or OUTPUTS_DIR)
    if run_id:
        if "/" in run_id or run_id.startswith("."):
            raise InputError(f"--run-id {run_id!r} must be a plain folder name.")
        run_dir = output_dir / run_id
        if run_dir.exists():
            raise InputError(f"--run-id: {run_dir} already exists; choose another id or use `runbook resume {run_dir}`.")
    else:
        base = new_run_id(apply)
        run_dir, n = output_dir / base, 1
        while run_dir.exists():
            n += 1
            run_dir = output_dir / f"{base}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def run(
    params_file: str | Path,
    *,
    apply: bool = False,
    phases: str | None = None,
    run_id: str | None = None,
    output_dir: Path | None = None,
    progress: Callable[[str], None] = print,
) -> RunOutcome:
    """Validate everything, then execute the selected phases into a new run folder."""
    params = load_params(params_file, apply=apply)  # bad input stops here: no run folder yet
    ids = select_phases(phases)
    run_dir = _make_run_dir(output_dir, run_id, params.apply)
    manifest = Manifest.create(
        run_dir, run_dir.name, params=params.redacted(), params_file=str(params_file), phases=ids
    )
    return _execute(run_dir, manifest, params, ids, progress)


def resume(run_dir: Path, *, progress: Callable[[str], None] = print) -> RunOutcome:
    """Continue a run from its first phase that did not pass, with the same parameters."""
    run_dir = Path(run_dir)
    if not (run_dir / "manifest.json").is_file():
        raise InputError(f"{run_dir} is not a run folder (no manifest.json).")
    problems = verify_manifest(run_dir)
    if problems:
        raise InputError(f"{run_dir}: the archive was modified ({problems[0]}); start a new run instead.")
    manifest = Manifest.load(run_dir)
    params = Params.from_dict(manifest.data["params"], source=f"{run_dir}/manifest.json")
    params.check_workstation_files()
    status = manifest.phase_status()
    ids = manifest.data["phases"]
    todo = [i for i in ids if status.get(i) != "passed"]
    if not todo:
        progress(f"every phase of {run_dir.name} already passed; nothing to resume.")
        return RunOutcome(run_dir, {i: "passed" for i in ids})
    manifest.append({"kind": "resume", "from_phase": todo[0], "at": _dt.datetime.now(_dt.timezone.utc).isoformat()})
    outcome = _execute(run_dir, manifest, params, ids, progress, skip={i for i in ids if i not in todo})
    return outcome


def plan(params_file: str | Path, *, apply: bool = False, phases: str | None = None,
         output_dir: Path | None = None, progress: Callable[[str], None] = print) -> Path:
    """Write the parameterised notebooks (not executed) and their HTML, for review."""
    import papermill as pm

    from .render import render_notebook

    params = load_params(params_file, apply=apply)
    ids = select_phases(phases)
    out = _make_run_dir(output_dir, None, params.apply)
    out = out.rename(out.with_name(out.name + "-plan"))
    for pid in ids:
        spec = BY_ID[pid]
        target = out / f"{spec.stem}.ipynb"
        pm.execute_notebook(str(spec.notebook), str(target), parameters=_parameters(params, out),
                            prepare_only=True, kernel_name=KERNEL, progress_bar=False)
        render_notebook(target, target.with_suffix(".html"))
        progress(f"planned {spec.stem}: {target}")
    return out


def report(run_dir: Path) -> Path:
    """(Re)render every HTML of a run and its index (their new hashes join the manifest)."""
    run_dir = Path(run_dir)
    if not (run_dir / "manifest.json").is_file():
        raise InputError(f"{run_dir} is not a run folder (no manifest.json).")
    manifest = Manifest.load(run_dir)
    for pid in manifest.data["phases"]:
        manifest.add_files(_render_phase(run_dir / f"{BY_ID[pid].stem}.ipynb"), phase=pid)
    index = _render_index(run_dir, manifest)
    manifest.add_file(index)
    return index


# --- internals ---------------------------------------------------------------------------------


def _parameters(params: Params, run_dir: Path) -> dict:
    return {**params.to_dict(), "run_dir": str(run_dir.resolve())}


def _phase_rows(manifest: Manifest) -> list[dict]:
    latest: dict[str, dict] = {}
    for e in manifest.data["entries"]:
        if e.get("kind") == "phase":
            latest[e["phase"]] = e
    rows = []
    for pid in manifest.data["phases"]:
        spec = BY_ID[pid]
        e = latest.get(pid, {})
        rows.append({"id": pid, "name": spec.name, "title": spec.title, "status": e.get("status", "not-run"),
                     "duration": e.get("duration_s", ""), "message": e.get("message", "")})
    return rows


def _render_index(run_dir: Path, manifest: Manifest) -> Path:
    from .render import render_index

    return render_index(run_dir, manifest.data, _phase_rows(manifest))


def _failure_message(spec: PhaseSpec, record: dict | None, error, params: Params, run_dir: Path) -> str:
    if error is not None:
        # PapermillExecutionError names the cell; a kernel that died (DeadKernelError) does not.
        where = f"cell {error.exec_count}" if getattr(error, "exec_count", None) else "a cell"
        evalue = str(getattr(error, "evalue", error)).strip()
        what = f"{getattr(error, 'ename', type(error).__name__)}: {evalue.splitlines()[0] if evalue else ''}"
    else:
        failed = [c for c in (record or {}).get("checks", []) if c.get("ok") is False]
        if failed:
            where = f"cell {failed[0]['cell']}" if failed[0].get("cell") else "a check"
            what = "; ".join(f"{c['check']} ({c['evidence']})" if c.get("evidence") else c["check"] for c in failed)
        else:
            where, what = "its end", (record or {}).get("reason") or "it recorded no verdict"
    changed = params.apply and any(
        (read_record(run_dir, p.id) or {}).get("changes") and any(c["done"] for c in read_record(run_dir, p.id)["changes"])
        for p in PHASES if p.mutating
    )
    if spec.id == "90":
        nxt = ("restore by hand from the verified backup named in records/90.json (values.backup), "
               "then check /health.")
    elif changed:
        nxt = (f"the host was changed: review {spec.stem}.html, then roll back with "
               f"`runbook run {params.source} --phases 90 --apply` (notebooks/90_rollback.ipynb).")
    else:
        nxt = f"nothing was changed on the host: fix the cause shown in {spec.stem}.html, then `runbook resume {run_dir}`."
    return f"phase {spec.id} ({spec.title}) failed at {where}: {what}. Next step: {nxt}"


def _execute(run_dir: Path, manifest: Manifest, params: Params, ids: list[str],
             progress: Callable[[str], None], skip: set[str] = frozenset()) -> RunOutcome:
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from .engine import SharedKernel

    outcome = RunOutcome(run_dir)
    total = len(ids)
    # HTML renderings are made on a worker thread while the next phase's kernel runs:
    # nbconvert is pure CPU work in this process, the phase is mostly another process.
    renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
    pending: list[tuple[str, list[Path], Future]] = []
    kernel = SharedKernel(KERNEL, cwd=NOTEBOOKS_DIR).__enter__()  # one kernel for every phase of the run
    try:
        for n, pid in enumerate(ids, 1):
            spec = BY_ID[pid]
            if pid in skip:
                outcome.statuses[pid] = "passed"
                continue
            progress(f"[{n}/{total}] {spec.id} {spec.title} ...")
            started, t0, wall0 = _dt.datetime.now(_dt.timezone.utc), time.monotonic(), time.time()
            out_nb = run_dir / f"{spec.stem}.ipynb"
            error = None
            try:
                kernel.execute(spec.notebook, out_nb, parameters=_parameters(params, run_dir),
                               progress_bar=False, log_output=False)
            except (PapermillExecutionError, DeadKernelError) as exc:
                error = exc
            except KeyboardInterrupt:
                manifest.append({"kind": "phase", "phase": pid, "status": "interrupted",
                                 "started": started.isoformat(), "duration_s": round(time.monotonic() - t0, 2)})
                raise Interrupted(f"interrupted during phase {pid} ({spec.title}); the archive is kept: "
                                  f"`runbook resume {run_dir}` continues from there.") from None
            duration = round(time.monotonic() - t0, 2)
            record = read_record(run_dir, pid)
            status = "error" if error is not None else ((record or {}).get("verdict") or "failed")
            message = "" if status in ("passed", "skipped") else _failure_message(spec, record, error, params, run_dir)
            manifest.append({"kind": "phase", "phase": pid, "status": status, "started": started.isoformat(),
                             "duration_s": duration, "message": message})
            pending.append((pid, _phase_files(run_dir, pid, out_nb, wall0), renderer.submit(_render_phase, out_nb)))
            outcome.statuses[pid] = status
            progress(f"[{n}/{total}] {spec.id} {spec.title}: {status} ({duration:.1f} s)")
            if status not in ("passed", "skipped"):
                outcome.message = message
                break
    finally:
        kernel.__exit__(None, None, None)
        for pid, files, job in pending:
            files += job.result()
            manifest.add_files([path for path in files if path.is_file()], phase=pid)
        renderer.shutdown()
        index = _render_index(run_dir, manifest)
    try:
        _scan_for_secrets(run_dir, params)
    except SecretLeak as exc:
        outcome.statuses["secrets"] = "failed"
        outcome.message = str(exc)
        manifest.append({"kind": "secret-scan", "status": "failed", "message": str(exc)})
        index = _render_index(run_dir, manifest)
    manifest.add_file(index)
    return outcome


def _render_phase(out_nb: Path) -> list[Path]:
    """The full and the stakeholder HTML of an executed notebook."""
    from .render import render_notebook

    if not out_nb.is_file():
        return []
    return [render_notebook(out_nb, out_nb.with_suffix(".html")),
            render_notebook(out_nb, out_nb.with_suffix(".stakeholder.html"), hide_code=True)]


def _phase_files(run_dir: Path, pid: str, out_nb: Path, wall_since: float) -> list[Path]:
    """What this phase wrote: its notebook, its records and the files it added to ``files/``."""
    paths = [out_nb, run_dir / "records" / f"{pid}.json"]
    phase_dir = run_dir / "records" / pid
    if phase_dir.is_dir():
        paths += sorted(p for p in phase_dir.rglob("*") if p.is_file())
    files_dir = run_dir / "files"
    if files_dir.is_dir():
        paths += sorted(p for p in files_dir.rglob("*") if p.is_file() and p.stat().st_mtime >= wall_since - 1)
    return paths


def _scan_for_secrets(run_dir: Path, params: Params) -> None:
    """Fail when a resolved secret value appears in any file of the archive."""
    values = [v.encode() for v in params.secret_values() if len(v) >= 4]
    if not values:
        return
    overlap = max(len(v) for v in values)
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file():
            continue
        with open(path, "rb") as fh:  # in chunks: snapshots can be gigabytes
            tail = b""
            while block := fh.read(1 << 22):
                data = tail + block
                if any(v in data for v in values):
                    raise SecretLeak(f"a secret value from the params was found in {path.relative_to(run_dir)}; "
                                     "treat the secret as exposed and rotate it.")
                tail = data[-overlap:]


__all__ = ["PHASES", "PhaseSpec", "RunOutcome", "run", "resume", "plan", "report", "select_phases",
           "available_phases", "PhaseFailed"]

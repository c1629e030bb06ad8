"""The run manifest: what ran, with which parameters, and a hash chain over it.

``manifest.json`` holds the run's header (run id, redacted parameters, the
runbook's git commit) and a list of entries. Each entry carries the SHA-256 of
the previous entry, so editing or removing an entry, or a file it lists,
shows up in :func:`verify_manifest`.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> m = Manifest.create(d, "demo", params={"apply": False}, params_file="p.yaml", phases=["00"])
>>> m.append({"kind": "phase", "phase": "00", "status": "passed"})["prev"] == GENESIS
True
>>> verify_manifest(d)
[]
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import subprocess
from pathlib import Path

from .params import PROJECT_ROOT

GENESIS = "0" * 64


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (backups can be gigabytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _entry_hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def runbook_commit() -> str:
    """The runbook checkout's git commit (with ``+dirty`` when it has local changes)."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (sha or "unknown") + ("+dirty" if dirty else "")


class Manifest:
    """Read, extend and save ``manifest.json`` of one run."""

    def __init__(self, run_dir: Path, data: dict):
        self.run_dir = Path(run_dir)
        self.data = data

    @property
    def path(self) -> Path:
        return self.run_dir / "manifest.json"

    @classmethod
    def create(cls, run_dir: Path, run_id: str, *, params: dict, params_file: str, phases: list[str]) -> "Manifest":
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        m = cls(run_dir, {
            "run_id": run_id,
            "created": now,
            "runbook_commit": runbook_commit(),
            "params_file": params_file,
            "params": params,
            "phases": phases,
            "entries": [],
        })
        m.save()
        return m

    @classmethod
    def load(cls, run_dir: Path) -> "Manifest":
        path = Path(run_dir) / "manifest.json"
        return cls(run_dir, json.loads(path.read_text()))

    def append(self, entry: dict, *, save: bool = True) -> dict:
        """Add an entry chained to the previous one, and save (``save=False``: the caller saves)."""
        entries = self.data["entries"]
        entry = {**entry, "prev": entries[-1]["hash"] if entries else GENESIS}
        entry["hash"] = _entry_hash(entry)
        entries.append(entry)
        if save:
            self.save()
        return entry

    def add_file(self, path: Path, phase: str | None = None) -> dict:
        """List one archived file with its SHA-256."""
        return self.add_files([path], phase)[0]

    def add_files(self, paths: list[Path], phase: str | None = None) -> list[dict]:
        """List archived files with their SHA-256, saving the manifest once."""
        entries = [self.append({"kind": "file", "phase": phase, "path": str(Path(p).relative_to(self.run_dir)),
                                "sha256": sha256_file(p)}, save=False) for p in paths]
        self.save()
        return entries

    def phase_status(self) -> dict[str, str]:
        """The latest status of each phase (a resumed run appends newer entries)."""
        status = {}
        for e in self.data["entries"]:
            if e.get("kind") == "phase":
                status[e["phase"]] = e["status"]
        return status

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False))
        tmp.replace(self.path)


def verify_manifest(run_dir: Path) -> list[str]:
    """Problems found in a run's manifest chain and listed files (empty when intact)."""
    m = Manifest.load(run_dir)
    problems, prev = [], GENESIS
    latest: dict[str, str] = {}
    for i, e in enumerate(m.data["entries"]):
        if e.get("prev") != prev:
            problems.append(f"entry {i} does not chain to entry {i - 1}")
        if _entry_hash(e) != e.get("hash"):
            problems.append(f"entry {i} was modified after it was written")
        prev = e.get("hash")
        if e.get("kind") == "file":
            latest[e["path"]] = e["sha256"]
    for rel, digest in latest.items():
        path = Path(run_dir) / rel
        if not path.is_file():
            problems.append(f"{rel} is listed but missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel} changed after it was archived")
    return problems

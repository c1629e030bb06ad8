"""Values a phase records for the pipeline and the report.

Each phase writes one sidecar file, ``<run_dir>/records/<phase>.json``, plus
tables (CSV) and figures (PNG) beside it in ``records/<phase>/``. The pipeline
reads the verdict from there, never by parsing notebook outputs.

Example
-------
>>> import tempfile, pathlib
>>> rec = Recorder(pathlib.Path(tempfile.mkdtemp()), "02")
>>> rec.record("user_count", 51)
>>> rec.check("lock is free", True, "is_locked = 0")
>>> rec.set_verdict("passed")
>>> read_record(rec.run_dir, "02")["values"]["user_count"]
51
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

VERDICTS = ("passed", "failed", "skipped")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from numpy/pandas scalars, paths, dataclasses and the like."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict") and callable(value.to_dict):
        try:
            return to_jsonable(value.to_dict(orient="records"))  # pandas DataFrame
        except TypeError:
            return to_jsonable(value.to_dict())
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return to_jsonable(dataclasses.asdict(value))
    if hasattr(value, "item"):
        return value.item()  # numpy scalar
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value)


class Recorder:
    """Writes a phase's record file; every call persists at once (a crash keeps what was said)."""

    def __init__(self, run_dir: Path, phase: str):
        self.run_dir = Path(run_dir)
        self.phase = phase
        self.dir = self.run_dir / "records" / phase
        self.path = self.run_dir / "records" / f"{phase}.json"
        self.data: dict[str, Any] = {
            "phase": phase,
            "started": _now(),
            "verdict": None,
            "reason": "",
            "values": {},
            "checks": [],
            "tables": {},
            "figures": {},
            "changes": [],
        }
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False))
        tmp.replace(self.path)

    def record(self, key: str, value: Any) -> None:
        """Store one figure or small value under ``key``."""
        self.data["values"][key] = to_jsonable(value)
        self._save()

    def table(self, key: str, frame) -> Path:
        """Store a DataFrame as ``records/<phase>/<key>.csv`` (and its rows in the record)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{key}.csv"
        frame.to_csv(path, index=False)
        self.data["tables"][key] = {"file": str(path.relative_to(self.run_dir)), "rows": to_jsonable(frame)}
        self._save()
        return path

    def figure(self, key: str, fig) -> Path:
        """Store a matplotlib figure as ``records/<phase>/<key>.png``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{key}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        self.data["figures"][key] = str(path.relative_to(self.run_dir))
        self._save()
        return path

    def check(self, name: str, ok: bool | None, evidence: Any = "", cell: int | None = None) -> None:
        """Add one check; ``ok=None`` means informational (neither pass nor fail)."""
        self.data["checks"].append(
            {"check": name, "ok": None if ok is None else bool(ok), "evidence": to_jsonable(evidence), "cell": cell}
        )
        self._save()

    def change(self, what: str, done: bool, detail: Any = "") -> None:
        """Add one change to the host: done (applied) or only planned (dry run)."""
        self.data["changes"].append({"change": what, "done": bool(done), "detail": to_jsonable(detail)})
        self._save()

    def set_verdict(self, verdict: str, reason: str = "") -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        self.data["verdict"] = verdict
        self.data["reason"] = reason
        self.data["finished"] = _now()
        self._save()


def read_record(run_dir: Path, phase: str) -> dict | None:
    """The record a phase left in ``run_dir``, or ``None`` if it left none."""
    path = Path(run_dir) / "records" / f"{phase}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())

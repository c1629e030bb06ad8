"""Helpers the tests share (imported by conftest.py and by test modules)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from runbook.params import PROJECT_ROOT
from runbook.sshd import free_ports  # noqa: F401  (tests import it from here)


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (to prove a dry run changed nothing)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Sandbox:
    """A running private sandbox and a params file that targets it."""

    info: dict
    params: Path
    workdir: Path

    @property
    def database(self) -> Path:
        return Path(self.info["database"])

    @property
    def app_root(self) -> Path:
        return Path(self.info["app_root"])

    @property
    def migrations(self) -> Path:
        return self.app_root / "backend" / "src" / "migrations"

    @property
    def api_url(self) -> str:
        return self.info["api_url"]


def sandbox_params(info: dict, path: Path, target: dict | None = None) -> Path:
    """Write a params file for the sandbox described by ``info`` (``sandbox.up``'s answer)."""
    data = {
        "target": target or {"kind": "local"},
        "app": {"root": info["app_root"], "env": {
            "PM2_HOME": info["pm2_home"],
            "PATH": f"{PROJECT_ROOT}/sandbox/node_modules/.bin:/usr/local/bin:/usr/bin:/bin",
        }},
        "services": {"api_url": info["api_url"], "mx_port": info["ports"]["mx"],
                     "submission_port": info["ports"]["submission"], "health_interval": 0.5},
        "backup": {"dir": info["backups"]},
        "monitor": {"alert_script": str(Path(info["workdir"]) / "bin" / "ultrazend_health_monitor.sh"),
                    "alert_log": str(Path(info["app_root"]) / "logs" / "health_monitor.log"),
                    "polls": 4, "poll_interval": 0.2},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path



"""Typed run parameters, loaded from YAML and validated before anything runs.

A params file has one mapping per section (``target``, ``app``, ``services``,
``backup``, ``repair``, ``deploy``, ``monitor``, ``schema``) plus ``apply``.
Every key has a default that targets the sandbox, so the notebooks' ``parameters``
cells (generated from :func:`notebook_defaults`) run as they are.

Paths may contain ``{project}``, the folder of this checkout, which is how the
sandbox params point at the sandbox wherever the repository was cloned.
Secrets are *references*, ``env:NAME`` or ``file:PATH``, resolved by
:func:`resolve_secret` inside the library; they never become notebook parameters.

Example
-------
>>> p = Params.from_dict({"apply": True, "services": {"mx_port": 25}}, source="inline")
>>> p.apply, p.services.mx_port, p.target.kind
(True, 25, 'local')
>>> Params().app.root == f"{PROJECT_ROOT}/.sandbox/ultrazend"
True
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ParamsError, SecretError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TargetParams:
    """How to reach the host."""

    kind: str = "local"  # local | ssh
    host: str = ""
    port: int = 22
    user: str = ""
    key_file: str = ""  # private key on the workstation; empty: use the SSH agent
    known_hosts: str = ""  # required for ssh: host keys are always verified
    password: str = ""  # secret reference only: env:NAME or file:PATH
    connect_timeout: float = 10.0
    command_timeout: float = 300.0


@dataclass(frozen=True)
class AppParams:
    """Where UltraZend lives on the host (relative paths are under ``root``)."""

    root: str = "{project}/.sandbox/ultrazend"
    backend: str = "backend"
    database: str = "backend/ultrazend.sqlite"
    migrations: str = "backend/src/migrations"
    logs: str = "logs"
    configs: str = "configs"
    git_remote: str = "origin"
    git_branch: str = "main"
    env: dict = field(
        default_factory=lambda: {
            "PM2_HOME": "{project}/.sandbox/pm2",
            "PATH": "{project}/sandbox/node_modules/.bin:/usr/local/bin:/usr/bin:/bin",
        }
    )

    def path(self, key_or_relative: str) -> str:
        """Absolute host path of a section key (``"database"``) or of a path under root."""
        rel = getattr(self, key_or_relative, key_or_relative) if key_or_relative in _APP_PATH_KEYS else key_or_relative
        return rel if rel.startswith("/") else f"{self.root.rstrip('/')}/{rel}"


_APP_PATH_KEYS = {"backend", "database", "migrations", "logs", "configs"}


@dataclass(frozen=True)
class ServicesParams:
    """The service endpoints and process manager."""

    api_url: str = "http://127.0.0.1:3001"
    health_path: str = "/health"
    endpoints: list = field(default_factory=lambda: ["/health", "/api/health", "/api/users/me"])
    api_token: str = ""  # secret reference for /api/users/me on real hosts
    smtp_host: str = "127.0.0.1"
    mx_port: int = 2525
    submission_port: int = 5875
    http_timeout: float = 5.0
    health_retries: int = 5
    health_interval: float = 1.0  # the seed waits 10 s between tries on production


@dataclass(frozen=True)
class BackupParams:
    """Where backups go on the host, and what phase 01 may do."""

    dir: str = "{project}/.sandbox/backups"
    stop_services: bool = False  # the seed stops PM2 here; downtime is recorded when it does
    free_space_factor: float = 2.0  # free space needed on the backup disk, in DB sizes
    keep_writes_stopped: bool = False


@dataclass(frozen=True)
class RepairParams:
    """Choices for phase 03."""

    renumber_duplicates: bool = False  # rename 007_add_bounce... only with its history row
    free_stale_lock: bool = True
    write_fix_migrations: bool = True
    system_user_email: str = "system@ultrazend.com.br"
    verified_column: str = "is_verified"
    legacy_column: str = "email_verified"


@dataclass(frozen=True)
class DeployParams:
    """How phase 06 ships the repaired migrations."""

    command: list = field(default_factory=lambda: ["./deploy.sh"])
    log: str = "logs/deploy.log"
    commit_message: str = "fix: repair knex migration history and users.is_verified"
    push: bool = True
    timeout: float = 600.0


@dataclass(frozen=True)
class MonitorParams:
    """Phase 07: polling and the alert script."""

    polls: int = 10
    poll_interval: float = 0.5
    alert_script: str = "{project}/.sandbox/bin/ultrazend_health_monitor.sh"
    alert_log: str = "{project}/.sandbox/ultrazend/logs/health_monitor.log"
    install_cron: bool = False
    cron_schedule: str = "*/5 * * * *"


@dataclass(frozen=True)
class SchemaParams:
    """The schema the repaired database must have."""

    expected: str = "{project}/params/expected_schema.yaml"  # a file on the workstation


SECTIONS: dict[str, type] = {
    "target": TargetParams,
    "app": AppParams,
    "services": ServicesParams,
    "backup": BackupParams,
    "repair": RepairParams,
    "deploy": DeployParams,
    "monitor": MonitorParams,
    "schema": SchemaParams,
}

SECRET_KEYS = {("target", "password"), ("services", "api_token")}


@dataclass(frozen=True)
class Params:
    """All parameters of a run."""

    target: TargetParams = field(default_factory=lambda: _expand_obj(TargetParams()))
    app: AppParams = field(default_factory=lambda: _expand_obj(AppParams()))
    services: ServicesParams = field(default_factory=lambda: _expand_obj(ServicesParams()))
    backup: BackupParams = field(default_factory=lambda: _expand_obj(BackupParams()))
    repair: RepairParams = field(default_factory=lambda: _expand_obj(RepairParams()))
    deploy: DeployParams = field(default_factory=lambda: _expand_obj(DeployParams()))
    monitor: MonitorParams = field(default_factory=lambda: _expand_obj(MonitorParams()))
    schema: SchemaParams = field(default_factory=lambda: _expand_obj(SchemaParams()))
    apply: bool = False
    source: str = field(default="defaults", compare=False)

    @classmethod
    def from_dict(cls, data: dict, source: str = "params") -> "Params":
        """Validate ``data`` (as read from YAML) and expand ``{project}`` in strings."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ParamsError(f"{source}: expected a mapping of sections at the top level, got {_kind(data)}.")
        known = set(SECTIONS) | {"apply"}
        for key in data:
            if key not in known:
                raise ParamsError(
                    f"{source}: unknown key {key!r}; expected one of {', '.join(sorted(known))}."
                )
        kwargs: dict[str, Any] = {}
        for name, section_cls in SECTIONS.items():
            kwargs[name] = _section(section_cls, data.get(name) or {}, f"{source}: key '{name}", source)
        if "apply" in data:
            kwargs["apply"] = _coerce(bool, data["apply"], f"{source}: key 'apply'")
        return cls(**kwargs, source=source)

    def with_apply(self, apply: bool) -> "Params":
        return dataclasses.replace(self, apply=apply)

    def to_dict(self) -> dict:
        """Plain data (secret references stay references), as the notebooks receive it."""
        out = {name: _expand_back(dataclasses.asdict(getattr(self, name))) for name in SECTIONS}
        out["apply"] = self.apply
        return out

    def redacted(self) -> dict:
        """:meth:`to_dict` with every secret key masked, for manifests and reports."""
        out = self.to_dict()
        for section, key in SECRET_KEYS:
            if out[section].get(key):
                out[section][key] = _redact(out[section][key])
        return out

    def secret_values(self) -> list[str]:
        """Every secret this run resolves, to scan the archive for leaks."""
        values = []
        for section, key in SECRET_KEYS:
            ref = getattr(getattr(self, section), key)
            if ref:
                values.append(resolve_secret(ref, f"{section}.{key}"))
        return [v for v in values if v]

    def check_workstation_files(self) -> None:
        """Fail early when a file the workstation must read is missing."""
        if not Path(self.schema.expected).is_file():
            raise ParamsError(f"{self.source}: key 'schema.expected' names {self.schema.expected}, which does not exist.")
        if self.target.kind == "ssh":
            for key in ("known_hosts", "key_file"):
                value = getattr(self.target, key)
                if value and not Path(value).is_file():
                    raise ParamsError(f"{self.source}: key 'target.{key}' names {value}, which does not exist.")
        for section, key in SECRET_KEYS:
            ref = getattr(getattr(self, section), key)
            if ref:
                resolve_secret(ref, f"{section}.{key}")


def load_params(path: str | Path, *, apply: bool | None = None) -> Params:
    """Read and validate a params file; raise :class:`ParamsError` naming the problem.

    >>> load_params(PROJECT_ROOT / "params" / "sandbox.yaml").target.kind
    'local'
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: is not valid YAML{where}.") from exc
    params = Params.from_dict(data, source=str(path))
    if apply is not None and apply:
        params = params.with_apply(True)
    params.check_workstation_files()
    return params


def resolve_secret(ref: str, key: str = "secret") -> str:
    """Resolve ``env:NAME`` or ``file:PATH`` to the secret's value.

    >>> os.environ["RB_DOCTEST_SECRET"] = "s3cret"
    >>> resolve_secret("env:RB_DOCTEST_SECRET")
    's3cret'
    """
    if not ref:
        return ""
    kind, _, name = ref.partition(":")
    if kind == "env" and name:
        if name not in os.environ:
            raise SecretError(f"key '{key}' refers to environment variable {name}, which is not set.")
        return os.environ[name]
    if kind == "file" and name:
        p = Path(_expand(name))
        if not p.is_file():
            raise SecretError(f"key '{key}' refers to file {p}, which does not exist.")
        return p.read_text().strip()
    raise SecretError(f"key '{key}' must be a reference like env:NAME or file:PATH, not a literal value.")


def notebook_defaults() -> dict:
    """The defaults every notebook's ``parameters`` cell holds (sandbox, dry run)."""
    out = {name: dataclasses.asdict(cls()) for name, cls in SECTIONS.items()}
    out["apply"] = False
    return out


def parameters_cell_source() -> str:
    """Source of the ``parameters`` cell, generated from the schema defaults."""
    lines = [
        "# Parameters (papermill). Defaults: the sandbox, dry run. `runbook run` injects a params file's values.",
    ]
    for name, value in notebook_defaults().items():
        lines.append(f"{name} = {value!r}")
    lines.append('run_dir = ""  # empty: outputs/interactive')
    return "\n".join(lines)


def params_from_notebook(namespace: dict) -> Params:
    """Rebuild :class:`Params` from the variables of a notebook's parameters cell."""
    data = {k: namespace[k] for k in (*SECTIONS, "apply") if k in namespace}
    return Params.from_dict(data, source="notebook parameters")


# --- validation helpers -------------------------------------------------------------------------


def _section(cls, data, where: str, source: str):
    if not isinstance(data, dict):
        raise ParamsError(f"{where}' expects a mapping, got {_kind(data)}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ParamsError(
                f"{where}.{key}' is unknown; expected one of {', '.join(sorted(fields))}."
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        section = where.split("'")[-1]
        if (section, key) in SECRET_KEYS and value:
            if not isinstance(value, str) or not value.startswith(("env:", "file:")):
                raise ParamsError(
                    f"{source}: key '{section}.{key}' must be a reference like env:NAME or file:PATH, not a literal secret."
                )
        kwargs[key] = _coerce(hints[key], value, f"{where}.{key}'")
    obj = cls(**kwargs)
    return _expand_obj(obj)


def _coerce(typ, value, where: str):
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ParamsError(f"{where} expects true or false, got {value!r}.")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ParamsError(f"{where} expects an integer, got {value!r}.")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ParamsError(f"{where} expects a number, got {value!r}.")
    if typ is str:
        if isinstance(value, str):
            return value
        raise ParamsError(f"{where} expects a string, got {value!r}.")
    if typ is list:
        if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            return [str(v) for v in value]
        raise ParamsError(f"{where} expects a list of strings, got {value!r}.")
    if typ is dict:
        if isinstance(value, dict) and all(isinstance(v, (str, int)) for v in value.values()):
            return {str(k): str(v) for k, v in value.items()}
        raise ParamsError(f"{where} expects a mapping of strings, got {value!r}.")
    return value


def _expand(value: str) -> str:
    return value.replace("{project}", str(PROJECT_ROOT))


def _expand_back(value):
    """Inverse of ``_expand`` for plain data, so archives stay portable."""
    if isinstance(value, str):
        return value.replace(str(PROJECT_ROOT), "{project}")
    if isinstance(value, list):
        return [_expand_back(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand_back(v) for k, v in value.items()}
    return value


# Paths read on the workstation (not on the host) may start with ~.
_WORKSTATION_PATHS = {"key_file", "known_hosts", "expected"}


def _expand_obj(obj):
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, str):
            changes[f.name] = _expand(value)
            if f.name in _WORKSTATION_PATHS and value:
                changes[f.name] = os.path.expanduser(changes[f.name])
        elif isinstance(value, list):
            changes[f.name] = [_expand(v) for v in value]
        elif isinstance(value, dict):
            changes[f.name] = {k: _expand(v) for k, v in value.items()}
    return dataclasses.replace(obj, **changes)


def _redact(ref: str) -> str:
    return ref if ref.startswith(("env:", "file:")) else "***"


def _kind(value) -> str:
    return "nothing" if value is None else type(value).__name__


__all__ = [
    "Params",
    "TargetParams",
    "AppParams",
    "ServicesParams",
    "BackupParams",
    "RepairParams",
    "DeployParams",
    "MonitorParams",
    "SchemaParams",
    "SECTIONS",
    "load_params",
    "resolve_secret",
    "notebook_defaults",
    "parameters_cell_source",
    "params_from_notebook",
    "PROJECT_ROOT",
]

"""Phase 99: the seed's success criteria, each with its evidence, from the records of the run.

Read-only: nothing here touches the host. Every criterion of the seed's *Critérios de
sucesso* becomes one row ``{criterion, verdict, evidence}``: ``passed`` or ``failed`` when
a phase of this run measured it (the evidence is one sentence with the figure), ``not run``
when no phase did (a dry run, or a phase left out). Phases 05-08 are read generically
(verdict, checks, a few well-known values), so a record with other keys still reports.

Example
-------
>>> recs = {"07": {"verdict": "passed", "values": {"health_samples_ok": "10/10", "error_500_after": 0,
...                 "error_500_before": 41}, "checks": [{"check": "no HTTP 500 after the repair", "ok": True}]},
...         "03": {"values": {"applied_at": "2026-12-03T19:02:11+00:00"}}}
>>> [(r["verdict"], r["evidence"]) for r in criteria_rows(recs)[:2]]
[('passed', '0 HTTP 500 after 19:02:11 (41 before the repair)'), ('passed', '10/10 health checks 200')]
>>> overall([{"verdict": "passed"}, {"verdict": "not run"}])
'passed'
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from pathlib import Path

import pandas as pd

from .records import read_record

CRITERIA = (
    "Zero HTTP 500 in the logs after the repair",
    "All health checks return 200",
    "Migrations without conflicts",
    "Schema consistent in every table",
    "SMTP services working",
    "Deploy pipeline without warnings",
    "Monitoring active and working",
)
NOT_RUN = "not run"


def _time(value) -> _dt.datetime | None:
    if not value:
        return None
    try:
        t = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def _hms(value) -> str:
    t = _time(value)
    return t.strftime("%H:%M:%S") if t else str(value)


def _checks(rec: dict | None, pattern: str) -> list[dict]:
    """Checks of a record whose name matches ``pattern`` (case-insensitive)."""
    return [c for c in (rec or {}).get("checks", []) if re.search(pattern, c.get("check", ""), re.I)]


def _tally(rec: dict | None) -> str:
    decided = [c for c in (rec or {}).get("checks", []) if c.get("ok") is not None]
    return f"{sum(c['ok'] for c in decided)}/{len(decided)} checks passed"


def _verdict(ok: bool | None) -> str:
    return NOT_RUN if ok is None else ("passed" if ok else "failed")


def _absent(phase: str, name: str) -> tuple[str, str]:
    return NOT_RUN, f"phase {phase} ({name}) did not run in this run"


# --- the seven criteria -------------------------------------------------------------------------


def _zero_500(r: dict) -> tuple[str, str]:
    rec = r.get("07")
    if not rec:
        return _absent("07", "monitoring")
    v = rec.get("values", {})
    repaired = (r.get("03") or {}).get("values", {}).get("applied_at")
    after, before = v.get("error_500_after"), v.get("error_500_before")
    if after is None or not repaired:
        return NOT_RUN, f"no repair time in this run, so no 'after'; {before if before is not None else '?'} HTTP 500 in the logs overall"
    return _verdict(after == 0), f"{after} HTTP 500 after {_hms(repaired)} ({before} before the repair)"


def _health(r: dict) -> tuple[str, str]:
    rec = r.get("07")
    if not rec:
        after = _checks(r.get("90"), r"health answers 200")
        if after:  # a rollback run: its own health check after the restart
            return _verdict(after[-1]["ok"]), f"after the rollback: {after[-1].get('evidence', '')}"
        return _absent("07", "monitoring")
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(rec.get("values", {}).get("health_samples_ok", "")))
    if m:
        ok, n = int(m.group(1)), int(m.group(2))
        return _verdict(n > 0 and ok == n), f"{ok}/{n} health checks 200"
    polls = _checks(rec, r"health")
    if polls:
        return _verdict(all(c["ok"] for c in polls if c["ok"] is not None) if any(c["ok"] is not None for c in polls) else None), \
            "; ".join(f"{c['check']}: {c.get('evidence', '')}" for c in polls)
    return NOT_RUN, "phase 07 recorded no health samples"


def _migrations(r: dict) -> tuple[str, str]:
    rec = r.get("03")
    if not rec:
        return _absent("03", "fix migrations")
    status = _checks(rec, r"migrate:status")
    applied = (r.get("04") or {}).get("values", {}).get("migrations_applied")
    count = f"{applied} migrations applied, " if applied is not None else ""
    if status:
        c = status[-1]
        return _verdict(c["ok"]), (f"knex migrate:status clean: {count}none pending or missing" if c["ok"]
                                   else f"knex migrate:status not clean: {str(c.get('evidence', ''))[-160:]}")
    reh = rec.get("values", {}).get("rehearsal") or {}
    if not rec.get("values", {}).get("apply"):
        return NOT_RUN, (f"dry run: the rehearsal on a copy ended with {len(reh.get('pending_after') or [])} pending, "
                         f"{len(reh.get('missing_after') or [])} missing; the live history was not changed")
    return _verdict(rec.get("verdict") == "passed"), f"phase 03 {rec.get('verdict')}: {_tally(rec)}"


def _schema(r: dict) -> tuple[str, str]:
    rec = r.get("04")
    if not rec:
        return _absent("04", "validate schema")
    checks = _checks(rec, r"expected schema")
    mode = (rec.get("values", {}).get("validated") or {}).get("mode", "live")
    evidence = checks[-1].get("evidence", "") if checks else _tally(rec)
    if mode != "live":
        return NOT_RUN, f"dry run: the {mode} meets {evidence}; the live database was not validated"
    ok = checks[-1]["ok"] if checks else rec.get("verdict") == "passed"
    return _verdict(ok), f"live database: {evidence}"


def _smtp(r: dict) -> tuple[str, str]:
    for phase in ("07", "05", "06"):
        checks = [c for c in _checks(r.get(phase), r"^smtp") if c.get("ok") is not None]
        if checks:
            ok = sum(c["ok"] for c in checks)
            ports = ", ".join(re.sub(r"^SMTP\s*|\s*answers", "", c["check"]) for c in checks)
            return _verdict(ok == len(checks)), f"{ok}/{len(checks)} SMTP probes answered ({ports})"
    return _absent("07", "monitoring")


def _deploy(r: dict) -> tuple[str, str]:
    rec = r.get("06")
    if not rec:
        return _absent("06", "deploy")
    v = rec.get("values", {})
    if not v.get("apply", True):
        return NOT_RUN, "dry run: nothing was deployed"
    warnings = None
    for key, value in v.items():
        if "warn" in key.lower():
            warnings = value if isinstance(value, int) else len(value) if isinstance(value, (list, dict)) else warnings
    commit = next((str(val) for key, val in v.items() if "commit" in key.lower() and isinstance(val, str)
                   and re.fullmatch(r"[0-9a-f]{7,40}", val)), "")
    ok = rec.get("verdict") == "passed" and not warnings
    parts = [f"deploy {rec.get('verdict')}" + (f" (commit {commit[:10]})" if commit else ""), _tally(rec)]
    if warnings is not None:
        parts.append(f"{warnings} warnings in the deploy log")
    return _verdict(ok), ", ".join(parts)


def _monitoring(r: dict) -> tuple[str, str]:
    rec = r.get("07")
    if not rec:
        return _absent("07", "monitoring")
    v = rec.get("values", {})
    alert = [c for c in rec.get("changes", []) if "alert" in c.get("change", "").lower() or "cron" in c.get("change", "").lower()]
    pending = [c for c in alert if not c.get("done")]
    script = v.get("alert_script", "the alert script")
    if pending:
        return NOT_RUN, f"dry run: {script} would be installed; phase 07 {rec.get('verdict')}, {_tally(rec)}"
    state = "installed" if alert else "in place (unchanged)"
    return _verdict(rec.get("verdict") == "passed"), f"phase 07 {rec.get('verdict')}, {_tally(rec)}; alert script {state}"


_RULES = (_zero_500, _health, _migrations, _schema, _smtp, _deploy, _monitoring)


def criteria_rows(records: dict[str, dict | None]) -> list[dict]:
    """The seven criteria, each ``{criterion, verdict, evidence}``, from records keyed by phase id."""
    rows = []
    for name, rule in zip(CRITERIA, _RULES):
        try:
            verdict, evidence = rule(records)
        except Exception as exc:  # a record of an unexpected shape must not hide the other criteria
            verdict, evidence = NOT_RUN, f"could not read the evidence: {type(exc).__name__}: {exc}"
        rows.append({"criterion": name, "verdict": verdict, "evidence": evidence})
    return rows


def overall(rows: list[dict]) -> str:
    """``passed`` when every criterion with evidence passed, ``skipped`` when none has evidence."""
    judged = [r for r in rows if r["verdict"] != NOT_RUN]
    if not judged:
        return "skipped"
    return "passed" if all(r["verdict"] == "passed" for r in judged) else "failed"


def load_records(run_dir: Path, phases=None) -> dict[str, dict | None]:
    """Every record of a run (or of ``phases``), keyed by phase id."""
    from .pipeline import PHASES

    ids = phases or [p.id for p in PHASES if p.id != "99"]
    return {pid: read_record(run_dir, pid) for pid in ids}


def criteria(run_dir: Path) -> pd.DataFrame:
    """:func:`criteria_rows` for a run folder, as a table."""
    return pd.DataFrame(criteria_rows(load_records(run_dir)), columns=["criterion", "verdict", "evidence"])


# --- downtime and phases ------------------------------------------------------------------------


def _health_samples(rec: dict | None) -> list[dict]:
    """Rows of any table of a record that holds timed health answers (``at`` and ``ok``)."""
    rows = []
    for table in (rec or {}).get("tables", {}).values():
        rows += [x for x in table.get("rows", []) if isinstance(x, dict) and "at" in x and "ok" in x]
    return rows


def downtime(records: dict[str, dict | None]) -> tuple[float | None, str]:
    """Seconds from the services' stop (record 01, or 90) to the first HTTP 200 after it.

    0 when the services were never stopped; ``None`` when they were but no 200 was seen since.

    >>> downtime({"01": {"values": {"services_stopped_at": "2026-12-03T10:00:00+00:00"}},
    ...           "07": {"tables": {"p": {"rows": [{"at": "2026-12-03T10:00:42+00:00", "ok": True}]}}}})
    (42.0, 'services stopped at 10:00:00, first HTTP 200 at 10:00:42')
    """
    stops = [(pid, (records.get(pid) or {}).get("values", {}).get("services_stopped_at")) for pid in ("01", "90")]
    stops = [(pid, _time(at)) for pid, at in stops if _time(at)]
    if not stops:
        return 0.0, "the services were never stopped in this run"
    pid, stopped = min(stops, key=lambda x: x[1])
    oks = sorted(t for rec in records.values() for x in _health_samples(rec)
                 if x.get("ok") and (t := _time(x["at"])) and t >= stopped)
    if not oks:
        return None, f"services stopped at {_hms(stopped.isoformat())} (phase {pid}); no HTTP 200 recorded since"
    return round((oks[0] - stopped).total_seconds(), 1), \
        f"services stopped at {_hms(stopped.isoformat())}, first HTTP 200 at {_hms(oks[0].isoformat())}"


def phase_table(run_dir: Path) -> pd.DataFrame:
    """One row per phase that left a record: id, title, verdict, checks and its HTML page."""
    from .pipeline import PHASES

    rows = []
    for p in PHASES:
        rec = read_record(run_dir, p.id) if p.id != "99" else None
        if not rec:
            continue
        page = f"{p.stem}.html"
        rows.append({"phase": p.id, "title": p.title, "verdict": rec.get("verdict") or "not finished",
                     "checks": _tally(rec), "mode": "apply" if rec.get("values", {}).get("apply") else "dry run",
                     "page": page})
    return pd.DataFrame(rows, columns=["phase", "title", "verdict", "checks", "mode", "page"])


def phase_table_html(table: pd.DataFrame) -> str:
    """The phase table with a link to each phase's page (for the notebook's output)."""
    t = table.copy()
    t["page"] = [f"<a href='{html.escape(p)}'>{html.escape(p)}</a>" for p in t["page"]]
    return t.to_html(index=False, escape=False)


def final_verdict(phases: pd.DataFrame, rows: list[dict]) -> str:
    """``passed`` when every phase that ran passed and no criterion failed."""
    if any(v not in ("passed", "skipped") for v in phases.get("verdict", [])):
        return "failed"
    return "failed" if any(r["verdict"] == "failed" for r in rows) else "passed"


__all__ = ["CRITERIA", "criteria_rows", "criteria", "overall", "load_records", "downtime", "phase_table",
           "phase_table_html", "final_verdict"]

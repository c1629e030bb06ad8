"""The seed's health alert script (7.3), made safe to leave running from cron.

What changed from the seed's script, and why:

- the URL, log file, PM2_HOME and PATH come from the params (cron has almost no
  environment: without PM2_HOME ``pm2`` talks to a different, empty daemon);
- ``curl -f -s --max-time``: a hung API must not hang cron runs forever;
- only the app's own PM2 processes restart (``pm2 restart all`` also bounces every other
  service on the host);
- ``flock -n`` on a lock file: a run still waiting out its 30 s retry must not overlap the next;
- every log line starts with an ISO-8601 UTC timestamp, so it sorts and greps;
- no secrets: the script needs none, and it is readable by whoever reads the host;
- the cron line is *merged* into the user's crontab: the seed's ``echo ... | crontab -``
  replaces the whole crontab, wiping every other job.

Example
-------
>>> from runbook.params import Params
>>> p = Params.from_dict({"monitor": {"alert_script": "/opt/uz/monitor.sh"}})
>>> cron_line(p)
'*/5 * * * * /opt/uz/monitor.sh >/dev/null 2>&1'
>>> merge_crontab("MAILTO=ops\\n0 3 * * * backup.sh\\n", cron_line(p), "/opt/uz/monitor.sh")[1]
True
"""

from __future__ import annotations

import hashlib
import json
import shlex

from .changes import Change
from .errors import TargetError
from .health import health_url

RETRY_AFTER_S = 30  # the seed waits 30 s after the restart before declaring it critical
CURL_MAX_TIME_S = 10

_TEMPLATE = """#!/usr/bin/env bash
# UltraZend health monitor, written by the recovery runbook (phase 07).
# Runs from cron; checks the health URL, restarts the app's PM2 processes once if it fails,
# and logs one ISO-8601 line per event. It holds no secrets. Edit the params, not this file.
set -u

HEALTH_URL={url}
LOG_FILE={log}
LOCK_FILE={lock}
PM2_APPS=({apps})
MAX_TIME={max_time}
# The wait before the second check; the environment may shorten it (tests).
RETRY_AFTER="${{ULTRAZEND_MONITOR_RETRY_AFTER:-{retry}}}"
{exports}
mkdir -p "$(dirname "$LOG_FILE")"

log() {{
    printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> "$LOG_FILE"
}}

healthy() {{
    curl -f -s -o /dev/null --max-time "$MAX_TIME" "$HEALTH_URL"
}}

if ! command -v flock >/dev/null 2>&1; then
    log "ERROR flock not found: cannot guarantee a single run; giving up"
    exit 3
fi
exec 9>"$LOCK_FILE"
if ! flock -n 9; then
    log "SKIP another run still holds $LOCK_FILE"
    exit 0
fi

if healthy; then
    log "OK $HEALTH_URL healthy"
    exit 0
fi

log "FAIL $HEALTH_URL health check failed; restarting PM2 processes: ${{PM2_APPS[*]}}"
for app in "${{PM2_APPS[@]}}"; do
    if pm2 restart "$app" >> "$LOG_FILE" 2>&1; then
        log "RESTART pm2 restart $app done"
    else
        log "ERROR pm2 restart $app failed"
    fi
done

sleep "$RETRY_AFTER"
if healthy; then
    log "RECOVERED $HEALTH_URL healthy after restart"
    exit 0
fi
log "CRITICAL $HEALTH_URL still failing ${{RETRY_AFTER}}s after restart"
# Hook for paging (mail, Slack, ...) goes here; its credentials belong in the host's config, not in this file.
exit 2
"""


def app_process_names(target, app_root: str) -> list[str]:
    """Names of the PM2 processes whose working directory or script lies under ``app_root``.

    Raises
    ------
    TargetError
        When ``pm2 jlist`` fails or prints no JSON.

    Examples
    --------
    >>> from runbook.target import RecordingTarget
    >>> out = '[{"name":"ultrazend-api","pm2_env":{"pm_cwd":"/var/www/ultrazend/backend"}},' \\
    ...       '{"name":"other","pm2_env":{"pm_cwd":"/srv/other"}}]'
    >>> app_process_names(RecordingTarget(answers={"pm2 jlist": (0, out, "")}), "/var/www/ultrazend")
    ['ultrazend-api']
    """
    r = target.run(["pm2", "jlist"], timeout=60)
    text = r.stdout.strip()
    start = text.find("[")
    if not r.ok or start < 0:
        raise TargetError(f"cannot list PM2 processes (`pm2 jlist` exited {r.exit_code}): {r.stderr.strip()[:200]}")
    try:
        items = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise TargetError(f"`pm2 jlist` did not print JSON: {text[:200]!r}") from exc
    root = app_root.rstrip("/") + "/"
    names = []
    for p in items:
        env = p.get("pm2_env") or {}
        where = [env.get("pm_cwd") or "", env.get("pm_exec_path") or ""]
        if any((w.rstrip("/") + "/").startswith(root) for w in where) and p.get("name") not in names:
            names.append(p.get("name"))
    return names


def render_alert_script(params, processes: list[str]) -> str:
    """The alert script's text for ``params`` (bash; every value quoted with :func:`shlex.quote`).

    Parameters
    ----------
    params : Params
        Uses ``services.api_url`` + ``health_path``, ``monitor.alert_log`` and ``app.env``
        (PM2_HOME and PATH, exported because cron starts with an almost empty environment).
    processes : list of str
        The app's PM2 process names (see :func:`app_process_names`); never ``all``.

    Examples
    --------
    >>> from runbook.params import Params
    >>> s = render_alert_script(Params(), ["ultrazend-api"])
    >>> "pm2 restart all" in s, "--max-time" in s, "flock -n 9" in s
    (False, True, True)
    """
    if not processes:
        raise TargetError("no PM2 process of the app was found; the alert script would have nothing to restart.")
    if "all" in processes:
        raise TargetError("the alert script restarts the app's own PM2 processes only, never 'all'.")
    env = {k: v for k, v in params.app.env.items() if k in ("PM2_HOME", "PATH")}
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    return _TEMPLATE.format(
        url=shlex.quote(health_url(params)),
        log=shlex.quote(params.monitor.alert_log),
        lock=shlex.quote(params.monitor.alert_log + ".lock"),
        apps=" ".join(shlex.quote(p) for p in processes),
        max_time=CURL_MAX_TIME_S,
        retry=RETRY_AFTER_S,
        exports=exports,
    )


def script_preview(target, params) -> str:
    """The script as it is (or would be) written, or one sentence saying why it cannot be shown."""
    try:
        return render_alert_script(params, app_process_names(target, params.app.root))
    except TargetError as exc:
        return f"(the alert script cannot be rendered yet: {exc})"


def cron_line(params) -> str:
    """The crontab line that runs the alert script on ``monitor.cron_schedule``.

    ``%`` is escaped because cron turns a bare ``%`` into a newline.

    >>> from runbook.params import Params
    >>> cron_line(Params.from_dict({"monitor": {"alert_script": "/opt/a b/m.sh", "cron_schedule": "* * * * *"}}))
    "* * * * * '/opt/a b/m.sh' >/dev/null 2>&1"
    """
    command = shlex.quote(params.monitor.alert_script).replace("%", "\\%")
    return f"{params.monitor.cron_schedule} {command} >/dev/null 2>&1"


def merge_crontab(existing: str, line: str, script_path: str) -> tuple[str, bool]:
    """Put ``line`` into a crontab's text, keeping every other line; return (text, changed).

    A line already running ``script_path`` (e.g. with an older schedule) is replaced, so
    the job is never listed twice; an identical line changes nothing.

    >>> merge_crontab("0 3 * * * backup.sh\\n", "*/5 * * * * /m.sh", "/m.sh")
    ('0 3 * * * backup.sh\\n*/5 * * * * /m.sh\\n', True)
    >>> merge_crontab("*/5 * * * * /m.sh\\n", "*/5 * * * * /m.sh", "/m.sh")
    ('*/5 * * * * /m.sh\\n', False)
    """
    lines = existing.splitlines()
    ours = [i for i, ln in enumerate(lines) if _runs(ln, script_path)]
    if len(ours) == 1 and lines[ours[0]] == line:
        return (existing if existing.endswith("\n") else existing + "\n"), False
    kept = [ln for i, ln in enumerate(lines) if i not in ours]
    kept.insert(ours[0] if ours else len(kept), line)  # keep our job where it was
    return "\n".join(kept) + "\n", True


def _runs(crontab_line: str, script_path: str) -> bool:
    """Whether an active crontab line runs ``script_path`` (a word of it, not a substring)."""
    if crontab_line.lstrip().startswith("#"):
        return False
    try:
        words = shlex.split(crontab_line, comments=True)
    except ValueError:  # unbalanced quotes in someone else's line: fall back to a plain search
        words = crontab_line.split()
    return script_path in words


def read_crontab(target) -> str:
    """The user's crontab on the host ('' when there is none yet)."""
    r = target.run(["crontab", "-l"], timeout=30)
    if r.ok:
        return r.stdout
    if r.exit_code == 1 and "no crontab" in (r.stderr + r.stdout).lower():
        return ""
    raise TargetError(f"cannot read the crontab on the host (`crontab -l` exited {r.exit_code}): {r.stderr.strip()[:200]}")


def install_alert(target, params, *, apply: bool, processes: list[str] | None = None) -> list[Change]:
    """Write the alert script (mode 0755) and, when asked, merge its cron line.

    Parameters
    ----------
    target : Target
    params : Params
        ``monitor.alert_script`` is where the script goes; the cron line is installed only
        when ``monitor.install_cron`` is true.
    apply : bool
        False: change nothing, return what would change.
    processes : list of str, optional
        The PM2 process names to restart; read from PM2 (:func:`app_process_names`) when omitted.

    Returns
    -------
    list of Change
        Empty when the script and the crontab are already as wanted (running twice changes
        nothing the second time).

    Examples
    --------
    >>> from runbook.params import Params
    >>> from runbook.target import RecordingTarget
    >>> t = RecordingTarget()
    >>> [c.done for c in install_alert(t, Params(), apply=False, processes=["ultrazend-api"])], t.files
    ([False], {})
    """
    changes: list[Change] = []
    path = params.monitor.alert_script
    try:
        if processes is None:
            processes = app_process_names(target, params.app.root)
        script = render_alert_script(params, processes)
    except TargetError as exc:
        if apply:
            raise
        # A dry run still reports the plan when PM2 is down (e.g. before the repair).
        return [Change("write the health alert script", False, f"{path}: cannot be rendered yet: {exc}")]
    data = script.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()[:12]
    current = target.read_bytes(path) if target.exists(path) else None
    detail = f"{path}: {len(script.splitlines())} lines, sha256 {digest}…, restarts {', '.join(processes)}"
    if current != data:
        if apply:
            target.write_bytes(path, data, mode=0o755)
        changes.append(Change(f"{'replace' if current is not None else 'write'} the health alert script", apply, detail))
    elif apply:
        target.run(["chmod", "0755", path], timeout=30, check=True)  # content right; make sure it runs

    if params.monitor.install_cron:
        line = cron_line(params)
        try:
            existing = read_crontab(target)
        except TargetError as exc:
            if apply:
                raise
            return changes + [Change("add the alert script to the crontab", False, f"{line} (crontab unreadable: {exc})")]
        merged, changed = merge_crontab(existing, line, path)
        if changed:
            if apply:
                target.run(["crontab", "-"], input=merged, timeout=30, check=True)
                if line not in read_crontab(target).splitlines():
                    raise TargetError("the crontab did not keep the alert line after `crontab -`.")
            changes.append(Change("add the alert script to the crontab", apply,
                                  f"{line} (other crontab lines kept: {len([ln for ln in existing.splitlines() if ln.strip()])})"))
    return changes


__all__ = ["render_alert_script", "script_preview", "cron_line", "merge_crontab", "read_crontab", "install_alert",
           "app_process_names", "RETRY_AFTER_S"]

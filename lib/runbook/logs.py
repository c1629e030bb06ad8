"""UltraZend's logs, scanned on the host (the seed's 7.1 ``tail`` and the 500-per-minute view).

Log files can be gigabytes, so every scan runs where the file is (``grep``,
``tail``, ``uniq -c``) and only matches or counts travel back. Files are
listed with ``find`` (argv, no shell glob); the one pipeline is built from
:func:`shlex.join` pieces.

The request log has one JSON object per line, ``ts`` first::

    {"ts":"2026-12-03T18:50:01.123Z","level":"error","method":"GET","path":"/health","status":500,...}

Example
-------
>>> from runbook.target import RecordingTarget
>>> t = RecordingTarget(answers={"find": (0, "/app/logs/application/app-2026-12-03.log\\n", ""),
...                              "sh -c": (0, '      3 {"ts":"2026-12-03T18:50:01.123Z","lev\\n', "")})
>>> count_status_per_minute(t, "/app/logs/application/app-*.log")["count"].tolist()
[3]
"""

from __future__ import annotations

import datetime as _dt
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from .errors import TargetError

_GLOB_CHARS = set("*?[")
# The start of a request-log line: '{"ts":"2026-12-03T18:50' (an optional space after the colon).
_MINUTE_PREFIX = re.compile(r'\{"ts": ?"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2})')


# --- which files ---------------------------------------------------------------------------------


def resolve_files(target, paths_or_glob: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """Existing regular files on the host, and the names that matched nothing.

    Accepts a list of paths, a directory (its ``*.log`` files, recursively) or a glob whose
    wildcards are in the last component only (``logs/application/app-*.log``), which
    ``find -name`` expands without a shell.

    >>> from runbook.target import RecordingTarget
    >>> t = RecordingTarget(answers={"find": (0, "/l/a.log\\n", "")})
    >>> resolve_files(t, "/l/*.log")
    (['/l/a.log'], [])
    """
    items = [paths_or_glob] if isinstance(paths_or_glob, str) else list(paths_or_glob)
    found: list[str] = []
    missing: list[str] = []
    for item in items:
        head, tail = posixpath.split(item)
        if _GLOB_CHARS & set(head):
            raise TargetError(f"log glob {item!r}: wildcards are supported in the file name only.")
        if _GLOB_CHARS & set(tail):
            argv = ["find", "-L", head or ".", "-maxdepth", "1", "-type", "f", "-name", tail]
        else:
            # a file gives itself (-path matches the start point), a directory its *.log files;
            # a missing path prints nothing (find's complaint goes to stderr)
            argv = ["find", "-L", item, "-type", "f", "(", "-path", item, "-o", "-name", "*.log", ")"]
        r = target.run(argv, timeout=60)
        names = sorted(line for line in r.stdout.splitlines() if line)
        if names:
            found += [n for n in names if n not in found]
        else:
            missing.append(item)
    return found, missing


# --- HTTP 500 per minute -----------------------------------------------------------------------


def count_status_per_minute(target, paths_or_glob: str | Sequence[str], status: int = 500) -> pd.DataFrame:
    """Count request-log lines with ``"status":<status>`` per minute of their ``ts``.

    Parameters
    ----------
    paths_or_glob : str or list of str
        See :func:`resolve_files`, e.g. ``"/var/www/ultrazend/logs/application/app-*.log"``.
    status : int
        The HTTP status to count.

    Returns
    -------
    DataFrame
        ``minute`` (UTC, tz-aware) and ``count``, sorted by minute; ``attrs["files"]`` and
        ``attrs["missing"]`` say what was scanned.

    Examples
    --------
    >>> from runbook.target import LocalTarget
    >>> count_status_per_minute(LocalTarget(), ["/nonexistent/app.log"]).attrs["missing"]
    ['/nonexistent/app.log']
    """
    files, missing = resolve_files(target, paths_or_glob)
    frame = _empty_per_minute()
    warnings = ""
    if files:
        # On the host: the lines with the status -> runs of lines whose first 24 bytes are equal
        # ('{"ts":"YYYY-MM-DDTHH:MM' and one more byte) counted by uniq -c -> each run's count
        # and prefix. Logs are written in time order, so about one line per minute comes back;
        # lines out of order only add rows, summed below (no sort of the matches). uniq reads
        # the matches once, where a grep -o extracting the minute first costs a quarter more
        # (bench/log_scan.py).
        pipeline = " | ".join([matching_lines_command(files, status), "uniq -c -w 24", "cut -c1-40"])
        # LC_ALL=C: every pattern is ASCII, and grep's regex engines run about twice as fast
        # on bytes as in a UTF-8 locale (measured in bench/log_scan.py).
        r = target.run(["sh", "-c", pipeline], timeout=600, env={"LC_ALL": "C"})
        if not r.ok:
            raise TargetError(f"counting HTTP {status} in the logs failed: {r.stderr.strip()[:200]}")
        warnings = r.stderr.strip()[:500]  # e.g. a file grep could not read
        rows = []
        for line in r.stdout.splitlines():
            count, _, prefix = line.strip().partition(" ")
            minute = _MINUTE_PREFIX.match(prefix)
            if count.isdigit() and minute:  # runs of lines without a leading "ts" are not counted
                rows.append({"minute": minute.group(1), "count": int(count)})
        if rows:
            frame = pd.DataFrame(rows).groupby("minute", as_index=False)["count"].sum()
            frame["minute"] = pd.to_datetime(frame["minute"], utc=True).astype("datetime64[ns, UTC]")
            frame = frame.sort_values("minute").reset_index(drop=True)
    frame.attrs["warnings"] = warnings
    frame.attrs["files"] = files
    frame.attrs["missing"] = missing
    frame.attrs["status"] = status
    return frame


def matching_lines_command(files: Sequence[str], status: int = 500, *, pcre: bool | None = None) -> str:
    r"""The shell command printing the lines of ``files`` whose ``"status"`` is exactly ``status``.

    The exact pattern is ``"status": ?500`` not followed by a digit. GNU grep's PCRE matcher
    (``-P``) finds it at about the speed of a fixed-string search; its ERE matcher is three times
    slower here, because ``"status":`` is on every line. Where ``grep -P`` is missing (busybox, or a
    grep built without PCRE) the command falls back to a fixed-string pre-filter and the ERE.
    ``pcre=None`` chooses on the host; True or False forces one branch.

    >>> matching_lines_command(["/l/a b.log"], pcre=True)
    'grep -h -P \'"status": ?500(?![0-9])\' -- \'/l/a b.log\''
    """
    code = int(status)
    with_pcre = shlex.join(["grep", "-h", "-P", f'"status": ?{code}(?![0-9])', "--", *files])
    without = " | ".join([shlex.join(["grep", "-h", "-F", str(code), "--", *files]),
                          shlex.join(["grep", "-E", f'"status": ?{code}([^0-9]|$)'])])
    if pcre is not None:
        return with_pcre if pcre else without
    # grep -P on an empty file exits 1 (no match) where PCRE works, 2 where it does not.
    return f"{{ if grep -P x /dev/null 2>/dev/null; [ $? -le 1 ]; then {with_pcre}; else {without}; fi; }}"


def _empty_per_minute() -> pd.DataFrame:
    return pd.DataFrame({"minute": pd.Series([], dtype="datetime64[ns, UTC]"),
                         "count": pd.Series([], dtype="int64")})


@dataclass
class BeforeAfter:
    """Per-minute counts split at a moment: ``before`` holds the minute the moment falls in."""

    before: pd.DataFrame
    after: pd.DataFrame
    at: pd.Timestamp | None = None

    @property
    def before_total(self) -> int:
        return int(self.before["count"].sum())

    @property
    def after_total(self) -> int:
        return int(self.after["count"].sum())


def split_before_after(per_minute: pd.DataFrame, at_timestamp) -> BeforeAfter:
    """Split :func:`count_status_per_minute` output at ``at_timestamp`` (ISO string or datetime).

    The minute that contains the moment counts as *before*: its errors may predate the
    repair, and a check "no 500 after the repair" must not fail on them. Naive times are
    taken as UTC, like the log's ``Z`` timestamps. ``None`` puts everything before.

    >>> df = pd.DataFrame({"minute": pd.to_datetime(["2026-12-03T18:50Z", "2026-12-03T18:52Z"]), "count": [4, 1]})
    >>> s = split_before_after(df, "2026-12-03T18:50:30Z")
    >>> s.before_total, s.after_total
    (4, 1)
    """
    if at_timestamp is None:
        return BeforeAfter(per_minute.copy(), per_minute.iloc[0:0].copy(), None)
    at = pd.Timestamp(at_timestamp)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    cut = at.floor("min")
    minutes = pd.to_datetime(per_minute["minute"], utc=True)
    mask = minutes > cut
    return BeforeAfter(per_minute[~mask].reset_index(drop=True), per_minute[mask].reset_index(drop=True), at)


def repair_time(record: dict | None) -> str | None:
    """``values.applied_at`` of phase 03's record (ISO UTC), or ``None`` when unknown.

    >>> repair_time({"values": {"applied_at": "2026-12-03T18:55:00+00:00"}})
    '2026-12-03T18:55:00+00:00'
    >>> repair_time(None) is None
    True
    """
    if not record:
        return None
    value = (record.get("values") or {}).get("applied_at")
    return str(value) if value else None


# --- tails and error counts ---------------------------------------------------------------------


@dataclass
class LogTail:
    """The last lines of one log file; ``note`` says why ``lines`` is empty."""

    path: str
    lines: list[str] = field(default_factory=list)
    note: str = ""

    def __str__(self) -> str:
        head = f"=== {self.path} ({len(self.lines)} lines)" + (f": {self.note}" if self.note else "")
        return "\n".join([head, *self.lines])


def tail_lines(target, path: str, n: int = 10) -> LogTail:
    """``tail -n N path`` on the host; a missing file gives no lines and a note, not an error.

    >>> from runbook.target import LocalTarget
    >>> tail_lines(LocalTarget(), "/nonexistent/app.log").note
    'file not found'
    """
    if not target.exists(path):
        return LogTail(path, [], "file not found")
    r = target.run(["tail", "-n", str(int(n)), "--", path], timeout=60)
    if not r.ok:
        return LogTail(path, [], f"tail failed: {r.stderr.strip()[:200]}")
    lines = r.stdout.splitlines()
    return LogTail(path, lines, "" if lines else "file is empty")


def error_counts(target, logs_dir: str, pattern: str = "error") -> pd.DataFrame:
    """Per-file count of lines matching ``pattern`` (case-insensitive), for every ``*.log``.

    Returns
    -------
    DataFrame
        ``file`` (relative to ``logs_dir``), ``bytes`` and ``error_lines``, largest count first.

    Examples
    --------
    >>> from runbook.target import LocalTarget
    >>> error_counts(LocalTarget(), "/nonexistent").empty
    True
    """
    cols = ["file", "bytes", "error_lines"]
    r = target.run(["find", "-L", logs_dir, "-type", "f", "-name", "*.log", "-printf", "%s\t%p\n"], timeout=60)
    sizes = {}
    for line in r.stdout.splitlines():
        size, _, path = line.partition("\t")
        if path and size.isdigit():
            sizes[path] = int(size)
    if not sizes:
        return pd.DataFrame(columns=cols)
    files = sorted(sizes)
    # -H: always "file:count", even for a single file; exit 1 only means no match anywhere.
    r = target.run(["grep", "-c", "-H", "-i", "-E", "--", pattern, *files], timeout=600)
    if r.exit_code > 1:
        raise TargetError(f"counting error lines in {logs_dir} failed: {r.stderr.strip()[:200]}")
    counts = {}
    for line in r.stdout.splitlines():
        path, _, count = line.rpartition(":")
        if count.isdigit():
            counts[path] = int(count)
    prefix = logs_dir.rstrip("/") + "/"
    rows = [{"file": p[len(prefix):] if p.startswith(prefix) else p, "bytes": sizes[p],
             "error_lines": counts.get(p, 0)} for p in files]
    return (pd.DataFrame(rows, columns=cols).sort_values(["error_lines", "file"], ascending=[False, True])
            .reset_index(drop=True))


def now_utc() -> str:
    """Now as ISO UTC, the format phases record times in."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


__all__ = ["resolve_files", "count_status_per_minute", "matching_lines_command", "split_before_after", "BeforeAfter", "repair_time",
           "LogTail", "tail_lines", "error_counts", "now_utc"]

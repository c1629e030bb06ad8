"""HTTP and SMTP probes, run *from the host* (the seed's 7.1 and 7.2).

The API listens on ``127.0.0.1`` of the host, so probes go through
:meth:`Target.connect` (a socket locally, a paramiko ``direct-tcpip`` channel
over SSH) and speak just enough HTTP/1.1 and SMTP themselves: nothing has to be
installed on the host, and no port has to be opened to the workstation.

A probe never raises because the service is down: a refused connection or a
timeout comes back as ``status=None`` (or ``error``) with the reason, so the
notebook can turn it into a failed check instead of a crash.

Example
-------
>>> from runbook.target import LocalTarget
>>> r = http_get(LocalTarget(), "http://127.0.0.1:9/health", timeout=1)
>>> r.status is None and "cannot connect" in r.error
True
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import dataclass
from typing import Mapping, Sequence
from urllib.parse import urlsplit

import pandas as pd

from .errors import InputError, TargetError

DEFAULT_TIMEOUT = 5.0
BODY_EXCERPT = 500  # characters kept in HttpResult.body; the rest is only counted
MAX_READ = 1 << 20  # stop reading a response after 1 MiB: a health page is small
USER_AGENT = "ultrazend-runbook/0.1"


@dataclass
class HttpResult:
    """One HTTP GET: ``status`` is ``None`` when no HTTP answer came (see ``error``)."""

    url: str
    status: int | None
    latency_ms: float | None
    body: str = ""
    error: str = ""
    headers: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def json(self):
        """The body parsed as JSON, or ``None`` when it is not JSON (or was truncated)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


# --- HTTP ---------------------------------------------------------------------------------------


def http_get(target, url: str, timeout: float = DEFAULT_TIMEOUT, headers: Mapping[str, str] | None = None) -> HttpResult:
    """GET ``url`` from the host with a minimal HTTP/1.1 client.

    Parameters
    ----------
    target : Target
        The host the request is made from (``target.connect``).
    url : str
        An ``http://`` URL (TLS is not spoken: the API is plain HTTP on localhost).
    timeout : float
        Seconds for the whole exchange: connect, send and read.
    headers : mapping, optional
        Extra request headers (e.g. ``Authorization``). They are sent, never returned.

    Returns
    -------
    HttpResult
        ``status`` None and ``error`` set when the connection was refused, timed out or
        the answer was not HTTP.

    Examples
    --------
    >>> from runbook.target import LocalTarget
    >>> http_get(LocalTarget(), "http://127.0.0.1:9/", timeout=0.5).status is None
    True
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InputError(f"URL {url!r} must be plain http://host[:port]/path (https is not spoken by the probe).")
    host, port = parts.hostname, parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if port == 80 else f"{host}:{port}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {USER_AGENT}",
             "Accept: */*", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    started = time.monotonic()
    deadline = started + timeout
    conn = None
    try:
        conn = target.connect(host, port, timeout)
        conn.sendall(request)
        raw = _read_response(conn, deadline)
        status, resp_headers, body = _parse_response(raw)
    except (TargetError, OSError, EOFError, ValueError) as exc:
        # OSError covers refused, reset and socket.timeout; ValueError a garbled answer.
        return HttpResult(url, None, _ms(started), "", _describe(exc, timeout))
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a dead channel must not hide the result
                pass
    text = body.decode("utf-8", errors="replace")
    return HttpResult(url, status, _ms(started), text[:BODY_EXCERPT], "", resp_headers)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _describe(exc: Exception, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "timeout":
        return f"no answer within {timeout:g} s"
    return str(exc) or type(exc).__name__


def _read_response(conn, deadline: float) -> bytes:
    """Read until the server closes, or until Content-Length / the last chunk arrived."""
    buf = bytearray()
    while len(buf) < MAX_READ:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        conn.settimeout(left)
        data = conn.recv(65536)
        if not data:
            break
        buf += data
        if _complete(bytes(buf)):
            break  # some servers keep the socket open despite Connection: close
    if not buf:
        raise ValueError("the server closed the connection without an HTTP answer")
    return bytes(buf)


def _complete(buf: bytes) -> bool:
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    hdrs = _parse_headers(head.split(b"\r\n")[1:])
    if "content-length" in hdrs:
        return len(body) >= int(hdrs["content-length"])
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        try:
            return _dechunk(body)[1]
        except ValueError:
            return True  # garbled: stop reading, the parser reports it
    return False


def _parse_headers(lines: list[bytes]) -> dict:
    out = {}
    for line in lines:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def _parse_response(raw: bytes) -> tuple[int, dict, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    fields = status_line.decode("latin-1").split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
    hdrs = _parse_headers(header_lines)
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        body = _dechunk(body)[0]
    elif "content-length" in hdrs:
        body = body[: int(hdrs["content-length"])]
    return int(fields[1]), hdrs, body


def _dechunk(body: bytes) -> tuple[bytes, bool]:
    """Decode a chunked body: (data, whether the last chunk arrived).

    A truncated body yields what arrived (a probe wants an excerpt, not an error).
    """
    out = bytearray()
    pos = 0
    while pos < len(body):
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        size_text = body[pos:eol].split(b";", 1)[0].strip()  # chunk extensions are ignored
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise ValueError(f"bad chunk size {size_text[:20]!r}") from exc
        if size == 0:
            return bytes(out), True
        out += body[eol + 2: eol + 2 + size]
        pos = eol + 2 + size + 2
    return bytes(out), False


# --- health polling ----------------------------------------------------------------------------


def poll_health(target, url: str, tries: int = 5, interval: float = 10.0, timeout: float = DEFAULT_TIMEOUT,
                until_ok: bool = True) -> list[dict]:
    """Ask ``url`` up to ``tries`` times, ``interval`` seconds apart (the seed's 5-try loop).

    Parameters
    ----------
    until_ok : bool
        Stop at the first HTTP 200 (the seed's ``break``); False always takes ``tries`` samples.

    Returns
    -------
    list of dict
        One sample per try: ``try``, ``t`` (seconds since the first try), ``at`` (ISO UTC),
        ``status``, ``latency_ms``, ``ok`` (status 200), ``health`` (the JSON ``status``
        field when the body has one) and ``error``.

    Examples
    --------
    >>> from runbook.target import LocalTarget
    >>> s = poll_health(LocalTarget(), "http://127.0.0.1:9/health", tries=2, interval=0, timeout=0.5)
    >>> [x["ok"] for x in s]
    [False, False]
    """
    samples = []
    t0 = time.monotonic()
    for i in range(1, max(1, tries) + 1):
        at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        t = round(time.monotonic() - t0, 3)
        r = http_get(target, url, timeout)
        doc = r.json() if r.status is not None else None
        samples.append({
            "try": i, "t": t, "at": at, "status": r.status, "latency_ms": r.latency_ms, "ok": r.ok,
            "health": doc.get("status") if isinstance(doc, dict) else None, "error": r.error,
        })
        if (until_ok and r.ok) or i == tries:
            break
        time.sleep(interval)
    return samples


def describe_polls(samples: list[dict]) -> str:
    """One line for a check's evidence: each try's status, then each distinct error once.

    >>> describe_polls([{"status": None, "error": "refused"}, {"status": None, "error": "refused"}, {"status": 200, "error": ""}])
    'no answer, no answer, 200 (refused)'
    """
    answers = ", ".join(str(x["status"]) if x["status"] is not None else "no answer" for x in samples)
    errors = list(dict.fromkeys(x["error"] for x in samples if x.get("error")))
    return answers + (f" ({'; '.join(errors)})" if errors else "")


def sample_health(target, url: str, count: int = 10, interval: float = 0.5,
                  timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
    """Exactly ``count`` health samples ``interval`` seconds apart, for the health-check chart.

    >>> from runbook.target import LocalTarget
    >>> len(sample_health(LocalTarget(), "http://127.0.0.1:9/", count=3, interval=0, timeout=0.2))
    3
    """
    return poll_health(target, url, tries=count, interval=interval, timeout=timeout, until_ok=False)


def endpoint_table(target, base_url: str, endpoints: Sequence[str], token: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT, excerpt: int = 120) -> pd.DataFrame:
    """The seed's 7.2 endpoint tests as a table: endpoint, status, latency_ms, body, error.

    ``token`` is an already resolved secret: it goes into an ``Authorization: Bearer``
    header and nowhere else (the table holds no request headers).

    >>> from runbook.target import LocalTarget
    >>> endpoint_table(LocalTarget(), "http://127.0.0.1:9", ["/health"], timeout=0.2).status.tolist()
    [None]
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    rows = []
    for ep in endpoints:
        r = http_get(target, base_url.rstrip("/") + "/" + ep.lstrip("/"), timeout, headers=headers)
        body = " ".join(r.body.split())  # one line: tables and HTML reports stay readable
        if token:
            body = body.replace(token, "***")  # an API that echoes the header must not leak it
        rows.append({"endpoint": ep, "status": r.status, "latency_ms": r.latency_ms,
                     "body": body[:excerpt] + ("…" if len(body) > excerpt else ""), "error": r.error})
    return pd.DataFrame(rows, columns=["endpoint", "status", "latency_ms", "body", "error"]).astype({"status": "object"})


def health_url(params) -> str:
    """The health URL of a run: ``services.api_url`` + ``services.health_path``."""
    return params.services.api_url.rstrip("/") + "/" + params.services.health_path.lstrip("/")


def service_ports(params) -> dict:
    """The ports phase 07 expects to listen: ``api`` (from ``services.api_url``), ``mx``, ``submission``.

    >>> from runbook.params import Params
    >>> service_ports(Params())
    {'api': 3001, 'mx': 2525, 'submission': 5875}
    """
    parts = urlsplit(params.services.api_url)
    return {"api": parts.port or 80, "mx": params.services.mx_port, "submission": params.services.submission_port}


# --- SMTP ---------------------------------------------------------------------------------------


class _LineReader:
    """CRLF lines from a socket-like object, with one deadline for the whole exchange."""

    def __init__(self, conn, deadline: float):
        self.conn, self.deadline, self.buf = conn, deadline, b""

    def line(self) -> str:
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed")
            self.conn.settimeout(left)
            data = self.conn.recv(4096)
            if not data:
                raise EOFError("the server closed the connection")
            self.buf += data
        raw, self.buf = self.buf.split(b"\n", 1)
        return raw.rstrip(b"\r").decode("utf-8", errors="replace")

    def reply(self) -> tuple[int, list[str]]:
        """One SMTP reply: its code and every line (``250-...`` continues, ``250 ...`` ends)."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        code = lines[-1][:3]
        if not code.isdigit():
            raise ValueError(f"not an SMTP reply: {lines[-1][:80]!r}")
        return int(code), lines


def smtp_probe(target, host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Read the 220 banner, send ``EHLO runbook.local``, read the 250 reply, then ``QUIT``.

    Returns
    -------
    dict
        ``host``, ``port``, ``banner`` (first banner line), ``ehlo_ok`` (250 to EHLO),
        ``ehlo_lines`` (the extensions announced), ``latency_ms``, ``ok`` (banner 220 and
        EHLO 250) and ``error`` (empty when the exchange worked). Never raises for a
        refused or silent port.

    Examples
    --------
    >>> from runbook.target import LocalTarget
    >>> smtp_probe(LocalTarget(), "127.0.0.1", 9, timeout=0.5)["ok"]
    False
    """
    out = {"host": host, "port": port, "banner": "", "ehlo_ok": False, "ehlo_lines": [],
           "latency_ms": None, "ok": False, "error": ""}
    started = time.monotonic()
    conn = None
    try:
        conn = target.connect(host, port, timeout)
        reader = _LineReader(conn, started + timeout)
        code, lines = reader.reply()
        out["banner"] = lines[0]
        if code != 220:
            out["error"] = f"banner code {code}, expected 220"
            return out
        conn.sendall(b"EHLO runbook.local\r\n")
        code, lines = reader.reply()
        out["ehlo_ok"] = code == 250
        out["ehlo_lines"] = [ln[4:] for ln in lines]
        if code != 250:
            out["error"] = f"EHLO answered {code}: {lines[-1][:120]}"
        conn.sendall(b"QUIT\r\n")
        try:
            reader.reply()  # 221; a server that just hangs up is fine too
        except (OSError, EOFError, ValueError):
            pass
        out["ok"] = out["ehlo_ok"]
    except (TargetError, OSError, EOFError, ValueError) as exc:
        out["error"] = _describe(exc, timeout)
    finally:
        out["latency_ms"] = _ms(started)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
    return out


# --- listening ports ----------------------------------------------------------------------------


def listening_ports(target, ports: Mapping[str, int] | Sequence[int]) -> pd.DataFrame:
    """Which TCP ports listen on the host (``ss -ltn``, else ``netstat -tln``; the seed's 7.1).

    Parameters
    ----------
    ports : mapping of name to port, or sequence of ports
        E.g. ``{"api": 3001, "mx": 25, "submission": 587}``.

    Returns
    -------
    DataFrame
        ``service``, ``port``, ``listening`` (None when neither tool ran) and ``addresses``.

    Examples
    --------
    >>> from runbook.target import RecordingTarget
    >>> t = RecordingTarget(answers={"ss -ltn": (0, "State Recv-Q Send-Q Local Address:Port Peer\\n"
    ...                                          "LISTEN 0 511 127.0.0.1:3001 0.0.0.0:*\\n", "")})
    >>> listening_ports(t, {"api": 3001, "mx": 25}).listening.tolist()
    [True, False]
    """
    named = dict(ports) if isinstance(ports, Mapping) else {str(p): p for p in ports}
    listeners = None
    source = ""
    for argv in (["ss", "-ltn"], ["netstat", "-tln"]):
        r = target.run(argv, timeout=30)
        if r.ok:
            listeners, source = _parse_listeners(r.stdout), " ".join(argv)
            break
    rows = []
    for name, port in named.items():
        addrs = [a for a, p in (listeners or []) if p == int(port)]
        rows.append({"service": name, "port": int(port),
                     "listening": None if listeners is None else bool(addrs),
                     "addresses": ", ".join(sorted(set(addrs))) or ("neither ss nor netstat ran" if listeners is None else ""),
                     "source": source})
    return pd.DataFrame(rows, columns=["service", "port", "listening", "addresses", "source"])


def _parse_listeners(text: str) -> list[tuple[str, int]]:
    """(address, port) of listening sockets; ss and netstat both put ``addr:port`` in column 4."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        if cols[0].startswith("tcp") or cols[0] == "LISTEN":
            addr, _, port = cols[3].rpartition(":")
            if port.isdigit():
                out.append((addr, int(port)))
    return out


__all__ = ["HttpResult", "http_get", "poll_health", "sample_health", "endpoint_table", "health_url", "service_ports", "describe_polls",
           "smtp_probe", "listening_ports"]

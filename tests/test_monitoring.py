"""Phase 07's library against real local servers, real log files and a real bash run.

No mocks: HTTP and SMTP servers listen on free 127.0.0.1 ports, logs are generated in
tmp folders, and the alert script runs under bash with a fake ``pm2`` on PATH that
records its argv.
"""

from __future__ import annotations

import asyncio
import fcntl
import http.server
import json
import os
import re
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from runbook import alert, charts, health, logs
from runbook.changes import Change
from runbook.params import Params
from runbook.target import CommandResult, LocalTarget, RecordingTarget
from support import free_ports

T = LocalTarget()


# --- servers ------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = {"health": 200}

    def log_message(self, *a):  # keep pytest output clean
        pass

    def _send(self, status, body: bytes, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            code = self.state["health"]
            self._send(code, json.dumps({"status": "ok" if code == 200 else "error"}).encode())
        elif self.path == "/fail":
            self._send(500, b'{"status":"error","error":"SQLITE_ERROR: no such column: is_verified"}')
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (b'{"status":', b'"ok",', b'"chunks":3}'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/whoami":
            auth = self.headers.get("Authorization")
            if auth:
                self._send(200, json.dumps({"you": "ok", "echo": auth}).encode())
            else:
                self._send(401, b'{"error":"no token"}')
        elif self.path == "/big":
            self._send(200, b"x" * 5000, "text/plain")
        else:
            self._send(404, b'{"error":"not found"}')


@pytest.fixture
def http_server():
    _Handler.state = {"health": 200}
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Handler.state
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def silent_port():
    """A port that accepts connections (kernel backlog) but never says anything."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    yield s.getsockname()[1]
    s.close()


class SmtpServer:
    """A tiny asyncio SMTP speaker: banner, EHLO (multi-line 250), QUIT; in its own thread."""

    def __init__(self, banner="220 sandbox UltraZend ESMTP ready", ehlo_code=250):
        self.banner, self.ehlo_code = banner, ehlo_code
        self.seen: list[str] = []
        self.writers: list = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _client(self, reader, writer):
        self.writers.append(writer)
        writer.write(self.banner.encode() + b"\r\n")
        await writer.drain()
        while line := await reader.readline():
            cmd = line.decode().strip()
            self.seen.append(cmd)
            if cmd.upper().startswith("EHLO"):
                if self.ehlo_code == 250:
                    writer.write(b"250-sandbox greets runbook.local\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
                else:
                    writer.write(b"%d 5.5.1 go away\r\n" % self.ehlo_code)
            elif cmd.upper() == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            await writer.drain()
        writer.close()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._shutdown())
        self.loop.close()

    async def _shutdown(self):
        self.server.close()
        await self.server.wait_closed()
        for w in self.writers:  # connections still open when the test ends
            w.close()
        await asyncio.sleep(0)

    def __enter__(self):
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# --- http_get -----------------------------------------------------------------------------------


def test_http_get_200_parses_status_and_json(http_server):
    base, _ = http_server
    r = health.http_get(T, base + "/health", timeout=3)
    assert (r.status, r.error, r.json()) == (200, "", {"status": "ok"})
    assert r.ok and r.latency_ms is not None and r.latency_ms < 3000
    assert r.headers["content-type"] == "application/json"


def test_http_get_500_is_a_result_not_an_error(http_server):
    base, _ = http_server
    r = health.http_get(T, base + "/fail", timeout=3)
    assert r.status == 500 and not r.ok
    assert "no such column: is_verified" in r.body


def test_http_get_decodes_chunked_body(http_server):
    base, _ = http_server
    r = health.http_get(T, base + "/chunked", timeout=3)
    assert r.status == 200
    assert r.json() == {"status": "ok", "chunks": 3}


def test_http_get_truncates_long_body(http_server):
    base, _ = http_server
    r = health.http_get(T, base + "/big", timeout=3)
    assert r.status == 200 and len(r.body) == health.BODY_EXCERPT


def test_http_get_refused_gives_status_none():
    r = health.http_get(T, f"http://127.0.0.1:{free_ports(1)[0]}/health", timeout=2)
    assert r.status is None and not r.ok
    assert "cannot connect" in r.error


def test_http_get_timeout_gives_status_none(silent_port):
    started = time.monotonic()
    r = health.http_get(T, f"http://127.0.0.1:{silent_port}/health", timeout=0.5)
    assert r.status is None and "no answer within 0.5 s" in r.error
    assert time.monotonic() - started < 3


def test_http_get_rejects_https():
    from runbook.errors import InputError

    with pytest.raises(InputError, match="plain http"):
        health.http_get(T, "https://127.0.0.1/health")


# --- polling and endpoint table -----------------------------------------------------------------


def test_poll_health_stops_at_first_200(http_server):
    base, _ = http_server
    samples = health.poll_health(T, base + "/health", tries=5, interval=0, timeout=2)
    assert len(samples) == 1 and samples[0]["ok"] and samples[0]["health"] == "ok"


def test_poll_health_uses_every_try_when_failing(http_server):
    base, state = http_server
    state["health"] = 500
    samples = health.poll_health(T, base + "/health", tries=3, interval=0.05, timeout=2)
    assert [s["status"] for s in samples] == [500, 500, 500]
    assert [s["try"] for s in samples] == [1, 2, 3]
    assert samples[2]["t"] >= 0.1  # two intervals passed


def test_sample_health_takes_fixed_count(http_server):
    base, _ = http_server
    samples = health.sample_health(T, base + "/health", count=4, interval=0, timeout=2)
    assert len(samples) == 4 and all(s["ok"] for s in samples)


def test_endpoint_table_without_and_with_token(http_server):
    base, _ = http_server
    df = health.endpoint_table(T, base, ["/health", "/whoami", "/nope"], timeout=3)
    assert df.columns.tolist() == ["endpoint", "status", "latency_ms", "body", "error"]
    assert df.status.tolist() == [200, 401, 404]
    secret = "tok-123-very-secret"
    df = health.endpoint_table(T, base, ["/whoami"], token=secret, timeout=3)
    assert df.status.tolist() == [200]
    assert secret not in df.to_csv()  # the server echoes the header: the table must not


# --- SMTP ---------------------------------------------------------------------------------------


def test_smtp_probe_reads_banner_and_ehlo():
    with SmtpServer() as srv:
        out = health.smtp_probe(T, "127.0.0.1", srv.port, timeout=3)
    assert out["ok"] and out["ehlo_ok"] and out["error"] == ""
    assert "UltraZend ESMTP" in out["banner"]
    assert out["ehlo_lines"] == ["sandbox greets runbook.local", "SIZE 10485760", "8BITMIME", "STARTTLS"]
    assert srv.seen == ["EHLO runbook.local", "QUIT"]


def test_smtp_probe_ehlo_refused():
    with SmtpServer(ehlo_code=502) as srv:
        out = health.smtp_probe(T, "127.0.0.1", srv.port, timeout=3)
    assert not out["ok"] and "502" in out["error"]


def test_smtp_probe_wrong_banner():
    with SmtpServer(banner="554 no service") as srv:
        out = health.smtp_probe(T, "127.0.0.1", srv.port, timeout=3)
    assert not out["ok"] and out["banner"] == "554 no service" and "expected 220" in out["error"]


def test_smtp_probe_refused_and_silent(silent_port):
    assert "cannot connect" in health.smtp_probe(T, "127.0.0.1", free_ports(1)[0], timeout=1)["error"]
    out = health.smtp_probe(T, "127.0.0.1", silent_port, timeout=0.5)
    assert not out["ok"] and "no answer" in out["error"]


# --- listening ports ----------------------------------------------------------------------------


def test_listening_ports_real_host(silent_port):
    df = health.listening_ports(T, {"api": silent_port, "mx": free_ports(1)[0]})
    assert df.listening.tolist() == [True, False]
    assert "127.0.0.1" in df.addresses[0]


def test_listening_ports_falls_back_to_netstat():
    t = RecordingTarget(answers={
        "ss": (127, "", "ss: command not found"),
        "netstat -tln": (0, "Active Internet connections (only servers)\n"
                            "Proto Recv-Q Send-Q Local Address Foreign Address State\n"
                            "tcp 0 0 0.0.0.0:25 0.0.0.0:* LISTEN\n"
                            "tcp6 0 0 :::587 :::* LISTEN\n", ""),
    })
    df = health.listening_ports(t, {"mx": 25, "submission": 587, "api": 3001})
    assert df.listening.tolist() == [True, True, False]
    assert df.source.tolist() == ["netstat -tln"] * 3


def test_listening_ports_unknown_when_no_tool():
    t = RecordingTarget(answers={"ss": (127, "", ""), "netstat": (127, "", "")})
    assert health.listening_ports(t, [3001]).listening.tolist() == [None]


# --- logs ---------------------------------------------------------------------------------------


def _line(ts, status, path="/health"):
    return json.dumps({"ts": ts, "level": "error" if status >= 500 else "info", "method": "GET",
                       "path": path, "status": status, "ms": 3}, separators=(",", ":"))


@pytest.fixture
def log_tree(tmp_path):
    app = tmp_path / "logs" / "application"
    app.mkdir(parents=True)
    day1 = [_line("2026-12-03T18:50:01.123Z", 500), _line("2026-12-03T18:50:59.999Z", 500),
            _line("2026-12-03T18:50:30.000Z", 200), _line("2026-12-03T18:51:00.000Z", 5000),
            _line("2026-12-03T18:52:10.000Z", 500), '{"ts": "2026-12-03T18:52:11.000Z", "status": 500}',
            "not json at all, status 500", _line("2026-12-03T18:55:00.000Z", 404),
            _line("2026-12-03T18:50:45.000Z", 500)]  # written late: out of time order
    (app / "app-2026-12-03.log").write_text("\n".join(day1) + "\n")
    (app / "app-2026-12-04.log").write_text(_line("2026-12-04T00:00:05.000Z", 500) + "\n")
    (app / "app-2026-12-05.log").write_text(_line("2026-12-05T09:00:00.000Z", 200) + "\n")  # 0 matches
    logs_dir = tmp_path / "logs"
    (logs_dir / "app.log").write_text("".join(f"line {i}\n" for i in range(15)) + "Error: boom\nERROR again\n")
    (logs_dir / "error.log").write_text("TypeError: x\nerror: y\nfine\n")
    (logs_dir / "notes.txt").write_text("error error\n")
    return logs_dir


def test_count_status_per_minute_exact(log_tree):
    glob = str(log_tree / "application" / "app-*.log")
    df = logs.count_status_per_minute(T, glob)
    got = {m.strftime("%Y-%m-%dT%H:%M"): c for m, c in zip(df.minute, df["count"])}
    assert got == {"2026-12-03T18:50": 3, "2026-12-03T18:52": 2, "2026-12-04T00:00": 1}
    assert df.minute.is_monotonic_increasing and df.minute.is_unique
    assert str(df.minute.dtype) == "datetime64[ns, UTC]"
    assert len(df.attrs["files"]) == 3 and df.attrs["missing"] == []


@pytest.mark.parametrize("pcre", [True, False])
def test_matching_lines_both_branches_agree(log_tree, pcre):
    """The PCRE command and the fallback for hosts without grep -P select the same lines."""
    files = sorted(str(p) for p in (log_tree / "application").glob("app-*.log"))
    r = T.run(["sh", "-c", logs.matching_lines_command(files, 500, pcre=pcre)], env={"LC_ALL": "C"})
    lines = r.stdout.splitlines()
    assert len(lines) == 6 and all('500' in line and '5000' not in line for line in lines)
    assert sum('"status": 500' in line for line in lines) == 1


def test_count_status_per_minute_zero_matches_and_missing(log_tree):
    zero = str(log_tree / "application" / "app-2026-12-05.log")
    missing = str(log_tree / "application" / "app-1999-01-01.log")
    df = logs.count_status_per_minute(T, [zero, missing])
    assert df.empty and df.columns.tolist() == ["minute", "count"]
    assert df.attrs["files"] == [zero] and df.attrs["missing"] == [missing]
    assert logs.count_status_per_minute(T, str(log_tree / "none-*.log")).empty


def test_count_status_other_status_and_directory(log_tree):
    df = logs.count_status_per_minute(T, str(log_tree / "application"), status=404)
    assert df["count"].tolist() == [1]


def test_count_runs_on_the_host_as_one_pipeline(log_tree):
    """The scan is grep | uniq -c -w 24 | cut on the host; only counts return, summed per minute."""
    answer = ('      7 {"ts":"2026-12-03T18:50:01.123Z","lev\n      2 {"ts":"2026-12-03T18:51:00.000Z","lev\n'
              '      1 {"ts": "2026-12-03T18:50:59.1Z", "l\n      4 not json, "status": 500\n')
    t = RecordingTarget(answers={"find": (0, "/a b/app.log\n", ""), "sh -c": (0, answer, "")})
    df = logs.count_status_per_minute(t, "/a b/app-*.log")
    assert df["count"].tolist() == [8, 2]  # the run without a leading "ts" is not a minute
    line = t.commands[-1][2]
    assert line.startswith("{ if grep -P") and "'/a b/app.log'" in line and line.endswith("| uniq -c -w 24 | cut -c1-40")


def test_split_before_after():
    df = pd.DataFrame({"minute": pd.to_datetime(["2026-12-03T18:50Z", "2026-12-03T18:51Z", "2026-12-03T18:53Z"]),
                       "count": [5, 2, 1]})
    s = logs.split_before_after(df, "2026-12-03T18:51:30+00:00")
    assert (s.before_total, s.after_total) == (7, 1)
    s = logs.split_before_after(df, "2026-12-03T15:51:30-03:00")  # same moment, another zone
    assert (s.before_total, s.after_total) == (7, 1)
    s = logs.split_before_after(df, None)
    assert (s.before_total, s.after_total) == (8, 0)
    assert logs.repair_time({"values": {"applied_at": "2026-12-03T18:51:30+00:00"}}) == "2026-12-03T18:51:30+00:00"
    assert logs.repair_time({"values": {}}) is None


def test_tail_lines(log_tree):
    tail = logs.tail_lines(T, str(log_tree / "app.log"), 10)
    assert len(tail.lines) == 10 and tail.lines[-1] == "ERROR again" and tail.note == ""
    missing = logs.tail_lines(T, str(log_tree / "nope.log"), 10)
    assert missing.lines == [] and missing.note == "file not found"
    assert "file not found" in str(missing)


def test_error_counts(log_tree):
    df = logs.error_counts(T, str(log_tree))
    got = dict(zip(df.file, df.error_lines))
    # day 1: four 500s (one written late) and the 5000 are level "error"; the spaced line has no "error"
    assert got == {"app.log": 2, "error.log": 2, "application/app-2026-12-03.log": 5,
                   "application/app-2026-12-04.log": 1, "application/app-2026-12-05.log": 0}
    assert df.error_lines.tolist() == sorted(df.error_lines, reverse=True)
    assert logs.error_counts(T, str(log_tree / "missing")).empty


# --- charts -------------------------------------------------------------------------------------


def test_health_chart_points(tmp_path):
    samples = [{"t": 0.0, "status": 200, "latency_ms": 5.0}, {"t": 0.5, "status": 500, "latency_ms": 9.0},
               {"t": 1.0, "status": None, "latency_ms": 500.0}, {"t": 1.5, "status": 200, "latency_ms": 4.0}]
    fig = charts.health_chart(samples)
    ax = fig.axes[0]
    sizes = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert sizes == {"HTTP 200": 2, "other status": 1, "no answer": 1}
    assert len(ax.lines[0].get_xdata()) == 4
    assert ax.get_xlabel() and ax.get_ylabel() == "latency (ms)" and "2 of 4" in ax.get_title()
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_per_minute_chart_bars_and_repair_line(tmp_path):
    df = pd.DataFrame({"minute": pd.to_datetime(["2026-12-03T18:50Z", "2026-12-03T18:51Z", "2026-12-03T18:58Z"]),
                       "count": [5, 2, 1]})
    fig = charts.errors_per_minute_chart(df, repair_at="2026-12-03T18:52:00Z")
    ax = fig.axes[0]
    bars = ax.containers[0]
    assert len(bars) == 3 and [b.get_height() for b in bars] == [5, 2, 1]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "before repair: 7" in labels and "after repair: 1" in labels
    assert any(lbl.startswith("repair 18:52:00") for lbl in labels)
    fig.savefig(tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 1000


def test_errors_chart_empty_frame():
    fig = charts.errors_per_minute_chart(logs._empty_per_minute())
    assert len(fig.axes[0].containers[0]) == 0
    assert any("no HTTP 500" in t.get_text() for t in fig.axes[0].texts)


# --- alert script -------------------------------------------------------------------------------


@pytest.fixture
def alert_env(tmp_path, http_server):
    base, state = http_server
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    record = tmp_path / "pm2-calls.txt"
    pm2 = fakebin / "pm2"
    # The seam: a pm2 that records argv and PM2_HOME, as the real one would be called.
    pm2.write_text(f'#!/bin/sh\necho "PM2_HOME=$PM2_HOME ARGS=$*" >> {record}\necho "[PM2] restarted $2"\n')
    pm2.chmod(0o755)
    params = Params.from_dict({
        "app": {"root": str(tmp_path / "app"),
                "env": {"PM2_HOME": str(tmp_path / "pm2home"), "PATH": f"{fakebin}:/usr/bin:/bin"}},
        "services": {"api_url": base},
        "monitor": {"alert_script": str(tmp_path / "bin" / "monitor.sh"),
                    "alert_log": str(tmp_path / "log dir" / "monitor.log")},
    })
    return params, state, record


def _run_script(path, **env):
    return subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "ULTRAZEND_MONITOR_RETRY_AFTER": "0", **env})


ISO_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z ")


def test_alert_script_healthy_then_failing(alert_env):
    params, state, record = alert_env
    changes = alert.install_alert(T, params, apply=True, processes=["ultrazend-api", "ultrazend-writer"])
    script = params.monitor.alert_script
    assert [c.done for c in changes] == [True]
    assert stat.S_IMODE(os.stat(script).st_mode) == 0o755
    text = Path(script).read_text()
    assert "pm2 restart all" not in text and "--max-time" in text

    assert _run_script(script).returncode == 0
    log = Path(params.monitor.alert_log).read_text().splitlines()
    assert len(log) == 1 and ISO_LINE.match(log[0]) and " OK " in log[0]
    assert not record.exists()  # healthy: nothing restarted

    state["health"] = 500
    r = _run_script(script)
    assert r.returncode == 2
    calls = record.read_text().splitlines()
    pm2home = params.app.env["PM2_HOME"]
    assert calls == [f"PM2_HOME={pm2home} ARGS=restart ultrazend-api", f"PM2_HOME={pm2home} ARGS=restart ultrazend-writer"]
    log = Path(params.monitor.alert_log).read_text().splitlines()
    events = [ln.split(" ")[1] for ln in log if ISO_LINE.match(ln)]
    assert events == ["OK", "FAIL", "RESTART", "RESTART", "CRITICAL"]
    assert "[PM2] restarted ultrazend-api" in log  # pm2's own output goes to the log too


def test_alert_script_lock_prevents_overlap(alert_env):
    params, state, record = alert_env
    alert.install_alert(T, params, apply=True, processes=["ultrazend-api"])
    state["health"] = 500
    lock = params.monitor.alert_log + ".lock"
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a run in progress
        r = _run_script(params.monitor.alert_script)
    assert r.returncode == 0
    assert " SKIP " in Path(params.monitor.alert_log).read_text()
    assert not record.exists()


def test_install_alert_dry_run_and_idempotence(alert_env):
    params, _, _ = alert_env
    script = params.monitor.alert_script
    dry = alert.install_alert(T, params, apply=False, processes=["ultrazend-api"])
    assert [(c.done, c.what) for c in dry] == [(False, "write the health alert script")]
    assert not os.path.exists(script) and not os.path.exists(os.path.dirname(script))
    assert len(alert.install_alert(T, params, apply=True, processes=["ultrazend-api"])) == 1
    assert alert.install_alert(T, params, apply=True, processes=["ultrazend-api"]) == []
    again = alert.install_alert(T, params, apply=False, processes=["ultrazend-api", "other"])
    assert [c.what for c in again] == ["replace the health alert script"]


def test_render_refuses_all_or_nothing():
    from runbook.errors import TargetError

    for procs in ([], ["all"]):
        with pytest.raises(TargetError):
            alert.render_alert_script(Params(), procs)


def test_app_process_names_filters_by_app_root():
    out = json.dumps([
        {"name": "ultrazend-api", "pm2_env": {"pm_cwd": "/var/www/ultrazend/backend"}},
        {"name": "ultrazend-writer", "pm2_env": {"pm_exec_path": "/var/www/ultrazend/backend/scripts/writer.js"}},
        {"name": "ultrazend-old", "pm2_env": {"pm_cwd": "/var/www/ultrazend-old"}},
        {"name": "blog", "pm2_env": {"pm_cwd": "/srv/blog"}},
    ])
    t = RecordingTarget(answers={"pm2 jlist": (0, "banner\n" + out, "")})
    assert alert.app_process_names(t, "/var/www/ultrazend/") == ["ultrazend-api", "ultrazend-writer"]


# --- crontab ------------------------------------------------------------------------------------


def test_cron_line_quotes_and_escapes():
    p = Params.from_dict({"monitor": {"alert_script": "/opt/50%/m.sh", "cron_schedule": "*/2 * * * *"}})
    assert alert.cron_line(p) == "*/2 * * * * /opt/50\\%/m.sh >/dev/null 2>&1"


def test_merge_crontab_keeps_other_lines_and_never_duplicates():
    line = "*/5 * * * * /usr/local/bin/uz.sh >/dev/null 2>&1"
    existing = "MAILTO=ops@example.com\n# nightly\n0 3 * * * /usr/local/bin/backup.sh\n"
    merged, changed = alert.merge_crontab(existing, line, "/usr/local/bin/uz.sh")
    assert changed and merged == existing + line + "\n"
    again, changed = alert.merge_crontab(merged, line, "/usr/local/bin/uz.sh")
    assert not changed and again == merged
    # an older schedule of the same script is replaced in place, not duplicated
    old = "0 * * * * /usr/local/bin/uz.sh\n" + existing
    merged, changed = alert.merge_crontab(old, line, "/usr/local/bin/uz.sh")
    assert changed and merged.splitlines()[0] == line and merged.count("uz.sh") == 1
    # duplicates left by the seed's way are collapsed into one
    dup = f"{line}\n{line}\n"
    assert alert.merge_crontab(dup, line, "/usr/local/bin/uz.sh") == (line + "\n", True)
    # a commented-out line or a similar path is someone else's
    other = "# */5 * * * * /usr/local/bin/uz.sh\n* * * * * /usr/local/bin/uz.sh.bak\n"
    merged, changed = alert.merge_crontab(other, line, "/usr/local/bin/uz.sh")
    assert changed and merged == other + line + "\n"
    assert alert.merge_crontab("", line, "/usr/local/bin/uz.sh") == (line + "\n", True)


class CronTarget(RecordingTarget):
    """A recording target whose ``crontab -`` really replaces the crontab it answers."""

    def __init__(self, crontab: str | None):
        super().__init__()
        self.crontab = crontab

    def run(self, argv, *, input=None, **kw):
        argv = [str(a) for a in argv]
        self.commands.append(argv)
        if argv == ["crontab", "-l"]:
            if self.crontab is None:
                return CommandResult(argv, 1, "", "no crontab for runbook", 0.0)
            return CommandResult(argv, 0, self.crontab, "", 0.0)
        if argv == ["crontab", "-"]:
            self.crontab = input
        return CommandResult(argv, 0, "", "", 0.0)


def test_install_alert_cron_only_when_asked_and_applied(tmp_path):
    base = {"monitor": {"alert_script": "/opt/uz/m.sh", "install_cron": True}}
    p = Params.from_dict(base)
    t = CronTarget("0 3 * * * backup.sh\n")
    dry = alert.install_alert(t, p, apply=False, processes=["ultrazend-api"])
    assert [c.done for c in dry] == [False, False] and "/opt/uz/m.sh" in dry[1].detail
    assert t.crontab == "0 3 * * * backup.sh\n" and ["crontab", "-"] not in t.commands and t.files == {}

    done = alert.install_alert(t, p, apply=True, processes=["ultrazend-api"])
    assert all(isinstance(c, Change) and c.done for c in done) and len(done) == 2
    assert t.crontab == "0 3 * * * backup.sh\n" + alert.cron_line(p) + "\n"
    assert alert.install_alert(t, p, apply=True, processes=["ultrazend-api"]) == []

    t2 = CronTarget(None)  # no crontab yet: `crontab -l` exits 1
    alert.install_alert(t2, p, apply=True, processes=["ultrazend-api"])
    assert t2.crontab == alert.cron_line(p) + "\n"

    not_asked = Params.from_dict({"monitor": {"alert_script": "/opt/uz/m.sh"}})
    t3 = CronTarget("")
    alert.install_alert(t3, not_asked, apply=True, processes=["ultrazend-api"])
    assert not any(c[0] == "crontab" for c in t3.commands)


def test_install_alert_dry_run_when_pm2_is_down():
    t = RecordingTarget(answers={"pm2 jlist": (1, "", "pm2: daemon not running")})
    dry = alert.install_alert(t, Params(), apply=False)
    assert len(dry) == 1 and not dry[0].done and "cannot be rendered yet" in dry[0].detail
    assert t.files == {}
    assert alert.script_preview(t, Params()).startswith("(the alert script cannot be rendered yet")
    from runbook.errors import TargetError

    with pytest.raises(TargetError, match="pm2 jlist"):
        alert.install_alert(t, Params(), apply=True)


def test_errors_chart_groups_long_spans_into_wider_bars():
    df = pd.DataFrame({"minute": pd.to_datetime(["2026-12-03T08:57Z", "2026-12-03T09:10Z", "2026-12-03T18:57Z"]),
                       "count": [3, 5, 37]})
    ax = charts.errors_per_minute_chart(df, "2026-12-03T18:58:00Z").axes[0]
    heights = [b.get_height() for b in ax.containers[0]]
    assert sum(heights) == 45 and len(heights) <= 240 and max(heights) == 37
    assert "per 5 minutes" in ax.get_title()

"""HTML renderings of a run: each executed notebook (full and stakeholder) and ``index.html``.

The stakeholder rendering hides code cells, so someone who never opens Jupyter
reads the steps, the tables, the charts and the verdicts.

Example
-------
>>> render_index  # doctest: +ELLIPSIS
<function render_index at ...>
"""

from __future__ import annotations

import base64
import html
import json
import threading
from pathlib import Path

from .records import read_record

_STYLE = """
:root{--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--warn:#9a6700;--warn-bg:#fff8c5;
--mute:#57606a;--mute-bg:#eaeef2;--line:#d0d7de;--ink:#1f2328;--brand:#0b3d91}
*{box-sizing:border-box}
body{font-family:"Liberation Sans",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:var(--ink);
background:#f6f8fa;line-height:1.45}
header{background:linear-gradient(120deg,#0b3d91,#1f6feb);color:#fff;padding:1.6rem 2rem 1.3rem}
header h1{margin:0;font-size:1.7rem;font-weight:700} header p{margin:.35rem 0 0;opacity:.9;font-size:.95rem}
header code{background:rgba(255,255,255,.18);color:#fff}
main{max-width:1150px;margin:0 auto;padding:1.2rem 2rem 2rem}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1rem 1.3rem;margin:1.1rem 0;
box-shadow:0 1px 2px rgba(31,35,40,.06)}
h2{margin:.1rem 0 .8rem;font-size:1.2rem} h3{font-size:1rem;margin:.2rem 0 .4rem;color:var(--mute)}
.hero{display:flex;gap:1rem;flex-wrap:wrap;align-items:stretch}
.verdict{flex:2 1 320px;border-radius:10px;padding:1rem 1.3rem;border-left:10px solid}
.verdict.passed{background:var(--ok-bg);border-color:var(--ok)} .verdict.failed{background:var(--bad-bg);border-color:var(--bad)}
.verdict .label{font-size:.85rem;color:var(--mute);text-transform:uppercase;letter-spacing:.05em}
.verdict .big{font-size:2rem;font-weight:800} .verdict.passed .big{color:var(--ok)} .verdict.failed .big{color:var(--bad)}
.verdict p{margin:.3rem 0 0}
.card{flex:1 1 150px;background:#fff;border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem;display:flex;flex-direction:column;justify-content:center}
.card .num{font-size:1.6rem;font-weight:700} .card .label{font-size:.8rem;color:var(--mute);text-transform:uppercase;letter-spacing:.05em}
table{border-collapse:collapse;width:100%;font-size:.93rem}
th,td{border-bottom:1px solid var(--line);padding:.55rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--mute)}
tr:last-child td{border-bottom:none}
.pill{display:inline-block;border-radius:999px;padding:.1rem .65rem;font-size:.78rem;font-weight:700;white-space:nowrap;letter-spacing:.03em}
.pill.passed{background:var(--ok-bg);color:var(--ok)} .pill.failed,.pill.error{background:var(--bad-bg);color:var(--bad)}
.pill.skipped,.pill.interrupted{background:var(--warn-bg);color:var(--warn)} .pill.not-run{background:var(--mute-bg);color:var(--mute)}
.why{color:var(--mute);font-size:.88rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1rem}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:.6rem;background:#fff}
figcaption{font-weight:600;margin-bottom:.4rem}
img.chart{max-width:100%;display:block;margin:0 auto}
code{background:#f6f8fa;padding:0 .25rem;border-radius:4px}
a{color:#0969da} footer{color:var(--mute);font-size:.85rem;text-align:center;padding:0 0 2rem}
"""


_exporters = threading.local()

# The lab template's code cells, without bleach's clean_html over the highlighted source: pygments
# has escaped every character of it already, and that second pass was three quarters of a phase's
# rendering time. Outputs are not sanitized by nbconvert (its sanitize_html is off): host text is
# escaped where the library builds HTML (Phase.check, Phase.finish, pandas tables).
_RUNBOOK_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
"""


def _exporter(hide_code: bool):
    """One HTML exporter per rendering kind and thread: building one compiles the lab templates
    (about 0.2 s), more than rendering a phase's notebook with it."""
    cache = getattr(_exporters, "by_kind", None)
    if cache is None:
        cache = _exporters.by_kind = {}
    if hide_code not in cache:
        from jinja2 import DictLoader
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(template_name="lab", template_file="runbook.html.j2",
                                extra_loaders=[DictLoader({"runbook.html.j2": _RUNBOOK_TEMPLATE})])
        if hide_code:
            exporter.exclude_input = True
            exporter.exclude_input_prompt = True
            exporter.exclude_output_prompt = True
        cache[hide_code] = exporter
    return cache[hide_code]


def render_notebook(ipynb: Path, html_path: Path, *, hide_code: bool = False) -> Path:
    """Render one executed notebook to HTML (``hide_code`` for the stakeholder version)."""
    import nbformat

    nb = nbformat.read(str(ipynb), as_version=4)
    body, _ = _exporter(hide_code).from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _img(run_dir: Path, rel: str) -> str:
    data = base64.b64encode((run_dir / rel).read_bytes()).decode()
    return f"<img class='chart' alt='{html.escape(rel)}' src='data:image/png;base64,{data}'>"


_LABELS = {"passed": "PASSED", "failed": "FAILED", "error": "ERROR", "skipped": "SKIPPED", "not run": "NOT RUN",
           "not-run": "NOT RUN", "interrupted": "INTERRUPTED"}


def _pill(verdict: str) -> str:
    """A coloured badge; the text itself is upper case so a text-only reader sees the verdict too."""
    v = str(verdict or "not-run")
    return f"<span class='pill {html.escape(v.replace(' ', '-'))}'>{html.escape(_LABELS.get(v, v.upper()))}</span>"


def _cell(value) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _rollback_section(run_dir: Path) -> str:
    """What phase 90 restored and undid, in a few lines (empty when it did not run)."""
    rec = read_record(run_dir, "90")
    if not rec:
        return ""
    v, done = rec.get("values", {}), rec.get("apply") or rec.get("values", {}).get("apply")
    b = v.get("backup") or {}
    verb = "" if done else " (dry run: would be)"
    changes = rec.get("changes", [])
    facts = [
        ("backup", f"{b.get('path', '?')} taken {b.get('created', '?')} · {(v.get('backup_source') or {}).get('why', '')}"),
        ("restored" + verb, f"{(v.get('restored') or {}).get('database', '')} · SHA-256 {str(v.get('restored_sha256') or b.get('sha256', ''))[:16]}…"),
        ("rows lost", f"{v.get('rows_lost_total', '?')} rows written after the backup"),
        ("migrations rolled back" + verb, ", ".join(f"batch {x}" for x in v.get("batches_to_roll_back") or []) or "none (the restored history holds none of the runbook's later batches)"),
        ("code reverted" + verb, "; ".join(c["change"] for c in changes if c["change"].startswith(("revert", "push"))) or "no runbook commit after the backup"),
    ]
    facts += [(c["check"], c.get("evidence", "")) for c in rec.get("checks", []) if "health" in c["check"]]
    body = "".join(f"<tr><th style='width:22%'>{html.escape(k)}</th><td>{_cell(val)}</td></tr>" for k, val in facts)
    return f"<section><h2>Rollback {_pill(rec.get('verdict') or 'not-run')}</h2><table>{body}</table></section>"


def render_index(run_dir: Path, manifest: dict, phases: list[dict]) -> Path:
    """Write ``index.html``: the final verdict, the report's criteria and charts, and a link per phase.

    ``phases`` holds one dict per planned phase: id, name, title, status, duration.

    Examples
    --------
    >>> import tempfile
    >>> out = render_index(Path(tempfile.mkdtemp()), {"run_id": "demo", "params": {"apply": False}},
    ...                    [{"id": "00", "name": "preflight", "title": "Preflight", "status": "passed", "duration": 1.2}])
    >>> "PASSED" in out.read_text()
    True
    """
    run_dir = Path(run_dir)
    overall = "passed" if phases and all(p["status"] in ("passed", "skipped") for p in phases) else "failed"
    rows = []
    for p in phases:
        rec = read_record(run_dir, p["id"]) or {}
        links = []
        for suffix, label in ((".html", "full"), (".stakeholder.html", "summary")):
            f = run_dir / f"{p['id']}_{p['name']}{suffix}"
            if f.exists():
                links.append(f"<a href='{f.name}'>{label}</a>")
        why = p.get("message") or rec.get("reason", "")
        duration = p.get("duration", "")
        rows.append(
            "<tr>"
            f"<td><b>{p['id']}</b></td><td>{html.escape(p['title'])}</td><td>{_pill(p['status'])}</td>"
            f"<td>{f'{duration:.1f} s' if isinstance(duration, (int, float)) else html.escape(str(duration))}</td>"
            f"<td class='why'>{html.escape(why)}</td><td>{' · '.join(links)}</td></tr>"
        )
    report = read_record(run_dir, "99") or {}
    criteria = report.get("tables", {}).get("criteria", {}).get("rows", [])
    crit_rows = "".join(
        f"<tr><td><b>{_cell(c.get('criterion', ''))}</b></td><td>{_pill(c.get('verdict', ''))}</td>"
        f"<td>{_cell(c.get('evidence', ''))}</td></tr>" for c in criteria)
    figures = ""
    for ph in phases:
        rec = read_record(run_dir, ph["id"]) or {}
        for key, rel in rec.get("figures", {}).items():
            if (run_dir / rel).exists():
                figures += (f"<figure><figcaption>{html.escape(ph['title'])}: {html.escape(key.replace('_', ' '))}"
                            f"</figcaption>{_img(run_dir, rel)}</figure>")
    values = report.get("values", {})
    downtime = values.get("downtime_s")
    if not isinstance(downtime, (int, float)):
        downtime = (read_record(run_dir, "90") or {}).get("values", {}).get("downtime_s")
    params = manifest.get("params", {})
    judged = [c for c in criteria if c.get("verdict") in ("passed", "failed")]
    n_passed = sum(p["status"] == "passed" for p in phases)
    cards = [
        (f"{n_passed}/{len(phases)}", "phases passed"),
        (f"{sum(c['verdict'] == 'passed' for c in judged)}/{len(criteria)}" if criteria else "–", "criteria passed"),
        (f"{downtime:.1f} s" if isinstance(downtime, (int, float)) else "–", "downtime (services stopped)"),
        ("apply" if params.get("apply") else "dry run", "mode"),
    ]
    failed = next((p for p in phases if p["status"] not in ("passed", "skipped")), None)
    summary = (f"Phase {failed['id']} ({html.escape(failed['title'])}) {html.escape(failed['status'])}. "
               f"{html.escape(failed.get('message', ''))}" if failed else
               "Every phase of this run passed." + (" Criteria marked NOT RUN were not measured by this run."
                                                    if any(c.get("verdict") == "not run" for c in criteria) else ""))
    target = params.get("target", {})
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>UltraZend recovery run {html.escape(manifest.get('run_id', ''))}</title><style>{_STYLE}</style></head><body>
<header><h1>UltraZend SMTP · recovery run <code>{html.escape(manifest.get('run_id', ''))}</code></h1>
<p>created {html.escape(manifest.get('created', ''))} · target {html.escape(str(target.get('kind', '')))}
{html.escape(str(target.get('host', '')))} · runbook commit <code>{html.escape(manifest.get('runbook_commit', '')[:12])}</code></p></header>
<main>
<div class="hero"><div class="verdict {overall}"><div class="label">Overall verdict</div>
<div class="big">{overall.upper()}</div><p>{summary}</p></div>
{''.join(f'<div class="card"><div class="num">{html.escape(n)}</div><div class="label">{html.escape(l)}</div></div>' for n, l in cards)}
</div>
{f'<section><h2>Success criteria</h2><table><tr><th>criterion</th><th>verdict</th><th>evidence</th></tr>{crit_rows}</table></section>' if criteria else ''}
{_rollback_section(run_dir)}
<section><h2>Phases</h2>
<table><tr><th>#</th><th>phase</th><th>verdict</th><th>duration</th><th>why</th><th>pages</th></tr>{''.join(rows)}</table></section>
{f'<section><h2>Charts</h2><div class="charts">{figures}</div></section>' if figures else ''}
</main>
<footer>Every file of this run and its SHA-256 are listed in <a href="manifest.json">manifest.json</a>.</footer>
</body></html>"""
    out = run_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out

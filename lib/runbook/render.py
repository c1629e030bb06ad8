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
from pathlib import Path

from .records import read_record

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#57606a;margin-top:0}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.passed{color:#1a7f37;font-weight:700}.failed,.error{color:#cf222e;font-weight:700}
.skipped,.not-run,.interrupted{color:#9a6700;font-weight:700}
.banner{padding:.8rem 1rem;border-left:8px solid;margin:1rem 0;font-size:1.15rem}
.banner.passed{border-color:#1a7f37;background:#dafbe1}.banner.failed{border-color:#cf222e;background:#ffebe9}
img.chart{max-width:100%;border:1px solid #d0d7de;margin:.5rem 0}
code{background:#f6f8fa;padding:0 .2rem}
"""


def render_notebook(ipynb: Path, html_path: Path, *, hide_code: bool = False) -> Path:
    """Render one executed notebook to HTML (``hide_code`` for the stakeholder version)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    if hide_code:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
        # The parameters cells are code: hide their injected output too.
    body, _ = exporter.from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _img(run_dir: Path, rel: str) -> str:
    data = base64.b64encode((run_dir / rel).read_bytes()).decode()
    return f"<img class='chart' alt='{html.escape(rel)}' src='data:image/png;base64,{data}'>"


def _table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p><i>none</i></p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = ""
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c, "")
            cls = f" class='{v}'" if isinstance(v, str) and v in ("passed", "failed", "skipped", "error") else ""
            cells.append(f"<td{cls}>{html.escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))}</td>")
        body += "<tr>" + "".join(cells) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def render_index(run_dir: Path, manifest: dict, phases: list[dict]) -> Path:
    """Write ``index.html``: the final verdict, the report's criteria and charts, and a link per phase.

    ``phases`` holds one dict per planned phase: id, name, title, status, duration.
    """
    run_dir = Path(run_dir)
    overall = "passed" if phases and all(p["status"] == "passed" for p in phases) else "failed"
    rows = []
    for p in phases:
        rec = read_record(run_dir, p["id"]) or {}
        links = []
        for suffix, label in ((".html", "full"), (".stakeholder.html", "summary")):
            f = run_dir / f"{p['id']}_{p['name']}{suffix}"
            if f.exists():
                links.append(f"<a href='{f.name}'>{label}</a>")
        rows.append(
            "<tr>"
            f"<td>{p['id']}</td><td>{html.escape(p['title'])}</td>"
            f"<td class='{p['status']}'>{p['status']}</td>"
            f"<td>{p.get('duration', '')}</td>"
            f"<td>{html.escape(rec.get('reason', '') or p.get('message', ''))}</td>"
            f"<td>{' · '.join(links)}</td></tr>"
        )
    report = read_record(run_dir, "99") or {}
    criteria = report.get("tables", {}).get("criteria", {}).get("rows", [])
    figures = ""
    for ph in phases:
        rec = read_record(run_dir, ph["id"]) or {}
        for key, rel in rec.get("figures", {}).items():
            if (run_dir / rel).exists():
                figures += f"<h3>{html.escape(ph['title'])}: {html.escape(key.replace('_', ' '))}</h3>{_img(run_dir, rel)}"
    downtime = report.get("values", {}).get("downtime_s")
    params = manifest.get("params", {})
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>UltraZend recovery run {html.escape(manifest.get('run_id', ''))}</title><style>{_STYLE}</style></head><body>
<h1>UltraZend recovery run <code>{html.escape(manifest.get('run_id', ''))}</code></h1>
<p class="sub">created {html.escape(manifest.get('created', ''))} · mode: {'apply' if params.get('apply') else 'dry run'}
 · target: {html.escape(str(params.get('target', {}).get('kind', '')))} {html.escape(str(params.get('target', {}).get('host', '')))}
 · runbook commit <code>{html.escape(manifest.get('runbook_commit', '')[:12])}</code></p>
<div class="banner {overall}">Overall verdict: <b>{overall.upper()}</b>
{f' · downtime {downtime:.1f} s' if isinstance(downtime, (int, float)) else ''}</div>
{'<h2>Success criteria</h2>' + _table(criteria, ['criterion', 'verdict', 'evidence']) if criteria else ''}
<h2>Phases</h2>
<table><tr><th>#</th><th>phase</th><th>verdict</th><th>duration (s)</th><th>why</th><th>notebook</th></tr>{''.join(rows)}</table>
{'<h2>Charts</h2>' + figures if figures else ''}
<p class="sub">Files of this run and their SHA-256 are listed in <a href="manifest.json">manifest.json</a>.</p>
</body></html>"""
    out = run_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out

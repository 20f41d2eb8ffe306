"""``report``: a self-contained HTML page (inline CSS and SVG, no network) for a risk analyst."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ._record import AuditRecord

_COLORS = {"allow": "#2e7d32", "clarify": "#f9a825", "escalate": "#c62828"}
_OUTCOMES = ("allow", "clarify", "escalate")


def summarize(records: Iterable[AuditRecord], recent: int = 25) -> dict[str, Any]:
    """The figures the report shows, as JSON-ready data."""
    rows = []
    for rec in records:
        body = rec.body
        d = body.get("decision") or {}
        rows.append((rec.seq, body, d))
    by_outcome: Counter[str] = Counter(str(d.get("outcome")) for _, _, d in rows)
    rules: Counter[tuple[str, str]] = Counter()
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    times: list[tuple[datetime, str]] = []
    for _, body, d in rows:
        for r in d.get("reasons", []):
            rules[(r["rule"], r["code"])] += 1
        kinds[d.get("kind") or "(unparsed)"][d.get("outcome", "?")] += 1
        try:
            times.append((datetime.fromisoformat(body["time"]), d.get("outcome", "?")))
        except (KeyError, TypeError, ValueError):
            pass
    buckets: list[dict[str, Any]] = []
    if times:
        start = min(t for t, _ in times)
        end = max(t for t, _ in times)
        span = max((end - start).total_seconds(), 1.0)
        step = next((s for s in (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400) if span / s <= 48), 30 * 86400)
        counts: dict[int, Counter[str]] = defaultdict(Counter)
        for t, o in times:
            counts[int((t - start).total_seconds() // step)][o] += 1
        for i in range(int(span // step) + 1):
            buckets.append({"start": (start + timedelta(seconds=i * step)).isoformat(timespec="minutes"),
                            **{o: counts[i][o] for o in _OUTCOMES}})
    escalations = [
        {"seq": seq, "time": body.get("time"), "kind": d.get("kind"), "route": d.get("route"),
         "codes": [r["code"] for r in d.get("reasons", [])],
         "session": (body.get("lineage") or {}).get("session_id"), "id": body.get("id")}
        for seq, body, d in rows if d.get("outcome") == "escalate"
    ][-recent:][::-1]
    return {
        "total": len(rows),
        "outcomes": {o: by_outcome[o] for o in _OUTCOMES},
        "policies": sorted({f"{b['policy']['id']} {b['policy']['version']}" for _, b, _ in rows if "policy" in b}),
        "buckets": buckets,
        "top_rules": [{"rule": r, "code": c, "count": n} for (r, c), n in rules.most_common(15)],
        "kinds": [{"kind": k, "total": sum(v.values()), **{o: v[o] for o in _OUTCOMES}} for k, v in sorted(kinds.items())],
        "escalations": escalations,
        "shadow": {"sampled": sum(1 for _, b, _ in rows if isinstance(b.get("shadow"), dict)),
                   "diverged": sum(1 for _, b, _ in rows if isinstance(b.get("shadow"), dict) and b["shadow"].get("diverged"))},
    }


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _timeline(buckets: list[dict[str, Any]]) -> str:
    if not buckets:
        return "<p>No records.</p>"
    w, h, left, bottom, top, right = 760, 220, 40, 30, 12, 40
    peak = max(sum(b[o] for o in _OUTCOMES) for b in buckets) or 1
    bw = (w - left - right) / len(buckets)
    parts = [f'<svg viewBox="0 -{top} {w} {h + bottom + top}" width="100%" role="img" aria-label="outcomes over time">']
    for frac in (0, 0.5, 1):
        y = h - frac * h
        parts.append(f'<line x1="{left}" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{round(peak * frac)}</text>')
    for i, b in enumerate(buckets):
        y = float(h)
        for o in _OUTCOMES:
            bar = b[o] / peak * h
            if bar:
                parts.append(f'<rect x="{left + i * bw + 1:.1f}" y="{y - bar:.1f}" width="{max(bw - 2, 1):.1f}" '
                             f'height="{bar:.1f}" fill="{_COLORS[o]}"><title>{_e(b["start"])}: {b[o]} {o}</title></rect>')
            y -= bar
        if i % max(1, len(buckets) // 6) == 0:
            parts.append(f'<text x="{left + i * bw:.1f}" y="{h + 16}" >{_e(b["start"][5:16].replace("T", " "))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars(items: list[tuple[str, int]], color: str) -> str:
    if not items:
        return "<p>No rule fired.</p>"
    peak = max(n for _, n in items) or 1
    row = 22
    parts = [f'<svg viewBox="0 0 760 {row * len(items) + 4}" width="100%" role="img" aria-label="top firing rules">']
    for i, (label, n) in enumerate(items):
        y = i * row
        parts.append(f'<text x="0" y="{y + 15}">{_e(label[:60])}</text>'
                     f'<rect x="400" y="{y + 3}" width="{n / peak * 300:.1f}" height="16" fill="{color}"/>'
                     f'<text x="{406 + n / peak * 300:.1f}" y="{y + 15}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(time: Any) -> str:
    return str(time)[:19].replace("T", " ") if time else "-"


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def render_html(summary: dict[str, Any], title: str) -> str:
    """The report page for a :func:`summarize` result."""
    total = summary["total"]
    o = summary["outcomes"]
    cards = "".join(
        f'<div class="card"><div class="n" style="color:{_COLORS[k]}">{o[k]}</div><div>{k} ({_pct(o[k], total)})</div></div>'
        for k in _OUTCOMES
    )
    kinds = "".join(
        f"<tr><td>{_e(k['kind'])}</td><td class=r>{k['total']}</td><td class=r>{_pct(k['clarify'], k['total'])}</td>"
        f"<td class=r>{_pct(k['escalate'], k['total'])}</td>"
        f'<td><div class="stack"><span style="width:{_pct(k["allow"], k["total"])};background:{_COLORS["allow"]}"></span>'
        f'<span style="width:{_pct(k["clarify"], k["total"])};background:{_COLORS["clarify"]}"></span>'
        f'<span style="width:{_pct(k["escalate"], k["total"])};background:{_COLORS["escalate"]}"></span></div></td></tr>'
        for k in summary["kinds"]
    )
    esc = "".join(
        f"<tr><td class=r>{e['seq']}</td><td>{_e(_short(e['time']))}</td><td>{_e(e['kind'] or '-')}</td><td>{_e(e['route'])}</td>"
        f"<td>{_e(', '.join(e['codes']))}</td><td>{_e(e['session'])}</td></tr>"
        for e in summary["escalations"]
    ) or '<tr><td colspan="6">No escalation.</td></tr>'
    legend = " ".join(f'<span class="key" style="background:{c}"></span>{k}' for k, c in _COLORS.items())
    rules = _bars([(f"{r['rule']} [{r['code']}]", r["count"]) for r in summary["top_rules"]], "#37474f")
    sh = summary["shadow"]
    shadow = (f"; a shadow policy also decided {sh['sampled']} of them and differed on {sh['diverged']}"
              if sh["sampled"] else "")
    return _page(title, f"""<div class="sub">{total} decisions; policies: {_e(", ".join(summary["policies"]) or "-")}{shadow}</div>
<div class="cards">{cards}</div>
<h2>Outcomes over time</h2><div>{legend}</div>{_timeline(summary["buckets"])}
<h2>Top firing rules</h2>{rules}
<h2>Clarify and escalate rates per intent kind</h2>
<table><tr><th>kind</th><th class=r>decisions</th><th class=r>clarify</th><th class=r>escalate</th><th></th></tr>{kinds}</table>
<h2>Recent escalations</h2>
<table><tr><th class=r>seq</th><th>time</th><th>kind</th><th>route</th><th>reason codes</th><th>session</th></tr>{esc}</table>""")


_STYLE = """body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:840px;color:#222}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#666} .cards{display:flex;gap:12px;margin-top:12px}
.card{flex:1;border:1px solid #ddd;border-radius:6px;padding:10px 14px} .card .n{font-size:26px;font-weight:600}
table{border-collapse:collapse;width:100%} td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
.r{text-align:right} svg text{font-size:11px;fill:#444} .grid{stroke:#e0e0e0}
.stack{display:flex;height:12px;width:160px;background:#eee} .stack span{display:block;height:12px}
.key{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.fail{color:#c62828;font-weight:600} .pass{color:#2e7d32;font-weight:600} .reasons{margin:0;padding-left:16px;font-size:12px}
"""


def _page(title: str, content: str) -> str:
    """A self-contained page (inline CSS, no script, nothing fetched) around ``content``."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>
{_STYLE}</style></head><body>
<h1>{_e(title)}</h1>
{content}
</body></html>
"""


def _outcome(value: str) -> str:
    return f'<span style="color:{_COLORS.get(value, "#222")};font-weight:600">{_e(value)}</span>'


def _reasons(reasons: list[dict[str, Any]]) -> str:
    if not reasons:
        return "-"
    items = "".join(f"<li><b>{_e(r.get('rule'))}</b> [{_e(r.get('code'))}] {_e(r.get('outcome'))}: {_e(r.get('message'))}</li>"
                    for r in reasons)
    return f'<ul class="reasons">{items}</ul>'


def render_replay_html(report: dict[str, Any], title: str, limit: int = 500) -> str:
    """The backtest page for a replay report (``ReplayReport.to_dict``), at most ``limit`` changes listed."""
    total = report["total"]
    policy = report["policy"]
    gate = report.get("gate")
    verdict = ""
    if gate is not None:
        verdict = ('<p class="pass">Gate passed.</p>' if gate["ok"] else
                   "".join(f'<p class="fail">Gate failed: {_e(f)}</p>' for f in gate["failures"]))
    cards = "".join(
        f'<div class="card"><div class="n">{n}</div><div>{_e(label)}</div></div>'
        for n, label in ((report["identical"], f"identical ({_pct(report['identical'], total)})"),
                         (report["outcome_changed"], f"outcome changed ({report['divergence'] * 100:.2f}%)"),
                         (report["loosened"], "less strict"), (report["tightened"], "stricter"))
    )
    transitions = "".join(
        f"<tr><td>{_outcome(t['before'])}</td><td>{_outcome(t['after'])}</td><td class=r>{t['count']}</td>"
        f"<td class=r>{_pct(t['count'], total)}</td><td>{'' if t['before'] == t['after'] else 'changed'}</td></tr>"
        for t in report["transitions"]
    ) or '<tr><td colspan="5">No record.</td></tr>'
    now = [(f"{r['rule']} [{r['code']}]", r["count"]) for r in report["rules"] if r["change"] == "fires now"]
    gone = [(f"{r['rule']} [{r['code']}]", r["count"]) for r in report["rules"] if r["change"] == "no longer fires"]
    changes = report["changes"]
    rows = "".join(
        f"<tr><td class=r>{c['seq']}</td><td>{_e(_short(c['time']))}</td><td>{_e(c['kind'] or '-')}</td>"
        f"<td>{_outcome(c['before'])} &rarr; {_outcome(c['after'])}</td>"
        f"<td>{_e(c['rule'] or '-')} [{_e(c['code'] or '-')}] {_e(c['why'])}</td>"
        f"<td>{_reasons(c['before_reasons'])}</td><td>{_reasons(c['after_reasons'])}</td></tr>"
        for c in changes[:limit]
    ) or '<tr><td colspan="7">No decision changes.</td></tr>'
    more = f"<p>{len(changes) - limit} more changes are in the JSON report (<code>--format json</code>).</p>" if len(changes) > limit else ""
    recorded = ", ".join(f"{p['policy'][:60]} ({p['count']})" for p in report.get("recorded_policies", []))
    return _page(title, f"""<div class="sub">{total} recorded decisions replayed under {_e(policy['id'])} {_e(policy['version'])}
(<code>{_e(policy['digest'])}</code>); recorded under: {_e(recorded or "-")}</div>
{verdict}<div class="cards">{cards}</div>
<h2>Outcome transitions</h2>
<table><tr><th>recorded</th><th>replayed</th><th class=r>decisions</th><th class=r>share</th><th></th></tr>{transitions}</table>
<h2>Rules that fire now</h2>{_bars(now, _COLORS["escalate"]) if now else "<p>None.</p>"}
<h2>Rules that no longer fire</h2>{_bars(gone, _COLORS["allow"]) if gone else "<p>None.</p>"}
<h2>Changed decisions ({len(changes)})</h2>
<table><tr><th class=r>seq</th><th>time</th><th>kind</th><th>outcome</th><th>responsible rule</th>
<th>recorded reasons</th><th>replayed reasons</th></tr>{rows}</table>
{more}""")

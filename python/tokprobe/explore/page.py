"""The explorer page: one self-contained HTML file (no network, no CDN), its data inline as JSON.

Controls: group, variant, statistic, language, token class, file. Each scored token is tinted by the
chosen statistic for the chosen variant (red: the variant is worse there; blue, for the signed
statistics, better); tokens of other classes are dimmed, files of other languages hidden. A click on
a token shows its statistics and the reference's and the variant's top-5 next tokens where compare
recorded them (else each model's top-1). The list of the most divergent tokens jumps to each one.
Tokens where a completion probe starts (underlined green) also show the true continuation and the
reference's and the variant's greedy completions.
"""

from __future__ import annotations

import html
import json
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222}
header{padding:.6em 1em;border-bottom:1px solid #ccc;background:#fafafa;position:sticky;top:0;z-index:2}
header label{margin-right:.8em;font-size:.9em}select{font-size:.9em}
main{display:flex;gap:1em;padding:0 1em}#left{flex:1;min-width:0}#right{width:26em;flex:none}
#panel,#rankbox{position:sticky;top:4.5em;border:1px solid #ddd;padding:.5em .7em;margin:.8em 0;background:#fff;
font-size:.85em}#rankbox{top:auto;max-height:45vh;overflow:auto}
pre{white-space:pre-wrap;word-break:break-all;font:12px/1.45 ui-monospace,Menlo,Consolas,monospace;
border:1px solid #eee;padding:.5em;margin:.3em 0 1.2em}
.t{cursor:pointer;border-radius:2px}.t.probe{box-shadow:inset 0 -2px 0 #2a7}
.probebox{background:#f4fbf6;padding:.3em}.t.dim{opacity:.35}.t.sel{outline:2px solid #000}
.gap{color:#999}h3{font-size:.95em;margin:.8em 0 0}table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
td,th{border:1px solid #ddd;padding:.15em .5em;text-align:right}td:first-child,th:first-child{text-align:left}
#ranked li{cursor:pointer;margin:.1em 0}#ranked li:hover{background:#f0f0f0}.k{color:#666}
"""

_JS = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const $ = id => document.getElementById(id);
const S = {g: 0, v: null, stat: 'kl', lang: '', cls: '', file: '', sel: -1};
const esc = s => s.replace(/[&<>]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;'}[c]));
const show = s => esc(s).replace(/\n/g, '\u21b5\n').replace(/\t/g, '\u2192');
function fill(sel, items, all) {
  sel.innerHTML = (all ? `<option value="">${all}</option>` : '') +
    items.map(([v, t]) => `<option value="${esc(String(v))}">${esc(String(t))}</option>`).join('');
}
function G() { return D.groups[S.g]; }
function vals() { return G().values[S.v]; }
function scale(x) {  // the 99th percentile of |x|: the value of full colour
  const a = x.filter(v => v !== null).map(Math.abs).sort((p, q) => p - q);
  return a.length ? Math.max(a[Math.floor(0.99 * (a.length - 1))], 1e-9) : 1;
}
function colour(v, s, signed) {
  if (v === null) return 'transparent';
  const bad = S.stat === 'dp' ? -v : v;  // Δp < 0: the variant lost probability of the true token
  const a = Math.min(1, Math.abs(bad) / s);
  if (!signed && bad < 0) return 'transparent';
  return bad >= 0 ? `rgba(220,40,40,${(0.85 * a).toFixed(3)})` : `rgba(40,90,220,${(0.85 * a).toFixed(3)})`;
}
function setup() {
  fill($('group'), D.groups.map((g, i) => [i, g.name]));
  fill($('stat'), D.statistics);
  $('group').onchange = () => { S.g = +$('group').value; S.v = null; S.sel = -1; build(); };
  $('variant').onchange = () => { S.v = $('variant').value; tint(); summary(); };
  $('stat').onchange = () => { S.stat = $('stat').value; tint(); };
  for (const k of ['lang', 'cls', 'file']) $(k).onchange = () => { S[k] = $(k).value; filter(); };
  build();
}
function build() {
  const g = G();
  S.v = S.v || g.variants[g.variants.length - 1];
  fill($('variant'), g.variants.map(v => [v, v]));
  $('variant').value = S.v;
  fill($('lang'), g.languages.map(l => [l, l]), 'all languages');
  fill($('cls'), g.classes.map((c, i) => [i, c]), 'all classes');
  fill($('file'), g.files.map((f, i) => [i, f.path]), 'all files');
  S.lang = S.cls = S.file = '';
  const parts = [];
  g.files.forEach((f, fi) => {
    const spans = [];
    for (let i = f.start; i < f.start + f.n; i++) {
      if (g.gap[i]) spans.push('<span class="gap">\u2026</span>');
      spans.push(`<span class="t" data-i="${i}">${show(g.strings[g.text[i]])}</span>`);
    }
    parts.push(`<div class="file" data-f="${fi}" data-lang="${esc(f.language)}"><h3>${esc(f.path)} ` +
      `<span class="k">(${esc(f.language)}, ${f.n} tokens)</span></h3><pre>${spans.join('')}</pre></div>`);
  });
  $('files').innerHTML = parts.join('');
  S.probes = new Map((g.probes || []).map(p => [p.i, p]));
  for (const i of S.probes.keys()) {
    const el = document.querySelector(`#files .t[data-i="${i}"]`);
    if (el) el.classList.add('probe');
  }
  $('files').onclick = e => { const t = e.target.closest('.t'); if (t) select(+t.dataset.i, false); };
  tint(); summary();
}
function tint() {
  const g = G(), x = vals()[S.stat], s = scale(x), signed = S.stat === 'dp' || S.stat === 'dsurprisal';
  for (const el of document.querySelectorAll('#files .t')) el.style.background = colour(x[+el.dataset.i], s, signed);
  $('legend').textContent = `full colour at |value| = ${s.toPrecision(3)} (99th percentile); ` +
    (signed ? 'red: worse for the variant, blue: better' : 'red: larger');
  filter();
  if (S.sel >= 0) panel(S.sel);
}
function visible(i) {
  const g = G(), f = g.files.findIndex(f => i >= f.start && i < f.start + f.n);
  return (S.file === '' || +S.file === f) && (S.lang === '' || g.files[f].language === S.lang) &&
    (S.cls === '' || g.cls[i] === +S.cls);
}
function filter() {
  const g = G();
  for (const el of document.querySelectorAll('#files .file')) {
    const f = +el.dataset.f;
    el.style.display = (S.file === '' || +S.file === f) && (S.lang === '' || el.dataset.lang === S.lang) ? '' : 'none';
  }
  for (const el of document.querySelectorAll('#files .t'))
    el.classList.toggle('dim', S.cls !== '' && g.cls[+el.dataset.i] !== +S.cls);
  ranked();
}
function ranked() {
  const g = G(), v = vals(), x = v[S.stat];
  const items = v.ranked[S.stat].filter(visible).slice(0, 50).map(i => {
    const f = g.files.find(f => i >= f.start && i < f.start + f.n);
    return `<li data-i="${i}">${x[i]} <code>${show(g.strings[g.text[i]])}</code> ` +
      `<span class="k">${esc(f.path)}:${g.line[i]}</span></li>`;
  });
  $('ranked').innerHTML = items.join('') || '<li>no token matches the filters</li>';
  $('ranked').onclick = e => { const li = e.target.closest('li[data-i]'); if (li) select(+li.dataset.i, true); };
}
function tops(g, pair, own) {
  if (!pair) return `<tr><td colspan="2">top-1: <code>${show(g.strings[own])}</code> (top-5 not recorded)</td></tr>`;
  return pair[0].map((s, k) => `<tr><td><code>${show(g.strings[s])}</code></td><td>${pair[1][k]}</td></tr>`).join('');
}
function panel(i) {
  const g = G(), v = vals(), f = g.files.find(f => i >= f.start && i < f.start + f.n);
  const rows = D.statistics.map(([k, label]) => `<tr><td>${esc(label)}</td><td>${v[k][i]}</td></tr>`).join('');
  $('panel').innerHTML = `<b>token <code>${show(g.strings[g.text[i]])}</code></b> ` +
    `<span class="k">${esc(g.classes[g.cls[i]])}, ${esc(f.path)}:${g.line[i]}</span>` +
    `<table>${rows}<tr><td>p(true token) ref / variant</td><td>${v.p_ref[i]} / ${v.p_var[i]}</td></tr>` +
    `<tr><td>same top-1</td><td>${v.same_top1[i] ? 'yes' : 'no'}</td></tr></table>` +
    `<div id="top-ref"><b>${esc(g.reference)}</b> next token<table>` +
    tops(g, g.top_ref && g.top_ref[i], v.top1_ref[i]) + '</table></div>' +
    `<div id="top-var"><b>${esc(S.v)}</b> next token<table>` +
    tops(g, v.top_var && v.top_var[i], v.top1_var[i]) + '</table></div>' + probe(g, i);
}
function probe(g, i) {  // a completion probe that starts on this token's line: both continuations
  const p = S.probes && S.probes.get(i);
  if (!p) return '';
  const row = m => p.models[m] ? `<tr><td>${esc(m)}</td><td><code>${show(p.models[m][0])}</code></td>` +
    `<td>${p.models[m][1] ? 'exact' : 'differs'}</td></tr>` : '';
  return `<div class="probebox" id="probe"><b>Completion probe</b> (line ${p.line})<table>` +
    `<tr><td>truth</td><td><code>${show(p.truth)}</code></td><td></td></tr>${row(g.reference)}${row(S.v)}</table></div>`;
}
function select(i, scroll) {
  for (const el of document.querySelectorAll('#files .t.sel')) el.classList.remove('sel');
  S.sel = i;
  const el = document.querySelector(`#files .t[data-i="${i}"]`);
  if (el) {
    el.classList.add('sel');
    if (scroll) { el.closest('.file').style.display = ''; el.scrollIntoView({block: 'center'}); }
  }
  panel(i);
}
function summary() {
  const rows = G().summary.map(r => `<tr><td>${esc(String(r.variant))}</td><td>${r.n_tokens}</td>` +
    `<td>${r.n_files}</td><td>${r.kl_mean} [${r.kl_mean_lo}, ${r.kl_mean_hi}]</td>` +
    `<td>${r.same_top1} [${r.same_top1_lo}, ${r.same_top1_hi}]</td></tr>`).join('');
  $('summary').innerHTML = '<tr><th>variant</th><th>tokens</th><th>files</th><th>KL [95% interval]</th>' +
    `<th>same top-1 [95% interval]</th></tr>${rows}`;
}
setup();
"""


def _inline_json(data: Any) -> str:
    """JSON safe inside a <script> element (no ``</script>``, no HTML comment openers)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def render_page(data: dict[str, Any], title: str) -> str:
    """The whole page for ``data`` (:func:`tokprobe.explore.data.explorer_data`)."""
    title = html.escape(title)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_CSS}</style></head><body>"
        f"<header><b>{title}</b> &nbsp; "
        "<label>group <select id='group'></select></label><label>variant <select id='variant'></select></label>"
        "<label>statistic <select id='stat'></select></label><label>language <select id='lang'></select></label>"
        "<label>class <select id='cls'></select></label><label>file <select id='file'></select></label>"
        "<span id='legend' class='k'></span></header>"
        "<main><div id='left'><table id='summary'></table><div id='files'></div></div>"
        "<div id='right'><div id='panel'>Click a token to see its statistics and both models' next tokens.</div>"
        "<div id='rankbox'><b>Most divergent tokens</b> (of the filters; click to jump)<ol id='ranked'></ol></div>"
        "</div></main>"
        f"<script id='data' type='application/json'>{_inline_json(data)}</script>"
        f"<script>{_JS}</script></body></html>"
    )

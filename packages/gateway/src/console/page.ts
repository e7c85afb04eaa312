/**
 * The console page: plain HTML, CSS and a script, served by the gateway itself
 * (nothing fetched from elsewhere, no build step). The page holds no data: it
 * reads `GET /v1/admin/console` every two seconds with the admin key the user
 * gives it (kept in the tab's session storage) and changes weights through
 * `PUT /v1/models/{name}/weights`.
 */

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard console</title>
<link rel="stylesheet" href="/console/console.css">
<script type="module" src="/console/console.js"></script>
</head>
<body>
<header>
  <h1>Switchyard console</h1>
  <p id="status" role="status" aria-live="polite">Loading…</p>
  <label class="pause"><input type="checkbox" id="pause"> Pause updates</label>
</header>
<form id="key-form" hidden>
  <label for="key">Admin key</label>
  <input id="key" type="password" autocomplete="off" required>
  <button type="submit">Use key</button>
  <p id="key-error" role="alert"></p>
</form>
<main id="models" aria-label="Models"></main>
<section id="batch" aria-labelledby="batch-title">
  <h2 id="batch-title">Batch jobs</h2>
  <div id="batch-jobs"></div>
</section>
<dialog id="confirm" aria-labelledby="confirm-title">
  <form method="dialog">
    <h2 id="confirm-title">Change weights?</h2>
    <p id="confirm-text"></p>
    <div class="buttons">
      <button value="cancel" formnovalidate>Cancel</button>
      <button value="ok" id="confirm-ok">Change weights</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;

export const CONSOLE_CSS = `:root {
  --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --focus: #0969da;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
}
body { margin: 0 auto; max-width: 1280px; padding: 0 1.25rem 2rem; }
header { display: flex; align-items: baseline; gap: 1.5rem; flex-wrap: wrap; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.4rem; margin: 1rem 0 .75rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
#status { color: var(--muted); margin: 0; }
.pause { margin-left: auto; }
section.model { border: 1px solid var(--line); border-radius: 8px; padding: .25rem 1rem 1rem; margin-top: 1.25rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; background: var(--panel); }
td.num, th.num { text-align: right; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1rem; }
figure { margin: 0; }
caption { text-align: left; }
figcaption { font-weight: 600; margin: .5rem 0 .25rem; }
svg text { font-size: 11px; fill: var(--muted); }
svg .axis { stroke: var(--line); }
.share { display: grid; gap: 2px; min-width: 9rem; }
.bar { height: .55rem; border-radius: 2px; background: var(--focus); }
.bar.configured { background: var(--muted); }
.state-InService { color: var(--ok); }
.state-Failed, .guard-out { color: var(--bad); font-weight: 600; }
.state-Loading, .state-Creating { color: var(--warn); }
.weight { width: 5rem; }
button { font: inherit; padding: .25rem .7rem; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); cursor: pointer; }
button:focus-visible, input:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
progress { width: 12rem; height: 1rem; }
.legend { display: flex; gap: 1rem; flex-wrap: wrap; font-size: .85rem; color: var(--muted); }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem; vertical-align: -1px; }
dialog { border: 1px solid var(--line); border-radius: 8px; max-width: 28rem; }
dialog .buttons { display: flex; gap: .5rem; justify-content: flex-end; }
#key-form[hidden] { display: none; }
#key-form { margin: 1rem 0; display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
#key-error { color: var(--bad); width: 100%; margin: 0; }
.note { color: var(--muted); font-size: .85rem; }
`;

export const CONSOLE_JS = `const COLORS = ['#0969da', '#bf3989', '#1a7f37', '#9a6700', '#8250df', '#cf222e', '#57606a'];
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};
const svg = (tag, attrs = {}, ...children) => {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};
const pct = (x) => (x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0) + '%';
const ms = (x) => (x === null ? '–' : x < 10 ? x.toFixed(2) + ' ms' : Math.round(x) + ' ms');
const rate = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(0)) + ' req/s';

let key = sessionStorage.getItem('switchyard-admin-key') ?? '';
let timer;

async function api(path, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (key) headers.Authorization = 'Bearer ' + key;
  return fetch(path, { ...init, headers });
}

/** A line chart of one figure per variant over the window, with axes and units. */
function lineChart(title, unit, series, pick, windowSeconds) {
  const W = 440, H = 180, L = 46, R = 10, T = 22, B = 30;
  const values = series.flatMap((s) => s.points.map(pick)).filter((v) => v !== null);
  const max = Math.max(1, ...values);
  const top = niceCeil(max);
  const x = (ago) => L + (W - L - R) * (1 - ago / windowSeconds);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img', 'aria-label': title + ' (' + unit + ') per variant over the last ' + Math.round(windowSeconds / 60) + ' minutes' });
  for (const f of [0, 0.5, 1]) {
    chart.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(top * f), y2: y(top * f) }));
    chart.append(svg('text', { x: L - 4, y: y(top * f) + 4, 'text-anchor': 'end' }, fmt(top * f)));
  }
  for (let m = 0; m <= windowSeconds / 60; m++) {
    chart.append(svg('text', { x: x(m * 60), y: H - 12, 'text-anchor': 'middle' }, m === 0 ? 'now' : '-' + m + ' min'));
  }
  chart.append(svg('text', { x: L - 4, y: 11, 'text-anchor': 'end' }, unit));
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => pick(p) !== null).map((p) => x(p.secondsAgo).toFixed(1) + ',' + y(pick(p)).toFixed(1));
    const color = COLORS[i % COLORS.length];
    if (pts.length > 1) chart.append(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }));
    // The newest point as a dot: visible even before there is a line.
    const last = pts.at(-1);
    if (last !== undefined) chart.append(svg('circle', { cx: last.split(',')[0], cy: last.split(',')[1], r: 3, fill: color }));
  });
  return el('figure', {}, el('figcaption', {}, title), chart, legend(series.map((s) => s.name)));
}
const niceCeil = (v) => { const p = Math.pow(10, Math.floor(Math.log10(v))); for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p; return 10 * p; };
const fmt = (v) => (v >= 100 ? Math.round(v) : Number(v.toPrecision(2))).toString();
const legend = (names) => el('p', { class: 'legend' }, names.map((n, i) => el('span', {}, el('span', { class: 'swatch', style: 'background:' + COLORS[i % COLORS.length] }), n)));

function barChart(title, unit, bars) {
  const W = 440, H = 160, L = 46, B = 30, T = 22;
  const max = niceCeil(Math.max(1, ...bars.map((b) => b.value)));
  const w = (W - L - 10) / bars.length;
  const chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img', 'aria-label': title + ': ' + bars.map((b) => b.label + ' ' + b.value).join(', ') });
  chart.append(svg('text', { x: 2, y: 11 }, unit));
  chart.append(svg('text', { x: L - 4, y: T + 4, 'text-anchor': 'end' }, fmt(max)));
  chart.append(svg('text', { x: L - 4, y: H - B + 4, 'text-anchor': 'end' }, '0'));
  bars.forEach((b, i) => {
    const h = (H - T - B) * (b.value / max);
    chart.append(svg('rect', { x: L + i * w + 2, y: H - B - h, width: w - 4, height: h, fill: COLORS[0] }, svg('title', {}, b.label + ': ' + b.value)));
    chart.append(svg('text', { x: L + i * w + w / 2, y: H - 12, 'text-anchor': 'middle' }, b.label));
  });
  return el('figure', {}, el('figcaption', {}, title), chart);
}

function confirmWeights(model, variant, weight) {
  const dialog = $('confirm');
  const next = model.variants.map((v) => ({ name: v.name, weight: v.name === variant ? weight : v.weight }));
  const total = next.reduce((s, v) => s + v.weight, 0);
  $('confirm-text').textContent = 'Set the weight of ' + model.name + '/' + variant + ' to ' + weight + '. Configured shares become: ' +
    next.map((v) => v.name + ' ' + pct(total > 0 ? v.weight / total : 0)).join(', ') + '.';
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

async function changeWeight(model, variant, input) {
  const weight = Number(input.value);
  if (!Number.isFinite(weight) || weight < 0) { input.setCustomValidity('a number ≥ 0'); input.reportValidity(); return; }
  if (!(await confirmWeights(model, variant, weight))) return;
  const response = await api('/v1/models/' + encodeURIComponent(model.name) + '/weights', {
    method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ weights: { [variant]: weight } }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    $('status').textContent = 'Weight not changed: ' + (body.error?.message ?? response.status);
  }
  await refresh();
}

function modelSection(model, windowSeconds) {
  const rows = model.variants.map((v, i) => el('tr', { 'data-variant': v.name },
    el('th', { scope: 'row' }, el('span', { class: 'swatch', style: 'background:' + COLORS[i % COLORS.length] }), v.name),
    el('td', { class: 'state-' + v.state }, v.state, v.reason ? ' — ' + v.reason : ''),
    el('td', {}, el('div', { class: 'share', role: 'img', 'aria-label': 'live ' + pct(v.liveShare) + ' of traffic against configured ' + pct(v.configuredShare) },
      el('div', { class: 'bar', style: 'width:' + (v.liveShare * 100).toFixed(1) + '%' }),
      el('div', { class: 'bar configured', style: 'width:' + (v.configuredShare * 100).toFixed(1) + '%' }))),
    el('td', { class: 'num live-share' }, pct(v.liveShare)),
    el('td', { class: 'num configured-share' }, pct(v.configuredShare)),
    el('td', { class: 'num' }, rate(v.recent.rps)),
    el('td', { class: 'num' }, pct(v.recent.errorRate)),
    el('td', { class: 'num' }, ms(v.recent.p50)),
    el('td', { class: 'num' }, ms(v.recent.p95)),
    el('td', { class: 'guard' + (v.guard && v.guard.state !== 'in rotation' ? ' guard-out' : '') }, v.guard
      ? v.guard.state + (v.guard.until ? ' until ' + new Date(v.guard.until).toLocaleTimeString() : '') + (v.guard.trips > 0 ? ' (' + v.guard.trips + ' trips)' : '')
      : '–'),
    el('td', {}, el('form', { class: 'weight-form', onsubmit: (e) => { e.preventDefault(); void changeWeight(model, v.name, e.target.elements.weight); } },
      el('label', { for: 'w-' + model.name + '-' + v.name, class: 'note' }, 'weight '),
      el('input', { id: 'w-' + model.name + '-' + v.name, name: 'weight', class: 'weight', type: 'number', min: 0, step: 'any', value: v.weight, 'aria-label': 'Weight of ' + v.name }),
      ' ', el('button', { type: 'submit' }, 'Set'))),
  ));
  const head = el('tr', {}, ['Variant', 'State', 'Traffic share', 'Live', 'Configured', 'Requests', 'Errors', 'p50', 'p95', 'Canary guard', 'Weight']
    .map((h, i) => el('th', { scope: 'col', class: i >= 3 && i <= 8 ? 'num' : '' }, h)));
  const series = model.variants.map((v) => ({ name: v.name, points: v.series }));
  const parts = [
    el('h2', {}, model.name),
    el('table', { 'aria-label': 'Variants of ' + model.name }, el('caption', { class: 'note' },
      'Live share, rates and latency over the last ' + model.recentSeconds + ' s; errors are answers 424 or 5xx.'), el('thead', {}, head), el('tbody', {}, rows)),
    el('div', { class: 'charts' },
      lineChart('Requests per second', 'req/s', series, (p) => p.rps, windowSeconds),
      lineChart('p95 latency', 'ms', series, (p) => p.p95, windowSeconds),
      lineChart('Error rate', '%', series, (p) => (p.requests > 0 ? p.errorRate * 100 : null), windowSeconds),
      barChart('Batch sizes (last ' + Math.round(windowSeconds / 60) + ' min)', 'requests', model.batchSizes.map((b) => ({ label: b.size, value: b.requests })))),
  ];
  if (model.shadow) {
    const s = model.shadow;
    parts.push(el('p', { class: 'shadow' }, el('strong', {}, 'Shadow '), s.variant + ' (' + pct(s.sampleRate) + ' of traffic copied): ' + s.requests + ' requests, ' +
      (s.exactMatchRate === null ? 'no answers compared yet' : 'exact agreement ' + pct(s.exactMatchRate) + ', largest difference ' + s.maxAbsDiff) +
      ', ' + s.errors + ' errors, p50 ' + ms(s.p50LatencyMs)));
  }
  if (model.queues.length > 0) {
    parts.push(el('h3', {}, 'Queues'), el('table', { 'aria-label': 'Queue depth of ' + model.name },
      el('thead', {}, el('tr', {}, ['Variant', 'Waiting', 'Batch-job chunks', 'Active'].map((h, i) => el('th', { scope: 'col', class: i ? 'num' : '' }, h)))),
      el('tbody', {}, model.queues.map((q) => el('tr', {}, el('th', { scope: 'row' }, q.variant),
        ...(q.error ? [el('td', { colspan: 3 }, q.error)] : [q.waiting, q.prioritized, q.active].map((n) => el('td', { class: 'num' }, n))))))));
  }
  return el('section', { class: 'model', 'data-model': model.name, 'aria-label': 'Model ' + model.name }, parts);
}

/**
 * A link to a gateway route. With a key, a browser cannot send it on a plain link:
 * the file is fetched with the key and saved from memory instead.
 */
function fileLink(href, text, filename) {
  return el('a', { href, onclick: async (e) => {
    if (!key) return;
    e.preventDefault();
    const response = await api(href);
    if (!response.ok) { $('status').textContent = text + ': the gateway answered ' + response.status; return; }
    const url = URL.createObjectURL(await response.blob());
    const save = el('a', { href: url, download: filename });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } }, text);
}

function batchJobs(jobs) {
  if (jobs === null) return el('p', { class: 'note' }, 'Batch jobs are off on this gateway.');
  if (jobs.length === 0) return el('p', { class: 'note' }, 'No batch jobs yet.');
  return el('table', { 'aria-label': 'Batch jobs' },
    el('thead', {}, el('tr', {}, ['Job', 'Model', 'State', 'Progress', 'Records', 'Failed', 'Throughput', 'Results'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, jobs.map((j) => {
      const total = j.records.total;
      const finished = j.records.done + j.records.failed;
      const done = j.state === 'completed' || j.state === 'failed';
      return el('tr', { 'data-job': j.id },
        el('th', { scope: 'row' }, fileLink(j.links.self, j.id.slice(0, 8), j.id + '.json')),
        el('td', {}, j.model),
        el('td', { class: j.state === 'failed' ? 'state-Failed' : '' }, j.state),
        el('td', {}, el('progress', { max: total ?? 1, value: total === null ? (done ? 1 : undefined) : finished, 'aria-label': 'Progress of job ' + j.id.slice(0, 8) }),
          ' ', total === null ? (done ? '' : 'reading input…') : pct(total > 0 ? finished / total : 1)),
        el('td', { class: 'num' }, finished + (total === null ? '' : ' / ' + total)),
        el('td', { class: 'num' + (j.records.failed > 0 ? ' state-Failed' : '') }, j.records.failed),
        el('td', { class: 'num' }, j.recordsPerSecond + ' rec/s'),
        el('td', {}, done ? [fileLink(j.links.output, 'output', j.id + '-output'), ' · ', fileLink(j.links.errors, 'errors', j.id + '-errors')] : '–'));
    })));
}

/** Whether the user is typing a weight or confirming one: the page then waits. */
const editing = () => $('confirm').open || (document.activeElement?.tagName === 'INPUT' && document.activeElement.closest('#models') !== null);

async function refresh() {
  clearTimeout(timer);
  if (editing()) {
    timer = setTimeout(refresh, 500);
    return;
  }
  try {
    const response = await api('/v1/admin/console');
    if (response.status === 401 || response.status === 403) {
      $('key-form').hidden = false;
      $('status').textContent = response.status === 401 ? 'This gateway needs an admin key.' : 'That key is not an admin key.';
      return;
    }
    if (!response.ok) throw new Error('the gateway answered ' + response.status);
    const state = await response.json();
    $('key-form').hidden = true;
    $('models').replaceChildren(...state.models.map((m) => modelSection(m, state.windowSeconds)));
    $('batch-jobs').replaceChildren(batchJobs(state.batchJobs));
    $('status').textContent = 'Updated ' + new Date(state.at).toLocaleTimeString();
  } catch (error) {
    $('status').textContent = 'Cannot reach the gateway: ' + error.message;
  }
  if (!$('pause').checked) timer = setTimeout(refresh, 2000);
}

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  key = $('key').value;
  sessionStorage.setItem('switchyard-admin-key', key);
  void refresh();
});
$('pause').addEventListener('change', () => { if (!$('pause').checked) void refresh(); else clearTimeout(timer); });
void refresh();
`;

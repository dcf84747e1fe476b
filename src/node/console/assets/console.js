// vigia's web console: plain browser JavaScript, no framework and no build step
// (docs/console.md says why). Everything comes from the node it is served by.
'use strict';

const $ = (s, root = document) => root.querySelector(s);
const enc = encodeURIComponent;
// Track boxes are drawn in this colour (the browser tests look for it).
const BOX = '#ff00ff';
const RULE = '#f0a202';
const SELECTED = '#3b9eff';

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts });
  if (r.status === 401) {
    location.href = '/console/login';
    throw new Error('signed out');
  }
  return r;
}
const json = async path => (await api(path)).json();

let cameras = [];
let timers = [];

// ---- pages ---------------------------------------------------------------------------

function route() {
  timers.forEach(clearInterval);
  timers = [];
  const [name, arg] = (location.hash.slice(1) || 'cameras').split('/');
  document.querySelectorAll('.page').forEach(p => p.classList.remove('shown'));
  document.querySelectorAll('nav a').forEach(a =>
    a.classList.toggle('active', a.dataset.page === (name === 'camera' ? 'cameras' : name)));
  const pages = { cameras: showCameras, camera: showCamera, events: showEvents, health: showHealth };
  (pages[name] || showCameras)(arg && decodeURIComponent(arg));
}

async function loadCameras() {
  cameras = await json('/api/v1/cameras');
  const sel = $('#f-camera');
  for (const c of cameras) {
    if (![...sel.options].some(o => o.value === c.id)) sel.append(new Option(c.id, c.id));
  }
  return cameras;
}

function cameraInfo(c) {
  const parts = [];
  if (c.reason) parts.push(c.reason);
  parts.push(`decoder ${c.decoder || '—'}`);
  parts.push(`decoded ${c.decoded_fps.toFixed(1)} fps`);
  parts.push(`analysed ${c.analysed_fps.toFixed(1)} fps`);
  parts.push(`dropped ${c.frames_superseded}`);
  return parts.join(' · ');
}

function showCameras() {
  $('#page-cameras').classList.add('shown');
  const grid = $('#grid');
  const refresh = async () => {
    await loadCameras();
    for (const c of cameras) {
      let card = grid.querySelector(`[data-camera="${CSS.escape(c.id)}"]`);
      if (!card) {
        card = document.createElement('div');
        card.className = 'card cam';
        card.dataset.camera = c.id;
        card.innerHTML = '<canvas width="640" height="360"></canvas><h3></h3><div class="info muted"></div>';
        card.onclick = () => { location.hash = 'camera/' + enc(c.id); };
        grid.append(card);
      }
      card.dataset.state = c.state;
      $('h3', card).innerHTML = `${esc(c.name || c.id)} <span class="state ${esc(c.state)}">${esc(c.state)}</span>`;
      $('.info', card).textContent = cameraInfo(c);
    }
  };
  const frames = () => grid.querySelectorAll('.cam').forEach(card =>
    preview(card.dataset.camera, $('canvas', card)));
  refresh().then(frames);
  timers.push(setInterval(refresh, 2000), setInterval(frames, 1000));
}

// The latest analysed frame with its tracks: one request, picture and boxes together.
const busy = new WeakSet();
async function preview(id, canvas, overlay) {
  if (busy.has(canvas)) return;
  busy.add(canvas);
  try {
    const after = canvas.dataset.seq ? `?after=${canvas.dataset.seq}` : '';
    const r = await api(`/console/api/preview/${enc(id)}/picture${after}`);
    if (r.status !== 200) {
      if (overlay && !canvas.bitmap) overlay(canvas);
      return;
    }
    const boxes = JSON.parse(r.headers.get('x-vigia-boxes') || '[]');
    const bitmap = await createImageBitmap(await r.blob());
    canvas.dataset.seq = r.headers.get('x-vigia-seq');
    canvas.dataset.boxes = boxes.length;
    canvas.bitmap = bitmap;
    canvas.boxes = boxes;
    paint(canvas, overlay);
  } catch (e) {
    // The next tick tries again.
  } finally {
    busy.delete(canvas);
  }
}

function paint(canvas, overlay) {
  const g = canvas.getContext('2d');
  if (canvas.bitmap) {
    canvas.width = canvas.bitmap.width;
    canvas.height = canvas.bitmap.height;
    g.drawImage(canvas.bitmap, 0, 0);
  }
  const [w, h] = [canvas.width, canvas.height];
  // Sized for the picture: readable in the grid (shown smaller) and in the live view.
  const px = Math.max(13, Math.round(w / 36));
  g.lineWidth = Math.max(2, w / 200);
  g.font = `bold ${px}px sans-serif`;
  for (const b of canvas.boxes || []) {
    const [x, y, bw, bh] = [b.bbox[0] * w, b.bbox[1] * h, b.bbox[2] * w, b.bbox[3] * h];
    g.strokeStyle = BOX;
    g.strokeRect(x, y, bw, bh);
    const label = `#${b.track} ${b.label}`;
    const top = y - px - 4 >= 0 ? y - px - 4 : y;
    g.fillStyle = BOX;
    g.fillRect(x, top, g.measureText(label).width + 8, px + 4);
    g.fillStyle = '#000';
    g.fillText(label, x + 4, top + px);
  }
  if (overlay) overlay(canvas);
}

// ---- one camera: live view and rules -------------------------------------------------

let rules = [];
let selected = null;
let drag = null;

function showCamera(id) {
  $('#page-camera').classList.add('shown');
  $('#cam-title').textContent = id;
  const canvas = $('#live');
  canvas.dataset.seq = '';
  canvas.bitmap = null;
  canvas.boxes = [];
  selected = null;
  $('#toml').textContent = '';
  $('#verdict').textContent = '';
  const overlay = c => drawRules(c.getContext('2d'), c.width, c.height);
  json(`/console/api/rules/${enc(id)}`).then(r => {
    rules = r.rules || [];
    listRules(id);
    paint(canvas, overlay);
  });
  const info = async () => {
    await loadCameras();
    const c = cameras.find(c => c.id === id);
    if (c) $('#cam-info').innerHTML = `<span class="state ${esc(c.state)}">${esc(c.state)}</span> ${esc(cameraInfo(c))}`;
  };
  info();
  preview(id, canvas, overlay);
  timers.push(setInterval(() => { if (!drag) preview(id, canvas, overlay); }, 250), setInterval(info, 2000));
  canvas.onpointerdown = e => startDrag(e, canvas);
  canvas.onpointermove = e => moveDrag(e, canvas, overlay);
  canvas.onpointerup = canvas.onpointercancel = () => endDrag(id);
}

function listRules(camera) {
  const ul = $('#rules');
  ul.innerHTML = '';
  if (!rules.length) ul.innerHTML = '<li class="muted">This camera has no rules.</li>';
  for (const r of rules) {
    const li = document.createElement('li');
    li.dataset.rule = r.name;
    li.innerHTML = `<strong>${esc(r.name)}</strong> <span class="muted">${esc(r.kind)} · ${esc(r.severity)}${r.enabled ? '' : ' · disabled'}</span>`;
    li.onclick = () => {
      selected = r;
      ul.querySelectorAll('li').forEach(x => x.classList.toggle('selected', x === li));
      paint($('#live'), c => drawRules(c.getContext('2d'), c.width, c.height));
      check(camera);
    };
    ul.append(li);
  }
}

function points(r) {
  return r.zone || r.line || [];
}

function drawRules(g, w, h) {
  for (const r of rules) {
    const pts = points(r).map(([x, y]) => [x * w, y * h]);
    if (!pts.length) continue;
    const color = r === selected ? SELECTED : RULE;
    g.strokeStyle = color;
    g.fillStyle = color;
    g.lineWidth = r === selected ? 3 : 2;
    g.beginPath();
    pts.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
    if (r.zone) {
      g.closePath();
      g.globalAlpha = 0.15;
      g.fill();
      g.globalAlpha = 1;
    }
    g.stroke();
    g.font = 'bold 13px sans-serif';
    g.fillText(r.name, pts[0][0] + 4, pts[0][1] + 14);
    if (r.line) sides(g, pts);
    if (r.direction) arrow(g, centroid(pts), r.direction, w, h);
    if (r === selected) pts.forEach(([x, y]) => g.fillRect(x - 5, y - 5, 10, 10));
  }
}

// Side A is on the left walking from the line's first point to its second (docs/incidents.md).
function sides(g, [[x1, y1], [x2, y2]]) {
  const [mx, my] = [(x1 + x2) / 2, (y1 + y2) / 2];
  const len = Math.hypot(x2 - x1, y2 - y1) || 1;
  const [nx, ny] = [(y2 - y1) / len, -(x2 - x1) / len]; // points right of the walk
  g.font = 'bold 16px sans-serif';
  g.fillText('A', mx - nx * 22 - 5, my - ny * 22 + 6);
  g.fillText('B', mx + nx * 22 - 5, my + ny * 22 + 6);
}

function centroid(pts) {
  const n = pts.length;
  return [pts.reduce((s, p) => s + p[0], 0) / n, pts.reduce((s, p) => s + p[1], 0) / n];
}

function arrow(g, [x, y], [dx, dy], w, h) {
  const len = Math.hypot(dx * w, dy * h) || 1;
  const [ux, uy] = [dx * w / len, dy * h / len];
  const [ex, ey] = [x + ux * 50, y + uy * 50];
  g.beginPath();
  g.moveTo(x, y);
  g.lineTo(ex, ey);
  g.lineTo(ex - ux * 10 - uy * 6, ey - uy * 10 + ux * 6);
  g.moveTo(ex, ey);
  g.lineTo(ex - ux * 10 + uy * 6, ey - uy * 10 - ux * 6);
  g.stroke();
}

function canvasPoint(e, canvas) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
}

function startDrag(e, canvas) {
  if (!selected) return;
  const [px, py] = canvasPoint(e, canvas);
  const r = canvas.getBoundingClientRect();
  let best = null;
  points(selected).forEach(([x, y], i) => {
    const d = Math.hypot((x - px) * r.width, (y - py) * r.height);
    if (d < 14 && (!best || d < best.d)) best = { i, d };
  });
  if (best) {
    drag = best.i;
    canvas.setPointerCapture(e.pointerId);
  }
}

function moveDrag(e, canvas, overlay) {
  if (drag === null) return;
  const [x, y] = canvasPoint(e, canvas).map(v => Math.min(1, Math.max(0, v)));
  points(selected)[drag] = [Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000];
  paint(canvas, overlay);
}

function endDrag(camera) {
  if (drag === null) return;
  drag = null;
  check(camera);
}

function ruleEdit() {
  const edit = { rule: selected.name };
  edit[selected.zone ? 'zone' : 'line'] = points(selected);
  return edit;
}

// Console writes carry `x-vigia-console`: the session cookie alone does not allow them.
async function post(path, body) {
  const r = await api(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-vigia-console': '1' },
    body: JSON.stringify(body),
  });
  return r.json();
}

// The edit as TOML, checked by the node like `vigia check-config` checks the file.
async function check(camera) {
  if (!selected) return;
  const out = await post(`/console/api/rules/${enc(camera)}/check`, ruleEdit());
  const verdict = $('#verdict');
  if (out.error) {
    verdict.innerHTML = `<p class="bad">${esc(out.error)}</p>`;
    return;
  }
  verdict.innerHTML = out.ok
    ? '<p class="ok" data-check="ok">check-config: ok <button id="save">Save to the config file</button></p>'
    : `<p class="bad" data-check="failed">check-config: ${out.errors.map(esc).join('<br>')}</p>`;
  $('#toml').textContent = out.toml;
  if (out.ok) $('#save').onclick = () => save(camera);
}

// Written only if the whole file still passes; the old file is kept; the node reloads it.
async function save(camera) {
  const out = await post(`/console/api/rules/${enc(camera)}/save`, ruleEdit());
  const verdict = $('#verdict');
  if (out.error || !out.ok) {
    verdict.innerHTML = `<p class="bad">not saved: ${esc(out.error || out.errors.join('; '))}</p>`;
    return;
  }
  const reload = out.reload || {};
  const what = reload.applied
    ? `reloaded${reload.changed.length ? ': ' + reload.changed.map(esc).join(', ') + ' restarted' : ''}`
    : `not reloaded: ${esc((reload.errors || ['the node is stopping']).join('; '))}`;
  verdict.innerHTML = `<p class="ok" data-saved="${reload.applied ? 'reloaded' : 'saved'}">saved (the old file is ${esc(out.backup)}); ${what}</p>`;
}

// ---- events --------------------------------------------------------------------------

let feed = null;

function openFeed() {
  if (feed) return;
  feed = new EventSource('/console/api/events');
  feed.addEventListener('vigia', m => addEvent(JSON.parse(m.data).event));
  feed.addEventListener('lagged', m => { $('#feed-state').textContent = `missed ${m.data} events (too slow)`; });
  feed.onopen = () => { $('#feed-state').textContent = 'live'; };
  feed.onerror = () => { $('#feed-state').textContent = 'reconnecting…'; };
}

function showEvents() {
  $('#page-events').classList.add('shown');
  loadCameras();
  openFeed();
}

function filterEvents() {
  const [cam, type] = [$('#f-camera').value, $('#f-type').value];
  document.querySelectorAll('#events > li').forEach(li => {
    li.hidden = (cam && li.dataset.camera !== cam) || (type && li.dataset.type !== type);
  });
}

// Pictures are served by this node's API: keep the path so the session cookie applies.
function picture(url, alt) {
  if (!url) return '';
  try {
    return `<img src="${esc(new URL(url, location.href).pathname)}" alt="${esc(alt)}" loading="lazy">`;
  } catch (e) {
    return '';
  }
}

function likelihoodColor(p) {
  return `hsl(${Math.round(120 * p)}, 70%, 55%)`;
}

function describe(ev) {
  const at = new Date(ev.utc_time).toLocaleTimeString();
  const head = `<div class="muted">${esc(at)} · ${esc(ev.camera || 'node')} · ${esc(ev.type)} ${esc(ev.lifecycle || '')}</div>`;
  if (ev.type === 'lpr') {
    const p = ev.plate;
    const chars = [...p.number].map((ch, i) =>
      `<span style="background:${likelihoodColor(p.char_likelihoods[i] ?? 0)}" title="${Math.round(100 * (p.char_likelihoods[i] ?? 0))}%">${esc(ch)}</span>`).join('');
    const cands = (p.candidates || []).map(c => `${esc(c.number)} (${Math.round(100 * c.likelihood)}%, ${c.reads} reads)`).join(', ');
    const hit = ev.hotlist && ev.hotlist.matched
      ? `<div><span class="hitbadge">HOTLIST</span> ${esc(ev.hotlist.list || '')} ${esc(ev.hotlist.category || '')} ${esc(ev.hotlist.notes || '')}</div>` : '';
    return `<div>${head}<div class="plate">${esc(p.number)}</div><div class="chars">${chars}</div>
      <div class="muted">${Math.round(100 * p.likelihood)}% · pass ${ev.pass_id} · ${ev.reads} reads${cands ? ' · also ' + cands : ''}</div>${hit}</div>
      ${picture(ev.media && ev.media.snapshot_url, 'scene')}${picture(ev.media && ev.media.plate_crop_url, 'plate')}`;
  }
  if (ev.type === 'incident') {
    return `<div>${head}<strong>${esc(ev.rule)}</strong> ${esc(ev.kind)} · ${esc(ev.severity)} · ${ev.objects.length} objects
      ${ev.alarm ? ' · alarm ' + esc(ev.alarm.name) : ''}</div>${picture(ev.media && ev.media.snapshot_url, 'snapshot')}`;
  }
  if (ev.type === 'alert') {
    return `<div>${head}<strong>${esc(ev.summary)}</strong> · ${esc(ev.severity)}</div>${picture(ev.media && ev.media.snapshot_url, 'snapshot')}`;
  }
  if (ev.type === 'object') {
    return `<div>${head}${esc(ev.label || ev.class || '')} #${esc(ev.track_id)}</div>`;
  }
  return `<div>${head}${esc(ev.state || '')} ${esc(ev.reason || '')}</div>`;
}

function addEvent(ev) {
  const li = document.createElement('li');
  const hit = (ev.type === 'lpr' && ev.hotlist && ev.hotlist.matched) || ev.type === 'alert';
  li.className = `event ${ev.type}${hit ? ' hit' : ''}`;
  li.dataset.id = ev.id;
  li.dataset.type = ev.type;
  li.dataset.camera = ev.camera || '';
  li.innerHTML = describe(ev);
  const list = $('#events');
  list.prepend(li);
  while (list.children.length > 500) list.lastChild.remove();
  filterEvents();
}

// ---- health --------------------------------------------------------------------------

const CHARTS = [
  ['Outbox depth (events)', s => ({ depth: s.outbox_pending })],
  ['Oldest undelivered event (s)', s => ({ age: s.outbox_oldest_secs })],
  ['Broker link (1 = up)', s => ({ link: s.mqtt_connected ? 1 : 0 })],
  ['Model run time (ms)', s => s.inference_ms],
  ['CPU (cores)', s => ({ cpu: s.cpu_cores })],
  ['Memory (MB)', s => ({ rss: s.rss_bytes / 1e6 })],
];
const COLORS = ['#3b9eff', '#2fbf71', '#f0a202', '#e5484d', '#b98cff'];

function chart(title, samples, pick) {
  const series = {};
  samples.forEach((s, i) => {
    for (const [k, v] of Object.entries(pick(s) || {})) {
      if (v !== null && v !== undefined) (series[k] = series[k] || []).push([i, v]);
    }
  });
  const all = Object.values(series).flat().map(p => p[1]);
  // At least 1 on the scale: a flat zero stays at the bottom.
  const max = Math.max(1, ...all);
  const n = Math.max(1, samples.length - 1);
  const lines = Object.entries(series).map(([k, pts], j) => {
    const d = pts.map(([i, v]) => `${(i / n * 300).toFixed(1)},${(100 - v / max * 95).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${COLORS[j % COLORS.length]}" stroke-width="1.5" points="${d}"><title>${esc(k)}</title></polyline>`;
  }).join('');
  const last = Object.entries(series).map(([k, pts], j) =>
    `<span style="color:${COLORS[j % COLORS.length]}">${esc(k)} ${(+pts[pts.length - 1][1]).toFixed(2)}</span>`).join(' · ');
  return `<div class="card" data-chart="${esc(title)}"><h3>${esc(title)}</h3>
    <svg class="chart" viewBox="0 0 300 100" preserveAspectRatio="none">${lines}</svg>
    <div class="muted">max ${max.toFixed(2)} · now ${last || '—'}</div></div>`;
}

function showHealth() {
  $('#page-health').classList.add('shown');
  const draw = async () => {
    const h = await json('/console/api/health');
    $('#every').textContent = h.every_secs;
    $('#charts').innerHTML = CHARTS.map(([t, f]) => chart(t, h.samples, f)).join('');
  };
  draw();
  timers.push(setInterval(draw, 10000));
}

// ---- start ---------------------------------------------------------------------------

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', async () => {
  $('#f-camera').onchange = $('#f-type').onchange = filterEvents;
  const s = await json('/api/v1/status');
  $('#node').textContent = `${s.site} / ${s.node} · ${s.version}`;
  openFeed();
  route();
});

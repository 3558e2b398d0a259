// Strata ops dashboard: polls /api/status once a second and renders it. Plain DOM, no framework.
'use strict';

const COLORS = ['#2f6fdb', '#1f8a4c', '#b7791f', '#8e44ad', '#c0392b', '#16a085', '#d35400', '#34495e'];
const history = [];   // tokens/s samples, last 120

const $ = (id) => document.getElementById(id);

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

function ms(v) {
  return v === null || v === undefined ? '–' : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ms';
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function renderStages(s) {
  const layers = $('layers');
  layers.replaceChildren();
  const total = s.stages.reduce((a, st) => Math.max(a, st.end_layer), 0) || 1;
  const body = document.querySelector('#stages tbody');
  body.replaceChildren();
  for (const st of s.stages) {
    const bar = document.createElement('div');
    bar.style.flex = String(st.end_layer - st.first_layer);
    bar.style.background = COLORS[st.index % COLORS.length];
    bar.textContent = `${st.index}: ${st.first_layer}–${st.end_layer - 1}`;
    bar.title = `stage ${st.index} on ${st.worker}: layers ${st.first_layer}–${st.end_layer - 1} of ${total}`;
    layers.appendChild(bar);

    const tr = document.createElement('tr');
    tr.className = 'stage';
    cell(tr, String(st.index));
    cell(tr, `${st.first_layer}–${st.end_layer - 1}`);
    cell(tr, st.worker);
    cell(tr, st.backend || '–');
    cell(tr, st.ready ? 'ready' : 'not ready').style.color = st.ready ? 'var(--ok)' : 'var(--bad)';
    cell(tr, bytes(st.weight_bytes));
    cell(tr, bytes(st.kv_bytes));
    cell(tr, st.memory_usable_bytes ? `${bytes(st.memory_used_bytes)} / ${bytes(st.memory_usable_bytes)}` : bytes(st.memory_used_bytes))
      .title = 'weights + KV cache / the worker\'s memory budget';
    const rss = cell(tr, bytes(st.resident_bytes));
    if (st.model_resident_bytes) rss.title = `of which the model file: ${bytes(st.model_resident_bytes)}`;
    cell(tr, st.bandwidth_bytes_per_second ? `${(st.bandwidth_bytes_per_second / 1e9).toFixed(1)} GB/s` : '–');
    cell(tr, ms(st.layer_ms));
    cell(tr, ms(st.step_compute_ms));
    cell(tr, ms(st.step_queued_ms));
    cell(tr, String(st.steps));
    body.appendChild(tr);
  }
}

function renderChart() {
  const c = $('tps-chart');
  const g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  if (history.length < 2) return;
  const max = Math.max(1, ...history);
  g.strokeStyle = '#2f6fdb';
  g.lineWidth = 1.5;
  g.beginPath();
  history.forEach((v, i) => {
    const x = (i / (history.length - 1)) * (c.width - 2) + 1;
    const y = c.height - 2 - (v / max) * (c.height - 4);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

function render(s) {
  $('model').textContent = s.model;
  const ready = $('ready');
  ready.textContent = s.ready ? 'ready' : 'not ready';
  ready.className = 'badge ' + (s.ready ? 'ok' : 'bad');
  $('updated').textContent = `up ${s.uptime_seconds} s`;
  const sch = s.scheduler;
  $('tps').textContent = sch.tokens_per_second.toFixed(1);
  $('running').textContent = String(sch.running);
  $('decoding').textContent = `${sch.decoding} decoding`;
  $('queued').textContent = String(sch.queued);
  $('queue-bound').textContent = `bound ${sch.max_queued}`;
  $('inflight').textContent = String(sch.micro_batches_in_flight);
  $('depth').textContent = `of ${sch.depth} (one per stage)`;
  $('itl').textContent = `${ms(s.latency.itl_p50_ms)} / ${ms(s.latency.itl_p99_ms)}`;
  $('ttft').textContent = `first token p50 ${ms(s.latency.ttft_p50_ms)}`;
  $('kv').textContent = `${sch.kv.reserved_positions} / ${sch.kv.total_positions}`;
  $('kv-bar').style.width = `${Math.min(100, 100 * sch.kv.reserved_positions / Math.max(1, sch.kv.total_positions))}%`;
  renderStages(s);
  const totals = $('totals');
  totals.replaceChildren();
  for (const [k, v] of Object.entries(s.totals)) {
    const d = document.createElement('div');
    const dt = document.createElement('dt');
    dt.textContent = k.replaceAll('_', ' ');
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    d.append(dt, dd);
    totals.appendChild(d);
  }
  history.push(sch.tokens_per_second);
  if (history.length > 120) history.shift();
  renderChart();
}

async function poll() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    if (!r.ok) throw new Error(`/api/status answered ${r.status}`);
    render(await r.json());
    $('error').hidden = true;
    document.body.dataset.loaded = 'true';
  } catch (e) {
    $('error').textContent = `Cannot read the status: ${e.message}`;
    $('error').hidden = false;
  }
}

poll();
setInterval(poll, 1000);

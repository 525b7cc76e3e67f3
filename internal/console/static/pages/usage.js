import { $, api, el, clear, failed, unflash, busy, fmtNumber } from '../console.js';
import { barChart } from '../chart.js';

const DAY = 86400000;
const iso = (d) => d.toISOString().slice(0, 10);

export async function init() {
  const to = new Date();
  $('usage-to').value = iso(to);
  $('usage-from').value = iso(new Date(to.getTime() - 13 * DAY));
  const form = $('usage-form');
  form.addEventListener('submit', (ev) => { ev.preventDefault(); busy(form, load); });
  await load();
}

const usd = (v) => '$' + fmtNumber(v, v < 1 ? 4 : 2);
const int = (v) => fmtNumber(v);
const ms = (v) => fmtNumber(v, 0) + ' ms';

async function load() {
  unflash();
  const from = $('usage-from').value, to = $('usage-to').value;
  let r;
  try {
    r = await api('/usage?' + new URLSearchParams({ from, to }));
  } catch (err) { failed(err); return; }
  const t = r.totals;
  const cards = clear($('usage-totals'));
  for (const [label, v] of [['Requests', int(t.requests)], ['Errors', int(t.errors)], ['Tokens in', int(t.tokensIn)],
    ['Tokens out', int(t.tokensOut)], ['Cost', usd(t.costUsd)], ['Mean latency', t.latencyMs ? ms(t.latencyMs) : '–'],
    ['Cache hits', int(t.cacheHits)], ['Speech characters', int(t.ttsChars)]]) {
    cards.append(el('div', { class: 'stat' }, el('span', { class: 'label', text: label }), el('span', { class: 'value', text: v })));
  }
  budgets(r.budgets);
  // Every day of the range, those without usage as zeros.
  const days = [];
  for (let d = new Date(r.from + 'T00:00:00Z'); iso(d) <= r.to; d = new Date(d.getTime() + DAY)) days.push(iso(d));
  const byDay = new Map(r.byDay.map((x) => [x.day, x]));
  const col = (f) => days.map((d) => (byDay.has(d) ? f(byDay.get(d)) : 0));
  const models = r.byModel.map((x) => x.model);
  const mcol = (f) => r.byModel.map(f);
  const charts = clear($('usage-charts'));
  charts.append(
    barChart({ title: 'Requests by day', labels: days, series: [{ name: 'ok', values: col((x) => x.requests - x.errors) }, { name: 'errors', values: col((x) => x.errors) }], fmt: int }),
    barChart({ title: 'Tokens by day', labels: days, series: [{ name: 'in', values: col((x) => x.tokensIn) }, { name: 'out', values: col((x) => x.tokensOut) }], fmt: int }),
    barChart({ title: 'Cost by day (USD)', labels: days, series: [{ name: 'cost', values: col((x) => x.costUsd) }], fmt: usd }),
    barChart({ title: 'Mean latency by day', labels: days, series: [{ name: 'latency', values: col((x) => x.latencyMs || 0) }], fmt: ms }),
    barChart({ title: 'Tokens by model', labels: models, horizontal: true, series: [{ name: 'in', values: mcol((x) => x.tokensIn) }, { name: 'out', values: mcol((x) => x.tokensOut) }], fmt: int }),
    barChart({ title: 'Requests by model', labels: models, horizontal: true, series: [{ name: 'requests', values: mcol((x) => x.requests) }], fmt: int }),
    barChart({ title: 'Cost by model (USD)', labels: models, horizontal: true, series: [{ name: 'cost', values: mcol((x) => x.costUsd) }], fmt: usd }),
    barChart({ title: 'Mean latency by model', labels: models, horizontal: true, series: [{ name: 'latency', values: mcol((x) => x.latencyMs || 0) }], fmt: ms }),
  );
}

// budgets shows each budget of the tenant and of the key: what is left today.
function budgets(list) {
  const card = $('usage-budgets-card');
  const ul = clear($('usage-budgets'));
  card.hidden = !list || !list.length;
  for (const b of list || []) {
    const fmt = b.name.startsWith('usd') ? usd : int;
    const left = Math.max(0, b.limit - b.used);
    ul.append(el('li', {},
      el('label', { for: 'budget-' + b.scope + '-' + b.name, text: b.scope + ' ' + b.name + ': ' + fmt(left) + ' left of ' + fmt(b.limit) }),
      el('meter', { id: 'budget-' + b.scope + '-' + b.name, min: 0, max: b.limit, value: b.used, high: b.limit * 0.8, optimum: 0 })));
  }
}

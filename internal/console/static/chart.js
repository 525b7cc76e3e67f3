// Bar charts in SVG, drawn from data: one bar per label, a series' values
// stacked. Each chart is followed by its data as a table for screen readers
// and for anyone who wants the numbers.
import { el } from './console.js';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// barChart returns a figure: title, SVG bars, legend and data table.
// series: [{name, values}] (values in labels' order); fmt formats a value.
export function barChart({ title, labels, series, fmt = String, horizontal = false }) {
  const totals = labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
  const max = Math.max(...totals, 0) || 1;
  const fig = el('figure', { class: 'chart' });
  fig.append(el('figcaption', { text: title }));
  const W = 600, H = horizontal ? Math.max(60, labels.length * 28 + 20) : 220;
  const pad = { l: horizontal ? 170 : 56, r: 16, t: 10, b: horizontal ? 10 : 36 };
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title + ': ' + summary(labels, totals, fmt), class: 'bars' });
  const iw = W - pad.l - pad.r, ih = H - pad.t - pad.b;
  if (!horizontal) {
    for (const f of [0, 0.5, 1]) {
      const y = pad.t + ih - f * ih;
      g.append(svg('line', { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: 'grid' }));
      g.append(svg('text', { x: pad.l - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, fmt(max * f)));
    }
  }
  const n = labels.length || 1;
  const step = (horizontal ? ih : iw) / n;
  const bw = Math.max(2, step * 0.7);
  labels.forEach((label, i) => {
    let acc = 0;
    series.forEach((s, si) => {
      const v = s.values[i] || 0;
      if (v <= 0) return;
      const len = (v / max) * (horizontal ? iw : ih);
      const r = horizontal
        ? svg('rect', { x: pad.l + (acc / max) * iw, y: pad.t + i * step + (step - bw) / 2, width: len, height: bw, class: 's' + si })
        : svg('rect', { x: pad.l + i * step + (step - bw) / 2, y: pad.t + ih - ((acc + v) / max) * ih, width: bw, height: len, class: 's' + si });
      r.append(svg('title', {}, `${label} · ${s.name}: ${fmt(v)}`));
      g.append(r);
      acc += v;
    });
    const every = Math.ceil(n / 8);
    if (horizontal) {
      g.append(svg('text', { x: pad.l - 6, y: pad.t + i * step + step / 2 + 4, 'text-anchor': 'end', class: 'axis' }, trim(label, 26)));
    } else if (i % every === 0) {
      g.append(svg('text', { x: pad.l + i * step + step / 2, y: H - pad.b + 16, 'text-anchor': 'middle', class: 'axis' }, label.slice(5)));
    }
  });
  fig.append(g);
  if (series.length > 1) {
    const legend = el('ul', { class: 'legend' });
    series.forEach((s, si) => legend.append(el('li', {}, el('span', { class: 'swatch s' + si, 'aria-hidden': 'true' }), s.name)));
    fig.append(legend);
  }
  const table = el('table', { class: 'data compact' });
  const head = el('tr', {}, el('th', { scope: 'col', text: horizontal ? 'Model' : 'Day' }), series.map((s) => el('th', { scope: 'col', text: s.name })));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  labels.forEach((label, i) => body.append(el('tr', {}, el('th', { scope: 'row', text: label }),
    series.map((s) => el('td', { class: 'num', text: fmt(s.values[i] || 0) })))));
  table.append(body);
  fig.append(el('details', {}, el('summary', { text: 'Data' }), table));
  return fig;
}

function summary(labels, totals, fmt) {
  if (!labels.length) return 'no data';
  const i = totals.indexOf(Math.max(...totals));
  return `${labels.length} bars, highest ${fmt(totals[i])} at ${labels[i]}`;
}

function trim(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

import { $, api, el, clear, failed, unflash, busy, fmtNumber, fmtTime } from '../console.js';

let cursor = '';

export async function init() {
  const form = $('audit-form');
  form.addEventListener('submit', (ev) => { ev.preventDefault(); busy(form, () => load(true)); });
  $('audit-more').addEventListener('click', () => load(false));
  await load(true);
}

async function load(first) {
  unflash();
  const tb = $('audit-table').tBodies[0];
  if (first) { clear(tb); cursor = ''; }
  const q = new URLSearchParams({ limit: '50' });
  const tool = $('audit-tool').value.trim();
  if (tool) q.set('tool', tool);
  for (const k of ['from', 'to']) {
    const v = $('audit-' + k).value;
    if (v) q.set(k, new Date(v).toISOString());
  }
  if (cursor) q.set('cursor', cursor);
  try {
    const page = await api('/audit?' + q);
    for (const r of page.records) {
      tb.append(el('tr', {},
        el('td', { text: fmtTime(r.time) }), el('td', { text: r.tool }),
        el('td', { class: 'outcome ' + r.outcome, text: r.outcome + (r.errorCode ? ' (' + r.errorCode + ')' : '') }),
        el('td', { text: r.keyId }), el('td', { class: 'num', text: fmtNumber(r.latencyMs, 1) }),
        el('td', { text: r.fromModel ? 'yes' : 'no' }), el('td', {}, el('code', { text: r.requestId }))));
    }
    if (first && !page.records.length) tb.append(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'No records.' })));
    cursor = page.next || '';
    $('audit-more').hidden = !cursor;
  } catch (err) { failed(err); }
}

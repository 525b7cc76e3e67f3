import { $, api, el, failed, fmtTime } from '../console.js';

export async function init() {
  try {
    const [list, drift] = await Promise.all([api('/operator/v1/tenants'), api('/operator/v1/drift')]);
    const status = new Map(drift.tenants.map((t) => [t.id, t]));
    $('op-source').textContent = drift.source === 'folder'
      ? 'Environment ' + drift.env + ': this server deploys the tenants folder ' + drift.folder + ' at start and on reload; drift compares that folder with the store.'
      : 'Environment ' + drift.env + ': this server serves the configs deployed to its store (no folder to compare: use crispy drift from the folder that holds them).';
    if (drift.error) failed(new Error('The tenants folder cannot be compared: ' + drift.error));
    const tb = $('op-tenants').tBodies[0];
    const ids = new Set(list.tenants.map((t) => t.id));
    for (const t of list.tenants) {
      const d = status.get(t.id);
      tb.append(el('tr', {},
        el('td', {}, el('a', { href: '/console/operator/tenant?id=' + encodeURIComponent(t.id), text: t.id })),
        el('td', { class: 'num', text: 'v' + t.version }),
        el('td', { class: 'num' + (t.served !== t.version ? ' warn' : ''), text: t.served ? 'v' + t.served : '–' }),
        el('td', {}, driftBadge(d)),
        el('td', { text: t.author }), el('td', { text: t.message }), el('td', { text: fmtTime(t.created) })));
    }
    for (const d of drift.tenants) {
      if (ids.has(d.id)) continue;
      tb.append(el('tr', {}, el('td', { text: d.id }), el('td', { text: '–' }), el('td', { text: '–' }), el('td', {}, driftBadge(d)),
        el('td', {}), el('td', {}), el('td', {})));
    }
  } catch (err) { failed(err); }
}

function driftBadge(d) {
  if (!d) return el('span', { class: 'muted', text: 'not compared' });
  return el('span', { class: 'badge ' + d.status, text: d.status });
}

import { $, api, el, clear, failed, flash, unflash, busy, fmtNumber, fmtTime } from '../console.js';

const SCOPES = ['chat', 'search', 'documents:read', 'documents:write', 'tools', 'tools:write', 'tts', 'usage:read', 'admin'];
let id = '';

export async function init() {
  id = new URLSearchParams(location.search).get('id') || '';
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(id)) { failed(new Error('no tenant named: open one from the list')); return; }
  const scopes = $('key-scopes');
  for (const s of SCOPES) {
    const cid = 'scope-' + s.replace(':', '-');
    scopes.append(el('span', { class: 'check' }, el('input', { type: 'checkbox', id: cid, value: s, checked: ['chat', 'search', 'documents:read'].includes(s) }), el('label', { for: cid, text: s })));
  }
  const form = $('key-form');
  form.addEventListener('submit', (ev) => { ev.preventDefault(); busy(form, newKey); });
  await load();
}

const base = () => '/operator/v1/tenants/' + encodeURIComponent(id);

async function load() {
  try {
    const [t, h, u] = await Promise.all([api(base()), api(base() + '/history?limit=50'), api(base() + '/usage')]);
    $('t-name').textContent = (t.name || t.id) + ' (' + t.id + ')';
    document.title = t.id + ' · Crispy Enigma console';
    const facts = clear($('t-facts'));
    for (const [k, v] of [['Active version', 'v' + t.version], ['Served here', t.served ? 'v' + t.served : '–'], ['Hash', t.hash],
      ['Deployed by', t.author], ['Message', t.message], ['When', fmtTime(t.created)]]) {
      facts.append(el('dt', { text: k }), el('dd', { text: v || '' }));
    }
    const kb = clear($('t-keys').tBodies[0]);
    for (const k of t.keys || []) {
      const revoke = el('button', { type: 'button', class: 'danger small', 'aria-label': 'Revoke key ' + k.id, text: 'Revoke' });
      revoke.addEventListener('click', () => revokeKey(k.id, revoke));
      kb.append(el('tr', {}, el('td', {}, el('code', { text: k.id })), el('td', { text: k.scopes.join(', ') }),
        el('td', { text: (k.dev ? '[dev] ' : '') + (k.description || '') }), el('td', { text: k.expires ? fmtTime(k.expires) : 'never' }), el('td', {}, revoke)));
    }
    $('t-limits').textContent = t.parseError ? 'This server cannot parse the deployed config: ' + t.parseError : JSON.stringify(t.limits || {}, null, 2);
    if (t.parseError) kb.append(el('tr', {}, el('td', { colspan: 5, class: 'error', text: 'Keys unknown: the deployed config does not parse here.' })));
    usage(u);
    history(h);
  } catch (err) { failed(err); }
}

function usage(u) {
  const box = clear($('t-usage'));
  const x = u.totals;
  box.append(el('dl', { class: 'facts' }, [
    ['Requests', fmtNumber(x.requests)], ['Errors', fmtNumber(x.errors)], ['Tokens in', fmtNumber(x.tokensIn)],
    ['Tokens out', fmtNumber(x.tokensOut)], ['Cost', '$' + fmtNumber(x.costUsd, 4)], ['Speech characters', fmtNumber(x.ttsChars)],
  ].flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])));
  for (const b of u.budgets || []) {
    box.append(el('p', { text: b.scope + ' ' + b.name + ': ' + fmtNumber(b.used) + ' of ' + fmtNumber(b.limit) + ' used today' }));
  }
}

function history(h) {
  const vb = clear($('t-versions').tBodies[0]);
  for (const v of h.versions) {
    const cell = el('td', {});
    if (v.active) cell.append(el('span', { class: 'badge in-sync', text: 'active' }));
    else {
      const b = el('button', { type: 'button', class: 'secondary small', 'aria-label': 'Roll back to version ' + v.version, text: 'Roll back to this' });
      b.addEventListener('click', () => rollback(v.version, b));
      cell.append(b);
    }
    vb.append(el('tr', {}, el('td', { class: 'num', text: 'v' + v.version }), el('td', { text: v.author }), el('td', { text: v.message }), el('td', { text: fmtTime(v.created) }), cell));
  }
  const ev = clear($('t-events'));
  for (const e of h.events) {
    ev.append(el('li', { text: fmtTime(e.time) + ' · ' + e.action + ' v' + e.from + ' → v' + e.to + ' by ' + e.author + (e.message ? ': ' + e.message : '') }));
  }
}

async function newKey() {
  unflash();
  const scopes = [...document.querySelectorAll('#key-scopes input:checked')].map((c) => c.value);
  const req = { scopes, id: $('key-id').value.trim() || undefined, description: $('key-description').value.trim() || undefined,
    expiresIn: $('key-expires').value.trim() || undefined, message: 'key created in the console' };
  try {
    const r = await api(base() + '/keys', { method: 'POST', json: req });
    $('key-secret').textContent = r.key;
    $('key-new').hidden = false;
    flash('Key ' + r.keyId + ' created: version v' + r.deploy.to + ' is deployed.', 'info');
    $('key-form').reset();
    await load();
  } catch (err) { failed(err); }
}

async function revokeKey(keyId, button) {
  if (!confirm('Revoke the key "' + keyId + '" of ' + id + '? It stops working at once.')) return;
  button.disabled = true;
  try {
    const r = await api(base() + '/keys/' + encodeURIComponent(keyId) + '?message=' + encodeURIComponent('key revoked in the console'), { method: 'DELETE' });
    flash('Key ' + keyId + ' revoked: version v' + r.to + ' is deployed.', 'info');
    await load();
  } catch (err) { button.disabled = false; failed(err); }
}

async function rollback(version, button) {
  if (!confirm('Make version ' + version + ' of ' + id + ' active?')) return;
  button.disabled = true;
  try {
    const r = await api(base() + '/rollback', { method: 'POST', json: { version, message: 'rolled back in the console' } });
    flash('Version v' + r.to + ' is active.', 'info');
    await load();
  } catch (err) { button.disabled = false; failed(err); }
}

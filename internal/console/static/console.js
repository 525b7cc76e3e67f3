// The console's core: the credential, calls to the API, the navigation,
// and the helpers every page uses. The DOM is built with textContent and
// attributes only, never from HTML strings, so that whatever a tenant's
// data holds is shown as text.

const KEY = 'crispy.key';
const ME = 'crispy.me';

export function credential() { return sessionStorage.getItem(KEY); }
export function isOperator() { return (credential() || '').startsWith('co_'); }

export function signOut() {
  sessionStorage.clear();
  location.assign('/console/');
}

// ApiError is a failed call: the envelope's code and message, and the status.
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// api calls the API with the credential and returns the envelope's data
// (or the Response itself with raw). A 401 signs out.
export async function api(path, { method = 'GET', body, json, headers = {}, raw = false, signal } = {}) {
  const h = new Headers(headers);
  const k = credential();
  if (k) h.set('Authorization', 'Bearer ' + k);
  if (json !== undefined) {
    h.set('Content-Type', 'application/json');
    body = JSON.stringify(json);
  }
  const res = await fetch(path, { method, body, headers: h, signal, credentials: 'omit', cache: 'no-store' });
  if (raw && res.ok) return res;
  let env = null;
  try { env = await res.json(); } catch { /* not JSON */ }
  if (!res.ok || !env || env.ok === false) {
    const e = env && env.error ? env.error : { code: 'http_' + res.status, message: res.statusText || 'request failed' };
    if (res.status === 401 && document.body.dataset.page !== 'signin') {
      signOut();
    }
    throw new ApiError(res.status, e.code, e.message, e.details);
  }
  return env.data;
}

// el makes an element: attributes (on* never), then children, strings as text.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') || k === 'style' || k === 'srcdoc') throw new Error('el: no ' + k + ' attribute');
    if ((k === 'href' || k === 'src') && !safeURL(String(v))) throw new Error('el: unsafe ' + k);
    if (k === 'text') e.textContent = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, ...children);
  return e;
}

// safeURL accepts a path of this origin or an http(s) URL: never a
// javascript: or data: URL, whatever the data that built it.
export function safeURL(u) {
  return (u.startsWith('/') && !u.startsWith('//')) || u.startsWith('#') || /^https?:\/\//i.test(u);
}

// docPath is the API path of a document: each segment of its ID encoded,
// dots included, so that no ID reads as another path.
export function docPath(id) {
  return '/documents/' + id.split('/').map((s) => encodeURIComponent(s).replace(/\./g, '%2E')).join('/');
}

export function append(parent, ...children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

export function clear(node) { node.replaceChildren(); return node; }
export const $ = (id) => document.getElementById(id);

// flash shows a message at the top of the page (an error by default).
export function flash(message, kind = 'error') {
  const f = $('flash');
  f.textContent = message;
  f.className = 'flash ' + kind;
  f.hidden = false;
  if (kind === 'error') f.scrollIntoView({ block: 'nearest' });
}
export function unflash() { $('flash').hidden = true; }

// failed shows an API error with its code, and the problems or the
// missing secrets its details name.
export function failed(err) {
  if (err && err.name === 'AbortError') return;
  const code = err instanceof ApiError ? ' (' + err.code + ')' : '';
  flash((err && err.message ? err.message : String(err)) + code);
  const d = err instanceof ApiError && err.details ? err.details : {};
  const more = [].concat(d.problems || [], d.missingSecrets ? ['missing: ' + d.missingSecrets.join(', ')] : []);
  if (more.length) $('flash').append(el('ul', {}, more.map((p) => el('li', { text: String(p) }))));
}

// busy disables a form's controls while fn runs.
export async function busy(form, fn) {
  const controls = [...form.querySelectorAll('button, input, select, textarea')];
  const was = controls.map((c) => c.disabled);
  controls.forEach((c) => { c.disabled = true; });
  form.setAttribute('aria-busy', 'true');
  try { return await fn(); } finally {
    controls.forEach((c, i) => { c.disabled = was[i]; });
    form.removeAttribute('aria-busy');
  }
}

export function fmtNumber(n, digits = 0) {
  return Number(n || 0).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
export function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1 << 20) return (n / 1024).toFixed(1) + ' KiB';
  return (n / (1 << 20)).toFixed(1) + ' MiB';
}
export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// cite renders text in which [n] cites sources[n-1]: the citations become
// links to the cited passages.
export function cite(node, text, sources) {
  clear(node);
  const byN = new Map((sources || []).map((s) => [s.n, s]));
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    const s = byN.get(Number(m[1]));
    if (!s) continue;
    append(node, text.slice(last, m.index));
    append(node, el('a', { class: 'cite', href: passageURL(s), title: s.title || s.docId, text: m[0] }));
    last = m.index + m[0].length;
  }
  append(node, text.slice(last));
  return node;
}

// passageURL is where a source's passage is shown: its document's page,
// at the chunk.
export function passageURL(s) {
  return '/console/documents/view?id=' + encodeURIComponent(s.docId) + '#chunk-' + encodeURIComponent(s.chunkId);
}

// sourceList renders sources as an ordered list of linked passages.
export function sourceList(ol, sources) {
  clear(ol);
  for (const s of sources || []) {
    ol.append(el('li', { value: s.n, id: 'source-' + s.n },
      el('a', { href: passageURL(s), text: s.title || s.docId }),
      ' ', el('span', { class: 'muted', text: 'score ' + fmtNumber(s.score, 3) }),
      el('blockquote', { text: s.snippet })));
  }
}

// me returns the signed-in key's tenant, scopes and features (cached for
// the tab's life).
export async function me() {
  const cached = sessionStorage.getItem(ME);
  if (cached) return JSON.parse(cached);
  const m = await api('/me');
  sessionStorage.setItem(ME, JSON.stringify(m));
  return m;
}

// allowed says whether the signed-in credential may see an element whose
// data-area and data-needs say what it needs.
function allowed(node, m) {
  const area = node.dataset.area || '';
  if (area === 'operator') return isOperator();
  if (area === 'tenant' || node.dataset.needs) {
    if (isOperator() || !m) return false;
    const needs = node.dataset.needs || '';
    if (needs === 'tts' && !m.features.tts) return false;
    return !needs || m.scopes.includes(needs);
  }
  return true;
}

async function start() {
  const page = document.body.dataset.page;
  const k = credential();
  if (page === 'notfound') return;
  if (!k && page !== 'signin') {
    location.replace('/console/');
    return;
  }
  let m = null;
  if (k) {
    try {
      if (isOperator()) await api('/operator/v1/tenants');
      else m = await me();
    } catch (err) {
      if (page === 'signin') sessionStorage.clear();
      else { failed(err); return; }
    }
  }
  if (credential()) {
    $('nav').hidden = false;
    $('who').hidden = false;
    $('who-name').textContent = isOperator() ? 'Operator' : (m.name || m.tenant) + ' · key ' + m.keyId;
    $('signout').addEventListener('click', signOut);
    for (const a of document.querySelectorAll('#nav a, main [data-needs]')) {
      a.hidden = !allowed(a, m);
    }
  }
  if (page !== 'signin' && !allowed(document.body, m)) {
    const needs = document.body.dataset.needs;
    flash(isOperator() ? 'This page is for tenant keys; an operator credential cannot use it.'
      : document.body.dataset.area === 'operator' ? 'This page is for operators: sign in with an operator credential (co_...).'
        : 'This key may not use this page: it needs the scope "' + needs + '"' + (needs === 'tts' ? ' and a tenant with speech turned on.' : '.'));
    return;
  }
  const mod = await import('./pages/' + page + '.js');
  await mod.init({ me: m });
}

start().catch(failed);

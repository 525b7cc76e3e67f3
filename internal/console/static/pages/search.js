import { $, api, el, clear, cite, sourceList, failed, unflash, busy, fmtNumber } from '../console.js';

export async function init() {
  const form = $('search-form');
  form.addEventListener('submit', (ev) => { ev.preventDefault(); run($('search-query').value); });
  const q = new URLSearchParams(location.search).get('q');
  if (q) { $('search-query').value = q; await run(q); } else $('search-query').focus();
}

async function run(query) {
  query = query.trim();
  if (!query) return;
  unflash();
  const form = $('search-form');
  await busy(form, async () => {
    try {
      const t0 = performance.now();
      const r = await api('/search', { method: 'POST', json: { query } });
      show(r, performance.now() - t0);
      history.replaceState(null, '', '?q=' + encodeURIComponent(query));
    } catch (err) { failed(err); }
  });
}

function show(r, ms) {
  $('search-result').hidden = false;
  cite($('search-answer'), r.answer, r.sources);
  $('search-confidence').value = r.confidence;
  $('search-confidence-text').textContent = fmtNumber(r.confidence, 2);
  $('search-intent').textContent = r.intent + (r.cached ? ' (cached)' : '');
  $('search-rewritten').textContent = r.rewrittenQuery || '–';
  sourceList($('search-sources'), r.sources);
  const ups = clear($('search-followups'));
  for (const f of r.followUps || []) {
    const b = el('button', { type: 'button', class: 'chip', text: f });
    b.addEventListener('click', () => { $('search-query').value = f; run(f); });
    ups.append(el('li', {}, b));
  }
  const tb = clear($('search-timings').tBodies[0]);
  for (const [stage, v] of Object.entries(r.timings || {})) {
    tb.append(el('tr', {}, el('td', { text: stage }), el('td', { class: 'num', text: fmtNumber(v, 1) })));
  }
  tb.append(el('tr', {}, el('td', { text: 'in the browser, end to end' }), el('td', { class: 'num', text: fmtNumber(ms, 1) })));
  $('search-announce').textContent = 'Answer with ' + (r.sources || []).length + ' sources, confidence ' + fmtNumber(r.confidence, 2) + ': ' + r.answer;
}

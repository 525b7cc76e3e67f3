import { $, api, docPath, el, failed, fmtBytes, fmtTime, fmtNumber } from '../console.js';

export async function init() {
  const id = new URLSearchParams(location.search).get('id');
  if (!id) { failed(new Error('no document named: open one from the list')); return; }
  try {
    const d = await api(docPath(id));
    const doc = d;
    $('doc-title').textContent = doc.title || doc.id;
    document.title = (doc.title || doc.id) + ' · Crispy Enigma console';
    const facts = $('doc-facts');
    const add = (k, v) => { if (v !== undefined && v !== '') facts.append(el('dt', { text: k }), el('dd', {}, v)); };
    add('ID', doc.id);
    if (doc.url && /^https?:\/\//i.test(doc.url)) add('URL', el('a', { href: doc.url, rel: 'noopener noreferrer', target: '_blank', text: doc.url }));
    else add('URL', doc.url);
    add('Format', doc.format);
    add('Size', fmtBytes(doc.bytes));
    add('Chunks', fmtNumber(doc.chunks));
    add('Embedding model', doc.embeddingModel);
    add('Uploaded by', doc.uploadedBy);
    add('Updated', fmtTime(doc.updated));
    for (const [k, v] of Object.entries(doc.metadata || {})) add('metadata.' + k, String(v));
    const ol = $('doc-chunks');
    for (const c of d.chunkList || []) {
      ol.append(el('li', { id: 'chunk-' + c.id, tabindex: '-1', class: 'chunk' },
        el('p', { class: 'muted', text: (c.headingPath || []).join(' › ') + ' · ' + c.tokens + ' tokens · chars ' + c.start + '–' + c.end }),
        el('div', { class: 'chunk-text', text: c.text })));
    }
    let anchor = '';
    try { anchor = decodeURIComponent(location.hash.slice(1)); } catch { /* a malformed link: no anchor */ }
    if (anchor) {
      const target = document.getElementById(anchor);
      if (target) { target.classList.add('cited'); target.focus(); target.scrollIntoView({ block: 'center' }); }
    }
  } catch (err) { failed(err); }
}

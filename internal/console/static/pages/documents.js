import { $, api, docPath, el, clear, credential, failed, flash, unflash, busy, fmtBytes, fmtTime, fmtNumber } from '../console.js';

// Up to this many files go in one multipart upload, answered when they are
// in; more go as an NDJSON batch, which the server runs as a job whose
// progress is polled.
const SYNC_FILES = 8;

let after = '';

export async function init({ me }) {
  $('upload-form').addEventListener('submit', (ev) => { ev.preventDefault(); upload(me); });
  $('doc-more').addEventListener('click', () => list(false));
  await list(true);
}

async function list(first) {
  if (first) { after = ''; clear($('doc-table').tBodies[0]); }
  try {
    const q = new URLSearchParams({ limit: '50' });
    if (after) q.set('after', after);
    const page = await api('/documents?' + q);
    const tb = $('doc-table').tBodies[0];
    for (const d of page.documents) tb.append(row(d));
    if (!page.documents.length && first) {
      tb.append(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'No documents yet.' })));
    }
    after = page.next || '';
    $('doc-more').hidden = !after;
    const qu = page.quota;
    if (qu) {
      $('doc-quota').textContent = fmtNumber(qu.documents.used) + ' of ' + fmtNumber(qu.documents.limit) + ' documents · ' +
        fmtNumber(qu.chunks.used) + ' of ' + fmtNumber(qu.chunks.limit) + ' chunks · ' +
        fmtBytes(qu.bytes.used) + ' of ' + fmtBytes(qu.bytes.limit);
    }
  } catch (err) { failed(err); }
}

function row(d) {
  const view = '/console/documents/view?id=' + encodeURIComponent(d.id);
  const actions = el('td', {});
  if (!$('upload-card').hidden) {
    const del = el('button', { type: 'button', class: 'danger small', 'aria-label': 'Delete ' + d.id, text: 'Delete' });
    del.addEventListener('click', () => remove(d.id, del));
    actions.append(del);
  }
  return el('tr', { dataset: { id: d.id } },
    el('td', {}, el('a', { href: view, text: d.id })),
    el('td', { text: d.title || '' }),
    el('td', { text: d.format }),
    el('td', { class: 'num', text: fmtNumber(d.chunks) }),
    el('td', { class: 'num', text: fmtBytes(d.bytes) }),
    el('td', { text: fmtTime(d.updated) }),
    actions);
}

async function remove(id, button) {
  if (!confirm('Delete the document "' + id + '" and its chunks?')) return;
  button.disabled = true;
  try {
    await api(docPath(id), { method: 'DELETE' });
    button.closest('tr').remove();
    flash('Deleted ' + id + '.', 'info');
  } catch (err) { button.disabled = false; failed(err); }
}

async function upload() {
  unflash();
  const files = [...$('upload-files').files];
  if (!files.length) return;
  const form = $('upload-form');
  const results = clear($('upload-results'));
  $('upload-progress').value = 0;
  $('job-progress').value = 0;
  await busy(form, async () => {
    try {
      let res;
      if (files.length <= SYNC_FILES) {
        const fd = new FormData();
        for (const f of files) fd.append('file', f, f.name);
        status('Uploading ' + files.length + ' file(s)…');
        res = await send(fd, null);
      } else {
        status('Reading ' + files.length + ' files…');
        const lines = [];
        for (const f of files) lines.push(JSON.stringify(await ndjsonDoc(f)));
        res = await send(new Blob([lines.join('\n') + '\n']), 'application/x-ndjson');
      }
      let out = res.data;
      if (res.status === 202) {
        out = await follow(out);
      } else {
        $('job-progress').max = 1;
        $('job-progress').value = 1;
      }
      for (const r of out.results || []) {
        results.append(el('li', {}, el('strong', { text: r.id }), ' ' + r.status + ', ' + r.chunks + ' chunks'));
      }
      for (const e of out.errors || []) {
        results.append(el('li', { class: 'error', text: (e.id || 'line ' + e.line) + ': ' + e.error.message }));
      }
      status('Done: ' + (out.results || []).length + ' document(s) in' + ((out.errors || []).length ? ', ' + out.errors.length + ' failed.' : '.'));
      $('upload-files').value = '';
      await list(true);
    } catch (err) { status(''); failed(err); }
  });
}

function status(s) { $('upload-status').textContent = s; }

// ndjsonDoc makes a document of a file, as the server does for an upload:
// its ID is its name, its format its extension.
async function ndjsonDoc(f) {
  const text = await f.text();
  const ext = (f.name.match(/\.([^.]+)$/) || [])[1]?.toLowerCase();
  const doc = { id: f.name.replace(/[^A-Za-z0-9._:/@-]/g, '_').slice(0, 256), title: f.name.replace(/\.[^.]+$/, '') };
  if (ext === 'md' || ext === 'markdown') doc.markdown = text;
  else if (ext === 'html' || ext === 'htm') doc.html = text;
  else doc.text = text;
  return doc;
}

// send posts a body to /documents with the upload's progress shown; it
// resolves with the status and the envelope's data.
function send(body, contentType) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', '/documents');
    x.setRequestHeader('Authorization', 'Bearer ' + credential());
    if (contentType) x.setRequestHeader('Content-Type', contentType);
    x.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) $('upload-progress').value = Math.round((100 * e.loaded) / e.total);
    });
    x.addEventListener('load', () => {
      $('upload-progress').value = 100;
      let env = null;
      try { env = JSON.parse(x.responseText); } catch { /* not JSON */ }
      if (x.status >= 200 && x.status < 300 && env && env.ok) resolve({ status: x.status, data: env.data });
      else reject(new Error(env && env.error ? env.error.message + ' (' + env.error.code + ')' : 'upload failed: HTTP ' + x.status));
    });
    x.addEventListener('error', () => reject(new Error('the upload failed: the server could not be reached')));
    x.send(body);
  });
}

// follow polls a job until it is no longer running, showing its progress.
async function follow(job) {
  const p = $('job-progress');
  for (;;) {
    p.max = Math.max(job.total, 1);
    p.value = job.done + job.failed;
    status('Ingesting: ' + (job.done + job.failed) + ' of ' + job.total + ' (job ' + job.id + ')');
    if (job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 400));
    job = await api('/jobs/' + encodeURIComponent(job.id));
  }
}

import { $, api, el, append, clear, cite, sourceList, failed, unflash, fmtNumber, ApiError } from '../console.js';

const SESSION = 'crispy.chat.session';

export async function init({ me }) {
  const model = $('chat-model');
  for (const m of me.models) model.append(el('option', { value: m, text: m }));
  $('chat-new').addEventListener('click', () => {
    sessionStorage.removeItem(SESSION);
    clear($('chat-log'));
    $('chat-session').textContent = 'new';
    $('chat-stats').textContent = '';
    $('chat-input').focus();
  });
  const form = $('chat-form');
  form.addEventListener('submit', (ev) => { ev.preventDefault(); send(); });
  $('chat-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); send(); }
  });
  const sid = sessionStorage.getItem(SESSION);
  if (sid) await history(sid);
}

// history shows the stored messages of session sid.
async function history(sid) {
  try {
    const h = await api('/chat/' + encodeURIComponent(sid) + '/history?limit=200');
    $('chat-session').textContent = sid;
    for (const m of h.messages) {
      const li = message(m.role);
      li.querySelector('.text').textContent = m.content;
      if (m.incomplete) li.append(el('p', { class: 'muted', text: 'incomplete' }));
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) { sessionStorage.removeItem(SESSION); return; }
    failed(err);
  }
}

function message(role) {
  const li = el('li', { class: 'msg ' + role },
    el('span', { class: 'role', text: role === 'user' ? 'You' : 'Assistant' }),
    el('div', { class: 'text' }));
  $('chat-log').append(li);
  return li;
}

let sending = false;

async function send() {
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text || sending) return;
  sending = true;
  unflash();
  $('chat-send').disabled = true;
  const user = message('user');
  user.querySelector('.text').textContent = text;
  input.value = '';
  const reply = message('assistant');
  reply.setAttribute('aria-busy', 'true');
  const out = reply.querySelector('.text');
  const body = { message: text, stream: true, model: $('chat-model').value || undefined };
  const sid = sessionStorage.getItem(SESSION);
  if (sid) body.sessionId = sid;
  const t0 = performance.now();
  let first = 0;
  let answer = '';
  try {
    const res = await api('/chat', { method: 'POST', json: body, raw: true, headers: { Accept: 'text/event-stream' } });
    for await (const ev of events(res)) {
      if (ev.event === 'token') {
        if (!first) first = performance.now();
        answer += JSON.parse(ev.data).text;
        out.textContent = answer;
      } else if (ev.event === 'done') {
        const d = JSON.parse(ev.data);
        done(reply, answer, d, t0, first);
      } else if (ev.event === 'error') {
        const e = JSON.parse(ev.data);
        const det = e.error.details || {};
        if (det.sessionId) remember(det.sessionId);
        reply.append(el('p', { class: 'error', text: e.error.message + ' (' + e.error.code + ')' }));
      }
    }
  } catch (err) {
    // What came before the failure stays, marked as cut short.
    if (answer) reply.append(el('p', { class: 'error', text: 'The answer was cut short.' }));
    else reply.remove();
    failed(err);
  } finally {
    reply.removeAttribute('aria-busy');
    sending = false;
    $('chat-send').disabled = false;
    $('chat-log').lastElementChild?.scrollIntoView({ block: 'end' });
  }
}

function remember(sid) {
  sessionStorage.setItem(SESSION, sid);
  $('chat-session').textContent = sid;
}

// done finishes an answer: its citations become links to the passages, its
// sources are listed, and its tokens and timings shown.
function done(reply, answer, d, t0, first) {
  remember(d.sessionId);
  const out = reply.querySelector('.text');
  cite(out, answer, d.sources);
  if (d.sources && d.sources.length) {
    const ol = el('ol', { class: 'sources', 'aria-label': 'Sources' });
    sourceList(ol, d.sources);
    append(reply, el('details', { open: true }, el('summary', { text: 'Sources (' + d.sources.length + ')' }), ol));
  }
  const total = performance.now() - t0;
  const u = d.usage || {};
  $('chat-stats').textContent = [
    d.model,
    fmtNumber(u.promptTokens) + ' in / ' + fmtNumber(u.completionTokens) + ' out tokens' + (u.estimated ? ' (estimated)' : ''),
    'first token ' + (first ? fmtNumber(first - t0) + ' ms' : '–'),
    'total ' + fmtNumber(total) + ' ms',
  ].join(' · ');
  reply.append(el('p', { class: 'meta muted', text: d.model + ' · ' + fmtNumber(total) + ' ms' }));
  // Screen readers hear the whole answer once, not every token.
  $('chat-announce').textContent = 'Answer: ' + answer;
}

// events reads server-sent events from a fetch Response as they arrive.
// A line may end in \r\n, \n or \r; a \r at the end of a chunk waits for
// the next one, which may begin with its \n. The reader is cancelled when
// the caller stops early (an error), which ends the request and frees the
// tenant's stream slot.
async function* events(res) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let pending = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let text = pending + value;
      pending = '';
      if (text.endsWith('\r')) { pending = '\r'; text = text.slice(0, -1); }
      buf += text.replace(/\r\n?/g, '\n');
      yield* blocks();
    }
  } finally {
    reader.cancel().catch(() => {});
  }

  function* blocks() {
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || line === '') continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let v = c < 0 ? '' : line.slice(c + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') event = v;
        else if (field === 'data') data.push(v);
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}

import { $, api, el, failed, unflash, busy, fmtNumber } from '../console.js';

let url = '';

export async function init() {
  try {
    const v = await api('/tts/voices');
    const sel = $('speech-voice');
    for (const voice of v.voices) {
      sel.append(el('option', { value: voice.id, selected: voice.id === v.default, text: voice.name ? voice.name + ' (' + voice.id + ')' : voice.id }));
    }
    $('speech-text').maxLength = v.maxChars;
  } catch (err) { failed(err); }
  const form = $('speech-form');
  form.addEventListener('submit', (ev) => { ev.preventDefault(); busy(form, speak); });
}

async function speak() {
  unflash();
  const text = $('speech-text').value;
  const body = { text, voice: $('speech-voice').value || undefined, format: 'wav', speed: Number($('speech-speed').value) || undefined };
  try {
    const t0 = performance.now();
    let res = await api('/tts', { method: 'POST', json: body, raw: true });
    // A long text is spoken as a job: poll it until its audio is ready.
    while (res.status === 202) {
      const job = (await res.json()).data;
      $('speech-status').textContent = 'Speaking ' + fmtNumber(job.chars) + ' characters as job ' + job.jobId + '…';
      await new Promise((r) => setTimeout(r, 1000));
      res = await api('/tts/jobs/' + encodeURIComponent(job.jobId), { raw: true });
    }
    const blob = await res.blob();
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(blob);
    const audio = $('speech-audio');
    audio.src = url;
    $('speech-status').textContent = fmtNumber(text.length) + ' characters, ' + fmtNumber(blob.size / 1024, 1) + ' KiB of ' + blob.type + ' in ' + fmtNumber(performance.now() - t0) + ' ms';
    try { await audio.play(); } catch { /* the browser may wait for a click on play */ }
  } catch (err) { failed(err); }
}

import { $, api, busy, failed, unflash, flash } from '../console.js';

// First page of each area, in order of preference.
const tenantPages = [
  ['chat', '/console/chat'], ['search', '/console/search'], ['documents:read', '/console/documents'],
  ['usage:read', '/console/usage'], ['tools', '/console/tools'], ['tts', '/console/speech'],
];

export async function init({ me }) {
  if (me || sessionStorage.getItem('crispy.key')) {
    return home(me);
  }
  const form = $('signin-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    unflash();
    const key = $('signin-key').value.trim();
    if (!/^c[ko]_\S+$/.test(key)) {
      flash('A key starts with ck_ (tenant) or co_ (operator).');
      return;
    }
    await busy(form, async () => {
      sessionStorage.setItem('crispy.key', key);
      try {
        if (key.startsWith('co_')) {
          await api('/operator/v1/tenants');
          location.assign('/console/operator');
        } else {
          const m = await api('/me');
          sessionStorage.setItem('crispy.me', JSON.stringify(m));
          home(m);
        }
      } catch (err) {
        sessionStorage.clear();
        failed(err);
      }
    });
  });
  $('signin-key').focus();
}

function home(m) {
  if (!m) { location.assign('/console/operator'); return; }
  for (const [scope, path] of tenantPages) {
    if (m.scopes.includes(scope) && (scope !== 'tts' || m.features.tts)) {
      location.assign(path);
      return;
    }
  }
  flash('Signed in, but this key holds no scope the console can use.', 'info');
}

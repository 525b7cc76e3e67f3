import { $, api, el, failed, unflash, busy, fmtNumber } from '../console.js';

export async function init() {
  let list;
  try { list = await api('/tools'); } catch (err) { failed(err); return; }
  const box = $('tool-list');
  if (!list.tools.length) box.append(el('p', { class: 'muted', text: 'This key may call no tool.' }));
  for (const t of list.tools) box.append(toolCard(t));
}

// toolCard is a tool with a form made from its parameters' JSON Schema.
function toolCard(t) {
  const id = 'tool-' + t.name;
  const form = el('form', { class: 'stack', id: id + '-form', 'aria-labelledby': id + '-name' });
  const schema = t.parameters || {};
  const fields = [];
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    fields.push(field(id, name, prop, (schema.required || []).includes(name)));
  }
  if (!fields.length) {
    fields.push(field(id, '', { description: 'Arguments as JSON' }, false, true));
  }
  for (const f of fields) form.append(f.node);
  const out = el('pre', { class: 'code', id: id + '-result', 'aria-live': 'polite', hidden: true });
  form.append(el('div', { class: 'row' }, el('button', { type: 'submit', text: 'Invoke ' + t.name })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    unflash();
    let args;
    try {
      args = {};
      for (const f of fields) {
        const v = f.value();
        if (f.name === '') args = v ?? {};
        else if (v !== undefined) args[f.name] = v;
      }
    } catch (err) { failed(err); return; }
    await busy(form, async () => {
      try {
        const r = await api('/tools/' + encodeURIComponent(t.name) + '/invoke', { method: 'POST', json: { args } });
        out.textContent = JSON.stringify(r.result, null, 2) + '\n\n' + fmtNumber(r.latencyMs, 1) + ' ms';
        out.hidden = false;
      } catch (err) { failed(err); }
    });
  });
  return el('section', { class: 'card tool' },
    el('h2', { id: id + '-name', text: t.name }),
    el('p', { text: t.description }),
    el('p', { class: 'muted', text: 'Needs ' + t.scopes.join(', ') + (t.writes ? ' · writes' : '') + ' · timeout ' + t.timeoutMs + ' ms' }),
    form, out);
}

// field makes the control of one property: a select for an enum, a
// checkbox for a boolean, a number input, a text area for a string (one
// item a line for an array of strings), JSON for anything else.
function field(prefix, name, prop, required, whole = false) {
  const id = prefix + '-' + (name || 'args');
  const type = Array.isArray(prop.type) ? prop.type.find((x) => x !== 'null') : prop.type;
  const label = el('label', { for: id, text: (name || 'args') + (required ? ' (required)' : '') });
  const help = prop.description ? el('span', { class: 'muted', id: id + '-help', text: prop.description }) : null;
  const common = { id, name: name || 'args', 'aria-describedby': help ? id + '-help' : undefined };
  let input, value;
  if (prop.enum) {
    input = el('select', common, required ? null : el('option', { value: '', text: '—' }), prop.enum.map((v) => el('option', { value: JSON.stringify(v), text: String(v) })));
    value = () => (input.value === '' ? undefined : JSON.parse(input.value));
  } else if (type === 'boolean') {
    input = el('input', { ...common, type: 'checkbox', checked: prop.default === true });
    value = () => input.checked;
  } else if (type === 'integer' || type === 'number') {
    input = el('input', { ...common, type: 'number', step: type === 'integer' ? 1 : 'any', min: prop.minimum, max: prop.maximum, required, value: prop.default });
    value = () => (input.value === '' ? undefined : Number(input.value));
  } else if (type === 'string') {
    const long = !prop.maxLength || prop.maxLength > 200;
    input = long ? el('textarea', { ...common, rows: 3, required, maxlength: prop.maxLength }) : el('input', { ...common, type: 'text', required, maxlength: prop.maxLength });
    if (prop.default !== undefined) input.value = prop.default;
    value = () => (input.value === '' && !required ? undefined : input.value);
  } else if (type === 'array' && prop.items && prop.items.type === 'string') {
    input = el('textarea', { ...common, rows: 3, required, placeholder: 'one a line' });
    value = () => {
      const items = input.value.split('\n').map((s) => s.trim()).filter(Boolean);
      return items.length || required ? items : undefined;
    };
  } else {
    input = el('textarea', { ...common, rows: whole ? 5 : 3, required, class: 'code', placeholder: 'JSON' });
    value = () => {
      if (input.value.trim() === '') return undefined;
      try { return JSON.parse(input.value); } catch { throw new Error((name || 'args') + ': not valid JSON'); }
    };
  }
  return { name, value, node: el('div', { class: 'field' }, label, input, help) };
}

// The admin's audit page: the organisation's audit trail, filtered by who, what, which object
// and when (the server checks the role; anyone else gets "only an admin can read it").
import { api, ApiError, whoAmI } from './api.js';
import { $, cannotOpen, cells, labelCells, tell } from './ui.js';

/** @typedef {{at: number, actor: string, actor_name: string, action: string, object: string, detail: Record<string, unknown>}} Entry */

/** The filter form as the API's query (dates as epoch seconds, "until" to the end of its day). */
function query() {
  const form = new FormData($('audit-filter', HTMLFormElement));
  const params = new URLSearchParams();
  for (const name of ['actor', 'action', 'object']) {
    const value = String(form.get(name) || '').trim();
    if (value) params.set(name, value);
  }
  const since = String(form.get('since') || '');
  const until = String(form.get('until') || '');
  if (since) params.set('since', String(Date.parse(`${since}T00:00:00`) / 1000));
  if (until) params.set('until', String(Date.parse(`${until}T00:00:00`) / 1000 + 86400));
  return params;
}

async function show() {
  const params = query();
  window.history.replaceState(null, '', `?${params}`);
  /** @type {{entries: Entry[]}} */
  const { entries } = await api('GET', `/api/audit?${params}`);
  const body = $('audit', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const e of entries) {
    const row = document.createElement('tr');
    const who = e.actor_name === e.actor ? e.actor : `${e.actor_name} (${e.actor})`;
    const detail = Object.entries(e.detail).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('; ');
    row.append(...cells([new Date(e.at * 1000).toLocaleString(), who, e.action, e.object, detail]));
    body.append(row);
  }
  $('audit-count').textContent = entries.length
    ? `${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}.` : 'No entries match.';
  const actions = $('audit-actions');
  const known = new Set([...actions.querySelectorAll('option')].map((o) => o.value));
  for (const action of new Set(entries.map((e) => e.action))) {
    if (known.has(action)) continue;
    const option = document.createElement('option');
    option.value = action;
    actions.append(option);
  }
  labelCells($('audit', HTMLTableElement));
}

$('audit-filter').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  show().catch((e) => tell(e.message));
});

(async () => {
  try {
    await whoAmI();
    const form = $('audit-filter', HTMLFormElement);
    for (const [name, value] of new URLSearchParams(window.location.search)) {
      const input = form.elements.namedItem(name);
      if (input instanceof HTMLInputElement && input.type !== 'date') input.value = value;
    }
    await show();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) window.location.href = '/app';
    else cannotOpen('You cannot open the audit trail', /** @type {Error} */ (error).message);
  }
})();

// A trainee's progress toward accreditation (/progress, or /progress?trainee=<id> for their
// supervisor): figures derived by the server, milestones, the ratings chart, the supervision log
// with both ratings side by side, agreement and sign-off. The scale comes from the server.
import { api, ApiError, whoAmI } from './api.js';
import { $, cannotOpen, cells, field, labelCells, notify, tell } from './ui.js';

/**
 * @typedef {{id: string, label: string}} ScaleItem
 * @typedef {{name: string, items: ScaleItem[], levels: {value: number, label: string}[]}} Scale
 * @typedef {{values: Record<string, number>}} Rating
 * @typedef {{id: string, kind: string, held_at: number, duration_s: number, supervisor: string,
 *   supervisor_id: string, strengths: string, next_steps: string, signed_off_at: number|null,
 *   ratings: {self?: Rating, supervisor?: Rating}}} Entry
 */

const FIGURE_NAMES = /** @type {Record<string, string>} */ ({
  families: 'Families worked with', cycles: 'VIG cycles completed',
  supervision_hours: 'Supervision hours', peer_supervisions: 'Peer supervisions',
});
const day = (/** @type {number} */ at) => new Date(at * 1000).toLocaleDateString();

const state = {
  trainee: '',
  me: { id: '', role: '' },
  /** @type {Scale} */ scale: { name: '', items: [], levels: [] },
  /** @type {Entry[]} */ log: [],
  /** @type {string} */ open: '',
};

/** @param {HTMLTableElement} table @param {string[][]} rows */
function fill(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const texts of rows) {
    const row = document.createElement('tr');
    row.append(...cells(texts));
    body.append(row);
  }
  labelCells(table);
}

async function showProgress() {
  const p = await api('GET', `/api/trainees/${state.trainee}/progress`);
  $('title').textContent = `Progress toward accreditation: ${p.trainee.name}`;
  $('scheme').textContent = p.scheme;
  fill($('figures', HTMLTableElement), Object.entries(FIGURE_NAMES).map(([key, name]) =>
    [name, String(p.figures[key]), String(p.targets[key] ?? '')]));
  const list = $('milestones');
  list.replaceChildren();
  for (const m of p.milestones) {
    const item = document.createElement('li');
    const missing = Object.entries(m.missing).map(([k, v]) => `${FIGURE_NAMES[k] || k}: ${v} more`).join(', ');
    item.textContent = m.reached ? `${m.label}: reached` : `${m.label}: not yet (${missing})`;
    item.dataset.reached = String(m.reached);
    list.append(item);
  }
  $('chart', HTMLImageElement).src = `/api/trainees/${state.trainee}/ratings.svg?t=${Date.now()}`;
  $('portfolio', HTMLAnchorElement).href = `/api/trainees/${state.trainee}/portfolio.html`;
}

async function showLog() {
  ({ supervisions: state.log } = await api('GET', `/api/trainees/${state.trainee}/supervisions`));
  const body = $('log', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const entry of state.log) {
    const row = document.createElement('tr');
    row.dataset.supervisionId = entry.id;
    row.append(...cells([day(entry.held_at), entry.kind, `${Math.round(entry.duration_s / 60)} min`,
      entry.supervisor, entry.signed_off_at ? day(entry.signed_off_at) : 'not yet']));
    const cell = document.createElement('td');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'open-entry';
    open.textContent = 'Open';
    open.addEventListener('click', () => openEntry(entry.id));
    cell.append(open);
    row.append(cell);
    body.append(row);
  }
  if (!state.log.length) body.textContent = 'No supervisions yet.';
  labelCells($('log', HTMLTableElement));
  if (state.open) openEntry(state.open);
}

/** Both ratings side by side, and my own rating form. @param {string} id */
function openEntry(id) {
  const entry = state.log.find((e) => e.id === id);
  if (!entry) return;
  state.open = id;
  $('entry-title').textContent = `${entry.kind} supervision, ${day(entry.held_at)}`;
  const level = (/** @type {Rating|undefined} */ r, /** @type {string} */ item) => {
    const value = r ? r.values[item] : undefined;
    const found = state.scale.levels.find((l) => l.value === value);
    return value === undefined ? '—' : `${value}${found ? ` (${found.label})` : ''}`;
  };
  fill($('side-by-side', HTMLTableElement), state.scale.items.map((i) =>
    [i.label, level(entry.ratings.self, i.id), level(entry.ratings.supervisor, i.id)]));
  const mine = state.me.id === entry.supervisor_id ? entry.ratings.supervisor : entry.ratings.self;
  const box = $('rating-items');
  box.replaceChildren();
  for (const item of state.scale.items) {
    const label = document.createElement('label');
    const select = document.createElement('select');
    select.name = item.id;
    for (const l of state.scale.levels) {
      const option = document.createElement('option');
      option.value = String(l.value);
      option.textContent = `${l.value}: ${l.label}`;
      option.selected = mine ? mine.values[item.id] === l.value : false;
      select.append(option);
    }
    label.append(`${item.label} `, select);
    box.append(label);
  }
  const frozen = Boolean(entry.signed_off_at);
  $('rating-title').textContent = state.me.id === entry.supervisor_id ? 'Your rating (supervisor)' : 'Your self-rating';
  const agreement = $('agreement-form', HTMLFormElement);
  field(agreement, 'strengths').value = entry.strengths;
  field(agreement, 'next_steps').value = entry.next_steps;
  for (const form of [$('rating-form', HTMLFormElement), agreement]) {
    for (const control of form.elements) {
      if (control instanceof HTMLButtonElement || control instanceof HTMLSelectElement
        || control instanceof HTMLTextAreaElement) control.disabled = frozen;
    }
  }
  $('sign-off').hidden = frozen || state.me.id !== entry.supervisor_id;
  $('entry').hidden = false;
}

/** @param {() => Promise<unknown>} act @param {string} said */
async function change(act, said) {
  try {
    await act();
    await Promise.all([showProgress(), showLog()]);
    notify(said); // once the page shows what changed
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
}

$('rating-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const values = Object.fromEntries([...$('rating-items').querySelectorAll('select')].map((s) => [s.name, Number(s.value)]));
  change(() => api('PUT', `/api/supervisions/${state.open}/ratings`, { values }), 'Rating saved.');
});
$('agreement-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const data = new FormData(/** @type {HTMLFormElement} */ (event.target));
  change(() => api('PUT', `/api/supervisions/${state.open}/agreement`,
    { strengths: data.get('strengths'), next_steps: data.get('next_steps') }), 'Saved.');
});
$('sign-off').addEventListener('click', () => change(
  () => api('POST', `/api/supervisions/${state.open}/sign-off`), 'Signed off: this supervision no longer changes.'));
$('entry-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const data = new FormData(form);
  const heldAt = Date.parse(`${data.get('date')}T12:00:00`) / 1000;
  change(async () => {
    await api('POST', `/api/trainees/${state.trainee}/supervisions`,
      { kind: data.get('kind'), duration_minutes: Number(data.get('minutes')), held_at: Math.min(heldAt, Date.now() / 1000) });
    form.reset();
  }, 'The supervision is entered.');
});

(async () => {
  try {
    const me = await whoAmI();
    state.me = me.user;
    state.trainee = new URLSearchParams(window.location.search).get('trainee') || me.user.id;
    ({ scale: state.scale } = await api('GET', '/api/sds/scale'));
    await showProgress();
    $('entry-form').hidden = me.user.role !== 'supervisor';
    await showLog();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) window.location.href = '/app';
    else cannotOpen('This progress page cannot be opened', /** @type {Error} */ (error).message);
  }
})();

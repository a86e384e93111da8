// The case page's "Keeping and deleting" section: when each item is deleted (and warnings when
// that is near), closing and reopening the case, a legal hold, an export for an access request,
// the list of who has seen the family's films, and erasure with the case's name as confirmation.
import { api } from './api.js';
import { $, cells, copy, labelCells, notify, tell } from './ui.js';

/**
 * @typedef {{kind: string, id: string, at: number, why: string}} Due
 * @typedef {{reason: string, by: string, at: number}} Hold
 * @typedef {{id: string, label: string, closed_at: number|null, legal_hold: Hold|null}} CaseInfo
 * @typedef {Due & {started_at?: number}} Dated
 * @typedef {{case: CaseInfo, deletes: Record<string, number>, due: Dated[], warnings: Due[], warn_days: number}} Governance
 */

/** @param {number} at epoch seconds */
export function day(at) {
  return new Date(at * 1000).toLocaleDateString(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
}

const KIND_NAMES = /** @type {Record<string, string>} */ ({
  recording: 'Recording', case: 'The whole case', export: 'Export',
});

/** What each "who has seen" action means, in words. */
const VIEW_NAMES = /** @type {Record<string, string>} */ ({
  'recording-opened': 'opened a recording',
  'recording-media-served': 'watched a recording',
  'review-recording-served': 'watched a recorded review',
  'clip-viewed': 'watched a clip',
  'still-viewed': 'looked at a still',
  'clip-shown-in-review': 'showed a clip in a review',
  'still-shown-in-review': 'showed a still in a review',
  'case-exported': 'exported the case',
  'export-downloaded': 'downloaded the export',
});

/** @type {{caseId: string, label: string, onChange: () => Promise<void>, onErased: (said: string) => void}} */
const current = { caseId: '', label: '', onChange: async () => {}, onErased: () => {} };

/**
 * Fill the section for a case; returns {recording id: deletion time} for the recordings table.
 * @param {string} caseId @param {() => Promise<void>} onChange reloads the case page
 * @param {(said: string) => void} onErased leaves the erased case's page, saying `said`
 * @returns {Promise<Record<string, number>>}
 */
export async function showGovernance(caseId, onChange, onErased) {
  /** @type {Governance} */
  const g = await api('GET', `/api/cases/${caseId}/governance`);
  Object.assign(current, { caseId, label: g.case.label, onChange, onErased });
  const c = g.case;
  const hold = c.legal_hold;
  const parts = [c.closed_at ? `The case was closed on ${day(c.closed_at)}.` : 'The case is open.'];
  if (hold) parts.push(`On legal hold since ${day(hold.at)} (${hold.by}: “${hold.reason}”): nothing is deleted while the hold lasts.`);
  $('gov-state').textContent = parts.join(' ');
  $('case-close').hidden = Boolean(c.closed_at);
  $('case-reopen').hidden = !c.closed_at;
  $('hold').hidden = Boolean(hold);
  $('hold-lift').hidden = !hold;
  $('export-download').hidden = true;

  const warnings = $('gov-warnings');
  warnings.replaceChildren();
  for (const due of g.warnings) {
    const item = document.createElement('li');
    const what = due.kind === 'case' ? 'Everything of this case' : 'A recording';
    item.textContent = `${what} will be deleted on ${day(due.at)} (${due.why}). Put the case on legal hold to keep it.`;
    warnings.append(item);
  }

  const body = $('gov-dates', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  const dated = g.due;
  for (const due of dated) {
    const row = document.createElement('tr');
    const what = due.started_at
      ? `${KIND_NAMES.recording} of ${new Date(due.started_at * 1000).toLocaleString()}`
      : KIND_NAMES[due.kind] || due.kind;
    const texts = [what, hold ? `${day(due.at)} (held: not deleted)` : day(due.at), due.why];
    row.append(...cells(texts));
    body.append(row);
  }
  if (!dated.length) {
    const row = document.createElement('tr');
    const cell = document.createElement('td');
    cell.colSpan = 3;
    cell.textContent = 'Nothing is due for deletion yet: a raw film gets its date once its shared review is over; the case once it is closed.';
    row.append(cell);
    body.append(row);
  }
  labelCells($('gov-dates', HTMLTableElement));
  if ($('views', HTMLDetailsElement).open) await showViews();
  await showCopies();
  return hold ? {} : g.deletes;
}

/** The family's copies pages: made only when the organisation and the family allow it. */
async function showCopies() {
  const { pages, refused, days } = await api('GET', `/api/cases/${current.caseId}/family-copies`);
  $('copies-state').textContent = refused
    ? `No copies can be given: ${refused}.`
    : `The family can have a page with their clips, working for ${days} days; you can switch it off at any time.`;
  $('copies-make', HTMLButtonElement).disabled = Boolean(refused);
  $('copies-new').hidden = true;
  const list = $('copies-pages');
  list.replaceChildren();
  const now = Date.now() / 1000;
  for (const page of pages) {
    const item = document.createElement('li');
    const state = page.revoked_at ? `switched off ${day(page.revoked_at)}`
      : page.expires_at <= now ? `expired ${day(page.expires_at)}` : `works until ${day(page.expires_at)}`;
    item.textContent = `Page made ${day(page.created_at)}: ${state} `;
    if (!page.revoked_at && page.expires_at > now) {
      const off = document.createElement('button');
      off.type = 'button';
      off.className = 'delete';
      off.textContent = 'Switch off';
      off.addEventListener('click', () => change(async () => {
        await api('DELETE', `/api/family-copies/${page.id}`);
        notify('The family\'s page is switched off.');
      }));
      item.append(off);
    }
    list.append(item);
  }
}

/** Who has seen the family's films: filled when the list is opened. */
async function showViews() {
  const { views } = await api('GET', `/api/cases/${current.caseId}/views`);
  const body = $('views-table', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const v of [...views].reverse()) {
    const row = document.createElement('tr');
    row.append(...cells([new Date(v.at * 1000).toLocaleString(), v.actor_name, VIEW_NAMES[v.action] || v.action, v.object]));
    body.append(row);
  }
  if (!views.length) body.textContent = 'Nobody has opened this family\'s films yet.';
  labelCells($('views-table', HTMLTableElement));
}

/** Run a change, then reload the case page; errors are said, not thrown. @param {() => Promise<void>} act */
async function change(act) {
  try {
    await act();
    await current.onChange();
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
}

$('case-close').addEventListener('click', () => change(async () => {
  if (!window.confirm('Close this case? Its deletion date is then set by your organisation\'s retention period; you can reopen it.')) return;
  await api('POST', `/api/cases/${current.caseId}/close`);
  notify('The case is closed.');
}));
$('case-reopen').addEventListener('click', () => change(async () => {
  await api('POST', `/api/cases/${current.caseId}/reopen`);
  notify('The case is open again.');
}));
$('hold-lift').addEventListener('click', () => change(async () => {
  if (!window.confirm('Lift the legal hold? Items past their date are then deleted at the next daily run.')) return;
  await api('DELETE', `/api/cases/${current.caseId}/legal-hold`);
  notify('The legal hold is lifted.');
}));
$('hold-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  change(async () => {
    await api('PUT', `/api/cases/${current.caseId}/legal-hold`, { reason: new FormData(form).get('reason') });
    form.reset();
    notify('The case is on legal hold: nothing of it is deleted until the hold is lifted.', 8);
  });
});
$('case-export').addEventListener('click', async () => {
  const button = $('case-export', HTMLButtonElement);
  button.disabled = true;
  button.textContent = 'Exporting…';
  try {
    const made = await api('POST', `/api/cases/${current.caseId}/exports`);
    const link = $('export-download', HTMLAnchorElement);
    link.href = made.download_url;
    link.hidden = false;
    notify('The export is ready: download it today (it is deleted after a day).', 10);
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  } finally {
    button.disabled = false;
    button.textContent = 'Export everything (access request)';
  }
});
$('copies-make').addEventListener('click', async () => {
  try {
    const made = await api('POST', `/api/cases/${current.caseId}/family-copies`);
    await showCopies();
    $('copies-link', HTMLInputElement).value = made.url;
    $('copies-new').hidden = false;
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('copies-copy').addEventListener('click', () => copy($('copies-link', HTMLInputElement).value));
$('views').addEventListener('toggle', () => {
  if ($('views', HTMLDetailsElement).open) showViews().catch((e) => tell(e.message));
});
$('erase-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const typed = String(new FormData(form).get('confirm') || '');
  if (typed !== current.label) {
    tell('The name typed is not this case\'s name: nothing was erased.');
    return;
  }
  try {
    await api('DELETE', `/api/cases/${current.caseId}`, { confirm: typed });
    form.reset();
    current.onErased(`The case “${typed}” is erased.`);
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});

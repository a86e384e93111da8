// The practitioner's page: log in, cases, a case's sessions, recordings, clips and reviews.
// The live filming view lives in live.js.
import { api, ApiError, setCsrf, whoAmI } from './api.js';
import { showRecordings } from './case-media.js';
import { day, showGovernance } from './governance.js';
import { isLive, leaveLive, openLive } from './live.js';
import { $, copy, notify, PURPOSE_NAMES, tell } from './ui.js';

function show(/** @type {string} */ view) {
  for (const id of ['login-view', 'cases-view', 'case-view', 'live-view']) $(id).hidden = id !== view;
}

/** Said on the next page shown (e.g. "The session has ended." on the case page). */
let nextMessage = '';

/** The session ended: back to its case, where what was recorded can be opened. */
function sessionEnded(/** @type {string} */ caseId) {
  nextMessage = 'The session has ended.';
  if (window.location.hash === `#case/${caseId}`) route();
  else window.location.hash = `#case/${caseId}`;
}

async function route() {
  tell('');
  if (isLive() && !window.location.hash.startsWith('#live/')) leaveLive();
  const [view, id] = window.location.hash.slice(1).split('/');
  try {
    if (view === 'case' && id) await showCase(id);
    else if (view === 'live' && id) {
      show('live-view');
      await openLive(id, sessionEnded);
    }
    else await showCases();
    if (nextMessage) notify(nextMessage, 8);
    nextMessage = '';
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showLogin();
    else tell(/** @type {Error} */ (error).message);
  }
}

function showLogin() {
  $('who').textContent = '';
  $('logout').hidden = true;
  show('login-view');
}

async function showCases() {
  const [{ cases }, soon] = await Promise.all([api('GET', '/api/cases'), api('GET', '/api/retention/soon')]);
  const list = $('cases');
  list.replaceChildren();
  for (const c of cases) {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = `#case/${c.id}`;
    link.textContent = c.label;
    item.append(link);
    if (soon.cases[c.id]) {
      const warning = document.createElement('span');
      warning.className = 'deletion-soon';
      warning.textContent = ` Something will be deleted on ${day(soon.cases[c.id])}: open the case to see what.`;
      item.append(warning);
    }
    list.append(item);
  }
  if (!cases.length) list.textContent = 'No cases yet.';
  show('cases-view');
}

/** The family's current consent, and the form to record a withdrawal made another way. */
function showConsent(/** @type {string} */ caseId, /** @type {import('./protocol.js').Consent|null} */ consent) {
  const purposes = consent ? consent.purposes : [];
  const how = consent && consent.how !== 'in-call' && consent.how !== 'family-link'
    ? `; withdrawal recorded by you, ${consent.how}` : '';
  $('case-consent').textContent = !consent
    ? 'The family has not been asked yet.'
    : purposes.length
      ? `Now agreed: ${purposes.map((p) => PURPOSE_NAMES[p] || p).join(', ')}` +
        ` (since ${new Date(consent.given_at * 1000).toLocaleString()}${how}).`
      : `The family has withdrawn all consent (${new Date(consent.given_at * 1000).toLocaleString()}${how}).` +
        ' Nothing of theirs can be opened, shown or recorded.';
  const box = $('withdrawal-purposes');
  box.replaceChildren();
  for (const purpose of purposes) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = purpose;
    input.checked = true;
    label.append(input, ` ${PURPOSE_NAMES[purpose] || purpose}`);
    box.append(label);
  }
  $('withdrawal').hidden = !purposes.length;
  $('withdrawal-form').dataset.caseId = caseId;
}

async function showCase(/** @type {string} */ caseId) {
  const { case: c, sessions, consent } = await api('GET', `/api/cases/${caseId}`);
  $('case-title').textContent = c.label;
  showConsent(caseId, consent);
  $('new-session').dataset.caseId = caseId;
  $('new-link').hidden = true;
  const list = $('sessions');
  list.replaceChildren();
  for (const s of sessions) {
    const item = document.createElement('li');
    const when = new Date(s.created_at * 1000).toLocaleString();
    const kind = s.kind === 'review' ? 'Shared review' : 'Filming session';
    item.textContent = `${kind}, ${when} (${s.status}) `;
    if (s.status === 'open') {
      const join = document.createElement('a');
      join.href = s.kind === 'review' ? `/review/${s.id}` : `#live/${s.id}`;
      join.textContent = s.kind === 'review' ? 'Open review' : 'Open live view';
      join.className = 'button';
      const link = document.createElement('button');
      link.type = 'button';
      link.className = 'family-link';
      link.textContent = 'Family link';
      link.title = 'Makes a new link for the family; the old one stops working';
      link.addEventListener('click', () => reissueLink(s.id));
      item.append(join, ' ', link);
    }
    list.append(item);
  }
  const deletes = await showGovernance(caseId, () => showCase(caseId), (said) => {
    nextMessage = said;
    window.location.hash = '';
  });
  await showRecordings(caseId, deletes, () => showCase(caseId));
  show('case-view');
}

/** Show a family link: as a QR code to scan, a short link to type, and in full. */
function showLink(/** @type {string} */ sessionId, /** @type {any} */ created) {
  $('family-link', HTMLInputElement).value = created.family_link;
  $('family-short').textContent = created.short_link || '';
  const shortLine = $('family-short').parentElement;
  if (shortLine) shortLine.hidden = !created.short_link;
  $('family-qr', HTMLImageElement).src = `/api/sessions/${sessionId}/family-link.svg?t=${Date.now()}`;
  $('family-qr').hidden = false;
  $('new-link').hidden = false;
  $('new-link').scrollIntoView({ block: 'nearest' });
}

/** A new family link for an open session (the old one stops working: a link sent to the
 * wrong phone, or lost, is replaced rather than left valid). */
async function reissueLink(/** @type {string} */ sessionId) {
  if (!window.confirm('Make a new family link? The old link stops working, and a family ' +
    'using it now is disconnected until they open the new one.')) return;
  try {
    showLink(sessionId, await api('POST', `/api/sessions/${sessionId}/family-link`));
    notify('New family link made: the old one no longer works.');
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
}

$('login-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
  try {
    const data = await api('POST', '/api/login', Object.fromEntries(form));
    setCsrf(data.csrf);
    if (data.user.role === 'supervisor') {
      window.location.href = '/supervision'; // a supervisor has no cases, only trainees' shares
      return;
    }
    $('who').textContent = data.user.name;
    $('audit-link').hidden = data.user.role !== 'admin';
    $('logout').hidden = false;
    await route();
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('logout').addEventListener('click', async () => {
  leaveLive();
  await api('POST', '/api/logout').catch(() => {});
  setCsrf('');
  window.location.hash = '';
  showLogin();
});
$('new-case-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  try {
    const { case: c } = await api('POST', '/api/cases', { label: new FormData(form).get('label') });
    form.reset();
    window.location.hash = `#case/${c.id}`;
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('new-session').addEventListener('click', async () => {
  const caseId = $('new-session').dataset.caseId;
  if (!caseId) return;
  try {
    const created = await api('POST', `/api/cases/${caseId}/sessions`);
    await showCase(caseId);
    showLink(created.session.id, created);
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('copy-link').addEventListener('click', () => copy($('family-link', HTMLInputElement).value));
$('copy-short').addEventListener('click', () => copy($('family-short').textContent, 'Short link'));
$('dismiss-message').addEventListener('click', () => tell(''));
$('withdrawal-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const caseId = form.dataset.caseId;
  const kept = [...$('withdrawal-purposes').querySelectorAll('input')].filter((i) => i.checked).map((i) => i.name);
  const data = new FormData(form);
  try {
    await api('POST', `/api/cases/${caseId}/consent`, { purposes: kept, how: data.get('how'), note: data.get('note') || '' });
    notify('The withdrawal is recorded and applies now, everywhere.', 8);
    form.reset();
    $('withdrawal', HTMLDetailsElement).open = false;
    await showCase(String(caseId));
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('review-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const caseId = $('review-form').dataset.caseId;
  if (!caseId) return;
  const items = [...$('review-candidates').querySelectorAll('input')].filter((box) => box.checked).map((box) => {
    const [kind, id] = box.value.split(':');
    return { kind, id };
  });
  try {
    const created = await api('POST', `/api/cases/${caseId}/reviews`, { items });
    await showCase(caseId);
    if (created.session) showLink(created.session.id, created);
    notify('Shared review created: send the family the link, then open the review.', 10);
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('back-to-cases').addEventListener('click', (/** @type {Event} */ e) => {
  e.preventDefault();
  window.location.hash = '';
});
window.addEventListener('hashchange', route);

(async () => {
  try {
    const me = await whoAmI();
    if (me.user.role === 'supervisor') {
      window.location.href = '/supervision';
      return;
    }
    $('who').textContent = me.user.name;
    $('audit-link').hidden = me.user.role !== 'admin';
    $('logout').hidden = false;
    await route();
  } catch {
    showLogin();
  }
})();

// The practitioner's page: log in, cases, a case's sessions, recordings, clips and reviews.
// The live filming view lives in live.js.
import { api, ApiError, setCsrf, whoAmI } from './api.js';
import { day, showGovernance } from './governance.js';
import { isLive, leaveLive, openLive } from './live.js';
import { $, copy, labelCells, notify, PURPOSE_NAMES, tell } from './ui.js';

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

/** Clips and stills that can go into a shared review (consent permitting). */
async function showReviewCandidates(/** @type {string} */ caseId) {
  const { items } = await api('GET', `/api/cases/${caseId}/review-items`);
  const list = $('review-candidates');
  list.replaceChildren();
  for (const item of items) {
    const entry = document.createElement('li');
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = `${item.kind}:${item.id}`;
    box.disabled = !item.eligible;
    label.append(box, ` ${item.kind === 'still' ? 'Still' : 'Clip'}: ${item.title}`);
    if (!item.eligible) label.append(' (no consent for shared review)');
    entry.append(label);
    list.append(entry);
  }
  $('review-form').dataset.caseId = caseId;
  $('create-review', HTMLButtonElement).disabled = !items.some((/** @type {any} */ i) => i.eligible);
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

const USE_NAMES = /** @type {Record<string, string>} */ ({
  analyse: 'analysis', review: 'shared review', replay: 'replay', supervise: 'supervision',
});

/** What the family's current consent allows for a recording, in words. @param {Record<string, boolean>} allowed */
function allowedUses(allowed) {
  const uses = Object.keys(USE_NAMES).filter((use) => allowed[use] && use !== 'replay');
  return uses.length ? `Now allowed: ${uses.map((use) => USE_NAMES[use]).join(', ')}` : 'Nothing (withdrawn)';
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
  await showRecordings(caseId, deletes);
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

/**
 * The case's recordings, with when each is deleted.
 * @param {string} caseId @param {Record<string, number>} deletes recording id -> deletion time
 */
async function showRecordings(caseId, deletes) {
  const { recordings } = await api('GET', `/api/cases/${caseId}/recordings`);
  const body = $('recordings', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const r of recordings) {
    const row = document.createElement('tr');
    row.dataset.recordingId = r.id;
    const minutes = Math.floor(r.duration_s / 60);
    const seconds = String(Math.floor(r.duration_s % 60)).padStart(2, '0');
    const cells = [
      new Date(r.started_at * 1000).toLocaleString(),
      `${minutes}:${seconds}`,
      r.status,
      String(r.bookmarks.length),
      allowedUses(r.allowed),
      `${(r.size_bytes / 1e6).toFixed(1)} MB`,
      r.status === 'expired' ? 'Deleted (retention)' : deletes[r.id] ? day(deletes[r.id]) : 'Not set yet',
    ];
    for (const text of cells) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const cell = document.createElement('td');
    // The actions keep apart from each other; Delete is set off from the others (style.css).
    const actions = document.createElement('div');
    actions.className = 'actions';
    cell.append(actions);
    // Only what the family's current consent allows is offered.
    if (r.allowed.analyse) {
      const open = document.createElement('a');
      open.href = `/analysis/${r.id}`;
      open.textContent = 'Analyse';
      open.className = 'button analyse';
      actions.append(open);
    }
    if (r.kind === 'review' && r.allowed.replay) {
      const replay = document.createElement('a');
      replay.href = `/replay/${r.id}`;
      replay.textContent = 'Replay';
      replay.className = 'button replay';
      actions.append(replay);
    }
    if (r.kind === 'review' && r.allowed.replay) actions.append(shareButton('recording', r.id, 'The recorded review'));
    if (!r.allowed.analyse && !(r.kind === 'review' && r.allowed.replay)) {
      const why = document.createElement('span');
      why.textContent = 'Not available: the family has not agreed (or has withdrawn).';
      actions.append(why);
    }
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Delete';
    remove.className = 'delete-recording delete';
    remove.addEventListener('click', async () => {
      if (!window.confirm('Delete this recording and every clip and still made from it? This cannot be undone.')) return;
      try {
        await api('DELETE', `/api/recordings/${r.id}`);
        await showCase(caseId);
      } catch (error) {
        tell(/** @type {Error} */ (error).message);
      }
    });
    actions.append(remove);
    row.append(cell);
    body.append(row);
  }
  labelCells($('recordings', HTMLTableElement));
  await showClips(caseId, recordings);
}

/**
 * "Share with my supervisor" for a recorded review or a still (the server checks the family's
 * consent and says why it refuses).
 * @param {'recording'|'still'} kind @param {string} id @param {string} what
 */
function shareButton(kind, id, what) {
  const share = document.createElement('button');
  share.type = 'button';
  share.textContent = 'Share with my supervisor';
  share.className = 'share';
  share.addEventListener('click', async () => {
    try {
      await api('POST', '/api/shares', { kind, id });
      notify(`${what} is shared with your supervisor (see Supervision).`, 8);
    } catch (error) {
      tell(/** @type {Error} */ (error).message);
    }
  });
  return share;
}

/**
 * The case's clips in their order, with what a practitioner does to them.
 * @param {string} caseId @param {{id: string, started_at: number}[]} recordings
 */
async function showClips(caseId, recordings) {
  const { clips } = await api('GET', `/api/cases/${caseId}/clips`);
  const body = $('clips', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  const when = Object.fromEntries(recordings.map((r) => [r.id, new Date(r.started_at * 1000).toLocaleString()]));
  clips.forEach((/** @type {any} */ clip, /** @type {number} */ index) => {
    const row = document.createElement('tr');
    row.dataset.clipId = clip.id;
    const poster = document.createElement(clip.available ? 'img' : 'span');
    if (clip.available) {
      /** @type {HTMLImageElement} */ (poster).src = clip.poster_url;
      /** @type {HTMLImageElement} */ (poster).alt = `First frame of ${clip.title}`;
    } else {
      poster.textContent = 'Not available (consent withdrawn)';
    }
    const cells = [poster, clip.title, `${clip.duration_s.toFixed(1)} s`, clip.tags.join(', '), when[clip.recording_id] || ''];
    for (const content of cells) {
      const cell = document.createElement('td');
      cell.append(content);
      row.append(cell);
    }
    const cell = document.createElement('td');
    const actions = document.createElement('div');
    actions.className = 'actions';
    cell.append(actions);
    const button = (/** @type {string} */ label, /** @type {() => Promise<void>} */ act, spoken = '', className = '') => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      if (className) b.className = className;
      if (spoken) b.setAttribute('aria-label', spoken); // "↑" alone says nothing to a screen reader
      b.addEventListener('click', () => act().then(() => showCase(caseId)).catch((e) => tell(e.message)));
      actions.append(b);
    };
    if (index > 0) button('↑', () => api('PATCH', `/api/clips/${clip.id}`, { position: index - 1 }), `Move “${clip.title}” up`);
    if (index < clips.length - 1) button('↓', () => api('PATCH', `/api/clips/${clip.id}`, { position: index + 1 }), `Move “${clip.title}” down`);
    button('Rename', async () => {
      const title = window.prompt('New title', clip.title);
      if (title) await api('PATCH', `/api/clips/${clip.id}`, { title });
    });
    if (clip.available) {
      const trim = document.createElement('a');
      trim.href = `/analysis/${clip.recording_id}?clip=${clip.id}`;
      trim.textContent = 'Re-trim';
      trim.className = 'button';
      actions.append(trim);
    }
    if (clip.available) {
      button('Share with my supervisor', async () => {
        await api('POST', '/api/shares', { kind: 'clip', id: clip.id });
        notify(`“${clip.title}” is shared with your supervisor (see Supervision).`, 8);
      }, '', 'share');
    }
    button('Delete', async () => {
      if (window.confirm(`Delete the clip "${clip.title}"?`)) await api('DELETE', `/api/clips/${clip.id}`);
    }, '', 'delete');
    row.append(cell);
    body.append(row);
  });
  labelCells($('clips', HTMLTableElement));
  await showReviewCandidates(caseId);
  const { stills } = await api('GET', `/api/cases/${caseId}/stills`);
  const box = $('stills');
  box.replaceChildren();
  for (const still of stills) {
    const figure = document.createElement('figure');
    const image = document.createElement(still.available ? 'img' : 'span');
    if (still.available) {
      /** @type {HTMLImageElement} */ (image).src = still.image_url;
      /** @type {HTMLImageElement} */ (image).alt = still.caption || `Frame ${still.frame}`;
    } else {
      image.textContent = 'Not available (consent withdrawn)';
    }
    const caption = document.createElement('figcaption');
    caption.textContent = `${still.caption || 'Still'} (frame ${still.frame})`;
    figure.append(image, caption);
    if (still.available) figure.append(shareButton('still', still.id, 'The still'));
    box.append(figure);
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

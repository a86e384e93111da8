// The practitioner's page: log in, cases, a case's sessions, recordings, clips and reviews.
// The live filming view lives in live.js.
import { api, setCsrf, whoAmI } from './api.js';
import { isLive, leaveLive, openLive } from './live.js';
import { $, copy, PURPOSE_NAMES, tell } from './ui.js';

function show(/** @type {string} */ view) {
  for (const id of ['login-view', 'cases-view', 'case-view', 'live-view']) $(id).hidden = id !== view;
}

async function route() {
  tell('');
  if (isLive() && !window.location.hash.startsWith('#live/')) leaveLive();
  const [view, id] = window.location.hash.slice(1).split('/');
  try {
    if (view === 'case' && id) await showCase(id);
    else if (view === 'live' && id) {
      show('live-view');
      await openLive(id);
    }
    else await showCases();
  } catch (error) {
    if (/** @type {any} */ (error).status === 401) showLogin();
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
  $('create-review').disabled = !items.some((/** @type {any} */ i) => i.eligible);
}

function showLogin() {
  $('who').textContent = '';
  $('logout').hidden = true;
  show('login-view');
}

async function showCases() {
  const { cases } = await api('GET', '/api/cases');
  const list = $('cases');
  list.replaceChildren();
  for (const c of cases) {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = `#case/${c.id}`;
    link.textContent = c.label;
    item.append(link);
    list.append(item);
  }
  if (!cases.length) list.textContent = 'No cases yet.';
  show('cases-view');
}

async function showCase(/** @type {string} */ caseId) {
  const { case: c, sessions } = await api('GET', `/api/cases/${caseId}`);
  $('case-title').textContent = c.label;
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
      item.append(join);
    }
    list.append(item);
  }
  await showRecordings(caseId);
  show('case-view');
}

async function showRecordings(/** @type {string} */ caseId) {
  const { recordings } = await api('GET', `/api/cases/${caseId}/recordings`);
  const body = $('recordings').querySelector('tbody');
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
      r.purposes.map((/** @type {string} */ p) => PURPOSE_NAMES[p] || p).join(', '),
      `${(r.size_bytes / 1e6).toFixed(1)} MB`,
    ];
    for (const text of cells) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const open = document.createElement('a');
    open.href = `/analysis/${r.id}`;
    open.textContent = 'Analyse';
    open.className = 'button analyse';
    const cell = document.createElement('td');
    cell.append(open);
    row.append(cell);
    body.append(row);
  }
  await showClips(caseId, recordings);
}

/**
 * The case's clips in their order, with what a practitioner does to them.
 * @param {string} caseId @param {{id: string, started_at: number}[]} recordings
 */
async function showClips(caseId, recordings) {
  const { clips } = await api('GET', `/api/cases/${caseId}/clips`);
  const body = $('clips').querySelector('tbody');
  body.replaceChildren();
  const when = Object.fromEntries(recordings.map((r) => [r.id, new Date(r.started_at * 1000).toLocaleString()]));
  clips.forEach((/** @type {any} */ clip, /** @type {number} */ index) => {
    const row = document.createElement('tr');
    row.dataset.clipId = clip.id;
    const poster = document.createElement('img');
    poster.src = clip.poster_url;
    poster.alt = `First frame of ${clip.title}`;
    const cells = [poster, clip.title, `${clip.duration_s.toFixed(1)} s`, clip.tags.join(', '), when[clip.recording_id] || ''];
    for (const content of cells) {
      const cell = document.createElement('td');
      cell.append(content);
      row.append(cell);
    }
    const actions = document.createElement('td');
    const button = (/** @type {string} */ label, /** @type {() => Promise<void>} */ act) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.addEventListener('click', () => act().then(() => showCase(caseId)).catch((e) => tell(e.message)));
      actions.append(b);
    };
    if (index > 0) button('↑', () => api('PATCH', `/api/clips/${clip.id}`, { position: index - 1 }));
    if (index < clips.length - 1) button('↓', () => api('PATCH', `/api/clips/${clip.id}`, { position: index + 1 }));
    button('Rename', async () => {
      const title = window.prompt('New title', clip.title);
      if (title) await api('PATCH', `/api/clips/${clip.id}`, { title });
    });
    const trim = document.createElement('a');
    trim.href = `/analysis/${clip.recording_id}?clip=${clip.id}`;
    trim.textContent = 'Re-trim';
    trim.className = 'button';
    actions.append(trim);
    button('Delete', async () => {
      if (window.confirm(`Delete the clip "${clip.title}"?`)) await api('DELETE', `/api/clips/${clip.id}`);
    });
    row.append(actions);
    body.append(row);
  });
  await showReviewCandidates(caseId);
  const { stills } = await api('GET', `/api/cases/${caseId}/stills`);
  const box = $('stills');
  box.replaceChildren();
  for (const still of stills) {
    const figure = document.createElement('figure');
    const image = document.createElement('img');
    image.src = still.image_url;
    image.alt = still.caption || `Frame ${still.frame}`;
    const caption = document.createElement('figcaption');
    caption.textContent = `${still.caption || 'Still'} (frame ${still.frame})`;
    figure.append(image, caption);
    box.append(figure);
  }
}

$('login-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
  try {
    const data = await api('POST', '/api/login', Object.fromEntries(form));
    setCsrf(data.csrf);
    $('who').textContent = data.user.name;
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
  try {
    const created = await api('POST', `/api/cases/${caseId}/sessions`);
    await showCase(caseId);
    $('family-link').value = created.family_link;
    $('new-link').hidden = false;
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('copy-link').addEventListener('click', () => copy($('family-link').value));
$('review-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const caseId = $('review-form').dataset.caseId;
  const items = [...$('review-candidates').querySelectorAll('input:checked')].map((box) => {
    const [kind, id] = box.value.split(':');
    return { kind, id };
  });
  try {
    const created = await api('POST', `/api/cases/${caseId}/reviews`, { items });
    await showCase(caseId);
    $('family-link').value = created.family_link;
    $('new-link').hidden = false;
    tell('Shared review created: send the family the link, then open the review.');
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
    $('who').textContent = me.user.name;
    $('logout').hidden = false;
    await route();
  } catch {
    showLogin();
  }
})();

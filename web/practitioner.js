// The practitioner's page: log in, cases, sessions, and the live filming view.
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
/** @type {string} */ let csrf = '';
/** @type {ServerConnection|null} */ let live = null;
/** @type {MediaStream|null} */ let myStream = null;
/** @type {import('./protocol.js').Consent|null} */ let consent = null;
/** @type {string} */ let recState = 'idle';
let familyConnected = false;
const timer = recordingTimer((text) => {
  $('rec-timer').textContent = text;
});
const PURPOSE_NAMES = /** @type {Record<string, string>} */ ({
  analysis: 'your analysis',
  shared_review: 'shared review',
  supervision: 'supervision',
  training: 'training',
});

/**
 * Call the REST API; throws an Error carrying the server's readable message.
 * @param {string} method @param {string} path @param {object} [body]
 */
async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((data.error && data.error.message) || response.statusText);
    /** @type {any} */ (error).status = response.status;
    throw error;
  }
  return data;
}

function show(/** @type {string} */ view) {
  for (const id of ['login-view', 'cases-view', 'case-view', 'live-view']) $(id).hidden = id !== view;
}

function tell(/** @type {string} */ text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

async function route() {
  tell('');
  if (live && !window.location.hash.startsWith('#live/')) leaveLive();
  const [view, id] = window.location.hash.slice(1).split('/');
  try {
    if (view === 'case' && id) await showCase(id);
    else if (view === 'live' && id) await showLive(id);
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

async function showLive(/** @type {string} */ sessionId) {
  show('live-view');
  if (live && live.sessionId === sessionId) return;
  leaveLive();
  const connection = new ServerConnection(signallingUrl(), async () => {
    const { token } = await api('POST', `/api/sessions/${sessionId}/join-token`);
    return token;
  });
  /** @type {any} */ (connection).sessionId = sessionId;
  live = connection;
  connection.onlinkstate = (state, detail) => {
    $('live-state').textContent = { connecting: 'Connecting…', connected: 'Connected',
      reconnecting: 'Reconnecting…', closed: `Disconnected${detail ? `: ${detail}` : ''}` }[state];
  };
  connection.onmediastate = (state) => {
    $('live-state').textContent = `Media: ${state}`;
  };
  connection.onparticipants = (participants) => renderParticipants(participants);
  connection.onremotestream = (stream, slot) => {
    if (slot === 'camera') $('family-video').srcObject = stream;
  };
  connection.onusererror = (_code, message) => tell(message);
  connection.onended = () => {
    tell('The session has ended.');
    leaveLive();
  };
  connection.onfatal = (_code, reason) => tell(`Disconnected: ${reason}`);
  connection.onconsent = (given) => {
    consent = given;
    $('consent-summary').textContent = given && given.purposes.length
      ? `The family agreed to: ${given.purposes.map((p) => PURPOSE_NAMES[p] || p).join(', ')}` +
        ` (${new Date(given.given_at * 1000).toLocaleTimeString()}, wording ${given.wording_version}).`
      : given ? 'The family did not agree to recording.' : 'The family has not agreed to recording yet.';
    updateRecordControls();
  };
  connection.onrecording = (status) => {
    recState = status.state;
    $('rec-indicator').hidden = !(status.state === 'recording' || status.state === 'paused');
    $('rec-indicator').dataset.state = status.state;
    $('rec-label').textContent = status.state === 'paused'
      ? `Paused${status.paused_by === 'family' ? ' by the family' : ''}` : 'Recording';
    timer.update(status);
    if (status.message) tell(status.message);
    $('rec-resume').disabled = status.paused_by === 'family';
    updateRecordControls();
  };
  connection.onmessage = (message) => {
    if (message.type === 'bookmarked') tell(`Moment marked at ${message.t_s.toFixed(1)} s.`);
  };
  await connection.start();
}

/** @param {import('./protocol.js').Participant[]} participants */
function renderParticipants(participants) {
  const list = $('participants');
  list.replaceChildren();
  for (const p of participants) {
    const item = document.createElement('li');
    item.textContent = `${p.name} (${p.role}) — media: ${p.media}`;
    item.dataset.role = p.role;
    list.append(item);
  }
  const family = participants.find((p) => p.role === 'family');
  $('family-state').textContent = family
    ? `Family: ${family.media === 'connected' ? 'connected' : family.media}`
    : 'Family not connected';
  $('family-state').dataset.state = family ? family.media : 'absent';
  familyConnected = Boolean(family && family.media === 'connected');
  updateRecordControls();
}

/** The record button works only with the family's consent and their camera connected. */
function updateRecordControls() {
  const active = recState === 'recording' || recState === 'paused';
  const allowed = Boolean(consent && consent.purposes.includes('analysis'));
  $('rec-start').hidden = active;
  $('rec-start').disabled = !allowed || !familyConnected;
  $('rec-start').title = allowed ? '' : 'The family has not agreed to recording';
  $('rec-pause').hidden = recState !== 'recording';
  $('rec-resume').hidden = recState !== 'paused';
  $('rec-stop').hidden = !active;
  $('bookmark').hidden = !active;
  $('bookmark-note').hidden = !active;
}

function leaveLive() {
  if (live) live.close();
  live = null;
  consent = null;
  recState = 'idle';
  familyConnected = false;
  $('rec-indicator').hidden = true;
  updateRecordControls();
  if (myStream) myStream.getTracks().forEach((t) => t.stop());
  myStream = null;
  $('self-view').hidden = true;
  setPressed('toggle-camera', false, 'Turn my camera on', 'Turn my camera off');
  setPressed('toggle-mic', false, 'Unmute me', 'Mute me');
}

/** @param {string} id @param {boolean} on @param {string} offText @param {string} onText */
function setPressed(id, on, offText, onText) {
  $(id).setAttribute('aria-pressed', String(on));
  $(id).textContent = on ? onText : offText;
}

/** Filming mode is the default: nothing is sent until the practitioner turns it on. */
async function toggle(/** @type {'audio'|'video'} */ kind) {
  if (!live) return;
  const current = live.localTracks[kind];
  if (current) {
    current.stop();
    await live.setLocalTrack(kind, null);
  } else {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: true });
      const track = stream.getTracks()[0];
      await live.setLocalTrack(kind, track);
      if (kind === 'video') {
        myStream = stream;
        $('self-view').srcObject = stream;
      }
    } catch {
      tell(`Your ${kind === 'video' ? 'camera' : 'microphone'} could not be opened.`);
      return;
    }
  }
  const on = Boolean(live.localTracks[kind]);
  if (kind === 'video') {
    $('self-view').hidden = !on;
    setPressed('toggle-camera', on, 'Turn my camera on', 'Turn my camera off');
  } else {
    setPressed('toggle-mic', on, 'Unmute me', 'Mute me');
  }
}

async function copy(/** @type {string} */ text) {
  try {
    await navigator.clipboard.writeText(text);
    tell('Link copied.');
  } catch {
    tell(text);
  }
}

$('login-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
  try {
    const data = await api('POST', '/api/login', Object.fromEntries(form));
    csrf = data.csrf;
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
  csrf = '';
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
$('toggle-camera').addEventListener('click', () => toggle('video'));
$('toggle-mic').addEventListener('click', () => toggle('audio'));
$('switch-family-camera').addEventListener('click', () => {
  if (live) live.send({ type: 'control', action: 'switch-camera' });
});
$('family-link-live').addEventListener('click', async () => {
  if (!live) return;
  const { family_link: link } = await api('POST', `/api/sessions/${/** @type {any} */ (live).sessionId}/family-link`);
  await copy(link);
});
for (const action of ['start', 'pause', 'resume', 'stop']) {
  $(`rec-${action}`).addEventListener('click', () => {
    if (live) live.send({ type: 'record', action });
  });
}
$('bookmark').addEventListener('click', () => {
  if (!live) return;
  live.send({ type: 'bookmark', note: $('bookmark-note').value });
  $('bookmark-note').value = '';
});
$('end-session').addEventListener('click', async () => {
  if (!live || !window.confirm('End this session for everyone?')) return;
  live.send({ type: 'end' });
});
window.addEventListener('hashchange', route);

(async () => {
  try {
    const me = await api('GET', '/api/me');
    csrf = me.csrf;
    $('who').textContent = me.user.name;
    $('logout').hidden = false;
    await route();
  } catch {
    showLogin();
  }
})();

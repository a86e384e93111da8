// The live filming view of the practitioner's page: watch the family, record, bookmark.
// Filming mode is the default: the practitioner's camera and microphone stay off.
import { api } from './api.js';
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';
import { $, copy, familyWords, mediaWords, notify, PURPOSE_NAMES, tell } from './ui.js';

/** @type {ServerConnection|null} */ let live = null;
/** @type {string|null} */ let liveSession = null;
/** @type {MediaStream|null} */ let myStream = null;
/** @type {import('./protocol.js').Consent|null} */ let consent = null;
/** @type {string} */ let recState = 'idle';
/** @type {string} */ let linkState = 'connecting';
/** The family's presence: 'absent' (not joined yet), 'left', or their media state. */
let familyState = 'absent';
let familyWasHere = false;
let familyConnected = false;
let pending = false; // a record command is on its way: its button must not take a second click
/** @type {(caseId: string) => void} */ let whenEnded = () => {};
const timer = recordingTimer((text) => {
  $('rec-timer').textContent = text;
});

/** Whether the live view is open (on this session, if given). @param {string} [sessionId] */
export function isLive(sessionId) {
  return Boolean(live) && (sessionId === undefined || liveSession === sessionId);
}

/**
 * Open the live view of a session; `onEnded` is told the case when the session ends (the page
 * then leaves the live view, so no control is left that does nothing).
 * @param {string} sessionId @param {(caseId: string) => void} onEnded
 */
export async function openLive(sessionId, onEnded) {
  if (isLive(sessionId)) return;
  leaveLive();
  const { session } = await api('GET', `/api/sessions/${sessionId}`);
  whenEnded = onEnded;
  if (session.status !== 'open') {
    onEnded(session.case_id);
    return;
  }
  const connection = new ServerConnection(signallingUrl(), async () => {
    const { token } = await api('POST', `/api/sessions/${sessionId}/join-token`);
    return token;
  });
  live = connection;
  liveSession = sessionId;
  $('after-stop').hidden = true;
  connection.onwelcome = () => sendMuted(connection); // a new connection starts with nothing off
  connection.onlinkstate = (state, detail) => {
    if (live !== connection) return; // a view left earlier closing late
    linkState = state;
    $('live-state').textContent = { connecting: 'Connecting…', connected: 'Online',
      reconnecting: 'Connection lost: reconnecting… (recording state unknown)',
      closed: `Disconnected${detail ? `: ${detail}` : ''}` }[state];
    $('live-state').dataset.state = state;
    if (state !== 'connected') showUnknown();
    showFamily();
  };
  connection.onmediastate = (state) => {
    $('live-state').textContent = mediaWords(state);
  };
  connection.onparticipants = (participants) => renderParticipants(participants);
  connection.onremotestream = (stream, slot) => {
    if (slot === 'camera') $('family-video', HTMLVideoElement).srcObject = stream;
  };
  connection.onusererror = (_code, message) => {
    pending = false; // a refused command: its buttons work again
    updateRecordControls();
    tell(message);
  };
  connection.onended = () => {
    leaveLive();
    whenEnded(session.case_id);
  };
  connection.onfatal = (code, reason) => tell(code === 401
    ? 'You are no longer logged in: reload the page and log in again.'
    : `Disconnected: ${reason}`);
  connection.onconsent = (given, _wording, context) => {
    // Recording needs the family's answer in this call; earlier choices are shown pre-ticked.
    consent = context.confirmed ? given : null;
    const agreed = given && given.purposes.length
      ? `The family agreed to: ${given.purposes.map((p) => PURPOSE_NAMES[p] || p).join(', ')}` +
        ` (${new Date(given.given_at * 1000).toLocaleString()}).`
      : given ? 'The family did not agree to recording.' : 'The family has not agreed to recording yet.';
    $('consent-summary').textContent = context.confirmed || !given
      ? agreed
      : `${agreed} Waiting for the family to confirm their choices in this call.`;
    updateRecordControls();
  };
  connection.onrecording = (status) => {
    pending = false;
    recState = status.state;
    $('rec-indicator').hidden = !(status.state === 'recording' || status.state === 'paused');
    $('rec-indicator').dataset.state = status.state;
    $('rec-label').textContent = status.state === 'paused'
      ? `Paused${status.paused_by === 'family' ? ' by the family' : ''}` : 'Recording';
    timer.update(status);
    if (status.message) tell(status.message);
    if (status.state === 'stopped' && status.recording_id) {
      $('analyse-link', HTMLAnchorElement).href = `/analysis/${status.recording_id}`;
      $('after-stop').hidden = false;
    } else if (status.state === 'recording') {
      $('after-stop').hidden = true;
    }
    $('rec-resume', HTMLButtonElement).disabled = status.paused_by === 'family';
    updateRecordControls();
    showFamily();
  };
  connection.onmessage = (message) => {
    if (message.type === 'bookmarked') notify(`Moment marked at ${message.t_s.toFixed(1)} s.`);
  };
  await connection.start();
}

/** Cut off from the server: stop the timer and claim nothing until it speaks again. */
function showUnknown() {
  timer.stop();
  recState = 'unknown';
  pending = false;
  familyConnected = false;
  $('rec-indicator').hidden = true;
  $('rec-indicator').dataset.state = 'unknown';
  $('participants').replaceChildren();
  $('family-state').textContent = 'Family: unknown while reconnecting';
  $('family-state').dataset.state = 'unknown';
  updateRecordControls();
}

/** @param {import('./protocol.js').Participant[]} participants */
function renderParticipants(participants) {
  const list = $('participants');
  list.replaceChildren();
  for (const p of participants) {
    if (p.role === 'recorder') continue;
    const item = document.createElement('li');
    const link = { connected: 'connected', new: 'joining', connecting: 'connecting',
      disconnected: 'connection interrupted', failed: 'connection lost' }[p.media] || p.media;
    item.textContent = `${p.role === 'family' ? 'The family' : `${p.name} (you)`}: ${link}`;
    item.dataset.role = p.role;
    list.append(item);
  }
  const family = participants.find((p) => p.role === 'family');
  if (family) familyWasHere = true;
  familyState = family ? family.media : familyWasHere ? 'left' : 'absent';
  $('family-state').textContent = familyWords(familyState, (family && family.muted) || []);
  $('family-state').dataset.state = familyState;
  familyConnected = Boolean(family && family.media === 'connected');
  updateRecordControls();
  showFamily();
}

/** Say plainly when the family's picture is not live: over the video (never a frozen
 * picture), and above it when a recording is running. */
function showFamily() {
  const recording = recState === 'recording' || recState === 'paused';
  let note = '';
  if (linkState !== 'connected') note = 'Connection lost: reconnecting…';
  else if (familyState === 'left') note = 'The family has left the call.';
  else if (familyState === 'disconnected' || familyState === 'failed') note = 'The family\'s connection was lost.';
  else if (familyState === 'absent') note = 'Waiting for the family to join…';
  else if (!familyConnected) note = 'The family\'s video is connecting…';
  $('stage-note').textContent = note;
  $('stage-note').hidden = !note;
  $('family-video').classList.toggle('stale', Boolean(note));
  const alert = recording && note && linkState === 'connected'
    ? `${note} The recording goes on and marks the gap; stop it if they are not coming back.` : '';
  $('family-alert').textContent = alert;
  $('family-alert').hidden = !alert;
}

/** Why Record cannot be pressed now, in words ('' when it can): first whether the family is
 * here at all, then their answer, then their video. */
function recordBlocked() {
  if (linkState !== 'connected' || recState === 'unknown') return 'Record is off while the connection is lost.';
  if (familyState === 'absent') return 'Record is off until the family is here (they have not opened their link yet).';
  if (familyState === 'left') return 'Record is off: the family has left the call.';
  if (!consent || !consent.purposes.includes('analysis')) {
    return 'Record is off until the family agrees to recording, on their phone, in this call.';
  }
  if (!familyConnected) return 'Record is off until the family\'s video is on.';
  return '';
}

/** Record, Pause and Stop each keep their place; what cannot be used now is disabled. */
function updateRecordControls() {
  const active = recState === 'recording' || recState === 'paused';
  const blocked = recordBlocked();
  $('rec-start', HTMLButtonElement).disabled = active || pending || Boolean(blocked);
  $('rec-start').title = blocked;
  $('rec-reason').textContent = active ? '' : blocked;
  $('rec-reason').hidden = active || !blocked;
  $('rec-pause').hidden = recState === 'paused';
  $('rec-pause', HTMLButtonElement).disabled = recState !== 'recording' || pending;
  $('rec-resume').hidden = recState !== 'paused';
  $('rec-stop', HTMLButtonElement).disabled = !active || pending;
  $('bookmark', HTMLButtonElement).disabled = !active;
  $('bookmark-note', HTMLInputElement).disabled = !active;
}

export function leaveLive() {
  if (live) live.close();
  live = null;
  liveSession = null;
  consent = null;
  recState = 'idle';
  linkState = 'connecting';
  familyState = 'absent';
  familyWasHere = false;
  familyConnected = false;
  pending = false;
  timer.stop();
  $('rec-indicator').hidden = true;
  $('family-video', HTMLVideoElement).srcObject = null;
  $('family-alert').hidden = true;
  $('participants').replaceChildren();
  $('live-state').textContent = 'Connecting…';
  $('live-state').dataset.state = 'connecting';
  $('family-state').textContent = familyWords('absent');
  $('family-state').dataset.state = 'absent';
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
        $('self-view', HTMLVideoElement).srcObject = stream;
      }
    } catch {
      tell(`Your ${kind === 'video' ? 'camera' : 'microphone'} could not be opened.`);
      return;
    }
  }
  sendMuted(live);
  const on = Boolean(live.localTracks[kind]);
  if (kind === 'video') {
    $('self-view').hidden = !on;
    setPressed('toggle-camera', on, 'Turn my camera on', 'Turn my camera off');
  } else {
    setPressed('toggle-mic', on, 'Unmute me', 'Mute me');
  }
}

/** Tell the server what is off, so the family knows why they cannot hear or see us. */
function sendMuted(/** @type {ServerConnection} */ connection) {
  const off = /** @type {('audio'|'video')[]} */ (['audio', 'video']).filter((k) => !connection.localTracks[k]);
  connection.send({ type: 'muted', off });
}

/** Send a record command once: its buttons wait for the server's answer. */
function record(/** @type {import('./messages').RecordAction} */ action) {
  const button = $(`rec-${action}`, HTMLButtonElement);
  if (!live || button.disabled) return;
  pending = true;
  updateRecordControls();
  live.send({ type: 'record', action });
}

function bookmark() {
  if (!live || $('bookmark', HTMLButtonElement).disabled) return;
  live.send({ type: 'bookmark', note: $('bookmark-note', HTMLInputElement).value });
  $('bookmark-note', HTMLInputElement).value = '';
}

$('toggle-camera').addEventListener('click', () => toggle('video'));
$('toggle-mic').addEventListener('click', () => toggle('audio'));
$('switch-family-camera').addEventListener('click', () => {
  if (live) live.send({ type: 'control', action: 'switch-camera' });
});
$('family-link-live').addEventListener('click', async () => {
  if (!live || !window.confirm('Make a new family link? The old link stops working, and a ' +
    'family using it now is disconnected until they open the new one.')) return;
  const { family_link: link } = await api('POST', `/api/sessions/${liveSession}/family-link`);
  await copy(link, 'New family link');
});
for (const action of /** @type {const} */ (['start', 'pause', 'resume', 'stop'])) {
  $(`rec-${action}`).addEventListener('click', () => record(action));
}
$('bookmark').addEventListener('click', bookmark);
$('end-session').addEventListener('click', async () => {
  if (!live || !window.confirm('End this session for everyone?')) return;
  live.send({ type: 'end' });
});
// R record / stop, P pause / resume, B mark a moment (not while typing a note).
document.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
  if (!live || $('live-view').hidden || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const target = /** @type {HTMLElement} */ (event.target);
  if (target.closest('input, textarea, select, [contenteditable]')) return;
  const key = event.key.toLowerCase();
  const active = recState === 'recording' || recState === 'paused';
  if (key === 'r') record(active ? 'stop' : 'start');
  else if (key === 'p' && recState === 'recording') record('pause');
  else if (key === 'p' && recState === 'paused') record('resume');
  else if (key === 'b') bookmark();
  else return;
  event.preventDefault();
});

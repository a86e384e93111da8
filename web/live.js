// The live filming view of the practitioner's page: watch the family, record, bookmark.
// Filming mode is the default: the practitioner's camera and microphone stay off.
import { api } from './api.js';
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';
import { $, copy, PURPOSE_NAMES, tell } from './ui.js';

/** @type {ServerConnection|null} */ let live = null;
/** @type {string|null} */ let liveSession = null;
/** @type {MediaStream|null} */ let myStream = null;
/** @type {import('./protocol.js').Consent|null} */ let consent = null;
/** @type {string} */ let recState = 'idle';
let familyConnected = false;
const timer = recordingTimer((text) => {
  $('rec-timer').textContent = text;
});

/** Whether the live view is open (on this session, if given). @param {string} [sessionId] */
export function isLive(sessionId) {
  return Boolean(live) && (sessionId === undefined || liveSession === sessionId);
}

export async function openLive(/** @type {string} */ sessionId) {
  if (isLive(sessionId)) return;
  leaveLive();
  const connection = new ServerConnection(signallingUrl(), async () => {
    const { token } = await api('POST', `/api/sessions/${sessionId}/join-token`);
    return token;
  });
  live = connection;
  liveSession = sessionId;
  connection.onlinkstate = (state, detail) => {
    if (live !== connection) return; // a view left earlier closing late
    $('live-state').textContent = { connecting: 'Connecting…', connected: 'Connected',
      reconnecting: 'Reconnecting… (recording state unknown)',
      closed: `Disconnected${detail ? `: ${detail}` : ''}` }[state];
    $('live-state').dataset.state = state;
    if (state !== 'connected') showUnknown();
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

/** Cut off from the server: stop the timer and claim nothing until it speaks again. */
function showUnknown() {
  timer.stop();
  recState = 'unknown';
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

export function leaveLive() {
  if (live) live.close();
  live = null;
  liveSession = null;
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

$('toggle-camera').addEventListener('click', () => toggle('video'));
$('toggle-mic').addEventListener('click', () => toggle('audio'));
$('switch-family-camera').addEventListener('click', () => {
  if (live) live.send({ type: 'control', action: 'switch-camera' });
});
$('family-link-live').addEventListener('click', async () => {
  if (!live) return;
  const { family_link: link } = await api('POST', `/api/sessions/${liveSession}/family-link`);
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

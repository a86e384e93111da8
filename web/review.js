// The practitioner's shared-review page: drive the clip the server plays into the call.
import { api, whoAmI } from './api.js';
import { $, cannotOpen, familyWords, mediaWords, tell } from './ui.js';
import { toggleDevice } from './devices.js';
import { renderPlayer, wirePlayerControls } from './player-view.js';
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';

const sessionId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
/** @type {import('./protocol.js').ReviewState|null} */ let state = null;
/** @type {import('./protocol.js').Consent|null} */ let consent = null;
let recState = 'idle';
/** Whether the family has been in this review (so that their absence reads "has left"). */
let familyWasHere = false;
/** After "End review" (or a final disconnect) nothing on the page may look live again. */
let ended = false;
const timer = recordingTimer((text) => {
  $('rec-timer').textContent = text;
});


/** @type {ServerConnection} */
const connection = new ServerConnection(signallingUrl(), async () => {
  const { token } = await api('POST', `/api/sessions/${sessionId}/join-token`);
  return token;
});

/** @param {Omit<import('./messages').ReviewCommand, 'type'>} fields */
function command(fields) {
  connection.send({ type: 'review', ...fields });
}

/** @param {import('./protocol.js').ReviewState} next */
function renderState(next) {
  state = next;
  renderPlayer(next, command);
  const request = state.pause_request;
  $('pause-request').hidden = !request;
  if (request) $('request-frame').textContent = String(request.frame);
}

function updateRecordControls() {
  if (ended) return;
  const active = recState === 'recording' || recState === 'paused';
  $('rec-start').hidden = active;
  $('rec-start', HTMLButtonElement).disabled = !(consent && consent.purposes.includes('supervision'));
  $('rec-stop').hidden = !active;
}

connection.onlinkstate = (linkState) => {
  if (ended) return;
  $('live-state').textContent = linkState === 'connected' ? 'Connected'
    : linkState === 'reconnecting' ? 'Reconnecting… (recording state unknown)' : linkState;
  $('live-state').dataset.state = linkState;
  if (linkState === 'connected') return;
  // Cut off from the server: stop the timer and claim nothing until it speaks again.
  timer.stop();
  recState = 'unknown';
  $('rec-indicator').hidden = true;
  $('family-state').textContent = 'Family: unknown while reconnecting';
  $('family-state').dataset.state = 'unknown';
  updateRecordControls();
};
connection.onmediastate = (mediaState) => {
  if (ended) return;
  $('live-state').textContent = mediaWords(mediaState);
};
connection.onremotestream = (stream, slot) => {
  if (slot === 'clip') {
    $('clip-video', HTMLVideoElement).srcObject = stream;
    return;
  }
  // The family's face is shown only once a picture arrives: never an empty box.
  const video = $('family-video', HTMLVideoElement);
  video.srcObject = stream;
  video.onresize = () => {
    $('family-face').hidden = !(video.videoWidth > 0);
  };
};
connection.onwelcome = () => sendMuted(); // a new connection starts with nothing turned off
connection.onparticipants = (participants) => {
  if (ended) return;
  const family = participants.find((p) => p.role === 'family');
  const off = family && family.muted ? family.muted : [];
  if (family) familyWasHere = true;
  const where = family ? family.media : familyWasHere ? 'left' : 'absent';
  $('family-state').textContent = familyWords(where, off);
  $('family-state').dataset.state = where;
  $('family-state').dataset.muted = off.join(' ');
  if (!family) $('family-face').hidden = true;
};
connection.onconsent = (given, _wording, context) => {
  if (ended) return;
  // Recording needs the family's answer in this call, not only an earlier one.
  consent = context.confirmed ? given : null;
  $('consent-summary').textContent = !context.confirmed
    ? 'Waiting for the family to confirm their choices in this call.'
    : given && given.purposes.includes('supervision')
      ? 'The family agreed that this review may be recorded for supervision.'
      : 'The family has not agreed to this review being recorded for supervision.';
  updateRecordControls();
};
connection.onrecording = (status) => {
  if (ended) return;
  recState = status.state;
  $('rec-indicator').hidden = !(status.state === 'recording' || status.state === 'paused');
  timer.update(status);
  if (status.message) tell(status.message);
  updateRecordControls();
};
connection.onmessage = (message) => {
  if (message.type === 'review-state' && !ended) renderState(message);
};
connection.onusererror = (_code, message) => tell(message);
connection.onended = () => endedView('The review has ended.');
connection.onfatal = (code, reason) => {
  endedView(`Disconnected: ${reason}`);
  if (code === 403 || code === 404) { // not this practitioner's review, or no such review
    tell('');
    cannotOpen('This review cannot be opened', reason);
  }
};

/** Tell the server what is off, so the family is told why they cannot hear or see us. */
function sendMuted() {
  const off = /** @type {('audio'|'video')[]} */ (['audio', 'video']).filter((k) => !connection.localTracks[k]);
  connection.send({ type: 'muted', off });
}

/** Buttons, the self-view and the sentence under it say what the family can see and hear. */
function showMyMedia() {
  const camera = Boolean(connection.localTracks.video);
  const mic = Boolean(connection.localTracks.audio);
  $('toggle-camera').setAttribute('aria-pressed', String(camera));
  $('toggle-camera').textContent = camera ? 'Turn my camera off' : 'Turn my camera on';
  $('toggle-mic').setAttribute('aria-pressed', String(mic));
  $('toggle-mic').textContent = mic ? 'Mute my microphone' : 'Turn my microphone on';
  $('self-face').hidden = !camera;
  $('my-media').textContent = camera && mic ? 'The family can see and hear you.'
    : camera ? 'The family can see you but not hear you (your microphone is off).'
      : mic ? 'The family can hear you but not see you (your camera is off).'
        : 'Your camera and microphone are off: the family cannot see or hear you.';
}

/** Nothing is opened until the practitioner asks: each button turns one device on or off. */
async function toggle(/** @type {'audio'|'video'} */ kind) {
  if (ended) return;
  // Not wanted any more if the review ended while the browser was asking.
  if (await toggleDevice(connection, kind, $('self-view', HTMLVideoElement), () => !ended) === null) return;
  showMyMedia();
  sendMuted();
}

/** After the review: camera and microphone off, no control or badge left looking live. */
function endedView(/** @type {string} */ text) {
  ended = true;
  connection.close();
  for (const kind of /** @type {('audio'|'video')[]} */ (['audio', 'video'])) {
    const track = connection.localTracks[kind];
    if (track) track.stop();
    connection.localTracks[kind] = null;
  }
  for (const id of ['self-view', 'family-video', 'clip-video']) $(id, HTMLVideoElement).srcObject = null;
  $('self-face').hidden = true;
  $('family-face').hidden = true;
  timer.stop();
  $('rec-indicator').hidden = true;
  $('pause-request').hidden = true;
  $('live-state').textContent = 'Review ended';
  $('live-state').dataset.state = 'ended';
  $('family-state').textContent = 'Family: call ended';
  $('family-state').dataset.state = 'ended';
  $('review-state').textContent = 'Ended';
  for (const control of document.querySelectorAll('main button, .controls button, .controls input, #scrub')) {
    /** @type {HTMLButtonElement|HTMLInputElement} */ (control).disabled = true;
  }
  showMyMedia();
  $('my-media').textContent = 'Your camera and microphone are off.';
  $('consent-summary').textContent = '';
  tell(`${text} Your camera and microphone are off. Use “← Case” to go back.`);
}

wirePlayerControls(command, () => state);
$('prev-item').addEventListener('click', () => state && command({ action: 'select', item: Math.max(0, state.item - 1) }));
$('next-item').addEventListener('click', () => state && command({ action: 'select', item: Math.min(state.items.length - 1, state.item + 1) }));
$('accept-pause').addEventListener('click', () => command({ action: 'accept-pause' }));
$('dismiss-pause').addEventListener('click', () => command({ action: 'dismiss-pause' }));
$('toggle-camera').addEventListener('click', () => toggle('video').catch(() => tell('The camera could not be opened.')));
$('toggle-mic').addEventListener('click', () => toggle('audio').catch(() => tell('The microphone could not be opened.')));
$('rec-start').addEventListener('click', () => connection.send({ type: 'record', action: 'start' }));
$('rec-stop').addEventListener('click', () => connection.send({ type: 'record', action: 'stop' }));
$('family-link').addEventListener('click', async () => {
  const { family_link: link } = await api('POST', `/api/sessions/${sessionId}/family-link`);
  await navigator.clipboard.writeText(link).then(() => tell('Link copied.'), () => tell(link));
});
$('end-session').addEventListener('click', () => {
  if (window.confirm('End this review for everyone?')) connection.send({ type: 'end' });
});
document.addEventListener('keydown', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  if (target && target.tagName === 'INPUT' && /** @type {HTMLInputElement} */ (target).type !== 'range') return;
  if (event.key === ' ') $('play').click();
  else if (event.key === 'ArrowLeft') command({ action: 'step', delta: -1 });
  else if (event.key === 'ArrowRight') command({ action: 'step', delta: 1 });
  else return;
  event.preventDefault();
});

(async () => {
  try {
    await whoAmI();
  } catch {
    window.location.href = '/app';
    return;
  }
  // Camera and microphone stay off until the practitioner turns them on (the buttons beside
  // the clip): nothing is opened or sent without their choice.
  showMyMedia();
  await connection.start();
})();

// The practitioner's shared-review page: drive the clip the server plays into the call.
import { api, whoAmI } from './api.js';
import { $, tell } from './ui.js';
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';

const sessionId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
/** @type {any} */ let state = null;
/** @type {import('./protocol.js').Consent|null} */ let consent = null;
let recState = 'idle';
const timer = recordingTimer((text) => {
  $('rec-timer').textContent = text;
});


const connection = new ServerConnection(signallingUrl(), async () => {
  const { token } = await api('POST', `/api/sessions/${sessionId}/join-token`);
  return token;
});

/** @param {object} fields */
function command(fields) {
  connection.send({ type: 'review', ...fields });
}

/** @param {any} next */
function renderState(next) {
  state = next;
  const names = { playing: 'Playing', paused: 'Paused', still: 'Showing a still', empty: 'Nothing to show' };
  $('review-state').textContent = state.notice || /** @type {any} */ (names)[state.state] || state.state;
  $('review-frame').textContent = String(state.frame);
  $('review-frame').dataset.frame = String(state.frame);
  $('review-frames').textContent = String(state.frames);
  $('source-frame').textContent = String(state.first_frame + state.frame);
  $('review-speed').textContent = String(state.speed);
  $('play').textContent = state.state === 'playing' ? 'Pause' : 'Play';
  $('scrub').max = String(Math.max(0, state.frames - 1));
  $('scrub').value = String(state.frame);
  $('loop').checked = state.loop;
  const list = $('playlist');
  list.replaceChildren();
  state.items.forEach((/** @type {any} */ item, /** @type {number} */ index) => {
    const entry = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `${item.kind === 'still' ? '🖼 ' : ''}${item.title}`;
    button.className = index === state.item ? 'primary' : '';
    button.addEventListener('click', () => command({ action: 'select', item: index }));
    entry.append(button);
    list.append(entry);
  });
  const request = state.pause_request;
  $('pause-request').hidden = !request;
  if (request) $('request-frame').textContent = String(request.frame);
}

function updateRecordControls() {
  const active = recState === 'recording' || recState === 'paused';
  $('rec-start').hidden = active;
  $('rec-start').disabled = !(consent && consent.purposes.includes('supervision'));
  $('rec-stop').hidden = !active;
}

connection.onlinkstate = (linkState) => {
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
  $('live-state').textContent = `Media: ${mediaState}`;
};
connection.onremotestream = (stream, slot) => {
  $(slot === 'clip' ? 'clip-video' : 'family-video').srcObject = stream;
};
connection.onparticipants = (participants) => {
  const family = participants.find((p) => p.role === 'family');
  $('family-state').textContent = family ? `Family: ${family.media}` : 'Family not connected';
  $('family-state').dataset.state = family ? family.media : 'absent';
};
connection.onconsent = (given, _wording, context) => {
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
  recState = status.state;
  $('rec-indicator').hidden = !(status.state === 'recording' || status.state === 'paused');
  timer.update(status);
  if (status.message) tell(status.message);
  updateRecordControls();
};
connection.onmessage = (message) => {
  if (message.type === 'review-state') renderState(message);
};
connection.onusererror = (_code, message) => tell(message);
connection.onended = () => tell('The review has ended.');
connection.onfatal = (_code, reason) => tell(`Disconnected: ${reason}`);

async function toggle(/** @type {'audio'|'video'} */ kind) {
  const current = connection.localTracks[kind];
  if (current) {
    current.stop();
    await connection.setLocalTrack(kind, null);
  } else {
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: true });
    await connection.setLocalTrack(kind, stream.getTracks()[0]);
    if (kind === 'video') $('self-view').srcObject = stream;
  }
  $('toggle-camera').textContent = connection.localTracks.video ? 'Turn my camera off' : 'Turn my camera on';
  $('toggle-mic').textContent = connection.localTracks.audio ? 'Mute me' : 'Unmute me';
}

$('play').addEventListener('click', () => command({ action: state && state.state === 'playing' ? 'pause' : 'play' }));
$('step-back').addEventListener('click', () => command({ action: 'step', delta: -1 }));
$('step-forward').addEventListener('click', () => command({ action: 'step', delta: 1 }));
$('prev-item').addEventListener('click', () => state && command({ action: 'select', item: Math.max(0, state.item - 1) }));
$('next-item').addEventListener('click', () => state && command({ action: 'select', item: Math.min(state.items.length - 1, state.item + 1) }));
$('scrub').addEventListener('change', () => command({ action: 'seek', frame: Number($('scrub').value) }));
$('loop').addEventListener('change', () => command({ action: 'loop', on: $('loop').checked }));
for (const button of document.querySelectorAll('.speed')) {
  button.addEventListener('click', () => command({ action: 'speed', speed: Number(/** @type {HTMLElement} */ (button).dataset.speed) }));
}
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
  // Both faces are live in a review: start with the practitioner's camera and microphone on.
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    await connection.setLocalTrack('audio', stream.getAudioTracks()[0] || null);
    await connection.setLocalTrack('video', stream.getVideoTracks()[0] || null);
    $('self-view').srcObject = stream;
  } catch {
    tell('Your camera could not be opened; the family will not see you.');
  }
  await connection.start();
})();

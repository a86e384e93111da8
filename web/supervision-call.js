// A supervision call: the server plays a trainee's shared clips and stills to everyone in the
// call; the driver (shown to all) plays, pauses, seeks and steps, and hands control over.
import { api, whoAmI } from './api.js';
import { $, cannotOpen, mediaWords, tell } from './ui.js';
import { toggleDevice } from './devices.js';
import { renderPlayer, wirePlayerControls } from './player-view.js';
import { ServerConnection, signallingUrl } from './protocol.js';

const callId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
/** @type {import('./protocol.js').ReviewState|null} */ let state = null;
let me = '';
let driver = '';
let ended = false;

/** @type {ServerConnection} */
const connection = new ServerConnection(signallingUrl(), async () => {
  const { token } = await api('POST', `/api/supervision-calls/${callId}/join-token`);
  return token;
});

/** @param {Omit<import('./messages').ReviewCommand, 'type'>} fields */
function command(fields) {
  connection.send({ type: 'review', ...fields });
}

/** Only the driver's controls work; everyone sees who drives. */
function showDriving() {
  const driving = driver === me && !ended;
  for (const control of document.querySelectorAll('.controls:not(.session-controls) button, .controls input, #scrub, #hand-over button, #hand-over select, #playlist button')) {
    /** @type {HTMLButtonElement|HTMLInputElement|HTMLSelectElement} */ (control).disabled = !driving;
  }
}

/** @param {import('./protocol.js').ReviewState} next */
function renderState(next) {
  state = next;
  renderPlayer(next, command);
  // A recorded review: its cameras beside the clip (each only if it was recorded).
  const cameras = next.cameras || [];
  $('recorded-cameras').hidden = cameras.length === 0;
  document.body.classList.toggle('recorded-review', cameras.length > 0);
  for (const who of ['family', 'practitioner']) {
    const figure = $(`recorded-${who}-video`).closest('figure');
    if (figure) /** @type {HTMLElement} */ (figure).hidden = !cameras.includes(who);
  }
  showDriving();
}

/** Sound is on unless the browser refuses to start it unasked: then one button turns it on. */
function playWithSound(/** @type {HTMLVideoElement} */ video) {
  video.play().catch((/** @type {Error} */ error) => {
    if (error.name !== 'NotAllowedError') return; // e.g. interrupted by the next track's arrival
    video.muted = true;
    video.play().catch(() => {});
    $('sound-on').hidden = false;
  });
}

connection.onlinkstate = (linkState) => {
  if (ended) return;
  $('live-state').textContent = linkState === 'connected' ? 'Connected' : linkState;
  $('live-state').dataset.state = linkState;
};
connection.onmediastate = (mediaState) => {
  if (!ended) $('live-state').textContent = mediaWords(mediaState);
};
connection.onremotestream = (stream, slot) => {
  const server = slot === 'clip' || slot.startsWith('recorded-');
  const video = $(slot === 'clip' ? 'clip-video' : server ? `${slot}-video` : 'remote-video', HTMLVideoElement);
  video.srcObject = stream;
  if (server) playWithSound(video);
  // A face is shown once a picture arrives: never an empty box.
  if (!server) video.onresize = () => { $('remote-face').hidden = !(video.videoWidth > 0); };
};
connection.onparticipants = (participants) => {
  const select = $('hand-to', HTMLSelectElement);
  select.replaceChildren();
  for (const person of participants) {
    if (person.id === me || person.role === 'player' || person.role === 'recorder') continue;
    const option = document.createElement('option');
    option.value = person.id;
    option.textContent = person.name;
    select.append(option);
  }
};
connection.onmessage = (message) => {
  if (ended) return;
  if (message.type === 'review-state') renderState(message);
  if (message.type === 'driver') {
    driver = message.id;
    $('driver').textContent = message.id === me ? 'you' : message.name;
    $('driver').dataset.driver = message.id;
    showDriving();
  }
};
connection.onusererror = (_code, message) => tell(message);
connection.onended = () => endedView('The call has ended.');
connection.onfatal = (code, reason) => {
  endedView(`Disconnected: ${reason}`);
  if (code === 403 || code === 404) cannotOpen('This call cannot be opened', reason);
};

/** Camera and microphone: nothing is opened until asked. @param {'audio'|'video'} kind */
async function toggle(kind) {
  if (await toggleDevice(connection, kind, $('self-view', HTMLVideoElement), () => !ended) === null) return;
  const on = Boolean(connection.localTracks[kind]);
  if (kind === 'video') $('self-face').hidden = !on;
  const button = $(kind === 'video' ? 'toggle-camera' : 'toggle-mic');
  button.setAttribute('aria-pressed', String(on));
  button.textContent = `Turn my ${kind === 'video' ? 'camera' : 'microphone'} ${on ? 'off' : 'on'}`;
}

function endedView(/** @type {string} */ text) {
  ended = true;
  connection.close();
  for (const kind of /** @type {('audio'|'video')[]} */ (['audio', 'video'])) {
    const track = connection.localTracks[kind];
    if (track) track.stop();
    connection.localTracks[kind] = null;
  }
  for (const id of ['self-view', 'remote-video', 'clip-video', 'recorded-family-video', 'recorded-practitioner-video']) {
    $(id, HTMLVideoElement).srcObject = null;
  }
  $('live-state').textContent = 'Call ended';
  $('live-state').dataset.state = 'ended';
  for (const control of document.querySelectorAll('main button, main input, main select')) {
    /** @type {HTMLButtonElement} */ (control).disabled = true;
  }
  tell(`${text} Use “← Supervision” to go back.`);
}

wirePlayerControls(command, () => state);
$('sound-on').addEventListener('click', () => {
  for (const id of ['clip-video', 'recorded-family-video', 'recorded-practitioner-video']) {
    const video = $(id, HTMLVideoElement);
    video.muted = false;
    video.play().catch(() => {});
  }
  $('sound-on').hidden = true;
});
$('hand-over').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const to = $('hand-to', HTMLSelectElement).value;
  if (to) command({ action: 'hand-over', to });
});
$('toggle-camera').addEventListener('click', () => toggle('video').catch(() => tell('The camera could not be opened.')));
$('toggle-mic').addEventListener('click', () => toggle('audio').catch(() => tell('The microphone could not be opened.')));
$('end-call').addEventListener('click', async () => {
  if (!window.confirm('End this call for everyone? Its length goes into the supervision log.')) return;
  try {
    await api('POST', `/api/supervision-calls/${callId}/end`);
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});

(async () => {
  try {
    ({ user: { id: me } } = await whoAmI());
    const info = await api('GET', `/api/supervision-calls/${callId}`);
    $('title').textContent = `Supervision call: ${info.trainee}'s shared items`;
    $('end-call').hidden = info.role === 'observer';
  } catch (error) {
    cannotOpen('This call cannot be opened', /** @type {Error} */ (error).message);
    return;
  }
  showDriving();
  await connection.start();
})();

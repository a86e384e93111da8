// The family's page: opened from the link on a phone or tablet, no account, plain words.
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const token = decodeURIComponent(window.location.pathname.split('/').pop() || '');
const onPhone = window.matchMedia('(pointer: coarse)').matches || navigator.maxTouchPoints > 0;

/** The camera facing the family by default on phones is the rear one: the phone films them. */
let facing = onPhone ? 'environment' : 'user';
/** @type {MediaStream|null} */ let localStream = null;
/** @type {any} */ let wakeLock = null;

const connection = new ServerConnection(signallingUrl(), async () => token);
/** @type {import('./protocol.js').ConsentWording|null} */ let wording = null;
/** @type {import('./protocol.js').Consent|null} */ let consent = null;
const timer = recordingTimer((text) => {
  $('rec-timer').textContent = text;
});

function say(/** @type {string} */ text) {
  $('status').textContent = text;
}

function finish(/** @type {string} */ text) {
  connection.close();
  if (localStream) localStream.getTracks().forEach((t) => t.stop());
  $('start-panel').hidden = true;
  $('call-panel').hidden = true;
  $('done-panel').hidden = false;
  $('done-text').textContent = text;
  say(text);
}

async function openCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true },
    video: { facingMode: { ideal: facing }, width: { ideal: 1280 }, height: { ideal: 720 } },
  });
  if (localStream) localStream.getTracks().forEach((t) => t.stop());
  localStream = stream;
  $('self-view').srcObject = stream;
  $('self-view').classList.toggle('mirrored', facing === 'user');
  await connection.setLocalTrack('audio', stream.getAudioTracks()[0] || null);
  await connection.setLocalTrack('video', stream.getVideoTracks()[0] || null);
}

async function switchCamera() {
  facing = facing === 'environment' ? 'user' : 'environment';
  try {
    // Release the old camera first: many phones cannot open two at once.
    if (localStream) localStream.getVideoTracks().forEach((t) => t.stop());
    await openCamera();
  } catch {
    facing = facing === 'environment' ? 'user' : 'environment';
    await openCamera().catch(() => say('The camera could not be switched.'));
  }
}

async function keepScreenAwake() {
  try {
    if ('wakeLock' in navigator) wakeLock = await /** @type {any} */ (navigator).wakeLock.request('screen');
  } catch {
    wakeLock = null; // not allowed here (battery saver, older browser): the call still works
  }
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && localStream) keepScreenAwake();
});

connection.onlinkstate = (state) => {
  if (state === 'connecting') say('Connecting…');
  if (state === 'reconnecting') say('The connection dropped. Reconnecting…');
};
connection.onmediastate = (state) => {
  if (state === 'connected') say('You are connected. Your practitioner can see you.');
  if (state === 'connecting') say('Connecting the video…');
  if (state === 'failed') say('The video connection was lost. Trying again…');
};
connection.onparticipants = (list) => {
  const practitioner = list.find((p) => p.role === 'practitioner');
  $('watching').textContent = practitioner
    ? `${practitioner.name} is in the call.`
    : 'Waiting for your practitioner to join.';
};
connection.onwelcome = (welcome) => {
  document.body.classList.toggle('in-review', welcome.session.kind === 'review');
};
connection.onmessage = (message) => {
  if (message.type !== 'review-state') return;
  const speed = message.speed === 1 ? '' : message.speed === 0.5 ? ' slowly (half speed)' : ' very slowly (quarter speed)';
  const text = {
    playing: `Playing${speed}`,
    paused: 'Paused: look at this moment together',
    still: 'A picture to look at together',
    empty: 'Your practitioner will show you some clips',
  }[/** @type {'playing'|'paused'|'still'|'empty'} */ (message.state)];
  $('review-state').textContent = text || '';
  $('review-state').dataset.state = message.state;
  $('pause-here').disabled = message.state !== 'playing' || Boolean(message.pause_request);
  $('pause-here').textContent = message.pause_request ? 'Asked to pause…' : 'Pause here';
};
$('pause-here').addEventListener('click', () => {
  connection.send({ type: 'review', action: 'request-pause' });
  $('pause-here').disabled = true;
});
connection.onremotestream = (stream, slot) => {
  if (slot === 'clip') {
    $('clip-video').srcObject = stream;
    return;
  }
  const video = $('practitioner-video');
  video.srcObject = stream;
  video.onresize = () => {
    video.hidden = !(video.videoWidth > 0);
  };
};
connection.oncontrol = (action) => {
  if (action === 'switch-camera') switchCamera();
};
connection.onusererror = (_code, message) => say(message);
connection.onconsent = (given, text) => {
  if (text) wording = text;
  consent = given;
  $('consent-change').hidden = !consent;
  if (!consent && wording) showConsent();
};
connection.onrecording = (status) => {
  const live = status.state === 'recording' || status.state === 'paused';
  $('rec-indicator').hidden = !live;
  $('rec-indicator').dataset.state = status.state;
  $('rec-label').textContent = status.state === 'paused' ? 'Recording paused' : 'Recording';
  timer.update(status);
  $('rec-pause').hidden = status.state !== 'recording';
  // The family may always resume a pause they made; the practitioner resumes their own.
  $('rec-resume').hidden = !(status.state === 'paused' && status.paused_by === 'family');
};

/** Show what will be recorded and for what, one purpose at a time, in plain words. */
function showConsent() {
  if (!wording) return;
  $('consent-title').textContent = wording.title;
  $('consent-intro').textContent = wording.intro;
  const box = $('consent-purposes');
  box.replaceChildren();
  for (const purpose of wording.purposes) {
    const label = document.createElement('label');
    label.className = 'purpose';
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = purpose.id;
    input.checked = Boolean(consent && consent.purposes.includes(purpose.id));
    const text = document.createElement('span');
    text.textContent = purpose.label;
    const detail = document.createElement('small');
    detail.textContent = purpose.detail;
    label.append(input, text, detail);
    box.append(label);
  }
  $('consent-panel').hidden = false;
}

function sendConsent(/** @type {string[]} */ purposes) {
  if (!wording) return;
  connection.send({ type: 'consent', version: wording.version, purposes });
  $('consent-panel').hidden = true;
  say(purposes.includes('analysis')
    ? 'Thank you. Your practitioner can now record.'
    : 'Nothing will be recorded.');
}

$('consent-form').addEventListener('submit', (/** @type {Event} */ event) => {
  event.preventDefault();
  const checked = [...$('consent-purposes').querySelectorAll('input:checked')].map((i) => i.name);
  sendConsent(checked);
});
$('consent-decline').addEventListener('click', () => sendConsent([]));
$('consent-change').addEventListener('click', showConsent);
$('rec-pause').addEventListener('click', () => connection.send({ type: 'record', action: 'pause' }));
$('rec-resume').addEventListener('click', () => connection.send({ type: 'record', action: 'resume' }));
connection.onended = () => finish('The call has ended. Thank you! You can close this page.');
connection.onfatal = (code, reason) => {
  if (code === 4001) finish('This call is open on another page or device.');
  else if (code === 4002) finish('This call has ended. You can close this page.');
  else finish(`This link cannot be used: ${reason || 'please ask your practitioner for a new one'}.`);
};

$('start').addEventListener('click', async () => {
  $('start').disabled = true;
  say('Opening the camera…');
  try {
    await openCamera();
  } catch (error) {
    $('start').disabled = false;
    say('We could not open the camera. Please allow the camera and microphone, then try again.');
    return;
  }
  $('start-panel').hidden = true;
  $('call-panel').hidden = false;
  keepScreenAwake();
  await connection.start();
});
$('switch-camera').addEventListener('click', switchCamera);
$('leave').addEventListener('click', () => finish('You have left the call. You can close this page.'));

if (!token || !window.RTCPeerConnection || !navigator.mediaDevices) {
  finish('This browser cannot make video calls. Please open the link in Safari or Chrome.');
} else {
  say('Press the button when you are ready.');
}

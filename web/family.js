// The family's page: opened from the link on a phone or tablet, no account, plain words.
import { ServerConnection, signallingUrl } from './protocol.js';

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const token = decodeURIComponent(window.location.pathname.split('/').pop() || '');
const onPhone = window.matchMedia('(pointer: coarse)').matches || navigator.maxTouchPoints > 0;

/** The camera facing the family by default on phones is the rear one: the phone films them. */
let facing = onPhone ? 'environment' : 'user';
/** @type {MediaStream|null} */ let localStream = null;
/** @type {any} */ let wakeLock = null;

const connection = new ServerConnection(signallingUrl(), async () => token);

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
connection.onremotestream = (stream) => {
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

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
/** @type {any} */ let wording = null; // ConsentWording plus this session's texts
/** @type {import('./protocol.js').Consent|null} */ let consent = null;
let afterCallMode = false;
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
  $('consent-panel').hidden = true;
  say(text); // once, at the top: the page has nothing else to show
  document.body.classList.add('done');
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
  if (state !== 'reconnecting') return;
  // Cut off from the server, nothing shown is known to be true (a recording may have stopped):
  // hide the live indicators until the server says again what is happening.
  // 'reconnecting' repeats at every attempt: remember across attempts that a recording was shown.
  const wasLive = ['recording', 'paused', 'unknown-was-live'].includes($('rec-indicator').dataset.state);
  say(wasLive
    ? 'The connection dropped. Reconnecting… (the recording state will show again when we are back)'
    : 'The connection dropped. Reconnecting…');
  timer.stop();
  $('rec-indicator').hidden = true;
  $('rec-indicator').dataset.state = wasLive ? 'unknown-was-live' : 'unknown';
  $('rec-pause').hidden = true;
  $('rec-resume').hidden = true;
  $('watching').textContent = '';
  $('practitioner-video').hidden = true;
  $('pause-here').disabled = true;
  $('review-state').textContent = '';
  $('review-state').dataset.state = 'unknown';
};
let practitionerHere = false;
/** Only say the practitioner can see the family when they are in the call. */
function connectedText() {
  return practitionerHere
    ? 'You are connected. Your practitioner can see you.'
    : 'You are connected. Your practitioner will see you when they join.';
}
connection.onmediastate = (state) => {
  if (state === 'connected') say(connectedText());
  if (state === 'connecting') say('Connecting the video…');
  if (state === 'failed') say('The video connection was lost. Trying again…');
};
connection.onparticipants = (list) => {
  const practitioner = list.find((p) => p.role === 'practitioner');
  practitionerHere = Boolean(practitioner);
  if ($('status').textContent.startsWith('You are connected')) say(connectedText());
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
  // A clip taken off screen (consent withdrawn, or deleted) says why, in plain words.
  $('review-state').textContent = message.notice || text || '';
  $('review-state').dataset.state = message.state;
  $('clip-video').hidden = message.state === 'empty';
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
connection.onconsent = (given, text, context) => {
  if (text) wording = /** @type {any} */ (text);
  consent = given;
  // Asked once per call, with what the family agreed before already ticked.
  $('consent-change').hidden = !context.confirmed;
  if (!context.confirmed && wording && $('consent-panel').hidden) showConsent();
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
/** @param {boolean} [afterCall] after the call only a withdrawal can be made */
function showConsent(afterCall = false) {
  if (!wording) return;
  afterCallMode = afterCall;
  const text = afterCall ? wording.after_call : wording;
  $('consent-title').textContent = text.title;
  $('consent-intro').textContent = text.intro;
  $('consent-decline').textContent = afterCall ? 'Take back everything' : 'Do not record this call';
  $('consent-result').textContent = '';
  const box = $('consent-purposes');
  box.replaceChildren();
  for (const purpose of wording.purposes) {
    const label = document.createElement('label');
    label.className = 'purpose';
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = purpose.id;
    input.checked = Boolean(consent && consent.purposes.includes(purpose.id));
    // After the call a purpose can be taken back, not newly given.
    input.disabled = afterCall && !input.checked;
    if (input.disabled) label.classList.add('not-agreed');
    const text = document.createElement('span');
    text.textContent = purpose.label;
    const detail = document.createElement('small');
    detail.textContent = input.disabled
      ? 'You did not agree to this. To agree to it, talk to your practitioner at your next call.'
      : purpose.detail;
    label.append(input, text, detail);
    box.append(label);
  }
  $('consent-panel').hidden = false;
}

async function sendConsent(/** @type {string[]} */ purposes) {
  if (!wording) return;
  if (afterCallMode) {
    try {
      const saved = await familyApi('POST', { version: wording.version, purposes });
      consent = saved.consent;
      showConsent(true);
      // Said beside the button the parent just pressed, not at the top of a long page.
      $('consent-result').textContent = wording.after_call.saved;
    } catch (error) {
      $('consent-result').textContent = /** @type {Error} */ (error).message;
    }
    return;
  }
  if (!connection.send({ type: 'consent', version: wording.version, purposes })) {
    say('Not saved: the connection dropped. Please try again in a moment.');
    return;
  }
  $('consent-panel').hidden = true;
  // Say what this call will do: a review is recorded for supervision, filming for analysis.
  say(purposes.includes(wording.records) ? wording.will_record : wording.will_not_record);
}

/**
 * The consent API the family's link opens, even after the call (the token is the link's).
 * @param {'GET'|'POST'} method @param {object} [body]
 */
async function familyApi(method, body) {
  const response = await fetch('/api/family/consent', {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((data.error && data.error.message) || 'Something went wrong. Please try again.');
    /** @type {any} */ (error).status = response.status;
    throw error;
  }
  return data;
}

/** The call is over: the page the link keeps opening, where consent can be taken back. */
async function showAfterCall(/** @type {string} */ text) {
  finish(text);
  try {
    const data = await familyApi('GET');
    wording = data.wording;
    consent = data.consent;
  } catch {
    return; // the link no longer works: what finish() said stands
  }
  if (consent && consent.purposes.length) showConsent(true);
}

$('consent-form').addEventListener('submit', (/** @type {Event} */ event) => {
  event.preventDefault();
  const checked = [...$('consent-purposes').querySelectorAll('input:checked')].map((i) => i.name);
  sendConsent(checked);
});
$('consent-decline').addEventListener('click', () => {
  // After the call: take back everything. In a call: only what would record this call; the
  // family's other choices (one consent for the whole case) stay as they are ticked.
  if (afterCallMode || !wording) sendConsent([]);
  else {
    const ticked = [...$('consent-purposes').querySelectorAll('input:checked')].map((i) => i.name);
    sendConsent(ticked.filter((p) => p !== wording.records));
  }
});
$('consent-change').addEventListener('click', showConsent);
$('rec-pause').addEventListener('click', () => connection.send({ type: 'record', action: 'pause' }));
$('rec-resume').addEventListener('click', () => connection.send({ type: 'record', action: 'resume' }));
connection.onended = () => showAfterCall('The call has ended. Thank you!');
connection.onfatal = (code, reason) => {
  if (code === 4001) finish('This call is open on another page or device.');
  else if (code === 4002) showAfterCall('This call has ended.');
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

/** Before asking for the camera: is the link good, and is its call still to come? */
async function checkLink() {
  try {
    const data = await familyApi('GET');
    if (data.session.status !== 'open') {
      await showAfterCall('This call has ended.');
      return;
    }
  } catch (error) {
    if (/** @type {any} */ (error).status === 401) {
      finish(`This link cannot be used: ${/** @type {Error} */ (error).message}. Please ask your practitioner for a new link.`);
      return;
    }
    // The server could not be reached: the call button retries by itself.
  }
  if (!window.RTCPeerConnection || !navigator.mediaDevices) {
    finish('This browser cannot make video calls. Please open the link in Safari or Chrome.');
  } else {
    say('Press the button when you are ready.');
  }
}

if (!token) finish('This link is not complete. Please open the whole link you were sent.');
else checkLink();

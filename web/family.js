// The family's page: opened from the link on a phone or tablet, no account, plain words.
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
/** Everything after /f/ (a trailing slash forgiven): a link cut or mangled on the way is
 * refused by the server, and the page says so before asking for the camera. */
const token = (() => {
  const rest = window.location.pathname.replace(/^\/f\/?/, '').replace(/\/+$/, '');
  try {
    return decodeURIComponent(rest);
  } catch {
    return rest; // not valid %-encoding: the server refuses it as a garbled link
  }
})();
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

/** @param {string} text what happened @param {string} [help] what to do now, if anything */
function finish(text, help = '') {
  connection.close();
  if (localStream) localStream.getTracks().forEach((t) => t.stop());
  $('start-panel').hidden = true;
  $('call-panel').hidden = true;
  $('consent-panel').hidden = true;
  say(text); // once, at the top: the page has nothing else to show
  $('help').textContent = help;
  $('help').hidden = !help;
  $('rejoin').hidden = true;
  document.body.classList.add('done');
  document.body.classList.remove('recording', 'recording-paused');
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
  applyOff(); // a new camera (switched, reopened) stays muted or hidden as the family chose
}

/** What the family turned off. A muted microphone sends silence and a hidden camera a black
 * picture (the tracks stay open, so turning them back on is instant); the practitioner is told. */
const off = { audio: false, video: false };
function applyOff() {
  if (localStream) {
    localStream.getAudioTracks().forEach((t) => { t.enabled = !off.audio; });
    localStream.getVideoTracks().forEach((t) => { t.enabled = !off.video; });
  }
  $('toggle-mic').textContent = off.audio ? 'Turn my microphone back on' : 'Mute my microphone';
  $('toggle-camera').textContent = off.video ? 'Show my camera again' : 'Hide my camera';
  $('my-media').textContent = [
    off.audio ? 'Your microphone is off: your practitioner cannot hear you.' : '',
    off.video ? 'Your camera is hidden: your practitioner cannot see you.' : '',
  ].filter(Boolean).join(' ');
  sendOff();
}
function sendOff() {
  connection.send({ type: 'muted', off: off.audio && off.video ? ['audio', 'video'] : off.audio ? ['audio'] : off.video ? ['video'] : [] });
}
/** Say when the practitioner cannot be heard (or seen), so silence is not taken for a fault. */
function showPractitionerMedia(/** @type {import('./protocol.js').Participant|undefined} */ practitioner) {
  const muted = (practitioner && practitioner.muted) || [];
  const who = practitioner ? practitioner.name : '';
  $('practitioner-media').textContent = [
    muted.includes('audio') ? `${who}'s microphone is off: you cannot hear them at the moment.` : '',
    muted.includes('video') ? `${who}'s camera is off.` : '',
  ].filter(Boolean).join(' ');
  $('practitioner-media').dataset.muted = muted.join(' ');
  const video = $('practitioner-video');
  video.hidden = !practitioner || muted.includes('video') || !(video.videoWidth > 0); // no frozen picture
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
  document.body.classList.remove('recording', 'recording-paused');
  $('rec-indicator').dataset.state = wasLive ? 'unknown-was-live' : 'unknown';
  $('rec-pause').hidden = true;
  $('rec-resume').hidden = true;
  $('watching').textContent = '';
  $('practitioner-video').hidden = true;
  $('pause-here').disabled = true;
  pauseHint(false, false);
  $('review-state').textContent = '';
  $('review-state').dataset.state = 'unknown';
};
let practitionerHere = false;
/** Only say the practitioner can see the family when they are in the call, and not while the
 * question about recording waits for an answer (the page would contradict itself). */
function connectedText() {
  if (!$('consent-panel').hidden && !afterCallMode) {
    return 'You are connected. Please answer the question about recording below.';
  }
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
  showPractitionerMedia(practitioner);
};
connection.onwelcome = (welcome) => {
  sendOff(); // a new connection starts with nothing turned off: say again what is
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
  pauseHint(message.state === 'playing', Boolean(message.pause_request));
};
/** Say what "Pause here" does, and why it cannot be pressed now (never pale with no reason). */
function pauseHint(/** @type {boolean} */ playing, /** @type {boolean} */ asked) {
  $('pause-hint').textContent = asked
    ? 'Your practitioner has been asked to stop the clip here.'
    : playing
      ? 'Press it to stop the clip at this moment, so you can talk about it together.'
      : 'You can press it while a clip is playing, to stop at a moment you want to talk about.';
}
$('pause-here').addEventListener('click', () => {
  connection.send({ type: 'review', action: 'request-pause' });
  $('pause-here').disabled = true;
  pauseHint(true, true);
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
/** The recording state last told to the family (the headline is read out by screen readers). */
let toldRecording = 'idle';
/** @param {string} state */
function recordingNews(state) {
  if (state === 'recording') return 'This call is being recorded now.';
  if (state === 'paused') return 'The recording is paused. Nothing is being recorded.';
  return 'The recording has stopped. You are still in the call.';
}
connection.onrecording = (status) => {
  const live = status.state === 'recording' || status.state === 'paused';
  $('rec-indicator').hidden = !live;
  $('rec-indicator').dataset.state = status.state;
  $('rec-label').textContent = status.state === 'paused' ? 'Recording paused' : 'Recording';
  // Seen from across the room: a banner that never scrolls away and a red frame on the preview.
  document.body.classList.toggle('recording', status.state === 'recording');
  document.body.classList.toggle('recording-paused', status.state === 'paused');
  const now = live ? status.state : 'idle';
  if (now !== toldRecording) say(recordingNews(now));
  toldRecording = now;
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
  // How long recordings are kept, how to take agreement back, whom to ask: the organisation's.
  $('consent-retention').textContent = wording.retention_text || '';
  $('consent-withdraw').textContent = wording.withdraw_text || '';
  $('consent-contact').textContent = wording.contact_text || '';
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
  if ($('status').textContent.startsWith('You are connected')) say(connectedText());
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
  // While a recording runs, "can now record" would be wrong: say the choice was kept instead.
  const recording = toldRecording !== 'idle' && purposes.includes(wording.records);
  say(recording
    ? `Saved. ${recordingNews(toldRecording)}`
    : purposes.includes(wording.records) ? wording.will_record : wording.will_not_record);
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
    /** @type {any} */ (error).code = (data.error && data.error.code) || '';
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
$('toggle-mic').addEventListener('click', () => {
  off.audio = !off.audio;
  applyOff();
});
$('toggle-camera').addEventListener('click', () => {
  off.video = !off.video;
  applyOff();
});
$('leave').addEventListener('click', () => {
  // One tap by mistake must not end the call: ask first.
  if (!window.confirm('Leave the call? You can come back while the call is still open.')) return;
  finish('You have left the call.', 'You can close this page.');
  offerRejoin();
});
/** After leaving: if the call is still open, one button brings the family back in. */
async function offerRejoin() {
  try {
    const data = await familyApi('GET');
    if (data.session.status !== 'open' || (data.link && data.link.expired)) return;
  } catch {
    return; // the link no longer works: "You have left the call" stands
  }
  if (!document.body.classList.contains('done')) return;
  $('help').textContent = 'The call is still open. To go back in, press “Rejoin the call”. Or close this page.';
  $('rejoin').hidden = false;
}
$('rejoin').addEventListener('click', () => window.location.reload());

/** A link that cannot open the call, in plain words, with what to do about it. */
function refuseLink(/** @type {string} */ code) {
  if (code === 'link-replaced') {
    finish('This link cannot be used: a newer link was sent for this call.',
      'Please open the newest link your practitioner sent you. If you cannot find it, ask them to send it again.');
  } else if (code === 'expired') {
    finish('This link cannot be used: it is out of date.',
      'Please ask your practitioner to send you a new link.');
  } else {
    finish('This link cannot be used: it is not complete, or it was changed when it was copied.',
      'Please open the whole link from the message you were sent, by tapping on it. If it still does not work, ask your practitioner to send you a new link.');
  }
}

/** Before asking for the camera: is the link good, and is its call still to come? */
async function checkLink() {
  try {
    const data = await familyApi('GET');
    // The start screen says what kind of call this is: filming, or watching clips together.
    document.body.classList.toggle('in-review', data.session.kind === 'review');
    if (data.session.status !== 'open') {
      await showAfterCall('This call has ended.');
      return;
    }
    if (data.link && data.link.expired) {
      refuseLink('expired');
      return;
    }
  } catch (error) {
    if (/** @type {any} */ (error).status === 401) {
      refuseLink(/** @type {any} */ (error).code);
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

pauseHint(false, false);
if (!token) refuseLink('bad-link');
else checkLink();

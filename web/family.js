// The family's page: opened from the link on a phone or tablet, no account, plain words in the
// family's language (web/i18n.js). This module is the call; family-consent.js the question about
// recording; family-after.js the page without a call (bad link, after the call, after leaving).
import { checkLink, explainRefusal, offerRejoin, refuseLink, showAfterCall, withdraw } from './family-after.js';
import { errorKey, token } from './family-api.js';
import { ConsentPanel } from './family-consent.js';
import { $, finish, onFinish, say, saying } from './family-screen.js';
import { currentLanguage, languagePicker, setPlain, setText, setTexts, startI18n, t } from './i18n.js';
import { ServerConnection, recordingTimer, signallingUrl } from './protocol.js';

/** @typedef {import('./protocol.js').Participant} Participant */
/** @typedef {import('./protocol.js').ReviewState} ReviewState */

const onPhone = window.matchMedia('(pointer: coarse)').matches || navigator.maxTouchPoints > 0;

/** The camera facing the family by default on phones is the rear one: the phone films them. */
let facing = onPhone ? 'environment' : 'user';
/** @type {MediaStream|null} */ let localStream = null;

/** @type {ServerConnection} (typed, so that the handlers below are checked against it) */
const connection = new ServerConnection(signallingUrl(), async () => token);
/** @type {ConsentPanel} */
const panel = new ConsentPanel();
const timer = recordingTimer((text) => {
  $('rec-timer').textContent = text;
});
const selfView = $('self-view', HTMLVideoElement);
const practitionerVideo = $('practitioner-video', HTMLVideoElement);
const pauseHere = $('pause-here', HTMLButtonElement);

onFinish(() => {
  connection.close();
  if (localStream) localStream.getTracks().forEach((track) => track.stop());
});

async function openCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true },
    video: { facingMode: { ideal: facing }, width: { ideal: 1280 }, height: { ideal: 720 } },
  });
  if (localStream) localStream.getTracks().forEach((track) => track.stop());
  localStream = stream;
  selfView.srcObject = stream;
  selfView.classList.toggle('mirrored', facing === 'user');
  await connection.setLocalTrack('audio', stream.getAudioTracks()[0] || null);
  await connection.setLocalTrack('video', stream.getVideoTracks()[0] || null);
  applyOff(); // a new camera (switched, reopened) stays muted or hidden as the family chose
}

/** What the family turned off. A muted microphone sends silence and a hidden camera a black
 * picture (the tracks stay open, so turning them back on is instant); the practitioner is told. */
const off = { audio: false, video: false };
function applyOff() {
  if (localStream) {
    localStream.getAudioTracks().forEach((track) => { track.enabled = !off.audio; });
    localStream.getVideoTracks().forEach((track) => { track.enabled = !off.video; });
  }
  setText($('toggle-mic'), off.audio ? 'button.unmute' : 'button.mute');
  setText($('toggle-camera'), off.video ? 'button.show-camera' : 'button.hide-camera');
  /** @type {[string][]} */ const told = [];
  if (off.audio) told.push(['media.my-microphone-off']);
  if (off.video) told.push(['media.my-camera-off']);
  setTexts($('my-media'), told);
  sendOff();
}
function sendOff() {
  /** @type {('audio'|'video')[]} */ const list = [];
  if (off.audio) list.push('audio');
  if (off.video) list.push('video');
  connection.send({ type: 'muted', off: list });
}

/** Say when the practitioner cannot be heard (or seen), so silence is not taken for a fault.
 * @param {Participant|undefined} practitioner */
function showPractitionerMedia(practitioner) {
  const muted = (practitioner && practitioner.muted) || [];
  const name = practitioner ? practitioner.name : '';
  /** @type {[string, {name: string}][]} */ const told = [];
  if (muted.includes('audio')) told.push(['media.their-microphone-off', { name }]);
  if (muted.includes('video')) told.push(['media.their-camera-off', { name }]);
  setTexts($('practitioner-media'), told);
  $('practitioner-media').dataset.muted = muted.join(' ');
  // No frozen picture: shown only while the practitioner's camera sends.
  practitionerVideo.hidden = !practitioner || muted.includes('video') || !(practitionerVideo.videoWidth > 0);
}

async function switchCamera() {
  facing = facing === 'environment' ? 'user' : 'environment';
  try {
    // Release the old camera first: many phones cannot open two at once.
    if (localStream) localStream.getVideoTracks().forEach((track) => track.stop());
    await openCamera();
  } catch {
    facing = facing === 'environment' ? 'user' : 'environment';
    await openCamera().catch(() => say('status.camera-not-switched'));
  }
}

async function keepScreenAwake() {
  try {
    if ('wakeLock' in navigator) await navigator.wakeLock.request('screen');
  } catch {
    // not allowed here (battery saver, older browser): the call still works
  }
}

document.addEventListener('visibilitychange', () => {
  // The screen lock is let go while the page is hidden: ask for it again.
  if (document.visibilityState === 'visible' && localStream) keepScreenAwake();
});

connection.onlinkstate = (state) => {
  if (state === 'connecting') say('status.connecting');
  if (state !== 'reconnecting') return;
  // Cut off from the server, nothing shown is known to be true (a recording may have stopped):
  // hide the live indicators until the server says again what is happening.
  // 'reconnecting' repeats at every attempt: remember across attempts that a recording was shown.
  const indicator = $('rec-indicator');
  const wasLive = ['recording', 'paused', 'unknown-was-live'].includes(indicator.dataset.state || '');
  say(wasLive ? 'status.reconnecting-was-live' : 'status.reconnecting');
  timer.stop();
  indicator.hidden = true;
  document.body.classList.remove('recording', 'recording-paused');
  indicator.dataset.state = wasLive ? 'unknown-was-live' : 'unknown';
  $('rec-pause').hidden = true;
  $('rec-resume').hidden = true;
  setPlain($('watching'), '');
  practitionerVideo.hidden = true;
  pauseHere.disabled = true;
  pauseHint(false, false);
  setPlain($('review-state'), '');
  $('review-state').dataset.state = 'unknown';
};
let practitionerHere = false;
/** Only say the practitioner can see the family when they are in the call, and not while the
 * question about recording waits for an answer (the page would contradict itself). */
function sayConnected() {
  if (panel.shown && !panel.afterCall) say('status.connected-answer');
  else say(practitionerHere ? 'status.connected-seen' : 'status.connected-waiting');
}
const CONNECTED = ['status.connected-answer', 'status.connected-seen', 'status.connected-waiting'];
const saysConnected = () => CONNECTED.includes(saying());
connection.onmediastate = (state) => {
  if (state === 'connected') sayConnected();
  if (state === 'connecting') say('status.video-connecting');
  if (state === 'failed') say('status.video-lost');
};
connection.onparticipants = (list) => {
  const practitioner = list.find((p) => p.role === 'practitioner');
  practitionerHere = Boolean(practitioner);
  if (saysConnected()) sayConnected();
  sayAnswer();
  showReview();
  if (practitioner) setText($('watching'), 'call.practitioner-here', { name: practitioner.name });
  else setText($('watching'), 'call.practitioner-waiting');
  showPractitionerMedia(practitioner);
};
connection.onwelcome = (welcome) => {
  sendOff(); // a new connection starts with nothing turned off: say again what is
  document.body.classList.toggle('in-review', welcome.session.kind === 'review');
};

const PLAYING_KEYS = /** @type {Record<string, string>} */ ({ 1: 'review.playing', 0.5: 'review.playing-half' });
/** The review's state in the family's words; a clip taken off screen (consent withdrawn, or
 * deleted) says why. @param {ReviewState} message */
function reviewKey(message) {
  if (message.notice) return message.notice_code ? `notice.${message.notice_code}` : '';
  if (message.state === 'playing') return PLAYING_KEYS[String(message.speed)] || 'review.playing-quarter';
  return `review.${message.state}`;
}
/** @type {ReviewState|null} the review's state last sent by the server */
let lastReview = null;
connection.onmessage = (message) => {
  if (message.type !== 'review-state') return;
  lastReview = message;
  showReview();
};
/** The caption under the clip and "Pause here" say what is true now: while the practitioner
 * is not in the call nobody is showing anything, so no "Paused: look at this moment together"
 * (only that the clips start when they join). */
function showReview() {
  const message = lastReview;
  if (!message) return;
  const caption = $('review-state');
  if (!practitionerHere) {
    setText(caption, 'review.waiting');
    caption.dataset.state = 'waiting';
    pauseHere.disabled = true;
    setText(pauseHere, 'review.pause-here');
    setText($('pause-hint'), 'review.hint-no-practitioner');
    return;
  }
  const key = reviewKey(message);
  if (key) setText(caption, key);
  else setPlain(caption, message.notice || ''); // a notice this page has no words for
  caption.dataset.state = message.state;
  $('clip-video').hidden = message.state === 'empty';
  pauseHere.disabled = message.state !== 'playing' || Boolean(message.pause_request);
  setText(pauseHere, message.pause_request ? 'review.pause-asked' : 'review.pause-here');
  pauseHint(message.state === 'playing', Boolean(message.pause_request));
}
/** Say what "Pause here" does, and why it cannot be pressed now (never pale with no reason).
 * @param {boolean} playing @param {boolean} asked */
function pauseHint(playing, asked) {
  setText($('pause-hint'), asked ? 'review.hint-asked' : playing ? 'review.hint-playing' : 'review.hint-waiting');
}
pauseHere.addEventListener('click', () => {
  connection.send({ type: 'review', action: 'request-pause' });
  pauseHere.disabled = true;
  pauseHint(true, true);
});
connection.onremotestream = (stream, slot) => {
  if (slot === 'clip') {
    $('clip-video', HTMLVideoElement).srcObject = stream;
    return;
  }
  practitionerVideo.srcObject = stream;
  practitionerVideo.onresize = () => {
    practitionerVideo.hidden = !(practitionerVideo.videoWidth > 0);
  };
};
connection.oncontrol = (action) => {
  if (action === 'switch-camera') switchCamera();
};
connection.onusererror = (code) => say(errorKey(code));
connection.onconsent = (given, wording, context) => {
  // The copy sent at join is English: the page asked for its own language's before the call.
  if (wording && !panel.wordings[wording.language]) panel.keep(wording);
  panel.consent = given;
  // Asked once per call, with what the family agreed before already ticked.
  $('consent-change').hidden = !context.confirmed;
  if (!context.confirmed && panel.wording && !panel.shown) {
    panel.show();
    if (saysConnected()) sayConnected();
  }
};
/** The recording state last told to the family (the headline is read out by screen readers). */
let toldRecording = 'idle';
/** @param {string} state */
function recordingNews(state) {
  if (state === 'recording') return 'recording.now';
  if (state === 'paused') return 'recording.paused';
  return 'recording.stopped';
}
connection.onrecording = (status) => {
  const live = status.state === 'recording' || status.state === 'paused';
  const indicator = $('rec-indicator');
  indicator.hidden = !live;
  indicator.dataset.state = status.state;
  setText($('rec-label'), status.state === 'paused' ? 'recording.label-paused' : 'recording.label');
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

/** The family answered the question in the call. @param {string[]} purposes */
function answerInCall(purposes) {
  const wording = panel.wording;
  if (!wording) return;
  const language = currentLanguage();
  if (!connection.send({ type: 'consent', version: wording.version, purposes, language })) {
    say('consent.not-sent');
    return;
  }
  $('consent-panel').hidden = true;
  // Say what this call will do: a review is recorded for supervision, filming for analysis.
  // While a recording runs, "can now record" would be wrong: say the choice was kept instead.
  const records = purposes.includes(wording.records);
  if (records && toldRecording === 'recording') say('consent.saved-recording');
  else if (records && toldRecording === 'paused') say('consent.saved-paused');
  else if (records && !practitionerHere) say('consent.saved-waiting');
  else panel.sayWording($('status'), records ? 'will_record' : 'will_not_record');
}
/** "Your practitioner can now record this call" only while they are in it: before they join
 * (or after they leave) the headline says the choices are saved and they are not here yet. */
function sayAnswer() {
  const status = $('status');
  if (practitionerHere && saying() === 'consent.saved-waiting') panel.sayWording(status, 'will_record');
  else if (!practitionerHere && status.dataset.wording === 'will_record') say('consent.saved-waiting');
}
panel.onanswer = (purposes) => {
  if (panel.afterCall) withdraw(panel, purposes);
  else answerInCall(purposes);
};

$('consent-change').addEventListener('click', () => {
  panel.show();
  if (saysConnected()) sayConnected();
});
$('rec-pause').addEventListener('click', () => connection.send({ type: 'record', action: 'pause' }));
$('rec-resume').addEventListener('click', () => connection.send({ type: 'record', action: 'resume' }));
connection.onended = () => showAfterCall(panel, 'ended.thanks');
connection.onfatal = (code) => {
  if (code === 4001) finish('ended.elsewhere');
  else if (code === 4002) showAfterCall(panel, 'ended.plain');
  else explainRefusal(panel); // why, in the family's language: the server's reason is English
};

$('start').addEventListener('click', async () => {
  const start = $('start', HTMLButtonElement);
  start.disabled = true;
  say('status.opening-camera');
  try {
    await openCamera();
  } catch {
    start.disabled = false;
    say('status.camera-failed');
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
  if (!window.confirm(t('leave.confirm'))) return;
  finish('leave.done', 'leave.close-page');
  offerRejoin();
});
$('rejoin').addEventListener('click', () => window.location.reload());

pauseHint(false, false);
startI18n().then(() => {
  languagePicker($('language-picker'));
  // /f/?wait=N: too many wrong short codes came from this connection (family_links.py).
  const tooMany = new URLSearchParams(window.location.search).has('wait');
  if (!token) refuseLink(tooMany ? 'too-many' : 'bad-link');
  else checkLink(panel);
});

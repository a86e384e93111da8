// Replay a recorded shared review: both cameras in sync, and the clip as it was on screen,
// rebuilt from the recorded playback events. Each pause is a chapter.
import { formatTime, seekTimeFor } from './frames.js';
import { $, cannotOpen } from './ui.js';

/**
 * What GET /api/recordings/<id>/timeline gives (vigremote/review/replay.py): the cameras, the
 * player's recorded events (t_s on the recording's clock, then what the player did), the
 * chapters and every clip that was shown.
 * @typedef {{t_s: number, action: string, kind?: string, id?: string, frame?: number, speed?: number}} PlaybackEvent
 * @typedef {{title: string, media_url: string, times_ms: number[]}} ShownClip
 * @typedef {{recording: {case_id: string}, cameras: {publisher: string, media_url: string}[],
 *   events: PlaybackEvent[], chapters: {t_s: number, note: string}[],
 *   clips: Record<string, ShownClip>}} Timeline
 */

const recordingId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
/** @type {Timeline} */ let timeline = { recording: { case_id: '' }, cameras: [], events: [], chapters: [], clips: {} };
/** @type {string|null} */ let loadedClip = null;

/**
 * What the clip player was doing at `t` seconds: which clip, which frame, playing or held.
 * @param {number} t
 */
export function stateAt(t) {
  /** @type {{clip: string|null, frame: number, playing: boolean, since: number, speed: number}} */
  const state = { clip: null, frame: 0, playing: false, since: 0, speed: 1 };
  for (const event of timeline.events) {
    if (event.t_s > t) break;
    if (event.action === 'select') Object.assign(state, { clip: event.kind === 'clip' ? event.id : null, frame: 0, playing: false });
    else if (event.action === 'play') Object.assign(state, { frame: event.frame, playing: true, since: event.t_s, speed: event.speed || state.speed });
    else if (['pause', 'seek', 'end'].includes(event.action)) Object.assign(state, { frame: event.frame, playing: false });
    else if (event.action === 'speed') state.speed = event.speed || state.speed;
  }
  return state;
}

/** Put the clip video where it was at the master clock's time. */
function follow() {
  const master = $('camera-family', HTMLVideoElement);
  const t = master.currentTime;
  const other = $('camera-practitioner', HTMLVideoElement);
  if (Math.abs(other.currentTime - t) > 0.2) other.currentTime = t;
  const state = stateAt(t);
  const clipVideo = $('clip-video', HTMLVideoElement);
  if (!state.clip) {
    $('clip-caption').textContent = 'No clip on screen';
    return;
  }
  const clip = timeline.clips[state.clip];
  if (loadedClip !== state.clip) {
    loadedClip = state.clip;
    clipVideo.src = clip.media_url;
  }
  const times = clip.times_ms;
  let target = seekTimeFor(times, state.frame);
  if (state.playing) target = times[state.frame] / 1000 + (t - state.since) * state.speed;
  if (Math.abs(clipVideo.currentTime - target) > (state.playing ? 0.25 : 0.001)) clipVideo.currentTime = target;
  clipVideo.playbackRate = state.speed;
  if (state.playing && master.paused === false) clipVideo.play().catch(() => {});
  else clipVideo.pause();
  $('clip-caption').textContent = `${clip.title}: ${state.playing ? 'playing' : `held on frame ${state.frame}`}`;
  $('clip-caption').dataset.frame = String(state.frame);
}

(async () => {
  const response = await fetch(`/api/recordings/${recordingId}/timeline`, { credentials: 'same-origin' });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    cannotOpen('This replay cannot be opened', (data.error && data.error.message) || '');
    return;
  }
  timeline = data;
  $('back', HTMLAnchorElement).href = `/app#case/${timeline.recording.case_id}`;
  for (const camera of timeline.cameras) {
    const video = document.getElementById(`camera-${camera.publisher}`);
    if (video instanceof HTMLVideoElement) video.src = camera.media_url;
  }
  const list = $('chapters');
  for (const chapter of timeline.chapters) {
    const entry = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `${formatTime(chapter.t_s)} — ${chapter.note}`;
    button.addEventListener('click', () => {
      $('camera-family', HTMLVideoElement).pause();
      $('camera-family', HTMLVideoElement).currentTime = chapter.t_s + 0.05;
    });
    entry.append(button);
    list.append(entry);
  }
  if (!timeline.chapters.length) {
    const entry = document.createElement('li');
    entry.textContent = 'No pauses in this review, so no chapters.';
    list.append(entry);
  }
  const master = $('camera-family', HTMLVideoElement);
  for (const name of ['timeupdate', 'seeked', 'play', 'pause']) master.addEventListener(name, follow);
  master.addEventListener('play', () => $('camera-practitioner', HTMLVideoElement).play().catch(() => {}));
  master.addEventListener('pause', () => $('camera-practitioner', HTMLVideoElement).pause());
  follow();
})();

// Micro-analysis page: step through a recording frame by frame and cut clips and stills.
import { api, whoAmI } from './api.js';
import { $, tell } from './ui.js';
import { formatTime, frameAt, seekTimeFor } from './frames.js';

const recordingId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
const video = /** @type {HTMLVideoElement} */ ($('analysis-video'));
/** @type {number[]} */ let times = [];
/** @type {number[]} */ let bookmarks = [];
let current = 0;
/** @type {number|null} */ let inFrame = null;
/** @type {number|null} */ let outFrame = null;
/** @type {string|null} */ let caseId = null;
/** @type {string|null} */ let editingClip = null; // re-trimming this clip instead of cutting a new one


/** @type {number|undefined} */ let seekWatchdog;

/** Show exactly frame `index` (paused). */
function showFrame(/** @type {number} */ index) {
  if (!times.length) return;
  video.pause();
  current = Math.max(0, Math.min(index, times.length - 1));
  video.currentTime = seekTimeFor(times, current);
  render();
  // Chromium now and then never finishes a seek that follows many quick ones (the picture
  // stays blank): ask again for the same frame if it has not arrived in a moment.
  window.clearTimeout(seekWatchdog);
  const wanted = current;
  seekWatchdog = window.setTimeout(function retry() {
    if (wanted !== current || !video.seeking) return;
    video.currentTime = seekTimeFor(times, current);
    seekWatchdog = window.setTimeout(retry, 700);
  }, 700);
}

function render() {
  $('frame-number').textContent = String(current);
  $('frame-number').dataset.frame = String(current);
  $('frame-time').textContent = formatTime((times[current] || 0) / 1000);
  $('play').textContent = video.paused ? 'Play' : 'Pause';
  const total = times.length ? times[times.length - 1] : 1;
  $('playhead').style.left = `${(100 * (times[current] || 0)) / total}%`;
  $('in-label').textContent = `in: ${inFrame ?? '–'}`;
  $('out-label').textContent = `out: ${outFrame ?? '–'}`;
  const range = $('range');
  range.hidden = inFrame === null || outFrame === null;
  if (!range.hidden) {
    range.style.left = `${(100 * times[/** @type {number} */ (inFrame)]) / total}%`;
    range.style.width = `${(100 * (times[/** @type {number} */ (outFrame)] - times[/** @type {number} */ (inFrame)])) / total}%`;
  }
}

/** While playing, follow the frame actually presented. */
function follow() {
  const anyVideo = /** @type {any} */ (video);
  if (typeof anyVideo.requestVideoFrameCallback === 'function') {
    const onFrame = (/** @type {number} */ _now, /** @type {any} */ meta) => {
      // Only while playing: when paused, `current` is what the practitioner asked for, and a
      // late callback from an earlier seek must not move it back.
      if (!video.paused) {
        current = frameAt(times, meta.mediaTime);
        render();
      }
      anyVideo.requestVideoFrameCallback(onFrame);
    };
    anyVideo.requestVideoFrameCallback(onFrame);
  }
  video.addEventListener('timeupdate', () => {
    if (!video.paused) {
      current = frameAt(times, video.currentTime);
      render();
    }
  });
  video.addEventListener('pause', () => {
    // Settle on an exact frame when playback stops.
    current = frameAt(times, video.currentTime);
    showFrame(current);
  });
  video.addEventListener('play', render);
}

function togglePlay() {
  if (video.paused) video.play();
  else video.pause();
}

function setSpeed(/** @type {number} */ rate) {
  video.playbackRate = rate;
  $('speed-label').textContent = `${rate}×`;
}

function jumpBookmark(/** @type {number} */ direction) {
  const now = times[current] / 1000;
  const candidates = direction > 0 ? bookmarks.filter((t) => t > now + 0.001) : bookmarks.filter((t) => t < now - 0.001).reverse();
  if (candidates.length) showFrame(frameAt(times, candidates[0]));
}

async function buildTimeline() {
  const total = times[times.length - 1] || 1;
  const marks = $('marks');
  for (const t of bookmarks) {
    const mark = document.createElement('div');
    mark.className = 'mark';
    mark.style.left = `${(100 * t * 1000) / total}%`;
    marks.append(mark);
  }
  try {
    const thumbs = await api('GET', `/api/recordings/${recordingId}/thumbnails`);
    const strip = $('thumbs');
    thumbs.times_s.forEach((/** @type {number} */ t, /** @type {number} */ i) => {
      const cell = document.createElement('div');
      cell.className = 'thumb';
      cell.style.left = `${(100 * t * 1000) / total}%`;
      cell.style.width = `${thumbs.width}px`;
      cell.style.height = `${thumbs.height}px`;
      cell.style.backgroundImage = `url(${thumbs.sprite_url})`;
      cell.style.backgroundPosition = `-${i * thumbs.width}px 0`;
      strip.append(cell);
    });
    strip.style.height = `${thumbs.height}px`;
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
  const audio = await api('GET', `/api/recordings/${recordingId}/audio-activity`).catch(() => null);
  if (audio) {
    const canvas = /** @type {HTMLCanvasElement} */ ($('audio-band'));
    canvas.width = Math.max(1, audio.levels.length);
    const context = canvas.getContext('2d');
    if (context) {
      context.fillStyle = '#1f6f8b';
      audio.levels.forEach((/** @type {number} */ level, /** @type {number} */ x) => {
        context.fillRect(x, canvas.height * (1 - level), 1, canvas.height * level);
      });
    }
  }
  $('timeline').addEventListener('click', (/** @type {MouseEvent} */ event) => {
    const box = $('timeline').getBoundingClientRect();
    const fraction = (event.clientX - box.left) / box.width;
    showFrame(frameAt(times, (fraction * total) / 1000));
  });
}

async function loadTags() {
  const { tags } = await api('GET', '/api/tags');
  const box = $('tags');
  for (const tag of tags) {
    const label = document.createElement('label');
    label.className = 'tag';
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.value = tag;
    label.append(input, ` ${tag}`);
    box.append(label);
  }
}

$('clip-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  if (inFrame === null || outFrame === null || outFrame < inFrame) {
    tell('Set an in point and a later out point first.');
    return;
  }
  const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
  const tags = [...$('tags').querySelectorAll('input:checked')].map((i) => i.value);
  const fields = { first: inFrame, last: outFrame, title: form.get('title'), notes: form.get('notes'), tags };
  try {
    const { clip } = editingClip
      ? await api('PATCH', `/api/clips/${editingClip}`, fields)
      : await api('POST', `/api/recordings/${recordingId}/clips`, fields);
    tell(`Clip "${clip.title}" saved: ${clip.frames} frames, ${clip.duration_s.toFixed(2)} s.`);
    if (!editingClip) /** @type {HTMLFormElement} */ (event.target).reset();
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('still-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
  try {
    const { still } = await api('POST', `/api/recordings/${recordingId}/stills`, { frame: current, caption: form.get('caption') });
    tell(`Frame ${still.frame} saved as a still.`);
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('play').addEventListener('click', togglePlay);
$('step-back').addEventListener('click', () => showFrame(current - 1));
$('step-forward').addEventListener('click', () => showFrame(current + 1));
$('prev-bookmark').addEventListener('click', () => jumpBookmark(-1));
$('next-bookmark').addEventListener('click', () => jumpBookmark(1));
$('set-in').addEventListener('click', () => { inFrame = current; render(); });
$('set-out').addEventListener('click', () => { outFrame = current; render(); });
for (const button of document.querySelectorAll('.speed')) {
  button.addEventListener('click', () => setSpeed(Number(/** @type {HTMLElement} */ (button).dataset.rate)));
}
document.addEventListener('keydown', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
  const second = Math.max(1, Math.round(1000 / ((times[1] - times[0]) || 33)));
  const actions = /** @type {Record<string, () => void>} */ ({
    ' ': togglePlay,
    ArrowLeft: () => showFrame(current - (event.shiftKey ? second : 1)),
    ArrowRight: () => showFrame(current + (event.shiftKey ? second : 1)),
    '[': () => jumpBookmark(-1),
    ']': () => jumpBookmark(1),
    i: () => { inFrame = current; render(); },
    o: () => { outFrame = current; render(); },
    s: () => $('save-still').click(),
    1: () => setSpeed(0.25),
    2: () => setSpeed(0.5),
    3: () => setSpeed(1),
  });
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

(async () => {
  try {
    await whoAmI();
  } catch {
    window.location.href = '/app';
    return;
  }
  try {
    const recording = await api('GET', `/api/recordings/${recordingId}`);
    caseId = recording.case_id;
    $('back').href = `/app#case/${caseId}`;
    $('title').textContent = `Recording of ${new Date(recording.started_at * 1000).toLocaleString()} (${recording.status})`;
    times = recording.frames.times_ms;
    bookmarks = recording.bookmarks.map((/** @type {{t_s: number}} */ b) => b.t_s);
    $('frame-count').textContent = String(times.length);
    video.src = recording.media_url;
    video.addEventListener('loadedmetadata', () => showFrame(0), { once: true });
    follow();
    await loadTags();
    await buildTimeline();
    const clipId = new URLSearchParams(window.location.search).get('clip');
    if (clipId) {
      const { clip } = await api('GET', `/api/clips/${clipId}`);
      editingClip = clip.id;
      inFrame = clip.first_frame;
      outFrame = clip.last_frame;
      const form = $('clip-form');
      form.elements.title.value = clip.title;
      form.elements.notes.value = clip.notes;
      for (const input of $('tags').querySelectorAll('input')) input.checked = clip.tags.includes(input.value);
      $('cut').textContent = 'Save the new in and out';
      showFrame(clip.first_frame);
    }
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
})();

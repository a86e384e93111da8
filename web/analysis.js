// Micro-analysis page: step through a recording frame by frame and cut clips and stills.
import { api, whoAmI } from './api.js';
import { $, cannotOpen, field, tell } from './ui.js';
import { describeFrame, formatTime, frameAt, frameSecondsAway, seekTimeFor } from './frames.js';

const recordingId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
const video = $('analysis-video', HTMLVideoElement);
/** @type {number[]} */ let times = [];
/** @type {number[]} */ let bookmarks = [];
/** @typedef {{t_s: number, note: string}} Bookmark */
/** @type {Bookmark[]} */ let bookmarkNotes = [];
let current = 0;
/** @type {number|null} */ let inFrame = null;
/** @type {number|null} */ let outFrame = null;
/** @type {string|null} */ let caseId = null;
/** @type {string|null} */ let editingClip = null; // re-trimming this clip instead of cutting a new one
/** @type {number|null} */ let previewEnd = null; // playing the selection: stop on this frame
/** @type {number|undefined} */ let messageTimer;
/** @type {Set<string>} */ const work = new Set();

/**
 * Show a message in the toast area at the bottom of the screen (where the practitioner is
 * looking, wherever the page is scrolled). Confirmations clear themselves; problems stay
 * until the next message or a click on them.
 */
function notify(/** @type {string} */ text, /** @type {'done'|'problem'} */ kind = 'done') {
  tell(text);
  $('message').dataset.kind = kind;
  window.clearTimeout(messageTimer);
  if (kind === 'done') messageTimer = window.setTimeout(() => tell(''), 8000);
}

/**
 * Run a long request (thumbnails, preparing the recording, cutting) with a visible
 * "Working…" line and spinner for as long as it runs.
 * @template T
 * @param {string} label what is being done, in plain words
 * @param {() => Promise<T>} run
 * @returns {Promise<T>}
 */
async function working(label, run) {
  work.add(label);
  showWork();
  try {
    return await run();
  } finally {
    work.delete(label);
    showWork();
  }
}

function showWork() {
  $('work').hidden = work.size === 0;
  $('work-text').textContent = `Working… ${[...work].join(', ')}`;
}


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
  const timeline = $('timeline'); // a slider: screen readers say where it stands
  timeline.setAttribute('aria-valuemax', String(Math.max(0, times.length - 1)));
  timeline.setAttribute('aria-valuenow', String(current));
  timeline.setAttribute('aria-valuetext', describeFrame(times, current));
  $('in-label').textContent = `In: ${inFrame === null ? 'not set' : describeFrame(times, inFrame)}`;
  $('out-label').textContent = `Out: ${outFrame === null ? 'not set' : describeFrame(times, outFrame)}`;
  $('preview', HTMLButtonElement).disabled = inFrame === null || outFrame === null || outFrame < inFrame;
  $('preview').textContent = previewEnd === null ? '▶ Play selection' : '■ Stop';
  const range = $('range');
  range.hidden = inFrame === null || outFrame === null;
  if (!range.hidden) {
    range.style.left = `${(100 * times[/** @type {number} */ (inFrame)]) / total}%`;
    range.style.width = `${(100 * (times[/** @type {number} */ (outFrame)] - times[/** @type {number} */ (inFrame)])) / total}%`;
  }
}

/** While playing, follow the frame actually presented. */
function follow() {
  if (typeof video.requestVideoFrameCallback === 'function') {
    /** @type {VideoFrameRequestCallback} */
    const onFrame = (_now, meta) => {
      // Only while playing: when paused, `current` is what the practitioner asked for, and a
      // late callback from an earlier seek must not move it back.
      if (!video.paused) {
        current = frameAt(times, meta.mediaTime);
        render();
        stopAtOut();
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  video.addEventListener('timeupdate', () => {
    if (!video.paused) {
      current = frameAt(times, video.currentTime);
      render();
      stopAtOut();
    }
  });
  video.addEventListener('pause', () => {
    previewEnd = null;
    // Settle on an exact frame when playback stops.
    current = frameAt(times, video.currentTime);
    showFrame(current);
  });
  video.addEventListener('play', render);
}

/** While the selection plays: hold on its out frame once it is reached. */
function stopAtOut() {
  if (previewEnd !== null && current >= previewEnd) {
    const end = previewEnd;
    previewEnd = null;
    showFrame(end);
  }
}

/** Play the selection from its in frame, stopping on its out frame (again: stop). */
function previewSelection() {
  if (previewEnd !== null) {
    video.pause();
    return;
  }
  if (inFrame === null || outFrame === null || outFrame < inFrame) {
    notify('Set an in point and a later out point first.', 'problem');
    return;
  }
  const end = outFrame;
  showFrame(inFrame);
  video.play().then(() => {
    previewEnd = end;
    render();
  }).catch(() => {});
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
  for (const bookmark of bookmarkNotes) {
    const mark = document.createElement('div');
    mark.className = 'mark';
    mark.style.left = `${(100 * bookmark.t_s * 1000) / total}%`;
    mark.title = `Bookmark at ${formatTime(bookmark.t_s)}${bookmark.note ? `: ${bookmark.note}` : ''}`;
    mark.addEventListener('click', (event) => {
      event.stopPropagation();
      showFrame(frameAt(times, bookmark.t_s));
    });
    marks.append(mark);
  }
  try {
    const thumbs = await working('making thumbnails', () => api('GET', `/api/recordings/${recordingId}/thumbnails`));
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
    notify(/** @type {Error} */ (error).message, 'problem');
  }
  const audio = await working('reading the sound', () => api('GET', `/api/recordings/${recordingId}/audio-activity`)).catch(() => null);
  if (audio) {
    const canvas = $('audio-band', HTMLCanvasElement);
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

/** The bookmarks made while filming, with their notes: a click shows that moment. */
function listBookmarks() {
  const list = $('bookmark-list');
  list.replaceChildren();
  for (const bookmark of bookmarkNotes) {
    const button = document.createElement('button');
    button.type = 'button';
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = formatTime(bookmark.t_s);
    button.append(time, ` ${bookmark.note || '(no note)'}`);
    button.addEventListener('click', () => showFrame(frameAt(times, bookmark.t_s)));
    const item = document.createElement('li');
    item.append(button);
    list.append(item);
  }
  $('no-bookmarks').hidden = bookmarkNotes.length > 0;
}

/** The clips already cut from this recording: a click loads its in and out. */
async function listClips() {
  if (!caseId) return;
  const { clips } = await api('GET', `/api/cases/${caseId}/clips`);
  const mine = clips.filter((/** @type {{recording_id: string}} */ c) => c.recording_id === recordingId);
  const list = $('clip-list');
  list.replaceChildren();
  for (const clip of mine) {
    const item = document.createElement('li');
    item.dataset.clip = clip.id;
    const load = document.createElement('button');
    load.type = 'button';
    load.className = 'load-clip';
    load.textContent = `${clip.title}: ${describeFrame(times, clip.first_frame)} to ${describeFrame(times, clip.last_frame)}, ${clip.duration_s.toFixed(2)} s`;
    load.title = 'Load its in and out points';
    load.addEventListener('click', () => {
      inFrame = clip.first_frame;
      outFrame = clip.last_frame;
      showFrame(clip.first_frame);
      notify(`In and out of "${clip.title}" loaded: press "Play selection" to watch it.`);
    });
    const edit = document.createElement('a');
    edit.href = `/analysis/${encodeURIComponent(recordingId)}?clip=${encodeURIComponent(clip.id)}`;
    edit.textContent = 'Change its in and out';
    item.append(load, ' ', edit);
    list.append(item);
  }
  $('no-clips').hidden = mine.length > 0;
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
    notify('Set an in point and a later out point first.', 'problem');
    return;
  }
  const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
  const tags = [...$('tags').querySelectorAll('input')].filter((i) => i.checked).map((i) => i.value);
  const fields = { first: inFrame, last: outFrame, title: form.get('title'), notes: form.get('notes'), tags };
  $('cut', HTMLButtonElement).disabled = true;
  try {
    const { clip } = await working('cutting the clip', () => editingClip
      ? api('PATCH', `/api/clips/${editingClip}`, fields)
      : api('POST', `/api/recordings/${recordingId}/clips`, fields));
    notify(`Clip "${clip.title}" saved: ${clip.frames} frames, ${clip.duration_s.toFixed(2)} s.`);
    if (!editingClip) /** @type {HTMLFormElement} */ (event.target).reset();
    await listClips();
  } catch (error) {
    notify(/** @type {Error} */ (error).message, 'problem');
  } finally {
    $('cut', HTMLButtonElement).disabled = false;
  }
});
$('still-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
  try {
    const { still } = await working('saving the frame', () => api('POST', `/api/recordings/${recordingId}/stills`, { frame: current, caption: form.get('caption') }));
    notify(`Frame ${still.frame} (${formatTime(still.time_s)}) saved as a still.`);
  } catch (error) {
    notify(/** @type {Error} */ (error).message, 'problem');
  }
});
// The focused timeline also takes the slider keys (← → one frame come from the page's keys).
$('timeline').addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
  const moves = /** @type {Record<string, () => number>} */ ({
    Home: () => 0,
    End: () => times.length - 1,
    PageUp: () => frameSecondsAway(times, current, 1),
    PageDown: () => frameSecondsAway(times, current, -1),
    ArrowUp: () => current + 1,
    ArrowDown: () => current - 1,
  });
  const move = moves[event.key];
  if (!move || event.ctrlKey || event.metaKey || event.altKey) return;
  event.preventDefault();
  showFrame(move());
});
$('play').addEventListener('click', togglePlay);
$('preview').addEventListener('click', previewSelection);
$('message').addEventListener('click', () => tell(''));
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
  const actions = /** @type {Record<string, () => void>} */ ({
    ' ': togglePlay,
    ArrowLeft: () => showFrame(event.shiftKey ? frameSecondsAway(times, current, -1) : current - 1),
    ArrowRight: () => showFrame(event.shiftKey ? frameSecondsAway(times, current, 1) : current + 1),
    '[': () => jumpBookmark(-1),
    ']': () => jumpBookmark(1),
    i: () => { inFrame = current; render(); },
    o: () => { outFrame = current; render(); },
    p: previewSelection,
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
    const recording = await working('preparing the recording', () => api('GET', `/api/recordings/${recordingId}`))
      .catch((/** @type {Error} */ error) => cannotOpen('This recording cannot be opened', error.message));
    if (!recording) return;
    caseId = recording.case_id;
    $('back', HTMLAnchorElement).href = `/app#case/${caseId}`;
    $('title').textContent = `Recording of ${new Date(recording.started_at * 1000).toLocaleString()} (${recording.status})`;
    times = recording.frames.times_ms;
    bookmarkNotes = recording.bookmarks.map((/** @type {Bookmark} */ b) => ({ t_s: b.t_s, note: b.note || '' }));
    bookmarks = bookmarkNotes.map((b) => b.t_s);
    listBookmarks();
    $('frame-count').textContent = String(times.length);
    video.src = recording.media_url;
    video.addEventListener('loadedmetadata', () => showFrame(0), { once: true });
    follow();
    await loadTags();
    await listClips();
    await buildTimeline();
    const clipId = new URLSearchParams(window.location.search).get('clip');
    if (clipId) {
      const { clip } = await api('GET', `/api/clips/${clipId}`);
      editingClip = clip.id;
      inFrame = clip.first_frame;
      outFrame = clip.last_frame;
      const form = $('clip-form', HTMLFormElement);
      field(form, 'title').value = clip.title;
      field(form, 'notes').value = clip.notes;
      for (const input of $('tags').querySelectorAll('input')) input.checked = clip.tags.includes(input.value);
      $('cut').textContent = 'Save the new in and out';
      showFrame(clip.first_frame);
    }
  } catch (error) {
    notify(/** @type {Error} */ (error).message, 'problem');
  }
})();

// Frame arithmetic shared by the pages that step through video, with no DOM code.
//
// The server gives every frame's timestamp (ms). To show frame i exactly, whatever the
// browser, seek to the middle of its display interval rather than to its timestamp: browsers
// round a seek to a neighbouring frame differently, but all show frame i for a time strictly
// inside [t_i, t_{i+1}).

/**
 * The frame shown at `seconds` (the last frame whose timestamp is not after it).
 * @param {number[]} timesMs ascending frame timestamps
 * @param {number} seconds
 */
export function frameAt(timesMs, seconds) {
  const ms = seconds * 1000;
  let low = 0;
  let high = timesMs.length - 1;
  if (high < 0 || ms < timesMs[0]) return 0;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (timesMs[mid] <= ms + 0.5) low = mid;
    else high = mid - 1;
  }
  return low;
}

/**
 * The time (seconds) to seek to so that frame `index` is displayed.
 * @param {number[]} timesMs
 * @param {number} index
 */
export function seekTimeFor(timesMs, index) {
  const i = Math.max(0, Math.min(index, timesMs.length - 1));
  const next = i + 1 < timesMs.length ? timesMs[i + 1] : timesMs[i] + frameDurationMs(timesMs, i);
  return (timesMs[i] + next) / 2 / 1000;
}

/** @param {number[]} timesMs @param {number} index */
export function frameDurationMs(timesMs, index) {
  if (index + 1 < timesMs.length) return timesMs[index + 1] - timesMs[index];
  if (index > 0) return timesMs[index] - timesMs[index - 1];
  return 33;
}

/** "mm:ss.mmm" */
export function formatTime(/** @type {number} */ seconds) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const m = Math.floor(ms / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}`;
}

/**
 * The frame whose timestamp is nearest `ms` (ties go to the earlier frame).
 * @param {number[]} timesMs ascending frame timestamps
 * @param {number} ms
 */
export function frameNear(timesMs, ms) {
  const before = frameAt(timesMs, ms / 1000);
  const after = Math.min(before + 1, timesMs.length - 1);
  return Math.abs(timesMs[after] - ms) < Math.abs(ms - timesMs[before]) ? after : before;
}

/**
 * The frame `seconds` away from frame `index` by the frames' own timestamps, so that a
 * "one second" step covers one second of the recording whatever its real frame rate (a
 * live recording's rate varies; the first frame gap says nothing about the rest). Always
 * moves at least one frame while there is one to move to.
 * @param {number[]} timesMs
 * @param {number} index
 * @param {number} seconds
 */
export function frameSecondsAway(timesMs, index, seconds) {
  if (!timesMs.length) return 0;
  const from = Math.max(0, Math.min(index, timesMs.length - 1));
  const to = frameNear(timesMs, timesMs[from] + seconds * 1000);
  if (to === from && seconds !== 0) return Math.max(0, Math.min(from + Math.sign(seconds), timesMs.length - 1));
  return to;
}

/** "mm:ss.mmm (frame n)": a frame as the practitioner reads it. */
export function describeFrame(/** @type {number[]} */ timesMs, /** @type {number} */ index) {
  return `${formatTime((timesMs[index] || 0) / 1000)} (frame ${index})`;
}

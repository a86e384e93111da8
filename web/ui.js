// Small DOM helpers shared by the practitioner's pages.

/** The element with this id (pages look their elements up by id). */
export const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/** Show a message in the page's #message box (empty hides it). */
export function tell(/** @type {string} */ text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

let notifyTimer = 0;

/** Show a passing message ("Link copied.") that clears itself after `seconds`. */
export function notify(/** @type {string} */ text, seconds = 5) {
  tell(text);
  window.clearTimeout(notifyTimer);
  notifyTimer = window.setTimeout(() => {
    if ($('message').textContent === text) tell('');
  }, seconds * 1000);
}

/** Copy text to the clipboard, or show it when the browser will not. */
export async function copy(/** @type {string} */ text, /** @type {string} */ what = 'Link') {
  try {
    await navigator.clipboard.writeText(text);
    notify(`${what} copied.`);
  } catch {
    tell(text);
  }
}

/** How the purposes a family agreed to are named on the practitioner's pages. */
export const PURPOSE_NAMES = /** @type {Record<string, string>} */ ({
  analysis: 'your analysis',
  shared_review: 'shared review',
  supervision: 'supervision',
  training: 'training',
});

/** The video connection's state in plain words (not WebRTC's). @param {string} state */
export function mediaWords(state) {
  return /** @type {Record<string, string>} */ ({
    new: 'Online', connecting: 'Video connecting…', connected: 'Video connected',
    disconnected: 'Video interrupted…', failed: 'Video lost: retrying…', closed: 'Video stopped',
  })[state] || state;
}

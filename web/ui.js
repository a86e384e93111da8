// Small DOM helpers shared by the practitioner's pages.

/**
 * The page's element with this id, checked to be a `type` (HTMLElement when not given): a page
 * whose HTML lacks it, or has another kind of element there, fails at once naming the id,
 * instead of later on `null`.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {new () => T} [type]  e.g. HTMLInputElement, to use `.value`
 * @returns {T}
 */
export function byId(id, type) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`vigremote: this page has no element #${id}`);
  const wanted = type || HTMLElement;
  if (!(element instanceof wanted)) throw new Error(`vigremote: #${id} is not a ${wanted.name}`);
  return /** @type {T} */ (element);
}

/** byId, by the short name the pages use. */
export const $ = byId;

/**
 * The field of `form` with this name (an input, text area or list), or a clear error.
 * @param {HTMLFormElement} form @param {string} name
 * @returns {HTMLInputElement|HTMLTextAreaElement|HTMLSelectElement}
 */
export function field(form, name) {
  const element = form.elements.namedItem(name);
  if (element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement
    || element instanceof HTMLSelectElement) return element;
  throw new Error(`vigremote: the form #${form.id} has no field "${name}"`);
}

/** Show a message in the page's #message box (empty hides it). */
export function tell(/** @type {string} */ text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

/**
 * What the page is for (a recording, a review) cannot be opened: say so in its heading and in
 * its place, with the way back, instead of controls that can do nothing. The page holds a
 * hidden #cannot-open box with a #cannot-open-text line and a link back.
 * @param {string} title the page's new heading @param {string} why the server's reason
 */
export function cannotOpen(title, why) {
  const reason = why.trim() || 'the server did not say why';
  document.body.classList.add('cannot-open');
  $('title').textContent = title;
  $('cannot-open-text').textContent = `${reason[0].toUpperCase()}${reason.slice(1)}${/[.!?]$/.test(reason) ? '' : '.'}`;
  $('cannot-open').hidden = false;
}

/** On a phone a table is stacked (style.css): each cell is labelled with its column's heading. */
export function labelCells(/** @type {HTMLTableElement} */ table) {
  const headings = table.tHead ? [...table.tHead.rows[0].cells].map((th) => th.textContent || '') : [];
  for (const row of table.tBodies[0].rows) {
    [...row.cells].forEach((cell, i) => {
      if (headings[i]) cell.dataset.label = headings[i];
    });
  }
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
  copies: 'copies for the family',
});

/**
 * Where the family is, for the practitioner's badge, in plain words: 'absent' (not here yet),
 * 'left', or their video connection's state; with what they turned off.
 * @param {string} where @param {string[]} [off] 'audio', 'video'
 */
export function familyWords(where, off = []) {
  const notes = [off.includes('audio') ? 'microphone off' : '', off.includes('video') ? 'camera hidden' : '']
    .filter(Boolean).join(', ');
  const words = where === 'connected' && off.includes('video') ? 'Family is here'
    : /** @type {Record<string, string>} */ ({
      absent: 'Family not here yet', left: 'Family has left', connected: 'Family\'s video is on',
      disconnected: 'Family\'s connection interrupted', failed: 'Family\'s connection lost',
    })[where] || 'Family is joining…';
  return notes ? `${words} (${notes})` : words;
}

/** The video connection's state in plain words (not WebRTC's). @param {string} state */
export function mediaWords(state) {
  return /** @type {Record<string, string>} */ ({
    new: 'Online', connecting: 'Video connecting…', connected: 'Video connected',
    disconnected: 'Video interrupted…', failed: 'Video lost: retrying…', closed: 'Video stopped',
  })[state] || state;
}

/** Table cells holding these texts or elements, in order (a row's `append(...cells([…]))`).
 * @param {(string|Node)[]} contents @returns {HTMLTableCellElement[]} */
export function cells(contents) {
  return contents.map((content) => {
    const cell = document.createElement('td');
    cell.append(content);
    return cell;
  });
}

// The family page's screen, shared by its modules: elements by id, the headline (read out), and
// the end screen shown when there is no call (any more) on this page.
import { setPlain, setText } from './i18n.js';

/**
 * The element with this id (of this type); a page without it is a bug, said plainly.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {{new(): T, prototype: T}} [type]
 * @returns {T}
 */
export function $(id, type) {
  const element = document.getElementById(id);
  if (!element || (type && !(element instanceof type))) throw new Error(`the page has no #${id}`);
  return /** @type {T} */ (element);
}

/**
 * The headline: what is happening now, in the family's language.
 * @param {string} key @param {import('./i18n.js').Params} [params]
 */
export function say(key, params) {
  const status = $('status');
  delete status.dataset.wording;
  setText(status, key, params);
}

/** The key of the headline's text now ('' when it says something else). */
export function saying() {
  return $('status').dataset.i18n || '';
}

/** @type {(() => void)[]} what to close when the page finishes (the call, the camera) */
const closers = [];

/** Call `closer` when the page finishes. @param {() => void} closer */
export function onFinish(closer) {
  closers.push(closer);
}

/**
 * No call on this page any more: close it, and say once, at the top, what happened and what
 * to do now, if anything.
 * @param {string} key @param {string} [helpKey]
 */
export function finish(key, helpKey) {
  closers.forEach((close) => close());
  $('start-panel').hidden = true;
  $('call-panel').hidden = true;
  $('consent-panel').hidden = true;
  say(key); // once, at the top: the page has nothing else to show
  const help = $('help');
  if (helpKey) setText(help, helpKey);
  else setPlain(help, '');
  help.hidden = !helpKey;
  $('rejoin').hidden = true;
  document.body.classList.add('done');
  document.body.classList.remove('recording', 'recording-paused');
}

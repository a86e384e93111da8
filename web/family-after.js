// The family's page without a call: a link that cannot open one (said before any camera
// prompt), after the call (agreement can still be taken back on the same link), and after
// leaving (one button joins the call again while it is open).
import { FamilyApiError, errorKey, familyApi } from './family-api.js';
import { $, finish, say } from './family-screen.js';
import { currentLanguage, setText } from './i18n.js';

/** @typedef {import('./family-consent.js').ConsentPanel} ConsentPanel */

/** A link that cannot open the call, in plain words, with what to do about it.
 * @param {string} code the server's reason: link-replaced, expired, or anything else */
export function refuseLink(code) {
  if (code === 'link-replaced') finish('link.replaced', 'link.replaced-help');
  else if (code === 'expired') finish('link.expired', 'link.expired-help');
  else if (code === 'too-many') finish('link.too-many', 'link.too-many-help');
  else finish('link.bad', 'link.bad-help');
}

/**
 * The call is over: the page the link keeps opening, where consent can be taken back.
 * @param {ConsentPanel} panel @param {string} key what happened
 */
export async function showAfterCall(panel, key) {
  finish(key);
  try {
    await panel.fetch();
  } catch {
    return; // the link no longer works: what finish() said stands
  }
  if (panel.consent && panel.consent.purposes.length) panel.show(true);
}

/**
 * After the call: keep only these purposes (a withdrawal), said beside the button pressed.
 * @param {ConsentPanel} panel @param {string[]} purposes
 */
export async function withdraw(panel, purposes) {
  const wording = panel.wording;
  if (!wording) return;
  const result = $('consent-result');
  try {
    const saved = await familyApi('POST', { version: wording.version, purposes, language: currentLanguage() });
    panel.consent = saved.consent || null;
    panel.show(true);
    // Said beside the button the parent just pressed, not at the top of a long page.
    panel.sayWording(result, 'after_call.saved');
  } catch (error) {
    setText(result, errorKey(error instanceof FamilyApiError ? error.code : ''));
  }
}

/** After leaving: if the call is still open, one button brings the family back in. */
export async function offerRejoin() {
  try {
    const data = await familyApi('GET');
    if (!data.session || data.session.status !== 'open' || (data.link && data.link.expired)) return;
  } catch {
    return; // the link no longer works: "You have left the call" stands
  }
  if (!document.body.classList.contains('done')) return;
  setText($('help'), 'leave.rejoin-help');
  $('help').hidden = false;
  $('rejoin').hidden = false;
}

/**
 * Before asking for the camera: is the link good, and is its call still to come? Fetches the
 * wording in the family's language on the way.
 * @param {ConsentPanel} panel
 * @returns {Promise<boolean>} whether the call can be started
 */
export async function checkLink(panel) {
  try {
    const data = await panel.fetch();
    // The start screen says what kind of call this is: filming, or watching clips together.
    document.body.classList.toggle('in-review', Boolean(data.session && data.session.kind === 'review'));
    if (data.session && data.session.status !== 'open') {
      await showAfterCall(panel, 'ended.plain');
      return false;
    }
    if (data.link && data.link.expired) {
      refuseLink('expired');
      return false;
    }
  } catch (error) {
    if (error instanceof FamilyApiError && error.status === 401) {
      refuseLink(error.code);
      return false;
    }
    // The server could not be reached: the call button retries by itself.
  }
  if (!window.RTCPeerConnection || !navigator.mediaDevices) {
    finish('status.browser-unsupported');
    return false;
  }
  say('status.ready');
  return true;
}

/**
 * The server refused the call for good (not "ended", not "open elsewhere"): ask the link API
 * why, for a stable reason to say in the family's language.
 * @param {ConsentPanel} panel
 */
export async function explainRefusal(panel) {
  try {
    const data = await panel.fetch();
    if (data.session && data.session.status !== 'open') await showAfterCall(panel, 'ended.plain');
    else refuseLink(data.link && data.link.expired ? 'expired' : 'bad-link');
  } catch (error) {
    refuseLink(error instanceof FamilyApiError ? error.code : 'bad-link');
  }
}

// Small DOM helpers shared by the practitioner's pages.

/** The element with this id (pages look their elements up by id). */
export const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/** Show a message in the page's #message box (empty hides it). */
export function tell(/** @type {string} */ text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

/** Copy text to the clipboard, or show it when the browser will not. */
export async function copy(/** @type {string} */ text) {
  try {
    await navigator.clipboard.writeText(text);
    tell('Link copied.');
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

// The question about recording, in the family's language: purpose by purpose, at the start of
// each call (what they agreed before already ticked), or after the call to take agreement back.
// The wording comes from the server (vigremote/data/consent-wording*.json, the same version in
// every language); the organisation's own lines (how long, how to withdraw, whom to ask) come
// with it. A change of language asks for the wording in that language and keeps the ticks.
import { familyApi } from './family-api.js';
import { $ } from './family-screen.js';
import { DEFAULT_LANGUAGE, currentLanguage, onLanguageChange, setPlain, setText } from './i18n.js';

/** @typedef {import('./protocol.js').ConsentWording} ConsentWording */
/** @typedef {import('./protocol.js').Consent} Consent */

/**
 * A text of the wording by its path ("will_record", "after_call.saved").
 * @param {ConsentWording} wording @param {string} path @returns {string}
 */
function wordingText(wording, path) {
  /** @type {unknown} */ let found = wording;
  for (const part of path.split('.')) {
    found = found && typeof found === 'object' ? /** @type {Record<string, unknown>} */ (found)[part] : undefined;
  }
  return typeof found === 'string' ? found : '';
}

export class ConsentPanel {
  constructor() {
    /** @type {Record<string, ConsentWording>} the wording in each language fetched so far */
    this.wordings = {};
    /** @type {Consent|null} */ this.consent = null;
    /** After the call only a withdrawal can be made. */
    this.afterCall = false;
    /** The family answered: the purposes they agree to now. @type {(purposes: string[]) => void} */
    this.onanswer = () => {};
    $('consent-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.onanswer(this.ticked());
    });
    $('consent-decline').addEventListener('click', () => {
      // After the call: take back everything. In a call: only what would record this call; the
      // family's other choices (one consent for the whole case) stay as they are ticked.
      const wording = this.wording;
      if (this.afterCall || !wording) this.onanswer([]);
      else this.onanswer(this.ticked().filter((p) => p !== wording.records));
    });
    onLanguageChange(() => this.relanguage());
  }

  /** The wording in the language in use, else English (or whichever came first), or null. */
  get wording() {
    return this.wordings[currentLanguage()] || this.wordings[DEFAULT_LANGUAGE]
      || Object.values(this.wordings)[0] || null;
  }

  /** Whether the question is on the screen. */
  get shown() {
    return !$('consent-panel').hidden;
  }

  /** Keep a wording the server sent (it says its language). @param {ConsentWording} wording */
  keep(wording) {
    this.wordings[wording.language || DEFAULT_LANGUAGE] = wording;
  }

  /**
   * Ask the server for the wording in the language in use (with the consent and session).
   * @returns {Promise<import('./family-api.js').FamilyConsentReply>}
   */
  async fetch() {
    const reply = await familyApi('GET');
    if (reply.wording) this.keep(reply.wording);
    if (reply.consent !== undefined) this.consent = reply.consent;
    // Shown already in another language (the English copy sent at join came first): say it again.
    if (this.shown && $('consent-panel').lang !== currentLanguage()) this.show(this.afterCall, this.ticked());
    return reply;
  }

  /** The purposes ticked on the form now. @returns {string[]} */
  ticked() {
    const boxes = $('consent-purposes').querySelectorAll('input:checked');
    return [...boxes].map((box) => /** @type {HTMLInputElement} */ (box).name);
  }

  /**
   * Show what will be recorded and for what, one purpose at a time, in plain words.
   * @param {boolean} [afterCall] after the call only a withdrawal can be made
   * @param {string[]} [ticks] what to tick (default: what the family agreed to)
   */
  show(afterCall = false, ticks) {
    const wording = this.wording;
    if (!wording) return;
    this.afterCall = afterCall;
    const agreed = this.consent ? this.consent.purposes : [];
    const text = afterCall ? wording.after_call : wording;
    $('consent-panel').lang = wording.language || DEFAULT_LANGUAGE;
    setPlain($('consent-title'), text.title);
    setPlain($('consent-intro'), text.intro);
    // How long recordings are kept, how to take agreement back, whom to ask: the organisation's.
    setPlain($('consent-retention'), wording.retention_text || '');
    setPlain($('consent-withdraw'), wording.withdraw_text || '');
    setPlain($('consent-contact'), wording.contact_text || '');
    setText($('consent-decline'), afterCall ? 'consent.decline-after-call' : 'consent.decline');
    if (ticks === undefined) setPlain($('consent-result'), '');
    const box = $('consent-purposes');
    box.replaceChildren();
    for (const purpose of wording.purposes) {
      const label = document.createElement('label');
      label.className = 'purpose';
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.name = purpose.id;
      input.checked = (ticks || agreed).includes(purpose.id);
      // After the call a purpose can be taken back, not newly given.
      input.disabled = afterCall && !agreed.includes(purpose.id);
      if (input.disabled) label.classList.add('not-agreed');
      const name = document.createElement('span');
      name.textContent = purpose.label;
      const detail = document.createElement('small');
      if (input.disabled) setText(detail, 'consent.not-agreed');
      else detail.textContent = purpose.detail;
      label.append(input, name, detail);
      box.append(label);
    }
    $('consent-panel').hidden = false;
  }

  /**
   * Show a text of the wording (kept with its path, so a change of language says it again).
   * @param {HTMLElement} element @param {string} path
   */
  sayWording(element, path) {
    const wording = this.wording;
    setPlain(element, wording ? wordingText(wording, path) : '');
    element.dataset.wording = path;
  }

  /** The language changed: fetch the wording in it if need be, then say everything again. */
  async relanguage() {
    if (!this.wordings[currentLanguage()] && Object.keys(this.wordings).length) {
      try {
        await this.fetch();
      } catch {
        // not reachable now: the wording stays in the language it was in
      }
    }
    if (this.shown) this.show(this.afterCall, this.ticked());
    for (const element of document.querySelectorAll('[data-wording]')) {
      const html = /** @type {HTMLElement} */ (element);
      this.sayWording(html, html.dataset.wording || '');
    }
  }
}

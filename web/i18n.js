// The family's page in the family's language. Texts live in web/i18n/<code>.json (flat keys,
// {name} placeholders); the server lists the languages at /i18n/languages.json, one per file.
// The language is the one chosen on the picker (kept in localStorage), else the first of the
// phone's languages that is offered, else English. A text missing in a language is said in
// English, and a key missing in English too shows as the key (a test keeps that from shipping).
//
// Elements carry their key (data-i18n, data-i18n-attr="aria-label:key …"), so a change of
// language says everything on the page again at once, without reloading or reconnecting.

/** @typedef {{code: string, name: string}} Language */
/** @typedef {Record<string, string|number>} Params */

export const DEFAULT_LANGUAGE = 'en';
const STORAGE_KEY = 'vigremote-language';

/** What this page knows: the languages offered, the texts loaded so far, the one in use. */
const state = {
  /** @type {Language[]} */ languages: [{ code: DEFAULT_LANGUAGE, name: 'English' }],
  /** @type {Record<string, Record<string, string>>} */ texts: {},
  current: DEFAULT_LANGUAGE,
  /** @type {((code: string) => void)[]} */ listeners: [],
  /** @type {HTMLElement[]} */ pickers: [],
};

/**
 * The language to show: the saved choice if offered, else the first of the phone's languages
 * offered (exactly, or by its main part: "cy-GB" → "cy"), else English.
 * @param {Language[]} offered
 * @param {string|null} saved
 * @param {readonly string[]} preferred  navigator.languages
 * @returns {string}
 */
export function pickLanguage(offered, saved, preferred) {
  const codes = offered.map((language) => language.code);
  if (saved && codes.includes(saved)) return saved;
  for (const tag of preferred) {
    const wanted = tag.toLowerCase();
    const found = codes.find((code) => code.toLowerCase() === wanted)
      || codes.find((code) => code.toLowerCase() === wanted.split('-')[0]);
    if (found) return found;
  }
  return DEFAULT_LANGUAGE;
}

/**
 * Fill in {name} placeholders (an unknown one stays as written).
 * @param {string} template @param {Params} [params] @returns {string}
 */
export function format(template, params = {}) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The text of `key` in the language in use, else English, else the key itself.
 * @param {string} key @param {Params} [params] @returns {string} */
export function t(key, params) {
  const text = (state.texts[state.current] || {})[key] ?? (state.texts[DEFAULT_LANGUAGE] || {})[key] ?? key;
  return format(text, params);
}

/** Whether there is a text for `key` (in the language in use or in English). @param {string} key */
export function has(key) {
  return key in (state.texts[state.current] || {}) || key in (state.texts[DEFAULT_LANGUAGE] || {});
}

/** The language in use. @returns {string} */
export function currentLanguage() {
  return state.current;
}

/** Call `listener` after each change of language (texts already said again). @param {(code: string) => void} listener */
export function onLanguageChange(listener) {
  state.listeners.push(listener);
}

/**
 * Show the text of `key` in `element`, and keep the key there so a change of language says it
 * again.
 * @param {HTMLElement} element @param {string} key @param {Params} [params]
 */
export function setText(element, key, params) {
  element.dataset.i18n = key;
  if (params) element.dataset.i18nParams = JSON.stringify(params);
  else delete element.dataset.i18nParams;
  element.textContent = t(key, params);
}

/**
 * Several sentences in one element, each kept with its key (none: the element is emptied).
 * @param {HTMLElement} element @param {[string, Params?][]} parts
 */
export function setTexts(element, parts) {
  delete element.dataset.i18n;
  delete element.dataset.i18nParams;
  const spans = parts.map(([key, params]) => {
    const span = document.createElement('span');
    setText(span, key, params);
    return span;
  });
  element.replaceChildren(...spans.flatMap((span, index) => (index ? [' ', span] : [span])));
}

/** Show a text that is not ours to translate (the organisation's, a name): as given.
 * @param {HTMLElement} element @param {string} text */
export function setPlain(element, text) {
  delete element.dataset.i18n;
  delete element.dataset.i18nParams;
  element.textContent = text;
}

/** Say every keyed text and attribute under `root` in the language in use.
 * @param {ParentNode} [root] */
export function applyTranslations(root = document) {
  for (const element of root.querySelectorAll('[data-i18n]')) {
    const html = /** @type {HTMLElement} */ (element);
    const params = html.dataset.i18nParams ? JSON.parse(html.dataset.i18nParams) : undefined;
    html.textContent = t(html.dataset.i18n || '', params);
  }
  for (const element of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of (/** @type {HTMLElement} */ (element).dataset.i18nAttr || '').split(/\s+/)) {
      const [attribute, key] = pair.split(':');
      if (attribute && key) element.setAttribute(attribute, t(key));
    }
  }
  if (root === document) document.documentElement.lang = state.current;
}

/** @param {string} code */
async function loadTexts(code) {
  if (state.texts[code]) return;
  const response = await fetch(`/static/i18n/${encodeURIComponent(code)}.json`);
  if (!response.ok) throw new Error(`no texts for ${code}`);
  state.texts[code] = await response.json();
}

function savedChoice() {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage blocked (private mode): the phone's language decides
  }
}

/**
 * Use this language everywhere on the page now; `remember` keeps the choice for next time.
 * @param {string} code @param {boolean} [remember]
 */
export async function setLanguage(code, remember = false) {
  let chosen = state.languages.some((language) => language.code === code) ? code : DEFAULT_LANGUAGE;
  try {
    await loadTexts(chosen);
  } catch {
    chosen = DEFAULT_LANGUAGE; // not reachable now: English, which is always loaded first
  }
  if (remember) {
    try {
      window.localStorage.setItem(STORAGE_KEY, chosen);
    } catch {
      // not kept: the choice holds for this page only
    }
  }
  state.current = chosen;
  applyTranslations(document);
  state.pickers.forEach(markPicked);
  state.listeners.forEach((listener) => listener(chosen));
}

/** @param {HTMLElement} picker */
function markPicked(picker) {
  for (const button of picker.querySelectorAll('button')) {
    button.setAttribute('aria-pressed', String(button.dataset.language === state.current));
  }
}

/**
 * Fill `picker` with one button per language, each named in its own language; hidden when
 * there is only one.
 * @param {HTMLElement} picker
 */
export function languagePicker(picker) {
  picker.replaceChildren(...state.languages.map((language) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.lang = language.code;
    button.dataset.language = language.code;
    button.textContent = language.name;
    button.addEventListener('click', () => setLanguage(language.code, true));
    return button;
  }));
  picker.hidden = state.languages.length < 2;
  state.pickers.push(picker);
  markPicked(picker);
}

/**
 * Learn the languages offered, pick one, load its texts (and English, the fallback) and say
 * the page in it. The page stays hidden (class i18n-pending on <html>, at most 3 s: style.css)
 * until then.
 * @returns {Promise<string>} the language in use
 */
export async function startI18n() {
  try {
    try {
      const response = await fetch('/i18n/languages.json');
      const offered = response.ok ? (await response.json()).languages : null;
      if (Array.isArray(offered) && offered.length) state.languages = offered;
    } catch {
      // the list could not be fetched: English only
    }
    const chosen = pickLanguage(state.languages, savedChoice(), navigator.languages || [navigator.language]);
    await Promise.all([loadTexts(DEFAULT_LANGUAGE), loadTexts(chosen)].map((p) => p.catch(() => {})));
    await setLanguage(chosen);
    return state.current;
  } finally {
    document.documentElement.classList.remove('i18n-pending');
  }
}

// The family's link: its token, and the consent API it opens (during the call and after it).
import { currentLanguage, has } from './i18n.js';

/** Everything after /f/ (a trailing slash forgiven): a link cut or mangled on the way is
 * refused by the server, and the page says so before asking for the camera. */
export const token = (() => {
  const rest = window.location.pathname.replace(/^\/f\/?/, '').replace(/\/+$/, '');
  try {
    return decodeURIComponent(rest);
  } catch {
    return rest; // not valid %-encoding: the server refuses it as a garbled link
  }
})();

/** A refusal from the API: the HTTP status and the server's stable error code. */
export class FamilyApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * What the consent API answers (each part only where it applies): the session, whether the
 * link has expired, the current consent, and the wording in the language asked for.
 * @typedef {{session?: {kind: string, status: string}, link?: {expired: boolean},
 *   consent?: import('./protocol.js').Consent|null, records?: string,
 *   wording?: import('./protocol.js').ConsentWording}} FamilyConsentReply
 */

/**
 * The consent API of the family's link: GET what was agreed and the wording in `language`;
 * POST a withdrawal.
 * @param {'GET'|'POST'} method
 * @param {object} [body]
 * @param {string} [language]  the wording's language (GET)
 * @returns {Promise<FamilyConsentReply>}
 */
export async function familyApi(method, body, language = currentLanguage()) {
  const query = method === 'GET' ? `?language=${encodeURIComponent(language)}` : '';
  const response = await fetch(`/api/family/consent${query}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new FamilyApiError(response.status, String(error.code || ''), String(error.message || ''));
  }
  return data;
}

/** The key of the text that explains a server error code to the family (a general one when
 * there is none for it). @param {string} code @returns {string} */
export function errorKey(code) {
  return code && has(`error.${code}`) ? `error.${code}` : 'error.generic';
}

// The REST API from the browser, with no DOM code: JSON in and out, the CSRF header on every
// request, and errors that carry the server's readable message and HTTP status.

/** @type {string} */ let csrf = '';

export class ApiError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** @param {string} token the CSRF token the server gave at login (or from /api/me) */
export function setCsrf(token) {
  csrf = token;
}

/**
 * Call the REST API; throws an ApiError with the server's message.
 * @param {string} method @param {string} path @param {object} [body]
 */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError((data.error && data.error.message) || response.statusText, response.status);
  }
  return data;
}

/** The logged-in user (and remember their CSRF token); throws ApiError 401 if nobody is. */
export async function whoAmI() {
  const me = await api('GET', '/api/me');
  csrf = me.csrf;
  return me;
}

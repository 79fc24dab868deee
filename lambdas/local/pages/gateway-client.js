// What the local approval page and the dashboard share: the approver key, kept for the tab, and
// the one way they call the gateway. Plain browser JavaScript (an ES module), no build step.

const KEY_STORAGE = 'crm-airlock.approver-key';

/** What the server accepts in a bearer token. */
export const KEY_SHAPE = /^[\x21-\x7e]{1,512}$/;

/** A refusal by the gateway (or no gateway at all: status 0), with its error code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The approver key of this tab (sessionStorage: one key serves both pages, until the tab closes). */
export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setKey(key) {
  try {
    if (key === null) sessionStorage.removeItem(KEY_STORAGE);
    else sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage disabled: the key then lives only as long as this page.
  }
}

/** Calls the gateway with the approver key; throws ApiError with the gateway's code and message. */
export async function api(method, path, payload) {
  const key = getKey();
  if (!key) throw new ApiError(0, 'no_key', 'Enter the approver key first.');
  const headers = { Authorization: `Bearer ${key}`, Accept: 'application/json' };
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: payload === undefined ? undefined : JSON.stringify(payload),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the gateway. Is it still running?');
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const error = body && typeof body.error === 'object' && body.error ? body.error : {};
    throw new ApiError(
      res.status,
      typeof error.code === 'string' ? error.code : `http_${res.status}`,
      typeof error.message === 'string' ? error.message : `The gateway answered ${res.status}.`,
    );
  }
  if (!body || typeof body !== 'object') {
    throw new ApiError(res.status, 'bad_body', 'The gateway answered something that is not JSON.');
  }
  return body;
}

/**
 * The key form of both pages: checks the key's shape, keeps it for the tab and calls
 * `onAccepted`; otherwise says what is wrong through `setStatus` and keeps the focus there.
 */
export function bindKeyForm(form, input, setStatus, onAccepted) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!KEY_SHAPE.test(key)) {
      setStatus(
        key === ''
          ? 'Enter the approver key.'
          : 'That is not a key: keys are printable ASCII without spaces.',
        'error',
      );
      input.focus();
      return;
    }
    setKey(key);
    input.value = '';
    setStatus('');
    onAccepted();
  });
}

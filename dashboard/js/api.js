// The API client. The credential lives in this module's closure only: never in storage, a
// cookie or a URL. Every request sends it as a bearer token.

let credential = null;

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.error || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function signIn(secret) {
  credential = secret;
}

export function signOut() {
  credential = null;
}

export function signedIn() {
  return credential !== null;
}

/** fetch() with the credential; the Response as it came. */
export function request(path, { method = "GET", headers = {}, body, signal } = {}) {
  if (credential === null) throw new ApiError(401, { error: "unauthenticated", detail: "sign in first" });
  const init = {
    method,
    signal,
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
    headers: { Authorization: `Bearer ${credential}`, ...headers },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  return fetch(path, init);
}

/** A JSON (or, with text: true, text) answer; a 4xx/5xx throws ApiError with the Problem. */
export async function api(path, options = {}) {
  const response = await request(path, { ...options, headers: { Accept: "application/json" } });
  if (!response.ok) {
    let problem;
    try {
      problem = await response.json();
    } catch {
      problem = { error: `http_${response.status}`, detail: response.statusText };
    }
    throw new ApiError(response.status, problem);
  }
  return options.text ? response.text() : response.json();
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of [value].flat()) if (one) search.append(name, one);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

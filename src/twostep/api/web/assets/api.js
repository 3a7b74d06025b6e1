// Talks to the twostep API. Every failure becomes an ApiError with a readable `detail`.
const CLIENT_HEADER = { "X-Twostep-Client": "web" };
let baseUrl = "";

/** Read config.json (beside index.html): `apiBaseUrl` is empty for the same origin. Returns the config
 * (empty when there is none), for its other settings. */
export async function loadConfig() {
  try {
    const response = await fetch(new URL("config.json", document.baseURI), { cache: "no-cache" });
    if (response.ok) {
      const config = await response.json();
      baseUrl = String(config.apiBaseUrl || "").replace(/\/+$/, "");
      return config;
    }
  } catch {
    baseUrl = "";
  }
  return {};
}

const STATUS_TEXT = {
  0: "We couldn't reach twostep. Check your connection and try again.",
  404: "That was not found.",
  429: "Too many attempts. Please wait a moment and try again.",
  500: "Something went wrong on our side. Please try again.",
  502: "twostep is not reachable right now. Please try again shortly.",
  503: "twostep is temporarily unavailable. Please try again shortly.",
  504: "twostep took too long to answer. Please try again.",
};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail);
    this.status = status;
    this.code = problem.code || `http_${status}`;
    this.detail = problem.detail;
    this.field = problem.field || null;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.attemptsRemaining = problem.attemptsRemaining;
    this.retryAfter = problem.retryAfter;
  }
}

function toProblem(status, data, response) {
  const problem = data && typeof data === "object" && !Array.isArray(data) ? { ...data } : {};
  if (typeof problem.detail !== "string" || !problem.detail) {
    problem.detail = STATUS_TEXT[status] || STATUS_TEXT[500];
  }
  const header = response && Number.parseInt(response.headers.get("Retry-After") || "", 10);
  if (problem.retryAfter === undefined && Number.isFinite(header)) problem.retryAfter = header;
  return problem;
}

/** A fresh Idempotency-Key: 128 random bits (getRandomValues also works outside secure contexts). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * One user action that must happen once (send a code): its requests share an Idempotency-Key
 * until one is answered, so a double-click or a retry after a lost answer gets the first answer back
 * and sends nothing again. Another path or body is another request (a new key); so is anything after an
 * answer.
 */
export class Intent {
  #key = null;
  #body = null;

  keyFor(path, body) {
    const text = `${path} ${JSON.stringify(body ?? null)}`;
    if (this.#key === null || this.#body !== text) {
      this.#key = newKey();
      this.#body = text;
    }
    return this.#key;
  }

  answered(status) {
    // No answer (0), the first request still running (409), or a 5xx (a gateway's 502/504 may hide an
    // answer that was lost on the way): the next try must keep the key, so it replays or runs once.
    if (status !== 0 && status !== 409 && status < 500) this.#key = null;
  }
}

/**
 * One API call; resolves to the parsed JSON (or null for 204), rejects with ApiError. With `intent`
 * it carries that action's Idempotency-Key.
 */
export async function request(method, path, { body, token, intent } = {}) {
  const headers = { Accept: "application/json", ...CLIENT_HEADER };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (intent) headers["Idempotency-Key"] = intent.keyFor(path, body);
  let response;
  try {
    response = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "include",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, toProblem(0, { code: "network_error" }, null));
  }
  intent?.answered(response.status);
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, toProblem(response.status, data, response));
  return data;
}

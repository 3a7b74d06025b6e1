// Talks to the twostep API. Every failure becomes an ApiError with a readable `detail`.
const CLIENT_HEADER = { "X-Twostep-Client": "web" };
let baseUrl = "";

/** Read config.json (beside index.html): `apiBaseUrl` is empty for the same origin. */
export async function loadConfig() {
  try {
    const response = await fetch(new URL("config.json", document.baseURI), { cache: "no-cache" });
    if (response.ok) {
      const config = await response.json();
      baseUrl = String(config.apiBaseUrl || "").replace(/\/+$/, "");
    }
  } catch {
    baseUrl = "";
  }
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

/** One API call; resolves to the parsed JSON (or null for 204), rejects with ApiError. */
export async function request(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json", ...CLIENT_HEADER };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
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

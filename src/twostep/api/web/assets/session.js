// The signed-in session. The access token lives in this module's memory only; the refresh token is in
// an HttpOnly cookie the page cannot read, so a reload signs in again silently via /token/refresh.
import { ApiError, request } from "./api.js";

let accessToken = null;
let expiresAt = 0;
let refreshing = null;

function keep(pair) {
  accessToken = pair.accessToken;
  expiresAt = Date.now() + Math.max(0, pair.expiresIn - 30) * 1000;
}

export function forget() {
  accessToken = null;
  expiresAt = 0;
}

/** Store a token pair from sign-in (the refresh token in the body is ignored: the cookie has it). */
export function start(pair) {
  keep(pair);
}

/** A new access token from the refresh cookie, or null when there is no session. */
// Rotation spends the cookie, and a spent cookie presented again ends the session (reuse detection).
// Two tabs refreshing at once would do exactly that, so refreshes take turns across tabs (Web Locks);
// the browser sends whatever cookie is current when each request leaves.
function rotate() {
  const call = () => request("POST", "/token/refresh");
  return navigator.locks ? navigator.locks.request("twostep-refresh", call) : call();
}

export function refresh() {
  if (!refreshing) {
    refreshing = rotate()
      .then((pair) => {
        keep(pair);
        return accessToken;
      })
      .catch((error) => {
        forget();
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** A valid access token (refreshing when needed), or null when signed out. */
export async function currentToken() {
  if (accessToken && Date.now() < expiresAt) return accessToken;
  return refresh();
}

const SIGNED_OUT = { code: "signed_out", detail: "Your session has ended. Please sign in again." };

/** An authenticated call; retries once with a fresh token if the access token was refused. */
export async function authed(method, path, body) {
  const token = await currentToken();
  if (!token) throw new ApiError(401, SIGNED_OUT);
  try {
    return await request(method, path, { body, token });
  } catch (error) {
    // A wrong current password (401 invalid_credentials) is the answer, not an expired token: sending it
    // again would only count it twice against the account.
    if (!(error instanceof ApiError) || error.status !== 401 || error.code === "invalid_credentials") throw error;
    forget();
    const fresh = await refresh();
    if (!fresh) throw new ApiError(401, SIGNED_OUT);
    return request(method, path, { body, token: fresh });
  }
}

/** End the session on the server (revokes it, clears the cookie) and forget the access token. */
export async function signOut() {
  try {
    await request("POST", "/logout");
  } finally {
    forget();
  }
}

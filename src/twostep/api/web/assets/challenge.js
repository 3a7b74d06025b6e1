// The pending code step. Only the challenge id, masked destination and times are kept (per tab):
// never the password, the code or a token.
const KEY = "twostep.challenge";

export function saveChallenge({ otpId, destination, expiresAt, resendAfter, factors, expectedFactor, factor, channels, smsUnavailable }) {
  const kept = { otpId, destination, expiresAt, resendAfter, factors, expectedFactor, factor, channels, smsUnavailable };
  sessionStorage.setItem(KEY, JSON.stringify(kept));
}

export function loadChallenge() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return value && typeof value.otpId === "string" ? value : null;
  } catch {
    return null;
  }
}

export function dropChallenge() {
  sessionStorage.removeItem(KEY);
}

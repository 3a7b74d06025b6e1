// Passkeys in the browser: WebAuthn JSON options in, WebAuthn JSON credentials out.
// Chromium, Firefox and Safari parse and serialise the JSON forms themselves; the fallbacks convert
// the base64url fields by hand for older browsers.

function fromB64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let raw = "";
  for (const byte of bytes) raw += String.fromCharCode(byte);
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function withIds(list = []) {
  return list.map((c) => ({ ...c, id: fromB64url(c.id) }));
}

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromB64url(json.challenge),
    user: { ...json.user, id: fromB64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return { ...json, challenge: fromB64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

function credentialJson(credential) {
  if (credential.toJSON) return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return { id: credential.id, rawId: toB64url(credential.rawId), type: credential.type, response, clientExtensionResults: {} };
}

export function passkeysSupported() {
  return typeof window.PublicKeyCredential === "function" && window.isSecureContext;
}

/** `navigator.credentials.create()` for the server's options; the new credential as JSON. */
export async function createPasskey(publicKeyJson) {
  const credential = await navigator.credentials.create({ publicKey: creationOptions(publicKeyJson) });
  return credentialJson(credential);
}

/** `navigator.credentials.get()` for the server's options; the assertion as JSON. */
export async function usePasskey(publicKeyJson) {
  const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKeyJson) });
  return credentialJson(credential);
}

/** A browser refusal (cancelled, timed out, no matching passkey) in words. */
export function passkeyProblem(error) {
  if (error && error.name === "NotAllowedError") return "The passkey prompt was cancelled or timed out.";
  if (error && error.name === "InvalidStateError") return "This passkey is already registered.";
  return "The passkey could not be used in this browser.";
}

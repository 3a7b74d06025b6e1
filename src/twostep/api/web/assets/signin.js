// Sign-in view: email and password, then on to the code step.
import { request } from "./api.js";
import { saveChallenge } from "./challenge.js";
import { busy, checkRequired, clearErrors, showError, showFormError, values } from "./forms.js";
import { go, takeNotice } from "./nav.js";
import { start } from "./session.js";
import { passkeyProblem, passkeysSupported, usePasskey } from "./webauthn.js";

export const title = "Sign in";
// How long the emptied notice stays empty once the view is on show, so the accessibility tree has it.
const NOTICE_DELAY_MS = 150;
let prefill = "";
let notice = "";
let noticeTimer = null;

/** Hand the new account's email to the sign-in form (kept in memory only). */
export function prefillSignIn(email) {
  prefill = email;
}

async function submit(form) {
  if (!checkRequired(form)) return;
  const body = values(form, ["email", "password"]);
  let result;
  try {
    // No Idempotency-Key here: the server would keep a fingerprint of a body holding the password for a
    // day. busy() already holds a double submit back.
    result = await busy(form, () => request("POST", "/login", { body }));
  } catch (error) {
    showError(form, error);
    return;
  }
  form.elements.namedItem("password").value = "";
  if (result.otpId) {
    saveChallenge(result);
    go("code");
  } else {
    start(result); // accounts without a second factor (TWOSTEP_REQUIRE_SECOND_FACTOR=false)
    go("home");
  }
}

/** Passwordless: any passkey of this site, with the device's PIN or biometric. */
async function passkeySignIn(form) {
  clearErrors(form);
  try {
    const options = await request("POST", "/login/passkey/options");
    let credential;
    try {
      credential = await usePasskey(options.publicKey);
    } catch (error) {
      showFormError(form, passkeyProblem(error));
      return;
    }
    start(await request("POST", "/login/passkey", { body: { ceremonyId: options.ceremonyId, credential } }));
    go("home");
  } catch (error) {
    showError(form, error);
  }
}

export function init(section) {
  const form = section.querySelector("form");
  const passkey = section.querySelector("[data-passkey-signin]");
  passkey.hidden = !passkeysSupported();
  passkey.addEventListener("click", () => passkeySignIn(form));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
}

/** With the email already filled in (after sign-up), start at the password. */
export function focusTarget(section) {
  const form = section.querySelector("form");
  return form.elements.namedItem("email").value ? form.elements.namedItem("password") : null;
}

export async function enter(section) {
  const form = section.querySelector("form");
  clearErrors(form);
  clearTimeout(noticeTimer);
  section.querySelector("[data-notice]").textContent = "";
  notice = takeNotice();
  form.elements.namedItem("password").value = "";
  if (prefill) {
    form.elements.namedItem("email").value = prefill;
    prefill = "";
  }
  return true;
}

/**
 * The notice ("You're signed out.", "Your session has ended…") once the view is on show. Screen readers
 * announce a live region's change only when the region was already in the accessibility tree: text put
 * in while the view was still hidden was never read out.
 */
export function shown(section) {
  const text = notice;
  notice = "";
  if (!text) return;
  noticeTimer = setTimeout(() => {
    if (!section.hidden) section.querySelector("[data-notice]").textContent = text;
  }, NOTICE_DELAY_MS);
}

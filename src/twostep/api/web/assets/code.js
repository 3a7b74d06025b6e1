// Code view: one numeric field, the masked destination, resend (or a call) with its countdown, clear
// outcomes. Every send carries its action's Idempotency-Key: a double-click or a retry sends once.
import { ApiError, Intent, request } from "./api.js";
import { dropChallenge, loadChallenge, saveChallenge } from "./challenge.js";
import { currentFactor, showFactor } from "./factor_choice.js";
import { busy, clearErrors, focusInvalid, focusLost, showError, showFieldError, showFormError } from "./forms.js";
import { go, redirect } from "./nav.js";
import { currentToken, start } from "./session.js";
import { passkeyProblem, usePasskey } from "./webauthn.js";

export const title = "Enter your code";
const RESEND_LABEL = "Send a new code";
const SIGN_IN_AGAIN = { href: "#/signin", text: "Sign in again" };
let timer = null;
let challenge = null;
let webOtp = null;
const resendIntent = new Intent();
const callIntent = new Intent();
const textIntent = new Intent();

function secondsUntil(iso) {
  return Math.ceil((Date.parse(iso) - Date.now()) / 1000);
}

function tick(button) {
  const wait = challenge ? secondsUntil(challenge.resendAfter) : 0;
  button.disabled = wait > 0;
  button.textContent = wait > 0 ? `${RESEND_LABEL} in ${wait} s` : RESEND_LABEL;
  // A call is a new code too: the same cooldown holds it back.
  const call = button.closest(".resend").querySelector("[data-call]");
  if (!call.dataset.sending) call.disabled = wait > 0;
}

function startCountdown(button) {
  clearInterval(timer);
  tick(button);
  timer = setInterval(() => tick(button), 250);
}

function attemptsText(left) {
  if (left === 1) return "That code is wrong. You have 1 attempt left.";
  return `That code is wrong. You have ${left} attempts left.`;
}

function showVerifyError(form, error) {
  if (!(error instanceof ApiError)) return showError(form, error);
  if (error.code === "wrong_code") {
    clearErrors(form);
    showFieldError(form, "otp", attemptsText(error.attemptsRemaining ?? 0));
    form.elements.namedItem("otp").select();
    return focusInvalid(form.elements.namedItem("otp"));
  }
  if (error.code === "code_expired") {
    clearErrors(form);
    return showFormError(form, "This code has expired. Send a new code and enter that one.");
  }
  if (error.status === 410 || error.status === 404) {
    clearErrors(form);
    dropChallenge();
    return showFormError(form, error.detail, SIGN_IN_AGAIN);
  }
  return showError(form, error);
}

async function verify(form) {
  const input = form.elements.namedItem("otp");
  const otp = input.value.replace(/\s+/g, "");
  if (!otp) {
    clearErrors(form);
    showFieldError(form, "otp", "Enter the code from the text message.");
    return focusInvalid(input);
  }
  const body = { otp, factor: currentFactor(challenge), rememberDevice: form.elements.namedItem("rememberDevice").checked };
  try {
    const pair = await busy(form, () =>
      request("POST", `/otp/${encodeURIComponent(challenge.otpId)}/verify`, { body }),
    );
    input.value = "";
    dropChallenge();
    start(pair);
    go("home");
  } catch (error) {
    showVerifyError(form, error);
  }
}

async function resend(section) {
  const button = section.querySelector("[data-resend]");
  button.disabled = true;
  await newCode(section, "resend", { intent: resendIntent }, (to) => `A new code is on its way to ${to}.`);
  startCountdown(button);
}

/** A new code for this login (`/resend`, or `/send` by another channel); shows its error, never throws. */
async function newCode(section, action, options, sentText) {
  const form = section.querySelector("form");
  const status = section.querySelector("[data-resend-status]");
  status.textContent = "";
  try {
    const sent = await request("POST", `/otp/${encodeURIComponent(challenge.otpId)}/${action}`, options);
    challenge = { ...challenge, ...sent, smsUnavailable: null }; // a code went out: nothing held back now
    saveChallenge(challenge);
    clearErrors(form);
    status.textContent = sentText(challenge.destination);
    form.elements.namedItem("otp").focus();
  } catch (error) {
    if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
      challenge = { ...challenge, resendAfter: new Date(Date.now() + error.retryAfter * 1000).toISOString() };
    }
    showVerifyError(form, error);
    // The disabled resend or call button had focus: keep the keyboard on the step, at the code field.
    if (focusLost()) form.elements.namedItem("otp").focus();
  }
}

/** The SMS fallback: text a code for this login, then expect it. */
async function textInstead(section) {
  const form = section.querySelector("form");
  try {
    const body = { channel: "sms" };
    const sent = await request("POST", `/otp/${encodeURIComponent(challenge.otpId)}/send`, { body, intent: textIntent });
    choose(section, "sms", { ...sent, smsUnavailable: null });
    section.querySelector("[data-resend-status]").textContent = `A code is on its way to ${challenge.destination}.`;
  } catch (error) {
    showVerifyError(form, error);
  }
}

/** "Call me instead": the same code step, the code read out by a voice call (where one is configured). */
async function callInstead(section) {
  const call = section.querySelector("[data-call]");
  if (call.dataset.sending) return; // a second click while the first is on its way
  call.dataset.sending = "true";
  call.disabled = true;
  try {
    const options = { body: { channel: "voice" }, intent: callIntent };
    await newCode(section, "send", options, (to) => `We are calling ${to} to read you a new code.`);
  } finally {
    delete call.dataset.sending;
  }
  startCountdown(section.querySelector("[data-resend]")); // the call is held back like a resend
}

/** The call button shows on the texted-code step when this service can call (`channels` at login). */
function showCall(section) {
  const callable = (challenge.channels || []).includes("voice") && Boolean(challenge.destination);
  section.querySelector("[data-call]").hidden = !(callable && currentFactor(challenge) === "sms");
}

/** The passkey as the second step: the browser's prompt, then tokens. */
async function passkeyStep(section) {
  const alert = section.querySelector("[data-passkey-error]");
  alert.textContent = "";
  const id = encodeURIComponent(challenge.otpId);
  try {
    const options = await request("POST", `/otp/${id}/passkey/options`);
    let credential;
    try {
      credential = await usePasskey(options.publicKey);
    } catch (error) {
      alert.textContent = passkeyProblem(error);
      return;
    }
    const rememberDevice = section.querySelector("[data-passkey-remember]").checked;
    const pair = await request("POST", `/otp/${id}/passkey`, { body: { ceremonyId: options.ceremonyId, credential, rememberDevice } });
    dropChallenge();
    start(pair);
    go("home");
  } catch (error) {
    alert.textContent = error instanceof ApiError ? error.detail : String(error);
  }
}

function choose(section, factor, extra = {}) {
  challenge = { ...challenge, ...extra, factor };
  saveChallenge(challenge);
  clearErrors(section.querySelector("form"));
  showFactor(section, challenge, (next) => (next === "sms" ? textInstead(section) : choose(section, next)));
  showCall(section);
  if (factor === "sms") startCountdown(section.querySelector("[data-resend]"));
  // The choice buttons were just replaced (the pressed one with them): focus goes to the new step's control,
  // never down to <body>.
  section.querySelector(factor === "passkey" ? "[data-passkey-go]" : "[name=otp]").focus();
}

export function init(section) {
  section.querySelector("[data-passkey-go]").addEventListener("click", () => passkeyStep(section));
  const form = section.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    verify(form);
  });
  section.querySelector("[data-resend]").addEventListener("click", () => resend(section));
  section.querySelector("[data-call]").addEventListener("click", () => callInstead(section));
}

/** Straight to the code field; its description names where the code went. */
export function focusTarget(section) {
  const passkey = challenge && currentFactor(challenge) === "passkey";
  return section.querySelector(passkey ? "[data-passkey-go]" : "[name=otp]");
}

/** Chromium on Android can read the code from the SMS (WebOTP) when the message ends "@host #code". */
function listenForSms(form) {
  if (!("OTPCredential" in window)) return;
  webOtp = new AbortController();
  navigator.credentials
    .get({ otp: { transport: ["sms"] }, signal: webOtp.signal })
    .then((credential) => {
      if (!credential?.code) return;
      form.elements.namedItem("otp").value = credential.code;
      form.requestSubmit();
    })
    .catch(() => {}); // aborted or unsupported: typing the code works as before
}

export async function enter(section) {
  challenge = loadChallenge();
  if (!challenge) {
    // Spent (Back from home after signing in): someone signed in goes home, not to "get a new code".
    const signedIn = await currentToken().catch(() => null);
    if (signedIn) redirect("home");
    else redirect("signin", "Sign in to get a new code.");
    return false;
  }
  const form = section.querySelector("form");
  clearErrors(form);
  form.elements.namedItem("otp").value = "";
  section.querySelector("[data-destination]").textContent = challenge.destination;
  section.querySelector("[data-resend-status]").textContent = "";
  form.elements.namedItem("rememberDevice").checked = false;
  startCountdown(section.querySelector("[data-resend]"));
  showFactor(section, challenge, (next) => (next === "sms" ? textInstead(section) : choose(section, next)));
  showCall(section);
  if (currentFactor(challenge) === "sms") listenForSms(form);
  return true;
}

export function leave() {
  clearInterval(timer);
  timer = null;
  webOtp?.abort();
  webOtp = null;
}

// View "account": prove the email, change email, phone and password. Each change asks for the current
// password; a new email or phone is the account's once the code sent to it comes back.
import { ApiError, request } from "./api.js";
import { FREED_SIGNED_OUT, offerClaim, takeFreed } from "./claims.js";
import { busy, checkRequired, clearErrors, focusInvalid, focusLost, showError, showFieldError, values } from "./forms.js";
import { go, redirect, takeNotice } from "./nav.js";
import { currentToken } from "./session.js";

export const title = "Your account";
const SIGNED_OUT = { code: "signed_out", detail: "Your session has ended. Please sign in again." };

/** One call with the current access token, no retry (a wrong current password is a 401 too). */
async function call(method, path, body) {
  const token = await currentToken();
  if (!token) throw new ApiError(401, SIGNED_OUT);
  return request(method, path, { body, token });
}

// 401 answers about what was typed, not about the session: a wrong current password or a wrong code.
const TYPED_WRONG = ["invalid_credentials", "wrong_code"];

function sessionEnded(error) {
  return error instanceof ApiError && error.status === 401 && !TYPED_WRONG.includes(error.code);
}

function attemptsText(left) {
  return `That code is wrong. You have ${left} ${left === 1 ? "attempt" : "attempts"} left.`;
}

/** A form's error; a wrong code stands at the code field with the attempts left, as at sign-in. */
function showSendError(form, error) {
  if (!(error instanceof ApiError && error.code === "wrong_code")) return showError(form, error);
  clearErrors(form);
  showFieldError(form, "code", attemptsText(error.attemptsRemaining ?? 0));
  const input = form.elements.namedItem("code");
  input.select();
  focusInvalid(input);
}

function say(section, text) {
  section.querySelector("[data-account-status]").textContent = text;
}

function showProfile(section, me) {
  section.querySelector("[data-account-email]").textContent = me.email;
  section.querySelector("[data-email-state]").textContent = me.emailVerified ? "verified" : "not verified";
  section.querySelector("[data-account-phone]").textContent = me.phoneNumber || "no phone";
  section.querySelector("[data-phone-state]").textContent = me.phoneVerified ? "verified" : "not verified";
  section.querySelector("[data-unverified-only]").hidden = me.emailVerified;
  // a password manager saves a new password under this account (defaultValue: a form reset keeps it)
  section.querySelector("#password-form [data-username]").defaultValue = me.email;
}

/** Submit `form` to `path`; on success run `then` with the answer. Session loss goes to sign-in. */
async function send(section, form, path, names, then) {
  if (!checkRequired(form)) return;
  const body = form.dataset.changeId ? { changeId: form.dataset.changeId, ...values(form, names) } : values(form, names);
  let answer;
  try {
    answer = await busy(form, () => call("POST", path, names.length || form.dataset.changeId ? body : undefined));
  } catch (error) {
    if (sessionEnded(error)) return go("signin", SIGNED_OUT.detail);
    showSendError(form, error);
    // a new address another account holds unproven can be taken back, then asked for again
    if (path === "/me/email") offerClaim(form, error, body.email, "account");
    return;
  }
  clearErrors(form);
  return then(answer);
}

/** After a change started: show the code form, saying where the code went. */
function awaitCode(section, codeForm, started) {
  codeForm.dataset.changeId = started.changeId;
  codeForm.querySelector("[data-code-hint]").textContent = `We sent a code to ${started.destination}.`;
  codeForm.hidden = false;
  codeForm.elements.namedItem("code").focus();
}

function confirmed(section, codeForm, me, text) {
  const hadFocus = codeForm.contains(document.activeElement) || focusLost();
  codeForm.hidden = true;
  codeForm.reset();
  delete codeForm.dataset.changeId;
  showProfile(section, me);
  say(section, text);
  // Hiding the code form takes the focused field or button with it, which drops focus to <body> (at the
  // next rendering, so it is checked before): it goes to the heading of the card the change was made in.
  if (hadFocus) {
    const heading = codeForm.closest("section").querySelector("h2");
    heading.tabIndex = -1;
    heading.focus();
  }
}

function wire(section) {
  const $ = (id) => section.querySelector(`#${id}`);
  const on = (form, handler) =>
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      handler(form);
    });
  on($("email-verify-start"), (form) =>
    send(section, form, "/me/email/verify/start", [], (started) => awaitCode(section, $("email-code-form"), started)),
  );
  on($("email-form"), (form) =>
    send(section, form, "/me/email", ["email", "currentPassword"], (started) => {
      form.reset();
      awaitCode(section, $("email-code-form"), started);
    }),
  );
  on($("email-code-form"), (form) =>
    send(section, form, "/me/email/verify", ["code"], (me) => confirmed(section, form, me, "Your email is confirmed.")),
  );
  on($("phone-form"), (form) =>
    send(section, form, "/me/phone", ["phoneNumber", "currentPassword"], (started) => {
      form.reset();
      awaitCode(section, $("phone-code-form"), started);
    }),
  );
  on($("phone-code-form"), (form) =>
    send(section, form, "/me/phone/verify", ["code"], (me) => confirmed(section, form, me, "Your phone number is changed.")),
  );
  on($("password-form"), (form) =>
    send(section, form, "/me/password", ["currentPassword", "newPassword"], () => {
      form.reset();
      say(section, "Your password was changed. Your other sessions were signed out."); // this one stays
    }),
  );
}

export function init(section) {
  wire(section);
}

/** Back from taking an address back, with it filled in again: start at the password that confirms it. */
export function focusTarget(section) {
  return section.querySelector("#email-new").value ? section.querySelector("#email-password") : null;
}

export async function enter(section) {
  let me;
  try {
    me = await call("GET", "/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      // Back from taking an address back, signed out: say it is free (the account page's "change your
      // email to it below" is not on show), and drop the address rather than keep it for a later visit.
      redirect("signin", takeFreed("account") ? FREED_SIGNED_OUT : SIGNED_OUT.detail);
      return false;
    }
    throw error;
  }
  say(section, takeNotice());
  section.querySelector("[data-page-error]").textContent = "";
  section.querySelectorAll("form").forEach((form) => clearErrors(form));
  showProfile(section, me);
  const freed = takeFreed("account"); // back from taking this address back: it is filled in again
  if (freed) {
    section.querySelector("#email-new").value = freed;
    section.querySelector("#email-password").value = ""; // typed before the claim; asked for again
  }
  return true;
}

// Password recovery: "forgot" asks for a code, "reset" trades it for a new password.
// The reset id lives in this module's memory only; a reload means asking for a new code.
import { request } from "./api.js";
import { busy, checkRequired, clearErrors, showError, values } from "./forms.js";
import { go } from "./nav.js";

let resetId = "";
let resetEmail = "";

export function hasReset() {
  return Boolean(resetId);
}

/** The email the reset was asked for (the account whose password it sets). */
export function emailOfReset() {
  return resetEmail;
}

export async function requestCode(form) {
  if (!checkRequired(form)) return;
  const body = values(form, ["email"]);
  body.channel = form.elements.namedItem("channel").value || "auto";
  try {
    const started = await busy(form, () => request("POST", "/password/forgot", { body }));
    resetId = started.resetId;
    resetEmail = body.email;
  } catch (error) {
    showError(form, error);
    return;
  }
  go("reset");
}

export async function setPassword(form) {
  if (!checkRequired(form)) return;
  const body = { resetId, ...values(form, ["code", "newPassword"]) };
  try {
    await busy(form, () => request("POST", "/password/reset", { body }));
  } catch (error) {
    showError(form, error);
    return;
  }
  resetId = "";
  resetEmail = "";
  form.reset();
  clearErrors(form);
  go("signin", "Your password was changed. Sign in with your new password.");
}

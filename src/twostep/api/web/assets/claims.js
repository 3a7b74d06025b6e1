// Taking back an email address an account signed up with but never proved: "claim" emails a code to it,
// "claim-code" trades the code for the address, then the person goes on where they met "taken" (sign-up, or
// the change of email on their account page). The claim lives in this module's memory only; a reload means
// asking for a new code. Every answer reads the same whether or not an account holds the address.
import { ApiError, request } from "./api.js";
import { busy, checkRequired, clearErrors, showError, showFormError, values } from "./forms.js";
import { go } from "./nav.js";

const WAYS_BACK = {
  signup: "The address is free. Create your account with it.",
  account: "The address is free. Change your email to it below.",
};
// The account page's way back when nobody is signed in (the session ended during the claim, or the link was
// opened signed out): the sign-in page says the address is free, for an account of theirs or a new one.
export const FREED_SIGNED_OUT =
  "The address is free and yours to use. Sign in and change your email to it, or create an account with it.";
let claim = null; // { claimId, email, back } once a code was asked for
let wanted = ""; // the address last met as "taken", to start the claim with
let freed = { email: "", back: "" }; // the address just taken back, for the view that goes on with it

/** Where to go on once the address is free: `#/claim?back=account` from the account page, else sign-up. */
export function wayBack() {
  const back = new URLSearchParams(location.hash.split("?")[1] || "").get("back");
  return Object.hasOwn(WAYS_BACK, back || "") ? back : "signup";
}

/** The claim view's address for `back` (its link keeps where the person came from). */
export function claimLink(back) {
  return back === "signup" ? "#/claim" : `#/claim?back=${back}`;
}

/**
 * After "this address is taken" in `form`: the same sentence, with a link to take the address back.
 * `back` names the view to return to once it is free ("signup" or "account").
 */
export function offerClaim(form, error, email, back) {
  if (!(error instanceof ApiError) || error.code !== "account_exists" || !email) return;
  wanted = email;
  showFormError(form, error.detail, { href: claimLink(back), text: "Is this your email address? Take it back." });
}

/** The address taken back for the view `back` (once), or "". */
export function takeFreed(back) {
  if (freed.back !== back) return "";
  const email = freed.email;
  freed = { email: "", back: "" };
  return email;
}

export function currentClaim() {
  return claim;
}

/** The address to start with: the one last met as taken (once). */
export function takeWanted() {
  const email = wanted;
  wanted = "";
  return email;
}

export async function startClaim(form, back) {
  if (!checkRequired(form)) return;
  const body = values(form, ["email"]);
  try {
    const started = await busy(form, () => request("POST", "/email-claims", { body }));
    claim = { claimId: started.claimId, email: body.email, back };
  } catch (error) {
    showError(form, error);
    return;
  }
  go("claim-code");
}

export async function confirmClaim(form) {
  if (!checkRequired(form)) return;
  const body = { claimId: claim.claimId, ...values(form, ["code"]) };
  try {
    await busy(form, () => request("POST", "/email-claims/verify", { body }));
  } catch (error) {
    showError(form, error);
    return;
  }
  const { email, back } = claim;
  freed = { email, back };
  claim = null;
  form.reset();
  clearErrors(form);
  go(back, WAYS_BACK[back]);
}

// Sign-up view: names, email, password and a mobile number with a country hint.
import { request } from "./api.js";
import { offerClaim, takeFreed } from "./claims.js";
import { busy, checkRequired, clearErrors, showError, values } from "./forms.js";
import { go, takeNotice } from "./nav.js";
import { fillCountries, toInternational } from "./phone.js";
import { prefillSignIn } from "./signin.js";

export const title = "Create your account";
const FIELDS = ["firstName", "lastName", "email", "password", "phoneNumber"];

async function submit(form) {
  if (!checkRequired(form)) return;
  const body = values(form, FIELDS);
  body.phoneNumber = toInternational(form.elements.namedItem("country"), body.phoneNumber);
  try {
    await busy(form, () => request("POST", "/register", { body }));
  } catch (error) {
    showError(form, error);
    // "taken": an account that never proved the address gives it up to a code sent there
    offerClaim(form, error, body.email, "signup");
    return;
  }
  form.reset();
  fillCountries(form.elements.namedItem("country"));
  prefillSignIn(body.email);
  go("signin", "Your account is ready. Sign in to get your first code.");
}

export function init(section) {
  const form = section.querySelector("form");
  fillCountries(form.elements.namedItem("country"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
}

/** Back from taking the address back: its status says so, and the address is filled in. */
export async function enter(section) {
  const form = section.querySelector("form");
  section.querySelector("[data-notice]").textContent = takeNotice();
  const freed = takeFreed("signup");
  if (freed) {
    clearErrors(form);
    form.elements.namedItem("email").value = freed;
  }
  return true;
}

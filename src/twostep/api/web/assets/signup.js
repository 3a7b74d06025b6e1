// Sign-up view: names, email, password and a mobile number with a country hint.
import { request } from "./api.js";
import { busy, checkRequired, showError, values } from "./forms.js";
import { go } from "./nav.js";
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

export async function enter() {
  return true;
}

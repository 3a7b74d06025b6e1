// View "forgot": the email to send a reset code for.
import { clearErrors } from "./forms.js";
import { requestCode } from "./recovery.js";

export const title = "Reset your password";

export function init(section) {
  const form = section.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    requestCode(form);
  });
}

export async function enter(section) {
  clearErrors(section.querySelector("form"));
  return true;
}

// View "reset": the code and the new password; without a started reset, back to "forgot".
import { clearErrors } from "./forms.js";
import { redirect } from "./nav.js";
import { emailOfReset, hasReset, setPassword } from "./recovery.js";

export const title = "Choose a new password";

export function init(section) {
  const form = section.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setPassword(form);
  });
}

export async function enter(section) {
  if (!hasReset()) {
    redirect("forgot");
    return false;
  }
  const form = section.querySelector("form");
  clearErrors(form);
  // a password manager saves the new password under this account (defaultValue: a form reset keeps it)
  form.querySelector("[data-username]").defaultValue = emailOfReset();
  return true;
}

// View "claim": the address to take back; a code goes to it (only when an unproven account holds it).
import { startClaim, takeWanted, wayBack } from "./claims.js";
import { clearErrors } from "./forms.js";

export const title = "Take back your email address";

export function init(section) {
  const form = section.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    startClaim(form, wayBack());
  });
}

/** With the address already filled in (from "this address is taken"), start at the button. */
export function focusTarget(section) {
  const form = section.querySelector("form");
  return form.elements.namedItem("email").value ? form.querySelector("button[type='submit']") : null;
}

export async function enter(section) {
  const form = section.querySelector("form");
  clearErrors(form);
  const email = takeWanted();
  if (email) form.elements.namedItem("email").value = email;
  return true;
}

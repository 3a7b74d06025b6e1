// View "claim-code": the emailed code frees the address; without a started claim, back to "claim".
import { claimLink, confirmClaim, currentClaim } from "./claims.js";
import { clearErrors } from "./forms.js";
import { redirect } from "./nav.js";

export const title = "Enter the code from your email";

export function init(section) {
  const form = section.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    confirmClaim(form);
  });
}

/** The code field, described by the lead that says where the code went. */
export function focusTarget(section) {
  return section.querySelector("form").elements.namedItem("code");
}

export async function enter(section) {
  const claim = currentClaim();
  if (!claim) {
    redirect("claim");
    return false;
  }
  section.querySelector("[data-claim-email]").textContent = claim.email;
  section.querySelector("[data-claim-again]").href = claimLink(claim.back);
  const form = section.querySelector("form");
  clearErrors(form);
  form.elements.namedItem("code").value = "";
  return true;
}

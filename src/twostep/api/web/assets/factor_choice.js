// The code step's choice of factor: the authenticator app, a text message, a recovery code or a passkey.
// `challenge.factor` is the one on show; the server says which it expects first (`expectedFactor`).

const OTHER_LEADS = {
  totp: "Enter the 6-digit code your authenticator app shows now.",
  recovery: "Enter one of your recovery codes (like abcde-23456). Each one works once.",
  passkey: "Use the passkey on this device or your phone.",
};
// Said before the other factor's lead when the sign-in's text could not go out (`smsUnavailable`).
const NOT_SENT = {
  failed: "We could not send you a text message just now.",
  limited: "We cannot send you another text message just now.",
};
const SWITCH_TEXT = {
  totp: "Use your authenticator app",
  sms: "Text me a code instead",
  recovery: "Use a recovery code",
  passkey: "Use a passkey",
};

/** The factor on show for this challenge. */
export function currentFactor(challenge) {
  return challenge.factor || challenge.expectedFactor || "sms";
}

function configureInput(input, factor) {
  if (factor === "recovery") {
    input.inputMode = "text";
    input.removeAttribute("pattern");
    input.maxLength = 16;
    input.autocomplete = "off";
  } else {
    input.inputMode = "numeric";
    input.pattern = "[0-9]*";
    input.maxLength = 10;
    input.autocomplete = "one-time-code";
  }
}

/** Show the step for `factor`: its lead, its input, its resend button, and the other choices. */
export function showFactor(section, challenge, onChoose) {
  const factor = currentFactor(challenge);
  const smsLead = section.querySelector("#code-lead");
  const otherLead = section.querySelector("[data-other-lead]");
  smsLead.hidden = factor !== "sms";
  otherLead.hidden = factor === "sms";
  const notSent = NOT_SENT[challenge.smsUnavailable];
  otherLead.textContent = [notSent, OTHER_LEADS[factor]].filter(Boolean).join(" ");
  const form = section.querySelector("form");
  form.hidden = factor === "passkey";
  configureInput(form.elements.namedItem("otp"), factor);
  // The field's description is the lead on show: a hidden element named by aria-describedby is still read,
  // and the texted-code lead told an app or recovery-code user that a text message was on its way.
  const lead = factor === "sms" ? "code-lead" : "code-other-lead";
  form.elements.namedItem("otp").setAttribute("aria-describedby", `${lead} code-otp-error`);
  section.querySelector(".resend").hidden = factor !== "sms";
  const choices = (challenge.factors || ["sms"]).filter((f) => f !== factor);
  if (factor !== "sms" && challenge.destination && !choices.includes("sms")) choices.push("sms");
  const buttons = choices.map((choice) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.textContent = SWITCH_TEXT[choice] || choice;
    button.addEventListener("click", () => onChoose(choice));
    return button;
  });
  section.querySelector("[data-factor-choice]").replaceChildren(...buttons);
  section.querySelector("[data-passkey-step]").hidden = factor !== "passkey";
}

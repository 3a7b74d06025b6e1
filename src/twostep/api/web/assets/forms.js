// Shows API errors next to the field they concern, or in the form's alert; never raw JSON.
import { ApiError } from "./api.js";

const FRIENDLY = [
  [/^field required$/i, "This field is required."],
  [/^string should have at most (\d+) characters?$/i, "Please use at most $1 characters."],
  [/^string should have at least (\d+) characters?$/i, "Please use at least $1 characters."],
  [/^input should be a valid string$/i, "Please enter text here."],
];

function friendly(message) {
  for (const [pattern, replacement] of FRIENDLY) {
    if (pattern.test(message)) return message.replace(pattern, replacement);
  }
  return message;
}

function fieldName(path) {
  return String(path || "").split(".").pop();
}

export function clearErrors(form) {
  form.querySelectorAll("[data-error-for]").forEach((el) => {
    el.textContent = "";
  });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const alert = form.querySelector("[data-form-error]");
  if (alert) alert.replaceChildren();
}

/** Put `message` under the input named `name`; false when the form has no such field. */
export function showFieldError(form, name, message) {
  const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  const input = form.elements.namedItem(name);
  if (!slot || !input) return false;
  slot.textContent = message;
  input.setAttribute("aria-invalid", "true");
  return true;
}

/** A form-level message (role="alert"); `link` adds an optional {href, text} after it. */
export function showFormError(form, message, link) {
  const alert = form.querySelector("[data-form-error]");
  const parts = [document.createTextNode(message)];
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    parts.push(document.createTextNode(" "), a);
  }
  alert.replaceChildren(...parts);
}

/** Read `text` out now (the page's one assertive live region, outside every view). */
export function announce(text) {
  const region = document.querySelector("[data-announce]");
  region.textContent = "";
  // Emptied first and filled a moment later, so the same words twice in a row are read twice.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/**
 * Focus a field in error. A screen reader reads the field's error (its description) when focus arrives;
 * when the field already has focus (Enter pressed in it) nothing arrives, so the error is announced.
 */
export function focusInvalid(input) {
  if (document.activeElement === input) {
    const slot = input.form?.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
    if (slot?.textContent) announce(slot.textContent);
  }
  input.focus();
}

function focusFirstInvalid(form) {
  const target = form.querySelector("[aria-invalid='true']");
  if (target) focusInvalid(target);
}

/** Map an error onto the form: each field error beside its input, the rest in the alert. */
export function showError(form, error) {
  clearErrors(form);
  if (!(error instanceof ApiError)) {
    showFormError(form, "Something went wrong in this page. Please reload and try again.");
    return;
  }
  let placed = false;
  for (const issue of error.errors) {
    placed = showFieldError(form, fieldName(issue.field), friendly(String(issue.message))) || placed;
  }
  if (!placed && error.field) placed = showFieldError(form, fieldName(error.field), error.detail);
  if (!placed) {
    let text = error.detail;
    if (error.status === 429 && error.retryAfter) text += ` Try again in ${error.retryAfter} seconds.`;
    showFormError(form, text);
  }
  focusFirstInvalid(form);
}

/** Fields left empty get "required" beside them; returns whether the form may be sent. */
export function checkRequired(form) {
  clearErrors(form);
  let ok = true;
  for (const input of form.querySelectorAll("[required]")) {
    if (!input.value.trim()) {
      showFieldError(form, input.name, "This field is required.");
      ok = false;
    }
  }
  focusFirstInvalid(form);
  return ok;
}

/** True when keyboard focus fell to <body>: the focused control was disabled or removed. */
export function focusLost() {
  return !document.activeElement || document.activeElement === document.body;
}

/**
 * Run `task` with the submit button disabled, so a double click sends once. Disabling the focused button
 * drops focus to <body> (a keyboard user would start again from the top): it goes back to the button.
 */
export async function busy(form, task) {
  const button = form.querySelector("button[type='submit']");
  const hadFocus = document.activeElement === button;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await task();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (hadFocus && focusLost()) button.focus();
  }
}

/** The named fields' values, trimmed except passwords (their spaces count). */
export function values(form, names) {
  const out = {};
  for (const name of names) {
    const input = form.elements.namedItem(name);
    out[name] = input.type === "password" ? input.value : input.value.trim();
  }
  return out;
}

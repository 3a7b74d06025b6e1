// Security page: the authenticator app (with its QR code), recovery codes, passkeys, remembered devices.
// Everything is built with createElement/textContent (the page's CSP requires Trusted Types for HTML).
import { ApiError } from "./api.js";
import { focusLost, showError } from "./forms.js";
import { go, redirect } from "./nav.js";
import { authed, currentToken } from "./session.js";
import { createPasskey, passkeyProblem, passkeysSupported } from "./webauthn.js";

export const title = "Security";
const formatter = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
// A date in the reader's format, isolated (FSI…PDI) in the English line round it: an Arabic date runs right
// to left, and left to right its parts came out in the wrong order.
const when = { format: (date) => `\u2068${formatter.format(date)}\u2069` };
let root = null;
let panels = null; // what render() rebuilds; the heading and the status around it stay

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "data") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/**
 * A row's button names its row for screen readers (a list of buttons all called "Remove" says nothing);
 * the visible word comes first (WCAG "label in name").
 */
function named(rowButton, what) {
  rowButton.setAttribute("aria-label", `${rowButton.textContent}: ${what}`);
  return rowButton;
}

function button(text, onClick, className = "secondary") {
  const b = el("button", { type: "button", className, textContent: text });
  b.addEventListener("click", onClick);
  return b;
}

function say(text) {
  root.querySelector("[data-security-status]").textContent = text;
}

function fail(error) {
  if (error instanceof ApiError && error.status === 401 && error.code !== "invalid_credentials") {
    return go("signin", "Your session has ended. Please sign in again.");
  }
  return say(error instanceof ApiError ? error.detail : String(error));
}

function codesList(codes) {
  return el(
    "div",
    { className: "recovery-codes", data: { recoveryCodes: "" } },
    el("p", { className: "hint", textContent: "Save these recovery codes somewhere safe. Each works once; they are shown only now." }),
    el("ol", {}, ...codes.map((code) => el("li", {}, el("code", { textContent: code })))),
  );
}

/** A labelled input with its error slot (forms.js puts an answer about it there) and the form's alert. */
function field(id, label, props) {
  const error = el("p", { className: "field-error", id: `${id}-error`, data: { errorFor: props.name } });
  const input = el("input", { id, ...props, "aria-describedby": error.id });
  const alert = el("div", { className: "alert", role: "alert", data: { formError: "" } });
  return [alert, el("div", { className: "field" }, el("label", { htmlFor: id, textContent: label }), input, error)];
}

/**
 * An answer to what was typed (a wrong password or code) beside the field, in the form's colours: it stood in
 * the page's green status at the top, far from the field, and the field was not marked. An ended session still
 * goes to sign-in.
 */
function failIn(form, error) {
  const typedWrong = error instanceof ApiError && (error.status !== 401 || error.code === "invalid_credentials");
  if (!typedWrong || !form.isConnected) return fail(error);
  showError(form, error);
  if (!form.querySelector("[aria-invalid='true']")) form.querySelector("input").focus();
}

// --- authenticator app ---
function totpPanel(factors) {
  const panel = el("section", { className: "panel", data: { totp: "" } }, el("h2", { textContent: "Authenticator app" }));
  const state = factors.totp ? "On: sign-in asks for the app's code, not a text message." : "Not set up.";
  panel.append(el("p", { textContent: state, data: { totpState: "" } }));
  const area = el("div");
  const start = async (password) => showQr(area, await authed("POST", "/me/factors/totp", { currentPassword: password }));
  panel.append(button(factors.totp ? "Set up a new authenticator app" : "Set up an authenticator app", () => askPassword(area, start)), area);
  return panel;
}

// Adding or removing a way to sign in asks for the current password again (an open session alone is not
// enough); one prompt at a time, in the area of the action it confirms.
function askPassword(area, proceed) {
  root.querySelectorAll("[data-password-prompt]").forEach((prompt) => prompt.remove());
  const form = el("form", { noValidate: true, data: { passwordPrompt: "" } }, ...field("current-password", "Current password", { name: "currentPassword", type: "password", autocomplete: "current-password", maxLength: 128 }));
  form.append(el("button", { type: "submit", className: "primary", textContent: "Continue" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await proceed(form.querySelector("input").value);
    } catch (error) {
      failIn(form, error);
    }
  });
  area.replaceChildren(form);
  form.querySelector("input").focus();
}

function showQr(area, enrolment) {
  const qr = el("img", { className: "qr", alt: "QR code for your authenticator app", width: 200, height: 200 });
  qr.src = `data:image/svg+xml;base64,${btoa(enrolment.qrSvg)}`;
  const form = el("form", { noValidate: true }, ...field("totp-code", "Code from the app", { name: "code", inputMode: "numeric", autocomplete: "one-time-code", maxLength: 6 }));
  form.append(el("button", { type: "submit", className: "primary", textContent: "Turn on" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await authed("POST", "/me/factors/totp/confirm", { code: form.querySelector("input").value.trim() });
      await render();
      root.querySelector("[data-recovery]").append(codesList(result.recoveryCodes));
      say("Your authenticator app is on.");
    } catch (error) {
      failIn(form, error);
    }
  });
  const secret = el("p", { className: "hint" }, "Can't scan? Enter this key: ", el("code", { textContent: enrolment.secret, data: { totpSecret: "" } }));
  area.replaceChildren(el("p", { textContent: "Scan this with your authenticator app, then enter the code it shows." }), qr, secret, form);
  form.querySelector("input").focus();
}

// --- recovery codes ---
function recoveryPanel(factors) {
  const panel = el("section", { className: "panel", data: { recovery: "" } }, el("h2", { textContent: "Recovery codes" }));
  panel.append(el("p", { textContent: `${factors.recoveryCodesLeft} recovery codes left.`, data: { recoveryLeft: "" } }));
  if (factors.warning) panel.append(el("p", { className: "alert", textContent: factors.warning }));
  const area = el("div");
  const regenerate = async (password) => {
    const result = await authed("POST", "/me/factors/recovery-codes", { currentPassword: password });
    await render();
    root.querySelector("[data-recovery]").append(codesList(result.recoveryCodes));
  };
  panel.append(button("Make new recovery codes", () => askPassword(area, regenerate)), area);
  return panel;
}

// --- passkeys ---
function passkeyPanel(passkeys, limit) {
  const panel = el("section", { className: "panel", data: { passkeys: "" } }, el("h2", { textContent: "Passkeys" }));
  const area = el("div");
  const remove = (p) => (password) => act(`/me/passkeys/${p.id}/remove`, "Passkey removed.", { currentPassword: password });
  const items = passkeys.map((p) => {
    const what = `${p.name} · added ${when.format(new Date(p.createdAt))}`;
    const removeButton = named(button("Remove", () => askPassword(area, remove(p)), "secondary small"), what);
    return el("li", {}, el("span", { textContent: what }), removeButton);
  });
  panel.append(items.length ? el("ul", { className: "items" }, ...items) : el("p", { className: "hint", textContent: "No passkeys yet." }));
  // A full account is told so instead of being offered a button that could only end in a refusal.
  if (passkeys.length >= limit) panel.append(el("p", { className: "hint", textContent: limitReached(passkeys.length, limit), data: { passkeyLimit: "" } }));
  else if (passkeysSupported()) panel.append(button("Add a passkey", () => askPassword(area, addPasskey)));
  panel.append(area);
  return panel;
}

/** What a full account reads in place of "Add a passkey": how many, and how to make room. */
function limitReached(count, limit) {
  const held = count === 1 ? "1 passkey" : `${count} passkeys`;
  const excess = count - limit + 1; // a lowered limit may leave more than it allows
  const remove = excess === 1 ? "one" : String(excess);
  return `You have ${held}; an account may have at most ${limit}. To add another, first remove ${remove} with its Remove button above.`;
}

async function addPasskey(password) {
  try {
    const options = await authed("POST", "/me/passkeys/options", { currentPassword: password });
    let credential;
    try {
      credential = await createPasskey(options.publicKey);
    } catch (error) {
      return say(passkeyProblem(error));
    }
    await authed("POST", "/me/passkeys", { ceremonyId: options.ceremonyId, credential, name: "Passkey" });
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "passkey_limit_reached")) throw error;
    // Filled meanwhile (another tab or device): the page shows the limit in place of the button.
    await render();
    return say(error.detail);
  }
  await render();
  say("Passkey added.");
}

// --- remembered devices ---
function devicePanel(devices) {
  const panel = el("section", { className: "panel", data: { devices: "" } }, el("h2", { textContent: "Remembered devices" }));
  const items = devices.map((d) => {
    const what = `${d.label} · until ${when.format(new Date(d.expiresAt))}`;
    const forget = named(button("Forget", () => act(`/me/devices/${d.id}/forget`, "Device forgotten."), "secondary small"), what);
    return el("li", {}, el("span", { textContent: what }), forget);
  });
  panel.append(items.length ? el("ul", { className: "items" }, ...items) : el("p", { className: "hint", textContent: "No remembered devices." }));
  return panel;
}

async function act(path, done, body) {
  try {
    await authed("POST", path, body);
    await render();
    say(done);
  } catch (error) {
    if (body) throw error; // confirmed with a password: its prompt shows the answer (askPassword)
    fail(error);
  }
}

async function render() {
  const [factors, devices] = await Promise.all([authed("GET", "/me/factors"), authed("GET", "/me/devices")]);
  panels.replaceChildren(
    totpPanel(factors),
    recoveryPanel(factors),
    passkeyPanel(factors.passkeys, factors.passkeyLimit),
    devicePanel(devices),
    el("p", { className: "switch" }, el("a", { href: "#/", textContent: "Back to the message board" })),
  );
  // The control just used was rebuilt with the panels, and focus fell to <body> with it: the heading
  // takes it, and the status (kept, so screen readers announce its new words) says what happened.
  if (focusLost()) root.querySelector("h1").focus();
}

/** The heading and the status are built once: a live region made anew with its words is not read out. */
export function init(section) {
  root = section;
  panels = el("div");
  root.replaceChildren(
    el("h1", { id: "security-title", tabIndex: -1, textContent: "Security" }),
    el("p", { className: "notice", role: "status", data: { securityStatus: "" } }),
    el("div", { className: "alert", role: "alert", data: { pageError: "" } }),
    panels,
  );
}

export async function enter() {
  if (!(await currentToken())) {
    redirect("signin", "Sign in to see your security settings.");
    return false;
  }
  say("");
  root.querySelector("[data-page-error]").textContent = "";
  try {
    await render();
  } catch (error) {
    fail(error);
  }
  return true;
}

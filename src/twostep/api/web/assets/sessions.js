// Your sessions: where you're signed in, ending one or all the others, and deleting the account.
import { ApiError } from "./api.js";
import { busy, checkRequired, focusLost, showError, values } from "./forms.js";
import { go, redirect } from "./nav.js";
import { authed, currentToken, forget } from "./session.js";

export const title = "Your sessions";
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function timeOf(iso) {
  const time = document.createElement("time");
  time.dateTime = iso;
  time.textContent = when.format(new Date(iso));
  time.dir = "auto"; // a date in the reader's format: an Arabic one runs right to left, inside an English line
  return time;
}

function labelled(text, ...nodes) {
  const span = document.createElement("span");
  span.append(text, ...nodes);
  return span;
}

function sessionItem(section, session) {
  const item = document.createElement("li");
  item.className = "message";
  item.dataset.session = session.id;
  const name = document.createElement("p");
  name.className = "message-text";
  name.textContent = session.client || "Unknown device";
  if (session.current) {
    const mine = document.createElement("strong");
    mine.textContent = " · this browser";
    name.append(mine);
  }
  const meta = document.createElement("p");
  meta.className = "message-meta";
  meta.append(
    labelled("Signed in ", timeOf(session.createdAt)),
    labelled("Last active ", timeOf(session.lastUsedAt)),
  );
  if (session.ip) meta.append(labelled(`From ${session.ip}`));
  item.append(name, meta);
  if (!session.current) {
    const end = document.createElement("button");
    end.type = "button";
    end.className = "secondary small";
    end.textContent = "Sign out this session";
    // The visible words first (WCAG "label in name"), then which session it is for screen readers.
    const signedIn = when.format(new Date(session.createdAt));
    end.setAttribute("aria-label", `Sign out this session: ${session.client || "unknown device"}, signed in ${signedIn}`);
    end.addEventListener("click", () => endOne(section, session.id, end));
    item.append(end);
  }
  return item;
}

function status(section, text) {
  section.querySelector("[data-sessions-status]").textContent = text;
}

function pageError(section, text) {
  section.querySelector("[data-page-error]").textContent = text;
}

function ended(error) {
  return error instanceof ApiError && error.status === 401;
}

async function load(section) {
  const { sessions } = await authed("GET", "/sessions");
  section.querySelector("[data-sessions]").replaceChildren(...sessions.map((s) => sessionItem(section, s)));
  section.querySelector("[data-end-others]").disabled = sessions.length < 2;
}

async function act(section, button, call, done) {
  button.disabled = true;
  pageError(section, "");
  try {
    const answer = await call();
    status(section, done(answer));
    await load(section);
  } catch (error) {
    if (ended(error)) return go("signin", "Your session has ended. Please sign in again.");
    pageError(section, error.detail || "That did not work. Please try again.");
    button.disabled = false;
    if (focusLost()) button.focus();
  }
  // The ended session's button left the list (or "everywhere else" is disabled now): focus would fall to
  // <body>, so it goes to the page's heading, and the status says what happened.
  if (focusLost()) section.querySelector("h1").focus();
}

function endOne(section, id, button) {
  return act(section, button, () => authed("DELETE", `/sessions/${encodeURIComponent(id)}`), () => "Session signed out.");
}

function endOthers(section, button) {
  return act(section, button, () => authed("DELETE", "/sessions"), (answer) =>
    answer.ended === 1 ? "1 other session signed out." : `${answer.ended} other sessions signed out.`,
  );
}

async function deleteAccount(form) {
  if (!checkRequired(form)) return;
  try {
    await busy(form, () => authed("DELETE", "/me", values(form, ["currentPassword"])));
  } catch (error) {
    if (ended(error)) return go("signin", "Your session has ended. Please sign in again.");
    return showError(form, error);
  }
  forget();
  go("signin", "Your account has been deleted.");
}

export function init(section) {
  const others = section.querySelector("[data-end-others]");
  others.addEventListener("click", () => endOthers(section, others));
  const form = section.querySelector("#delete-account-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    deleteAccount(form);
  });
}

export function leave() {
  const section = document.querySelector('[data-view="sessions"]');
  status(section, "");
  section.querySelector("#delete-account-form").reset();
}

export async function enter(section) {
  pageError(section, "");
  try {
    if (!(await currentToken())) {
      redirect("signin", "Please sign in to continue.");
      return false;
    }
    await load(section);
  } catch (error) {
    if (ended(error)) {
      redirect("signin", "Your session has ended. Please sign in again.");
      return false;
    }
    pageError(section, error.detail || "Something went wrong. Please reload the page.");
  }
  return true;
}

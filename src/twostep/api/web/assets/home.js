// Home: the greeting from /hello and the message board (the 20 newest, newest first).
import { ApiError, request } from "./api.js";
import { busy, checkRequired, focusLost, showError } from "./forms.js";
import { go, redirect } from "./nav.js";
import { authed, currentToken, signOut } from "./session.js";

export const title = "Home";
const MAX_LENGTH = 500;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function messageItem(message) {
  const item = document.createElement("li");
  item.className = "message";
  const text = document.createElement("p");
  text.className = "message-text";
  text.dir = "auto"; // a message in Arabic reads right to left, its punctuation where its writer put it
  text.textContent = message.content;
  const meta = document.createElement("p");
  meta.className = "message-meta";
  const time = document.createElement("time");
  time.dateTime = message.createdAt;
  time.textContent = when.format(new Date(message.createdAt));
  time.dir = "auto"; // a date in the reader's format: an Arabic one runs right to left
  const author = document.createElement("span");
  author.dir = "auto";
  author.textContent = message.author;
  meta.append(author, time);
  item.append(text, meta);
  return item;
}

async function loadMessages(section) {
  const page = await request("GET", "/messages?limit=20");
  section.querySelector("[data-messages]").replaceChildren(...page.messages.map(messageItem));
  section.querySelector("[data-messages-empty]").hidden = page.messages.length > 0;
}

function sessionEnded(error) {
  return error instanceof ApiError && error.status === 401;
}

function pageError(section, text) {
  section.querySelector("[data-page-error]").textContent = text;
}

async function post(section, form) {
  if (!checkRequired(form)) return;
  const textarea = form.elements.namedItem("content");
  try {
    await busy(form, () => authed("POST", "/messages", { content: textarea.value.trim() }));
  } catch (error) {
    if (sessionEnded(error)) return go("signin", "Your session has ended. Please sign in again.");
    return showError(form, error);
  }
  textarea.value = "";
  updateCount(form);
  try {
    await loadMessages(section);
  } catch (error) {
    showError(form, error);
  }
}

function updateCount(form) {
  const length = form.elements.namedItem("content").value.length;
  form.querySelector("[data-count]").textContent = `${length} / ${MAX_LENGTH}`;
}

async function leaveSession(section, button) {
  button.disabled = true;
  try {
    await signOut();
    go("signin", "You're signed out.");
  } catch (error) {
    // said on the page on show (sign-out is in the top bar of every signed-in page), home's if it has none
    const shown = document.querySelector("[data-view]:not([hidden]) [data-page-error]");
    const text = error.detail || "Signing out failed. Please try again.";
    if (shown) shown.textContent = text;
    else pageError(section, text);
  } finally {
    button.disabled = false;
  }
  if (focusLost()) button.focus(); // disabling it while focused dropped focus to <body>
}

export function init(section) {
  const form = section.querySelector("#message-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    post(section, form);
  });
  form.elements.namedItem("content").addEventListener("input", () => updateCount(form));
  const signOutButton = document.querySelector("[data-signout]");
  signOutButton.addEventListener("click", () => leaveSession(section, signOutButton));
}

export async function enter(section) {
  pageError(section, "");
  try {
    if (!(await currentToken())) {
      redirect("signin", "Please sign in to continue.");
      return false;
    }
    const [hello] = await Promise.all([authed("GET", "/hello"), loadMessages(section)]);
    section.querySelector("[data-hello]").textContent = hello.message;
  } catch (error) {
    if (sessionEnded(error)) {
      redirect("signin", "Your session has ended. Please sign in again.");
      return false;
    }
    pageError(section, error.detail || "Something went wrong. Please reload the page.");
  }
  return true;
}

// Entry point: loads config.json, then shows the view named by the URL hash.
import * as account from "./account.js";
import { loadConfig } from "./api.js";
import * as claim from "./claim.js";
import * as claimCode from "./claim_code.js";
import * as code from "./code.js";
import * as forgot from "./forgot.js";
import * as home from "./home.js";
import * as reset from "./reset.js";
import * as security from "./security.js";
import * as sessions from "./sessions.js";
import * as signin from "./signin.js";
import * as signup from "./signup.js";

const views = { signup, signin, code, home, forgot, reset, claim, "claim-code": claimCode, account, sessions, security };
// How long a live region stays empty once its view is on show, so the accessibility tree has it first.
const LIVE_DELAY_MS = 150;
let current = null;
let generation = 0;

function routeName() {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  return Object.hasOwn(views, name) ? name : "home";
}

function sectionOf(name) {
  return document.querySelector(`[data-view="${name}"]`);
}

/**
 * A view fills its alerts in enter(), while it is still hidden, and a live region's words are read out only
 * when the region was already on show: "twostep is temporarily unavailable" on a reloaded home page went
 * unsaid. Once the view is on show, each filled region is emptied and filled again.
 */
function replayLiveRegions(section) {
  for (const region of section.querySelectorAll("[role=alert], [role=status], [aria-live]")) {
    if (!region.textContent) continue;
    const words = [...region.childNodes];
    region.replaceChildren();
    setTimeout(() => {
      if (!region.hasChildNodes()) region.replaceChildren(...words);
    }, LIVE_DELAY_MS);
  }
}

async function show() {
  const name = routeName();
  const mine = ++generation;
  if (current && views[current].leave) views[current].leave();
  const ready = await views[name].enter(sectionOf(name));
  if (!ready || mine !== generation) return; // redirected, or the user moved on meanwhile
  const first = current === null;
  for (const section of document.querySelectorAll("[data-view]")) {
    section.hidden = section.dataset.view !== name;
  }
  document.querySelector("[data-loading]").hidden = true;
  document.body.dataset.route = name;
  document.title = `${views[name].title} · twostep`;
  current = name;
  replayLiveRegions(sectionOf(name));
  views[name].shown?.(sectionOf(name)); // live regions speak only once their view is on show
  if (first) return;
  // Move focus for keyboard and screen-reader users: a view may name its own starting point.
  const target = views[name].focusTarget?.(sectionOf(name)) || sectionOf(name).querySelector("h1");
  target.focus();
}

// What the API takes of a new password: 15 characters where a password may be the only factor
// (`passwordMinLength` in config.json, which twostep serve fills in), else 8.
const PASSWORD_MIN_LENGTH = 8;

function showPasswordMinimum(configured) {
  const raised = Number.isInteger(configured) && configured > PASSWORD_MIN_LENGTH;
  const minimum = raised ? configured : PASSWORD_MIN_LENGTH;
  for (const input of document.querySelectorAll('input[autocomplete="new-password"]')) input.minLength = minimum;
  for (const hint of document.querySelectorAll("[data-password-min]")) hint.textContent = String(minimum);
}

async function main() {
  showPasswordMinimum((await loadConfig()).passwordMinLength);
  for (const [name, view] of Object.entries(views)) view.init(sectionOf(name));
  window.addEventListener("hashchange", show);
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault(); // "#main" is not a route
    document.getElementById("main").focus();
  });
  await show();
}

main();

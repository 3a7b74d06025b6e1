// Hash routes (#/signup, #/signin, #/code, #/) so the same files work from any static host.
let pendingNotice = "";

/** Go to a view, optionally carrying a short notice for it to show. */
export function go(route, notice = "") {
  pendingNotice = notice;
  const hash = `#/${route === "home" ? "" : route}`;
  if (location.hash === hash || (hash === "#/" && location.hash === "")) {
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    location.hash = hash;
  }
}

/** The notice handed over by the last `go`, once. */
export function takeNotice() {
  const notice = pendingNotice;
  pendingNotice = "";
  return notice;
}

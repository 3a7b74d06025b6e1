// Hash routes (#/signup, #/signin, #/code, #/) so the same files work from any static host.
let pendingNotice = "";

function navigate(route, notice, move) {
  pendingNotice = notice;
  const hash = `#/${route === "home" ? "" : route}`;
  if (location.hash === hash || (hash === "#/" && location.hash === "")) {
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    move(hash);
  }
}

/** Go to a view, optionally carrying a short notice for it to show. */
export function go(route, notice = "") {
  navigate(route, notice, (hash) => {
    location.hash = hash;
  });
}

/**
 * From a view's enter(), send the person elsewhere in its place in the history. Added as a new entry, Back
 * led to the view that sent them on again: Back could never get past it.
 */
export function redirect(route, notice = "") {
  navigate(route, notice, (hash) => location.replace(hash));
}

/** The notice handed over by the last `go`, once. */
export function takeNotice() {
  const notice = pendingNotice;
  pendingNotice = "";
  return notice;
}

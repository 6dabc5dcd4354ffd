// Shared by every page of the coordinator's workspace: sign-in with the coordinator's token
// (sessionStorage: this tab only, gone when it closes, never a cookie), calls to this origin
// with it, and small DOM helpers. A page's own script calls `wbl.start({ signedIn, signedOut })`.
// Text goes in with textContent only.
"use strict";

const wbl = (() => {
  const TOKEN_KEY = "wbl.coordinator-token";
  const hooks = { signedIn: () => {}, signedOut: () => {} };
  const $ = (id) => document.getElementById(id);
  let me = null; // who is signed in: GET /v1/inbox/me

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  // A string body is JSON unless the caller names its type; FormData goes as it is.
  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
    if (typeof options.body === "string" && !headers["Content-Type"]) {
      headers["Content-Type"] = "application/json";
    }
    let response;
    try { response = await fetch(path, { ...options, headers }); }
    catch (_) { return { ok: false, status: 0, body: { detail: "the server cannot be reached" } }; }
    const type = response.headers.get("Content-Type") || "";
    let body = null;
    let text = null;
    try {
      if (type.includes("json")) body = await response.json(); else text = await response.text();
    } catch (_) { body = null; }
    if (response.status === 401) signOut("Your token was not accepted. Sign in again.");
    return { ok: response.ok, status: response.status, body, text, link: response.headers.get("Link"),
             headers: response.headers };
  }

  function problemText(result) {
    const b = result.body || {};
    return b.detail || b.title || `the request failed (HTTP ${result.status})`;
  }

  function announce(text) { $("live").textContent = text; }

  function el(tag, attrs = {}, ...children) {
    const svg = ["svg", "g", "rect", "text", "line", "title"].includes(tag);
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag)
                     : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.setAttribute("class", v); else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c));
    return node;
  }

  function showWho() {
    const schools = me.school_ids.join(", ");
    $("who").textContent = `Signed in as ${me.name || me.coordinator_id} · ` +
      `school${me.school_ids.length === 1 ? "" : "s"} ${schools}`;
  }

  async function signIn() {
    const check = await api("/v1/inbox/me");
    if (!check.ok) {
      if (check.status !== 401) $("sign-in-error").textContent = problemText(check);
      return;
    }
    me = check.body;
    $("sign-in").hidden = true;
    $("sign-out").hidden = false;
    $("nav").hidden = false;
    showWho();
    hooks.signedIn(me);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    hooks.signedOut();
    $("who").textContent = "";
    $("sign-out").hidden = true;
    $("nav").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("token").focus();
  }

  function start(pageHooks) {
    Object.assign(hooks, pageHooks);
    document.addEventListener("DOMContentLoaded", () => {
      $("sign-in-form").addEventListener("submit", (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
        $("token").value = "";
        signIn();
      });
      $("sign-out").addEventListener("click", () => signOut("Signed out."));
      // A sign-in link (`/inbox#token=...`, as `make demo` prints) signs in; a fragment never
      // reaches a server or a log, and it leaves the address bar at once.
      const linked = new URLSearchParams(location.hash.slice(1)).get("token");
      if (linked) {
        sessionStorage.setItem(TOKEN_KEY, linked);
        history.replaceState(null, "", location.pathname + location.search);
      }
      if (token()) signIn();
    });
  }

  return { $, api, problemText, announce, el, start, token, me: () => me };
})();

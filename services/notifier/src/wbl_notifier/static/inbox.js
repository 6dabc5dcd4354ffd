// The coordinator's inbox: sign in with the token (sessionStorage), list match proposals,
// confirm or decline them through notifier (which forwards to registry with the token),
// and follow changes live over server-sent events. Text goes in with textContent only.
"use strict";

const TOKEN_KEY = "wbl.coordinator-token";
const $ = (id) => document.getElementById(id);
const items = new Map();
let stream = null;
let retryMs = 1000;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401) signOut("Your token was not accepted. Sign in again.");
  return { ok: response.ok, status: response.status, body };
}

function problemText(result) {
  const b = result.body || {};
  return b.detail || b.title || `the request failed (HTTP ${result.status})`;
}

function announce(text) { $("live").textContent = text; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c));
  return node;
}

const STATUS_TEXT = { proposed: "awaiting your decision", confirmed: "confirmed",
                      declined: "declined", withdrawn: "withdrawn by the matcher" };

function render() {
  const filter = $("status-filter").value;
  const list = [...items.values()]
    .filter((n) => !filter || n.status === filter)
    .sort((a, b) => (b.created_at > a.created_at ? 1 : b.created_at < a.created_at ? -1 : 0));
  const ul = $("items");
  const focused = document.activeElement && document.activeElement.id;
  ul.replaceChildren(...list.map(card));
  $("empty").hidden = list.length > 0;
  if (focused && $(focused)) $(focused).focus();
}

function card(n) {
  const li = el("li", { class: `item${n.fresh ? " fresh" : ""}`, id: `match-${n.match_id}`,
                        "data-match": n.match_id, "data-status": n.status });
  const title = el("h3", {}, `Opening ${n.opening_id} · ${n.career_field} `,
                   el("span", { class: `badge ${n.status}` }, STATUS_TEXT[n.status] || n.status));
  const meta = el("p", { class: "meta" }, `Student reference ${n.student_id} · proposed `,
                  el("time", { datetime: n.created_at }, new Date(n.created_at).toLocaleString()));
  let ends = null;
  if (n.status === "proposed" && n.expires_at) {
    ends = el("p", { class: "ends" }, "The offer ends ",
                    el("time", { datetime: n.expires_at }, new Date(n.expires_at).toLocaleString()),
                    "; if you have not confirmed or declined it by then, the seat goes to the next student.");
    if (n.reminded_at) ends.append(" A reminder was sent.");
  }
  const why = el("ul", { "aria-label": "Why this match" },
                 ...n.explanation.map((reason) => el("li", {}, reason)));
  const details = el("div", { class: "student", id: `student-${n.match_id}`, hidden: "" });
  const actions = el("div", { class: "actions" });
  const show = el("button", { type: "button", class: "quiet", id: `show-${n.match_id}`,
                              "aria-controls": details.id }, "Show student details");
  show.addEventListener("click", () => showStudent(n, details, show));
  actions.append(show);
  if (n.status === "proposed") {
    for (const decision of ["confirm", "decline"]) {
      const b = el("button", { type: "button", class: decision, id: `${decision}-${n.match_id}` },
                   decision === "confirm" ? "Confirm placement" : "Decline");
      b.addEventListener("click", () => decide(n.match_id, decision, null, b));
      actions.append(b);
    }
  }
  const parts = [title, meta, ...(ends ? [ends] : []), el("p", {}, "Why this match:"), why,
                 actions, details];
  if (n.error) parts.push(el("p", { class: "error", role: "alert" }, n.error));
  const sent = (n.deliveries || []).map((d) =>
    `${d.channel}: ${d.status}${d.attempts ? ` after ${d.attempts} attempt(s)` : ""}` +
    `${d.last_error ? ` (${d.last_error})` : ""}`);
  if (sent.length) parts.push(el("p", { class: "deliveries" }, `Delivered by ${sent.join("; ")}`));
  li.append(...parts);
  return li;
}

async function showStudent(n, box, button) {
  if (!box.hidden) { box.hidden = true; button.textContent = "Show student details"; return; }
  button.disabled = true;
  const result = await api(`/v1/inbox/students/${encodeURIComponent(n.student_id)}`);
  button.disabled = false;
  if (!result.ok) { box.replaceChildren(el("p", { class: "error" }, problemText(result))); }
  else {
    const s = result.body;
    const rows = [["Name", `${s.first_name} ${s.last_name}`], ["Email", s.email],
                  ["Grade", String(s.grade)], ["Program", s.program],
                  ["Available", `${s.available_from} to ${s.available_to}`]];
    box.replaceChildren(el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  }
  box.hidden = false;
  button.textContent = "Hide student details";
}

async function decide(matchId, decision, link, button) {
  if (button) button.disabled = true;
  const result = await api(`/v1/inbox/${encodeURIComponent(matchId)}/${decision}`, {
    method: "POST", body: JSON.stringify(link ? { link } : {}),
  });
  const item = items.get(matchId);
  if (result.ok) {
    if (item) { item.status = decision === "confirm" ? "confirmed" : "declined"; item.error = null; }
    announce(`Match for opening ${item ? item.opening_id : matchId} ${decision}ed.`);
  } else {
    if (item) item.error = `Could not ${decision}: ${problemText(result)}`;
    announce(`Could not ${decision} the match: ${problemText(result)}`);
    if (button) button.disabled = false;
  }
  render();
  return result;
}

function upsert(n, live) {
  const known = items.get(n.match_id);
  if (live && !known) announce(`New match: opening ${n.opening_id} (${n.career_field}).`);
  else if (live && known && known.status !== n.status) {
    announce(`Match for opening ${n.opening_id} is now ${STATUS_TEXT[n.status] || n.status}.`);
  }
  items.set(n.match_id, { ...n, fresh: live && !known });
}

async function loadSeason() {
  // While the season's main round is scheduled, offers wait for it: say so, and until when.
  const result = await api("/v1/inbox/season");
  const notice = $("season-notice");
  notice.textContent = result.ok && result.body.notice ? result.body.notice : "";
  notice.hidden = !notice.textContent;
}

async function loadInbox() {
  loadSeason();
  const result = await api("/v1/inbox?size=200");
  if (!result.ok) { $("connection").textContent = problemText(result); return; }
  for (const n of result.body) if (!items.has(n.match_id) || items.get(n.match_id).updated_at <= n.updated_at) upsert(n, false);
  render();
}

async function connect() {
  if (!token()) return;
  const result = await api("/v1/inbox/stream-tickets", { method: "POST" });
  if (!result.ok) { return reconnectLater(); }
  stream = new EventSource(result.body.stream_url);
  stream.addEventListener("ready", () => {
    retryMs = 1000;
    $("connection").textContent = "Live: new matches appear here as they arrive.";
    loadInbox();
  });
  stream.addEventListener("inbox", (event) => { upsert(JSON.parse(event.data), true); render(); });
  stream.onerror = () => { stream.close(); stream = null; reconnectLater(); };
}

function reconnectLater() {
  $("connection").textContent = "Live updates interrupted; reconnecting…";
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 30000);
}

function showSignedIn() {
  $("sign-in").hidden = true;
  $("inbox").hidden = false;
  $("sign-out").hidden = false;
  const step = $("confirm-step");
  if (step) { step.hidden = false; $("confirm-step-go").focus(); } else { $("main").focus(); }
  connect();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (stream) { stream.close(); stream = null; }
  items.clear();
  $("inbox").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("token").focus();
}

function wireConfirmStep() {
  const step = $("confirm-step");
  if (!step) return;
  const { action, match, link } = document.body.dataset;
  $("confirm-step-go").addEventListener("click", async (e) => {
    const result = await decide(match, action, link, e.currentTarget);
    $("confirm-step-result").textContent = result.ok
      ? `Done: the placement was ${action}ed.` : `Not done: ${problemText(result)}`;
    if (result.ok) e.currentTarget.disabled = true;
  });
  $("confirm-step-cancel").addEventListener("click", () => { step.hidden = true; $("main").focus(); });
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    const check = await api("/v1/inbox?size=1");
    if (check.ok) showSignedIn();
    else if (check.status !== 401) $("sign-in-error").textContent = problemText(check);
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("status-filter").addEventListener("change", render);
  wireConfirmStep();
  // A sign-in link (`/inbox#token=...`, as `make demo` prints) signs in; a fragment never
  // reaches a server or a log, and it leaves the address bar at once.
  const linked = new URLSearchParams(location.hash.slice(1)).get("token");
  if (linked) {
    sessionStorage.setItem(TOKEN_KEY, linked);
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (token()) showSignedIn();
});

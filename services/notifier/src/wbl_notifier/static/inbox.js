// The coordinator's inbox (signed in through workspace.js): list match proposals over
// the HTTP API (whether or not the live stream connects), confirm or decline them through
// notifier (which forwards to registry with the token) after a confirmation step, and follow
// changes live over server-sent events. Text goes in with textContent only.
"use strict";

const { $, api, problemText, announce, el } = wbl;
const PAGE_SIZE = 100; // the inbox API's pages, newest first; "Load older" asks for the next
const items = new Map(); // match_id -> inbox item, as shown
const arrived = new Map(); // new matches heard live, shown only when the reader asks
// What the reader opened or typed survives every re-render: kept here, not in the DOM.
const ui = { explained: new Set(), student: new Map(), shown: new Set(), asking: new Map(),
             result: new Map(), kept: new Set(), undo: new Map(), // undo: match -> its deadline
             decided: new Map() }; // match -> what this tab decided, while it can be undone
// The notifier hears of a decision only once its undo window ends: this tab keeps its own
// decisions still in the window, so that a reload shows them decided with their Undo.
const UNDO_KEY = "wbl.inbox.undo";
let stream = null;
let retryMs = 1000;
let older = null; // the next page's URL (the inbox API's Link rel=next), or null

const STATUS_TEXT = { proposed: "awaiting your decision", confirmed: "confirmed",
                      declined: "declined", withdrawn: "withdrawn by the matcher" };
const DONE = { confirm: "confirmed", decline: "declined" };
const VERB = { confirm: "Confirm placement", decline: "Decline" };

function newestFirst(a, b) {
  if (a.created_at !== b.created_at) return b.created_at > a.created_at ? 1 : -1;
  return a.match_id < b.match_id ? -1 : a.match_id > b.match_id ? 1 : 0;
}

function render() {
  const filter = $("status-filter").value;
  // A card just decided stays in view (with its result) until the filter is changed.
  const list = [...items.values()]
    .filter((n) => !filter || n.status === filter || ui.kept.has(n.match_id)).sort(newestFirst);
  const focused = document.activeElement && document.activeElement.id;
  $("items").replaceChildren(...list.map(card));
  renderEmpty(list.length, filter);
  renderArrivals();
  $("older").hidden = !older;
  if (focused && $(focused)) $(focused).focus();
}

function renderEmpty(shown, filter) {
  const empty = $("empty");
  empty.hidden = shown > 0;
  if (shown > 0) return;
  if (filter && items.size) {
    const all = el("button", { type: "button", class: "quiet", id: "show-all" }, "Show all matches");
    all.addEventListener("click", () => { $("status-filter").value = ""; render(); $("items").focus(); });
    empty.replaceChildren(el("p", {}, `No match is ${STATUS_TEXT[filter] || filter}.`), all);
  } else {
    empty.replaceChildren(
      el("p", {}, "No matches yet."),
      el("p", {}, "Next step: make sure your students are registered: ",
         el("a", { href: "/class-lists" }, "upload a class list"),
         ". The matcher proposes an opening for each student it can place, and the " +
         "proposal appears here, with an email if your account has one."));
  }
}

function renderArrivals() {
  const box = $("arrivals");
  const count = arrived.size;
  if (!count) { box.replaceChildren(); return; }
  const show = el("button", { type: "button", id: "show-arrivals" },
                  `${count} new match${count === 1 ? "" : "es"} \u2014 show`);
  show.addEventListener("click", showArrivals);
  box.replaceChildren(show);
}

function showArrivals() {
  const first = [...arrived.values()].sort(newestFirst)[0];
  for (const [id, n] of arrived) items.set(id, { ...n, fresh: true });
  arrived.clear();
  render();
  if (first && $(`title-${first.match_id}`)) $(`title-${first.match_id}`).focus();
}

function toggle(label, controls, open, onClick, id) {
  const b = el("button", { type: "button", class: "quiet", id, "aria-controls": controls,
                           "aria-expanded": String(open) }, label);
  b.addEventListener("click", onClick);
  return b;
}

function whyEnded(n) {
  // A withdrawn offer says why it ended, in the matcher's plain words.
  if (n.status !== "withdrawn") return [];
  const entry = (n.history || []).find((h) => h.startsWith("withdrawn: "));
  return entry ? [el("p", { class: "why-ended" }, `Why it ended: ${entry.slice(11)}`)] : [];
}

function ends(n) {
  // An offer holds its seat until it ends: say when, and what happens then.
  if (n.status !== "proposed" || !n.expires_at) return [];
  const line = el("p", { class: "ends" }, "Decide by ",
                  el("time", { datetime: n.expires_at }, new Date(n.expires_at).toLocaleString()),
                  ". After that the seat goes to the next student.");
  if (n.reminded_at) line.append(" A reminder was sent.");
  return [line];
}

async function loadSeason() {
  // While the season's main round is scheduled, offers wait for it: say so, and until when.
  const result = await api("/v1/inbox/season");
  const notice = $("season-notice");
  notice.textContent = result.ok && result.body.notice ? result.body.notice : "";
  notice.hidden = !notice.textContent;
}

function card(n) {
  const id = n.match_id;
  const li = el("li", { class: `item${n.fresh ? " fresh" : ""}`, id: `match-${id}`,
                        "data-match": id, "data-status": n.status,
                        "aria-labelledby": `title-${id}` });
  const title = el("h3", { id: `title-${id}`, tabindex: "-1" }, n.opening_text || `Opening ${n.opening_id}`);
  const badge = el("p", { class: "status" },
                   el("span", { class: `badge ${n.status}` }, STATUS_TEXT[n.status] || n.status));
  const meta = el("p", { class: "meta" }, `Student reference ${n.student_id} · opening reference ` +
                  `${n.opening_id} · proposed `,
                  el("time", { datetime: n.created_at }, new Date(n.created_at).toLocaleString()));
  // The decision comes right after the summary, its deadline under it: on a phone the
  // buttons are on the first screen.
  const parts = [title, badge, meta, ...whyEnded(n), ...why(n), ...result(n), ...actions(n), ...ends(n), ...explanation(n),
                 ...student(n)];
  const sent = (n.deliveries || []).map((d) =>
    `${d.channel}: ${d.status}${d.attempts ? ` after ${d.attempts} attempt(s)` : ""}` +
    `${d.last_error ? ` (${d.last_error})` : ""}`);
  if (sent.length) parts.push(el("p", { class: "deliveries" }, `Sent by ${sent.join("; ")}`));
  li.append(...parts);
  return li;
}

function why(n) {
  const lines = el("ul", { "aria-label": "Why this match" },
                   ...(n.explanation || []).map((line) => el("li", {}, line)));
  return [el("p", { class: "why" }, "Why this match:"), lines];
}

function explanation(n) {
  const id = n.match_id;
  const out = [];
  const detail = n.explanation_detail || [];
  if (!detail.length) return out;
  const open = ui.explained.has(id);
  const box = el("ul", { class: "detail", id: `detail-${id}`, "aria-label": "The full explanation" },
                 ...detail.map((line) => el("li", {}, line)));
  box.hidden = !open;
  out.push(toggle(open ? "Hide the full explanation" : "Show the full explanation (how ties are broken)",
                  box.id, open, () => {
                    if (ui.explained.has(id)) ui.explained.delete(id); else ui.explained.add(id);
                    render();
                  }, `explain-${id}`), box);
  return out;
}

function result(n) {
  const said = ui.result.get(n.match_id);
  if (!said) return [];
  return [el("p", { class: `result ${said.kind}`, id: `result-${n.match_id}`, tabindex: "-1" }, said.text)];
}

function clockTime(when) {
  return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function actions(n) {
  const id = n.match_id;
  const row = el("div", { class: "actions" });
  const until = ui.undo.get(id);
  if (until && until > new Date() && n.status !== "proposed") {
    const b = el("button", { type: "button", class: "quiet undo", id: `undo-${id}`,
                             "aria-describedby": `undo-help-${id}` },
                 `Undo (until ${clockTime(until)})`);
    b.addEventListener("click", () => undo(id, b));
    row.append(b, el("span", { class: "help", id: `undo-help-${id}` },
                     "Nothing reaches the employer before then."));
  }
  const asking = ui.asking.get(id);
  const refused = (ui.result.get(id) || {}).kind === "conflict"; // registry said no: no retry
  if (n.status === "proposed" && !asking && !refused) {
    for (const decision of ["confirm", "decline"]) {
      const b = el("button", { type: "button", class: decision, id: `${decision}-${id}` }, VERB[decision]);
      b.addEventListener("click", () => { ui.asking.set(id, { decision, note: "" }); render();
                                          $(`step-${id}`).focus(); });
      row.append(b);
    }
  }
  const out = [row];
  if (n.status === "proposed" && asking) out.push(step(n, asking));
  return out;
}

function step(n, asking) {
  const id = n.match_id;
  const { decision } = asking;
  const heading = decision === "confirm" ? "Confirm this placement?" : "Decline this placement?";
  const box = el("div", { class: "confirm-step", role: "group", "aria-labelledby": `step-${id}` });
  const note = el("textarea", { id: `note-${id}`, maxlength: "500", rows: "2",
                                "aria-describedby": `note-help-${id}` });
  note.value = asking.note;
  note.addEventListener("input", () => { asking.note = note.value; });
  const go = el("button", { type: "button", class: decision, id: `go-${id}` },
                decision === "confirm" ? "Yes, confirm the placement" : "Yes, decline it");
  go.addEventListener("click", () => decide(id, decision, null, go, asking.note));
  const cancel = el("button", { type: "button", class: "quiet", id: `cancel-${id}` }, "Cancel");
  cancel.addEventListener("click", () => { ui.asking.delete(id); render(); $(`${decision}-${id}`).focus(); });
  box.append(el("h4", { id: `step-${id}`, tabindex: "-1" }, heading),
             el("p", {}, decision === "confirm"
               ? "The seat is taken for this student and the employer is told."
               : "The student is not placed here; the matcher looks for another opening."),
             el("label", { for: note.id }, "Note (optional)"),
             note,
             el("p", { class: "help", id: `note-help-${id}` }, "Kept with the decision, up to 500 characters."),
             el("div", { class: "actions" }, go, cancel));
  return box;
}

function student(n) {
  const id = n.match_id;
  const open = ui.shown.has(id);
  const box = el("div", { class: "student", id: `student-${id}` });
  box.hidden = !open;
  const known = ui.student.get(id);
  if (known && known.error) box.append(el("p", { class: "error" }, known.error));
  else if (known) {
    const s = known.data;
    const rows = [["Name", `${s.first_name} ${s.last_name}`], ["Email", s.email],
                  ["Grade", String(s.grade)], ["Program", s.program],
                  ["Available", `${s.available_from} to ${s.available_to}`]];
    box.append(el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  }
  const show = toggle(open ? "Hide student details" : "Show student details", box.id, open,
                      () => showStudent(n), `show-${id}`);
  return [show, box];
}

async function showStudent(n) {
  const id = n.match_id;
  if (ui.shown.has(id)) { ui.shown.delete(id); render(); return; }
  if (!ui.student.has(id) || ui.student.get(id).error) {
    const result = await api(`/v1/inbox/students/${encodeURIComponent(n.student_id)}`);
    ui.student.set(id, result.ok ? { data: result.body } : { error: problemText(result) });
  }
  ui.shown.add(id);
  render();
}

function decidedBy(n) {
  if (!n.decided_by) return "";
  return n.decided_by === (wbl.me() && wbl.me().coordinator_id) ? " by you" : ` by coordinator ${n.decided_by}`;
}

async function decide(matchId, decision, link, button, note) {
  if (button) button.disabled = true;
  ui.kept.add(matchId);
  const body = { ...(link ? { link } : {}), ...(note && note.trim() ? { note: note.trim() } : {}) };
  const result = await api(`/v1/inbox/${encodeURIComponent(matchId)}/${decision}`, {
    method: "POST", body: JSON.stringify(body),
  });
  const item = items.get(matchId);
  const name = item ? item.opening_text : matchId;
  if (result.ok) {
    ui.asking.delete(matchId);
    if (item) item.status = DONE[decision];
    const until = result.body && result.body.undo_until ? new Date(result.body.undo_until) : null;
    const text = `Done: the placement was ${DONE[decision]}.`;
    ui.result.set(matchId, { kind: "ok", text });
    if (until) offerUndo(matchId, until, DONE[decision]);
    announce(`Placement ${DONE[decision]}: ${name}.`);
  } else if (result.status === 409) {
    // Decided elsewhere, withdrawn or out of seats: show where it stands, buttons gone.
    ui.asking.delete(matchId);
    const now = await api(`/v1/inbox/matches/${encodeURIComponent(matchId)}`);
    if (now.ok) items.set(matchId, { ...now.body, fresh: false });
    const fresh = items.get(matchId);
    const where = fresh && fresh.status !== "proposed"
      ? `It is ${STATUS_TEXT[fresh.status] || fresh.status}${decidedBy(fresh)}. ` : "";
    ui.result.set(matchId, { kind: "conflict", text: `Not done: ${where}${problemText(result)}` });
    announce(`Could not ${decision}: ${problemText(result)}`);
  } else {
    if (button) button.disabled = false;
    ui.result.set(matchId, { kind: "error", text: `Could not ${decision}: ${problemText(result)}` });
    announce(`Could not ${decision} the match: ${problemText(result)}`);
  }
  render();
  if ($(`result-${matchId}`)) $(`result-${matchId}`).focus();
  return result;
}

function savedUndo() {
  try { return JSON.parse(sessionStorage.getItem(UNDO_KEY) || "{}"); } catch { return {}; }
}

function keepUndo(matchId, entry) {
  const all = savedUndo();
  if (entry) all[matchId] = entry; else delete all[matchId];
  sessionStorage.setItem(UNDO_KEY, JSON.stringify(all));
}

function restoreUndo() {
  for (const [matchId, { until, status }] of Object.entries(savedUndo())) {
    const deadline = new Date(until);
    if (deadline > new Date()) { ui.kept.add(matchId); offerUndo(matchId, deadline, status); }
    else keepUndo(matchId, null);
  }
}

function forgetUndo(matchId) {
  ui.undo.delete(matchId);
  ui.decided.delete(matchId);
  keepUndo(matchId, null);
}

function offerUndo(matchId, until, status) {
  // The button goes when the window ends; focus, if it was on the button, goes to the result.
  ui.undo.set(matchId, until);
  ui.decided.set(matchId, status);
  keepUndo(matchId, { until: until.toISOString(), status });
  setTimeout(() => {
    if (ui.undo.get(matchId) !== until) return;
    const onButton = document.activeElement && document.activeElement.id === `undo-${matchId}`;
    forgetUndo(matchId);
    render();
    if (onButton && $(`result-${matchId}`)) $(`result-${matchId}`).focus();
  }, Math.max(0, until - new Date()));
}

async function undo(matchId, button) {
  if (button) button.disabled = true;
  const result = await api(`/v1/inbox/${encodeURIComponent(matchId)}/undo`, { method: "POST" });
  const item = items.get(matchId);
  const name = item ? item.opening_text : matchId;
  forgetUndo(matchId);
  if (result.ok) {
    if (item) { item.status = result.body.status; item.decided_by = null; }
    ui.result.set(matchId, { kind: "ok",
      text: "Undone: nothing was sent to the employer. The match awaits your decision again." });
    announce(`Undone: ${name} awaits your decision again.`);
  } else {
    ui.result.set(matchId, { kind: result.status === 409 ? "conflict" : "error",
                             text: `Not undone: ${problemText(result)}` });
    announce(`Could not undo: ${problemText(result)}`);
  }
  render();
  if ($(`result-${matchId}`)) $(`result-${matchId}`).focus();
  return result;
}

function upsert(n, live) {
  if (!live && arrived.has(n.match_id)) {
    // The list itself has it (the stream can beat the first page): it is not news.
    const heard = arrived.get(n.match_id);
    arrived.delete(n.match_id);
    if (heard.updated_at > n.updated_at) n = heard;
  }
  const known = items.get(n.match_id) || arrived.get(n.match_id);
  if (known && known.updated_at > n.updated_at) return;
  const undoable = ui.undo.get(n.match_id);
  if (undoable && undoable > new Date() && n.status === "proposed") {
    // The notifier hears of the decision only once it is sent: keep the card decided.
    n = { ...n, status: ui.decided.get(n.match_id) };
  }
  if (live && !known && items.size) {
    // Not put above what the reader is on: counted, announced, shown when asked.
    arrived.set(n.match_id, n);
    const count = arrived.size;
    announce(`${count} new match${count === 1 ? "" : "es"}: use the Show button above the list.`);
    return;
  }
  if (live && !known) announce(`New match: ${n.opening_text}.`);
  else if (live && known && known.status !== n.status) {
    announce(`${n.opening_text}: now ${STATUS_TEXT[n.status] || n.status}.`);
  }
  if (arrived.has(n.match_id)) { arrived.set(n.match_id, n); return; }
  items.set(n.match_id, { ...n, fresh: live && !known });
}

function listStatus(text) {
  $("list-status").textContent = text;
  $("list-status").hidden = !text;
}

function nextLink(link) {
  const found = link && link.match(/<([^>]+)>;\s*rel="next"/);
  return found ? found[1] : null;
}

async function loadInbox() {
  loadSeason();
  const result = await api(`/v1/inbox?size=${PAGE_SIZE}`);
  if (!result.ok) { listStatus(`The list could not be loaded: ${problemText(result)}`); return; }
  listStatus("");
  for (const n of result.body) upsert(n, false);
  if (older === null) older = nextLink(result.link);
  render();
  showLinked();
}

// A link to one match (`/inbox#match-<id>`, as the Students page gives) opens on its card,
// fetched on its own when it is older than the first page.
let linked = location.hash.startsWith("#match-") ? decodeURIComponent(location.hash.slice(7)) : null;

async function showLinked() {
  if (!linked) return;
  const id = linked;
  linked = null;
  if (!items.has(id)) {
    const found = await api(`/v1/inbox/matches/${encodeURIComponent(id)}`);
    if (!found.ok) { listStatus(`The match you followed a link to: ${problemText(found)}`); return; }
    upsert(found.body, false);
    render();
  }
  $("status-filter").value = "";
  render();
  const title = $(`title-${id}`);
  if (title) { title.scrollIntoView({ block: "start" }); title.focus(); }
}

async function loadOlder() {
  if (!older) return;
  const button = $("older");
  button.disabled = true;
  const result = await api(older);
  button.disabled = false;
  if (!result.ok) { listStatus(`Older matches could not be loaded: ${problemText(result)}`); return; }
  const before = items.size;
  for (const n of result.body) upsert(n, false);
  older = nextLink(result.link);
  render();
  announce(`${items.size - before} older match${items.size - before === 1 ? "" : "es"} loaded.`);
}

async function connect() {
  if (!wbl.token()) return;
  const result = await api("/v1/inbox/stream-tickets", { method: "POST" });
  if (!result.ok) { return reconnectLater(); }
  stream = new EventSource(result.body.stream_url);
  stream.addEventListener("ready", () => {
    retryMs = 1000;
    $("connection").textContent = "Live: new matches appear as they arrive.";
    loadInbox(); // whatever changed while the stream was down
  });
  stream.addEventListener("inbox", (event) => { upsert(JSON.parse(event.data), true); render(); });
  stream.onerror = () => { stream.close(); stream = null; reconnectLater(); };
}

function reconnectLater() {
  $("connection").textContent = "Live updates are paused; reload the page to see new matches.";
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 30000);
}

function showSignedIn() {
  $("inbox").hidden = false;
  const step = $("confirm-step");
  if (step) { step.hidden = false; $("confirm-step-go").focus(); } else { $("main").focus(); }
  restoreUndo();
  loadInbox(); // the list comes over HTTP whether or not the stream connects
  connect();
}

function signedOut() {
  if (stream) { stream.close(); stream = null; }
  items.clear();
  arrived.clear();
  older = null;
  $("inbox").hidden = true;
}

function wireConfirmStep() {
  const step = $("confirm-step");
  if (!step) return;
  const { action, match, link } = document.body.dataset;
  $("confirm-step-go").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    const result = await decide(match, action, link, button, $("confirm-step-note").value);
    $("confirm-step-result").textContent = result.ok
      ? `Done: the placement was ${DONE[action]}.` : `Not done: ${problemText(result)}`;
    button.disabled = result.ok;
    $("confirm-step-result").focus();
  });
  $("confirm-step-cancel").addEventListener("click", () => { step.hidden = true; $("main").focus(); });
}

wbl.start({ signedIn: showSignedIn, signedOut });

document.addEventListener("DOMContentLoaded", () => {
  $("status-filter").addEventListener("change", () => { ui.kept.clear(); render(); });
  $("older").addEventListener("click", loadOlder);
  wireConfirmStep();
});

// The roster page: the coordinator's students and where each stands (GET /v1/inbox/roster,
// which asks registry and the matcher with this coordinator's token). Text goes in with
// textContent only (wbl.el); nothing is kept beyond the tab.
"use strict";

const { $, api, el } = wbl;
const SIZE = 25;
const LABEL = { waiting: "Waiting", unmatched: "Unmatched", offered: "Offered",
                confirmed: "Confirmed", declined: "Declined" };
const FILTER_TEXT = { "no-offer": "waiting or unmatched", offered: "awaiting your decision",
                      confirmed: "confirmed", declined: "declined" };
const view = { page: 1, state: "", q: "", total: 0, next: false, open: new Set() };

async function load(focusList) {
  const query = new URLSearchParams({ page: String(view.page), size: String(SIZE) });
  if (view.state) query.set("state", view.state);
  if (view.q) query.set("q", view.q);
  $("roster-count").textContent = "Loading…";
  const result = await api(`/v1/inbox/roster?${query}`);
  const error = $("roster-error");
  if (!result.ok) {
    if (result.status === 401) return;
    error.textContent = `The students could not be loaded: ${wbl.problemText(result)}`;
    error.hidden = false;
    $("roster-count").textContent = "";
    return;
  }
  error.hidden = true;
  view.total = Number(result.headers.get("X-Total-Count") || result.body.length);
  view.next = Boolean(result.link && result.link.includes('rel="next"'));
  render(result.body);
  if (focusList) $("students").focus();
}

function render(rows) {
  const focused = document.activeElement && document.activeElement.id;
  $("students").replaceChildren(...rows.map(row));
  const first = (view.page - 1) * SIZE + 1;
  const count = view.total === 0 ? "" : rows.length === view.total
    ? `${view.total} student${view.total === 1 ? "" : "s"}`
    : `Students ${first}–${first + rows.length - 1} of ${view.total}`;
  $("roster-count").textContent = count;
  wbl.announce(count || "No students shown");
  renderEmpty(rows.length);
  $("roster-pages").hidden = view.page === 1 && !view.next;
  $("roster-previous").disabled = view.page === 1;
  $("roster-next").disabled = !view.next;
  $("roster-page").textContent = `Page ${view.page}`;
  if (focused && $(focused)) $(focused).focus();
}

function renderEmpty(shown) {
  const empty = $("roster-empty");
  empty.hidden = shown > 0;
  if (shown > 0) return;
  if (view.state || view.q) {
    const all = el("button", { type: "button", class: "quiet", id: "roster-all" }, "Show all students");
    all.addEventListener("click", () => {
      view.state = ""; view.q = ""; view.page = 1;
      $("roster-state").value = ""; $("roster-search").value = "";
      load(true);
    });
    const what = [view.state && FILTER_TEXT[view.state], view.q && `matching “${view.q}”`]
      .filter(Boolean).join(", ");
    empty.replaceChildren(el("p", {}, `No student is ${what}.`), all);
  } else {
    empty.replaceChildren(
      el("p", {}, "No students registered yet."),
      el("p", {}, "Next step: ", el("a", { href: "/class-lists" }, "upload a class list"),
         ". Each student registered is matched in the next round, and appears here with where they stand."));
  }
}

function row(s) {
  const id = s.student_id;
  const li = el("li", { class: `student-row ${s.state}`, id: `student-${id}`, "data-state": s.state });
  li.append(
    el("h3", {}, s.name, " ", el("span", { class: `state ${s.state}` }, LABEL[s.state] || s.state)),
    el("p", { class: "meta" }, "Student reference ", el("code", {}, id)),
    el("p", { class: "summary" }, s.summary));
  if (s.state === "offered" && s.match_id) {
    const line = el("p", { class: "offer" },
                    el("a", { href: `/inbox#match-${s.match_id}` }, "Decide in the inbox"));
    if (s.expires_at) {
      line.append(" by ", el("time", { datetime: s.expires_at }, new Date(s.expires_at).toLocaleString()));
    }
    li.append(line);
  }
  if (s.changes.length) {
    li.append(el("h4", { id: `changes-title-${id}` }, "What would change it"),
              el("ul", { class: "changes", "aria-labelledby": `changes-title-${id}` },
                 ...s.changes.map((c) => el("li", {}, c))));
  }
  if (s.details.length) li.append(...closeCalls(s));
  return li;
}

function closeCalls(s) {
  // The openings that came close, one by one, behind a toggle that says whether it is open.
  const id = s.student_id;
  const open = view.open.has(id);
  const box = el("ul", { class: "detail", id: `why-${id}`, "aria-label": "Openings that came close" },
                 ...s.details.map((d) => el("li", {}, d)));
  box.hidden = !open;
  const toggle = el("button", { type: "button", class: "quiet", id: `why-toggle-${id}`,
                                "aria-controls": `why-${id}`, "aria-expanded": String(open) },
                    open ? "Hide the openings that came close" : "Show the openings that came close");
  toggle.addEventListener("click", () => {
    const now = !view.open.has(id);
    if (now) view.open.add(id); else view.open.delete(id);
    box.hidden = !now;
    toggle.setAttribute("aria-expanded", String(now));
    toggle.textContent = now ? "Hide the openings that came close" : "Show the openings that came close";
  });
  return [toggle, box];
}

wbl.start({
  signedIn() {
    $("roster").hidden = false;
    load(false);
  },
  signedOut() {
    $("roster").hidden = true;
    $("students").replaceChildren();
  },
});

document.addEventListener("DOMContentLoaded", () => {
  $("roster-query").addEventListener("submit", (e) => {
    e.preventDefault();
    view.q = $("roster-search").value.trim();
    view.state = $("roster-state").value;
    view.page = 1;
    load(true);
  });
  $("roster-state").addEventListener("change", () => {
    view.state = $("roster-state").value;
    view.page = 1;
    load(false);
  });
  $("roster-previous").addEventListener("click", () => { view.page -= 1; load(true); });
  $("roster-next").addEventListener("click", () => { view.page += 1; load(true); });
});

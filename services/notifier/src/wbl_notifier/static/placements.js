// The placements page: the coordinator's confirmed placements and what each still needs
// (GET /v1/inbox/placements, registry's list fetched with this coordinator's token), filters
// with counts, and the forms that move a placement on: issue the training agreement, record
// the work permit. Registry checks every field; its errors sit beside their fields. Text goes
// in with textContent only (wbl.el); nothing is kept beyond the tab.
"use strict";

const { $, api, el } = wbl;
const SIZE = 25;
const FILTER = { "": "All", agreement: "Need an agreement", signatures: "Need signatures",
                 permit: "Need a work permit", hours: "Hours behind", evaluation: "Evaluation due" };
const NONE_TEXT = { agreement: "No placement is waiting for its training agreement.",
                    signatures: "No placement is waiting for a signature.",
                    permit: "No placement is waiting for a work permit.",
                    hours: "No placement's hours are behind.",
                    evaluation: "No evaluation is due." };
const view = { need: "", after: null, next: null, open: new Map() };

async function load(focus) {
  const query = new URLSearchParams({ limit: String(SIZE) });
  if (view.need) query.set("needs", view.need);
  if (view.after) query.set("after", view.after);
  $("desk-count").textContent = "Loading…";
  const result = await api(`/v1/inbox/placements?${query}`);
  const error = $("desk-error");
  if (!result.ok) {
    if (result.status === 401) return;
    error.textContent = `The placements could not be loaded: ${wbl.problemText(result)}`;
    error.hidden = false;
    $("desk-count").textContent = "";
    return;
  }
  error.hidden = true;
  view.next = result.body.next_after;
  render(result.body);
  if (focus && $(focus)) $(focus).focus();
}

function render(body) {
  for (const button of document.querySelectorAll("#need-filters button")) {
    const need = button.dataset.need;
    const n = need ? body.counts[need] : body.total;
    button.textContent = `${FILTER[need]} (${n})`;
    button.setAttribute("aria-pressed", String(need === view.need));
  }
  $("placements").replaceChildren(...body.placements.map(card));
  const plural = (n) => `${n} placement${n === 1 ? "" : "s"}`;
  const count = view.need ? `${plural(body.matching)} of ${body.total}: ${FILTER[view.need].toLowerCase()}`
                          : plural(body.total);
  $("desk-count").textContent = count;
  wbl.announce(count);
  renderEmpty(body);
  $("desk-pages").hidden = !view.after && !view.next;
  $("desk-first").disabled = !view.after;
  $("desk-next").disabled = !view.next;
}

function renderEmpty(body) {
  const empty = $("desk-empty");
  empty.hidden = body.placements.length > 0;
  if (!empty.hidden && view.need) {
    const all = el("button", { type: "button", class: "quiet", id: "desk-all" }, "Show all placements");
    all.addEventListener("click", () => choose("", "placements"));
    empty.replaceChildren(el("p", {}, NONE_TEXT[view.need]), all);
  } else if (!empty.hidden) {
    empty.replaceChildren(
      el("p", {}, "No confirmed placements yet."),
      el("p", {}, "A placement appears here once you confirm a match in the ",
         el("a", { href: "/inbox" }, "inbox"), "."));
  }
}

function dateText(iso) {
  return new Date(`${iso}T12:00:00Z`).toLocaleDateString(undefined,
    { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

function card(p) {
  const id = p.match_id;
  const li = el("li", { class: "placement-row", id: `placement-${id}`, "data-stage": p.stage });
  li.append(
    el("h3", { id: `placement-title-${id}`, tabindex: "-1" },
       `${p.student_name}: ${p.opening_title} at ${p.employer_name}`),
    el("p", { class: "meta" }, `${dateText(p.starts_on)} to ${dateText(p.ends_on)} · placement `,
       el("code", {}, id)));
  // Paperwork still out is said by the list below; past it, the stage says how it is going.
  if (!p.stage.startsWith("awaiting-")) li.append(el("p", { class: "summary" }, p.stage_text));
  if (p.needs.length) {
    li.append(el("h4", { id: `needs-title-${id}` }, "Waiting for"),
              el("ul", { class: "needs", "aria-labelledby": `needs-title-${id}` },
                 ...p.needs.map((n) => el("li", { "data-need": n.need }, n.text))));
  } else {
    li.append(el("p", { class: "nothing" }, "Nothing is waiting on anyone."));
  }
  const kinds = p.needs.map((n) => n.need);
  if (kinds.includes("agreement")) li.append(...toggled(p, "agreement", "Issue the agreement", agreementForm));
  if (kinds.includes("permit")) li.append(...toggled(p, "permit", "Record the work permit", permitForm));
  return li;
}

function toggled(p, kind, label, build) {
  // A button that opens its form below it and says whether it is open.
  const id = p.match_id;
  const form = build(p);
  const open = view.open.get(id) === kind;
  form.hidden = !open;
  const button = el("button", { type: "button", class: "quiet", id: `${kind}-toggle-${id}`,
                                "aria-controls": form.id, "aria-expanded": String(open) }, label);
  button.addEventListener("click", () => {
    const now = form.hidden;
    form.hidden = !now;
    button.setAttribute("aria-expanded", String(now));
    if (now) { view.open.set(id, kind); form.querySelector("input").focus(); }
    else view.open.delete(id);
  });
  return [button, form];
}

function field(prefix, name, label, attrs = {}, help = "") {
  const id = `${prefix}-${name}`;
  const described = [`${id}-error`, ...(help ? [`${id}-help`] : [])].join(" ");
  const parts = [el("label", { for: id }, label),
                 el("input", { id, name, spellcheck: "false", "aria-describedby": described, ...attrs }),
                 el("p", { id: `${id}-error`, class: "error field-error" })];
  if (help) parts.push(el("p", { id: `${id}-help`, class: "help" }, help));
  return el("div", { class: "form-field" }, ...parts);
}

function agreementForm(p) {
  const prefix = `agreement-${p.match_id}`;
  const form = el("form", { id: `${prefix}-form`, class: "desk-form", novalidate: "",
                            "aria-label": `Issue the training agreement for ${p.student_name}` },
    field(prefix, "supervisor-name", "Supervisor's name", { maxlength: "200", autocomplete: "off" },
          "The employer's supervisor, who signs for the employer."),
    field(prefix, "supervisor-email", "Supervisor's email", { type: "email", maxlength: "254", autocomplete: "off" }),
    field(prefix, "safety-training", "Safety training before starting", { maxlength: "500" },
          "For example: OSHA 10-Hour General Industry; the shop's machine guarding induction."));
  if (p.paid) {
    form.append(field(prefix, "hourly-wage", "Hourly wage in dollars", { inputmode: "decimal", maxlength: "8" },
                      "The opening is paid: the agreement names the wage."));
  }
  if (p.minor_at_start) {
    form.append(el("p", { class: "help" }, "The student is under 18 at the start: a parent or guardian signs too."),
      field(prefix, "guardian-name", "Parent's or guardian's name", { maxlength: "200", autocomplete: "off" }),
      field(prefix, "guardian-email", "Parent's or guardian's email", { type: "email", maxlength: "254", autocomplete: "off" }));
  }
  form.append(el("div", { class: "actions" }, el("button", { type: "submit" }, "Issue the agreement now")),
              el("p", { id: `${prefix}-result`, class: "result error" }));
  form.addEventListener("submit", (e) => { e.preventDefault(); issueAgreement(p, prefix); });
  return form;
}

function permitForm(p) {
  const prefix = `permit-${p.match_id}`;
  const form = el("form", { id: `${prefix}-form`, class: "desk-form", novalidate: "",
                            "aria-label": `Record the work permit for ${p.student_name}` },
    field(prefix, "number", "Permit number", { maxlength: "80", autocomplete: "off" }),
    field(prefix, "issued-by", "Issued by", { maxlength: "200" },
          "The office that issued it: in Massachusetts, the superintendent's office."),
    field(prefix, "issued-on", "Issued on", { type: "date" }),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Record the permit")),
    el("p", { id: `${prefix}-result`, class: "result error" }));
  form.addEventListener("submit", (e) => { e.preventDefault(); recordPermit(p, prefix); });
  return form;
}

const value = (prefix, name) => ($(`${prefix}-${name}`) ? $(`${prefix}-${name}`).value.trim() : "");

function contact(prefix, who) {
  const name = value(prefix, `${who}-name`);
  const email = value(prefix, `${who}-email`);
  return name || email ? { name, email } : null;
}

async function issueAgreement(p, prefix) {
  const body = { supervisor: contact(prefix, "supervisor") || { name: "", email: "" },
                 safety_training: value(prefix, "safety-training") };
  if (p.paid && value(prefix, "hourly-wage")) body.hourly_wage = value(prefix, "hourly-wage");
  if (p.minor_at_start && contact(prefix, "guardian")) body.guardian = contact(prefix, "guardian");
  const result = await api(`/v1/inbox/placements/${encodeURIComponent(p.match_id)}/agreement`,
                           { method: "POST", body: JSON.stringify(body) });
  await settled(p, prefix, result, "The training agreement was issued", {
    "supervisor.name": "supervisor-name", "supervisor.email": "supervisor-email", supervisor: "supervisor-name",
    safety_training: "safety-training", hourly_wage: "hourly-wage",
    guardian: "guardian-name", "guardian.name": "guardian-name", "guardian.email": "guardian-email" });
}

async function recordPermit(p, prefix) {
  const body = { number: value(prefix, "number"), issued_by: value(prefix, "issued-by"),
                 issued_on: value(prefix, "issued-on") };
  const result = await api(`/v1/inbox/placements/${encodeURIComponent(p.match_id)}/permit`,
                           { method: "PUT", body: JSON.stringify(body) });
  await settled(p, prefix, result, "The work permit was recorded",
                { number: "number", issued_by: "issued-by", issued_on: "issued-on" });
}

async function settled(p, prefix, result, done, fields) {
  for (const node of document.querySelectorAll(`#${prefix}-form .field-error`)) node.textContent = "";
  for (const node of document.querySelectorAll(`#${prefix}-form input`)) node.removeAttribute("aria-invalid");
  if (result.ok) {
    view.open.delete(p.match_id);
    const now = result.body;
    $("desk-result").textContent = `${done} for ${p.student_name}. ${now.stage_text}`;
    $("desk-result").hidden = false;
    await load("desk-result");
    return;
  }
  const errors = ((result.body && result.body.errors) || []).filter((e) => fields[e.field]);
  for (const e of errors) {
    const input = $(`${prefix}-${fields[e.field]}`);
    if (!input) continue;
    input.setAttribute("aria-invalid", "true");
    $(`${input.id}-error`).textContent = e.message.charAt(0).toUpperCase() + e.message.slice(1);
  }
  const first = errors.map((e) => $(`${prefix}-${fields[e.field]}`)).find(Boolean);
  $(`${prefix}-result`).textContent = first ? "Not saved: correct the fields marked above."
                                            : `Not saved: ${wbl.problemText(result)}`;
  wbl.announce($(`${prefix}-result`).textContent);
  if (first) first.focus();
}

function choose(need, focus) {
  view.need = need;
  view.after = null;
  load(focus);
}

wbl.start({
  signedIn() {
    $("desk").hidden = false;
    load(null);
  },
  signedOut() {
    $("desk").hidden = true;
    $("placements").replaceChildren();
    $("desk-result").hidden = true;
  },
});

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("#need-filters button")) {
    button.addEventListener("click", () => {
      $("desk-result").hidden = true;
      choose(button.dataset.need, null);
    });
  }
  $("desk-first").addEventListener("click", () => { view.after = null; load("placements"); });
  $("desk-next").addEventListener("click", () => { view.after = view.next; load("placements"); });
});

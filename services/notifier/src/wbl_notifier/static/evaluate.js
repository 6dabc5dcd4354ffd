// The supervisor's evaluation page (/evaluate#<link>): each competency of the student's career
// field rated on the 1-4 scale, an optional comment and the supervisor's name. The link
// submits once; registry names each competency it refuses.
"use strict";

(() => {
  const { $, el } = party;
  let link = null;
  let form = null;

  const KIND = { midpoint: "Midpoint evaluation", final: "Final evaluation" };

  function competency(c) {
    const options = form.scale.map((point) => {
      const id = `rate-${c.id}-${point.value}`;
      return el("div", { class: "choice" },
        el("input", { type: "radio", id, name: `rate-${c.id}`, value: String(point.value) }),
        el("label", { for: id }, `${point.value} · ${point.label}`));
    });
    return el("fieldset", { class: "competency", id: `competency-${c.id}`,
                            "aria-describedby": `about-${c.id} error-${c.id}` },
      el("legend", {}, c.name),
      el("p", { class: "help", id: `about-${c.id}` }, c.description),
      ...options,
      el("p", { class: "error field-error", id: `error-${c.id}` }));
  }

  function show(found) {
    form = found;
    party.showAbout(found, false);
    const kind = KIND[found.kind] || "Evaluation";
    $("evaluation-title").textContent = `${kind} of ${found.student_name}`;
    $("evaluation-help").textContent = `Rate ${found.student_name}'s work at ` +
      `${found.employer_name} on each point, from 1 (not yet) to 4 (exceeds what is expected).`;
    $("competencies").replaceChildren(...found.competencies.map(competency));
    $("evaluation").hidden = false;
    if (found.submitted) done("This evaluation was submitted. Nothing more is needed.", false);
  }

  function done(text, focus) {
    $("evaluate-form").hidden = true;
    party.say("evaluation-done", text, "ok", focus);
  }

  function ratings() {
    const found = {};
    for (const c of form.competencies) {
      const picked = document.querySelector(`input[name="rate-${c.id}"]:checked`);
      if (picked) found[c.id] = Number(picked.value);
    }
    return found;
  }

  function mark(id, text) {
    const node = $(id);
    if (node) node.textContent = text;
  }

  function clearMarks() {
    for (const node of document.querySelectorAll(".field-error")) node.textContent = "";
  }

  // What is missing, before asking registry: each unrated point and the name.
  function missing(rated, name) {
    const wrong = [];
    for (const c of form.competencies) {
      if (c.id in rated) continue;
      mark(`error-${c.id}`, `Choose a rating for ${c.name}.`);
      wrong.push(`competency-${c.id}`);
    }
    if (!name) { mark("evaluator-name-error", "Type your full name."); wrong.push("evaluator-name"); }
    return wrong;
  }

  function focusFirst(id) {
    const node = $(id);
    const target = node && node.tagName === "FIELDSET" ? node.querySelector("input") : node;
    if (target) target.focus();
  }

  async function submit(event) {
    event.preventDefault();
    clearMarks();
    const rated = ratings();
    const name = $("evaluator-name").value.trim();
    const wrong = missing(rated, name);
    if (wrong.length) {
      const things = wrong.length === 1 ? "1 thing" : `${wrong.length} things`;
      party.say("evaluate-result", `Not sent: ${things} to fill in, marked below.`, "error");
      focusFirst(wrong[0]);
      return;
    }
    const comment = $("comment").value.trim();
    $("submit-evaluation").disabled = true;
    const result = await party.call("evaluation/submit",
                                    { link, name, ratings: rated, ...(comment ? { comment } : {}) });
    $("submit-evaluation").disabled = false;
    if (result.ok) {
      done(`Submitted, thank you. The school has your evaluation of ${form.student_name}.`, true);
      return;
    }
    for (const e of (result.body && result.body.errors) || []) {
      const id = String(e.field || "").replace(/^ratings\./, "");
      mark(id === "name" ? "evaluator-name-error" : `error-${id}`, e.message);
    }
    const found = party.refusal(result);
    party.say("evaluate-result", `${found.title} ${found.detail}`, "error", true);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("evaluate-form").addEventListener("submit", submit);
    link = party.link();
    if (!link) { party.noLink(); return; }
    const result = await party.call("evaluation", { link });
    if (!result.ok) { party.refuse(party.refusal(result)); return; }
    show(result.body);
  });
})();

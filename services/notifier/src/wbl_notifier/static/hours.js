// The hours page (/hours#<link>), for the student and the supervisor: a week, Monday to
// Sunday, with each day's hours; a form to log or correct a day in quarter hours; the
// rule's own words beside the field when an entry is refused; the weeks before and after.
"use strict";

(() => {
  const { $, el } = party;
  let link = null;
  let week = null; // registry's answer for the week shown

  function within(iso) {
    const p = week.placement;
    return p.starts_on <= iso && iso <= p.ends_on;
  }

  function show(found) {
    week = found;
    party.showAbout(found.placement);
    party.showWeekTable(found);
    $("week-status").textContent = found.days.length === 0
      ? "No hours logged this week yet."
      : found.verified ? "The supervisor has verified this week's hours."
        : "Not verified by the supervisor yet.";
    const days = party.weekRows(found).map((r) => r.day).filter(within);
    const chosen = $("log-day").value;
    $("log-day").replaceChildren(...days.map((d) => el("option", { value: d }, party.day(d))));
    const today = party.today();
    if (days.includes(chosen)) $("log-day").value = chosen;
    else if (days.includes(today)) $("log-day").value = today;
    $("log-form").hidden = days.length === 0;
    $("previous-week").disabled = found.week_of <= found.placement.starts_on;
    $("next-week").disabled = party.addDays(found.week_of, 6) >= found.placement.ends_on;
    $("week").hidden = false;
  }

  async function load(dayInWeek) {
    const result = await party.call("hours/week", { link, day: dayInWeek });
    if (!result.ok) { party.refuse(party.refusal(result)); $("week").hidden = true; return false; }
    show(result.body);
    return true;
  }

  async function move(days) {
    if (await load(party.addDays(week.week_of, days))) {
      $("week-title").setAttribute("tabindex", "-1");
      $("week-title").focus();
      party.announce(`${$("week-title").textContent}: ${$("week-total").textContent} logged.`);
    }
  }

  function refusals(messages) {
    $("log-hours-error").replaceChildren(...messages.map((m) => el("li", {}, m)));
    if (messages.length) $("log-hours").setAttribute("aria-invalid", "true");
    else $("log-hours").removeAttribute("aria-invalid");
  }

  async function save(event) {
    event.preventDefault();
    refusals([]);
    party.say("log-result", "", "");
    const day = $("log-day").value;
    const hours = $("log-hours").value.trim();
    if (!hours) {
      refusals(["Type the hours worked that day, for example 6.5."]);
      $("log-hours").focus();
      party.announce("Type the hours worked that day, for example 6.5.");
      return;
    }
    $("save-hours").disabled = true;
    const result = await party.call("hours", { link, day, hours });
    $("save-hours").disabled = false;
    if (result.ok) {
      show(result.body);
      $("log-hours").value = "";
      party.say("log-result", `Saved: ${party.hours(hours)} on ${party.day(day)}. ` +
                `The week now has ${party.hours(result.body.total)}.`, "ok", true);
      return;
    }
    const errors = (result.body && result.body.errors) || [];
    const onHours = errors.filter((e) => e.field === "hours" || e.field === "day");
    if (result.status === 422 && onHours.length) {
      refusals(onHours.map((e) => party.sentence(e.message)));
      $("log-hours").focus();
      party.announce(`Not saved. ${onHours.map((e) => party.sentence(e.message)).join(" ")}`);
      return;
    }
    if (result.status === 409 && errors.length) {
      const why = errors.map((e) => party.sentence(e.message)).join(" ");
      party.say("log-result", `Hours cannot be logged yet. ${why}`, "error", true);
      return;
    }
    const found = party.refusal(result);
    party.say("log-result", `Not saved. ${found.title} ${found.detail}`, "error", true);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("log-form").addEventListener("submit", save);
    $("previous-week").addEventListener("click", () => move(-7));
    $("next-week").addEventListener("click", () => move(7));
    link = party.link();
    if (!link) { party.noLink(); return; }
    await load(party.today());
  });
})();

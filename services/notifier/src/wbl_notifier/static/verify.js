// The supervisor's verify page (/verify#<link>): the week the link is for, its days and
// total, and one button. The link verifies once; a day corrected after the link was sent
// makes it refused (registry's words say to ask for a new one).
"use strict";

(() => {
  const { $ } = party;
  let link = null;

  function show(week) {
    party.showAbout(week.placement);
    party.showWeekTable(week);
    const p = week.placement;
    $("verify-help").textContent = week.verified ? "" :
      `By verifying, you confirm that ${p.student_name} worked these hours at ` +
      `${p.employer_name} in this week. The school counts only verified hours.`;
    $("verify-actions").hidden = week.verified;
    $("week").hidden = false;
  }

  async function verify() {
    $("verify").disabled = true;
    const result = await party.call("week/verify", { link });
    $("verify").disabled = false;
    if (result.ok) {
      show(result.body);
      party.say("verify-result", `Verified, thank you. ${party.hours(result.body.total)} ` +
                "for this week now count towards the placement.", "ok", true);
      return;
    }
    const found = party.refusal(result);
    party.say("verify-result", `${found.title} ${found.detail}`, "error", true);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("verify").addEventListener("click", verify);
    link = party.link();
    if (!link) { party.noLink(); return; }
    const result = await party.call("week", { link });
    if (!result.ok) { party.refuse(party.refusal(result)); return; }
    show(result.body);
    if (result.body.verified) {
      party.say("verify-result", "These hours are verified. Nothing more is needed.", "ok");
    }
  });
})();

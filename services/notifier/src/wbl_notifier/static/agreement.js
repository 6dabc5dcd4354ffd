// The training agreement page (/agreement#<link>): the text a party signs, for whom they
// sign, who has signed and who has still to; a name, "I have read and agree", Sign. The
// link signs once: afterwards the page says when you signed. Printable (party.css).
"use strict";

(() => {
  const { $, el } = party;
  let link = null;

  // Whom each party signs for, in the words of the person reading.
  function signsFor(who, a) {
    return {
      school: "You sign for the school",
      employer: `You sign for ${a.employer_name}, as the student's supervisor`,
      student: "You sign as the student",
      guardian: `You sign as ${a.student_name}'s parent or guardian`,
    }[who] || "You sign this agreement";
  }

  function partyName(who) {
    return { school: "The school", employer: "The employer's supervisor",
             student: "The student", guardian: "The parent or guardian" }[who] || who;
  }

  function show(a) {
    party.showAbout(a, false);
    $("for-whom").textContent = signsFor(a.you_sign_for, a);
    $("agreement-text").textContent = a.text;
    $("signed").replaceChildren(...a.signed.map((s) =>
      el("li", {}, `${partyName(s.party)}: ${s.name}, signed ${party.moment(s.signed_at)}`)));
    if (!a.signed.length) $("signed").replaceChildren(el("li", {}, "Nobody has signed yet."));
    const still = a.still_to_sign.map((p) => partyName(p).toLowerCase());
    $("still-to-sign").textContent = still.length
      ? `Still to sign: ${still.join(", ")}.`
      : "Everyone has signed: the agreement is complete.";
    const mine = a.signed.find((s) => s.party === a.you_sign_for);
    $("sign-form").hidden = Boolean(mine);
    $("you-signed").hidden = !mine;
    if (mine) {
      $("you-signed").textContent =
        `Signed by you on ${party.moment(mine.signed_at)}, as ${mine.name}. ` +
        "You can print this page for your records.";
    }
    $("agreement").hidden = false;
  }

  function fieldError(input, errorId, text) {
    $(errorId).textContent = text;
    if (text) $(input).setAttribute("aria-invalid", "true");
    else $(input).removeAttribute("aria-invalid");
  }

  // The form's own checks, before anything is sent: the first field wrong gets focus.
  function checked() {
    const name = $("signer-name").value.trim();
    fieldError("signer-name", "signer-name-error", name ? "" : "Type your full name to sign.");
    fieldError("agree", "agree-error", $("agree").checked ? ""
      : "Tick the box to say you have read and agree to the agreement.");
    const wrong = !name ? "signer-name" : !$("agree").checked ? "agree" : null;
    if (wrong) {
      $(wrong).focus();
      party.announce($(`${wrong}-error`).textContent);
    }
    return wrong ? null : name;
  }

  async function sign(event) {
    event.preventDefault();
    party.say("sign-result", "", "");
    const name = checked();
    if (!name) return;
    $("sign").disabled = true;
    const result = await party.call("agreement/sign", { link, name });
    $("sign").disabled = false;
    if (result.ok) {
      show(result.body);
      $("you-signed").focus();
      party.announce($("you-signed").textContent);
      return;
    }
    const nameError = (result.body?.errors || []).find((e) => e.field === "name");
    if (result.status === 422 && nameError) {
      fieldError("signer-name", "signer-name-error", party.sentence(nameError.message));
      $("signer-name").focus();
      return;
    }
    const found = party.refusal(result);
    party.say("sign-result", `${found.title} ${found.detail}`, "error", true);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("sign-form").addEventListener("submit", sign);
    $("print").addEventListener("click", () => window.print());
    link = party.link();
    if (!link) { party.noLink(); return; }
    const result = await party.call("agreement", { link });
    if (!result.ok) { party.refuse(party.refusal(result)); return; }
    show(result.body);
  });
})();

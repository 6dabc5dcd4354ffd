// Shared by the pages a party acts from with an emailed link (agreement, hours, verify,
// evaluate): no sign-in, the link is the credential. It comes in the URL fragment (never
// sent to a server or written to a log), is kept for this tab only (sessionStorage, so a
// reload works) and leaves the address bar at once. Calls go to this origin's /v1/party/...
// Refusals are told in plain words. Text goes in with textContent only.
"use strict";

const party = (() => {
  const $ = (id) => document.getElementById(id);
  const LINK_KEY = `wbl.party-link:${location.pathname}`;

  function link() {
    const given = location.hash.slice(1);
    if (given) {
      sessionStorage.setItem(LINK_KEY, decodeURIComponent(given));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(LINK_KEY);
  }

  // Another link pasted into this tab changes only the fragment: load the page for it.
  window.addEventListener("hashchange", () => {
    if (location.hash.length > 1) { link(); location.reload(); }
  });

  async function call(path, body) {
    let response;
    try {
      response = await fetch(`/v1/party/${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (_) {
      return { ok: false, status: 0, body: null };
    }
    let parsed = null;
    try { parsed = await response.json(); } catch (_) { parsed = null; }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  // Registry's words ("the week's hours were corrected ...; ask ...") as a sentence.
  function sentence(text) {
    const t = (text || "").trim();
    if (!t) return "";
    const s = t[0].toUpperCase() + t.slice(1);
    return /[.!?]$/.test(s) ? s : `${s}.`;
  }

  // What went wrong, for the person holding the link: { title, detail }.
  function refusal(result) {
    const detail = (result.body && result.body.detail) || "";
    if (result.status === 0) {
      return { title: "The service cannot be reached.",
               detail: "Check your connection and try again in a minute." };
    }
    if (result.status === 410 && /expired/i.test(detail)) {
      return { title: "This link has expired.",
               detail: "Ask the school's coordinator for a new one." };
    }
    if (result.status === 410) {
      const what = detail.includes(":") ? detail.split(":").slice(1).join(":") : "";
      return { title: "This link was already used.",
               detail: sentence(what) || "What it was sent for is already done." };
    }
    if (result.status === 400 || (result.status === 422 && fieldNamed(result, "link"))) {
      return { title: "This link is not valid.",
               detail: "Copy the whole link from the email into the address bar, or ask " +
                       "the school's coordinator for a new one." };
    }
    if (result.status === 409) {
      return { title: "This cannot be done now.", detail: sentence(detail) };
    }
    if (result.status === 429) return { title: "Too many tries.", detail: sentence(detail) };
    if (result.status >= 500) {
      return { title: "Something went wrong on our side.",
               detail: "Nothing was changed. Please try again in a few minutes." };
    }
    return { title: "This was not accepted.", detail: sentence(detail) };
  }

  function fieldNamed(result, field) {
    const errors = (result.body && result.body.errors) || [];
    return errors.some((e) => e.field === field);
  }

  function announce(text) { $("live").textContent = text; }

  // The page cannot go on (no link, a used or expired one): say so, and nothing else.
  function refuse(found) {
    $("loading").hidden = true;
    $("refused-title").textContent = found.title;
    $("refused-detail").textContent = found.detail;
    $("refused").hidden = false;
    $("refused").focus();
    announce(`${found.title} ${found.detail}`);
  }

  function noLink() {
    refuse({ title: "This page opens from the link in your email.",
             detail: "Open the email from the school and follow its link; if it does not " +
                     "work, ask the school's coordinator for a new one." });
  }

  // One line in a result element, read out too; focus on it for what was just done.
  function say(id, text, kind, focus = false) {
    const node = $(id);
    node.textContent = text;
    node.className = `result ${kind}`;
    node.hidden = !text;
    if (focus && text) node.focus();
    if (text) announce(text);
  }

  function showAbout(placement, dates = true) {
    $("about-student").textContent = placement.student_name;
    $("about-opening").textContent = placement.opening_title;
    $("about-employer").textContent = placement.employer_name;
    if (dates && placement.starts_on) {
      $("about-dates").textContent = `${day(placement.starts_on)} to ${day(placement.ends_on)}` +
        (placement.hours_per_week ? `, ${placement.hours_per_week} hours a week` : "");
      $("about-dates").hidden = $("about-dates-label").hidden = false;
    }
    $("about").hidden = false;
    $("loading").hidden = true;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c));
    return node;
  }

  // "2026-12-02" -> "Wed 2 Dec 2026"; dates are days, not moments (no time zone shift).
  const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec"];
  function day(iso, withYear = true) {
    const [y, m, d] = iso.split("-").map(Number);
    const weekday = WEEKDAYS[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
    return `${weekday} ${d} ${MONTHS[m - 1]}${withYear ? ` ${y}` : ""}`;
  }

  function moment(iso) {
    return new Date(iso).toLocaleString("en-GB", {
      weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit",
    });
  }

  function hours(n) {
    const text = Number(n).toString();
    return Number(n) === 1 ? "1 hour" : `${text} hours`;
  }

  // The ISO date `n` days after `iso`.
  function addDays(iso, n) {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  }

  function today() {
    const now = new Date();
    const local = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 10);
  }

  // The week's seven days, Monday first, each with its hours (or null when none logged).
  function weekRows(week) {
    const logged = Object.fromEntries(week.days.map((d) => [d.day, d.hours]));
    return [0, 1, 2, 3, 4, 5, 6].map((i) => {
      const iso = addDays(week.week_of, i);
      return { day: iso, hours: logged[iso] ?? null };
    });
  }

  function showWeekTable(week) {
    const rows = weekRows(week).map((r) =>
      el("tr", {}, el("th", { scope: "row", "data-label": "Day" }, day(r.day, false)),
         el("td", { "data-label": "Hours" }, r.hours === null ? "none" : hours(r.hours))));
    $("week-days").replaceChildren(...rows);
    $("week-total").textContent = hours(week.total);
    $("week-title").textContent = `Week of ${day(week.week_of)}`;
  }

  return { $, link, call, refusal, refuse, noLink, say, announce, showAbout, el, day, moment,
           hours, addDays, today, weekRows, showWeekTable, sentence };
})();

// The outcomes page (signed in through workspace.js): registry's outcomes report, fetched
// through notifier with the coordinator's token, as bars of placement rate per group with
// the numbers in words beside them and in a table under each chart (the chart is never the
// only carrier); the period chooser, the as-of time, what the words mean, and the CSV as
// registry names it. Completion is not recorded yet, and the page does not invent it.
// Text goes in with textContent only.
"use strict";

const { $, api, problemText, announce, el } = wbl;
const DIMENSIONS = [
  ["program", "By program"],
  ["career_field", "By career field (first choice)"],
  ["school", "By school"],
  ["special_population", "By special population"],
];
const TERMS = [
  ["students", "Students"], ["placed", "Placed"], ["pending", "Awaiting a decision"],
  ["not_placed", "Not placed"], ["placement_rate", "Placement rate"], ["period", "Period"],
  ["as_of", "As of"], ["career_field", "Career field"],
  ["special_population", "Special population"], ["suppressed", "Hidden groups"],
  ["hours_verified", "Hours verified"], ["completed", "Completed"],
  ["completion_rate", "Completion rate"], ["cte_concentrators", "CTE students"],
  ["wbl_participants", "Took part in work-based learning"], ["five_s3", "Perkins 5S3"],
];
const REPORT = "/v1/inbox/reports/outcomes";
let about = null; // the definitions: min_group, current_school_year, the words

const DAY = { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" };
function day(iso) { return new Date(`${iso}T00:00:00Z`).toLocaleDateString("en-GB", DAY); }
function moment(iso) {
  return new Date(iso).toLocaleString("en-GB", { ...DAY, hour: "2-digit", minute: "2-digit" }) +
    " UTC";
}
function percent(value) { return `${Number.isInteger(value) ? value : value.toFixed(1)}%`; }

function fieldProblem(result) {
  const b = result.body || {};
  return (b.errors && b.errors[0] && b.errors[0].message) || problemText(result);
}

// -- the period --------------------------------------------------------------------------

function yearsAround(current) {
  const first = Number(current.slice(0, 4));
  const name = (y) => `${y}-${String((y + 1) % 100).padStart(2, "0")}`;
  return [first + 1, first, first - 1, first - 2, first - 3, first - 4].map(name);
}

function fillPeriods() {
  const options = yearsAround(about.current_school_year).map((year) => {
    const label = year === about.current_school_year ? `School year ${year} (this year)`
                                                      : `School year ${year}`;
    return el("option", { value: year }, label);
  });
  options.push(el("option", { value: "custom" }, "Other dates…"));
  $("period").replaceChildren(...options);
  $("period").value = about.current_school_year;
  $("period-from").value = about.current_period.from;
  $("period-to").value = about.current_period.to;
  $("suppress-label").textContent =
    `Hide groups of fewer than ${about.min_group} students (for sharing beyond your school)`;
}

function query() {
  const q = new URLSearchParams();
  if ($("period").value === "custom") {
    if ($("period-from").value) q.set("from", $("period-from").value);
    if ($("period-to").value) q.set("to", $("period-to").value);
  } else {
    q.set("school_year", $("period").value);
  }
  if ($("suppress").checked) q.set("suppress", "true");
  return q;
}

// -- the report --------------------------------------------------------------------------

function scopeText(headers) {
  const from = headers.get("X-Report-Period-From");
  const to = headers.get("X-Report-Period-To");
  const year = headers.get("X-Report-School-Year");
  const below = headers.get("X-Report-Suppressed-Below");
  const period = `${year ? `School year ${year}: ` : ""}${day(from)} to ${day(to)}`;
  const hidden = below ? `groups of fewer than ${below} students hidden`
                       : "exact figures for your schools";
  return `${period} · figures as of ${moment(headers.get("X-Report-As-Of"))} · ${hidden}`;
}

function totalText(rows) {
  // Every student counts once by school: the schools' sum is the total, when all are shown.
  const schools = rows.filter((r) => r.dimension === "school");
  if (!schools.length || schools.some((r) => r.suppressed)) return "";
  const sum = (k) => schools.reduce((n, r) => n + r[k], 0);
  const students = sum("students");
  if (!students) return "No students in this period yet.";
  const rate = Math.round((sum("placed") / students) * 1000) / 10;
  return `In all: ${students} student${students === 1 ? "" : "s"} · ${sum("placed")} placed ` +
    `(${percent(rate)}) · ${sum("pending")} awaiting a decision · ${sum("not_placed")} not placed`;
}

function hours(value) { return `${Number.isInteger(value) ? value : value.toFixed(2)}`; }

function learningText(rows, headers) {
  // Perkins 5S3 over the schools (each student counts once by school), when all are shown.
  const schools = rows.filter((r) => r.dimension === "school");
  if (!schools.length || schools.some((r) => r.suppressed)) return "";
  const sum = (k) => schools.reduce((n, r) => n + r[k], 0);
  const threshold = headers.get("X-Report-WBL-Hours-Threshold");
  const cte = sum("cte_concentrators");
  const took = sum("wbl_participants");
  const share = cte ? ` (${percent(Math.round((took / cte) * 1000) / 10)})` : "";
  return `Perkins 5S3, took part in work-based learning (${threshold} verified hours or ` +
    `more): ${took} of ${cte} CTE student${cte === 1 ? "" : "s"}${share} · ` +
    `${hours(sum("hours_verified"))} hours verified · ${sum("completed")} placement` +
    `${sum("completed") === 1 ? "" : "s"} completed`;
}

function hiddenText(row) {
  if (row.suppression === "complement") {
    return "not shown \u2014 hidden with a smaller group, so that its figures cannot be " +
      "worked out from the total";
  }
  return `fewer than ${about.min_group} students \u2014 not shown`;
}

function figuresText(row) {
  const waiting = row.pending ? ` · ${row.pending} awaiting a decision` : "";
  return `${percent(row.placement_percent)} · ${row.placed} of ${row.students} placed${waiting}`;
}

function bar(rate) {
  const svg = el("svg", { class: "rate-bar", viewBox: "0 0 100 10", preserveAspectRatio: "none",
                          width: "100%", height: "14", focusable: "false" },
    el("rect", { class: "track", x: "0", y: "0", width: "100", height: "10" }),
    el("rect", { class: "fill", x: "0", y: "0", width: String(rate * 100), height: "10" }));
  return svg;
}

function chartRow(row) {
  const label = el("span", { class: "bar-label" }, row.group_name);
  if (row.suppressed) {
    return el("li", { class: "bar-row hidden-group", "data-group": row.group }, label,
              el("span", { class: "bar-figures" }, hiddenText(row)));
  }
  return el("li", { class: "bar-row", "data-group": row.group }, label, bar(row.placement_rate),
            el("span", { class: "bar-figures" }, figuresText(row)));
}

function cell(text, numeric) { return el("td", numeric ? { class: "n" } : {}, String(text)); }

function tableRow(row) {
  const name = el("th", { scope: "row" }, row.group_name);
  if (row.suppressed) {
    return el("tr", { "data-group": row.group }, name,
              el("td", { colspan: "8" }, hiddenText(row)));
  }
  return el("tr", { "data-group": row.group }, name, cell(row.students, true),
            cell(row.placed, true), cell(row.pending, true), cell(row.not_placed, true),
            cell(percent(row.placement_percent), true), cell(hours(row.hours_verified), true),
            cell(row.completed, true),
            cell(row.cte_concentrators ? `${percent(row.five_s3_percent)} of ` +
                 `${row.cte_concentrators}` : "no CTE students", true));
}

function table(dimension, title, rows) {
  // Short headings, so the table fits a phone; the definitions say what each means.
  const head = [el("th", { scope: "col" }, "Group"),
    ...["Students", "Placed", "Awaiting decision", "Not placed", "Placement rate",
        "Hours verified", "Completed", "5S3 (CTE)"]
      .map((h) => el("th", { scope: "col", class: "n" }, h))];
  const caption = `${title}: the figures`;
  return el("div", { class: "table-wrap", role: "region", tabindex: "0",
                     "aria-label": caption },
    el("table", { class: "figures", id: `table-${dimension}` },
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, ...head)),
      el("tbody", {}, ...rows.map(tableRow))));
}

function byName(a, b) { return a.group_name.localeCompare(b.group_name); }

function chart(dimension, title, rows) {
  const mine = rows.filter((r) => r.dimension === dimension).sort(byName);
  const charted = mine.filter((r) => r.suppressed || r.students > 0);
  const empty = mine.filter((r) => !r.suppressed && r.students === 0);
  const parts = [el("h3", { id: `dim-${dimension}` }, title)];
  if (charted.length) {
    // The bars and their words, for the eye; the table below says the same to everyone.
    parts.push(el("ul", { class: "bars", "aria-hidden": "true", id: `chart-${dimension}` },
                  ...charted.map(chartRow)));
    parts.push(table(dimension, title, charted));
  } else {
    parts.push(el("p", { class: "no-students" }, "No students in this period."));
  }
  if (empty.length) {
    parts.push(el("p", { class: "empty-groups" },
                  `0 students: ${empty.map((r) => r.group_name).join("; ")}.`));
  }
  return el("section", { class: "dimension", "aria-labelledby": `dim-${dimension}` }, ...parts);
}

function render(rows, headers) {
  $("report-scope").textContent = scopeText(headers);
  $("report-total").textContent = totalText(rows);
  $("report-learning").textContent = learningText(rows, headers);
  $("charts").replaceChildren(...DIMENSIONS.map(([d, t]) => chart(d, t, rows)));
}

async function load() {
  $("report-error").textContent = "";
  const result = await api(`${REPORT}?${query()}`);
  if (!result.ok) {
    if (result.status !== 401) $("report-error").textContent = `Not shown: ${fieldProblem(result)}`;
    return false;
  }
  render(result.body, result.headers);
  return true;
}

async function loadDefinitions() {
  const result = await api(`${REPORT}/definitions`);
  if (!result.ok) {
    if (result.status !== 401) $("report-error").textContent = problemText(result);
    return false;
  }
  about = result.body;
  const words = about.definitions;
  $("definitions-list").replaceChildren(...TERMS.filter(([k]) => words[k]).flatMap(
    ([k, term]) => [el("dt", {}, term), el("dd", {}, words[k])]));
  fillPeriods();
  return true;
}

// -- the CSV -----------------------------------------------------------------------------

function filenameOf(disposition) {
  const found = /filename="([^"]+)"/.exec(disposition || "");
  return found ? found[1] : "wbl-outcomes.csv";
}

async function download() {
  const q = query();
  q.set("format", "csv");
  const result = await api(`${REPORT}?${q}`);
  if (!result.ok) {
    if (result.status !== 401) $("report-error").textContent = `Not downloaded: ${fieldProblem(result)}`;
    return;
  }
  const name = filenameOf(result.headers.get("Content-Disposition"));
  const url = URL.createObjectURL(new Blob([result.text], { type: "text/csv" }));
  const link = el("a", { href: url, download: name, hidden: "" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // after the browser has taken it
  announce(`Downloaded ${name}`);
}

// -- wiring ------------------------------------------------------------------------------

$("period").addEventListener("change", () => {
  $("custom-dates").hidden = $("period").value !== "custom";
});
$("period-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (await load()) announce(`Shown: ${$("report-scope").textContent}`);
});
$("download").addEventListener("click", download);

wbl.start({
  async signedIn() {
    $("outcomes").hidden = false;
    if (about || await loadDefinitions()) await load();
  },
  signedOut() {
    $("outcomes").hidden = true;
    $("charts").replaceChildren();
  },
});

// The class-list page (signed in through workspace.js): the coordinator picks a CSV file,
// notifier forwards it to registry with their token, and the page shows what registry
// answered: a summary (focused), notes, and every refused row's problems in a table. The
// errors download as a CSV (registry's own file, fetched with the token: the same upload,
// which registers nobody twice) saved through a Blob. Text goes in with textContent only.
"use strict";

const { $, api, problemText, announce, el } = wbl;
const UPLOAD = "/v1/inbox/class-lists";
let columns = []; // registry's class-list columns: {column, required, meaning, example}
let sent = null; // the File last uploaded, for its errors' download

function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

function sentence(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

function fileError(text) {
  $("class-file-error").textContent = sentence(text);
  $("class-file").setAttribute("aria-invalid", text ? "true" : "false");
}

// What can be told before sending: a file, not empty, a CSV, within the size limit.
function checkFile(file) {
  const limit = Number($("class-file").dataset.maxBytes);
  if (!file) return "Choose the class list file first.";
  if (file.size === 0) return "This file is empty. Choose the class list, saved as a CSV file.";
  if (!/\.(csv|txt)$/i.test(file.name)) {
    return `"${file.name}" is not a CSV file. In Excel choose File > Save As > "CSV UTF-8", ` +
           "then choose that file.";
  }
  if (file.size > limit) {
    return `This file is ${megabytes(file.size)}; a class list can be up to ${megabytes(limit)}. ` +
           "Split it into smaller lists.";
  }
  return "";
}

function megabytes(bytes) { return `${(bytes / (1024 * 1024)).toFixed(1)} MB`; }

async function upload(file) {
  const wrong = checkFile(file);
  fileError(wrong);
  if (wrong) { $("class-file").focus(); return; }
  $("upload").disabled = true;
  announce(`Uploading ${file.name}…`);
  const result = await api(UPLOAD, { method: "POST", body: file,
                                     headers: { "Content-Type": "text/csv" } });
  $("upload").disabled = false;
  if (!result.ok) {
    const errors = (result.body && result.body.errors) || [];
    fileError(errors.length ? errors.map((e) => e.message).join(" ") : uploadProblem(result));
    announce("The class list was not read.");
    $("class-file").focus();
    return;
  }
  sent = file;
  showResults(file.name, result.body);
}

function uploadProblem(result) {
  if (result.status === 413) return "This file is larger than a class list can be. Split it.";
  if (result.status === 429 || result.status === 503) {
    return `${problemText(result)} Try again in a minute.`;
  }
  return problemText(result);
}

function lines(rows) {
  const numbers = [...new Set(rows.map((r) => r.row))].sort((a, b) => a - b);
  const shown = numbers.slice(0, 30).join(", ");
  return numbers.length > 30 ? `${shown} and ${numbers.length - 30} more` : shown;
}

function showResults(name, body) {
  const c = body.counts;
  $("results-title").textContent = `Results for ${name}`;
  const refused = c.rows_with_errors;
  $("summary-lead").textContent = refused
    ? `${plural(refused, "row was", "rows were")} not registered: fix them and upload the file again.`
    : (c.registered + c.already_registered
        ? "Every student in the file is registered."
        : "The file has no student rows under its first line.");
  const counts = [
    el("li", { id: "count-registered" },
       `Registered now: ${c.registered}` + (c.registered ? ` (lines ${lines(body.registered)})` : "")),
    el("li", { id: "count-already" },
       `Already registered, left as they were: ${c.already_registered}` +
       (c.already_registered ? ` (lines ${lines(body.already_registered)})` : "")),
    el("li", { id: "count-refused" }, `Not registered (see the table): ${refused}`),
  ];
  $("summary-counts").replaceChildren(...counts);
  $("summary-notes").replaceChildren(...body.notes.map((n) => el("li", {}, `Note: ${n}.`)));
  $("summary-notes").hidden = body.notes.length === 0;
  $("errors-body").replaceChildren(...body.errors.map(errorRow));
  $("refused").hidden = refused === 0;
  $("download-status").textContent = "";
  $("results").hidden = false;
  $("summary").focus();
  announce(`${c.registered} registered, ${c.already_registered} already registered, ` +
           `${refused} not registered.`);
}

// Explicit roles keep these tables tables when a phone's CSS stacks each row as a card
// (a display change can drop a table's semantics); each cell carries its header to show.
function cell(label, text) { return el("td", { role: "cell", "data-label": label }, text); }

function errorRow(e) {
  return el("tr", { role: "row" },
    cell("Line", String(e.row)),
    cell("Student", e.student || "(no name)"),
    cell("Column", e.field === "<row>" ? "the whole row" : e.field),
    cell("Problem", e.message));
}

// A name for a download, from the uploaded file's: letters, digits, - and _ only.
function safeName(name) {
  return name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 80) || "list";
}

function save(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = el("a", { href: url, download: filename, hidden: "" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function downloadErrors() {
  if (!sent) return;
  $("download-status").textContent = "Preparing the file…";
  const result = await api(`${UPLOAD}?format=csv`, { method: "POST", body: sent,
                                                      headers: { "Content-Type": "text/csv" } });
  if (!result.ok || result.text === null) {
    $("download-status").textContent = `The errors could not be downloaded: ${problemText(result)}`;
    return;
  }
  const filename = `class-list-errors-${safeName(sent.name)}.csv`;
  save(result.text, filename);
  $("download-status").textContent = `Downloaded ${filename}.`;
}

function csvCell(value) {
  return /[",;\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function downloadSample() {
  const school = (wbl.me().school_ids || [])[0];
  const example = columns.map((c) => (c.column === "school_id" && school ? school : c.example));
  const text = `${columns.map((c) => c.column).join(",")}\r\n${example.map(csvCell).join(",")}\r\n`;
  save(text, "class-list-sample.csv");
  $("columns-status").textContent = "Downloaded class-list-sample.csv: replace the example row " +
                                    "with your students, one a row.";
}

async function loadColumns() {
  const result = await api("/v1/inbox/class-lists/columns");
  if (!result.ok) {
    $("columns-status").textContent = `The columns could not be loaded: ${problemText(result)}`;
    return;
  }
  columns = result.body;
  $("columns-body").replaceChildren(...columns.map((c) => el("tr", { role: "row" },
    el("th", { scope: "row", role: "rowheader", "data-label": "Column" }, c.column),
    cell("Needed", c.required ? "required" : "optional"),
    cell("What it holds", c.meaning),
    cell("Example", c.example))));
}

function wireDrop() {
  const form = $("upload-form");
  form.addEventListener("dragover", (e) => { e.preventDefault(); form.classList.add("dropping"); });
  form.addEventListener("dragleave", () => form.classList.remove("dropping"));
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    form.classList.remove("dropping");
    const [file] = e.dataTransfer.files;
    if (file) upload(file);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("upload-form").addEventListener("submit", (e) => {
    e.preventDefault();
    upload($("class-file").files[0]);
  });
  $("class-file").addEventListener("change", () => fileError(""));
  $("download-errors").addEventListener("click", downloadErrors);
  $("download-sample").addEventListener("click", downloadSample);
  wireDrop();
});

wbl.start({
  signedIn() {
    $("class-lists").hidden = false;
    loadColumns();
  },
  signedOut() {
    $("class-lists").hidden = true;
    $("results").hidden = true;
    sent = null;
  },
});

// The settings page (signed in through workspace.js): the coordinator's own email, webhook
// URL and digest choice, read from and saved to registry through notifier with their token.
// A save names the version it read (If-Match): a change made meanwhile elsewhere is shown,
// never overwritten. Field errors sit beside their fields. Text goes in with textContent only.
"use strict";

const { $, api, problemText, announce } = wbl;
const SETTINGS = "/v1/inbox/settings";
// Registry's field names -> the page's field and the element its error goes in.
const FIELDS = {
  "channels.email": { input: "email", error: "email-error" },
  "channels.webhook_url": { input: "webhook-url", error: "webhook-url-error" },
  "channels.digest": { input: "digest", error: "digest-error" },
};
let version = null; // the settings' ETag, sent back as If-Match

function clearErrors() {
  for (const f of Object.values(FIELDS)) {
    $(f.error).textContent = "";
    $(f.input).removeAttribute("aria-invalid");
  }
}

function show(settings) {
  const c = settings.channels;
  $("email").value = c.email || "";
  $("webhook-url").value = c.webhook_url || "";
  $(c.digest === "daily" ? "digest-daily" : "digest-immediate").checked = true;
  $("secret-section").hidden = !c.webhook_url;
}

async function load() {
  const result = await api(SETTINGS);
  const status = $("settings-status");
  status.hidden = result.ok;
  if (!result.ok) {
    status.textContent = `Your settings could not be loaded: ${problemText(result)}`;
    return false;
  }
  version = result.headers.get("ETag");
  show(result.body);
  return true;
}

function wanted() {
  const text = (id) => $(id).value.trim() || null;
  return { channels: { email: text("email"), webhook_url: text("webhook-url"),
                       digest: $("digest-daily").checked ? "daily" : "immediate" } };
}

function said(text, kind) {
  const result = $("settings-result");
  result.textContent = text;
  result.className = `result ${kind}`;
}

async function save() {
  clearErrors();
  said("", "");
  $("save").disabled = true;
  const headers = version ? { "If-Match": version } : {};
  const result = await api(SETTINGS, { method: "PATCH", body: JSON.stringify(wanted()), headers });
  $("save").disabled = false;
  if (result.ok) {
    version = result.headers.get("ETag");
    show(result.body);
    said("Saved. Matches that arrive from now on are sent this way (the change reaches " +
         "the notifier within seconds). Messages already sent stay as they were, and " +
         "matches already held for today's digest still go in it.", "ok");
    $("settings-result").focus();
    if (result.body.webhook_secret) showSecret(result.body.webhook_secret, "first");
    return;
  }
  if (result.status === 412 || result.status === 409) {
    await load();
    said("These settings were changed elsewhere (in another tab, or by your administrator) " +
         "since you opened this page. They are shown as they are now: make your change " +
         "again and save.", "conflict");
    $("settings-result").focus();
    return;
  }
  const errors = (result.body && result.body.errors) || [];
  const placed = errors.filter((e) => FIELDS[e.field]);
  for (const e of placed) {
    const f = FIELDS[e.field];
    $(f.error).textContent = e.message.charAt(0).toUpperCase() + e.message.slice(1);
    $(f.input).setAttribute("aria-invalid", "true");
  }
  if (placed.length) {
    said("Not saved: correct the field marked below.", "error");
    announce("Not saved: correct the field marked.");
    const first = FIELDS[placed[0].field].input;
    (first === "digest" ? $("digest-immediate") : $(first)).focus();
    return;
  }
  said(`Not saved: ${problemText(result)}`, "error");
  $("settings-result").focus();
}

function showSecret(secret, why) {
  $("secret-section").hidden = false;
  $("secret-lead").textContent = why === "first"
    ? "Your webhook's signing secret, shown only now: copy it into your receiver."
    : "Your new signing secret, shown only now: copy it into your receiver.";
  $("secret-value").textContent = secret;
  $("secret-previous").hidden = true;
  $("secret-shown").hidden = false;
  $("secret-shown").focus();
}

async function rotate() {
  $("secret-error").textContent = "";
  const result = await api("/v1/inbox/webhook-secret", { method: "POST" });
  if (!result.ok) {
    $("secret-error").textContent = `No new secret was made: ${problemText(result)}`;
    return;
  }
  const until = new Date(result.body.previous_valid_until).toLocaleString();
  showSecret(result.body.webhook_secret, "rotated");
  $("secret-previous").textContent = `The previous secret also signs until ${until}: ` +
                                     "switch your receiver before then.";
  $("secret-previous").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("settings-form").addEventListener("submit", (e) => { e.preventDefault(); save(); });
  $("rotate-secret").addEventListener("click", rotate);
});

wbl.start({
  async signedIn() {
    $("settings").hidden = false;
    await load();
  },
  signedOut() {
    $("settings").hidden = true;
    $("secret-shown").hidden = true;
    $("secret-value").textContent = "";
    version = null;
  },
});

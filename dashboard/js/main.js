// The page: sign-in, routing (#/incidents, #/incidents/<id>, #/overview) and live refresh from
// the event stream.

import { api, ApiError, signedIn, signIn, signOut } from "./api.js";
import { follow } from "./events.js";
import { explain, fetchIncident, renderIncident } from "./incident.js";
import { fetchIncidents, renderList } from "./list.js";
import { fetchOverview, renderOverview } from "./overview.js";

const $ = (id) => document.getElementById(id);
const view = $("view");
const notice = $("notice");
const dialog = $("confirm");

let stream = null; // the AbortController of the event stream
let me = null; // GET /v1/me: who the credential is, and whether it may approve
let current = { name: null, id: null };
let asking = null; // { id, hash, answer } while the confirmation dialog is open

// -- rendering, one at a time ------------------------------------------------------------------

let rendering = null;
let again = false;

async function render({ focus = false } = {}) {
  if (rendering) {
    again = true;
    return rendering;
  }
  rendering = (async () => {
    do {
      again = false;
      const route = { ...current };
      try {
        await draw(route, focus);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return leave("Your credential was refused; sign in again.");
        view.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: `Could not load: ${error.message}` }));
      }
      focus = false;
    } while (again);
  })();
  try {
    await rendering;
  } finally {
    rendering = null;
  }
}

async function draw(route, focus) {
  let fill;
  if (route.name === "incident") {
    const got = await fetchIncident(route.id);
    fill = () => renderIncident(view, got, ask, me);
  } else if (route.name === "overview") {
    const got = await fetchOverview((await fetchIncidents()).items);
    fill = () => renderOverview(view, got);
  } else {
    const got = await fetchIncidents();
    fill = () => renderList(view, got, () => render());
  }
  if (route.name !== current.name || route.id !== current.id || !signedIn()) return;
  const active = document.activeElement?.id;
  const open = [...view.querySelectorAll("details[open][id]")].map((d) => d.id);
  fill();
  for (const id of open) if ($(id)) $(id).open = true;
  if (focus) view.querySelector("h2")?.focus();
  else if (active && view.contains($(active))) $(active).focus();
}

function route() {
  const match = location.hash.match(/^#\/(incidents|overview)(?:\/([^/]+))?$/);
  const name = match?.[1] === "overview" ? "overview" : match?.[2] ? "incident" : "incidents";
  current = { name, id: match?.[2] ? decodeURIComponent(match[2]) : null };
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.dataset.route === (name === "overview" ? "overview" : "incidents"));
  }
  say("");
  render({ focus: true });
}

function say(text, kind = "ok") {
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = !text;
}

// -- live updates ------------------------------------------------------------------------------

const LIST_KINDS = /^(incident\.|approval\.|alert\.attached$|action$)/; // alert.attached: its count
let timer = null;

function onEvent(event) {
  let entry = {};
  try {
    entry = JSON.parse(event.data);
  } catch {
    return;
  }
  const relevant = current.name === "incident" ? entry.incident_id === current.id : LIST_KINDS.test(event.type);
  if (!relevant) return;
  clearTimeout(timer);
  timer = setTimeout(() => render(), 250);
}

function onState(state, resumed) {
  const text = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", refused: "stream refused" }[state];
  const badge = $("stream-state");
  badge.textContent = text;
  badge.dataset.state = state;
  if (state === "live" && resumed) render(); // catch up with what the replay did not cover
}

// -- approvals ---------------------------------------------------------------------------------

function ask(answer, incident) {
  const pending = incident.pending_approval;
  asking = { id: incident.id, hash: pending.hash, answer };
  const verb = answer === "approve" ? "Approve" : "Reject";
  $("confirm-title").textContent = `${verb} ${pending.candidate.action} on ${pending.candidate.service}?`;
  $("confirm-what").textContent = `${incident.title} (${incident.id}). Rule: ${pending.rule}. Expires ${pending.expires_at.slice(11, 19)} UTC.`;
  $("confirm-go").textContent = verb;
  $("confirm-comment").value = "";
  dialog.showModal();
}

dialog.addEventListener("close", async () => {
  const chosen = asking;
  asking = null;
  if (dialog.returnValue !== "confirm" || !chosen) return;
  const comment = $("confirm-comment").value.trim();
  try {
    const got = await api(`/v1/incidents/${encodeURIComponent(chosen.id)}/${chosen.answer}`, {
      method: "POST",
      body: { hash: chosen.hash, comment },
    });
    say(`${got.answer === "grant" ? "Approved" : "Rejected"} by ${got.by}; the incident is now ${got.status.replaceAll("_", " ")}.`);
  } catch (error) {
    say(explain(error, chosen.answer), "error");
  }
  render();
});

// -- signing in and out ------------------------------------------------------------------------

function enter() {
  $("sign-in").hidden = true;
  for (const id of ["nav", "session", "view"]) $(id).hidden = false;
  stream = new AbortController();
  follow({ onEvent, onState, signal: stream.signal });
  route();
}

function leave(message = "") {
  signOut();
  me = null;
  stream?.abort();
  stream = null;
  if (dialog.open) dialog.close();
  view.replaceChildren();
  say("");
  for (const id of ["nav", "session", "view"]) $(id).hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("stream-state").textContent = "offline";
  history.replaceState(null, "", location.pathname);
  $("credential").focus();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("credential");
  const secret = input.value.trim();
  input.value = "";
  if (!secret) {
    $("sign-in-error").textContent = "Paste an API key or a JWT.";
    return;
  }
  signIn(secret);
  try {
    me = await api("/v1/me");
  } catch (error) {
    signOut();
    me = null;
    $("sign-in-error").textContent =
      error instanceof ApiError && error.status === 401 ? "That key or token was refused." : explain(error, "sign in");
    input.focus();
    return;
  }
  $("sign-in-error").textContent = "";
  enter();
});

$("sign-out").addEventListener("click", () => leave());
window.addEventListener("hashchange", () => signedIn() && route());
$("credential").focus();

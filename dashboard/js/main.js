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

// -- rendering, one at a time; a failed load keeps what was shown and retries --------------

let rendering = null;
let again = false;
let shown = null; // the route key of what the view shows
let loadedAt = null; // when that was loaded (this browser's clock)
let stale = null; // { since, reason } while the last load failed
let retryDelay = 1000;
let retryTimer = null;
let streamState = "connecting";

const keyOf = (route) => `${route.name}|${route.id ?? ""}`;
const hhmm = (date) => date.toTimeString().slice(0, 5);

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
        fresh();
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return leave("Your credential was refused; sign in again.");
        if (!signedIn() || keyOf(route) !== keyOf(current)) continue;
        if (error instanceof ApiError && error.status === 404) {
          view.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: `Could not load: ${error.message}` }));
          shown = null;
          fresh();
        } else failed(route, error);
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

/** A load failed: keep the last content under a "stale" banner, and try again with backoff. */
function failed(route, error) {
  const reason = error instanceof ApiError ? `${error.status} ${error.message}` : error.message;
  if (shown !== keyOf(route)) {
    view.replaceChildren(Object.assign(document.createElement("p"), { className: "error", id: "load-error", textContent: `Could not load: ${reason}.` }));
    loadedAt = null;
  }
  stale = { since: stale?.since ?? loadedAt ?? new Date(), reason };
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => signedIn() && render(), retryDelay);
  const wait = Math.round(retryDelay / 1000);
  retryDelay = Math.min(retryDelay * 2, 30000);
  const banner = $("stale");
  banner.hidden = false;
  $("stale-text").textContent = loadedAt
    ? `Showing what was loaded at ${hhmm(loadedAt)} (your clock): refreshing failed (${reason}). Retrying in ${wait} s.`
    : `Not loaded yet (${reason}). Retrying in ${wait} s.`;
  paintBadge();
}

function fresh() {
  clearTimeout(retryTimer);
  retryDelay = 1000;
  stale = null;
  $("stale").hidden = true;
  paintBadge();
}

function paintBadge() {
  const badge = $("stream-state");
  if (stale && streamState !== "refused") {
    badge.textContent = `stale since ${hhmm(stale.since)}`;
    badge.dataset.state = "stale";
    return;
  }
  badge.textContent = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", refused: "stream refused" }[streamState];
  badge.dataset.state = streamState;
}

async function draw(route, focus) {
  let fill;
  if (route.name === "incident") {
    const got = await fetchIncident(route.id);
    fill = () => renderIncident(view, got, { ask, act, me });
  } else if (route.name === "overview") {
    const got = await fetchOverview((await fetchIncidents()).items);
    fill = () => renderOverview(view, got);
  } else {
    const got = await fetchIncidents();
    fill = () => renderList(view, got, { onFilter: () => render(), act, me });
  }
  if (keyOf(route) !== keyOf(current) || !signedIn()) return;
  const active = document.activeElement?.id;
  const open = [...view.querySelectorAll("details[open][id]")].map((d) => d.id);
  const typed = [...view.querySelectorAll("textarea[id], input[id]")].filter((f) => f.value).map((f) => [f.id, f.value]);
  fill();
  shown = keyOf(route);
  loadedAt = new Date();
  for (const id of open) if ($(id)) $(id).open = true;
  for (const [id, value] of typed) if ($(id) && !$(id).value) $(id).value = value;
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
  shown = null;
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

function onState(state) {
  streamState = state;
  paintBadge();
  // Every (re)connect: load the view again (the server may have restarted, a load may have
  // failed while the stream was down); the replay covers the events in between.
  if (state === "live" && signedIn()) render();
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && signedIn()) render();
});
window.addEventListener("online", () => signedIn() && render());

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

// -- responders: acknowledge, assign, note, resolve ----------------------------------------------------

const DONE = { ack: "Acknowledged", assign: "Assigned", notes: "Note added", resolve: "Resolved" };
const VERB = { ack: "acknowledge", assign: "assign", notes: "add a note", resolve: "resolve" };

/** POST one responder operation; true when it went through. */
async function act(operation, incident, body) {
  try {
    const got = await api(`/v1/incidents/${encodeURIComponent(incident.id)}/${operation}`, { method: "POST", body });
    const what = !got.changed && operation !== "notes" ? `Nothing to do (${VERB[operation]})` : DONE[operation];
    say(`${what}: ${incident.headline ?? incident.title} (${incident.id}) is ${got.status.replaceAll("_", " ")}.`);
    render();
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) leave("Your credential was refused; sign in again.");
    else say(explain(error, VERB[operation]), "error");
    return false;
  }
}

$("retry-now").addEventListener("click", () => render());

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
  shown = null;
  clearTimeout(retryTimer);
  stale = null;
  $("stale").hidden = true;
  streamState = "connecting";
  say("");
  for (const id of ["nav", "session", "view"]) $(id).hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("stream-state").textContent = "offline";
  $("stream-state").dataset.state = "offline";
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

// The incident list: filters, one row per incident, "load more" for the next page.

import { api, query } from "./api.js";
import { badge, duration, FINISHED, h, label, triageBadge } from "./dom.js";
import { ownerCell } from "./respond.js";

export const STATUSES = ["open", "confirmed", "mitigating", "awaiting_approval", "resolved", "escalated", "closed", "noise"];
export const SEVERITIES = ["sev1", "sev2", "sev3", "sev4"];

export const filters = { status: "", severity: "", service: "" };

/** Every page of incidents that match the filters (up to `pages` pages of 200). */
export async function fetchIncidents(pages = 5) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < pages; page += 1) {
    const got = await api(`/v1/incidents${query({ ...filters, limit: "200", cursor })}`);
    items.push(...got.items);
    cursor = got.next_cursor;
    if (!cursor) break;
  }
  return { items, more: Boolean(cursor) };
}

/** The newest time the API has shown: the estate's clock as far as the list can tell. */
export function latest(items) {
  return items.reduce((max, i) => Math.max(max, Date.parse(i.updated_at)), 0);
}

function age(incident, now) {
  const opened = Date.parse(incident.opened_at);
  const end = FINISHED.has(incident.status) ? Date.parse(incident.updated_at) : now;
  return duration(Math.max(0, end - opened) / 1000);
}

function filterForm(onChange) {
  const select = (name, values) =>
    h("select", { id: `filter-${name}`, name, onchange: (e) => { filters[name] = e.target.value; onChange(); } },
      h("option", { value: "" }, "any"),
      values.map((v) => h("option", { value: v, selected: filters[name] === v }, label(v))));
  const service = h("input", { id: "filter-service", type: "search", value: filters.service, placeholder: "e.g. checkout" });
  let timer;
  service.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { filters.service = service.value.trim(); onChange(); }, 300);
  });
  return h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
    h("label", { for: "filter-status" }, "Status"), select("status", STATUSES),
    h("label", { for: "filter-severity" }, "Severity"), select("severity", SEVERITIES),
    h("label", { for: "filter-service" }, "Service"), service);
}

const COLUMNS = ["Incident", "Status", "Severity", "Owner", "Services", "Age", "MTTD", "MTTR", "Alerts"];

/** A cell that says its column's name where a narrow screen reflows the table into cards. */
const cell = (column, props, ...children) => h("td", { ...props, "data-label": column }, ...children);

export function renderList(root, { items, more }, { onFilter, act, me }) {
  const now = latest(items);
  const rows = items.map((i) => {
    const owner = ownerCell(i, { act, me });
    owner.dataset.label = "Owner";
    return h("tr", { "data-incident": i.id, class: i.pending_approval ? "waiting" : null },
      cell("Incident", { class: "what" }, h("a", { href: `#/incidents/${encodeURIComponent(i.id)}` }, i.headline ?? i.title),
        h("div", { class: "muted" }, i.headline && i.headline !== i.title ? `${i.title} · ${i.id}` : i.id),
        i.reason ? h("div", { class: "reason" }, i.reason) : null),
      cell("Status", {}, badge("status", i.status), i.kind === "triage" ? triageBadge() : null,
        i.pending_approval ? h("div", { class: "ask" }, "needs approval") : null),
      cell("Severity", {}, badge("sev", i.severity)),
      owner,
      cell("Services", {}, i.services.join(", ") || "—"),
      cell("Age", { class: "num" }, age(i, now)),
      cell("MTTD", { class: "num" }, duration(i.time_to_detect_s)),
      cell("MTTR", { class: "num" }, duration(i.time_to_resolve_s)),
      cell("Alerts", { class: "num" }, i.alerts));
  });
  const table = items.length
    ? h("table", { class: "incidents reflow" },
        h("caption", { class: "muted" }, `${items.length} incident${items.length === 1 ? "" : "s"}, newest first. Age is on the estate's clock (the commander's, simulated in a demo).`),
        h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows))
    : h("p", { class: "empty" }, "No incidents match. The list updates by itself as incidents open.");
  root.replaceChildren(...[
    h("h2", { tabindex: "-1" }, "Incidents"),
    filterForm(onFilter),
    table,
    more ? h("p", { class: "muted" }, "More incidents than shown: narrow the filters.") : null].filter(Boolean));
}

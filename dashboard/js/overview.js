// The overview, computed from the incident list (and each incident's actions).

import { api } from "./api.js";
import { trendChart } from "./charts.js";
import { duration, FINISHED, h, label, section } from "./dom.js";
import { SEVERITIES } from "./list.js";

function bars(counts, kind) {
  const max = Math.max(1, ...counts.map(([, n]) => n));
  return h("table", { class: "bars" },
    h("tbody", {}, counts.map(([name, n]) =>
      h("tr", {},
        h("th", { scope: "row" }, label(name)),
        h("td", {}, h("span", { class: `bar ${kind}-${name}`, style: null, "data-width": String(Math.round((100 * n) / max)) })),
        h("td", { class: "num" }, n)))));
}

/** Bar widths set through CSSOM (the page's CSP allows no inline style attributes). */
function sizeBars(root) {
  for (const bar of root.querySelectorAll(".bar[data-width]")) bar.style.width = `${bar.dataset.width}%`;
}

export async function fetchOverview(items) {
  const sample = items.slice(0, 50);
  const [agents, ...actions] = await Promise.all([
    api("/v1/agents"),
    ...sample.map((i) => api(`/v1/incidents/${encodeURIComponent(i.id)}/actions`)),
  ]);
  return { items, actions: actions.flat(), sampled: sample.length, agents };
}

function agentHealth(agents) {
  return h("table", { class: "agents", id: "agent-health" },
    h("thead", {}, h("tr", {}, ["Agent", "Votes", "Rejected", "Abstained", "Mean latency"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, agents.map((a) =>
      h("tr", {},
        h("th", { scope: "row" }, label(a.agent)),
        h("td", { class: "num" }, a.votes),
        h("td", { class: "num" }, a.rejections),
        h("td", { class: "num" }, a.abstentions),
        h("td", { class: "num" }, a.mean_latency_s === null ? "—" : `${(a.mean_latency_s * 1000).toFixed(1)} ms`)))));
}

export function renderOverview(root, { items, actions, sampled, agents }) {
  const open = items.filter((i) => !FINISHED.has(i.status));
  const bySeverity = [...SEVERITIES, null].map((s) => [s ?? "unrated", open.filter((i) => i.severity === s).length]);
  const outcomes = new Map();
  for (const a of actions) outcomes.set(a.status, (outcomes.get(a.status) ?? 0) + 1);
  const alerts = items.reduce((n, i) => n + i.alerts, 0);
  const resolved = items
    .filter((i) => i.time_to_resolve_s !== null)
    .sort((a, b) => Date.parse(a.opened_at) - Date.parse(b.opened_at));
  const mean = resolved.length ? resolved.reduce((n, i) => n + i.time_to_resolve_s, 0) / resolved.length : null;
  const trend = resolved.length >= 2
    ? trendChart("Time to resolve, by incident opened", resolved.map((i) => ({ at: i.opened_at, value: i.time_to_resolve_s / 60 })), "minutes")
    : h("p", { class: "muted" }, resolved.length ? `One resolved incident so far: ${duration(resolved[0].time_to_resolve_s)}.` : "No resolved incident yet.");
  root.replaceChildren(...[
    h("h2", { tabindex: "-1" }, "Overview"),
    h("div", { class: "cards" },
      section("Open incidents by severity", h("p", { class: "big", id: "open-count" }, `${open.length} open`), bars(bySeverity, "sev")),
      section("Actions by outcome",
        outcomes.size ? bars([...outcomes], "result") : h("p", { class: "muted" }, "No action taken yet."),
        sampled < items.length ? h("p", { class: "muted" }, `From the newest ${sampled} incidents.`) : null),
      section("Noise reduction",
        h("p", { class: "big", id: "noise" }, `${alerts} alert${alerts === 1 ? "" : "s"} → ${items.length} incident${items.length === 1 ? "" : "s"}`),
        h("p", { class: "muted" }, alerts ? `${Math.round(100 * (1 - items.length / alerts))}% fewer things to look at.` : "No alert yet.")),
      section("MTTR trend",
        h("p", { class: "big" }, `mean ${duration(mean)}`), trend),
      section("Agent health",
        agentHealth(agents),
        h("p", { class: "muted" }, "Since the commander started; latency is one agent's vote on a round.")))].filter(Boolean));
  sizeBars(root);
}

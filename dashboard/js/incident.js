// One incident: its approval (if one is pending), charts, hypotheses, votes, actions,
// timeline and audit trail.

import { api, ApiError } from "./api.js";
import { metricChart } from "./charts.js";
import { badge, duration, FINISHED, h, label, section, triageBadge, when } from "./dom.js";
import { respondPanel } from "./respond.js";

export async function fetchIncident(id) {
  const base = `/v1/incidents/${encodeURIComponent(id)}`;
  const [detail, timeline, votes, actions, audit, series] = await Promise.all(
    ["", "/timeline", "/votes", "/actions", "/audit", "/series"].map((part) => api(base + part)));
  return { detail, timeline, votes, actions, audit, series };
}

const short = (candidate) => candidate?.split(":").slice(0, 2).join(" on ") ?? "—";

function header(d) {
  return h("header", { class: "incident-head" },
    h("p", {}, h("a", { href: "#/incidents" }, "← All incidents")),
    h("h2", { tabindex: "-1", id: "headline" }, d.headline ?? d.title),
    d.headline && d.headline !== d.title ? h("p", { class: "muted", id: "first-alert" }, `First alert: ${d.title}`) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "Id"), h("dd", {}, d.id),
      h("dt", {}, "Status"), h("dd", {}, h("span", { id: "incident-status" }, badge("status", d.status)), d.kind === "triage" ? [" ", triageBadge()] : null),
      h("dt", {}, "Severity"), h("dd", {}, badge("sev", d.severity)),
      h("dt", {}, "Services"), h("dd", {}, d.services.join(", ") || "—"),
      h("dt", {}, "Opened"), h("dd", {}, when(d.opened_at), h("span", { class: "clock" }, " estate clock")),
      h("dt", {}, "MTTD / MTTR"), h("dd", {}, `${duration(d.time_to_detect_s)} / ${duration(d.time_to_resolve_s)}`),
      h("dt", {}, "Owner"), h("dd", { id: "owner-fact" }, d.acknowledged_by ?? (FINISHED.has(d.status) ? "nobody" : "nobody yet")),
      h("dt", {}, "Round"), h("dd", {}, d.round ?? "—"),
      d.reason && [h("dt", {}, "Why"), h("dd", { id: "incident-reason", class: "wide" }, d.reason)],
      d.duplicate_of && [
        h("dt", {}, "Closed into"),
        h("dd", { id: "duplicate-of" },
          h("a", { href: `#/incidents/${encodeURIComponent(d.duplicate_of)}` }, d.duplicate_of),
          " (same root cause)")]));
}

function triage(d) {
  if (d.kind !== "triage") return null;
  return h("section", { class: "panel triage", "aria-labelledby": "s-triage" },
    h("h3", { id: "s-triage" }, "Triage: a person routes this"),
    h("p", {}, "No service of the estate matches its alerts, so the commander takes no automatic action: it escalated them to on-call at once. ",
      "Route them (add their service to the estate, or fix the labels the alert carries), then resolve this incident."),
    h("ul", { class: "evidence" }, d.alert_list.map((a) => h("li", {}, `${a.summary} (${a.source}${a.details?.service ? `, service ${a.details.service}` : ""}${a.details?.resource ? `, resource ${a.details.resource}` : ""})`))));
}

function approval(d, onAnswer, me) {
  const p = d.pending_approval;
  if (!p) return null;
  const c = p.candidate;
  const allowed = Boolean(me?.can_approve);
  const buttons = allowed
    ? h("div", { class: "buttons" },
        h("button", { type: "button", class: "primary", id: "approve", onclick: () => onAnswer("approve", d) }, "Approve…"),
        h("button", { type: "button", id: "reject", onclick: () => onAnswer("reject", d) }, "Reject…"))
    : h("p", { class: "muted", id: "cannot-approve" },
        `Approving needs the approver or admin role; ${me?.subject ?? "this key"} has ${(me?.roles ?? []).join(", ") || "no roles"}.`);
  return h("section", { class: "panel approval", "aria-labelledby": "s-approval" },
    h("h3", { id: "s-approval" }, allowed ? "Waiting for your approval" : "Waiting for an approver"),
    h("p", {}, h("strong", {}, `${c.action} on ${c.service}`), ` — ${c.expected_effect ?? ""}`),
    h("p", { class: "muted" },
      `Why a person: ${p.rule}. Risk ${c.risk}; ${c.reversible ? "reversible" : "not reversible"}` +
      `${c.destructive ? ", destructive" : ""}. Asked ${when(p.asked_at)} (estate clock).`),
    expiry(p),
    buttons);
}

/** The approval's deadline as a countdown on this browser's clock (the limit is wall time). */
function expiry(p) {
  // No countdown where the API gives none, or where the estate is paused (its deadline is
  // then steps away, not minutes).
  if (typeof p.expires_in_s !== "number" || p.expires_in_s > 86400) return h("p", { class: "muted", id: "expiry" }, `Expires ${when(p.expires_at)} (estate clock).`);
  const deadline = Date.now() + p.expires_in_s * 1000;
  const out = h("p", { class: "expiry", id: "expiry" });
  const tick = () => {
    if (!out.isConnected && out.dataset.started) return;
    out.dataset.started = "1";
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    out.textContent = left
      ? `Expires in ${Math.floor(left / 60)} min ${String(left % 60).padStart(2, "0")} s (wall clock); unanswered, it counts as rejected.`
      : "Expired (wall clock): it counts as rejected.";
    if (left) setTimeout(tick, 1000);
  };
  tick();
  return out;
}

const isWeb = (url) => /^https?:\/\//i.test(url ?? "");

function alerts(list) {
  if (!list?.length) return null;
  return section("Alerts",
    h("ul", { class: "alerts", id: "alert-list" }, list.map((a) => {
      const links = (a.details?.links ?? []).filter((l) => isWeb(l.url));
      const extra = [a.details?.service ? `service ${a.details.service}` : null, a.details?.resource ? `resource ${a.details.resource}` : null].filter(Boolean);
      return h("li", {},
        h("strong", {}, a.summary), ` (${[a.source, ...extra].join(", ")})`,
        links.length ? [" — ", links.map((l, i) => [i ? ", " : "", h("a", { href: l.url, target: "_blank", rel: "noopener noreferrer" }, l.label)])] : null);
    })));
}

const postmortems = new Set(); // incidents whose draft the reader opened: kept open across refreshes
let draftUrl = null;

function postmortem(d) {
  if (!FINISHED.has(d.status)) return null;
  const out = h("pre", { class: "postmortem", id: "postmortem-text", hidden: true });
  const load = async () => {
    postmortems.add(d.id);
    try {
      const text = await api(`/v1/incidents/${encodeURIComponent(d.id)}/postmortem`, { text: true });
      out.textContent = text;
      out.hidden = false;
      if (draftUrl) URL.revokeObjectURL(draftUrl);
      draftUrl = URL.createObjectURL(new Blob([text], { type: "text/markdown" }));
      show.replaceWith(h("a", { href: draftUrl, download: `${d.id}-postmortem.md`, id: "download-postmortem" }, "Download the Markdown"));
    } catch (error) {
      out.textContent = `Could not load the draft: ${error.message}`;
      out.hidden = false;
      show.disabled = false;
    }
  };
  const show = h("button", { type: "button", id: "show-postmortem", onclick: () => { show.disabled = true; load(); } }, "Show the postmortem draft");
  if (postmortems.has(d.id)) load();
  return section("Postmortem", h("p", { class: "muted" }, "A draft written from the incident's record, to edit before you share it."), show, out);
}

function charts(series) {
  if (!series.metrics.length) return section("Anomalous metrics", h("p", { class: "empty" }, "No anomaly measured yet."));
  return section("Anomalous metrics",
    h("p", { class: "muted" }, "Red: the metric; grey dashes: its baseline; dashed amber: onset; purple: confirmed; green: actions; dark red dots: a limit. Times on the estate clock, UTC; hover or touch for values."),
    h("div", { class: "charts" }, series.metrics.map((m) => metricChart(m, series.marks))));
}

function hypotheses(list) {
  const ranked = [...list].sort((a, b) => b.confidence - a.confidence);
  return section("Hypotheses",
    ranked.length
      ? h("ol", { class: "hypotheses" }, ranked.map((x) =>
          h("li", {},
            h("div", { class: "hyp" },
              h("strong", {}, `${x.fault} on ${x.service}`),
              h("meter", { min: "0", max: "1", value: String(x.confidence), "aria-label": "confidence" }),
              h("span", { class: "num" }, `${Math.round(x.confidence * 100)}%`)),
            h("ul", { class: "evidence" }, [...new Set(x.evidence)].map((e) => h("li", {}, e))))))
      : h("p", { class: "empty" }, "No diagnosis yet."));
}

function votes({ votes: all, decisions }) {
  if (!decisions.length) return section("Votes", h("p", { class: "empty" }, "No vote yet."));
  // Each round's own votes (a vote without a round, from before rounds were recorded, stands
  // for every round: the latest one wins).
  const byCell = new Map(all.map((v) => [`${v.round ?? "any"}|${v.candidate}|${v.agent}`, v]));
  const cell = (round, c, a) => byCell.get(`${round}|${c}|${a}`) ?? byCell.get(`any|${c}|${a}`);
  const rounds = [...decisions].reverse().map((d) => {
    const candidates = Object.keys(d.matrix).sort((a, b) => (d.scores[b] ?? 0) - (d.scores[a] ?? 0));
    const agents = [...new Set(candidates.flatMap((c) => Object.keys(d.matrix[c])))];
    return h("div", { class: "round" },
      h("p", {}, h("strong", {}, `Round ${d.round}: ${d.outcome}`), d.candidate ? ` — ${short(d.candidate)}` : "",
        h("br"), h("span", { class: "rule" }, `Rule: ${d.rule}`)),
      h("table", { class: "matrix" },
        h("caption", { class: "muted" }, "Each agent's stance and confidence; open a cell for its rationale and evidence."),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Candidate action"),
          agents.map((a) => h("th", { scope: "col", class: "agent" }, a)), h("th", { scope: "col" }, "Score"))),
        h("tbody", {}, candidates.map((c) =>
          h("tr", { class: c === d.candidate ? "chosen" : null },
            h("th", { scope: "row" }, short(c)),
            agents.map((a) => {
              const stance = d.matrix[c][a] ?? "—";
              const vote = cell(d.round, c, a);
              const kind = vote?.veto ? "veto" : stance.split(" ")[0];
              const text = vote?.veto ? `veto ${stance}` : stance;
              if (!vote) return h("td", { class: `stance stance-${kind}` }, text);
              return h("td", { class: `stance stance-${kind}` },
                h("details", { class: "why" },
                  h("summary", {}, text),
                  h("p", {}, vote.rationale),
                  vote.evidence.length ? h("ul", { class: "evidence" }, vote.evidence.map((e) => h("li", {}, e))) : null));
            }),
            h("td", { class: "num" }, (d.scores[c] ?? 0).toFixed(2)))))));
  });
  return section("Votes", rounds);
}

function actions(list) {
  const cell = (column, ...children) => h("td", { "data-label": column }, ...children);
  return section("Actions",
    list.length
      ? h("table", { class: "actions reflow" },
          h("caption", { class: "muted" }, "At: estate clock, UTC."),
          h("thead", {}, h("tr", {}, ["Action", "Result", "At", "Approved by", "Rollback"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, list.map((a) =>
            h("tr", { "data-action": a.action },
              cell("Action", h("strong", {}, a.action), ` on ${a.service}`),
              cell("Result", badge("result", a.status), a.detail ? h("div", { class: "detail" }, a.detail) : null),
              cell("At", when(a.at).slice(11)),
              cell("Approved by", a.approved_by ?? "—"),
              cell("Rollback", a.rollback ? (a.rollback.action ?? JSON.stringify(a.rollback)) : "—")))))
      : h("p", { class: "empty" }, "No action taken yet."));
}

function timeline(list) {
  return section("Timeline",
    h("p", { class: "muted" }, "Estate clock, UTC: the commander's clock (simulated in a demo)."),
    h("ol", { class: "timeline" }, list.map((t) =>
      h("li", { class: t.kind === "graph" ? null : "person" },
        h("time", { datetime: t.at }, when(t.at).slice(11)), h("span", { class: "actor" }, t.actor), h("span", {}, t.text)))));
}

function audit(list) {
  const columns = ["#", "Recorded (wall, UTC)", "Actor", "Kind", "Data", "Hash"];
  const cell = (i, props, ...children) => h("td", { ...props, "data-label": columns[i] }, ...children);
  return section("Audit trail",
    h("details", { id: "audit-details" },
      h("summary", {}, `${list.length} entries, hash-chained; recorded on the wall clock (UTC)`),
      h("table", { class: "audit reflow" },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, list.map((e) =>
          h("tr", {},
            cell(0, { class: "num" }, e.seq), cell(1, {}, when(e.at)), cell(2, {}, e.actor), cell(3, {}, label(e.kind)),
            cell(4, { class: "data" }, h("code", {}, JSON.stringify(e.data).slice(0, 160))),
            cell(5, {}, h("code", { title: e.hash }, e.hash.slice(0, 10)))))))));
}

export function renderIncident(root, got, { ask, act, me }) {
  const d = got.detail;
  root.replaceChildren(...[
    header(d),
    triage(d),
    approval(d, ask, me),
    respondPanel(d, { act, me }),
    postmortem(d),
    alerts(d.alert_list),
    h("div", { class: "columns" }, hypotheses(d.hypotheses), actions(got.actions)),
    votes(got.votes),
    charts(got.series),
    timeline(got.timeline),
    audit(got.audit)].filter(Boolean));
}

/** What an answer's failure means to the person who gave it. */
export function explain(error, verb) {
  if (!(error instanceof ApiError)) return `Could not ${verb}: ${error.message}`;
  if (error.status === 403) return `Your key cannot ${verb}: ${error.problem.detail}`;
  if (error.status === 409)
    return `Not ${verb === "approve" ? "approved" : "rejected"}: someone else answered first, or the request expired (${error.problem.detail}).`;
  return `Could not ${verb} (${error.status}): ${error.problem.detail}`;
}

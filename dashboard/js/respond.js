// Responder controls: acknowledge (take ownership), assign, add a note, resolve; shown by the caller's
// roles (GET /v1/me), each a real button or form so the keyboard reaches it.

import { FINISHED, h } from "./dom.js";

const who = (me) => `${me?.subject ?? "this key"} has ${(me?.roles ?? []).join(", ") || "no roles"}`;

/** The list row's owner cell: who acknowledged it, or an "Acknowledge" button. */
export function ownerCell(incident, { act, me }) {
  if (incident.acknowledged_by) return h("td", { class: "owner" }, incident.acknowledged_by);
  if (!me?.can_respond || FINISHED.has(incident.status)) return h("td", { class: "owner muted" }, "nobody");
  return h("td", { class: "owner" },
    h("button", { type: "button", class: "small", "aria-label": `Acknowledge ${incident.id}`, onclick: (e) => { e.target.disabled = true; act("ack", incident); } },
      "Acknowledge"));
}

/** The incident page's panel: acknowledge, assign, note, resolve. */
export function respondPanel(incident, { act, me }) {
  const id = "s-respond";
  const finished = FINISHED.has(incident.status);
  if (!me?.can_respond) {
    return h("section", { class: "panel respond", "aria-labelledby": id },
      h("h3", { id }, "Respond"),
      h("p", { class: "muted", id: "cannot-respond" },
        `Acknowledging, assigning, notes and resolving need the responder, approver or admin role; ${who(me)}.`));
  }
  const owner = incident.acknowledged_by
    ? h("p", { id: "owner" }, "Owned by ", h("strong", {}, incident.acknowledged_by), ".")
    : finished
      ? h("p", { id: "owner", class: "muted" }, "Nobody acknowledged it.")
      : h("p", { id: "owner" }, "Nobody owns it yet. ",
          h("button", { type: "button", id: "ack", class: "primary", onclick: (e) => { e.target.disabled = true; act("ack", incident); } }, "Acknowledge"));

  const assignee = h("input", { id: "assign-to", type: "text", maxlength: "200", required: true, pattern: "[\\w.@+\\-]+", placeholder: "e.g. dba@example.com", autocomplete: "off" });
  const assign = h("form", { class: "respond-form", id: "assign-form", onsubmit: async (e) => {
      e.preventDefault();
      const to = assignee.value.trim();
      if (!to) return assignee.focus();
      if (await act("assign", incident, { to })) assignee.value = "";
    } },
    h("label", { for: "assign-to" }, "Assign to (they own it from now on)"),
    assignee,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Assign")));

  const noteText = h("textarea", { id: "note-text", rows: "2", maxlength: "4000", required: true });
  const note = h("form", { class: "respond-form", id: "note-form", onsubmit: async (e) => {
      e.preventDefault();
      const text = noteText.value.trim();
      if (!text) return noteText.focus();
      if (await act("notes", incident, { text })) noteText.value = "";
    } },
    h("label", { for: "note-text" }, "Note (goes on the timeline and the audit trail)"),
    noteText,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Add note")));

  const reason = h("input", { id: "resolve-reason", type: "text", maxlength: "2000", required: true, placeholder: "e.g. fixed by hand: pool resized" });
  const resolve = finished ? null : h("form", { class: "respond-form", id: "resolve-form", onsubmit: async (e) => {
      e.preventDefault();
      const text = reason.value.trim();
      if (!text) return reason.focus();
      if (await act("resolve", incident, { reason: text })) reason.value = "";
    } },
    h("label", { for: "resolve-reason" }, "Resolve: why it is over"),
    reason,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Resolve")));

  return h("section", { class: "panel respond", "aria-labelledby": id },
    h("h3", { id }, "Respond"), owner, h("div", { class: "respond-forms" }, note, finished ? null : assign, resolve));
}

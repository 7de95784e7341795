// A tiny element builder (text always goes in as text, never as HTML) and formatters.

export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return m % 60 ? `${hours}h ${m % 60}m` : `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

export function when(iso) {
  if (!iso) return "—";
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

export const label = (status) => String(status ?? "—").replaceAll("_", " ");

export const FINISHED = new Set(["resolved", "escalated", "closed", "noise"]);

export function badge(kind, value) {
  return h("span", { class: `badge ${kind}-${value ?? "none"}` }, label(value ?? "unrated"));
}

/** Marks an incident opened by alerts that no service of the estate matches. */
export function triageBadge() {
  return h("span", { class: "badge kind-triage", title: "No service of the estate matches its alerts: a person routes it; no automatic action." }, "triage");
}

export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "panel", "aria-labelledby": id }, h("h3", { id }, title), ...children);
}

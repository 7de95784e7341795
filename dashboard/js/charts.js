// uPlot charts: an anomalous metric against its baseline, with the onset and the incident's
// marks (confirmation, actions) drawn as vertical lines.

import uPlot from "../vendor/uPlot.esm.js";
import { h, when } from "./dom.js";

const hhmm = (iso) => when(iso).slice(11, 16);
const clockAxis = (u, splits) => splits.map((s) => new Date(s * 1e3).toISOString().slice(11, 16));

const seconds = (iso) => Date.parse(iso) / 1000;
const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
const COLOURS = { onset: "#b45309", confirmed: "#6d28d9", action: "#047857" };

function verticalLines(lines) {
  return (u) => {
    const { ctx } = u;
    const top = u.bbox.top;
    const bottom = top + u.bbox.height;
    ctx.save();
    ctx.lineWidth = 2 * uPlot.pxRatio;
    ctx.font = `${11 * uPlot.pxRatio}px system-ui, sans-serif`;
    lines.forEach((line, index) => {
      const x = u.valToPos(line.x, "x", true);
      if (!Number.isFinite(x)) return;
      ctx.strokeStyle = ctx.fillStyle = COLOURS[line.kind] ?? "#111";
      ctx.setLineDash(line.kind === "onset" ? [6 * uPlot.pxRatio, 4 * uPlot.pxRatio] : []);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.fillText(line.short, x + 4 * uPlot.pxRatio, top + (12 + 12 * index) * uPlot.pxRatio);
    });
    ctx.restore();
  };
}

/** A number as a person reads it: 3 significant digits, its unit after it. */
export function amount(value, unit) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const text = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString("en") : Number(value.toPrecision(3)).toString();
  return unit ? (unit.startsWith("%") ? `${text}${unit}` : `${text} ${unit}`) : text;
}

/** Keep a chart as wide as its figure (a narrow screen, a resized window). */
function fit(plot, figure, height) {
  const observer = new ResizeObserver(() => {
    if (!figure.isConnected) return observer.disconnect();
    const width = Math.floor(figure.clientWidth);
    if (width > 0 && Math.abs(width - plot.width) > 1) plot.setSize({ width, height });
  });
  observer.observe(figure);
}

/**
 * A <figure> with the chart, its values under the cursor (hover or touch), its unit, its limit
 * if it has one, and a caption inside the figure that says in words what the lines mark.
 */
export function metricChart(metric, marks, width = 380) {
  const xs = metric.points.map((p) => seconds(p.at));
  const values = metric.points.map((p) => p.value);
  const unit = metric.unit ?? "";
  const lines = [];
  if (metric.onset_at) lines.push({ x: seconds(metric.onset_at), kind: "onset", short: "onset", text: `onset ${hhmm(metric.onset_at)}` });
  for (const mark of marks) {
    const short = mark.kind === "action" ? mark.label.split(" ")[0] : mark.label;
    lines.push({ x: seconds(mark.at), kind: mark.kind, short, text: `${mark.label} ${hhmm(mark.at)}` });
  }
  const hasLimit = metric.limit !== null && metric.limit !== undefined;
  const figure = h("figure", { class: "chart", "data-metric": `${metric.service}:${metric.metric}` });
  const height = 170;
  const value = (u, v) => amount(v, unit);
  const series = [
    { label: "time (estate, UTC)", value: (u, v) => (v === null ? "—" : new Date(v * 1e3).toISOString().slice(11, 16)) },
    { label: metric.metric, stroke: "#b91c1c", width: 2, points: { show: false }, value },
    { label: "baseline", stroke: "#6b7280", width: 1, dash: [4, 4], points: { show: false }, value },
  ];
  const data = [xs, values, xs.map(() => metric.baseline)];
  if (hasLimit) {
    series.push({ label: metric.limit_label ?? "limit", stroke: "#7f1d1d", width: 1.5, dash: [2, 3], points: { show: false }, value });
    data.push(xs.map(() => metric.limit));
  }
  const options = {
    width,
    height,
    title: `${metric.service} · ${metric.metric}${unit ? ` (${unit})` : ""}`,
    tzDate: utc,
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: { x: { time: true } },
    series,
    axes: [
      { stroke: "#374151", values: clockAxis },
      { stroke: "#374151", size: 60, values: (u, splits) => splits.map((v) => amount(v, unit.startsWith("%") ? "%" : "")), label: unit || undefined, labelSize: unit ? 18 : 0 },
    ],
    hooks: { draw: [verticalLines(lines)] },
  };
  const plot = new uPlot(options, data, figure);
  if (xs.length) plot.setLegend({ idx: xs.length - 1 }); // the latest values until a hover
  fit(plot, figure, height);
  figure.append(
    h("figcaption", {},
      `baseline ${amount(metric.baseline, unit)}, latest ${values.length ? amount(values.at(-1), unit) : "—"}`,
      hasLimit ? `, ${metric.limit_label ?? "limit"} ${amount(metric.limit, unit)}` : "",
      "; ",
      lines.map((line) => h("span", { class: `mark mark-${line.kind}` }, line.text)),
    ),
  );
  return figure;
}

/** A small line chart of (time, value) pairs; for the overview's MTTR trend. */
export function trendChart(title, points, unit, width = 520) {
  const figure = h("figure", { class: "chart" });
  const options = {
    width,
    height: 180,
    title,
    tzDate: utc,
    legend: { show: true, live: true },
    scales: { x: { time: true } },
    series: [
      { label: "opened (estate, UTC)", value: (u, v) => (v === null ? "—" : when(new Date(v * 1e3).toISOString()).slice(5, 16)) },
      { label: unit, stroke: "#1d4ed8", width: 2, points: { show: true, size: 7 }, value: (u, v) => amount(v, unit === "minutes" ? "min" : unit) },
    ],
    axes: [{ stroke: "#374151", values: (u, splits) => splits.map((s) => when(new Date(s * 1e3).toISOString()).slice(5, 16)) }, { stroke: "#374151", size: 56, label: unit }],
  };
  const plot = new uPlot(options, [points.map((p) => seconds(p.at)), points.map((p) => p.value)], figure);
  fit(plot, figure, 180);
  return figure;
}

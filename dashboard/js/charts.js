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

/** A <figure> with the chart and a caption that says in words what the lines mark. */
export function metricChart(metric, marks, width = 380) {
  const xs = metric.points.map((p) => seconds(p.at));
  const values = metric.points.map((p) => p.value);
  const lines = [];
  if (metric.onset_at) lines.push({ x: seconds(metric.onset_at), kind: "onset", short: "onset", text: `onset ${hhmm(metric.onset_at)}` });
  for (const mark of marks) {
    const short = mark.kind === "action" ? mark.label.split(" ")[0] : mark.label;
    lines.push({ x: seconds(mark.at), kind: mark.kind, short, text: `${mark.label} ${hhmm(mark.at)}` });
  }
  const figure = h("figure", { class: "chart" });
  const options = {
    width,
    height: 170,
    title: `${metric.service} · ${metric.metric}`,
    tzDate: utc,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    series: [
      {},
      { label: metric.metric, stroke: "#b91c1c", width: 2, points: { show: false } },
      { label: "baseline", stroke: "#6b7280", width: 1, dash: [4, 4], points: { show: false } },
    ],
    axes: [{ stroke: "#374151", values: clockAxis }, { stroke: "#374151", size: 56 }],
    hooks: { draw: [verticalLines(lines)] },
  };
  new uPlot(options, [xs, values, xs.map(() => metric.baseline)], figure);
  figure.append(
    h("figcaption", {},
      `baseline ${metric.baseline.toPrecision(3)}, latest ${values.length ? values.at(-1).toPrecision(3) : "—"}; `,
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
    legend: { show: false },
    scales: { x: { time: true } },
    series: [{}, { label: unit, stroke: "#1d4ed8", width: 2, points: { show: true, size: 7 } }],
    axes: [{ stroke: "#374151", values: (u, splits) => splits.map((s) => when(new Date(s * 1e3).toISOString()).slice(5, 16)) }, { stroke: "#374151", size: 56, label: unit }],
  };
  new uPlot(options, [points.map((p) => seconds(p.at)), points.map((p) => p.value)], figure);
  return figure;
}

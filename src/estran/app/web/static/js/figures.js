// The figures panel: the agreement's numbers (GET /stats, grouped by hour) and charts of
// detections and interceptions over time, the proportion intercepted and response times.
/* global uPlot */
import { api } from "./api.js";
import { $, esc } from "./dom.js";
import { num as localNum, t } from "./i18n.js";

// Times are 24-hour UTC (the watch floor's clock), dates day/month: never 1pm or 11/30/26.
const two = (n) => String(n).padStart(2, "0");
export const utcTicks = (u, splits) => splits.map((s, i) => {
  const d = new Date(s * 1000);
  const hm = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
  const prev = i > 0 ? new Date(splits[i - 1] * 1000) : null;
  return !prev || prev.getUTCDate() !== d.getUTCDate() ? `${hm}\n${two(d.getUTCDate())}/${two(d.getUTCMonth() + 1)}` : hm;
});
// A percentage as the reader writes it: "42 %" in French, "42%" in English.
const pct = (x) => (x === null || x === undefined ? "—"
  : `${Math.round(x * 100)}${document.documentElement.lang === "fr" ? "\u202f%" : "%"}`);
const num = (x, d = 0) => (x === null || x === undefined ? "—" : localNum(x, d));

export class Figures {
  constructor() { this.plots = []; this.last = null; }

  async refresh(store) {
    let stats;
    try { stats = await api("/api/v1/stats?by=hour"); } catch (e) {
      $("tiles").innerHTML = `<div class="error">${esc(e.message)}</div>`;
      return;
    }
    this.last = stats;
    $("tiles").innerHTML = [
      ["attempts", stats.attempts_detected, t("fig.attempts")],
      ["intercepted", stats.attempts_intercepted, t("fig.intercepted")],
      ["proportion", pct(stats.proportion_intercepted), t("fig.proportion", { lo: pct(stats.proportion_ci95?.[0]), hi: pct(stats.proportion_ci95?.[1]) })],
      ["response", num(stats.response_minutes_median, 1), t("fig.response")],
      ["launches", stats.launches, t("fig.launches")],
      ["rescues", stats.rescue_referrals, t("fig.rescues")],
    ].map(([k, v, label]) => `<div class="tile" data-figure="${k}"><b>${esc(v ?? "—")}</b><span>${esc(label)}</span></div>`).join("");
    this.draw(stats, store);
  }

  draw(stats, store) {
    const hours = new Map();
    const slot = (at) => Math.floor(Date.parse(at) / 3600000) * 3600;
    const row = (h) => hours.get(h) || hours.set(h, { det: 0, icp: 0, att: 0, prop: null, resp: null }).get(h);
    for (const d of store.all("detection")) row(slot(d.observed_at)).det += 1;
    for (const [key, g] of Object.entries(stats.groups || {})) {
      const r = row(slot(`${key}:00:00Z`));
      r.icp = g.attempts_intercepted; r.att = g.attempts_detected;
      r.prop = g.proportion_intercepted; r.resp = g.response_minutes_median;
    }
    // Every hour from the first with data (at least the last six) to now, empty ones as zero.
    const end = Math.max(Math.floor(Date.now() / 3600000) * 3600, ...hours.keys());
    const first = Math.min(end - 5 * 3600, ...hours.keys());
    const xs = [];
    for (let h = first; h <= end; h += 3600) { row(h); xs.push(h); }
    const col = (f) => xs.map((x) => hours.get(x)[f]);
    for (const p of this.plots) p.destroy();
    this.plots = [];
    const charts = $("charts");
    charts.innerHTML = "";
    const width = Math.max(260, charts.clientWidth - 8);
    const axis = { stroke: "#8a98a6", grid: { stroke: "rgba(128,140,150,.18)" }, ticks: { stroke: "rgba(128,140,150,.3)" } };
    const chart = (title, series, data, opts = {}) => {
      const h = document.createElement("h4");
      h.textContent = title;
      const box = document.createElement("div");
      charts.append(h, box);
      const x = { ...axis, values: utcTicks, label: "UTC", labelSize: 14, size: 44 };
      this.plots.push(new uPlot({ width, height: 170, series: [{ label: "UTC", value: (u, v) => (v == null ? "—" : utcTicks(u, [v])[0].replace("\n", " ")) }, ...series],
        axes: [x, { ...axis, size: 56, ...opts }],
        scales: { x: { time: true, range: [first - 1800, end + 1800] } },
        legend: { show: true }, cursor: { drag: { x: false, y: false } } }, [xs, ...data], box));
    };
    chart(t("fig.chart.per_hour"),
      [{ label: t("fig.s.detections"), stroke: "#f2c14e", fill: "rgba(242,193,78,.15)" }, { label: t("fig.s.attempts"), stroke: "#d9772e" }, { label: t("fig.s.intercepted"), stroke: "#5fae6a", width: 2 }],
      [col("det"), col("att"), col("icp")]);
    chart(t("fig.chart.proportion"), [{ label: t("fig.s.intercepted"), stroke: "#5fae6a", width: 2, value: (u, v) => pct(v) }],
      [col("prop")], { values: (u, vs) => vs.map((v) => pct(v)) });
    chart(t("fig.chart.response"), [{ label: t("fig.s.minutes"), stroke: "#4aa3e0", width: 2 }], [col("resp")]);
  }
}

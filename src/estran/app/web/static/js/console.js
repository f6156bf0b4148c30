// The console: incidents by priority (rescue first), the selected incident's reports, units
// ranked by ETA with the reason, tasking as the role allows, and the duty log.
import { api } from "./api.js";
import { byPriority } from "./store.js";
import { fmtEta, IMPACT_COLOURS, marking } from "./map.js";
import { $, esc } from "./dom.js";
import { t, tv } from "./i18n.js";

// A task's 4-character code, as the server derives it (domain/vocab.py task_code): what a
// patrol types to acknowledge it, and what the console shows instead of a 41-character id.
const CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679";
const codes = new Map();
export function taskCode(id, ready) {
  if (codes.has(id)) return codes.get(id);
  codes.set(id, id.slice(-6));  // until the digest is known (or where there is no WebCrypto)
  if (globalThis.crypto && crypto.subtle) {
    crypto.subtle.digest("SHA-256", new TextEncoder().encode(id)).then((buf) => {
      let n = new DataView(buf).getBigUint64(0);
      const base = BigInt(CODE_ALPHABET.length);
      let out = "";
      for (let i = 0; i < 4; i++) { out += CODE_ALPHABET[Number(n % base)]; n /= base; }
      codes.set(id, out);
      if (ready) ready();
    });
  }
  return codes.get(id);
}

const hhmm = (at) => (at ? at.slice(11, 16) : "");

export class Console {
  constructor({ me, map, toast }) {
    Object.assign(this, { me, map, toast });
    this.selected = null;
    this.recs = null;
    this.listEl = $("incidents");
    this.detailEl = $("detail");
    const may = (a) => me.actions.includes(a);
    const creates = (k) => me.may_create.includes("*") || me.may_create.includes(k);
    this.canTask = may("task") && creates("task");
    this.canPropose = may("propose") && creates("task");
    this.canReview = may("update") && (me.may_update.includes("*") || me.may_update.includes("detection"));
    this.canLog = creates("log_entry") && (may("comment") || may("report") || may("create"));
    $("log-form").hidden = !this.canLog;
    $("log-form").addEventListener("submit", (e) => { e.preventDefault(); this.addLog(); });
  }

  setStore(store, live) { this.store = store; this.live = live; this.render(); }

  incidents() {
    const all = this.store.all("incident");
    const open = all.filter((r) => r.status !== "closed").sort(byPriority);
    const closed = all.filter((r) => r.status === "closed").sort(byPriority).slice(0, 30);
    return [...open, ...closed];
  }

  render() {
    const list = this.incidents();
    $("incident-count").textContent = String(list.filter((r) => r.status !== "closed").length);
    const rescue = new Set(this.store.all("rescue_case").filter((c) => c.status !== "closed").map((c) => c.incident_id));
    this.listEl.innerHTML = list.map((r) => {
      const sea = r.life_at_sea || rescue.has(r.id);
      return `<li data-id="${esc(r.id)}" tabindex="-1" class="${sea ? "sea" : ""} ${r.status === "closed" ? "closed" : ""} ${r.id === this.selected ? "selected" : ""}">
        <span class="dot" style="background:${IMPACT_COLOURS[r.impact] || "#888"}"></span>
        <span>${sea ? "⚠ " : ""}<b>${esc(tv("type", r.type))}</b><small>${esc(r.id)} · ${esc(tv("impact", r.impact))} · ${esc(t("inc.people", { count: r.count ?? "?" }))} · ${esc(tv("status", r.status))}</small></span>
        <small>${hhmm(r.observed_at)}</small></li>`;
    }).join("");
    for (const li of this.listEl.children) li.addEventListener("click", () => this.select(li.dataset.id));
    if (this.selected) this.renderDetail();
    this.renderLog();
  }

  move(step) {
    const ids = this.incidents().map((r) => r.id);
    if (!ids.length) return;
    const i = ids.indexOf(this.selected);
    this.select(ids[(i + step + ids.length) % ids.length] ?? ids[0]);
  }

  async select(id) {
    this.selected = id;
    this.recs = null;
    this.map.select(id, this.store);
    for (const li of this.listEl.children) li.classList.toggle("selected", li.dataset.id === id);
    const li = [...this.listEl.children].find((x) => x.dataset.id === id);
    if (li) li.scrollIntoView({ block: "nearest" });
    this.renderDetail();
    if (!this.live) return;
    try {
      this.recs = await api(`/api/v1/incidents/${encodeURIComponent(id)}/recommendations`);
    } catch (e) {
      this.recs = { error: e.message };
    }
    if (this.selected === id) {
      this.renderDetail();
      this.map.showRoutes(this.recs.proposed || []);
    }
  }

  close() {
    this.selected = null;
    this.detailEl.hidden = true;
    this.map.select(null, this.store);
    this.map.showRoutes([]);
  }

  renderDetail() {
    const r = this.store.get("incident", this.selected);
    const el = this.detailEl;
    if (!r) { el.hidden = true; return; }
    const dets = (r.detection_ids || []).map((d) => this.store.get("detection", d)).filter(Boolean);
    const logs = this.store.all("log_entry").filter((l) => l.incident_id === r.id);
    const tasks = this.store.all("task").filter((k) => k.incident_id === r.id);
    const cases = this.store.all("rescue_case").filter((c) => c.incident_id === r.id);
    const reports = [
      ...dets.map((d) => ({ at: d.observed_at, det: d, text: t("inc.detection", { cls: tv("class", d.class), count: d.count ?? "?", pct: Math.round(d.confidence * 100), sensor: d.sensor_id }) })),
      ...logs.map((l) => ({ at: l.observed_at, text: `${l.role}: ${l.text}` })),
    ].sort((a, b) => (a.at < b.at ? 1 : -1)).slice(0, 12);
    const html = `
      ${r.life_at_sea || cases.length ? `<div class="banner-sea">${esc(t("rescue.banner"))} ${cases.map((c) => esc(c.id) + " " + esc(tv("phase", c.phase)) + " (" + esc(c.centre_agency_id) + ")" + (c.escalations ? ` · ${esc(t("rescue.escalated", { n: c.escalations }))}` : "") + ` · ${esc(tv("status", c.status))}`).join(", ") || esc(t("rescue.opening"))}${this.ackHtml(cases)}</div>` : ""}
      <h2>${esc(tv("type", r.type))} <small class="muted">${esc(r.id)}</small></h2>
      <div>${marking(r)} <span class="badge">${esc(t("inc.impact", { impact: tv("impact", r.impact) }))}</span> <span class="badge">${esc(tv("status", r.status))}</span> <span class="badge">${esc(t("inc.people", { count: r.count ?? "?" }))}</span> <span class="badge">${esc(r.owner_agency_id)}</span></div>
      ${r.summary ? `<div>${esc(r.summary)}</div>` : ""}
      <div class="note">${r.position.lat.toFixed(5)}, ${r.position.lon.toFixed(5)} · ${esc(t("inc.opened", { at: r.created_at.slice(0, 19).replace("T", " ") + " UTC" }))}</div>
      <h3>${esc(t("inc.reports"))}</h3>
      <table id="reports">${reports.map((x) => `<tr><td class="eta">${hhmm(x.at)}</td><td>${esc(x.text)}${x.det ? this.reviewHtml(x.det) : ""}</td></tr>`).join("") || `<tr><td class='muted'>${esc(t("inc.none"))}</td></tr>`}</table>
      <h3>${esc(t("inc.tasks"))}</h3>
      <table id="tasks">${tasks.map((k) => {
        const u = this.store.get("unit", k.unit_id);
        return `<tr data-task="${esc(k.id)}"><td>${esc(u ? u.callsign : k.unit_id)}</td><td>${esc(tv("status", k.status))}</td><td class="note code" title="${esc(k.id)}">${esc(taskCode(k.id, () => this.renderDetail()))}</td></tr>`;
      }).join("") || `<tr><td class='muted'>${esc(t("inc.none"))}</td></tr>`}</table>
      <h3>${esc(t("inc.units"))}</h3>
      ${this.recsHtml(r)}`;
    el.hidden = false;
    if (el.dataset.html === html) return;  // unchanged: keep the buttons under the pointer
    el.dataset.html = html;
    el.innerHTML = html;
    for (const b of el.querySelectorAll("button[data-unit]")) {
      b.addEventListener("click", () => this.dispatch(b.dataset.unit, b.dataset.act));
    }
    for (const b of el.querySelectorAll("button[data-ack]")) {
      b.addEventListener("click", () => this.acknowledge(b.dataset.ack));
    }
    for (const b of el.querySelectorAll("button[data-review]")) {
      b.addEventListener("click", () => this.review(b.dataset.review, b.dataset.act));
    }
    // A thumbnail past retention (or never kept) is simply not shown.
    for (const img of el.querySelectorAll("img.chip")) img.addEventListener("error", () => img.remove());
  }

  // A drone's thermal detection: its thumbnail (fetched from the server, which audits the
  // view and keeps it only for the imagery period) and the operator's verdict.
  reviewHtml(d) {
    const sensor = this.store.get("sensor", d.sensor_id);
    if (!sensor || sensor.kind !== "drone_thermal") return "";
    const verdict = d.review && d.review !== "unreviewed" ? `<span class="badge">${esc(tv("status", d.review))}</span>` : "";
    const buttons = this.canReview && this.live && (!d.review || d.review === "unreviewed")
      ? ` <button data-review="${esc(d.id)}" data-act="confirmed">${esc(t("review.confirm"))}</button> <button data-review="${esc(d.id)}" data-act="dismissed">${esc(t("review.dismiss"))}</button>`
      : "";
    return `<div class="chip-row"><img class="chip" alt="${esc(t("review.thumb"))}" loading="lazy" src="/api/v1/detections/${encodeURIComponent(d.id)}/chip">${verdict}${buttons}</div>`;
  }

  // The rescue centre that owns a case acknowledges it from here (which stops its escalation);
  // the server decides, as everywhere.
  ackHtml(cases) {
    if (!this.live || this.me.role !== "rescue_liaison") return "";
    return cases.filter((c) => c.status === "open" && c.centre_agency_id === this.me.agency_id)
      .map((c) => ` <button class="primary" data-ack="${esc(c.id)}">${esc(t("rescue.ack"))}</button>`).join("");
  }

  async acknowledge(id) {
    try {
      await api(`/api/v1/rescue_cases/${encodeURIComponent(id)}`, { method: "PATCH", body: { status: "acknowledged" } });
      this.toast(t("rescue.acked", { id }));
    } catch (err) {
      this.toast(t("act.refused", { message: err.message }), true);
    }
  }

  async review(id, verdict) {
    try {
      await api(`/api/v1/detections/${encodeURIComponent(id)}`, { method: "PATCH", body: { review: verdict } });
      this.toast(t("review.done", { verdict: tv("status", verdict) }));
    } catch (err) {
      this.toast(t("act.refused", { message: err.message }), true);
    }
  }

  recsHtml(r) {
    if (!this.live) return `<div class="note">${esc(t("recs.replay"))}</div>`;
    if (r.status === "closed") return `<div class="note">${esc(t("recs.closed"))}</div>`;
    if (!this.recs) return `<div class="note">${esc(t("recs.computing"))}</div>`;
    if (this.recs.error) {
      return r.life_at_sea
        ? `<div class="note">${esc(t("recs.at_sea"))} ${esc(this.recs.error)}</div>`
        : `<div class="error">${esc(this.recs.error)}</div>`;
    }
    const proposed = new Set((this.recs.proposed || []).map((u) => u.unit_id));
    const rows = [...(this.recs.proposed || []), ...(this.recs.ranked || []).filter((u) => !proposed.has(u.unit_id) && u.reachable)].slice(0, 10);
    const body = rows.map((u) => {
      const buttons = [];
      const own = u.agency_id === this.me.agency_id;
      if (this.canTask && own) buttons.push(`<button class="primary" data-unit="${esc(u.unit_id)}" data-act="send">${esc(t("act.task"))}</button>`);
      else if (this.canPropose) buttons.push(`<button data-unit="${esc(u.unit_id)}" data-act="propose">${esc(t("act.propose"))}</button>`);
      return `<tr data-unit-row="${esc(u.unit_id)}"><td>${proposed.has(u.unit_id) ? "★ " : ""}<b>${esc(u.callsign)}</b><div class="why">${esc(u.why || u.reason)}</div></td>
        <td class="eta">${fmtEta(u.eta_s)}</td><td class="act">${buttons.join(" ")}</td></tr>`;
    }).join("");
    const unfilled = (this.recs.unfilled || []).map((x) => `<div class="note">${esc(t("recs.unfilled", { why: x.why }))}</div>`).join("");
    const role = this.canTask ? "" : this.canPropose ? `<div class="note">${esc(t("recs.proposes"))}</div>` : `<div class="note">${esc(t("recs.cannot"))}</div>`;
    return `<table id="recs">${body || `<tr><td class='muted'>${esc(t("recs.none"))}</td></tr>`}</table>${unfilled}${role}<div class="note">${esc(this.recs.note || "")}</div>`;
  }

  // The first recommended action (keyboard ``s``).
  quickAction() {
    const b = this.detailEl.querySelector("button[data-unit]");
    if (b) b.click(); else this.toast(t("act.nothing"), true);
  }

  async dispatch(unitId, act) {
    const incident = this.selected;
    const id = `task-${crypto.randomUUID()}`;
    const create = { type: "task.created", entity_id: id, data: { incident_id: incident, unit_id: unitId } };
    try {
      if (act === "send") {
        await api("/api/v1/events", { method: "POST", body: [create, { type: "task.updated", entity_id: id, data: { status: "sent" } }] });
      } else {
        await api("/api/v1/tasks", { method: "POST", body: { incident_id: incident, unit_id: unitId } });
      }
      const u = this.store.get("unit", unitId);
      this.toast(t(act === "send" ? "act.tasked" : "act.proposed", { unit: u ? u.callsign : unitId }));
      if (this.selected === incident) this.select(incident);  // the unit is committed now
    } catch (e) {
      this.toast(t("act.refused", { message: e.message }), true);
    }
  }

  renderLog() {
    const entries = this.store.all("log_entry").sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).slice(0, 200);
    $("log").innerHTML = entries.map((l) => `<li><small>${esc(l.created_at.slice(0, 16).replace("T", " "))} UTC · ${esc(l.role)} · ${esc(tv("log", l.log))}${l.incident_id ? " · " + esc(l.incident_id) : ""}</small>${esc(l.text)}</li>`).join("") || `<li class='muted'>${esc(t("log.empty"))}</li>`;
  }

  async addLog() {
    const text = $("log-text").value.trim();
    if (!text) return;
    try {
      await api("/api/v1/log_entries", { method: "POST", body: { log: "duty", role: this.me.role, text } });
      $("log-text").value = "";
      this.toast(t("log.logged"));
    } catch (e) {
      this.toast(t("act.refused", { message: e.message }), true);
    }
  }
}

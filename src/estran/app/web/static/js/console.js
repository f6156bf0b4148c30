// The console: incidents by priority (rescue first), the selected incident's reports, units
// ranked by ETA with the reason, tasking as the role allows, and the duty log.
import { api } from "./api.js";
import { byPriority } from "./store.js";
import { fmtEta, IMPACT_COLOURS, marking } from "./map.js";
import { $, esc } from "./dom.js";

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

const words = (s) => String(s ?? "").replace(/_/g, " ");
const hhmm = (t) => (t ? t.slice(11, 16) : "");

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
        <span>${sea ? "⚠ " : ""}<b>${esc(words(r.type))}</b><small>${esc(r.id)} · ${esc(words(r.impact))} · ${esc(r.count ?? "?")} people · ${esc(r.status)}</small></span>
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
    const tasks = this.store.all("task").filter((t) => t.incident_id === r.id);
    const cases = this.store.all("rescue_case").filter((c) => c.incident_id === r.id);
    const reports = [
      ...dets.map((d) => ({ t: d.observed_at, det: d, text: `${words(d.class)} × ${d.count ?? "?"} (conf ${Math.round(d.confidence * 100)}%) from ${d.sensor_id}` })),
      ...logs.map((l) => ({ t: l.observed_at, text: `${l.role}: ${l.text}` })),
    ].sort((a, b) => (a.t < b.t ? 1 : -1)).slice(0, 12);
    const html = `
      ${r.life_at_sea || cases.length ? `<div class="banner-sea">LIFE AT SEA — rescue case ${cases.map((c) => esc(c.id) + " " + esc(c.phase) + " (" + esc(c.centre_agency_id) + ")" + (c.escalations ? ` · escalated ×${esc(c.escalations)}` : "") + ` · ${esc(c.status)}`).join(", ") || "opening"}${this.ackHtml(cases)}</div>` : ""}
      <h2>${esc(words(r.type))} <small class="muted">${esc(r.id)}</small></h2>
      <div>${marking(r)} <span class="badge">impact ${esc(words(r.impact))}</span> <span class="badge">${esc(r.status)}</span> <span class="badge">${esc(r.count ?? "?")} people</span> <span class="badge">${esc(r.owner_agency_id)}</span></div>
      ${r.summary ? `<div>${esc(r.summary)}</div>` : ""}
      <div class="note">${r.position.lat.toFixed(5)}, ${r.position.lon.toFixed(5)} · opened ${esc(r.created_at)}</div>
      <h3>Reports</h3>
      <table id="reports">${reports.map((x) => `<tr><td class="eta">${hhmm(x.t)}</td><td>${esc(x.text)}${x.det ? this.reviewHtml(x.det) : ""}</td></tr>`).join("") || "<tr><td class='muted'>none</td></tr>"}</table>
      <h3>Tasks</h3>
      <table id="tasks">${tasks.map((t) => {
        const u = this.store.get("unit", t.unit_id);
        return `<tr data-task="${esc(t.id)}"><td>${esc(u ? u.callsign : t.unit_id)}</td><td>${esc(words(t.status))}</td><td class="note code" title="${esc(t.id)}">${esc(taskCode(t.id, () => this.renderDetail()))}</td></tr>`;
      }).join("") || "<tr><td class='muted'>none</td></tr>"}</table>
      <h3>Units by time to arrive</h3>
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
    const verdict = d.review && d.review !== "unreviewed" ? `<span class="badge">${esc(d.review)}</span>` : "";
    const buttons = this.canReview && this.live && (!d.review || d.review === "unreviewed")
      ? ` <button data-review="${esc(d.id)}" data-act="confirmed">Confirm</button> <button data-review="${esc(d.id)}" data-act="dismissed">Dismiss</button>`
      : "";
    return `<div class="chip-row"><img class="chip" alt="thermal thumbnail" loading="lazy" src="/api/v1/detections/${encodeURIComponent(d.id)}/chip">${verdict}${buttons}</div>`;
  }

  // The rescue centre that owns a case acknowledges it from here (which stops its escalation);
  // the server decides, as everywhere.
  ackHtml(cases) {
    if (!this.live || this.me.role !== "rescue_liaison") return "";
    return cases.filter((c) => c.status === "open" && c.centre_agency_id === this.me.agency_id)
      .map((c) => ` <button class="primary" data-ack="${esc(c.id)}">Acquitter / Acknowledge</button>`).join("");
  }

  async acknowledge(id) {
    try {
      await api(`/api/v1/rescue_cases/${encodeURIComponent(id)}`, { method: "PATCH", body: { status: "acknowledged" } });
      this.toast(`Acquitté / Acknowledged ${id}`);
    } catch (err) {
      this.toast(`Refused: ${err.message}`, true);
    }
  }

  async review(id, verdict) {
    try {
      await api(`/api/v1/detections/${encodeURIComponent(id)}`, { method: "PATCH", body: { review: verdict } });
      this.toast(`Detection ${verdict}`);
    } catch (err) {
      this.toast(`Refused: ${err.message}`, true);
    }
  }

  recsHtml(r) {
    if (!this.live) return `<div class="note">Replay: the picture as it was; tasking is live only.</div>`;
    if (r.status === "closed") return `<div class="note">Closed.</div>`;
    if (!this.recs) return `<div class="note">computing routes…</div>`;
    if (this.recs.error) {
      return r.life_at_sea
        ? `<div class="note">At sea, beyond the land units' reach: the rescue centre leads. ${esc(this.recs.error)}</div>`
        : `<div class="error">${esc(this.recs.error)}</div>`;
    }
    const proposed = new Set((this.recs.proposed || []).map((u) => u.unit_id));
    const rows = [...(this.recs.proposed || []), ...(this.recs.ranked || []).filter((u) => !proposed.has(u.unit_id) && u.reachable)].slice(0, 10);
    const body = rows.map((u) => {
      const buttons = [];
      const own = u.agency_id === this.me.agency_id;
      if (this.canTask && own) buttons.push(`<button class="primary" data-unit="${esc(u.unit_id)}" data-act="send">Task</button>`);
      else if (this.canPropose) buttons.push(`<button data-unit="${esc(u.unit_id)}" data-act="propose">Propose</button>`);
      return `<tr data-unit-row="${esc(u.unit_id)}"><td>${proposed.has(u.unit_id) ? "★ " : ""}<b>${esc(u.callsign)}</b><div class="why">${esc(u.why || u.reason)}</div></td>
        <td class="eta">${fmtEta(u.eta_s)}</td><td class="act">${buttons.join(" ")}</td></tr>`;
    }).join("");
    const unfilled = (this.recs.unfilled || []).map((x) => `<div class="note">unfilled: ${esc(x.why)}</div>`).join("");
    const role = this.canTask ? "" : this.canPropose ? `<div class="note">Your role proposes; a commander of the unit's agency tasks.</div>` : `<div class="note">Your role cannot task or propose.</div>`;
    return `<table id="recs">${body || "<tr><td class='muted'>no unit can reach it</td></tr>"}</table>${unfilled}${role}<div class="note">${esc(this.recs.note || "")}</div>`;
  }

  // The first recommended action (keyboard ``s``).
  quickAction() {
    const b = this.detailEl.querySelector("button[data-unit]");
    if (b) b.click(); else this.toast("nothing to task here", true);
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
      this.toast(`${act === "send" ? "Tasked" : "Proposed"} ${u ? u.callsign : unitId}`);
      if (this.selected === incident) this.select(incident);  // the unit is committed now
    } catch (e) {
      this.toast(`Refused: ${e.message}`, true);
    }
  }

  renderLog() {
    const entries = this.store.all("log_entry").sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).slice(0, 200);
    $("log").innerHTML = entries.map((l) => `<li><small>${esc(l.created_at.slice(0, 16).replace("T", " "))} · ${esc(l.role)} · ${esc(l.log)}${l.incident_id ? " · " + esc(l.incident_id) : ""}</small>${esc(l.text)}</li>`).join("") || "<li class='muted'>empty</li>";
  }

  async addLog() {
    const text = $("log-text").value.trim();
    if (!text) return;
    try {
      await api("/api/v1/log_entries", { method: "POST", body: { log: "duty", role: this.me.role, text } });
      $("log-text").value = "";
      this.toast("Logged");
    } catch (e) {
      this.toast(`Refused: ${e.message}`, true);
    }
  }
}

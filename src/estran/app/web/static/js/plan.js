// Tonight's plan: publish it (commanders and operators), read each post's why, and accept or
// decline posts for your own agency's units (commanders: accepting is tasking). The server
// decides every request; the buttons only offer what the role may do.
import { api } from "./api.js";
import { $, esc } from "./dom.js";
import { local, t, tv } from "./i18n.js";

export class PlanPanel {
  constructor({ me, map, toast }) {
    Object.assign(this, { me, map, toast });
    const may = (a) => me.actions.includes(a);
    const creates = (k) => me.may_create.includes("*") || me.may_create.includes(k);
    this.canPlan = may("propose") && creates("post");
    this.canAccept = may("task");
    this.latest = null;
    this.el = $("plan");
    $("plan-publish").hidden = !this.canPlan;
    $("plan-publish").onclick = () => this.publish();
    this.el.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-post]");
      if (b) this.decide(b.dataset.post, b.dataset.act);
    });
  }

  setStore(store) { this.store = store; this.render(); }

  async refresh() {
    this.unreleased = false;
    try {
      this.latest = await api("/api/v1/plans/latest");
    } catch (e) {
      this.latest = null;
      this.unreleased = Boolean(e.details && e.details.some((d) => d.released === false));
    }
    this.map.setPlan(this.latest);
    this.render();
  }

  async publish() {
    const b = $("plan-publish");
    b.disabled = true;
    b.textContent = t("plan.planning");
    // A plan asked for while the coverage model is still prepared waits for it: show how far.
    const poll = setInterval(() => this.showPreparing(b), 1000);
    try {
      this.latest = await api("/api/v1/plans", { method: "POST", body: { method: "ahead" } });
      this.map.setPlan(this.latest);
      this.toast(t("plan.published", { n: this.latest.posts.filter((p) => p.id).length }));
    } catch (err) {
      this.toast(t("plan.refused", { message: err.message }), true);
    } finally {
      clearInterval(poll);
      b.disabled = false;
      b.textContent = t("plan.publish");
      this.render();
    }
  }

  async showPreparing(b) {
    try {
      const s = await api("/api/v1/plans/status");
      if (b.disabled && s.coverage_model !== "ready") {
        b.textContent = t("plan.preparing", { pct: Math.round((s.progress || 0) * 100) });
      }
    } catch (e) { /* the plan's own answer says what went wrong */ }
  }

  async decide(id, status) {
    try {
      await api(`/api/v1/posts/${encodeURIComponent(id)}`, { method: "PATCH", body: { status } });
      this.toast(t("post.decided", { status: tv("status", status) }));
    } catch (err) {
      this.toast(t("act.refused", { message: err.message }), true);
    }
  }

  // What the plan learnt of the organisers from the centre's own nights (their tastes with
  // the fit's uncertainty, how long they remember, how far they watch, how much of tonight
  // they see), beside what the scenario assumed; or why nothing was learnt yet.
  organisers() {
    const o = this.latest && this.latest.organisers;
    if (!o) return "";
    const title = `<b>${esc(t("plan.org.title"))}</b>`;
    if (!o.learnt) {
      return `<div class="organisers" data-organisers="assumed">${title}
        <div class="note">${esc(t("plan.org.few", { found: o.found, min: o.min_found, nights: o.nights }))}</div></div>`;
    }
    const num = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
    const rows = [
      ...["cover", "road", "aversion"].map((k) => [t(`plan.org.${k}`),
        `${num(o.weights[k].learnt, 1)} ± ${num(o.weights[k].sd, 1)}`, num(o.weights[k].assumed, 1)]),
      [t("plan.org.memory"), num(o.memory.learnt, 1), num(o.memory.assumed, 1)],
      [t("plan.org.radius"), num(o.watch_radius_m.learnt / 1000, 1), num(o.watch_radius_m.assumed / 1000, 1)],
      ...(o.tonight ? [[t("plan.org.tonight"), num(o.tonight.learnt, 1), num(o.tonight.assumed, 1)]] : []),
    ].map(([name, got, want]) => `<tr><th>${esc(name)}</th><td>${esc(got)}</td><td>${esc(want)}</td></tr>`).join("");
    return `<div class="organisers" data-organisers="learnt">${title}
      <small>${esc(t("plan.org.learnt", { found: o.found, nights: o.nights }))}</small>
      <table><thead><tr><th></th><th>${esc(t("plan.org.col.learnt"))}</th><th>${esc(t("plan.org.col.assumed"))}</th></tr></thead>
      <tbody>${rows}</tbody></table></div>`;
  }

  render() {
    if (!this.store) return;
    const planId = this.latest ? this.latest.plan_id : null;
    const posts = this.store.all("post").filter((p) => (planId ? p.plan_id === planId : p.status === "proposed" || p.status === "accepted"));
    const head = this.latest
      ? `<div class="plan-head"><b>${esc(this.latest.plan_id)}</b> · ${esc(this.latest.method)}<br>
         ${esc(t("plan.head", { pct: Math.round((this.latest.drawn_proportion ?? this.latest.model_proportion) * 100), units: this.latest.units }))} ·
         ${esc(this.latest.history_attempts ? t("plan.history", { n: this.latest.history_attempts }) : t("plan.scenario"))}</div>`
      : this.unreleased
        ? `<div class="note">${esc(t("plan.unreleased"))}</div>`
        : `<div class="note">${esc(t(this.canPlan ? "plan.none.publish" : "plan.none"))}</div>`;
    const rows = posts.sort((a, b) => a.unit_id.localeCompare(b.unit_id)).map((p) => {
      const unit = this.store.get("unit", p.unit_id);
      const own = unit && unit.agency_id === this.me.agency_id;
      const acts = p.status === "proposed" && this.canAccept && own
        ? `<button class="primary" data-post="${esc(p.id)}" data-act="accepted">${esc(t("plan.accept"))}</button> <button data-post="${esc(p.id)}" data-act="declined">${esc(t("plan.decline"))}</button>`
        : "";
      return `<li data-post-row="${esc(p.id)}" class="${esc(p.status)}"><b>${esc(unit ? unit.callsign : p.unit_id)}</b>
        <small>${esc(unit ? tv("kind", unit.kind) : "")} · ${esc(tv("status", p.status))} · ${esc(t("plan.manned", { pct: Math.round((p.manned_share || 0) * 100) }))}</small>
        <div class="why">${esc(local(p, "why"))}</div>${acts}</li>`;
    }).join("");
    const html = head + this.organisers() + `<ol class="posts">${rows}</ol>`;
    if (this.el.dataset.html === html) return;
    this.el.dataset.html = html;
    this.el.innerHTML = html;
  }
}

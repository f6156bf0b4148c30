// Tonight's plan: publish it (commanders and operators), read each post's why, and accept or
// decline posts for your own agency's units (commanders: accepting is tasking). The server
// decides every request; the buttons only offer what the role may do.
import { api } from "./api.js";
import { $, esc } from "./dom.js";

const words = (s) => String(s ?? "").replace(/_/g, " ");

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
    b.textContent = "Planning…";
    try {
      this.latest = await api("/api/v1/plans", { method: "POST", body: { method: "ahead" } });
      this.map.setPlan(this.latest);
      this.toast(`Plan published: ${this.latest.posts.filter((p) => p.id).length} posts proposed`);
    } catch (err) {
      this.toast(`Plan refused: ${err.message}`, true);
    } finally {
      b.disabled = false;
      b.textContent = "Plan tonight";
      this.render();
    }
  }

  async decide(id, status) {
    try {
      await api(`/api/v1/posts/${encodeURIComponent(id)}`, { method: "PATCH", body: { status } });
      this.toast(`Post ${status}`);
    } catch (err) {
      this.toast(`Refused: ${err.message}`, true);
    }
  }

  render() {
    if (!this.store) return;
    const planId = this.latest ? this.latest.plan_id : null;
    const posts = this.store.all("post").filter((p) => (planId ? p.plan_id === planId : p.status === "proposed" || p.status === "accepted"));
    const head = this.latest
      ? `<div class="plan-head"><b>${esc(this.latest.plan_id)}</b> · ${esc(this.latest.method)}<br>
         expected proportion intercepted: <b>${Math.round((this.latest.drawn_proportion ?? this.latest.model_proportion) * 100)}%</b> over the plan's nights · ${esc(this.latest.units)} units ·
         ${this.latest.history_attempts ? esc(this.latest.history_attempts) + " recent attempts weighed" : "site values from the scenario"}</div>`
      : this.unreleased
        ? `<div class="note">A plan for tonight exists and is not released to you. / Un plan existe pour cette nuit ; il ne vous est pas communiqué.</div>`
        : `<div class="note">No plan yet${this.canPlan ? ": publish tonight's." : "."}</div>`;
    const rows = posts.sort((a, b) => a.unit_id.localeCompare(b.unit_id)).map((p) => {
      const unit = this.store.get("unit", p.unit_id);
      const own = unit && unit.agency_id === this.me.agency_id;
      const acts = p.status === "proposed" && this.canAccept && own
        ? `<button class="primary" data-post="${esc(p.id)}" data-act="accepted">Accept</button> <button data-post="${esc(p.id)}" data-act="declined">Decline</button>`
        : "";
      return `<li data-post-row="${esc(p.id)}" class="${esc(p.status)}"><b>${esc(unit ? unit.callsign : p.unit_id)}</b>
        <small>${esc(words(unit ? unit.kind : ""))} · ${esc(p.status)} · manned ${Math.round((p.manned_share || 0) * 100)}% of nights</small>
        <div class="why">${esc(p.why)}</div>${acts}</li>`;
    }).join("");
    const html = head + `<ol class="posts">${rows}</ol>`;
    if (this.el.dataset.html === html) return;
    this.el.dataset.html = html;
    this.el.innerHTML = html;
  }
}

// Rescue escalations reach people: while an open rescue case has escalated (not acknowledged
// by its rescue centre in time), a bar names it and a tone sounds. Muting silences the tone
// until the next escalation; it never hides the bar, and it cannot be turned off for good:
// life at sea first.
import { $, esc } from "./dom.js";
import { t, tv } from "./i18n.js";

export class SarAlert {
  constructor() {
    this.muted = new Map();  // case id -> escalations count when muted
    this.ringing = false;
    this.beeps = 0;
    this.cases = [];
    this.audio = null;
    $("sar-mute").addEventListener("click", () => this.mute());
    setInterval(() => { if (this.ringing) this.beep(); }, 1500);
  }

  // Brings the bar and the tone in line with the store's rescue cases.
  update(store) {
    this.cases = store.all("rescue_case").filter((c) => c.status === "open" && (c.escalations || 0) > 0);
    const loud = this.cases.filter((c) => (c.escalations || 0) > (this.muted.get(c.id) || 0));
    const was = this.ringing;
    this.ringing = loud.length > 0;
    const bar = $("sar-alert");
    bar.hidden = this.cases.length === 0;
    $("sar-alert-text").innerHTML = this.cases.map((c) =>
      esc(t("sar.escalated", { id: c.id, phase: tv("phase", c.phase), centre: c.centre_agency_id, count: c.count ?? "?" }))).join("<br>");
    $("sar-mute").hidden = !this.ringing;
    bar.classList.toggle("muted", !this.ringing);
    if (this.ringing && !was) this.beep();
  }

  mute() {
    for (const c of this.cases) this.muted.set(c.id, c.escalations || 0);
    this.ringing = false;
    $("sar-mute").hidden = true;
    $("sar-alert").classList.add("muted");
  }

  beep() {
    this.beeps += 1;
    try {
      this.audio = this.audio || new AudioContext();
      const osc = this.audio.createOscillator();
      const gain = this.audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(this.audio.destination);
      osc.start();
      osc.stop(this.audio.currentTime + 0.35);
    } catch { /* no audio device: the bar still shows */ }
  }
}

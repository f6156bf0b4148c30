// The watch floor: sign in, then one screen with the live map and the console.
import { api, Stream } from "./api.js";
import { Store } from "./store.js";
import { CoastMap, INCIDENT_GLYPHS, LAYERS, POST_GLYPHS } from "./map.js";
import { Console, taskCode } from "./console.js";
import { Figures, utcTicks } from "./figures.js";
import { PlanPanel } from "./plan.js";
import { SarAlert } from "./sar.js";
import { $, esc } from "./dom.js";
import { browserLanguage, loadCatalogue, loaded, setLanguage, t, tBoth, tv } from "./i18n.js";

const CONSOLE_KINDS = ["incident", "task", "log_entry", "rescue_case", "detection", "post"];

// State the tests (and a curious operator's devtools) can read.
const estran = (window.estran = { ready: false, frames: 0, events: 0, taskCode, utcTicks });

let toastTimer;
function toast(text, bad = false) {
  const el = $("toast");
  el.textContent = text;
  el.className = `toast show${bad ? " bad" : ""}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.className = "toast"), 3500);
}

async function boot() {
  await loadCatalogue();
  estran.catalogue = loaded();
  setLanguage(localStorage.getItem("estran-lang") || browserLanguage());
  let me;
  try { me = await api("/api/v1/auth/me"); } catch { return showSignIn(); }
  await start(me);
}

function showSignIn() {
  $("app").hidden = true;
  $("signin").hidden = false;
  $("username").focus();
  $("signin-lang").onclick = () => {
    const next = document.documentElement.lang === "fr" ? "en" : "fr";
    localStorage.setItem("estran-lang", next);
    setLanguage(next);
  };
  $("signin").onsubmit = async (e) => {
    e.preventDefault();
    $("signin-error").textContent = "";
    try {
      await api("/api/v1/auth/login", { method: "POST", body: { username: $("username").value, password: $("password").value } });
      $("password").value = "";
      location.reload();
    } catch (err) {
      $("signin-error").textContent = err.status === 423 ? t("signin.locked") : t("signin.refused");
    }
  };
}

async function start(me) {
  $("signin").hidden = true;
  $("app").hidden = false;
  estran.me = me;
  setLanguage(me.language || browserLanguage());
  estran.language = document.documentElement.lang;
  $("lang").onclick = async () => {
    const next = document.documentElement.lang === "fr" ? "en" : "fr";
    try {
      await api("/api/v1/auth/me/language", { method: "PUT", body: { language: next } });
      localStorage.setItem("estran-lang", next);
      location.reload();
    } catch (e) { toast(t("act.refused", { message: e.message }), true); }
  };
  $("who").innerHTML = `${esc(me.principal.replace(/^user:/, ""))} · <b>${esc(tv("role", me.role))}</b> · ${esc(me.agency_id || "")} <span class="badge">${esc(me.nation || "")}</span>`;
  $("signout").onclick = async () => { try { await api("/api/v1/auth/logout", { method: "POST" }); } finally { location.reload(); } };

  const area = await waitForArea();
  const live = new Store();
  let view = live;  // what is drawn: the live picture, or a replayed moment
  const map = new CoastMap($("map"), area, { onSelectIncident: (id) => { showTab("incidents"); cons.select(id); } });
  const cons = new Console({ me, map, toast });
  const figures = new Figures();
  const plan = new PlanPanel({ me, map, toast });
  const sar = new SarAlert();
  estran.map = map; estran.live = live; estran.console = cons; estran.plan = plan; estran.sar = sar;
  plan.setStore(live);
  plan.refresh();
  api("/api/v1/launch-sites").then((g) => map.setSites(g)).catch(() => {});
  buildLayerList(map);
  cons.setStore(live, true);

  // Console re-rendering is throttled; the map follows every frame.
  let pending = false;
  const consoleSoon = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; if (view === live) { cons.render(); plan.render(); } }, 300);
  };
  const stream = new Stream({
    onSnapshot: (snap) => {
      live.load(snap);
      sar.update(live);
      if (view === live) { map.sync(live, null); cons.render(); plan.render(); }
      estran.ready = true;
    },
    onEvents: (events) => {
      const changed = live.apply(events);
      estran.frames += 1; estran.events += events.length;
      if (changed.rescue_case) sar.update(live);  // live, whatever moment is replayed
      if (view !== live) return;
      map.sync(live, changed);
      if (CONSOLE_KINDS.some((k) => changed[k])) consoleSoon();
    },
    onStatus: (s) => { $("link").textContent = s === "live" ? t("link.live") : t("link.down"); $("link").classList.toggle("down", s !== "live"); },
    onClosed: () => { toast(t("toast.closed"), true); setTimeout(() => location.reload(), 1500); },
  });
  stream.start();
  // The rescue watch: a red banner, which no one can close, while the server reports it
  // down or lagging (or cannot be asked), because then a case may not be raised.
  const alarm = $("rescue-alarm");
  async function watchRescue() {
    let text = "";
    try {
      const h = await api("/api/v1/health");
      // A demo says so, with the simulated night and its hour (24 h), beside the real clock.
      const sim = $("sim");
      sim.hidden = !h.demo;
      if (h.demo) {
        sim.textContent = t("sim.text", { night: h.demo.night + 1 }) +
          (h.demo.time ? ` · ${h.demo.time}` : "") + ` · ×${h.demo.speed}`;
      }
      if (h.rescue_watch && !h.rescue_watch.ok) {
        text = tBoth("alarm.down", { problems: h.rescue_watch.problems.join("; ") });
      }
    } catch (e) {
      text = tBoth("alarm.unreachable");
    }
    alarm.textContent = text;
    alarm.hidden = !text;
    estran.rescueAlarm = text;
  }
  watchRescue();
  setInterval(watchRescue, 2000);
  // The clock: UTC (the log's time), and Paris local time, both 24-hour and labelled.
  const paris = new Intl.DateTimeFormat("fr-FR", { timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit", hour12: false });
  const tick = () => {
    const now = new Date();
    $("clock").textContent = `${now.toISOString().slice(11, 19)} UTC · ${paris.format(now)} ${t("clock.paris")}`;
    map.ageDetections();
  };
  tick();
  setInterval(tick, 1000);

  // Tabs
  const canStats = me.actions.includes("stats");
  document.querySelector('[data-tab="figures"]').hidden = !canStats;
  function showTab(name) {
    for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === name);
    for (const tab of ["incidents", "log", "figures", "plan"]) $(`tab-${tab}`).hidden = tab !== name;
    if (name === "figures" && canStats) figures.refresh(view);
    if (name === "plan") plan.refresh();
  }
  for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => showTab(b.dataset.tab);
  setInterval(() => { if (!$("tab-figures").hidden && view === live) figures.refresh(live); }, 20000);

  // After-action replay: the picture as it was known at the slider's time.
  const canReplay = me.actions.includes("replay");
  $("replay").hidden = !canReplay;
  let start0 = null;
  let replayTimer;
  const slider = $("slider");
  const sliderTime = () => start0 + (Date.now() - start0) * (Number(slider.value) / 1000);
  async function enterReplay() {
    if (start0 === null) {
      const first = await api("/api/v1/events?after=0&limit=1");
      start0 = first.events && first.events.length ? Date.parse(first.events[0].received_at) : Date.now() - 3600000;
    }
    slider.disabled = false;
    $("replay").classList.add("active");
    $("replay-live").hidden = false;
    slider.value = 700;
    slider.focus();
    await showAt(sliderTime());
  }
  async function showAt(when) {
    const at = new Date(when).toISOString();
    $("replay-time").textContent = at.replace("T", " ").slice(0, 19) + "Z";
    $("mode").textContent = t("mode.replay", { time: at.slice(11, 16) });
    $("mode").className = "mode replay";
    const pic = await api(`/api/v1/picture?at=${encodeURIComponent(at)}`);
    const past = new Store();
    past.load(pic);
    view = past;
    map.replayAt = when;
    map.resetTrails();
    map.sync(past, null);
    cons.setStore(past, false);
    estran.replayAt = at;
    estran.replaySeq = pic.seq;
  }
  function backToLive() {
    view = live;
    map.replayAt = null;
    slider.disabled = true;
    slider.value = 1000;
    $("replay").classList.remove("active");
    $("replay-live").hidden = true;
    $("replay-time").textContent = "";
    $("mode").textContent = t("mode.live");
    $("mode").className = "mode live";
    estran.replayAt = null;
    map.resetTrails();
    map.sync(live, null);
    cons.setStore(live, true);
  }
  $("replay-toggle").onclick = () => (view === live ? enterReplay() : backToLive());
  $("replay-live").onclick = backToLive;
  slider.oninput = () => { clearTimeout(replayTimer); replayTimer = setTimeout(() => showAt(sliderTime()), 200); };

  // Theme
  const setTheme = (theme) => { document.documentElement.dataset.theme = theme; map.setTheme(theme); $("theme").textContent = theme === "night" ? "☾" : "☀"; localStorage.setItem("estran-theme", theme); };
  setTheme(localStorage.getItem("estran-theme") || "night");
  $("theme").onclick = () => setTheme(document.documentElement.dataset.theme === "night" ? "day" : "night");
  $("help-button").onclick = () => ($("help").hidden = !$("help").hidden);

  // Keyboard
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input:not([type=range]), textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    const layer = LAYERS.find((l) => l.hotkey === e.key);
    if (layer) { setLayer(map, layer.key); return; }
    switch (e.key) {
      case "j": cons.move(1); break;
      case "k": cons.move(-1); break;
      case "Enter": if (cons.selected) cons.select(cons.selected); break;
      case "s": cons.quickAction(); break;
      case "i": showTab("incidents"); break;
      case "l": showTab("log"); break;
      case "f": if (canStats) showTab("figures"); break;
      case "p": showTab("plan"); break;
      case "n": showTab("log"); if (!$("log-form").hidden) { e.preventDefault(); $("log-text").focus(); } break;
      case "a": if (canReplay) $("replay-toggle").click(); break;
      case "t": $("theme").click(); break;
      case "?": $("help").hidden = !$("help").hidden; break;
      case "Escape": $("help").hidden = true; cons.close(); break;
      case "ArrowLeft": case "ArrowRight":
        if (view !== live && e.target !== slider) {
          const span = Date.now() - start0;
          slider.value = Math.max(0, Math.min(1000, Number(slider.value) + (e.key === "ArrowLeft" ? -1 : 1) * (60000 / span) * 1000));
          slider.oninput();
        }
        break;
      default: return;
    }
  });
  estran.booted = true;
}

async function waitForArea() {
  for (;;) {
    try { return await api("/api/v1/area"); } catch (e) {
      if (e.status !== 503) throw e;
      $("link").textContent = t("link.terrain");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function buildLayerList(map) {
  const el = $("layers");
  const swatch = (colour, text) => `<div><span style="background:${colour}"></span>${esc(text)}</div>`;
  el.innerHTML = `<h3>${esc(t("layers.title"))}</h3>` + LAYERS.map((l) => `<label class="${l.locked ? "locked" : ""}" title="${esc(l.locked ? t("layer.locked") : t("layer.toggle", { key: l.hotkey }))}">
    <input type="checkbox" data-layer="${l.key}" checked ${l.locked ? "disabled" : ""}> ${esc(t(`layer.${l.key}`))}<kbd>${l.locked ? esc(t("layer.always")) : l.hotkey}</kbd></label>`).join("")
    + `<div class="legend"><h3>${esc(t("legend.units"))}</h3>${swatch("#5fae6a", tv("status", "available"))}${swatch("#d9a441", tv("status", "tasked"))}${swatch("#e0862f", tv("status", "en_route"))}${swatch("#4aa3e0", tv("status", "on_scene"))}
       <h3>${esc(t("legend.impact"))}</h3>${swatch("#4f8f5a", tv("impact", "low"))}${swatch("#c9a23f", tv("impact", "medium"))}${swatch("#d9772e", tv("impact", "high"))}${swatch("#d9433b", tv("impact", "very_high"))}
       <h3>${esc(t("legend.incidents"))}</h3>${Object.entries(INCIDENT_GLYPHS).map(([type, g]) => `<div class="glyph"><b>${g}</b>${esc(tv("type", type))}</div>`).join("")}
       <div class="glyph"><b class="sar-mini">SAR</b>${esc(t("layer.rescue"))}</div>
       <h3>${esc(t("legend.posts"))}</h3>${Object.entries(POST_GLYPHS).map(([kind, g]) => `<div class="glyph"><b>${g}</b>${esc(tv("kind", kind))}</div>`).join("")}
       <div class="glyph"><b class="foreign-mini"></b>${esc(t("layer.partner"))}</div></div>`;
  for (const box of el.querySelectorAll("input[data-layer]")) {
    box.onchange = () => setLayer(map, box.dataset.layer, box.checked);
  }
}

function setLayer(map, key, on) {
  const shown = map.toggle(key, on);
  const box = document.querySelector(`input[data-layer="${key}"]`);
  if (box) box.checked = shown;
}

boot().catch((e) => { toast(t("toast.start_failed", { message: e.message }), true); console.error(e); });

// The map: the offline base map (terrain drawn by the server), place names, and one layer
// per kind of record, each switchable but the rescue layer, kept in step with a Store.
/* global L */
import { esc } from "./dom.js";
import { local, t, tv } from "./i18n.js";

export const LAYERS = [
  { key: "sectors", label: "Sectors", hotkey: "1" },
  { key: "units", label: "Units", hotkey: "2" },
  { key: "trails", label: "Unit trails", hotkey: "3" },
  { key: "detections", label: "Detections", hotkey: "4" },
  { key: "tracks", label: "Tracks", hotkey: "5" },
  { key: "incidents", label: "Incidents", hotkey: "6" },
  { key: "tasks", label: "Tasks and routes", hotkey: "7" },
  { key: "sites", label: "Launch sites", hotkey: "8" },
  { key: "plan", label: "Tonight's plan", hotkey: "9" },
  { key: "partner", label: "Partner centre", hotkey: "0" },
  { key: "rescue", label: "Rescue cases", locked: true },
];

export const IMPACT_COLOURS = { low: "#4f8f5a", medium: "#c9a23f", high: "#d9772e", very_high: "#d9433b" };
const STATUS_COLOURS = { available: "#5fae6a", tasked: "#d9a441", en_route: "#e0862f", on_scene: "#4aa3e0", off_duty: "#6b7580" };
const CLASS_COLOURS = { group_of_people: "#f2c14e", boat: "#ff6b5a", vehicle: "#b48ef0", equipment: "#6fd3c8" };
const TASK_COLOURS = { proposed: "#9aa5b1", sent: "#d9a441", acknowledged: "#e0a84a", will_comply: "#e0a84a", en_route: "#e0862f", on_scene: "#4aa3e0" };
export const INCIDENT_GLYPHS = { group_sighted: "G", boat_being_prepared: "P", launch_attempt: "L", boat_launched: "B", boat_at_sea: "S", persons_in_water: "W", abandoned_boat_or_equipment: "A" };
const LIVE_POST = new Set(["proposed", "accepted"]);
// A post takes its unit's own shape (as in the units' legend), never a letter an incident uses.
export const POST_GLYPHS = { foot_patrol: "●", dune_buggy: "◆", four_by_four: "■", drone: "▲" };
const ACTIVE_TASK = new Set(["proposed", "sent", "acknowledged", "will_comply", "en_route", "on_scene"]);
const TRAIL = 30;
const DETAIL_ZOOM = 13;
const SITES_ZOOM = 11.5;  // the 105 launch sites, and the lines to tonight's posts, only closer in

const ll = (p) => [p.lat, p.lon];

export class CoastMap {
  constructor(el, area, { onSelectIncident }) {
    const [w, s, e, n] = area.bbox;
    this.bounds = L.latLngBounds([s, w], [n, e]);
    this.map = L.map(el, {
      preferCanvas: true, attributionControl: false, minZoom: 9, maxZoom: 17,
      maxBounds: this.bounds.pad(0.25), zoomSnap: 0.25,
    });
    this.map.fitBounds(this.bounds);
    const pane = (name, z) => { this.map.createPane(name).style.zIndex = z; return name; };
    pane("sectors", 350); pane("trails", 380); pane("incidentPane", 640); pane("rescuePane", 900);
    this.canvas = {
      sectors: L.canvas({ pane: "sectors" }), trails: L.canvas({ pane: "trails" }),
      dots: L.canvas({ pane: "overlayPane" }),
    };
    this.base = L.imageOverlay(this.baseUrl("night"), this.bounds, { pane: "tilePane", className: "basemap" }).addTo(this.map);
    // Zoomed in, tiles drawn by the server from the terrain at that zoom keep the map sharp
    // (the overview image above blurs past two zoom steps); beyond the strip they are clear.
    this.theme = "night";
    this.tiles = L.tileLayer("/api/v1/basemap/{theme}/{z}/{x}/{y}.png", {
      theme: () => this.theme, minZoom: 12, maxZoom: 19, bounds: this.bounds, pane: "tilePane",
      className: "basemap-tiles", keepBuffer: 1, updateWhenZooming: false,
    }).addTo(this.map);
    for (const p of area.places || []) {
      L.marker([p.lat, p.lon], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: "place-label", html: esc(p.name), iconSize: null }) }).addTo(this.map);
    }
    this.groups = {};
    for (const layer of LAYERS) this.groups[layer.key] = L.layerGroup().addTo(this.map);
    this.errorRings = L.layerGroup();
    this.markers = { unit: new Map(), detection: new Map(), ring: new Map(), track: new Map(), incident: new Map(), rescue_case: new Map(), task: new Map(), sector: new Map(), trail: new Map(), post: new Map(), foreign: new Map() };
    this.trails = new Map();
    this.onSelectIncident = onSelectIncident;
    this.selected = null;
    this.map.on("zoomend", () => this.zoomed());
    this.zoomed();
  }

  baseUrl(theme) { return `/api/v1/basemap.png?theme=${theme}&width=2048`; }
  setTheme(theme) { this.theme = theme; this.base.setUrl(this.baseUrl(theme)); this.tiles.redraw(); }

  zoomed() {
    const z = this.map.getZoom();
    this.map.getContainer().classList.toggle("no-labels", z < 11.5);
    // Declutter: the launch sites and the lines from units to their posts when zoomed in.
    for (const [group, inner] of [[this.groups.sites, this.siteDots], [this.groups.plan, this.planLines]]) {
      if (!inner) continue;
      if (z >= SITES_ZOOM && !group.hasLayer(inner)) group.addLayer(inner);
      if (z < SITES_ZOOM && group.hasLayer(inner)) group.removeLayer(inner);
    }
    const want = z >= DETAIL_ZOOM && this.isOn("detections");
    if (want && !this.map.hasLayer(this.errorRings)) this.errorRings.addTo(this.map);
    if (!want && this.map.hasLayer(this.errorRings)) this.errorRings.remove();
  }

  isOn(key) { return this.map.hasLayer(this.groups[key]); }

  // Shows or hides a layer; the rescue layer cannot be hidden (life at sea first).
  toggle(key, on) {
    const layer = LAYERS.find((l) => l.key === key);
    if (!layer || layer.locked) return true;
    const group = this.groups[key];
    const want = on === undefined ? !this.map.hasLayer(group) : on;
    if (want) group.addTo(this.map); else group.remove();
    this.zoomed();
    return want;
  }

  setSites(geojson) {
    if (this.siteDots) this.siteDots.remove();
    const g = (this.siteDots = L.layerGroup());
    this.zoomed();
    for (const f of geojson.features || []) {
      const [lon, lat] = f.geometry.coordinates;
      L.circleMarker([lat, lon], { renderer: this.canvas.dots, radius: 3, color: "#8fb3c9", weight: 1, fillOpacity: 0.5 })
        .bindTooltip(() => esc(t("tip.launch_site", { id: f.id }))).addTo(g);
    }
  }

  // Brings the map in line with the store: every record when ``changed`` is null (a snapshot,
  // a replayed moment), else only the changed ids of each kind.
  sync(store, changed) {
    const kinds = ["sector", "unit", "detection", "track", "incident", "rescue_case", "task", "post", "foreign"];
    for (const kind of kinds) {
      const ids = changed ? changed[kind] : null;
      if (changed && !ids) continue;
      const seen = ids ? [...ids] : [...store.kinds[kind].keys()];
      if (!ids) this.dropMissing(kind, store);
      for (const id of seen) this.draw(kind, id, store.get(kind, id), store);
    }
    if (changed && changed.unit) {
      // Tasks follow their unit.
      for (const k of store.all("task")) if (changed.unit.has(k.unit_id)) this.draw("task", k.id, k, store);
      for (const p of store.all("post")) if (changed.unit.has(p.unit_id)) this.draw("post", p.id, p, store);
    }
    this.ageDetections();
  }

  dropMissing(kind, store) {
    const table = store.kinds[kind];
    for (const id of [...this.markers[kind].keys()]) if (!table.has(id)) this.remove(kind, id);
    if (kind === "unit") {
      for (const id of [...this.markers.trail.keys()]) if (!table.has(id)) this.remove("trail", id);
    }
  }

  remove(kind, id) {
    const m = this.markers[kind].get(id);
    if (m) { m.remove(); this.markers[kind].delete(id); }
    if (kind === "detection") this.remove("ring", id);
    if (kind === "unit") { this.remove("trail", id); this.trails.delete(id); }
  }

  draw(kind, id, r, store) {
    const placed = kind === "foreign" ? r && r.record && r.record.position : r && r.position;
    if (!r || (!placed && kind !== "sector" && kind !== "task")) return this.remove(kind, id);
    this[`draw_${kind}`](id, r, store);
  }

  draw_sector(id, r) {
    this.remove("sector", id);
    const colour = IMPACT_COLOURS[r.impact] || "#888";
    const layer = L.geoJSON(r.geometry, { renderer: this.canvas.sectors,
      style: { color: colour, weight: 1.5, fillColor: colour, fillOpacity: 0.12, dashArray: "4 4" } })
      .bindTooltip(() => `${esc(r.name)} · ${esc(t("inc.impact", { impact: tv("impact", r.impact) }))}`);
    layer.addTo(this.groups.sectors);
    this.markers.sector.set(id, layer);
  }

  draw_unit(id, r) {
    const pos = ll(r.position);
    const html = `<i style="--c:${STATUS_COLOURS[r.status] || "#aaa"}"></i><span>${esc(r.callsign)}</span>`;
    const key = `${r.kind}|${r.status}|${r.callsign}`;
    let m = this.markers.unit.get(id);
    if (!m) {
      m = L.marker(pos, { keyboard: false, icon: this.unitIcon(r, html) })
        .bindTooltip(() => this.unitTip(m.record)).addTo(this.groups.units);
      m.iconKey = key;
      this.markers.unit.set(id, m);
    } else {
      const old = m.getLatLng();
      if (old.lat !== pos[0] || old.lng !== pos[1]) m.setLatLng(pos);
      if (m.iconKey !== key) { m.setIcon(this.unitIcon(r, html)); m.iconKey = key; }
    }
    m.record = r;
    const el = m.getElement();
    if (el) { el.dataset.id = id; el.dataset.lat = pos[0]; el.dataset.lon = pos[1]; }
    const trail = this.trails.get(id) || [];
    const last = trail[trail.length - 1];
    if (!last || last[0] !== pos[0] || last[1] !== pos[1]) trail.push(pos);
    if (trail.length > TRAIL) trail.shift();
    this.trails.set(id, trail);
    if (trail.length > 1) {
      let line = this.markers.trail.get(id);
      if (!line) {
        line = L.polyline(trail, { renderer: this.canvas.trails, color: STATUS_COLOURS[r.status] || "#aaa", weight: 2, opacity: 0.55 }).addTo(this.groups.trails);
        this.markers.trail.set(id, line);
      } else line.setLatLngs(trail);
    }
  }

  unitIcon(r, html) {
    return L.divIcon({ className: `unit ${r.kind}`, html, iconSize: null, iconAnchor: [7, 7] });
  }

  unitTip(r) {
    return `<b>${esc(r.callsign)}</b> · ${esc(tv("kind", r.kind))}<br>${esc(tv("status", r.status))} · ${esc(r.agency_id)}<br>${marking(r)}`;
  }

  draw_detection(id, r) {
    const pos = ll(r.position);
    const colour = CLASS_COLOURS[r.class] || "#ddd";
    let m = this.markers.detection.get(id);
    if (!m) {
      m = L.circleMarker(pos, { renderer: this.canvas.dots, radius: 4, color: colour, weight: 1, fillColor: colour, fillOpacity: 0.8 })
        .bindTooltip(() => detTip(m.record)).addTo(this.groups.detections);
      this.markers.detection.set(id, m);
    } else m.setLatLng(pos);
    m.record = r;
    const err = r.ellipse ? r.ellipse.semi_major_m : r.position.error_m || 10;
    let ring = this.markers.ring.get(id);
    if (!ring) {
      ring = L.circle(pos, { renderer: this.canvas.dots, radius: err, color: colour, weight: 1, fill: false, opacity: 0.6, interactive: false }).addTo(this.errorRings);
      this.markers.ring.set(id, ring);
    } else { ring.setLatLng(pos); ring.setRadius(err); }
  }

  // Older detections fade: full strength when fresh, faint after half an hour.
  ageDetections() {
    let ref = Date.now();
    for (const m of this.markers.detection.values()) {
      const seen = Date.parse(m.record.observed_at);
      if (seen > ref) ref = seen;
    }
    if (this.replayAt) ref = this.replayAt;
    for (const m of this.markers.detection.values()) {
      const age = (ref - Date.parse(m.record.observed_at)) / 60000;
      const op = Math.max(0.15, Math.min(1, 1 - age / 30));
      if (Math.abs((m.options.fillOpacity || 0) - op * 0.8) > 0.05) m.setStyle({ opacity: op, fillOpacity: op * 0.8 });
    }
  }

  draw_track(id, r) {
    const pos = ll(r.position);
    this.remove("track", id);
    if (r.status === "closed") return;
    const g = L.layerGroup();
    L.circleMarker(pos, { renderer: this.canvas.dots, radius: 6, color: "#fff", weight: 2, fill: false })
      .bindTooltip(() => esc(t("tip.track", { id, cls: tv("class", r.class), count: r.count ?? "?", speed: Math.round((r.speed_mps || 0) * 3.6) }))).addTo(g);
    if (r.speed_mps > 0.2) {
      const d = r.speed_mps * 120 / 111320;
      const h = (r.heading_deg * Math.PI) / 180;
      const end = [pos[0] + d * Math.cos(h), pos[1] + (d * Math.sin(h)) / Math.cos((pos[0] * Math.PI) / 180)];
      L.polyline([pos, end], { renderer: this.canvas.dots, color: "#fff", weight: 2 }).addTo(g);
    }
    g.addTo(this.groups.tracks);
    this.markers.track.set(id, g);
  }

  draw_incident(id, r) {
    const pos = ll(r.position);
    let m = this.markers.incident.get(id);
    const sea = !!r.life_at_sea;
    const key = `${r.type}|${r.impact}|${r.status}|${sea}|${this.selected === id}`;
    if (m && (m.sea !== sea)) { this.remove("incident", id); m = null; }
    if (r.status === "closed") return this.remove("incident", id);
    const icon = () => L.divIcon({
      className: "", iconSize: null, iconAnchor: [12, 12],
      html: `<div class="incident${this.selected === id ? " selected" : ""}" data-id="${esc(id)}" style="background:${IMPACT_COLOURS[r.impact] || "#888"}">${INCIDENT_GLYPHS[r.type] || "?"}</div>`,
    });
    if (!m) {
      // Life at sea goes on the rescue layer: on top, and never hidden.
      m = L.marker(pos, { icon: icon(), pane: sea ? "rescuePane" : "incidentPane", keyboard: false })
        .bindTooltip(() => `<b>${esc(tv("type", m.record.type))}</b> · ${esc(tv("impact", m.record.impact))}<br>${marking(m.record)}`)
        .on("click", () => this.onSelectIncident(id))
        .addTo(sea ? this.groups.rescue : this.groups.incidents);
      m.sea = sea; m.key = key;
      this.markers.incident.set(id, m);
    } else {
      m.setLatLng(pos);
      if (m.key !== key) { m.setIcon(icon()); m.key = key; }
    }
    m.record = r;
  }

  draw_rescue_case(id, r) {
    const pos = ll(r.position);
    let m = this.markers.rescue_case.get(id);
    if (r.status === "closed") return this.remove("rescue_case", id);
    if (!m) {
      m = L.marker(pos, { pane: "rescuePane", keyboard: false, zIndexOffset: 10000,
        icon: L.divIcon({ className: "", iconSize: null, iconAnchor: [15, 15], html: `<div class="rescue" data-id="${esc(id)}">SAR</div>` }) })
        .bindTooltip(() => `<b>${esc(t("rescue.tip"))}</b> · ${esc(tv("phase", m.record.phase))} · ${esc(tv("status", m.record.status))}<br>${esc(t("rescue.people", { count: m.record.count ?? "?" }))} · ${esc(m.record.centre_agency_id)}`)
        .on("click", () => m.record.incident_id && this.onSelectIncident(m.record.incident_id))
        .addTo(this.groups.rescue);
      this.markers.rescue_case.set(id, m);
    } else m.setLatLng(pos);
    m.record = r;
  }

  // A record the partner nation's centre released to this one: its own symbol (a dashed
  // diamond), never mistaken for ours; a partner's rescue case goes on the rescue layer,
  // which cannot be hidden.
  draw_foreign(id, r) {
    this.remove("foreign", id);
    if (r.status !== "held") return;
    const rec = r.record;
    const rescue = r.origin_kind === "rescue_case";
    const label = rec.callsign || (rec.type && tv("type", rec.type)) || (rec.phase && tv("phase", rec.phase)) || tv("kindname", r.origin_kind);
    const html = `<div class="foreign ${rescue ? "rescue-foreign" : ""}" data-id="${esc(id)}"><span>${esc(label)}</span></div>`;
    const m = L.marker(ll(rec.position), { keyboard: false, pane: rescue ? "rescuePane" : "markerPane",
      icon: L.divIcon({ className: "", html, iconSize: null, iconAnchor: [8, 8] }) })
      .bindTooltip(() => `<b>${esc(tv("kindname", r.origin_kind))}</b> · ${esc(label)}<br>`
        + `${esc(t("tip.partner", { centre: r.origin_centre, nation: r.origin_nation }))}<br>${marking(r)}`)
      .addTo(rescue ? this.groups.rescue : this.groups.partner);
    this.markers.foreign.set(id, m);
  }

  draw_task(id, r, store) {
    this.remove("task", id);
    if (!ACTIVE_TASK.has(r.status)) return;
    const unit = store.get("unit", r.unit_id);
    const inc = store.get("incident", r.incident_id);
    if (!unit || !unit.position || !inc || !inc.position) return;
    const line = L.polyline([ll(unit.position), ll(inc.position)], { renderer: this.canvas.dots,
      color: TASK_COLOURS[r.status] || "#ccc", weight: 2.5, dashArray: r.status === "proposed" ? "3 6" : "8 5" })
      .bindTooltip(() => esc(t("tip.task", { status: tv("status", r.status), unit: unit.callsign, type: tv("type", inc.type) }))).addTo(this.groups.tasks);
    this.markers.task.set(id, line);
  }

  // A planned post: where the plan puts a unit tonight (dashed while proposed), and a line
  // from the unit to it. Withdrawn and declined posts leave the map.
  draw_post(id, r, store) {
    this.remove("post", id);
    if (!LIVE_POST.has(r.status)) return;
    const unit = store.get("unit", r.unit_id);
    const g = L.layerGroup();
    const html = `<div class="post ${esc(r.status)}" data-id="${esc(id)}"><span>${POST_GLYPHS[unit ? unit.kind : ""] || "?"}</span></div>`;
    L.marker(ll(r.position), { keyboard: false, icon: L.divIcon({ className: "", html, iconSize: null, iconAnchor: [9, 9] }) })
      .bindTooltip(() => postTip(r, unit)).addTo(g);
    g.addTo(this.groups.plan);
    // The line from the unit to its post: labelled, and only when zoomed in (declutter).
    let line = null;
    if (unit && unit.position) {
      if (!this.planLines) { this.planLines = L.layerGroup(); this.zoomed(); }
      line = L.polyline([ll(unit.position), ll(r.position)], { renderer: this.canvas.dots, color: r.status === "accepted" ? "#7fd0ff" : "#9aa5b1",
        weight: 1.5, dashArray: r.status === "accepted" ? null : "2 5" })
        .bindTooltip(() => esc(t("plan.line", { unit: unit.callsign, status: tv("status", r.status) }))).addTo(this.planLines);
    }
    this.markers.post.set(id, { remove: () => { g.remove(); if (line) line.remove(); } });
  }

  // Every launch site coloured by the latest plan's coverage (the chance an attempt there is
  // intercepted), sized by the share of attempts the plan expects there.
  setPlan(plan) {
    if (this.planSites) this.planSites.remove();
    this.planSites = L.layerGroup().addTo(this.groups.plan);
    if (!plan) return;
    for (const s of plan.sites || []) {
      L.circleMarker([s.lat, s.lon], { renderer: this.canvas.dots, radius: 3 + Math.sqrt(s.attack_probability) * 30,
        color: coverageColour(s.coverage), weight: 1, fillColor: coverageColour(s.coverage), fillOpacity: 0.55 })
        .bindTooltip(() => esc(t("site.tip", { name: s.name, coverage: Math.round(s.coverage * 100), share: (s.attack_probability * 100).toFixed(1) })))
        .addTo(this.planSites);
    }
  }

  // The routes of the units recommended for the selected incident.
  showRoutes(units) {
    if (this.routes) this.routes.remove();
    this.routes = L.layerGroup().addTo(this.groups.tasks);
    for (const u of units || []) {
      if (!u.route) continue;
      L.geoJSON(u.route, { renderer: this.canvas.dots, style: { color: "#7fd0ff", weight: 3, opacity: 0.8 } })
        .bindTooltip(`${esc(u.callsign)} · ${fmtEta(u.eta_s)}`).addTo(this.routes);
    }
  }

  // Trails are what the stream showed since the page opened: not part of a replayed moment.
  resetTrails() {
    for (const id of [...this.markers.trail.keys()]) this.remove("trail", id);
    this.trails.clear();
  }

  select(id, store) {
    const before = this.selected;
    this.selected = id;
    for (const x of [before, id]) if (x) this.draw("incident", x, store.get("incident", x), store);
    const r = id && store.get("incident", id);
    if (r && r.position && !this.map.getBounds().pad(-0.1).contains(ll(r.position))) this.map.panTo(ll(r.position));
  }
}

export function marking(r) {
  const m = r.marking || {};
  const rel = (m.releasable_to || []).join("/");
  return `<span class="marking">${esc(m.classification || t("marking.unmarked"))}${rel ? " · REL " + esc(rel) : ""}</span>`;
}

function postTip(r, unit) {
  const who = unit ? `${esc(unit.callsign)} · ${esc(tv("kind", unit.kind))}` : esc(r.unit_id);
  return `<b>${esc(t("post.tip"))} · ${who}</b> · ${esc(tv("status", r.status))}<br>${esc(t("post.manned", { pct: Math.round((r.manned_share || 0) * 100) }))} · ${esc(r.plan_id)}<div class="why">${esc(local(r, "why"))}</div>${marking(r)}`;
}

// Red (thin) through amber to green (well covered).
export function coverageColour(c) {
  const x = Math.max(0, Math.min(1, c));
  const hue = Math.round(120 * Math.max(0, (x - 0.3) / 0.7));
  return `hsl(${hue}, 70%, 50%)`;
}

function detTip(r) {
  const err = r.ellipse ? r.ellipse.semi_major_m : r.position.error_m;
  return `<b>${esc(tv("class", r.class))}</b> · ${esc(r.count ?? "?")} · ${esc(t("tip.conf", { pct: Math.round((r.confidence || 0) * 100) }))}<br>±${Math.round(err || 0)} m · ${esc(r.observed_at.slice(11, 19))} UTC<br>${marking(r)}`;
}

// A duration, never to be read as a clock time: "42 s", "10 min 41 s", "1 h 05 min" (the same
// units in French and English). Rounded once, to the second, before it is split.
export function fmtEta(s) {
  if (s === null || s === undefined) return "—";
  const secs = Math.max(0, Math.round(s));
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${String(secs % 60).padStart(2, "0")} s`;
  return `${Math.floor(secs / 3600)} h ${String(Math.floor((secs % 3600) / 60)).padStart(2, "0")} min`;
}

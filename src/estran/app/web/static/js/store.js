// The client's copy of the picture: records by kind, evolved from the stream exactly as the
// server's domain/picture.py evolves them, so a record here equals GET /{kinds}/{id}.

export const PLURAL = {
  agencies: "agency", units: "unit", sensors: "sensor", detections: "detection",
  tracks: "track", incidents: "incident", tasks: "task", sectors: "sector",
  recommendations: "recommendation", log_entries: "log_entry", rescue_cases: "rescue_case",
  purges: "purge", posts: "post", foreign_records: "foreign",
};
const LIFE_AT_SEA = new Set(["boat_at_sea", "persons_in_water"]);
const STATUS_LOGGED = new Set(["task", "incident", "unit", "rescue_case"]);
const IMPACT_RANK = { very_high: 0, high: 1, medium: 2, low: 3 };

export class Store {
  constructor() {
    this.kinds = {};
    for (const kind of Object.values(PLURAL)) this.kinds[kind] = new Map();
    this.seq = 0;
  }

  load(snapshot) {
    for (const kind of Object.values(PLURAL)) this.kinds[kind].clear();
    for (const [plural, list] of Object.entries(snapshot.records || {})) {
      const kind = PLURAL[plural] || plural;
      if (!this.kinds[kind]) this.kinds[kind] = new Map();
      for (const r of list) this.kinds[kind].set(r.id, r);
    }
    this.seq = snapshot.seq || 0;
  }

  // Applies events; returns {kind: Set(ids)} of what changed (removed ids included).
  apply(events) {
    const changed = {};
    const mark = (kind, id) => (changed[kind] ||= new Set()).add(id);
    for (const ev of events) {
      const kind = ev.kind;
      const table = this.kinds[kind] || (this.kinds[kind] = new Map());
      const verb = ev.type.slice(ev.type.lastIndexOf(".") + 1);
      if (verb === "visible") {
        table.set(ev.entity_id, ev.record);
      } else if (verb === "hidden") {
        table.delete(ev.entity_id);
      } else {
        table.set(ev.entity_id, evolve(table.get(ev.entity_id), ev));
      }
      mark(kind, ev.entity_id);
      this.seq = ev.seq;
    }
    return changed;
  }

  all(kind) { return this.kinds[kind] ? [...this.kinds[kind].values()] : []; }
  get(kind, id) { return this.kinds[kind] ? this.kinds[kind].get(id) : undefined; }
}

export function evolve(current, ev) {
  const fresh = !current || ev.type.endsWith(".created");
  const r = fresh ? { ...ev.data, id: ev.entity_id, entity: ev.kind, created_at: ev.received_at }
                  : { ...current, ...ev.data };
  r.marking = ev.marking;
  r.updated_at = ev.received_at;
  r.observed_at = ev.observed_at;
  r.version = ev.seq;
  r.source = ev.source;
  if (STATUS_LOGGED.has(ev.kind) && ev.data && "status" in ev.data) {
    r.status_log = [...(r.status_log || []), { status: ev.data.status, at: ev.observed_at, by: ev.actor }];
  }
  if (ev.kind === "incident") r.life_at_sea = LIFE_AT_SEA.has(r.type);
  else if (ev.kind === "sector" && ev.data && "geometry" in ev.data) r.bbox = bounds(r.geometry);
  return r;
}

// [west, south, east, north] of a polygon's rings (as domain/picture.py's _bounds).
function bounds(geometry) {
  const pts = geometry.coordinates.flat();
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

// Life at sea first, then impact, then most recent: rescue tops every list (as the server).
export function byPriority(a, b) {
  const sea = (b.life_at_sea ? 1 : 0) - (a.life_at_sea ? 1 : 0);
  if (sea) return sea;
  const imp = (IMPACT_RANK[a.impact] ?? 4) - (IMPACT_RANK[b.impact] ?? 4);
  if (imp) return imp;
  if (a.observed_at !== b.observed_at) return a.observed_at < b.observed_at ? 1 : -1;
  return a.id < b.id ? 1 : -1;
}

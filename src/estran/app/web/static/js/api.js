// HTTP and stream access. The session cookie (HttpOnly, SameSite=Strict) set at sign-in
// authenticates both; the page never holds the token.

// ``message``: what went wrong in the reader's language (the server's ``title``), then the
// particulars; ``detail``: the particulars alone.
export class ApiError extends Error {
  constructor(status, code, message, details = [], title = "") {
    super(title ? `${title} — ${message}` : message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.title = title;
    this.detail = message;
  }
}

export async function api(path, { method = "GET", body, headers = {} } = {}) {
  // Errors come back in the page's language (the account's), not the browser's.
  const lang = document.documentElement.lang || "en";
  const init = { method, credentials: "same-origin", headers: { "Accept-Language": lang, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText,
      err.details || [], err.title || "");
  }
  return data;
}

// A resumable stream: a snapshot first, then events; on a drop it reconnects with
// ?since=<last seq> so nothing is missed, and on a refused resume it starts afresh.
export class Stream {
  constructor({ onSnapshot, onEvents, onStatus, onClosed }) {
    Object.assign(this, { onSnapshot, onEvents, onStatus, onClosed });
    this.seq = null;
    this.stopped = false;
    this.retry = 500;
  }

  start() {
    if (this.stopped) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.seq === null ? "" : `?since=${this.seq}`;
    const ws = new WebSocket(`${proto}//${location.host}/api/v1/stream${since}`);
    this.ws = ws;
    ws.onopen = () => { this.retry = 500; this.onStatus("live"); };
    ws.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.type === "snapshot") {
        this.seq = data.seq;
        this.onSnapshot(data);
      } else if (data.type === "events") {
        if (data.events.length) this.seq = data.events[data.events.length - 1].seq;
        this.onEvents(data.events);
      } else if (data.type && data.seq !== undefined) {
        this.seq = data.seq;
        this.onEvents([data]);
      }
    };
    ws.onclose = (ev) => {
      if (this.stopped) return;
      if (ev.code === 4401 || ev.code === 4403) { this.onClosed(ev); return; }
      if (ev.code === 4400) this.seq = null;  // the server cannot resume there: start afresh
      this.onStatus("down");
      setTimeout(() => this.start(), this.retry);
      this.retry = Math.min(this.retry * 2, 8000);
    };
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }
}

// The two helpers every module needs: an element by id, and text made safe for HTML. Every
// record string goes through ``esc`` before it reaches innerHTML or a tooltip.

export const $ = (id) => document.getElementById(id);

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);

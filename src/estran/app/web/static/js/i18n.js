// French and English on the watch floor: one small JSON catalogue (static/i18n.json), the
// language of the signed-in account (kept with it, switchable in the header), the browser's
// before sign-in. ``t`` for a string, ``tv`` for a value the server sends (a status, a type),
// ``translateDom`` for the page's own HTML (data-i18n, data-i18n-title, -placeholder, -aria).
let catalogue = { en: {}, fr: {} };
let lang = "en";

export async function loadCatalogue() {
  const res = await fetch("/static/i18n.json");
  catalogue = await res.json();
}

export function setLanguage(l) {
  lang = l === "fr" ? "fr" : "en";
  document.documentElement.lang = lang;
  translateDom(document);
}

export const language = () => lang;
// A record's text written by the server in both languages (``why`` and ``why_fr``).
export const local = (r, field) => (lang === "fr" && r[`${field}_fr`]) || r[field] || "";
export const browserLanguage = () => ((navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en");

export function t(key, vars) {
  const s = catalogue[lang][key] ?? catalogue.en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? "")) : s;
}

// Both languages at once, French first: for what must reach everyone on the floor whatever
// their language (life at sea: the rescue watch's banner).
export function tBoth(key, vars) {
  const one = (l) => { const s = catalogue[l][key] ?? key; return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? "")) : s; };
  return `${one("fr")} / ${one("en")}`;
}

// A value from the server (``available``, ``boat_being_prepared``) in the reader's language;
// one the catalogue does not know is shown as it came, underscores as spaces.
export function tv(prefix, value) {
  if (value === null || value === undefined) return "";
  const key = `${prefix}.${value}`;
  return catalogue[lang][key] ?? catalogue.en[key] ?? String(value).replace(/_/g, " ");
}

// Numbers in the reader's locale (a decimal comma in French).
export const num = (x, digits = 0) => Number(x).toLocaleString(lang === "fr" ? "fr-FR" : "en-GB",
  { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function translateDom(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  document.title = t("page.title");
}

// The catalogue, for the tests (window.estran.catalogue).
export const loaded = () => catalogue;

// Small DOM and formatting helpers. Text always goes in as text (never as HTML): source names, ARNs and failure
// reasons come from users.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = Boolean(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat("en-US", { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });

const ratio = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });

/** Counts as integers, sums with two decimals, ratios (click-through rates, margin per purchase) to 4 digits. */
export function formatValue(value, mathFunction) {
  if (value === null || value === undefined) return "—";
  if (mathFunction === "samplecount" || mathFunction === "impressioncount") return integer.format(value);
  return mathFunction === "ratio" ? ratio.format(value) : decimal.format(value);
}

/** A source's share of a metric's total; ratios have none. */
export function formatShare(share) {
  return share === null || share === undefined ? "—" : percent.format(share);
}

export function formatCount(value) {
  return value === null || value === undefined ? "—" : integer.format(value);
}

/** Epoch seconds as local date and time, "2026-11-23 13:45". */
export function formatTime(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "—";
  const d = new Date(epochSeconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of a `datetime-local` input for epoch seconds, and back. */
export function toLocalInput(epochSeconds) {
  return formatTime(epochSeconds).replace(" ", "T");
}

export function fromLocalInput(text) {
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

/** The last path segment of an ARN: the resource's name. */
export function arnName(arn) {
  return arn ? arn.slice(arn.indexOf("/") + 1) : "";
}

/** Recommender and campaign ARN -> name, from the group's resources (`loadGroup` in app.js). */
export function resourceNames(data) {
  const names = new Map();
  for (const r of data?.recommenders || []) names.set(r.recommenderArn, r.name);
  for (const c of data?.campaigns || []) names.set(c.campaignArn, c.name);
  return names;
}

/** A source as people call it: a recommender's or campaign's name (from the API, else the last segment of its
 * ARN), or the eventAttributionSource as sent. The full value goes in the element's title. */
export function sourceName(source, names) {
  if (names?.has(source)) return names.get(source);
  if (typeof source === "string" && source.startsWith("arn:")) return source.slice(source.lastIndexOf("/") + 1) || source;
  return source;
}

/** A source's name as an element, with the full source (an ARN) on hover. */
export function sourceLabel(source, names, attrs = {}) {
  return h("span", { class: "source", title: source, ...attrs }, sourceName(source, names));
}

export function statusBadge(status) {
  const kind = status === "ACTIVE" ? "ok" : /FAILED/.test(status) ? "failed" : "pending";
  return h("span", { class: `badge badge-${kind}`, dataset: { status } }, status);
}

/** A message box for errors (`kind` "error") or notes ("info"). */
export function notice(kind, text) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

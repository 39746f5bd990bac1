// Compare: one source against another on a metric, per user, with a 95% interval and an anytime-valid one
// (recimpact's `GET /api/v1/compare`, the same numbers as `recimpact compare`). Refreshed live like the charts.

import { read } from "./api.js";
import { fill, h, notice, resourceNames, sourceName } from "./dom.js";

const RANGES = [
  ["24h", "Last 24 hours", 86400],
  ["7d", "Last 7 days", 7 * 86400],
  ["14d", "Last 14 days", 14 * 86400],
  ["all", "All stored events", null],
];

const number = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });
const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const lift = new Intl.NumberFormat("en-US", { style: "percent", signDisplay: "exceptZero", maximumFractionDigits: 1 });

const num = (v) => (v === null || v === undefined ? "—" : number.format(v));
const pct = (v) => (v === null || v === undefined ? "—" : lift.format(v));
const span = (i, f) => (i ? `[${f(i.lower)}, ${f(i.upper)}]` : "—");
const pValue = (v) => (v === null || v === undefined ? "—" : v < 0.0001 ? "< 0.0001" : number.format(v));

function select(id, label, options, value) {
  const node = h("select", { id, name: id },
    options.map(([v, text]) => h("option", { value: v, selected: v === value, title: v }, text)));
  return [h("label", { for: id }, label), node];
}

export function compareView(app) {
  let form = null;
  let resultBox = null;
  let choice = null; // the last comparison asked for: refreshed while live
  let names = new Map(); // recommender and campaign ARN -> name

  async function sourcesOf(arn) {
    const totals = await read("totals", { metricAttributionArn: arn });
    const seen = new Set();
    for (const metric of totals.metrics) for (const s of metric.sources) seen.add(s.source);
    return [...seen].sort();
  }

  async function run() {
    if (!choice) return;
    const { arn, metric, per, a, b, range } = choice;
    const seconds = RANGES.find(([id]) => id === range)[2];
    const query = { metricAttributionArn: arn, metric, sourceA: a, sourceB: b, per };
    if (seconds) query.start = Math.floor(Date.now() / 1000) - seconds;
    try {
      draw(await read("compare", query), a, b);
    } catch (error) {
      fill(resultBox, notice("error", error.message));
    }
  }

  function draw(r, a, b) {
    const level = `${Math.round((1 - r.alpha) * 100)}%`;
    const name = `${r.metric}${r.per ? ` per ${r.per}` : r.kind === "RATIO" ? "" : " per user"}`;
    const verdict = r.significantSequential
      ? "B differs from A, even allowing for looking every day."
      : r.significant
        ? "B differs from A at this one look; the anytime-valid interval still includes no difference."
        : "No difference shown yet.";
    fill(resultBox,
      h("table", { class: "grid compare-table", id: "compare-result" },
        h("thead", {}, h("tr", {}, h("th", {}, ""),
          h("th", { class: "num", title: a }, `A: ${sourceName(a, names)}`),
          h("th", { class: "num", title: b }, `B: ${sourceName(b, names)}`),
          h("th", { class: "num" }, `${level} interval`), h("th", { class: "num" }, `${level} anytime-valid`))),
        h("tbody", {},
          h("tr", {}, h("td", {}, "users"), h("td", { class: "num" }, integer.format(r.unitsA)),
            h("td", { class: "num" }, integer.format(r.unitsB)), h("td", {}), h("td", {})),
          h("tr", {}, h("td", {}, name), h("td", { class: "num" }, num(r.valueA)), h("td", { class: "num" }, num(r.valueB)),
            h("td", {}), h("td", {})),
          h("tr", {}, h("td", {}, "difference (B − A)"), h("td", {}), h("td", { class: "num" }, num(r.difference)),
            h("td", { class: "num" }, span(r.differenceCi, num)), h("td", { class: "num" }, span(r.differenceSequence, num))),
          h("tr", { class: "lift" }, h("td", {}, "lift (B / A − 1)"), h("td", {}), h("td", { class: "num", id: "compare-lift" }, pct(r.lift)),
            h("td", { class: "num" }, span(r.liftCi, pct)), h("td", { class: "num" }, span(r.liftSequence, pct))),
          h("tr", {}, h("td", {}, "p-value"), h("td", {}), h("td", { class: "num" }, pValue(r.pValue)), h("td", {}),
            h("td", { class: "num" }, pValue(r.sequentialPValue))))),
      h("p", { class: "verdict" }, verdict),
      r.warnings.map((w) => notice("warning", w)));
  }

  async function render(data, root) {
    const attribution = data.attribution;
    if (!attribution) {
      fill(root, h("section", { class: "card" }, h("h2", {}, "Compare sources"),
        h("p", { class: "muted" }, "The dataset group has no metric attribution yet.")));
      return;
    }
    const arn = attribution.metricAttributionArn;
    names = resourceNames(data);
    const metrics = attribution.metrics.map((m) => [m.metricName, `${m.metricName.toUpperCase()} — ${m.expression} of ${m.eventType}`]);
    const simple = attribution.metrics.filter((m) => !/^\s*RATIO/i.test(m.expression)).map((m) => [m.metricName, m.metricName.toUpperCase()]);
    const sources = await sourcesOf(arn);
    resultBox = h("div", { class: "compare-result" });
    if (sources.length < 2) {
      fill(root, h("section", { class: "card" }, h("h2", {}, "Compare sources"),
        h("p", { class: "muted" }, "Comparisons need events from at least two sources.")));
      return;
    }
    const pairs = sources.map((s) => [s, sourceName(s, names)]);
    form = h("form", { class: "compare-form", id: "compare-form",
      onsubmit: (event) => {
        event.preventDefault();
        const f = new FormData(form);
        choice = { arn, metric: f.get("metric"), per: f.get("per") || undefined, a: f.get("source-a"), b: f.get("source-b"), range: f.get("range") };
        if (choice.a === choice.b) {
          fill(resultBox, notice("error", "Choose two different sources."));
          choice = null;
          return;
        }
        run();
      } },
      ...select("metric", "Metric", metrics, metrics[0][0]),
      ...select("per", "Per", [["", "— (per user)"], ...simple], ""),
      ...select("source-a", "A (baseline)", pairs, sources[0]),
      ...select("source-b", "B", pairs, sources[1]),
      ...select("range", "Range", RANGES.map(([id, text]) => [id, text]), "14d"),
      h("button", { type: "submit", class: "primary" }, "Compare"));
    fill(root,
      h("section", { class: "card" }, h("h2", {}, "Compare sources"),
        h("p", { class: "muted" }, "Each user with an event attributed to a source (or an exposure from it) is one unit. A RATIO metric, or Per, divides totals (delta method). The anytime-valid interval stays valid however often you look."),
        form, resultBox));
    if (choice && choice.arn === arn) run();
  }

  return {
    show: render,
    changed: (data, root) => render(data, root),
    poll: () => run(),
  };
}

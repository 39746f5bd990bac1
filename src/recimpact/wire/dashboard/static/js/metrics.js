// Metrics: per metric, the live 15-minute series with one line per source (as CloudWatch graphs them), and each
// source's total and share over the chosen range. The range defaults to the data of the last 14 days (what the
// live series keeps): from its first window to its last; dragging across a chart zooms every chart and the totals
// to that span. Sources show as people name them (a recommender's or campaign's name), the ARN on hover.

import { read } from "./api.js";
import {
  fill, formatShare, formatTime, formatValue, fromLocalInput, h, notice, resourceNames, sourceLabel, sourceName, toLocalInput,
} from "./dom.js";
import uPlot from "../vendor/uplot/uPlot.esm.js";

const WINDOW = 900; // seconds: 15-minute windows aligned to the epoch
const DAY = 86400;
const PRESETS = [
  ["1h", 3600],
  ["6h", 6 * 3600],
  ["24h", DAY],
  ["3d", 3 * DAY],
  ["7d", 7 * DAY],
  ["14d", 14 * DAY],
];
const DEFAULT_SPAN = 14 * DAY;
const DEFAULT_RANGE = { span: DEFAULT_SPAN, fit: true }; // the last 14 days, drawn from the first window with data
const MIN_FIT = 3600; // a fitted range spans at least an hour, so a single window is not alone on the axis
const UNDEFINED = "SOURCE_NAME_UNDEFINED";
const PALETTE = ["#2563eb", "#e8590c", "#0f9d58", "#9333ea", "#db2777", "#0891b2", "#ca8a04", "#4f46e5", "#65a30d", "#dc2626"];
const CHART_HEIGHT = 240;

const colors = new Map(); // source -> colour, stable for the page's life so a source keeps its colour

function colorOf(source) {
  if (source === UNDEFINED) return "#8a8f98";
  if (!colors.has(source)) colors.set(source, PALETTE[colors.size % PALETTE.length]);
  return colors.get(source);
}

/** [start, end) of the range in epoch seconds, window-aligned; a preset ends with the current window. */
function bounds(range) {
  if (range.span) {
    const end = (Math.floor(Date.now() / 1000 / WINDOW) + 1) * WINDOW;
    return [end - range.span, end];
  }
  return [Math.floor(range.start / WINDOW) * WINDOW, Math.ceil(range.end / WINDOW) * WINDOW];
}

/** uPlot's columns for one metric: window starts, then one value per window for each source (0 where absent). */
function columns(rows, start, end) {
  const xs = [];
  for (let t = start; t < end; t += WINDOW) xs.push(t);
  const bySource = new Map();
  for (const row of rows) {
    if (!bySource.has(row.EVENT_ATTRIBUTION_SOURCE)) bySource.set(row.EVENT_ATTRIBUTION_SOURCE, new Map());
    bySource.get(row.EVENT_ATTRIBUTION_SOURCE).set(row.TIMESTAMP, row.VALUE);
  }
  const sources = [...bySource.keys()].sort((a, b) => (a === UNDEFINED) - (b === UNDEFINED) || a.localeCompare(b));
  const data = [xs, ...sources.map((s) => xs.map((t) => bySource.get(s).get(t) ?? 0))];
  return { sources, data };
}

/** The span a chart draws: the range, or in a fitted range its windows with data (first to last, an hour at
 * least, within the range). */
function drawn(range, start, end, rows) {
  if (!range.fit || !rows.length) return [start, end];
  let first = Infinity;
  let last = -Infinity;
  for (const row of rows) {
    first = Math.min(first, row.TIMESTAMP);
    last = Math.max(last, row.TIMESTAMP);
  }
  const to = Math.min(end, Math.floor(last / WINDOW) * WINDOW + WINDOW);
  const from = Math.max(start, Math.min(Math.floor(first / WINDOW) * WINDOW, to - MIN_FIT));
  return [from, to];
}

export function metricsView(app) {
  let range = DEFAULT_RANGE;
  let names = new Map(); // recommender and campaign ARN -> name
  let fields = null; // the range's inputs and the label of what the charts draw
  let cards = new Map(); // metric name -> { chart, plot, totals, sources }
  let controls = null;
  let message = null;
  let attributionArn = null;
  let loading = null;

  window.addEventListener("resize", () => {
    for (const card of cards.values()) {
      if (card.plot) card.plot.setSize({ width: card.chart.clientWidth, height: CHART_HEIGHT });
    }
  });

  function setRange(next) {
    range = next;
    renderControls();
    refresh();
  }

  function renderControls() {
    const [start, end] = bounds(range);
    const from = h("input", { type: "datetime-local", name: "start", value: toLocalInput(start), step: 900 });
    const to = h("input", { type: "datetime-local", name: "end", value: toLocalInput(end), step: 900 });
    const drawnLabel = h("span", { class: "range-drawn", id: "range-drawn" });
    fields = { from, to, drawnLabel };
    fill(
      controls,
      h("div", { class: "presets", role: "group", "aria-label": "Range" },
        h("button", {
          type: "button",
          class: `preset${range.fit ? " active" : ""}`,
          dataset: { span: "data" },
          title: "From the first to the last window with data, in the last 14 days",
          onclick: () => setRange(DEFAULT_RANGE),
        }, "Data"),
        PRESETS.map(([label, span]) => h("button", {
          type: "button",
          class: `preset${range.span === span && !range.fit ? " active" : ""}`,
          dataset: { span },
          onclick: () => setRange({ span }),
        }, label))),
      h("form", { class: "custom-range", onsubmit: (event) => {
        event.preventDefault();
        const s = fromLocalInput(from.value);
        const e = fromLocalInput(to.value);
        if (s === null || e === null || e <= s) {
          fill(message, notice("error", "Choose a start before the end."));
          return;
        }
        setRange({ start: s, end: e });
      } }, from, h("span", {}, "→"), to, h("button", { type: "submit", class: "secondary" }, "Apply")),
      h("span", { class: "range-label", id: "range-label" },
        range.fit
          ? "the data of the last 14d"
          : range.span ? `last ${PRESETS.find(([, s]) => s === range.span)?.[0] || `${range.span / 3600}h`}` : `${formatTime(start)} → ${formatTime(end)}`,
        drawnLabel),
      range.fit ? null : h("button", { type: "button", class: "link", id: "reset-range", onclick: () => setRange(DEFAULT_RANGE) }, "Back to the data's range"),
    );
  }

  function metricCard(metric) {
    const chart = h("div", { class: "chart" });
    const legend = h("div", { class: "legend", role: "group", "aria-label": "Sources" });
    const totals = h("div", { class: "totals" });
    const root = h(
      "section",
      { class: "card metric-card", dataset: { metric: metric.metricName.toUpperCase() } },
      h("div", { class: "card-head" },
        h("h3", {}, metric.metricName.toUpperCase()),
        h("span", { class: "muted" }, `${metric.expression} of ${metric.eventType} events`)),
      h("div", { class: "metric-body" }, h("div", { class: "chart-column" }, chart, legend), totals),
    );
    return { root, chart, legend, totals, plot: null, sources: null, entries: [], mathFunction: null };
  }

  /** The legend below a chart, on as few lines as fit: the window, then per source its colour, name and value in
   * that window (the hovered one, else the last). A click on a source hides or shows its line. */
  function buildLegend(card, sources) {
    const when = h("span", { class: "legend-window" });
    card.entries = sources.map((source, i) => {
      const value = h("span", { class: "legend-value" });
      const item = h("button", {
        type: "button",
        class: "legend-item",
        dataset: { source },
        title: source,
        "aria-pressed": "true",
        onclick: () => {
          const shown = !card.plot.series[i + 1].show;
          card.plot.setSeries(i + 1, { show: shown });
          item.setAttribute("aria-pressed", String(shown));
          item.classList.toggle("off", !shown);
        },
      },
      h("span", { class: "swatch", style: `background:${colorOf(source)}` }),
      h("span", { class: "legend-name" }, sourceName(source, names)),
      value);
      return { item, value };
    });
    card.when = when;
    fill(card.legend, when, card.entries.map((e) => e.item));
  }

  function showLegend(card, idx) {
    if (!card.plot || !card.entries.length) return;
    const xs = card.plot.data[0];
    const at = idx === null || idx === undefined ? xs.length - 1 : idx;
    card.when.textContent = at >= 0 ? formatTime(xs[at]) : "—";
    card.entries.forEach((entry, i) => {
      const v = card.plot.data[i + 1]?.[at];
      entry.value.textContent = v === null || v === undefined ? "—" : formatValue(v, card.mathFunction);
    });
  }

  function draw(card, rows, start, end, mathFunction) {
    const { sources, data } = columns(rows, start, end);
    card.root.dataset.sources = JSON.stringify(sources);
    card.mathFunction = mathFunction;
    if (!sources.length) {
      card.plot?.destroy();
      card.plot = null;
      card.sources = null;
      card.entries = [];
      fill(card.legend);
      fill(card.chart, h("p", { class: "no-data" }, "No events in this range yet."));
      return;
    }
    const sameSources = card.plot && JSON.stringify(card.sources) === JSON.stringify(sources);
    if (sameSources) {
      card.plot.setData(data);
      showLegend(card, card.plot.cursor.idx);
      return;
    }
    card.plot?.destroy();
    fill(card.chart);
    card.sources = sources;
    buildLegend(card, sources);
    card.plot = new uPlot(
      {
        width: Math.max(card.chart.clientWidth, 300),
        height: CHART_HEIGHT,
        cursor: { drag: { x: true, y: false, setScale: false } },
        legend: { show: false }, // ours, below: one compact line per few sources (buildLegend)
        scales: { x: { time: true } },
        axes: [{}, { size: 60, values: (u, ticks) => ticks.map((v) => formatValue(v, mathFunction)) }],
        series: [
          { label: "window" },
          ...sources.map((source) => ({
            label: sourceName(source, names),
            stroke: colorOf(source),
            width: 2,
            points: { show: false },
            value: (u, v) => (v === null || v === undefined ? "—" : formatValue(v, mathFunction)),
          })),
        ],
        hooks: {
          setCursor: [(u) => showLegend(card, u.cursor.idx)],
          setSelect: [
            (u) => {
              if (u.select.width < 5) return;
              // Points are window starts: the selection covers every window whose start it spans.
              const s = Math.floor(u.posToVal(u.select.left, "x") / WINDOW) * WINDOW;
              const e = (Math.floor(u.posToVal(u.select.left + u.select.width, "x") / WINDOW) + 1) * WINDOW;
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              setRange({ start: s, end: e });
            },
          ],
        },
      },
      data,
      card.chart,
    );
    showLegend(card, null);
  }

  function drawTotals(card, metric) {
    const rows = metric.sources.map((s) =>
      h("tr", { dataset: { source: s.source } },
        h("td", {}, h("span", { class: "swatch", style: `background:${colorOf(s.source)}` }), sourceLabel(s.source, names)),
        h("td", { class: "value num" }, formatValue(s.value, metric.mathFunction)),
        h("td", { class: "share num" },
          h("span", { class: "share-bar" }, h("span", { style: `width:${((s.share ?? 0) * 100).toFixed(1)}%;background:${colorOf(s.source)}` })),
          formatShare(s.share))));
    fill(
      card.totals,
      h("table", { class: "grid totals-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Source"), h("th", { class: "num" }, "Total"), h("th", { class: "num" }, "Share"))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No data in this range"))),
        h("tfoot", {}, h("tr", {}, h("th", {}, "All sources"), h("th", { class: "num total" }, formatValue(metric.total, metric.mathFunction)), h("th", {})))),
    );
  }

  /** Fetch the series and the totals for the range and draw them; one refresh at a time. */
  async function refresh() {
    if (!attributionArn) return;
    if (loading) return loading;
    const arn = attributionArn;
    loading = (async () => {
      const asked = range;
      const [start, end] = bounds(asked);
      try {
        const [series, totals] = await Promise.all([
          read("series", { metricAttributionArn: arn, start, end }),
          read("totals", { metricAttributionArn: arn, start, end }),
        ]);
        if (arn !== attributionArn) return;
        fill(message);
        const byMetric = new Map();
        for (const row of series.rows) {
          if (!byMetric.has(row.METRIC_NAME)) byMetric.set(row.METRIC_NAME, []);
          byMetric.get(row.METRIC_NAME).push(row);
        }
        const [from, to] = drawn(asked, start, end, series.rows);
        for (const metric of totals.metrics) {
          const card = cards.get(metric.metricName);
          if (!card) continue;
          draw(card, byMetric.get(metric.metricName) || [], from, to, metric.mathFunction);
          drawTotals(card, metric);
        }
        // A fitted range says what it draws, and the date fields hold it (Apply keeps it as a custom range).
        const fitted = asked.fit && series.rows.length > 0 && asked === range;
        fields.drawnLabel.textContent = fitted ? `: ${formatTime(from)} → ${formatTime(to)}` : "";
        if (fitted && document.activeElement !== fields.from && document.activeElement !== fields.to) {
          fields.from.value = toLocalInput(from);
          fields.to.value = toLocalInput(to);
        }
      } catch (error) {
        fill(message, notice("error", error.message));
      }
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  }

  function render(data, root) {
    for (const card of cards.values()) card.plot?.destroy();
    cards = new Map();
    const attribution = data.attribution;
    attributionArn = attribution?.metricAttributionArn || null;
    names = resourceNames(data);
    if (!attribution) {
      fill(root, h("section", { class: "card empty" },
        h("h2", {}, "No metric attribution"),
        h("p", {}, "This dataset group has no metric attribution yet. ",
          h("a", { href: `#${new URLSearchParams({ group: data.group.datasetGroupArn, tab: "attribution" })}` }, "Create one"),
          " to see each source's metrics here.")));
      return;
    }
    controls = h("div", { class: "range-controls" });
    message = h("div", { class: "form-message" });
    const list = h("div", { class: "metric-cards" });
    for (const metric of attribution.metrics) {
      const card = metricCard(metric);
      cards.set(metric.metricName.toUpperCase(), card);
      list.append(card.root);
    }
    fill(root,
      h("section", { class: "card range-card" }, controls,
        h("p", { class: "muted hint" }, "15-minute windows. Drag across a chart to zoom in; the totals follow the range.")),
      message, list);
    renderControls();
    refresh();
  }

  return {
    show: render,
    changed: render,
    poll: () => refresh(),
  };
}

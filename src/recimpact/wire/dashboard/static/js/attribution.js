// The metric attribution: its definition, and the builder that creates or updates it. As in the Personalize
// console, metrics are built from a name, an event type, a function and (for SUM) a numeric column of the
// group's schemas, or written as the JSON of the API request; both modes edit the same request.

import { aws } from "./api.js";
import { arnName, fill, formatTime, h, notice, statusBadge } from "./dom.js";

const MAX_METRICS = 10; // AWS: at most 10 metrics per attribution
const EVENT_TYPES = ["View", "Click", "AddToCart", "Purchase", "Watch", "Like", "Rating"];
const SAMPLECOUNT = /^\s*SAMPLECOUNT\s*\(\s*\)\s*$/i;
const SUM = /^\s*SUM\s*\(\s*(ITEMS|INTERACTIONS)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/i;

/** A metric's expression split into the builder's function and column; null when it is neither form. */
function splitExpression(expression) {
  if (SAMPLECOUNT.test(expression || "")) return { fn: "SAMPLECOUNT", column: "" };
  const match = SUM.exec(expression || "");
  return match ? { fn: "SUM", column: `${match[1].toUpperCase()}.${match[2].toUpperCase()}` } : null;
}

function accountOf(arn) {
  return (arn || "").split(":")[4] || "000000000000";
}

/**
 * The builder. `mode` is "create" (CreateMetricAttribution for `data.group`) or "update"
 * (UpdateMetricAttribution of `data.attribution`: metrics to add, and the output configuration).
 * `onDone(response)` runs after the call succeeds. Returns { root, dirty }.
 */
export function attributionBuilder(data, { mode = "create", onDone }) {
  const attribution = data.attribution;
  const columns = data.columns.map((c) => `${c.dataset}.${c.column}`);
  const output = attribution?.metricsOutputConfig || {};
  let dirty = false;
  let jsonMode = false;

  const name = h("input", { name: "name", placeholder: "my-metric-attribution", maxlength: 63 });
  const path = h("input", {
    name: "path",
    placeholder: "s3://bucket/prefix/ or file:///absolute/dir/",
    value: output.s3DataDestination?.path || "",
  });
  const roleArn = h("input", {
    name: "roleArn",
    value: output.roleArn || `arn:aws:iam::${accountOf(data.group.datasetGroupArn)}:role/PersonalizeMetricAttribution`,
  });
  const kmsKeyArn = h("input", {
    name: "kmsKeyArn",
    placeholder: "optional: arn:aws:kms:…",
    value: output.s3DataDestination?.kmsKeyArn || "",
  });
  const rows = h("tbody", {});
  const json = h("textarea", { name: "json", rows: 16, spellcheck: "false", class: "json" });
  const message = h("div", { class: "form-message" });
  const eventTypes = h("datalist", { id: `event-types-${mode}` }, EVENT_TYPES.map((t) => h("option", { value: t })));

  function metricRow(metric = {}) {
    const split = splitExpression(metric.expression) || { fn: "SAMPLECOUNT", column: "" };
    const fn = h(
      "select",
      { name: "function", "aria-label": "Function" },
      h("option", { value: "SAMPLECOUNT" }, "Count (SAMPLECOUNT)"),
      h("option", { value: "SUM", disabled: !columns.length && split.fn !== "SUM" }, "Sum (SUM)"),
    );
    fn.value = split.fn;
    const known = split.column && !columns.includes(split.column) ? [split.column] : [];
    const column = h(
      "select",
      { name: "column", "aria-label": "Column" },
      h("option", { value: "" }, columns.length ? "choose a numeric column" : "no numeric columns"),
      [...columns, ...known].map((c) => h("option", { value: c }, c)),
    );
    column.value = split.column;
    const sync = () => {
      column.disabled = fn.value !== "SUM";
      if (column.disabled) column.value = "";
    };
    fn.addEventListener("change", sync);
    sync();
    const row = h(
      "tr",
      { class: "metric-row" },
      h("td", {}, h("input", { name: "metricName", "aria-label": "Metric name", placeholder: "countViews", value: metric.metricName || "" })),
      h("td", {}, h("input", { name: "eventType", "aria-label": "Event type", list: eventTypes.id, placeholder: "View", value: metric.eventType || "" })),
      h("td", {}, fn),
      h("td", {}, column),
      h("td", {}, h("button", { type: "button", class: "link danger", "aria-label": "Remove metric", onclick: () => { row.remove(); touched(); } }, "Remove")),
    );
    return row;
  }

  /** The metrics of the rows, leaving out rows left blank (no name and no event type). */
  function readMetrics() {
    return [...rows.querySelectorAll(".metric-row")]
      .map((row) => {
        const get = (n) => row.querySelector(`[name=${n}]`).value.trim();
        return {
          eventType: get("eventType"),
          expression: get("function") === "SUM" ? `SUM(${get("column")})` : "SAMPLECOUNT()",
          metricName: get("metricName"),
        };
      })
      .filter((m) => m.metricName || m.eventType);
  }

  function outputConfig() {
    const config = { roleArn: roleArn.value.trim() };
    if (path.value.trim()) {
      config.s3DataDestination = { path: path.value.trim() };
      if (kmsKeyArn.value.trim()) config.s3DataDestination.kmsKeyArn = kmsKeyArn.value.trim();
    }
    return config;
  }

  /** The API request the builder describes. */
  function request() {
    if (mode === "create") {
      return {
        name: name.value.trim(),
        datasetGroupArn: data.group.datasetGroupArn,
        metrics: readMetrics(),
        metricsOutputConfig: outputConfig(),
      };
    }
    const body = { metricAttributionArn: attribution.metricAttributionArn };
    const add = readMetrics();
    if (add.length) body.addMetrics = add;
    if (JSON.stringify(outputConfig()) !== JSON.stringify(output)) body.metricsOutputConfig = outputConfig();
    return body;
  }

  /** Fill the builder from a request (the JSON mode's text); throws on what the builder cannot show. */
  function load(body) {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("the request must be a JSON object");
    const metrics = mode === "create" ? body.metrics : body.addMetrics;
    if (metrics !== undefined && !Array.isArray(metrics)) throw new Error(`${mode === "create" ? "metrics" : "addMetrics"} must be a list`);
    for (const m of metrics || []) {
      if (!splitExpression(m.expression)) throw new Error(`the builder cannot show the expression ${JSON.stringify(m.expression)}`);
    }
    if (mode === "create") name.value = body.name || "";
    const config = body.metricsOutputConfig || (mode === "update" ? output : {});
    roleArn.value = config.roleArn || "";
    path.value = config.s3DataDestination?.path || "";
    kmsKeyArn.value = config.s3DataDestination?.kmsKeyArn || "";
    fill(rows, (metrics || []).map((m) => metricRow(m)));
  }

  function touched() {
    dirty = true;
    addButton.disabled = rows.children.length >= MAX_METRICS;
  }

  const addButton = h("button", { type: "button", class: "secondary", id: `add-metric-${mode}`, onclick: () => { rows.append(metricRow()); touched(); } }, "Add metric");
  const builderPane = h(
    "div",
    { class: "builder-pane" },
    mode === "create" ? h("label", { class: "field" }, "Name", name) : null,
    h(
      "table",
      { class: "grid metrics-editor" },
      h("thead", {}, h("tr", {}, ["Metric name", "Event type", "Function", "Column", ""].map((c) => h("th", {}, c)))),
      rows,
    ),
    addButton,
    columns.length ? null : h("p", { class: "muted" }, "The group's schemas have no numeric column: only SAMPLECOUNT() is possible."),
    h("fieldset", { class: "output" },
      h("legend", {}, "Output"),
      h("label", { class: "field" }, "S3 (or file://) output path", path),
      h("label", { class: "field" }, "IAM role ARN", roleArn),
      h("label", { class: "field" }, "KMS key ARN", kmsKeyArn)),
    eventTypes,
  );
  const jsonPane = h(
    "div",
    { class: "json-pane", hidden: true },
    h("p", { class: "muted" }, mode === "create"
      ? "The CreateMetricAttribution request, as boto3 or the AWS CLI would send it."
      : "The UpdateMetricAttribution request: addMetrics, removeMetrics and metricsOutputConfig."),
    json,
  );
  const builderTab = h("button", { type: "button", class: "mode active", "aria-pressed": "true", onclick: () => setMode(false) }, "Builder");
  const jsonTab = h("button", { type: "button", class: "mode", "aria-pressed": "false", onclick: () => setMode(true) }, "JSON");

  function setMode(toJson) {
    if (toJson === jsonMode) return;
    if (toJson) {
      json.value = JSON.stringify(request(), null, 2);
    } else {
      try {
        load(JSON.parse(json.value));
      } catch (error) {
        fill(message, notice("error", `Cannot show this in the builder: ${error.message}`));
        return;
      }
    }
    fill(message);
    jsonMode = toJson;
    builderPane.hidden = toJson;
    jsonPane.hidden = !toJson;
    builderTab.classList.toggle("active", !toJson);
    jsonTab.classList.toggle("active", toJson);
    builderTab.setAttribute("aria-pressed", String(!toJson));
    jsonTab.setAttribute("aria-pressed", String(toJson));
  }

  async function submit(event) {
    event.preventDefault();
    let body;
    if (jsonMode) {
      try {
        body = JSON.parse(json.value);
      } catch (error) {
        fill(message, notice("error", `The JSON is not valid: ${error.message}`));
        return;
      }
      if (mode === "create" && body && typeof body === "object" && !body.datasetGroupArn) body.datasetGroupArn = data.group.datasetGroupArn;
      if (mode === "update" && body && typeof body === "object" && !body.metricAttributionArn) body.metricAttributionArn = attribution.metricAttributionArn;
    } else {
      body = request();
    }
    submitButton.disabled = true;
    fill(message, notice("info", mode === "create" ? "Creating…" : "Updating…"));
    try {
      const response = await aws(mode === "create" ? "CreateMetricAttribution" : "UpdateMetricAttribution", body);
      dirty = false;
      fill(message, notice("info", mode === "create" ? `Created ${arnName(response.metricAttributionArn)}` : "Updated"));
      await onDone?.(response);
    } catch (error) {
      fill(message, notice("error", error.message));
    } finally {
      submitButton.disabled = false;
    }
  }

  const submitButton = h("button", { type: "submit", class: "primary" }, mode === "create" ? "Create metric attribution" : "Update metric attribution");
  const root = h(
    "form",
    // novalidate: the server checks the request and answers with AWS's messages, in either mode.
    { class: `builder builder-${mode}`, novalidate: true, onsubmit: submit, oninput: () => { dirty = true; } },
    h("div", { class: "mode-switch", role: "group", "aria-label": "Input mode" }, builderTab, jsonTab),
    builderPane,
    jsonPane,
    message,
    h("div", { class: "actions" }, submitButton),
  );
  rows.append(metricRow());
  return { root, dirty: () => dirty };
}

export function attributionView(app) {
  let builder = null;

  function definition(data, root) {
    const a = data.attribution;
    const destination = a.metricsOutputConfig?.s3DataDestination;
    const message = h("div", { class: "form-message" });
    const removeMetric = (metricName) => async () => {
      fill(message, notice("info", `Removing ${metricName}…`));
      try {
        await aws("UpdateMetricAttribution", { metricAttributionArn: a.metricAttributionArn, removeMetrics: [metricName] });
        await app.reload();
        render(app.data, root);
      } catch (error) {
        fill(message, notice("error", error.message));
      }
    };
    const confirm = h("span", { class: "confirm", hidden: true },
      "Delete this attribution? Reporting stops; what was published stays. ",
      h("button", { type: "button", class: "danger", id: "confirm-delete", onclick: async () => {
        try {
          await aws("DeleteMetricAttribution", { metricAttributionArn: a.metricAttributionArn });
          await app.reload();
          render(app.data, root);
        } catch (error) {
          fill(message, notice("error", error.message));
        }
      } }, "Delete"),
      h("button", { type: "button", class: "secondary", onclick: () => { confirm.hidden = true; } }, "Cancel"));
    return h(
      "section",
      { class: "card", id: "attribution-definition" },
      h("div", { class: "card-head" },
        h("h2", {}, a.name),
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "secondary danger", onclick: () => { confirm.hidden = false; } }, "Delete attribution")),
      confirm,
      h(
        "dl",
        { class: "fields" },
        h("dt", {}, "ARN"), h("dd", {}, h("code", {}, a.metricAttributionArn)),
        h("dt", {}, "Status"), h("dd", {}, statusBadge(a.status), a.failureReason ? ` ${a.failureReason}` : ""),
        h("dt", {}, "Output path"), h("dd", {}, h("code", {}, destination?.path || "—")),
        h("dt", {}, "IAM role"), h("dd", {}, h("code", {}, a.metricsOutputConfig?.roleArn || "—")),
        destination?.kmsKeyArn ? [h("dt", {}, "KMS key"), h("dd", {}, h("code", {}, destination.kmsKeyArn))] : null,
        h("dt", {}, "Created"), h("dd", {}, formatTime(a.creationDateTime)),
        h("dt", {}, "Updated"), h("dd", {}, formatTime(a.lastUpdatedDateTime)),
      ),
      h("h3", {}, `Metrics (${a.metrics.length} of ${MAX_METRICS})`),
      h(
        "table",
        { class: "grid", id: "attribution-metrics" },
        h("thead", {}, h("tr", {}, ["Metric name", "Event type", "Expression", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, a.metrics.map((m) =>
          h("tr", { dataset: { metric: m.metricName } },
            h("td", {}, m.metricName),
            h("td", {}, m.eventType),
            h("td", {}, h("code", {}, m.expression)),
            h("td", {}, h("button", { type: "button", class: "link danger", onclick: removeMetric(m.metricName) }, "Remove"))))),
      ),
      message,
    );
  }

  function render(data, root) {
    if (data.attribution) {
      builder = attributionBuilder(data, { mode: "update", onDone: async () => { await app.reload(); render(app.data, root); } });
      fill(root, definition(data, root),
        h("section", { class: "card" }, h("h3", {}, "Add metrics or change the output"), builder.root));
    } else {
      builder = attributionBuilder(data, { mode: "create", onDone: async () => { await app.reload(); render(app.data, root); } });
      fill(root, h("section", { class: "card", id: "create-attribution" },
        h("h2", {}, "Create metric attribution"),
        h("p", { class: "muted" }, "Choose the events to measure and how: each metric counts events of a type (SAMPLECOUNT) or sums a numeric column of the item or the event (SUM). Reports go to the output path; the live series feeds the Metrics tab."),
        builder.root));
    }
  }

  return {
    show: render,
    // Another client changed the attribution: draw it again unless the user is in the middle of editing.
    changed: (data, root) => { if (!builder?.dirty()) render(data, root); },
    poll: async () => {},
  };
}

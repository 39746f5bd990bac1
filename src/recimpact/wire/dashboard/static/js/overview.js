// Overview: the dataset group and its resources (datasets with their schemas, the event tracker, the recommenders,
// solutions and campaigns, the metric attribution), as the Personalize console's dataset group page lists them.

import { arnName, fill, formatTime, h, statusBadge } from "./dom.js";

function table(headers, rows, attrs = {}) {
  return h(
    "table",
    { class: "grid", ...attrs },
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows),
  );
}

function field(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

/** The group's recommenders, custom solutions and the campaigns deploying them: one row each, newest first. */
function modelRows(data) {
  const rows = [
    ...data.recommenders.map((r) => ["Recommender", r.recommenderArn, r]),
    ...data.solutions.map((s) => ["Solution", s.solutionArn, s]),
    ...data.campaigns.map((c) => ["Campaign", c.campaignArn, c]),
  ];
  return rows.map(([kind, arn, r]) =>
    h(
      "tr",
      { dataset: { kind: kind.toLowerCase(), arn } },
      h("td", {}, kind),
      h("td", {}, h("span", { class: "name", title: arn }, r.name)),
      h("td", { title: r.recipeArn || "" }, r.recipeArn ? arnName(r.recipeArn) : "—"),
      h("td", {}, statusBadge(r.status)),
      h("td", {}, formatTime(r.creationDateTime)),
    ),
  );
}

export function overviewView(app) {
  function render(data, root) {
    const { group, datasets, trackers, attribution } = data;
    const models = modelRows(data);
    const byType = new Map(datasets.map((d) => [d.datasetType, d]));
    const go = (tab) => (event) => {
      event.preventDefault();
      app.go(group.datasetGroupArn, tab);
    };
    fill(
      root,
      h(
        "section",
        { class: "card", id: "group-details" },
        h("h2", {}, group.name),
        h(
          "dl",
          { class: "fields" },
          field("ARN", h("code", {}, group.datasetGroupArn)),
          field("Status", statusBadge(group.status)),
          field("Domain", group.domain || "custom"),
          field("Created", formatTime(group.creationDateTime)),
        ),
      ),
      h(
        "section",
        { class: "card" },
        h("h3", {}, "Datasets"),
        datasets.length
          ? table(
              ["Type", "Name", "Schema", "Status", "Created"],
              ["INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS"]
                .filter((t) => byType.has(t))
                .map((t) => {
                  const d = byType.get(t);
                  return h(
                    "tr",
                    { dataset: { type: t } },
                    h("td", {}, t),
                    h("td", {}, d.name),
                    h("td", { title: d.schemaArn }, arnName(d.schemaArn)),
                    h("td", {}, statusBadge(d.status)),
                    h("td", {}, formatTime(d.creationDateTime)),
                  );
                }),
              { id: "datasets" },
            )
          : h("p", { class: "muted" }, "No datasets yet."),
      ),
      h(
        "section",
        { class: "card" },
        h("h3", {}, "Event tracker"),
        trackers.length
          ? table(
              ["Name", "Tracking ID", "Status", "Created"],
              trackers.map((t) =>
                h(
                  "tr",
                  {},
                  h("td", {}, t.name),
                  h("td", {}, h("code", {}, t.trackingId || "")),
                  h("td", {}, statusBadge(t.status)),
                  h("td", {}, formatTime(t.creationDateTime)),
                ),
              ),
              { id: "trackers" },
            )
          : h("p", { class: "muted" }, "No event tracker: PutEvents needs one."),
      ),
      h(
        "section",
        { class: "card" },
        h("h3", {}, "Recommenders, solutions and campaigns"),
        models.length
          ? table(["Kind", "Name", "Recipe", "Status", "Created"], models, { id: "models" })
          : h("p", { class: "muted", id: "no-models" }, "None yet: recommendations (GetRecommendations) come from a recommender or a campaign."),
      ),
      h(
        "section",
        { class: "card", id: "attribution-summary" },
        h("h3", {}, "Metric attribution"),
        attribution
          ? [
              h(
                "dl",
                { class: "fields" },
                field("Name", attribution.name),
                field("Status", statusBadge(attribution.status)),
                field("Metrics", attribution.metrics.map((m) => m.metricName).join(", ")),
                field("Output", h("code", {}, attribution.metricsOutputConfig?.s3DataDestination?.path || "—")),
              ),
              h("p", {}, h("a", { href: "#", onclick: go("metrics") }, "See the metrics →")),
            ]
          : h(
              "p",
              {},
              "None yet. ",
              h("a", { href: "#", onclick: go("attribution") }, "Create a metric attribution"),
              " to measure each source's impact.",
            ),
      ),
    );
  }

  return {
    show: render,
    changed: render,
    poll: async () => {}, // statuses are in the app's fingerprint: a change calls `changed`
  };
}

// The dashboard's shell: the dataset groups in the sidebar, a tab per view of the selected group, the URL hash
// as the navigation state (#group=<arn>&tab=<tab>), and the live refresh loop.

import { aws, awsAll, read } from "./api.js";
import { attributionView } from "./attribution.js";
import { compareView } from "./compare.js";
import { arnName, fill, h, notice, statusBadge } from "./dom.js";
import { importsView } from "./imports.js";
import { metricsView } from "./metrics.js";
import { overviewView } from "./overview.js";

const POLL_SECONDS = 3;
const TABS = [
  ["overview", "Overview"],
  ["attribution", "Metric attribution"],
  ["metrics", "Metrics"],
  ["compare", "Compare"],
  ["imports", "Import jobs"],
];

/** Everything the views show about one dataset group, loaded in one go. */
async function loadGroup(arn) {
  const [{ datasetGroup }, datasets, trackers, attributions, columns, recommenders, solutions] = await Promise.all([
    aws("DescribeDatasetGroup", { datasetGroupArn: arn }),
    awsAll("ListDatasets", { datasetGroupArn: arn }, "datasets"),
    awsAll("ListEventTrackers", { datasetGroupArn: arn }, "eventTrackers"),
    awsAll("ListMetricAttributions", { datasetGroupArn: arn }, "metricAttributions"),
    read("numeric-columns", { datasetGroupArn: arn }),
    awsAll("ListRecommenders", { datasetGroupArn: arn }, "recommenders"),
    awsAll("ListSolutions", { datasetGroupArn: arn }, "solutions"),
  ]);
  // The List summaries leave out what the overview shows (a dataset's schema, a tracker's trackingId); campaigns
  // are listed per solution, and show their solution's recipe.
  const [described, trackersDescribed, campaigns] = await Promise.all([
    Promise.all(datasets.map((d) => aws("DescribeDataset", { datasetArn: d.datasetArn }).then((r) => r.dataset))),
    Promise.all(trackers.map((t) => aws("DescribeEventTracker", { eventTrackerArn: t.eventTrackerArn }).then((r) => r.eventTracker))),
    Promise.all(solutions.map((s) => awsAll("ListCampaigns", { solutionArn: s.solutionArn }, "campaigns")
      .then((found) => found.map((c) => ({ ...c, solutionArn: s.solutionArn, recipeArn: s.recipeArn }))))).then((lists) => lists.flat()),
  ]);
  let attribution = null;
  if (attributions.length) {
    const arnOf = attributions[0].metricAttributionArn;
    const [{ metricAttribution }, metrics] = await Promise.all([
      aws("DescribeMetricAttribution", { metricAttributionArn: arnOf }),
      awsAll("ListMetricAttributionMetrics", { metricAttributionArn: arnOf }, "metrics"),
    ]);
    attribution = { ...metricAttribution, metrics };
  }
  return {
    group: datasetGroup,
    datasets: described,
    trackers: trackersDescribed,
    recommenders,
    solutions,
    campaigns,
    attribution,
    columns: columns.columns,
  };
}

/** What, if it changes, means a view must be drawn again (statuses and timestamps of jobs do not count). */
function fingerprint(data) {
  if (!data) return "";
  const a = data.attribution;
  return JSON.stringify([
    data.group.datasetGroupArn,
    data.group.status,
    data.datasets.map((d) => [d.datasetArn, d.status]),
    data.trackers.map((t) => [t.eventTrackerArn, t.status]),
    [...data.recommenders, ...data.solutions, ...data.campaigns].map((r) => [r.recommenderArn || r.solutionArn || r.campaignArn, r.status]),
    a ? [a.metricAttributionArn, a.status, a.metrics, a.metricsOutputConfig] : null,
  ]);
}

class App {
  constructor(root) {
    this.root = root;
    this.groups = [];
    this.groupArn = null;
    this.tab = "overview";
    this.data = null;
    this.live = true;
    this.views = {
      overview: overviewView(this),
      attribution: attributionView(this),
      metrics: metricsView(this),
      compare: compareView(this),
      imports: importsView(this),
    };
    this.build();
  }

  build() {
    this.groupList = h("nav", { class: "group-list", "aria-label": "Dataset groups" });
    this.liveToggle = h("input", { type: "checkbox", id: "live", checked: true, onchange: () => this.setLive() });
    this.updated = h("span", { class: "updated", id: "updated" });
    this.tabBar = h("div", { class: "tabs", role: "tablist" });
    this.main = h("main", { class: "view" });
    this.banner = h("div", { class: "banner" });
    fill(
      this.root,
      h(
        "header",
        { class: "topbar" },
        h("h1", {}, "recimpact"),
        h("span", { class: "subtitle" }, "metric attribution"),
        h("span", { class: "spacer" }),
        h("label", { class: "live", title: `Refresh every ${POLL_SECONDS} s while the page is visible` },
          this.liveToggle, h("span", { class: "live-dot" }), "Live"),
        this.updated,
      ),
      h(
        "div",
        { class: "layout" },
        h("aside", { class: "sidebar" }, h("h2", {}, "Dataset groups"), this.groupList),
        h("div", { class: "content" }, this.banner, this.tabBar, this.main),
      ),
    );
    window.addEventListener("hashchange", () => this.route());
    document.addEventListener("visibilitychange", () => this.schedule());
  }

  async start() {
    await this.refreshGroups();
    await this.route();
    this.schedule();
  }

  /** Navigate: the hash is the single source of the selected group and tab. */
  go(groupArn, tab) {
    const params = new URLSearchParams();
    if (groupArn) params.set("group", groupArn);
    if (tab) params.set("tab", tab);
    const hash = `#${params.toString()}`;
    if (location.hash === hash) this.route();
    else location.hash = hash;
  }

  async route() {
    const params = new URLSearchParams(location.hash.slice(1));
    const groupArn = params.get("group") || this.groups[0]?.datasetGroupArn || null;
    const tab = TABS.some(([id]) => id === params.get("tab")) ? params.get("tab") : "overview";
    const groupChanged = groupArn !== this.groupArn;
    this.groupArn = groupArn;
    this.tab = tab;
    this.renderGroups();
    this.renderTabs();
    if (!groupArn) {
      fill(this.main, h("div", { class: "empty" },
        h("h2", {}, "No dataset groups yet"),
        h("p", {}, "Create one with boto3's personalize client against this server, or run ",
          h("code", {}, "recimpact demo"), ".")));
      return;
    }
    if (groupChanged || !this.data) {
      fill(this.main, h("p", { class: "loading" }, "Loading…"));
      if (!(await this.reload())) return;
    }
    this.show();
  }

  show() {
    this.views[this.tab].show(this.data, this.main);
  }

  /** Reload the selected group's resources; true when they loaded. */
  async reload() {
    const arn = this.groupArn;
    try {
      const data = await loadGroup(arn);
      if (arn !== this.groupArn) return false; // the user moved on meanwhile
      this.data = data;
      this.clearError();
      return true;
    } catch (error) {
      this.data = null;
      this.showError(error);
      fill(this.main);
      return false;
    }
  }

  async refreshGroups() {
    try {
      this.groups = await awsAll("ListDatasetGroups", {}, "datasetGroups");
      this.clearError();
    } catch (error) {
      this.showError(error);
    }
    this.renderGroups();
  }

  renderGroups() {
    if (!this.groups.length) {
      fill(this.groupList, h("p", { class: "muted" }, "None"));
      return;
    }
    fill(
      this.groupList,
      this.groups.map((g) =>
        h(
          "a",
          {
            class: `group${g.datasetGroupArn === this.groupArn ? " selected" : ""}`,
            href: `#${new URLSearchParams({ group: g.datasetGroupArn, tab: this.tab })}`,
            dataset: { arn: g.datasetGroupArn },
            title: g.datasetGroupArn,
          },
          h("span", { class: "group-name" }, g.name),
          statusBadge(g.status),
        ),
      ),
    );
  }

  renderTabs() {
    fill(
      this.tabBar,
      TABS.map(([id, label]) =>
        h(
          "a",
          {
            class: `tab${id === this.tab ? " active" : ""}`,
            role: "tab",
            "aria-selected": String(id === this.tab),
            href: `#${new URLSearchParams({ ...(this.groupArn ? { group: this.groupArn } : {}), tab: id })}`,
            dataset: { tab: id },
          },
          label,
        ),
      ),
    );
    if (this.groupArn) {
      const name = arnName(this.groupArn);
      this.tabBar.prepend(h("span", { class: "crumb" }, name));
    }
  }

  showError(error) {
    fill(this.banner, notice("error", error.message));
  }

  clearError() {
    fill(this.banner);
  }

  setLive() {
    this.live = this.liveToggle.checked;
    this.schedule();
  }

  /** Poll while live and visible; one timer at a time. */
  schedule() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.live && document.visibilityState === "visible") {
      this.timer = setTimeout(() => this.poll(), POLL_SECONDS * 1000);
    }
  }

  async poll() {
    try {
      const before = this.groups.map((g) => [g.datasetGroupArn, g.status]).join();
      await this.refreshGroups();
      if (this.groups.map((g) => [g.datasetGroupArn, g.status]).join() !== before && !this.groupArn) {
        await this.route();
      }
      if (this.groupArn) {
        const was = fingerprint(this.data);
        if (await this.reload()) {
          if (fingerprint(this.data) !== was) this.views[this.tab].changed(this.data, this.main);
          await this.views[this.tab].poll();
        }
      }
      this.updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } finally {
      this.schedule();
    }
  }
}

const app = new App(document.getElementById("app"));
window.recimpact = app; // for a developer's console
app.start();

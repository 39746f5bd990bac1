// Import jobs: the group's dataset import jobs with their status, progress and report, the reports at the
// attribution's destination, and the form that starts a job. As in the console, "publish metrics for this import
// job" needs a metric attribution, and the form offers to create one on the spot when there is none.

import { aws, read, readUrl } from "./api.js";
import { attributionBuilder } from "./attribution.js";
import { arnName, fill, formatCount, formatTime, h, notice, statusBadge } from "./dom.js";

function defaultJobName() {
  return `import-${new Date().toISOString().replace(/[-:]/g, "").slice(0, 15)}`;
}

export function importsView(app) {
  let jobsBox = null;
  let reportsBox = null;
  let formDirty = false;
  let inlineBuilder = null; // the attribution builder the form opened, if any

  function reportLink(attributionArn, name, label = name) {
    return h("a", {
      class: "download",
      href: readUrl("reports/file", { metricAttributionArn: attributionArn, name }),
      download: name,
    }, label);
  }

  function renderJobs(jobs, data) {
    const attributionArn = data.attribution?.metricAttributionArn;
    if (!jobs.length) {
      fill(jobsBox, h("p", { class: "muted" }, "No import jobs yet."));
      return;
    }
    fill(
      jobsBox,
      h("table", { class: "grid", id: "import-jobs" },
        h("thead", {}, h("tr", {}, ["Job", "Dataset", "Mode", "Publish", "Status", "Records", "Created", "Report"].map((c) => h("th", {}, c)))),
        h("tbody", {}, jobs.map((job) => {
          const running = job.status === "CREATE PENDING" || job.status === "CREATE IN_PROGRESS";
          const fraction = job.progress?.fraction;
          return h("tr", { dataset: { job: job.jobName, status: job.status } },
            h("td", { title: job.datasetImportJobArn }, job.jobName, h("div", { class: "muted small", title: job.dataLocation }, job.dataLocation)),
            h("td", {}, job.datasetType),
            h("td", {}, job.importMode),
            h("td", {}, job.publishAttributionMetricsToS3 ? "yes" : "no"),
            h("td", {}, statusBadge(job.status),
              running && fraction !== null && fraction !== undefined
                ? h("progress", { max: 1, value: fraction, title: job.progress?.phase || "" })
                : null,
              job.failureReason ? h("div", { class: "failure" }, job.failureReason) : null),
            h("td", { class: "num" }, formatCount(job.rows ?? job.progress?.rowsProcessed)),
            h("td", {}, formatTime(job.creationDateTime)),
            h("td", {}, job.reportName && attributionArn ? reportLink(attributionArn, job.reportName, "Download CSV") : job.reportName || "—"),
          );
        }))),
    );
  }

  function renderReports(reports, attributionArn) {
    fill(
      reportsBox,
      reports.length
        ? h("table", { class: "grid", id: "reports" },
            h("thead", {}, h("tr", {}, ["Report", "Size", "Written"].map((c) => h("th", {}, c)))),
            h("tbody", {}, reports.map((r) =>
              h("tr", {}, h("td", {}, reportLink(attributionArn, r.name)), h("td", { class: "num" }, `${formatCount(r.size)} B`), h("td", {}, formatTime(r.lastModified))))))
        : h("p", { class: "muted" }, "No reports yet: an import job with “publish metrics” writes one."),
    );
  }

  async function refresh() {
    const data = app.data;
    if (!data || !jobsBox) return;
    try {
      const { datasetImportJobs } = await read("import-jobs", { datasetGroupArn: data.group.datasetGroupArn });
      renderJobs(datasetImportJobs, data);
      const a = data.attribution;
      if (a && a.metricsOutputConfig?.s3DataDestination) {
        const { reports } = await read("reports", { metricAttributionArn: a.metricAttributionArn });
        renderReports(reports, a.metricAttributionArn);
      } else {
        fill(reportsBox, h("p", { class: "muted" }, "Reports need a metric attribution with an output path."));
      }
    } catch (error) {
      fill(jobsBox, notice("error", error.message));
    }
  }

  function importForm(data) {
    const datasets = data.datasets;
    const dataset = h("select", { name: "datasetArn" },
      datasets.map((d) => h("option", { value: d.datasetArn }, `${d.datasetType} — ${d.name}`)));
    const interactions = datasets.find((d) => d.datasetType === "INTERACTIONS");
    if (interactions) dataset.value = interactions.datasetArn;
    const jobName = h("input", { name: "jobName", value: defaultJobName(), required: true });
    const location = h("input", { name: "dataLocation", required: true, placeholder: "s3://bucket/key.csv, s3://bucket/prefix/ or file:///abs/dir/" });
    const mode = h("select", { name: "importMode" }, h("option", { value: "FULL" }, "FULL (replace)"), h("option", { value: "INCREMENTAL" }, "INCREMENTAL (append)"));
    const roleArn = h("input", { name: "roleArn", placeholder: "optional: arn:aws:iam::…:role/…" });
    const publish = h("input", { type: "checkbox", name: "publish" });
    const attributionBox = h("div", { class: "attribution-inline" });
    const message = h("div", { class: "form-message" });

    function syncPublish() {
      if (!publish.checked || app.data.attribution) {
        fill(attributionBox, publish.checked ? h("p", { class: "muted" }, `Metrics go to ${app.data.attribution.metricsOutputConfig?.s3DataDestination?.path || "(no output path)"}.`) : null);
        return;
      }
      const open = h("button", { type: "button", class: "secondary", id: "create-attribution-inline", onclick: () => {
        const builder = (inlineBuilder = attributionBuilder(app.data, {
          mode: "create",
          onDone: async (response) => {
            await app.reload();
            fill(attributionBox, notice("info", `Metric attribution ${arnName(response.metricAttributionArn)} created: this job will publish to it.`));
          },
        }));
        fill(attributionBox, h("div", { class: "inline-builder" }, h("h4", {}, "Create metric attribution"), builder.root));
      } }, "Create metric attribution");
      fill(attributionBox, notice("info", "This dataset group has no metric attribution, so there are no metrics to publish yet."), open);
    }
    publish.addEventListener("change", syncPublish);

    async function submit(event) {
      event.preventDefault();
      const body = {
        jobName: jobName.value.trim(),
        datasetArn: dataset.value,
        dataSource: { dataLocation: location.value.trim() },
        importMode: mode.value,
        publishAttributionMetricsToS3: publish.checked,
      };
      if (roleArn.value.trim()) body.roleArn = roleArn.value.trim();
      fill(message, notice("info", "Starting…"));
      try {
        const { datasetImportJobArn } = await aws("CreateDatasetImportJob", body);
        fill(message, notice("info", `Started ${arnName(datasetImportJobArn)}`));
        jobName.value = defaultJobName();
        formDirty = false;
        await refresh();
      } catch (error) {
        fill(message, notice("error", error.message));
      }
    }

    // The inline builder is a form of its own, so it sits beside the import form, not inside it.
    const fields = h("form", { class: "import-form", id: "import-form", onsubmit: submit, oninput: () => { formDirty = true; } },
      h("div", { class: "form-grid" },
        h("label", { class: "field" }, "Job name", jobName),
        h("label", { class: "field" }, "Dataset", dataset),
        h("label", { class: "field wide" }, "Data location", location),
        h("label", { class: "field" }, "Import mode", mode),
        h("label", { class: "field" }, "IAM role ARN", roleArn)),
      h("label", { class: "check" }, publish, "Publish metrics for this import job",
        h("span", { class: "muted" }, " (writes an attribution report for the imported interactions)")));
    return [
      fields,
      attributionBox,
      message,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", form: "import-form" }, "Start import")),
    ];
  }

  function render(data, root) {
    jobsBox = h("div", { class: "jobs" });
    reportsBox = h("div", { class: "reports" });
    formDirty = false;
    inlineBuilder = null;
    fill(root,
      h("section", { class: "card" }, h("h2", {}, "Import jobs"), jobsBox),
      h("section", { class: "card" }, h("h3", {}, "Attribution reports"), reportsBox),
      h("section", { class: "card", id: "start-import" }, h("h3", {}, "Start an import job"), importForm(data)));
    refresh();
  }

  return {
    show: render,
    // New datasets or attribution: redraw, unless the form holds the user's input.
    changed: (data, root) => { if (!formDirty && !inlineBuilder?.dirty()) render(data, root); },
    poll: () => refresh(),
  };
}

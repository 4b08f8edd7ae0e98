// Browser tests of the bundled UI against a running, seeded Sightline.
//   node tests/ui/run.mjs <base url> <screenshot dir> [pages|silences]
// `pages`: every page loads without console errors and is screenshotted; charts
// draw (uPlot data and paths present); a PromQL error is marked at its position;
// a Grafana dashboard JSON imports and renders; provisioned and generated ML
// dashboards render. `silences`: a silence is created from the UI and expired
// (needs the Alertmanager v2 silences API). Exits non-zero on the first failure.
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { launch, errorTrackingPage } from "./browser.mjs";

const [base, shots, suite = "pages"] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node tests/ui/run.mjs <base url> <screenshot dir> [pages|silences]");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const fixtures = new URL("../fixtures/ui/", import.meta.url);

async function visit(page, hash, ready) {
  await page.goto(`${base}/${hash}`);
  await page.waitForSelector(ready);
  await page.waitForFunction(() => !document.querySelector(".loading, [data-state=loading]"));
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Each uPlot chart on the page: its series count, points, and whether it computed paths. */
function chartStats(page) {
  return page.$$eval(".chart", (els) =>
    els.map((el) => {
      const u = el.uplot;
      if (!u) return { series: 0, points: 0, paths: 0 };
      const series = u.series.length - 1;
      let points = 0;
      for (let i = 1; i < u.data.length; i++) points += u.data[i].filter((v) => v != null).length;
      const paths = u.series.slice(1).filter((s) => s._paths && s._paths.stroke).length;
      return { series, points, paths };
    }),
  );
}

async function expectCharts(page, min = 1) {
  // A chart's element is in the page one frame before its uPlot is (uPlot is
  // made in an effect, after paint); wait for every one to be drawn.
  await page.waitForFunction(() => [...document.querySelectorAll(".chart")].every((el) => el.uplot));
  const stats = await chartStats(page);
  assert.ok(stats.length >= min, `expected ≥ ${min} charts, found ${stats.length}`);
  for (const s of stats) {
    assert.ok(s.series > 0, `a chart has no series: ${JSON.stringify(stats)}`);
    assert.ok(s.points > 0, `a chart has no points: ${JSON.stringify(stats)}`);
    assert.ok(s.paths > 0, `a chart drew no paths: ${JSON.stringify(stats)}`);
  }
  return stats;
}

async function panelStates(page) {
  return page.$$eval(".panel", (els) => els.map((el) => `${el.querySelector("header")?.textContent}: ${el.querySelector(".panel-body")?.dataset.state}`));
}

const pageTests = [
  ["overview", async (page) => {
    await visit(page, "#/", ".tiles");
    await page.waitForSelector(".model-card");
    await page.waitForFunction(() => document.querySelector(".model-card .badges")?.getAttribute("aria-busy") === "false");
    const badges = await page.textContent(".model-card .badges");
    assert.match(badges, /acc \d/, `accuracy badge: ${badges}`);
    assert.match(badges, /p95 \d/, `latency badge: ${badges}`);
    await shot(page, "overview");
  }],
  ["overview-light-theme", async (page) => {
    // The app applies its theme in an effect after rendering, so wait for the
    // attribute rather than read it at once.
    await page.waitForSelector("html[data-theme]", { state: "attached" });
    const before = await page.getAttribute("html", "data-theme");
    const other = before === "dark" ? "light" : "dark";
    await page.click("button.theme");
    await page.waitForSelector(`html[data-theme="${other}"]`, { state: "attached", timeout: 5000 });
    await page.reload();
    await page.waitForSelector(".tiles");
    await page.waitForSelector("html[data-theme]", { state: "attached" });
    assert.equal(await page.getAttribute("html", "data-theme"), other, "the theme survives a reload");
    await shot(page, `overview-${other}`);
    await page.click("button.theme");
    await page.waitForSelector(`html[data-theme="${before}"]`, { state: "attached", timeout: 5000 });
  }],
  ["explore-graph", async (page) => {
    await visit(page, `#/explore?q=${encodeURIComponent("rate(demo_requests_total[5m])")}&from=now-1h&to=now`, ".chart");
    const [stats] = await expectCharts(page);
    assert.equal(stats.series, 4, "one line per seeded series");
    const over = await page.$(".chart .u-over");
    const box = await over.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForSelector(".hover-legend:not([hidden])");
    assert.match(await page.textContent(".hover-legend"), /code="200", instance="a", job="demo"/);
    await shot(page, "explore-graph");
  }],
  ["explore-stacked-and-zoom", async (page) => {
    await visit(page, `#/explore?q=${encodeURIComponent("rate(demo_requests_total[5m])")}&from=now-1h&to=now&stacked=1`, ".chart");
    await expectCharts(page);
    const box = await (await page.$(".chart .u-over")).boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + 20, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => /from=\d{4}-/.test(location.hash));
    await page.waitForSelector(".chart");
    await expectCharts(page);
  }],
  ["explore-table", async (page) => {
    await visit(page, `#/explore?q=${encodeURIComponent("demo_requests_total")}&tab=table`, "table.grid");
    assert.equal(await page.$$eval("table.grid tbody tr", (r) => r.length), 4);
    await shot(page, "explore-table");
  }],
  ["explore-error-position", async (page) => {
    await visit(page, "#/explore", ".editor-input");
    await page.fill(".editor-input", "sum(rate(demo_requests_total[5m])) + * 2");
    await page.waitForSelector("mark.problem");
    assert.equal(await page.getAttribute("mark.problem", "data-start"), "37");
    assert.equal(await page.textContent("mark.problem"), "*");
    assert.match(await page.textContent(".editor-error"), /^1:38: /);
    await page.fill(".editor-input", "sum(rate(demo_requests_total[5m])");
    await page.waitForSelector('mark.problem[data-start="3"]');
    assert.match(await page.textContent(".editor-error"), /^1:4: unclosed "\("/);
    await shot(page, "explore-error");
  }],
  ["explore-autocomplete", async (page) => {
    await visit(page, "#/explore", ".editor-input");
    await page.fill(".editor-input", "");
    await page.type(".editor-input", "demo_req");
    await page.waitForSelector('.suggestions li:has-text("demo_requests_total")');
    await page.keyboard.press("Tab");
    assert.equal(await page.inputValue(".editor-input"), "demo_requests_total");
    await page.type(".editor-input", '{code="');
    await page.waitForSelector('.suggestions li:has-text("500")');
    await page.type(".editor-input", "5");
    await page.keyboard.press("Enter");
    assert.equal(await page.inputValue(".editor-input"), 'demo_requests_total{code="500');
    await page.fill(".editor-input", "histogram_q");
    await page.press(".editor-input", "Control+Space");
    await page.waitForSelector('.suggestions li:has-text("histogram_quantile")');
    await page.keyboard.press("Escape");
  }],
  ["dashboards-import-grafana", async (page) => {
    await visit(page, "#/dashboards", "h1");
    await page.click("text=Import Grafana JSON");
    const json = readFileSync(new URL("ml-model-performance.grafana.json", fixtures), "utf8");
    await page.fill('textarea[aria-label="Dashboard JSON"]', json);
    await page.click('form.import button[type="submit"]');
    await page.waitForSelector('.dashboard[data-uid="ml-model-performance"] .panel');
    await page.waitForFunction(() => !document.querySelector("[data-state=loading]"));
    const states = await panelStates(page);
    for (const s of states) if (!/Latency heatmap/.test(s)) assert.match(s, /: ready$/, `panel states: ${states.join(", ")}`);
    await expectCharts(page, 3);
    assert.match(await page.textContent(".warning"), /heatmap/);
    assert.match(await page.textContent('.panel:has-text("Accuracy") .stat'), /%$/);
    await shot(page, "dashboard-imported-grafana");
  }],
  ["dashboards-provisioned", async (page) => {
    await visit(page, "#/dashboards/node-exporter", '.dashboard[data-uid="node-exporter"] .panel');
    await page.waitForFunction(() => !document.querySelector("[data-state=loading]"));
    const states = await panelStates(page);
    for (const s of states) assert.match(s, /: ready$/, `panel states: ${states.join(", ")}`);
    await expectCharts(page, 1);
    assert.ok(await page.$(".gauge svg .gauge-fill"), "gauge drawn");
    assert.ok((await page.$$(".bar-row")).length >= 2, "bar gauge rows");
    assert.ok((await page.$$(".panel-table tbody tr, .panel table tbody tr")).length >= 2, "table rows");
    await shot(page, "dashboard-provisioned-node");
  }],
  ["dashboards-list", async (page) => {
    await visit(page, "#/dashboards", "table.grid");
    const titles = await page.$$eval("table.grid tbody td:first-child a", (a) => a.map((x) => x.textContent));
    for (const t of ["ML Model Performance", "Node Exporter", "Model: fraud"]) assert.ok(titles.includes(t), `${t} listed in ${titles}`);
    await shot(page, "dashboards");
  }],
  ["dashboards-generated-ml", async (page) => {
    await visit(page, "#/dashboards/ml-fraud", '.dashboard[data-uid="ml-fraud"] .panel');
    await page.waitForFunction(() => !document.querySelector("[data-state=loading]"));
    await expectCharts(page, 3);
    await shot(page, "dashboard-ml-fraud");
  }],
  ["models", async (page) => {
    await visit(page, "#/models", ".model-card");
    await shot(page, "models");
  }],
  ["model-detail", async (page) => {
    await visit(page, "#/models/fraud", ".panel");
    await page.waitForSelector("table.drift tbody tr");
    await expectCharts(page, 3);
    const features = await page.$$eval("table.drift tbody tr td:first-child", (t) => t.map((x) => x.textContent));
    assert.deepEqual(features.sort(), ["amount", "country"]);
    await shot(page, "model-fraud");
  }],
  ["predictions", async (page) => {
    await visit(page, "#/predictions?model=fraud", "h1");
    await page.waitForSelector(".empty, table.grid");
    await shot(page, "predictions");
  }],
  ...["alerts", "silences", "rules", "targets", "incidents"].map((p) => [p, async (page) => {
    await visit(page, `#/${p}`, "h1");
    await page.waitForSelector(".empty, table.grid, .card, .error");
    const error = await page.$(".error");
    assert.equal(error, null, `error shown: ${error && (await error.textContent())}`);
    await shot(page, p);
  }]),
  ["silence-form-preview", async (page) => {
    await visit(page, `#/silences/new?matchers=${encodeURIComponent('alertname="UiTest"')}`, 'input[aria-label="Matchers"]');
    await page.fill('input[aria-label="Matchers"]', "alertname=");
    await page.fill('input[aria-label="Matchers"]', 'alertname="UiTest", severity=~"page|ticket"');
    assert.equal(await page.$("input.invalid"), null);
    await shot(page, "silence-new");
  }],
  ["keyboard-navigation", async (page) => {
    await page.goto("about:blank");
    await visit(page, "#/", ".tiles");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.textContent);
    assert.equal(focused, "Sightline", "the first nav link is reachable by keyboard");
  }],
];

const silenceTests = [
  ["silence-create-and-expire", async (page) => {
    const probe = await fetch(`${base}/api/v2/silences`);
    assert.equal(probe.status, 200, `GET /api/v2/silences answered ${probe.status}: the Alertmanager v2 silences API (notify) is missing`);
    const comment = `ui test ${Date.now()}`;
    await visit(page, `#/silences/new?matchers=${encodeURIComponent('alertname="UiTest", severity="page"')}`, 'input[aria-label="Matchers"]');
    await page.fill('input[aria-label="Created by"]', "browser-test");
    await page.fill('input[aria-label="Comment"]', comment);
    await page.fill('input[aria-label="Duration"]', "1h");
    await page.click('button:has-text("Create silence")');
    const row = page.locator("tr", { hasText: "browser-test" }).filter({ hasText: comment });
    await row.waitFor();
    assert.match(await row.textContent(), /active/);
    await shot(page, "silences-created");
    await row.locator('button:has-text("Expire")').click();
    await page.waitForFunction((c) => [...document.querySelectorAll("tr")].some((r) => r.textContent.includes(c) && r.textContent.includes("expired")), comment);
    await shot(page, "silences-expired");
  }],
];

const { browser, close } = await launch();
let failed = false;
try {
  const { page, errors, missingApis } = await errorTrackingPage(browser);
  page.setDefaultTimeout(15000);
  const tests = suite === "silences" ? silenceTests : pageTests;
  for (const [name, test] of tests) {
    const before = errors.length;
    const started = Date.now();
    try {
      await test(page);
      assert.deepEqual(errors.slice(before), [], `console errors on ${name}`);
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed = true;
      console.log(`FAIL ${name}: ${e.message}`);
      await page.screenshot({ path: join(shots, `FAILED-${name}.png`), fullPage: true }).catch(() => {});
    }
  }
  if (missingApis.size) console.log(`API paths that answered 404 (their pages showed empty states): ${[...missingApis].sort().join(", ")}`);
} finally {
  await close();
}
process.exit(failed ? 1 : 0);

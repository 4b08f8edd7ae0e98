// The UI's figures, measured in Chromium against a running Sightline seeded by
// benches/ui_figures.rs:
//   node tests/ui/figures.mjs <base url> <dashboard uid> <explore query> <from> <to> <step>
//   (<from> and <to> in Unix seconds)
// 1. Full load of the 12-panel dashboard until every panel has drawn (ms; median of runs).
// 2. Hover over the Explore graph: time from a mousemove to the hover legend
//    showing the new position (handler time and time to the next painted frame).
// Prints one JSON object.
import assert from "node:assert/strict";
import { launch, errorTrackingPage } from "./browser.mjs";

const [base, uid, query, from, to, step] = process.argv.slice(2);
const RUNS = 5;
const { browser, close } = await launch();
try {
  const { page, errors } = await errorTrackingPage(browser, { width: 1600, height: 1000 });
  page.setDefaultTimeout(60000);
  const loads = [];
  let panels = 0;
  let points = 0;
  for (let run = 0; run < RUNS; run++) {
    await page.goto("about:blank");
    const began = Date.now();
    await page.goto(`${base}/#/dashboards/${uid}?from=now-6h&to=now`);
    await page
      .waitForFunction(() => {
        const bodies = [...document.querySelectorAll(".panel-body")];
        return bodies.length > 0 && bodies.every((b) => b.dataset.state === "ready" && b.querySelector(".chart")?.uplot);
      }, null, { polling: "raf" })
      .catch(async (e) => {
        const states = await page.$$eval(".panel-body", (bs) => bs.map((b) => `${b.dataset.state}: ${b.textContent.slice(0, 80)}`));
        throw new Error(`${e.message}\npanels: ${JSON.stringify(states)}\nerrors: ${errors.join("; ")}`);
      });
    loads.push(Date.now() - began);
    ({ panels, points } = await page.evaluate(() => {
      const charts = [...document.querySelectorAll(".chart")].map((c) => c.uplot);
      return {
        panels: charts.length,
        points: charts.reduce((n, u) => n + u.data.slice(1).reduce((m, s) => m + s.filter((v) => v != null).length, 0), 0),
        series: charts.reduce((n, u) => n + u.series.length - 1, 0),
      };
    }));
  }
  const series = await page.evaluate(() => [...document.querySelectorAll(".chart")].reduce((n, c) => n + c.uplot.series.length - 1, 0));
  assert.equal(panels, 12);

  const iso = (seconds) => new Date(Number(seconds) * 1000).toISOString();
  await page.goto(`${base}/#/explore?q=${encodeURIComponent(query)}&from=${iso(from)}&to=${iso(to)}&step=${step}`);
  await page.waitForFunction(() => document.querySelector(".chart")?.uplot, null, { polling: "raf" });
  const hover = await page.evaluate(async () => {
    const el = document.querySelector(".chart");
    const u = el.uplot;
    const over = el.querySelector(".u-over");
    const legend = document.querySelector(".hover-legend");
    const rect = over.getBoundingClientRect();
    const handler = [];
    const frame = [];
    for (let i = 0; i < 60; i++) {
      const x = rect.left + 5 + ((rect.width - 10) * i) / 60;
      const y = rect.top + rect.height / 2;
      const before = legend.innerHTML;
      const t0 = performance.now();
      over.dispatchEvent(new MouseEvent("mousemove", { clientX: x, clientY: y, bubbles: true }));
      const t1 = performance.now();
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      const t2 = performance.now();
      if (legend.innerHTML !== before && !legend.hidden) {
        handler.push(t1 - t0);
        frame.push(t2 - t0);
      }
    }
    const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];
    return {
      series: u.series.length - 1,
      pointsPerSeries: u.data[0].length,
      updates: handler.length,
      handlerMedianMs: pct(handler, 0.5),
      handlerP95Ms: pct(handler, 0.95),
      toFrameMedianMs: pct(frame, 0.5),
      toFrameP95Ms: pct(frame, 0.95),
    };
  });
  assert.ok(hover.updates > 50, `the legend followed the cursor only ${hover.updates} times`);
  assert.deepEqual(errors, []);
  const sorted = loads.slice().sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      dashboard: { panels, series, points, loadsMs: loads, medianMs: sorted[Math.floor(RUNS / 2)], firstMs: loads[0] },
      exploreHover: hover,
    }),
  );
} finally {
  await close();
}

// Shared by the browser tests and the figures: Debian's Chromium driven by
// playwright-core (installed by `npm ci` in ui/), with the flags this sandbox
// needs, and a page that records console errors.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(new URL("../../ui/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "sightline-chromium-"));
  // A fresh profile each time; Playwright takes it as the persistent context's directory.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A page that collects JavaScript errors and console errors. Chromium logs every
 * 4xx answer as a console error; two are answers the UI expects and shows, not
 * errors: 404 from an API this server does not offer (the page's empty state) and
 * 400 from parse_query (the editor's validity check). Any other failure counts.
 */
export async function errorTrackingPage(browser, viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage();
  await page.setViewportSize(viewport);
  const errors = [];
  const missingApis = new Set();
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    const url = new URL(r.url());
    if (r.status() === 404 && url.pathname.startsWith("/api/")) missingApis.add(url.pathname);
  });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    const location = m.location()?.url ?? "";
    const path = new URL(location || "http://x/").pathname;
    const status = /Failed to load resource: the server responded with a status of (\d+)/.exec(text)?.[1];
    if ((status === "404" && path.startsWith("/api/")) || (status === "400" && path === "/api/v1/parse_query")) return;
    errors.push(`console error: ${text} ${location}`);
  });
  return { page, errors, missingApis };
}

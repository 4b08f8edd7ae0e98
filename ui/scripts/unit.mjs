// Runs the UI's unit tests (src/**/*.test.ts) with Node's test runner: each test
// file is bundled by esbuild (Vite's own dependency) into a temporary ES module.
import { build } from "esbuild";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";

function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? testFiles(path) : name.endsWith(".test.ts") ? [path] : [];
  });
}

const out = mkdtempSync(join(tmpdir(), "sightline-ui-unit-"));
try {
  const entries = testFiles("src");
  if (!entries.length) throw new Error("no unit tests found under src/");
  await build({ entryPoints: entries, outdir: out, outbase: "src", bundle: true, platform: "node", format: "esm", outExtension: { ".js": ".mjs" }, logLevel: "warning", external: ["node:*"] });
  const built = entries.map((e) => join(out, relative("src", e).replace(/\.ts$/, ".mjs")));
  const run = spawnSync(process.execPath, ["--test", ...built], { stdio: "inherit" });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatValue, thresholdColor } from "./units";
import { alignRange, autoStep, parseDuration, parseTime } from "./time";

test("units", () => {
  assert.equal(formatValue(0.912, "percentunit"), "91.2%");
  assert.equal(formatValue(1536, "bytes"), "1.5 KiB");
  assert.equal(formatValue(0.25, "s"), "250 ms");
  assert.equal(formatValue(12500, "reqps"), "12.5k req/s");
  assert.equal(formatValue(null), "–");
  assert.equal(formatValue(Infinity), "+Inf");
});

test("thresholds pick the highest step reached", () => {
  const steps = [{ color: "red", value: null }, { color: "green", value: 0.9 }];
  assert.equal(thresholdColor(0.5, steps), "#ef4444");
  assert.equal(thresholdColor(0.95, steps), "#22c55e");
});

test("times and steps", () => {
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("5x"), null);
  assert.equal(parseTime("now-1h", 10000), 6400);
  assert.equal(parseTime("2024-01-01T00:00:00Z"), 1704067200);
  assert.equal(parseTime("1704067200"), 1704067200);
  assert.equal(parseTime("1704067200.5"), 1704067200.5);
  assert.equal(parseTime("1704067200000"), 1704067200);
  assert.equal(autoStep({ start: 0, end: 21600 }, 720), 60);
  assert.ok(autoStep({ start: 0, end: 86400 * 365 }, 4000) >= (86400 * 365) / 11000);
});

test("ranges align down to the step as Grafana's", () => {
  assert.deepEqual(alignRange({ start: 1000.5, end: 22630.25 }, 60), { start: 960, end: 22620 });
  assert.deepEqual(alignRange({ start: 120, end: 180 }, 60), { start: 120, end: 180 });
});

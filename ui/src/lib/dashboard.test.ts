import { test } from "node:test";
import assert from "node:assert/strict";
import { ALL, formatSelection, interpolate, reduce } from "./dashboard";

test("variables interpolate in every Grafana spelling", () => {
  const values = { model: "fraud", v: "(1|2)" };
  assert.equal(interpolate('x{model="$model",v=~"${v}",m="[[model]]"} $other', values), 'x{model="fraud",v=~"(1|2)",m="fraud"} $other');
  const built = interpolate("rate(x[$__rate_interval]) $__interval $__range", {}, { intervalSeconds: 60, rangeSeconds: 3600 });
  assert.equal(built, "rate(x[1m15s]) 1m 1h");
});

test("selections become regex alternations", () => {
  const v = { name: "v", type: "query", multi: true };
  assert.equal(formatSelection(["a.b"], ["a.b", "c"], v), "a\\.b");
  assert.equal(formatSelection(["a", "c"], ["a", "c"], v), "(a|c)");
  assert.equal(formatSelection([ALL], ["a", "c"], v), "(a|c)");
  assert.equal(formatSelection([ALL], [], v), ".*");
  assert.equal(formatSelection([ALL], ["a"], { ...v, allValue: ".+" }), ".+");
  assert.equal(formatSelection(["a.b"], ["a.b"], { ...v, multi: false }), "a.b");
});

test("reducers", () => {
  const xs = [null, 1, 5, null, 3, null];
  assert.equal(reduce(xs, "lastNotNull"), 3);
  assert.equal(reduce(xs, "mean"), 3);
  assert.equal(reduce(xs, "max"), 5);
  assert.equal(reduce(xs, "sum"), 9);
  assert.equal(reduce([null], "mean"), null);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { completionAt, lineCol, locateProblem, positionInMessage } from "./promql";

test("valid queries have no located problem", () => {
  for (const q of [
    "up",
    'sum by (job) (rate(http_requests_total{code=~"5..", job!="x"}[5m])) / on (job) group_left sum(up)',
    "histogram_quantile(0.95, sum by (le) (rate(prediction_latency_seconds_bucket[5m])))",
    "rate(x[5m] offset 1h) > bool 2",
    "max_over_time(rate(x[1m])[30m:1m])",
    "-up + 1",
    "topk(3, x) @ 1700000000",
    "sum without (instance) (x) unless on (job) y",
  ])
    assert.equal(locateProblem(q), null, q);
});

test("problems are placed at the offending token", () => {
  assert.deepEqual(locateProblem("up + * 2")?.start, 5);
  assert.deepEqual(locateProblem("sum(rate(x[5m])")?.start, 3);
  assert.match(locateProblem("sum(rate(x[5m])")!.message, /unclosed "\("/);
  assert.deepEqual(locateProblem("rate(x[5m]))")?.start, 11);
  assert.deepEqual(locateProblem('x{job="a" code="b"}')?.start, 10);
  assert.deepEqual(locateProblem('x{job="a}')?.start, 6);
  assert.match(locateProblem("nosuchfn(up)")!.message, /unknown function "nosuchfn"/);
  assert.deepEqual(locateProblem("up up")?.start, 3);
  assert.deepEqual(locateProblem("x[5m")?.start, 1);
  assert.deepEqual(locateProblem("up $")?.start, 3);
  assert.deepEqual(locateProblem("up +")?.start, 4);
});

test("server positions win and lines are counted", () => {
  assert.deepEqual(positionInMessage("a\nbc + ", "2:4: parse error: unexpected end of input")?.start, 5);
  assert.deepEqual(positionInMessage("abc", "rate on non-counter (1:2)")?.start, 1);
  assert.equal(positionInMessage("abc", "invalid promql query"), null);
  assert.equal(lineCol("a\nbcd", 4), "2:3");
});

test("completion context", () => {
  assert.deepEqual(completionAt("rate(http_re", 12), { kind: "metric", prefix: "http_re" });
  assert.deepEqual(completionAt("http_requests_total{co", 22), { kind: "labelName", prefix: "co", metric: "http_requests_total" });
  assert.deepEqual(completionAt('http_requests_total{code="5', 27), { kind: "labelValue", prefix: "5", metric: "http_requests_total", label: "code" });
  assert.deepEqual(completionAt("sum by (jo", 10), { kind: "labelName", prefix: "jo", metric: "" });
  assert.deepEqual(completionAt("x[5", 3), { kind: "none" });
});

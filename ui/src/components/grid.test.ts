import { test } from "node:test";
import assert from "node:assert/strict";
import { alignToGrid } from "./TimeChart";

test("points land in their step's slot; missing and non-finite values are gaps", () => {
  const { times, series } = alignToGrid(100, 160, 15, [
    { label: "full", points: [[100, "1"], [115, "2"], [130, "3"], [145, "4"], [160, "5"]] },
    { label: "gaps", points: [[115, "2"], [130, "NaN"], [160.001, "+Inf"], [175, "9"]] },
  ]);
  assert.deepEqual(times, [100, 115, 130, 145, 160]);
  assert.deepEqual(series[0].values, [1, 2, 3, 4, 5]);
  assert.deepEqual(series[1].values, [null, 2, null, null, null]);
});

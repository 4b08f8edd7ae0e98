// The Prometheus query API's result shapes and helpers to read them.
import { api, qs } from "./api";

export type Labels = Record<string, string>;
export interface MatrixSeries {
  metric: Labels;
  values: [number, string][];
}
export interface VectorSample {
  metric: Labels;
  value: [number, string];
}
export type QueryData =
  | { resultType: "matrix"; result: MatrixSeries[] }
  | { resultType: "vector"; result: VectorSample[] }
  | { resultType: "scalar" | "string"; result: [number, string] };

export function parseValue(v: string): number | null {
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

export function rangeQuery(query: string, start: number, end: number, step: number): Promise<QueryData> {
  return api<QueryData>(`/api/v1/query_range?${qs({ query, start, end, step })}`);
}

export function instantQuery(query: string, time?: number): Promise<QueryData> {
  return api<QueryData>(`/api/v1/query?${qs({ query, time })}`);
}

/** `name{a="b", c="d"}` as Prometheus prints a series. */
export function seriesName(metric: Labels): string {
  const { __name__: name = "", ...rest } = metric;
  const pairs = Object.keys(rest)
    .sort()
    .map((k) => `${k}=${JSON.stringify(rest[k])}`);
  return pairs.length ? `${name}{${pairs.join(", ")}}` : name || "{}";
}

/** Grafana's `legendFormat`: `{{label}}` replaced by the series' label value. */
export function legendFor(metric: Labels, format?: string): string {
  if (!format || format === "__auto") return seriesName(metric);
  return format.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, name) => metric[name] ?? "");
}

/** Instant results as rows of (labels, value). */
export function samplesOf(data: QueryData): { metric: Labels; value: number | null; time: number }[] {
  if (data.resultType === "vector")
    return data.result.map((s) => ({ metric: s.metric, value: parseValue(s.value[1]), time: s.value[0] }));
  if (data.resultType === "matrix")
    return data.result.map((s) => {
      const last = s.values[s.values.length - 1];
      return { metric: s.metric, value: last ? parseValue(last[1]) : null, time: last ? last[0] : 0 };
    });
  return [{ metric: {}, value: parseValue(data.result[1]), time: data.result[0] }];
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A PromQL selector matching exactly these labels. */
export function selectorFor(metric: Labels): string {
  const pairs = Object.entries(metric).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return `{${pairs.join(", ")}}`;
}

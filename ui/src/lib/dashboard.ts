// Our dashboard JSON (a subset of Grafana's, see src/dashboards/model.rs) and
// the variable machinery: resolving `label_values(...)` and friends, and
// interpolating `$var`, `${var}`, `[[var]]` and the `$__interval` family.
import { api, qs } from "./api";
import { instantQuery, samplesOf, seriesName } from "./prom";
import { formatDuration } from "./time";
import type { Threshold } from "./units";

export interface Target {
  refId?: string;
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  hide?: boolean;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  fieldConfig?: {
    defaults?: {
      unit?: string;
      min?: number;
      max?: number;
      decimals?: number;
      thresholds?: { mode?: string; steps: Threshold[] };
      custom?: { stacking?: { mode?: string }; lineWidth?: number };
    };
  };
  options?: Record<string, any>;
  description?: string;
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  label?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  regex?: string;
  current?: { value?: string | string[] };
}

export interface Dashboard {
  uid: string;
  title: string;
  tags?: string[];
  time?: { from: string; to: string };
  refresh?: string;
  templating?: { list: Variable[] };
  panels: Panel[];
  version?: number;
}

export const ALL = "$__all";

function queryText(v: Variable): string {
  return typeof v.query === "string" ? v.query : (v.query?.query ?? "");
}

/** The values a variable offers, already narrowed by the variables before it. */
export async function variableOptions(v: Variable, interpolate: (s: string) => string): Promise<string[]> {
  const q = interpolate(queryText(v)).trim();
  let values: string[];
  switch (v.type) {
    case "custom":
    case "interval":
      values = q.split(",").map((s) => s.trim()).filter(Boolean);
      break;
    case "constant":
    case "textbox":
      values = [q];
      break;
    default:
      values = await queryVariable(q);
  }
  if (v.regex) {
    const re = toRegExp(v.regex);
    if (re)
      values = values.flatMap((s) => {
        const m = re.exec(s);
        return m ? [m[1] ?? m[0]] : [];
      });
  }
  return [...new Set(values)];
}

function toRegExp(text: string): RegExp | null {
  const m = /^\/(.*)\/([gimsuy]*)$/.exec(text);
  try {
    return m ? new RegExp(m[1], m[2].replace("g", "")) : new RegExp(text);
  } catch {
    return null;
  }
}

async function queryVariable(q: string): Promise<string[]> {
  let m = /^label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(q);
  if (m) return api<string[]>(`/api/v1/label/${m[1]}/values`);
  m = /^label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/s.exec(q);
  if (m) return api<string[]>(`/api/v1/label/${m[2]}/values?${qs({ "match[]": m[1] })}`);
  if (/^label_names\(\s*\)$/.test(q)) return api<string[]>("/api/v1/labels");
  m = /^metrics\(\s*(.*?)\s*\)$/.exec(q);
  if (m) {
    const names = await api<string[]>("/api/v1/label/__name__/values");
    const re = toRegExp(m[1] || ".*");
    return re ? names.filter((n) => re.test(n)) : names;
  }
  m = /^query_result\(\s*(.+)\s*\)$/s.exec(q);
  if (m) {
    const data = await instantQuery(m[1]);
    return samplesOf(data).map((s) => `${seriesName(s.metric)} ${s.value} ${s.time * 1000}`);
  }
  if (!q) return [];
  throw new Error(`unsupported variable query: ${q}`);
}

function regexEscape(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/** A selected value as PromQL text: one value as is, several (or All) as a regex alternation. */
export function formatSelection(selected: string[], options: string[], v: Variable): string {
  if (selected.includes(ALL)) {
    if (v.allValue) return v.allValue;
    return options.length ? `(${options.map(regexEscape).join("|")})` : ".*";
  }
  if (selected.length === 1) return v.multi ? regexEscape(selected[0]) : selected[0];
  return `(${selected.map(regexEscape).join("|")})`;
}

export interface BuiltIns {
  intervalSeconds: number;
  rangeSeconds: number;
}

/** Replaces `$name`, `${name}`, `${name:raw}`, `[[name]]` and the `$__` built-ins in `text`. */
export function interpolate(text: string, values: Record<string, string>, builtins?: BuiltIns): string {
  const all: Record<string, string> = { ...values };
  if (builtins) {
    const scrape = 15;
    all.__interval = formatDuration(builtins.intervalSeconds);
    all.__interval_ms = String(Math.round(builtins.intervalSeconds * 1000));
    all.__rate_interval = formatDuration(Math.max(builtins.intervalSeconds + scrape, 4 * scrape));
    all.__range = formatDuration(builtins.rangeSeconds);
    all.__range_s = String(Math.round(builtins.rangeSeconds));
  }
  return text.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a, b, c) => {
    const name = a ?? b ?? c;
    return name in all ? all[name] : whole;
  });
}

export function panelUnit(p: Panel): string | undefined {
  return p.fieldConfig?.defaults?.unit;
}

export function reducer(p: Panel): string {
  return p.options?.reduceOptions?.calcs?.[0] ?? "lastNotNull";
}

/** Grafana's reducers over one series' values. */
export function reduce(values: (number | null)[], calc: string): number | null {
  const present = values.filter((v): v is number => v != null);
  if (!present.length) return null;
  switch (calc) {
    case "mean":
      return present.reduce((a, b) => a + b, 0) / present.length;
    case "max":
      return Math.max(...present);
    case "min":
      return Math.min(...present);
    case "sum":
      return present.reduce((a, b) => a + b, 0);
    case "firstNotNull":
    case "first":
      return present[0];
    case "count":
      return present.length;
    case "range":
      return Math.max(...present) - Math.min(...present);
    default:
      return present[present.length - 1];
  }
}

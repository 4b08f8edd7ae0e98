// Time ranges as Grafana writes them: `now-6h` .. `now`, or absolute times
// (RFC 3339 or Unix milliseconds), plus durations (`5m`, `1h30m`) and steps.

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** Seconds in a Prometheus duration (`1h30m`, `90s`, `1.5`), or null. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+)(ms|s|m|h|d|w|y)/g;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    if (m.index !== consumed) return null;
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
    consumed += m[0].length;
  }
  return consumed === t.length && consumed > 0 ? total : null;
}

export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("") || "0s";
}

/** Unix seconds for `now`, `now-1h`, an RFC 3339 time, Unix seconds (as Prometheus takes them) or
 * Unix milliseconds (12 digits or more, as Grafana writes them); null if none of those. */
export function parseTime(text: string, now = Date.now() / 1000): number | null {
  const t = text.trim();
  if (t === "now") return now;
  const rel = /^now-(.+)$/.exec(t);
  if (rel) {
    const d = parseDuration(rel[1]);
    return d == null ? null : now - d;
  }
  if (/^\d{12,}$/.test(t)) return Number(t) / 1000;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms / 1000;
}

export interface Range {
  from: string;
  to: string;
}

export interface Resolved {
  start: number;
  end: number;
}

export function resolve(range: Range, now = Date.now() / 1000): Resolved | null {
  const start = parseTime(range.from, now);
  const end = parseTime(range.to, now);
  if (start == null || end == null || start >= end) return null;
  return { start, end };
}

const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

/** A step giving about one point per `pixels / 2`, rounded to a readable size; Prometheus allows ≤ 11000 points. */
export function autoStep(r: Resolved, pixels = 1000): number {
  const raw = Math.max((r.end - r.start) / Math.max(pixels / 2, 50), (r.end - r.start) / 11000);
  return NICE_STEPS.find((s) => s >= raw) ?? Math.ceil(raw);
}

/**
 * `r` with both ends moved down to a multiple of `step`, as Grafana's Prometheus
 * data source does: every point then falls on whole multiples of the step, so
 * timestamps are short and the same range asked again reads the same grid.
 */
export function alignRange(r: Resolved, step: number): Resolved {
  return { start: Math.floor(r.start / step) * step, end: Math.floor(r.end / step) * step };
}

export function formatTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function since(iso: string | number | undefined | null): string {
  if (iso == null || iso === "") return "–";
  const t = typeof iso === "number" ? iso : Date.parse(iso) / 1000;
  if (!Number.isFinite(t) || t <= 0) return "–";
  const ago = Date.now() / 1000 - t;
  return ago < 0 ? `in ${formatDuration(-ago)}` : `${formatDuration(ago)} ago`;
}

export const QUICK_RANGES: [string, string][] = [
  ["now-5m", "Last 5 minutes"],
  ["now-15m", "Last 15 minutes"],
  ["now-1h", "Last 1 hour"],
  ["now-3h", "Last 3 hours"],
  ["now-6h", "Last 6 hours"],
  ["now-12h", "Last 12 hours"],
  ["now-24h", "Last 24 hours"],
  ["now-2d", "Last 2 days"],
  ["now-7d", "Last 7 days"],
];

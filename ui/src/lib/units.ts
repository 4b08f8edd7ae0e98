// Value formatting by Grafana unit id (`percentunit`, `bytes`, `s`, `reqps`, ...).

const SI = ["", "k", "M", "G", "T", "P"];
const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function round(v: number, decimals?: number): string {
  if (decimals != null) return v.toFixed(decimals);
  const abs = Math.abs(v);
  if (abs === 0) return "0";
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1).replace(/\.0$/, "");
  if (abs >= 0.01) return v.toFixed(2).replace(/\.?0+$/, "");
  return v.toPrecision(2);
}

function scaled(v: number, base: number, names: string[], decimals?: number, suffix = ""): string {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= base && i < names.length - 1) {
    x /= base;
    i++;
  }
  const name = names[i];
  return `${round(x, decimals)}${name ? (suffix ? ` ${name}${suffix}` : name.length > 1 ? ` ${name}` : name) : suffix ? ` ${suffix}` : ""}`.trim();
}

function duration(seconds: number, decimals?: number): string {
  const abs = Math.abs(seconds);
  if (abs === 0) return "0 s";
  if (abs < 1e-6) return `${round(seconds * 1e9, decimals)} ns`;
  if (abs < 1e-3) return `${round(seconds * 1e6, decimals)} µs`;
  if (abs < 1) return `${round(seconds * 1e3, decimals)} ms`;
  if (abs < 60) return `${round(seconds, decimals)} s`;
  if (abs < 3600) return `${round(seconds / 60, decimals)} min`;
  if (abs < 86400) return `${round(seconds / 3600, decimals)} hour`;
  return `${round(seconds / 86400, decimals)} day`;
}

export function formatValue(v: number | null | undefined, unit = "short", decimals?: number): string {
  if (v == null || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  switch (unit) {
    case "none":
      return round(v, decimals);
    case "percent":
      return `${round(v, decimals)}%`;
    case "percentunit":
      return `${round(v * 100, decimals)}%`;
    case "bytes":
      return scaled(v, 1024, IEC, decimals);
    case "decbytes":
      return scaled(v, 1000, ["B", "kB", "MB", "GB", "TB", "PB"], decimals);
    case "bits":
      return scaled(v, 1000, ["b", "kb", "Mb", "Gb", "Tb"], decimals);
    case "Bps":
    case "binBps":
      return `${scaled(v, 1024, IEC, decimals)}/s`;
    case "bps":
      return `${scaled(v, 1000, ["b", "kb", "Mb", "Gb", "Tb"], decimals)}/s`;
    case "s":
      return duration(v, decimals);
    case "ms":
      return duration(v / 1e3, decimals);
    case "µs":
    case "us":
      return duration(v / 1e6, decimals);
    case "ns":
      return duration(v / 1e9, decimals);
    case "reqps":
      return `${scaled(v, 1000, SI, decimals)} req/s`;
    case "ops":
      return `${scaled(v, 1000, SI, decimals)} ops/s`;
    case "rps":
      return `${scaled(v, 1000, SI, decimals)} rd/s`;
    case "wps":
      return `${scaled(v, 1000, SI, decimals)} wr/s`;
    case "short":
    case "":
      return scaled(v, 1000, SI, decimals);
    default:
      return `${scaled(v, 1000, SI, decimals)} ${unit.replace(/^suffix:/, "")}`;
  }
}

export interface Threshold {
  color: string;
  value: number | null;
}

/** The color of the highest threshold step at or below `v`. */
export function thresholdColor(v: number | null, steps: Threshold[] | undefined, fallback = "var(--accent)"): string {
  if (!steps?.length || v == null) return fallback;
  let color = steps[0].color;
  for (const step of steps) if (step.value == null || v >= step.value) color = step.color;
  return namedColor(color);
}

const GRAFANA_COLORS: Record<string, string> = {
  green: "#22c55e",
  red: "#ef4444",
  orange: "#f97316",
  yellow: "#eab308",
  blue: "#3b82f6",
  purple: "#a855f7",
  "dark-red": "#b91c1c",
  "semi-dark-red": "#dc2626",
  "dark-green": "#15803d",
  "semi-dark-green": "#16a34a",
  "dark-orange": "#c2410c",
  "dark-yellow": "#ca8a04",
};

export function namedColor(c: string): string {
  return GRAFANA_COLORS[c] ?? c;
}

export const PALETTE = [
  "#38bdf8", "#f97316", "#22c55e", "#e879f9", "#facc15", "#f43f5e", "#2dd4bf", "#a78bfa",
  "#fb923c", "#4ade80", "#60a5fa", "#f472b6", "#a3e635", "#fbbf24", "#c084fc", "#34d399",
];

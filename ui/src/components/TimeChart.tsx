// A uPlot time-series chart: drag to zoom (reported to the page so the URL
// follows), a hover legend that lists the series nearest the cursor, optional
// stacking, threshold lines. Built for hundreds of series: the hover legend is
// one small DOM update per cursor move, not a row per series.
import uPlot from "uplot";
import { useEffect, useRef, useState } from "preact/hooks";
import { formatValue, namedColor, PALETTE, type Threshold } from "../lib/units";
import { formatTime } from "../lib/time";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
}

export interface ChartProps {
  times: number[];
  series: ChartSeries[];
  unit?: string;
  decimals?: number;
  stacked?: boolean;
  /** Line width in CSS pixels; Grafana's default is 1, which canvas draws as a fast hairline. */
  lineWidth?: number;
  height: number;
  thresholds?: Threshold[];
  onZoom?: (start: number, end: number) => void;
  /** How many series the hover legend lists. */
  hoverRows?: number;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** Running sums for stacking; a missing point adds nothing but stays missing in its own series. */
function stack(series: ChartSeries[]): (number | null)[][] {
  const sums = new Float64Array(series[0]?.values.length ?? 0);
  return series.map((s) =>
    s.values.map((v, i) => {
      if (v == null) return null;
      sums[i] += v;
      return sums[i];
    }),
  );
}

export function TimeChart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const legend = useRef<HTMLDivElement>(null);
  const propsRef = useRef(props);
  propsRef.current = props;
  // Axis colors come from the theme's CSS variables: redraw when it changes.
  const [theme, setTheme] = useState(0);
  useEffect(() => {
    const bump = () => setTheme((n) => n + 1);
    addEventListener("sightline:theme", bump);
    return () => removeEventListener("sightline:theme", bump);
  }, []);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const { times, series, unit, decimals, stacked, height, thresholds, lineWidth = 1 } = props;
    const drawn = stacked ? stack(series) : series.map((s) => s.values);
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid"), width: 1 }, ticks: { stroke: cssVar("--grid") } };
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { show: false }, focus: { prox: 30 } },
      focus: { alpha: 0.35 },
      scales: { x: { time: true } },
      axes: [
        { ...axis, space: 60 },
        { ...axis, size: 70, values: (_u, ticks) => ticks.map((t) => formatValue(t, unit, decimals)) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[i % PALETTE.length],
          width: lineWidth,
          fill: stacked ? `${PALETTE[i % PALETTE.length]}55` : undefined,
          points: { show: times.length < 60 },
          spanGaps: false,
        })),
      ],
      bands: stacked ? series.slice(1).map((_, i) => ({ series: [i + 2, i + 1] as [number, number] })) : undefined,
      hooks: {
        setCursor: [(u) => renderHoverLegend(u, legend.current, propsRef.current)],
        setSelect: [
          (u) => {
            if (u.select.width < 5) return;
            const start = u.posToVal(u.select.left, "x");
            const end = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            propsRef.current.onZoom?.(start, end);
          },
        ],
        draw: thresholds?.length ? [(u) => drawThresholds(u, thresholds)] : [],
      },
    };
    const u = new uPlot(opts, [times, ...drawn] as uPlot.AlignedData, el);
    (el as any).uplot = u;
    el.dataset.series = String(series.length);
    el.dataset.points = String(countPoints(series));
    // The observer also reports the size the chart was just drawn at: redrawing
    // for that would draw every chart twice on load.
    const resize = new ResizeObserver(() => {
      if (el.clientWidth !== u.width) u.setSize({ width: el.clientWidth, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
    };
  }, [props.times, props.series, props.stacked, props.lineWidth, props.height, props.unit, theme]);

  return (
    <div class="chart-wrap" style={{ height: `${props.height}px` }}>
      <div class="chart" ref={box} />
      <div class="hover-legend" ref={legend} role="status" aria-live="off" hidden />
    </div>
  );
}

function countPoints(series: ChartSeries[]): number {
  let n = 0;
  for (const s of series) for (const v of s.values) if (v != null) n++;
  return n;
}

/** The hover legend: time, then the series closest to the cursor, sorted by value. */
function renderHoverLegend(u: uPlot, el: HTMLDivElement | null, props: ChartProps) {
  if (!el) return;
  const idx = u.cursor.idx;
  if (idx == null || u.cursor.left == null || u.cursor.left < 0) {
    el.hidden = true;
    return;
  }
  const cursorValue = u.posToVal(u.cursor.top ?? 0, "y");
  const rows: [number, number, number][] = [];
  for (let i = 0; i < props.series.length; i++) {
    const v = props.series[i].values[idx];
    if (v == null) continue;
    const drawnValue = (u.data[i + 1] as (number | null)[])[idx] ?? v;
    rows.push([i, v, Math.abs(drawnValue - cursorValue)]);
  }
  rows.sort((a, b) => a[2] - b[2]);
  const shown = rows.slice(0, props.hoverRows ?? 8).sort((a, b) => b[1] - a[1]);
  const lines = shown.map(
    ([i, v]) =>
      `<div><i style="background:${PALETTE[i % PALETTE.length]}"></i><span>${escapeHtml(props.series[i].label)}</span><b>${formatValue(v, props.unit, props.decimals)}</b></div>`,
  );
  const more = rows.length > shown.length ? `<div class="more">${rows.length - shown.length} more</div>` : "";
  el.innerHTML = `<div class="t">${formatTime(u.data[0][idx])}</div>${lines.join("")}${more}`;
  el.hidden = false;
  const left = u.cursor.left + 80;
  const right = left + el.offsetWidth > u.width;
  el.style.transform = `translate(${right ? u.cursor.left - el.offsetWidth - 10 : left}px, 8px)`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

function drawThresholds(u: uPlot, steps: Threshold[]) {
  const ctx = u.ctx;
  ctx.save();
  ctx.setLineDash([4, 4]);
  for (const step of steps) {
    if (step.value == null) continue;
    const y = u.valToPos(step.value, "y", true);
    if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
    ctx.strokeStyle = namedColor(step.color);
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
  }
  ctx.restore();
}

/** Range-query results on the query's own time grid: one slot per step, null where a series has no point. */
export function alignToGrid(
  start: number,
  end: number,
  step: number,
  series: { label: string; points: [number, string][] }[],
): { times: number[]; series: ChartSeries[] } {
  const n = Math.floor((end - start) / step) + 1;
  const times = Array.from({ length: n }, (_, i) => start + i * step);
  const out = series.map((s) => {
    const values: (number | null)[] = new Array(n).fill(null);
    for (const [t, v] of s.points) {
      const i = Math.round((t - start) / step);
      const x = Number(v);
      if (i >= 0 && i < n && Number.isFinite(x)) values[i] = x;
    }
    return { label: s.label, values };
  });
  return { times, series: out };
}

// One dashboard panel: runs its PromQL targets over the dashboard's range and
// draws them as a time series, stat, gauge, bar gauge, table or text. Its size
// comes from gridPos alone, so nothing moves while data loads.
import { useLayoutEffect, useMemo, useState } from "preact/hooks";
import { alignToGrid, TimeChart, type ChartSeries } from "../components/TimeChart";
import { interpolate, panelUnit, reduce, reducer, type Panel, type Target } from "../lib/dashboard";
import { instantQuery, legendFor, rangeQuery, samplesOf, type Labels } from "../lib/prom";
import { alignRange, type Resolved } from "../lib/time";
import { formatValue, thresholdColor } from "../lib/units";

export const ROW_PX = 30;
export const GAP_PX = 8;
const HEADER_PX = 30;

export interface PanelContext {
  range: Resolved;
  step: number;
  variables: Record<string, string>;
  tick: number;
}

interface Drawn {
  times: number[];
  series: ChartSeries[];
  metrics: Labels[];
  refIds: string[];
}

export function panelHeight(p: Panel): number {
  return p.gridPos.h * ROW_PX + (p.gridPos.h - 1) * GAP_PX;
}

function useTargets(panel: Panel, ctx: PanelContext, instant: boolean) {
  const [state, setState] = useState<{ data?: Drawn; error?: string; loading: boolean }>({ loading: true });
  const targets = (panel.targets ?? []).filter((t) => t.expr && !t.hide);
  const exprs = targets.map((t) =>
    interpolate(t.expr, ctx.variables, { intervalSeconds: ctx.step, rangeSeconds: ctx.range.end - ctx.range.start }),
  );
  const key = exprs.join("\n");
  // A layout effect sends the queries as soon as the panel is rendered; a plain
  // effect would wait for the next painted frame, which on a busy machine is late.
  useLayoutEffect(() => {
    if (!targets.length) {
      setState({ loading: false });
      return;
    }
    let stale = false;
    setState((s) => ({ ...s, loading: true }));
    Promise.all(targets.map((t, i) => runTarget(t, exprs[i], ctx, instant || !!t.instant))).then(
      (parts) => !stale && setState({ data: merge(parts, targets, ctx), loading: false }),
      (e: Error) => !stale && setState({ error: e.message, loading: false }),
    );
    return () => {
      stale = true;
    };
  }, [key, ctx.range.start, ctx.range.end, ctx.step, ctx.tick, instant]);
  return state;
}

async function runTarget(t: Target, expr: string, ctx: PanelContext, instant: boolean) {
  const range = alignRange(ctx.range, ctx.step);
  const data = instant ? await instantQuery(expr, ctx.range.end) : await rangeQuery(expr, range.start, range.end, ctx.step);
  if (data.resultType === "matrix")
    return data.result.map((s) => ({ metric: s.metric, label: legendFor(s.metric, t.legendFormat), points: s.values }));
  return samplesOf(data).map((s) => ({
    metric: s.metric,
    label: legendFor(s.metric, t.legendFormat),
    points: [[s.time, String(s.value)]] as [number, string][],
  }));
}

/** Histogram buckets (`le`) in bucket order, +Inf last; other series as the server gave them. */
function bucketOrder<T extends { metric: Labels }>(series: T[]): T[] {
  if (!series.length || !series.every((s) => s.metric.le != null)) return series;
  return [...series].sort((a, b) => Number(a.metric.le) - Number(b.metric.le));
}

function merge(parts: Awaited<ReturnType<typeof runTarget>>[], targets: Target[], ctx: PanelContext): Drawn {
  const flat = parts.flatMap((series, i) => bucketOrder(series).map((s) => ({ ...s, refId: targets[i].refId ?? String.fromCharCode(65 + i) })));
  const { start, end } = alignRange(ctx.range, ctx.step);
  const aligned = alignToGrid(start, end, ctx.step, flat);
  return { ...aligned, metrics: flat.map((s) => s.metric), refIds: flat.map((s) => s.refId) };
}

export function PanelView({ panel, ctx }: { panel: Panel; ctx: PanelContext }) {
  const height = panelHeight(panel) - HEADER_PX;
  const style = {
    gridColumn: `${panel.gridPos.x + 1} / span ${panel.gridPos.w}`,
    gridRow: `${panel.gridPos.y + 1} / span ${panel.gridPos.h}`,
  };
  return (
    <article class={`panel panel-${panel.type}${isRowTitle(panel) ? " row-title" : ""}`} style={style} data-panel-id={panel.id}>
      <header title={panel.description}>{panel.title || "\u00a0"}</header>
      {panel.type === "text" ? (
        <div class="panel-body text" data-state="ready" style={{ height: `${height}px` }}>
          {String(panel.options?.content ?? "")}
        </div>
      ) : (
        <QueryBody panel={panel} ctx={ctx} height={height} />
      )}
    </article>
  );
}

/** A one-cell text panel without content: what an imported Grafana row's title becomes. */
function isRowTitle(p: Panel): boolean {
  return p.type === "text" && p.gridPos.h === 1 && !p.options?.content;
}

function QueryBody({ panel, ctx, height }: { panel: Panel; ctx: PanelContext; height: number }) {
  const instant = panel.type === "table";
  const { data, error, loading } = useTargets(panel, ctx, instant);
  const state = error ? "error" : loading && !data ? "loading" : data && data.series.length ? "ready" : "empty";
  return (
    <div class="panel-body" data-state={state} style={{ height: `${height}px` }}>
      {error ? (
        <div class="error small" role="alert">
          {error}
        </div>
      ) : !data ? (
        loading ? <div class="loading" style={{ height: `${height}px` }} aria-busy="true" /> : <div class="muted center">No queries</div>
      ) : !data.series.length ? (
        <div class="muted center">No data</div>
      ) : (
        <Visual panel={panel} data={data} height={height} />
      )}
    </div>
  );
}

function Visual({ panel, data, height }: { panel: Panel; data: Drawn; height: number }) {
  const unit = panelUnit(panel);
  const d = panel.fieldConfig?.defaults;
  const steps = d?.thresholds?.steps;
  const reduces = panel.type === "stat" || panel.type === "gauge" || panel.type === "bargauge";
  const reduced = useMemo(() => (reduces ? data.series.map((s) => reduce(s.values, reducer(panel))) : []), [data, panel, reduces]);
  switch (panel.type) {
    case "timeseries":
      return (
        <TimeChart
          times={data.times}
          series={data.series}
          unit={unit}
          decimals={d?.decimals}
          stacked={d?.custom?.stacking?.mode === "normal" || d?.custom?.stacking?.mode === "percent"}
          lineWidth={d?.custom?.lineWidth}
          thresholds={steps}
          height={height}
        />
      );
    case "stat":
      return (
        <div class="stats">
          {reduced.map((v, i) => (
            <div class="stat" key={i} style={{ color: thresholdColor(v, steps) }}>
              <b>{formatValue(v, unit, d?.decimals)}</b>
              {data.series.length > 1 && <small>{data.series[i].label}</small>}
            </div>
          ))}
        </div>
      );
    case "gauge":
      return (
        <div class="gauges">
          {reduced.map((v, i) => (
            <Gauge key={i} value={v} min={d?.min ?? 0} max={d?.max ?? defaultMax(unit)} color={thresholdColor(v, steps)} text={formatValue(v, unit, d?.decimals)} label={data.series.length > 1 ? data.series[i].label : ""} />
          ))}
        </div>
      );
    case "bargauge": {
      const max = d?.max ?? Math.max(...reduced.map((v) => v ?? 0), 0);
      const min = d?.min ?? 0;
      return (
        <div class="bars">
          {reduced.map((v, i) => (
            <div class="bar-row" key={i}>
              <span class="bar-label">{data.series[i].label}</span>
              <span class="bar-track">
                <span class="bar-fill" style={{ width: `${max > min ? (Math.max(0, (v ?? 0) - min) / (max - min)) * 100 : 0}%`, background: thresholdColor(v, steps) }} />
              </span>
              <span class="bar-value">{formatValue(v, unit, d?.decimals)}</span>
            </div>
          ))}
        </div>
      );
    }
    case "table":
      return <PanelTable data={data} unit={unit} decimals={d?.decimals} steps={steps} />;
    default:
      return <div class="muted center">Panel type “{panel.type}” is not supported.</div>;
  }
}

function defaultMax(unit?: string): number {
  return unit === "percentunit" ? 1 : 100;
}

function Gauge(props: { value: number | null; min: number; max: number; color: string; text: string; label: string }) {
  const frac = props.value == null ? 0 : Math.min(1, Math.max(0, (props.value - props.min) / (props.max - props.min || 1)));
  const arc = (f: number) => {
    const a = Math.PI * (1 - f);
    return `${50 + 40 * Math.cos(a)} ${55 - 40 * Math.sin(a)}`;
  };
  return (
    <figure class="gauge">
      <svg viewBox="0 0 100 62" role="img" aria-label={`${props.label} ${props.text}`}>
        <path d={`M 10 55 A 40 40 0 0 1 90 55`} class="gauge-track" />
        {frac > 0 && <path d={`M 10 55 A 40 40 0 0 1 ${arc(frac)}`} style={{ stroke: props.color }} class="gauge-fill" />}
        <text x="50" y="52" text-anchor="middle">
          {props.text}
        </text>
      </svg>
      {props.label && <figcaption>{props.label}</figcaption>}
    </figure>
  );
}

function PanelTable(props: { data: Drawn; unit?: string; decimals?: number; steps?: { color: string; value: number | null }[] }) {
  const [sort, setSort] = useState<{ col: string; desc: boolean }>({ col: "Value", desc: true });
  const labelNames = [...new Set(props.data.metrics.flatMap((m) => Object.keys(m)))].sort();
  const rows = props.data.series.map((s, i) => ({ metric: props.data.metrics[i], value: reduce(s.values, "lastNotNull") }));
  rows.sort((a, b) => {
    const x = sort.col === "Value" ? (a.value ?? -Infinity) - (b.value ?? -Infinity) : (a.metric[sort.col] ?? "").localeCompare(b.metric[sort.col] ?? "");
    return sort.desc ? -x : x;
  });
  const header = (col: string) => (
    <th key={col} aria-sort={sort.col === col ? (sort.desc ? "descending" : "ascending") : "none"}>
      <button class="link" onClick={() => setSort({ col, desc: sort.col === col ? !sort.desc : false })}>
        {col}
      </button>
    </th>
  );
  return (
    <div class="table-scroll">
      <table class="grid compact">
        <thead>
          <tr>
            {labelNames.map(header)}
            {header("Value")}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {labelNames.map((l) => (
                <td key={l}>{r.metric[l] ?? ""}</td>
              ))}
              <td class="num" style={{ color: thresholdColor(r.value, props.steps, "inherit") }}>
                {formatValue(r.value, props.unit, props.decimals)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

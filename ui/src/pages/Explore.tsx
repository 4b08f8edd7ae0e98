// Explore: one PromQL query as a graph or a table, with its range, step,
// stacking and refresh in the URL:
// #/explore?q=...&from=now-1h&to=now&step=&tab=graph|table&stacked=1&refresh=30s
import { useEffect, useMemo, useState } from "preact/hooks";
import { PromqlEditor } from "../components/PromqlEditor";
import { refreshMs, TimeRangePicker } from "../components/TimeRangePicker";
import { alignToGrid, TimeChart } from "../components/TimeChart";
import { EmptyState, LabelList, Loading } from "../components/common";
import { instantQuery, rangeQuery, seriesName, samplesOf, type QueryData } from "../lib/prom";
import { updateParams, type Route } from "../lib/router";
import { autoStep, parseDuration, resolve, type Resolved } from "../lib/time";
import { formatValue } from "../lib/units";

interface Result {
  data: QueryData;
  range: Resolved;
  step: number;
  tookMs: number;
}

export function Explore({ route }: { route: Route }) {
  const p = route.params;
  const query = p.get("q") ?? "";
  const from = p.get("from") ?? "now-1h";
  const to = p.get("to") ?? "now";
  const stepParam = p.get("step") ?? "";
  const tab = p.get("tab") === "table" ? "table" : "graph";
  const stacked = p.get("stacked") === "1";
  const refresh = p.get("refresh") ?? "";
  const [draft, setDraft] = useState(query);
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [tick, setTick] = useState(0);

  useEffect(() => setDraft(query), [query]);
  useEffect(() => {
    const ms = refreshMs(refresh);
    if (!ms) return;
    const t = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [refresh]);

  useEffect(() => {
    if (!query.trim()) {
      setResult(null);
      setError(null);
      return;
    }
    const range = resolve({ from, to });
    if (!range) {
      setError(`invalid time range ${from} → ${to}`);
      return;
    }
    const step = parseDuration(stepParam) ?? autoStep(range, document.body.clientWidth);
    let stale = false;
    setRunning(true);
    const began = performance.now();
    const run = tab === "graph" ? rangeQuery(query, range.start, range.end, step) : instantQuery(query, range.end);
    run.then(
      (data) => {
        if (stale) return;
        setResult({ data, range, step, tookMs: performance.now() - began });
        setError(null);
        setRunning(false);
      },
      (e: Error) => {
        if (stale) return;
        setError(e.message);
        setResult(null);
        setRunning(false);
      },
    );
    return () => {
      stale = true;
    };
  }, [query, from, to, stepParam, tab, tick]);

  const runDraft = () => {
    if (draft === query) setTick((n) => n + 1);
    else updateParams({ q: draft }, true);
  };

  return (
    <section class="page explore">
      <h1>Explore</h1>
      <div class="toolbar">
        <TimeRangePicker from={from} to={to} step={stepParam} refresh={refresh} showStep />
      </div>
      <div class="query-row">
        <PromqlEditor value={draft} onChange={setDraft} onRun={runDraft} autofocus />
        <button class="primary" onClick={runDraft} disabled={running}>
          {running ? "Running…" : "Run"}
        </button>
      </div>
      <div class="tabs" role="tablist">
        <button role="tab" aria-selected={tab === "graph"} onClick={() => updateParams({ tab: "graph" })}>
          Graph
        </button>
        <button role="tab" aria-selected={tab === "table"} onClick={() => updateParams({ tab: "table" })}>
          Table
        </button>
        {tab === "graph" && (
          <label class="check">
            <input type="checkbox" checked={stacked} onChange={(e) => updateParams({ stacked: (e.target as HTMLInputElement).checked ? "1" : undefined })} /> Stacked
          </label>
        )}
        <span class="muted">{result ? `${describe(result)} · ${Math.round(result.tookMs)} ms` : ""}</span>
      </div>
      {error && (
        <div class="error" role="alert">
          {error}
        </div>
      )}
      {!query.trim() ? (
        <EmptyState title="Start with a query">
          <p>
            Type a metric name (suggestions appear as you type), or try <code>up</code>, <code>rate(predictions_total[5m])</code> or{" "}
            <code>histogram_quantile(0.95, sum by (le) (rate(prediction_latency_seconds_bucket[5m])))</code>.
          </p>
        </EmptyState>
      ) : !result ? (
        <Loading height={tab === "graph" ? 420 : 200} />
      ) : tab === "graph" ? (
        <GraphView result={result} stacked={stacked} />
      ) : (
        <TableView data={result.data} />
      )}
    </section>
  );
}

function describe(r: Result): string {
  const d = r.data;
  if (d.resultType === "matrix") return `${d.result.length} series, step ${r.step}s`;
  if (d.resultType === "vector") return `${d.result.length} series`;
  return d.resultType;
}

function GraphView({ result, stacked }: { result: Result; stacked: boolean }) {
  const aligned = useMemo(() => alignMatrix(result), [result]);
  const d = result.data;
  if (d.resultType !== "matrix" || !aligned)
    return <EmptyState title="Nothing to graph">This query gives a {d.resultType}; see the Table tab.</EmptyState>;
  if (!d.result.length) return <EmptyState title="No data">The query matched no series in this range.</EmptyState>;
  return (
    <div class="card">
      <TimeChart
        times={aligned.times}
        series={aligned.series}
        stacked={stacked}
        height={420}
        hoverRows={10}
        onZoom={(start, end) =>
          updateParams({ from: new Date(start * 1000).toISOString(), to: new Date(end * 1000).toISOString() }, true)
        }
      />
      <SeriesList names={aligned.series.map((s) => s.label)} />
    </div>
  );
}

/** A matrix on its query's step grid (Prometheus aligns steps to the start it was given). */
function alignMatrix(result: Result) {
  const d = result.data;
  if (d.resultType !== "matrix") return null;
  const { start, end } = result.range;
  const first = d.result.find((s) => s.values.length)?.values[0]?.[0] ?? start;
  const gridStart = first - Math.floor((first - start) / result.step) * result.step;
  return alignToGrid(gridStart, end, result.step, d.result.map((s) => ({ label: seriesName(s.metric), points: s.values })));
}

function SeriesList({ names }: { names: string[] }) {
  const shown = names.slice(0, 100);
  return (
    <details class="series-list">
      <summary>{names.length} series</summary>
      <ul>
        {shown.map((n) => (
          <li key={n}>{n}</li>
        ))}
        {names.length > shown.length && <li class="muted">… and {names.length - shown.length} more</li>}
      </ul>
    </details>
  );
}

function TableView({ data }: { data: QueryData }) {
  const rows = samplesOf(data);
  if (!rows.length) return <EmptyState title="No data">The query matched no series at this time.</EmptyState>;
  return (
    <table class="grid">
      <thead>
        <tr>
          <th>Series</th>
          <th class="num">Value</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            <td>
              <b>{r.metric.__name__ ?? ""}</b> <LabelList labels={r.metric} skip={["__name__"]} />
            </td>
            <td class="num">{formatValue(r.value, "none")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

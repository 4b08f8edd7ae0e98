// Models: every model (#/models) and one model (#/models/<name>?version=&from=&to=)
// with quality, latency, throughput and score distribution over time, the drift
// table with reference-vs-current histograms, test results and a link to its
// prediction log. Uses /api/v1/models and /api/v1/models/<m>/drift when the
// server has them, and otherwise the ML series themselves.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, qs, useApi, type ApiError } from "../lib/api";
import { escapeLabelValue, instantQuery, samplesOf, type Labels } from "../lib/prom";
import { href, updateParams, type Route } from "../lib/router";
import { autoStep, resolve, since } from "../lib/time";
import { formatValue } from "../lib/units";
import { Badge, Code, EmptyState, Loading, FIRST_PREDICTION_CURL } from "../components/common";
import { TimeRangePicker } from "../components/TimeRangePicker";
import { PanelView, GAP_PX, ROW_PX, type PanelContext } from "../panels/Panel";
import type { Panel } from "../lib/dashboard";

export interface ModelInfo {
  name: string;
  task?: string;
  versions?: string[];
  classes?: string[];
  features?: { name: string; type: string }[];
  segments?: string[];
  lastEventAt?: string | number | null;
  counts?: Record<string, number>;
}

/**
 * Models from the ML API, plus models whose series come from elsewhere (an
 * exporter or remote_write sending `predictions_total` with a `model` label).
 */
export async function loadModels(): Promise<ModelInfo[]> {
  let registered: ModelInfo[] = [];
  try {
    registered = await api<ModelInfo[]>("/api/v1/models");
  } catch (e) {
    if (!(e as ApiError).missing) throw e;
  }
  const names = await api<string[]>(`/api/v1/label/model/values?${qs({ "match[]": "predictions_total" })}`);
  const known = new Set(registered.map((m) => m.name));
  return [...registered, ...names.filter((name) => !known.has(name)).map((name) => ({ name }))];
}

export function NoModels() {
  return (
    <EmptyState title="No model has sent predictions yet">
      <p>Send your first prediction event; the model appears here within seconds:</p>
      <Code>{FIRST_PREDICTION_CURL}</Code>
      <p>Send labels later with <code>POST /api/v1/feedback</code> to get accuracy, precision, recall and F1.</p>
    </EmptyState>
  );
}

export function Models({ route }: { route: Route }) {
  return route.parts[1] ? <ModelDetail name={route.parts[1]} route={route} /> : <ModelList />;
}

function ModelList() {
  const models = usePromise(useMemo(loadModels, []));
  return (
    <section class="page">
      <h1>Models</h1>
      {models.error ? (
        <div class="error">{models.error.message}</div>
      ) : !models.data ? (
        <Loading />
      ) : !models.data.length ? (
        <NoModels />
      ) : (
        <div class="cards">
          {models.data.map((m) => (
            <a class="card model-card" href={href(["models", m.name])} key={m.name}>
              <h2>{m.name}</h2>
              <p class="muted">
                {m.task ?? "model"}
                {m.versions?.length ? ` · versions ${m.versions.join(", ")}` : ""}
                {m.lastEventAt ? ` · last event ${since(m.lastEventAt)}` : ""}
              </p>
              <ModelBadges model={m.name} />
            </a>
          ))}
        </div>
      )}
    </section>
  );
}

export function usePromise<T>(promise: Promise<T>) {
  const [state, setState] = useState<{ data?: T; error?: Error }>({});
  useEffect(() => {
    let stale = false;
    promise.then(
      (data) => !stale && setState({ data }),
      (error) => !stale && setState({ error }),
    );
    return () => {
      stale = true;
    };
  }, [promise]);
  return state;
}

/** PromQL for a model's headline numbers. */
export function badgeQueries(model: string): Record<string, string> {
  const m = `model="${escapeLabelValue(model)}"`;
  return {
    accuracy: `avg(model_accuracy{${m}})`,
    p95: `histogram_quantile(0.95, sum by (le) (rate(prediction_latency_seconds_bucket{${m}}[5m])))`,
    throughput: `sum(rate(predictions_total{${m}}[5m]))`,
    drift: `max(dataset_drift_share{${m}})`,
  };
}

export function ModelBadges({ model }: { model: string }) {
  const [values, setValues] = useState<Record<string, number | null> | null>(null);
  useEffect(() => {
    const queries = badgeQueries(model);
    Promise.all(
      Object.entries(queries).map(async ([k, q]) => {
        try {
          return [k, samplesOf(await instantQuery(q))[0]?.value ?? null] as const;
        } catch {
          return [k, null] as const;
        }
      }),
    ).then((pairs) => setValues(Object.fromEntries(pairs)));
  }, [model]);
  const v = values ?? {};
  return (
    <div class="badges" aria-busy={!values}>
      <Badge tone={v.accuracy == null ? "muted" : v.accuracy >= 0.9 ? "ok" : v.accuracy >= 0.8 ? "warn" : "bad"} title="accuracy">
        acc {formatValue(v.accuracy, "percentunit")}
      </Badge>
      <Badge tone="info" title="p95 latency">p95 {formatValue(v.p95, "s")}</Badge>
      <Badge tone="info" title="throughput">{formatValue(v.throughput, "reqps")}</Badge>
      <Badge tone={v.drift == null ? "muted" : v.drift > 0.5 ? "bad" : v.drift > 0 ? "warn" : "ok"} title="share of drifted features">
        drift {formatValue(v.drift, "percentunit")}
      </Badge>
    </div>
  );
}

function modelPanels(model: string, version: string): Panel[] {
  const m = `model="${escapeLabelValue(model)}"${version ? `,model_version="${escapeLabelValue(version)}"` : ""}`;
  const latency = (q: string) => `histogram_quantile(${q}, sum by (le) (rate(prediction_latency_seconds_bucket{${m}}[5m])))`;
  const ts = (id: number, title: string, x: number, y: number, unit: string, targets: [string, string][]): Panel => ({
    id,
    type: "timeseries",
    title,
    gridPos: { x, y, w: 12, h: 8 },
    fieldConfig: { defaults: { unit } },
    targets: targets.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), expr, legendFormat })),
  });
  return [
    ts(1, "Quality", 0, 0, "percentunit", [
      [`model_accuracy{${m}}`, "accuracy {{model_version}}"],
      [`model_precision{${m}}`, "precision {{model_version}}"],
      [`model_recall{${m}}`, "recall {{model_version}}"],
      [`model_f1_score{${m}}`, "F1 {{average}} {{model_version}}"],
    ]),
    ts(2, "Latency percentiles", 12, 0, "s", [
      [latency("0.5"), "p50"],
      [latency("0.95"), "p95"],
      [latency("0.99"), "p99"],
    ]),
    ts(3, "Throughput and errors", 0, 8, "reqps", [
      [`sum by (model_version) (rate(predictions_total{${m}}[5m]))`, "{{model_version}}"],
      [`sum(rate(prediction_errors_total{${m}}[5m]))`, "errors"],
    ]),
    {
      id: 4,
      type: "bargauge",
      title: "Prediction score distribution (last hour)",
      gridPos: { x: 12, y: 8, w: 12, h: 8 },
      targets: [{ refId: "A", instant: true, expr: `sum by (le) (increase(prediction_distribution_bucket{${m}}[1h]))`, legendFormat: "≤ {{le}}" }],
      fieldConfig: { defaults: { unit: "short" } },
    },
  ];
}

function ModelDetail({ name, route }: { name: string; route: Route }) {
  const p = route.params;
  const version = p.get("version") ?? "";
  const from = p.get("from") ?? "now-6h";
  const to = p.get("to") ?? "now";
  const versions = useApi<string[]>(`/api/v1/label/model_version/values?${qs({ "match[]": `predictions_total{model="${escapeLabelValue(name)}"}` })}`);
  const range = useMemo(() => resolve({ from, to }), [from, to]);
  const panels = useMemo(() => modelPanels(name, version), [name, version]);
  const ctx: PanelContext | null = range ? { range, step: autoStep(range, document.body.clientWidth / 2), variables: {}, tick: 0 } : null;
  const uid = `ml-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`.slice(0, 40);
  return (
    <section class="page">
      <p>
        <a href={href(["models"])}>← Models</a>
      </p>
      <div class="title-row">
        <h1>{name}</h1>
        <ModelBadges model={name} />
        <span class="spacer" />
        <a class="button" href={href(["predictions"], { model: name, version })}>
          Prediction log
        </a>
        <a class="button" href={href(["dashboards", uid])}>
          Dashboard
        </a>
      </div>
      <div class="toolbar">
        <label class="variable">
          <span>Version</span>
          <select aria-label="Model version" value={version} onChange={(e) => updateParams({ version: (e.target as HTMLSelectElement).value || undefined })}>
            <option value="">all</option>
            {(versions.data ?? []).map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <TimeRangePicker from={from} to={to} />
      </div>
      <div class="panel-grid" style={{ gridAutoRows: `${ROW_PX}px`, gap: `${GAP_PX}px`, minHeight: `${16 * (ROW_PX + GAP_PX)}px` }}>
        {ctx && panels.map((panel) => <PanelView key={`${panel.id}-${version}`} panel={panel} ctx={ctx} />)}
      </div>
      <Drift model={name} />
      <Tests model={name} />
    </section>
  );
}

// ---- drift ---------------------------------------------------------------

interface Histogram {
  edges: number[];
  counts: number[];
}

interface DriftRow {
  name: string;
  type: string;
  method: string;
  score: number | null;
  statistic: number | null;
  pValue: number | null;
  threshold: number | null;
  detected: boolean;
  reference?: Histogram;
  current?: Histogram;
}

interface DriftView {
  rows: DriftRow[];
  share: number | null;
  datasetDrift: boolean | null;
  source: "report" | "series";
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function histogram(v: any): Histogram | undefined {
  if (!v || typeof v !== "object") return undefined;
  const counts = v.counts ?? v.values ?? v.frequencies;
  const edges = v.edges ?? v.bins ?? v.bin_edges ?? v.binEdges ?? v.categories;
  return Array.isArray(counts) ? { counts, edges: Array.isArray(edges) ? edges : counts.map((_: unknown, i: number) => i) } : undefined;
}

/** The drift engine's report (columns with method, score, p-value, decision, histograms) as table rows. */
export function driftFromReport(report: any): DriftView {
  const columns: any[] = report?.columns ?? report?.features ?? [];
  const rows = columns.map((c) => ({
    name: c.name,
    type: c.columnType ?? c.type ?? "",
    method: c.method ?? "",
    score: num(c.score),
    statistic: num(c.statistic),
    pValue: num(c.pValue ?? c.p_value),
    threshold: num(c.threshold),
    detected: !!(c.driftDetected ?? c.drift_detected ?? c.detected),
    reference: histogram(c.referenceHistogram ?? c.reference_histogram ?? c.histogram?.reference ?? c.reference),
    current: histogram(c.currentHistogram ?? c.current_histogram ?? c.histogram?.current ?? c.current),
  }));
  return {
    rows,
    share: num(report?.shareOfDriftedColumns ?? report?.share_of_drifted_columns ?? report?.driftShare),
    datasetDrift: report?.datasetDrift ?? report?.dataset_drift ?? null,
    source: "report",
  };
}

async function driftFromSeries(model: string): Promise<DriftView> {
  const m = `model="${escapeLabelValue(model)}"`;
  const [scores, pvalues, detected, share] = await Promise.all(
    [`feature_drift_score{${m}}`, `feature_drift_p_value{${m}}`, `feature_drift_detected{${m}}`, `max(dataset_drift_share{${m}})`].map((q) =>
      instantQuery(q).then(samplesOf, () => []),
    ),
  );
  const key = (l: Labels) => `${l.feature}\u0000${l.method}`;
  const pv = new Map(pvalues.map((s) => [key(s.metric), s.value]));
  const det = new Map(detected.map((s) => [key(s.metric), s.value]));
  return {
    rows: scores.map((s) => ({
      name: s.metric.feature ?? "",
      type: s.metric.type ?? "",
      method: s.metric.method ?? "",
      score: s.value,
      statistic: null,
      pValue: pv.get(key(s.metric)) ?? null,
      threshold: null,
      detected: (det.get(key(s.metric)) ?? 0) > 0,
    })),
    share: share[0]?.value ?? null,
    datasetDrift: null,
    source: "series",
  };
}

async function loadDrift(model: string): Promise<DriftView> {
  try {
    return driftFromReport(await api(`/api/v1/models/${encodeURIComponent(model)}/drift`));
  } catch (e) {
    if (!(e as ApiError).missing && (e as ApiError).status !== 404) throw e;
    return driftFromSeries(model);
  }
}

function Drift({ model }: { model: string }) {
  const promise = useMemo(() => loadDrift(model), [model]);
  const drift = usePromise(promise);
  return (
    <div class="card">
      <h2>
        Drift{" "}
        {drift.data?.share != null && (
          <small class="muted">
            {formatValue(drift.data.share, "percentunit")} of features drifted{drift.data.datasetDrift ? " · dataset drift detected" : ""}
          </small>
        )}
      </h2>
      {drift.error ? (
        <div class="error">{drift.error.message}</div>
      ) : !drift.data ? (
        <Loading />
      ) : !drift.data.rows.length ? (
        <p class="muted">No drift results yet. Drift is computed against a reference (an uploaded data set or a window of logged predictions) once the model has one configured.</p>
      ) : (
        <table class="grid compact drift">
          <thead>
            <tr>
              <th>Feature</th>
              <th>Type</th>
              <th>Method</th>
              <th class="num">Score</th>
              <th class="num">p-value</th>
              <th class="num">Threshold</th>
              <th>Decision</th>
              <th>Reference vs current</th>
            </tr>
          </thead>
          <tbody>
            {drift.data.rows.map((r) => (
              <tr key={r.name + r.method}>
                <td>{r.name}</td>
                <td>{r.type}</td>
                <td>{r.method}</td>
                <td class="num">{formatValue(r.score, "none")}</td>
                <td class="num">{r.pValue == null ? "–" : r.pValue.toPrecision(3)}</td>
                <td class="num">{formatValue(r.threshold, "none")}</td>
                <td>
                  <Badge tone={r.detected ? "bad" : "ok"}>{r.detected ? "drift" : "no drift"}</Badge>
                </td>
                <td>{r.reference && r.current ? <HistogramPair reference={r.reference} current={r.current} /> : <span class="muted">–</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** Two overlaid histograms normalised to shares: reference as outlines, current filled. */
export function HistogramPair({ reference, current }: { reference: Histogram; current: Histogram }) {
  const share = (h: Histogram) => {
    const total = h.counts.reduce((a, b) => a + b, 0) || 1;
    return h.counts.map((c) => c / total);
  };
  const r = share(reference);
  const c = share(current);
  const n = Math.max(r.length, c.length);
  const top = Math.max(...r, ...c, 1e-9);
  const w = 160 / Math.max(n, 1);
  return (
    <svg class="histogram" viewBox="0 0 160 40" width="160" height="40" role="img" aria-label="reference and current distributions">
      {Array.from({ length: n }, (_, i) => (
        <g key={i}>
          <rect class="current" x={i * w + 1} y={40 - (c[i] ?? 0) / top * 38} width={Math.max(w - 2, 1)} height={(c[i] ?? 0) / top * 38} />
          <rect class="reference" x={i * w + 1} y={40 - (r[i] ?? 0) / top * 38} width={Math.max(w - 2, 1)} height={(r[i] ?? 0) / top * 38} />
        </g>
      ))}
    </svg>
  );
}

function Tests({ model }: { model: string }) {
  const promise = useMemo(() => instantQuery(`ml_test_passed{model="${escapeLabelValue(model)}"}`).then(samplesOf), [model]);
  const tests = usePromise(promise);
  return (
    <div class="card">
      <h2>Tests</h2>
      {tests.error ? (
        <div class="error">{tests.error.message}</div>
      ) : !tests.data ? (
        <Loading height={40} />
      ) : !tests.data.length ? (
        <p class="muted">No test suite results. Define tests (e.g. accuracy ≥ 0.9, no drifted feature) for this model in sightline.yml.</p>
      ) : (
        <ul class="plain">
          {tests.data.map((t, i) => (
            <li key={i}>
              <Badge tone={t.value === 1 ? "ok" : "bad"}>{t.value === 1 ? "pass" : "fail"}</Badge> {t.metric.test ?? t.metric.name ?? JSON.stringify(t.metric)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

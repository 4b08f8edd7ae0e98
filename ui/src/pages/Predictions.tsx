// The prediction log (#/predictions?model=&version=&segment=&request_id=&
// misclassified=&min_confidence=&max_confidence=&from=&to=&selected=<request id>):
// search and filter logged predictions, and read one request in full.
import { useEffect, useState } from "preact/hooks";
import { api, qs, type ApiError } from "../lib/api";
import { updateParams, type Route } from "../lib/router";
import { parseTime, formatTime } from "../lib/time";
import { ApiProblem, Badge, EmptyState, Loading } from "../components/common";
import { NoModels } from "./Models";

interface Item {
  request_id: string;
  model: string;
  model_version: string;
  timestamp: string | number;
  features: Record<string, unknown>;
  prediction: unknown;
  probabilities?: unknown;
  score?: number | null;
  latency_ms?: number | null;
  segment?: Record<string, string> | string | null;
  error?: string | null;
  ground_truth?: unknown;
  confidence?: number | null;
  misclassified?: boolean | null;
}

const FILTERS = ["model", "version", "segment", "request_id", "misclassified", "min_confidence", "max_confidence", "from", "to"] as const;

export function Predictions({ route }: { route: Route }) {
  const p = route.params;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, p.get(k) ?? ""])) as Record<(typeof FILTERS)[number], string>;
  const [draft, setDraft] = useState(filters);
  const [pages, setPages] = useState<{ items: Item[]; next?: string | null } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const key = FILTERS.map((k) => filters[k]).join("\u0000");
  useEffect(() => setDraft(filters), [key]);

  const search = async (token?: string) => {
    const start = filters.from ? parseTime(filters.from) : null;
    const end = filters.to ? parseTime(filters.to) : null;
    const query = qs({
      model: filters.model,
      version: filters.version,
      segment: filters.segment,
      request_id: filters.request_id,
      misclassified: filters.misclassified,
      min_confidence: filters.min_confidence,
      max_confidence: filters.max_confidence,
      start: start == null ? undefined : new Date(start * 1000).toISOString(),
      end: end == null ? undefined : new Date(end * 1000).toISOString(),
      limit: 50,
      next_page_token: token,
    });
    try {
      const data = await api<{ items: Item[]; next_page_token?: string | null }>(`/api/v1/predictions?${query}`);
      setError(null);
      setPages((prev) => ({ items: token && prev ? [...prev.items, ...data.items] : data.items, next: data.next_page_token }));
    } catch (e) {
      setError(e as ApiError);
      setPages(null);
    }
  };
  useEffect(() => {
    setPages(null);
    search();
  }, [key]);

  const selected = p.get("selected");
  const detail = pages?.items.find((i) => i.request_id === selected);
  const field = (k: (typeof FILTERS)[number], label: string, size = 12) => (
    <label>
      {label}
      <input aria-label={label} value={draft[k]} size={size} onInput={(e) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value })} />
    </label>
  );
  return (
    <section class="page">
      <h1>Prediction log</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          updateParams(Object.fromEntries(FILTERS.map((k) => [k, draft[k] || undefined])), true);
        }}
      >
        {field("model", "Model")}
        {field("version", "Version", 6)}
        {field("segment", "Segment", 12)}
        {field("request_id", "Request id", 14)}
        <label>
          Misclassified
          <select aria-label="Misclassified" value={draft.misclassified} onChange={(e) => setDraft({ ...draft, misclassified: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            <option value="true">yes</option>
            <option value="false">no</option>
          </select>
        </label>
        {field("min_confidence", "Min confidence", 5)}
        {field("max_confidence", "Max confidence", 5)}
        {field("from", "From", 10)}
        {field("to", "To", 10)}
        <button class="primary" type="submit">
          Search
        </button>
      </form>
      {error ? (
        error.missing ? (
          <NoModels />
        ) : (
          <ApiProblem error={error} what="prediction log" />
        )
      ) : !pages ? (
        <Loading height={300} />
      ) : !pages.items.length ? (
        <EmptyState title="No predictions match">Widen the filters, or check that your service sends prediction events.</EmptyState>
      ) : (
        <div class="columns">
          <div>
            <table class="grid compact">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Request</th>
                  <th>Model</th>
                  <th>Prediction</th>
                  <th>Label</th>
                  <th class="num">Confidence</th>
                  <th class="num">Latency</th>
                </tr>
              </thead>
              <tbody>
                {pages.items.map((i) => (
                  <tr key={i.request_id} class={i.request_id === selected ? "selected" : ""}>
                    <td>{timeText(i.timestamp)}</td>
                    <td>
                      <button class="link" onClick={() => updateParams({ selected: i.request_id })}>
                        {i.request_id}
                      </button>
                    </td>
                    <td>
                      {i.model} <span class="muted">{i.model_version}</span>
                    </td>
                    <td>{short(i.prediction)}</td>
                    <td>
                      {i.ground_truth == null ? <span class="muted">–</span> : short(i.ground_truth)} {i.misclassified && <Badge tone="bad">wrong</Badge>}
                    </td>
                    <td class="num">{i.confidence == null ? "–" : i.confidence.toFixed(3)}</td>
                    <td class="num">{i.latency_ms == null ? "–" : `${i.latency_ms} ms`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {pages.next && <button onClick={() => search(pages.next ?? undefined)}>Load more</button>}
          </div>
          {detail && <Detail item={detail} />}
        </div>
      )}
    </section>
  );
}

function timeText(t: string | number): string {
  const ms = typeof t === "number" ? (t > 1e12 ? t : t * 1000) : Date.parse(t);
  return Number.isFinite(ms) ? formatTime(ms / 1000) : String(t);
}

function short(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function Detail({ item }: { item: Item }) {
  return (
    <aside class="card detail" aria-label="Prediction detail">
      <h2>{item.request_id}</h2>
      <dl>
        <dt>Model</dt>
        <dd>
          {item.model} {item.model_version}
        </dd>
        <dt>Time</dt>
        <dd>{timeText(item.timestamp)}</dd>
        <dt>Prediction</dt>
        <dd>{JSON.stringify(item.prediction)}</dd>
        {item.probabilities != null && (
          <>
            <dt>Probabilities</dt>
            <dd>{JSON.stringify(item.probabilities)}</dd>
          </>
        )}
        <dt>Label</dt>
        <dd>{item.ground_truth == null ? "not yet received" : JSON.stringify(item.ground_truth)}</dd>
        {item.segment && (
          <>
            <dt>Segment</dt>
            <dd>{JSON.stringify(item.segment)}</dd>
          </>
        )}
        {item.error && (
          <>
            <dt>Error</dt>
            <dd class="error-text">{item.error}</dd>
          </>
        )}
      </dl>
      <h3>Features</h3>
      <table class="grid compact">
        <tbody>
          {Object.entries(item.features ?? {}).map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>{JSON.stringify(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </aside>
  );
}


// Alerts (#/alerts), Silences (#/silences, #/silences/new?matchers=...), Rules
// (#/rules) and Targets (#/targets), over the Prometheus and Alertmanager v2 APIs.
import { useEffect, useState } from "preact/hooks";
import { api, post, qs, useApi } from "../lib/api";
import { href, navigate, updateParams, type Route } from "../lib/router";
import { formatDuration, since } from "../lib/time";
import { ApiProblem, Badge, Code, EmptyState, LabelList, Loading } from "../components/common";
import type { Labels } from "../lib/prom";

const RULES_HINT = (
  <>
    <p>Alerts come from alerting rules. Add a rule file to sightline.yml:</p>
    <Code>{"rule_files:\n  - rules/*.yml"}</Code>
  </>
);

interface PromAlert {
  labels: Labels;
  annotations: Labels;
  state: "firing" | "pending" | "inactive";
  activeAt?: string;
  value?: string;
}

export function Alerts({ route }: { route: Route }) {
  const filter = route.params.get("state") ?? "";
  const alerts = useApi<{ alerts: PromAlert[] }>("/api/v1/alerts", 15_000);
  const shown = (alerts.data?.alerts ?? []).filter((a) => !filter || a.state === filter);
  return (
    <section class="page">
      <h1>Alerts</h1>
      <div class="tabs" role="tablist">
        {["", "firing", "pending"].map((s) => (
          <button key={s} role="tab" aria-selected={filter === s} onClick={() => updateParams({ state: s || undefined })}>
            {s || "all"}
          </button>
        ))}
      </div>
      {alerts.error ? (
        <ApiProblem error={alerts.error} what="alerts" hint={RULES_HINT} />
      ) : !alerts.data ? (
        <Loading />
      ) : !shown.length ? (
        <EmptyState title="No alerts are firing or pending">{RULES_HINT}</EmptyState>
      ) : (
        <table class="grid">
          <thead>
            <tr>
              <th>State</th>
              <th>Alert</th>
              <th>Labels</th>
              <th>Annotations</th>
              <th>Since</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((a, i) => (
              <tr key={i}>
                <td>
                  <Badge tone={a.state === "firing" ? "bad" : "warn"}>{a.state}</Badge>
                </td>
                <td>
                  <b>{a.labels.alertname}</b>
                </td>
                <td>
                  <LabelList labels={a.labels} skip={["alertname"]} />
                </td>
                <td class="annotations">
                  {Object.entries(a.annotations ?? {}).map(([k, v]) => (
                    <div key={k}>
                      <span class="muted">{k}:</span> {v}
                    </div>
                  ))}
                </td>
                <td title={a.activeAt}>{since(a.activeAt)}</td>
                <td>
                  <a class="button" href={href(["silences", "new"], { matchers: matchersText(a.labels) })}>
                    Silence
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

// ---- silences ------------------------------------------------------------

export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

interface Silence {
  id: string;
  status: { state: "active" | "pending" | "expired" };
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

function matchersText(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(", ");
}

/** `a="x", b=~"y.*", c!="z"` as Alertmanager matchers; an error names the bad part. */
export function parseMatchers(text: string): Matcher[] | string {
  const out: Matcher[] = [];
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(,|$)/y;
  let at = 0;
  const body = text.trim().replace(/^\{|\}$/g, "");
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (!m) return `cannot read a matcher at position ${at + 1}: “${body.slice(at, at + 20)}”`;
    const raw = m[3].trim();
    let value: string;
    try {
      value = raw.startsWith('"') ? JSON.parse(raw) : raw;
    } catch {
      return `bad quoted value ${raw}`;
    }
    out.push({ name: m[1], value, isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") });
    at = re.lastIndex;
  }
  return out.length ? out : "a silence needs at least one matcher";
}

function matcherFilter(ms: Matcher[]): string[] {
  return ms.map((m) => `${m.name}${m.isEqual ? "" : "!"}${m.isRegex ? "~" : "="}${JSON.stringify(m.value)}`);
}

export function Silences({ route }: { route: Route }) {
  if (route.parts[1] === "new") return <NewSilence initial={route.params.get("matchers") ?? ""} />;
  return <SilenceList />;
}

function SilenceList() {
  const silences = useApi<Silence[]>("/api/v2/silences", 15_000);
  const [error, setError] = useState("");
  const expire = async (id: string) => {
    try {
      await api(`/api/v2/silence/${encodeURIComponent(id)}`, { method: "DELETE" });
      silences.reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const sorted = [...(silences.data ?? [])].sort((a, b) => order(a) - order(b));
  return (
    <section class="page">
      <h1>Silences</h1>
      <div class="toolbar">
        <a class="button primary" href={href(["silences", "new"])}>
          New silence
        </a>
      </div>
      {error && <div class="error">{error}</div>}
      {silences.error ? (
        <ApiProblem error={silences.error} what="silences" hint={<p>Silences need Sightline's notification subsystem (alerting: in sightline.yml).</p>} />
      ) : !silences.data ? (
        <Loading />
      ) : !sorted.length ? (
        <EmptyState title="No silences">Silence an alert from the Alerts page, or create one with “New silence”.</EmptyState>
      ) : (
        <table class="grid">
          <thead>
            <tr>
              <th>State</th>
              <th>Matchers</th>
              <th>Ends</th>
              <th>Created by</th>
              <th>Comment</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sorted.map((s) => (
              <tr key={s.id} data-silence-id={s.id}>
                <td>
                  <Badge tone={s.status.state === "active" ? "info" : s.status.state === "pending" ? "warn" : "muted"}>{s.status.state}</Badge>
                </td>
                <td>
                  <code>{matcherFilter(s.matchers).join(", ")}</code>
                </td>
                <td title={s.endsAt}>{since(s.endsAt)}</td>
                <td>{s.createdBy}</td>
                <td>{s.comment}</td>
                <td>
                  {s.status.state !== "expired" && (
                    <button class="danger" onClick={() => expire(s.id)}>
                      Expire
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function order(s: Silence): number {
  return { active: 0, pending: 1, expired: 2 }[s.status.state] ?? 3;
}

interface AmAlert {
  labels: Labels;
  status: { state: string };
  startsAt: string;
}

function NewSilence({ initial }: { initial: string }) {
  const [matchers, setMatchers] = useState(initial);
  const [duration, setDuration] = useState("2h");
  const [createdBy, setCreatedBy] = useState(() => localStorage.getItem("sightline.user") ?? "");
  const [comment, setComment] = useState("");
  const [error, setError] = useState("");
  const [preview, setPreview] = useState<AmAlert[] | string | null>(null);
  const parsed = parseMatchers(matchers);
  useEffect(() => {
    if (typeof parsed === "string") {
      setPreview(null);
      return;
    }
    const t = setTimeout(() => {
      api<AmAlert[]>(`/api/v2/alerts?${qs({ filter: matcherFilter(parsed), silenced: "true", inhibited: "true" })}`).then(setPreview, (e: Error) => setPreview(e.message));
    }, 300);
    return () => clearTimeout(t);
  }, [matchers]);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (typeof parsed === "string") return setError(parsed);
    const seconds = parseDurationText(duration);
    if (!seconds) return setError(`“${duration}” is not a duration (e.g. 2h, 30m, 1d)`);
    localStorage.setItem("sightline.user", createdBy);
    const now = Date.now();
    try {
      await post("/api/v2/silences", {
        matchers: parsed,
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + seconds * 1000).toISOString(),
        createdBy: createdBy || "sightline-ui",
        comment: comment || "silenced from the UI",
      });
      navigate(["silences"]);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section class="page">
      <h1>New silence</h1>
      <form class="card form" onSubmit={submit}>
        <label>
          Matchers <small class="muted">e.g. alertname="HighLatency", model=~"fraud.*"</small>
          <input aria-label="Matchers" value={matchers} onInput={(e) => setMatchers((e.target as HTMLInputElement).value)} class={typeof parsed === "string" && matchers ? "invalid" : ""} />
        </label>
        {typeof parsed === "string" && matchers && <div class="error small">{parsed}</div>}
        <label>
          Duration
          <input aria-label="Duration" value={duration} onInput={(e) => setDuration((e.target as HTMLInputElement).value)} size={8} />
        </label>
        <label>
          Created by
          <input aria-label="Created by" value={createdBy} onInput={(e) => setCreatedBy((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Comment
          <input aria-label="Comment" value={comment} onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
        </label>
        <div class="toolbar">
          <button class="primary" type="submit">
            Create silence
          </button>
          <a href={href(["silences"])}>Cancel</a>
        </div>
        {error && (
          <div class="error" role="alert">
            {error}
          </div>
        )}
      </form>
      <h2>Affected alerts</h2>
      <div class="preview" aria-live="polite">
        {preview == null ? (
          <p class="muted">Type matchers to see which alerts they silence.</p>
        ) : typeof preview === "string" ? (
          <p class="muted">Cannot preview: {preview}</p>
        ) : !preview.length ? (
          <p class="muted">No current alert matches.</p>
        ) : (
          <ul class="plain">
            {preview.map((a, i) => (
              <li key={i}>
                <b>{a.labels.alertname}</b> <LabelList labels={a.labels} skip={["alertname"]} /> <Badge tone="muted">{a.status.state}</Badge>
              </li>
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}

function parseDurationText(text: string): number | null {
  const m = /^(\d+)(m|h|d|w)$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * { m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as "m"];
}

// ---- rules ---------------------------------------------------------------

interface Rule {
  name: string;
  query: string;
  type: "alerting" | "recording";
  health: string;
  lastError?: string;
  lastEvaluation?: string;
  evaluationTime?: number;
  state?: string;
  duration?: number;
  labels?: Labels;
}

interface RuleGroup {
  name: string;
  file: string;
  interval: number;
  rules: Rule[];
  lastEvaluation?: string;
  evaluationTime?: number;
}

export function Rules() {
  const rules = useApi<{ groups: RuleGroup[] }>("/api/v1/rules", 30_000);
  return (
    <section class="page">
      <h1>Rules</h1>
      {rules.error ? (
        <ApiProblem error={rules.error} what="rules" hint={RULES_HINT} />
      ) : !rules.data ? (
        <Loading />
      ) : !rules.data.groups.length ? (
        <EmptyState title="No rules loaded">{RULES_HINT}</EmptyState>
      ) : (
        rules.data.groups.map((g) => (
          <div class="card" key={g.file + g.name}>
            <h2>
              {g.name} <small class="muted">{g.file} · every {formatDuration(g.interval)} · last {since(g.lastEvaluation)}</small>
            </h2>
            <table class="grid compact">
              <thead>
                <tr>
                  <th>Rule</th>
                  <th>Health</th>
                  <th>Last evaluation</th>
                  <th class="num">Took</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                {g.rules.map((r) => (
                  <tr key={r.name + r.query}>
                    <td>
                      <div>
                        <Badge tone="muted">{r.type === "alerting" ? "alert" : "record"}</Badge> <b>{r.name}</b>
                        {r.state && r.state !== "inactive" && <Badge tone={r.state === "firing" ? "bad" : "warn"}>{r.state}</Badge>}
                      </div>
                      <a href={href(["explore"], { q: r.query })}>
                        <code>{r.query}</code>
                      </a>
                    </td>
                    <td>
                      <Badge tone={r.health === "ok" ? "ok" : r.health === "err" ? "bad" : "muted"}>{r.health}</Badge>
                    </td>
                    <td>{since(r.lastEvaluation)}</td>
                    <td class="num">{r.evaluationTime != null ? `${(r.evaluationTime * 1000).toFixed(1)} ms` : "–"}</td>
                    <td class="error-text">{r.lastError}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))
      )}
    </section>
  );
}

// ---- targets -------------------------------------------------------------

interface Target {
  labels: Labels;
  scrapePool: string;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
}

export function Targets() {
  const targets = useApi<{ activeTargets: Target[] }>("/api/v1/targets", 15_000);
  const pools = new Map<string, Target[]>();
  for (const t of targets.data?.activeTargets ?? []) pools.set(t.scrapePool, [...(pools.get(t.scrapePool) ?? []), t]);
  const hint = (
    <>
      <p>Add a scrape job to sightline.yml:</p>
      <Code>{"scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']"}</Code>
    </>
  );
  return (
    <section class="page">
      <h1>Targets</h1>
      {targets.error ? (
        <ApiProblem error={targets.error} what="targets" hint={hint} />
      ) : !targets.data ? (
        <Loading />
      ) : !pools.size ? (
        <EmptyState title="Nothing is scraped yet">{hint}</EmptyState>
      ) : (
        [...pools].map(([pool, list]) => (
          <div class="card" key={pool}>
            <h2>
              {pool} <small class="muted">{list.filter((t) => t.health === "up").length}/{list.length} up</small>
            </h2>
            <table class="grid compact">
              <thead>
                <tr>
                  <th>Endpoint</th>
                  <th>Health</th>
                  <th>Labels</th>
                  <th>Last scrape</th>
                  <th class="num">Took</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                {list.map((t) => (
                  <tr key={t.scrapeUrl}>
                    <td>
                      <a href={t.scrapeUrl}>{t.scrapeUrl}</a>
                    </td>
                    <td>
                      <Badge tone={t.health === "up" ? "ok" : t.health === "down" ? "bad" : "muted"}>{t.health}</Badge>
                    </td>
                    <td>
                      <LabelList labels={t.labels} />
                    </td>
                    <td>{since(t.lastScrape)}</td>
                    <td class="num">{(t.lastScrapeDuration * 1000).toFixed(1)} ms</td>
                    <td class="error-text">{t.lastError}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))
      )}
    </section>
  );
}

// Incidents: the list (#/incidents?state=open) and one incident
// (#/incidents/<id>) with its alerts, timeline and actions; acknowledge and resolve.
import { useState } from "preact/hooks";
import { post, useApi } from "../lib/api";
import { href, updateParams, type Route } from "../lib/router";
import { since } from "../lib/time";
import { ApiProblem, Badge, EmptyState, LabelList, Loading } from "../components/common";
import type { Labels } from "../lib/prom";

interface Incident {
  id: string;
  groupKey: string;
  title: string;
  state: "open" | "acknowledged" | "resolved";
  openedAt: string;
  acknowledgedAt?: string | null;
  resolvedAt?: string | null;
  labels: Labels;
  alerts: { labels: Labels; annotations: Labels; startsAt: string; endsAt?: string; status: string }[];
  timeline: { at: string; kind: string; message: string; outcome?: string }[];
  actions: { name: string; on: string; at: string; dryRun: boolean; ok: boolean; statusCode?: number; error?: string; durationMs?: number }[];
}

const HINT = <p>Incidents open when alerts fire and notification routing groups them. Configure alerting rules and receivers in sightline.yml.</p>;

function tone(state: string) {
  return state === "open" ? "bad" : state === "acknowledged" ? "warn" : "ok";
}

export function Incidents({ route }: { route: Route }) {
  return route.parts[1] ? <IncidentDetail id={route.parts[1]} /> : <IncidentList state={route.params.get("state") ?? ""} />;
}

function IncidentList({ state }: { state: string }) {
  const list = useApi<Incident[]>("/api/v1/incidents", 15_000);
  const shown = (list.data ?? []).filter((i) => !state || i.state === state);
  return (
    <section class="page">
      <h1>Incidents</h1>
      <div class="tabs" role="tablist">
        {["", "open", "acknowledged", "resolved"].map((s) => (
          <button key={s} role="tab" aria-selected={state === s} onClick={() => updateParams({ state: s || undefined })}>
            {s || "all"}
          </button>
        ))}
      </div>
      {list.error ? (
        <ApiProblem error={list.error} what="incidents" hint={HINT} />
      ) : !list.data ? (
        <Loading />
      ) : !shown.length ? (
        <EmptyState title="No incidents">{HINT}</EmptyState>
      ) : (
        <table class="grid">
          <thead>
            <tr>
              <th>State</th>
              <th>Incident</th>
              <th>Labels</th>
              <th class="num">Alerts</th>
              <th>Opened</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((i) => (
              <tr key={i.id}>
                <td>
                  <Badge tone={tone(i.state)}>{i.state}</Badge>
                </td>
                <td>
                  <a href={href(["incidents", i.id])}>{i.title}</a>
                </td>
                <td>
                  <LabelList labels={i.labels} />
                </td>
                <td class="num">{i.alerts.length}</td>
                <td title={i.openedAt}>{since(i.openedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function IncidentDetail({ id }: { id: string }) {
  const incident = useApi<Incident>(`/api/v1/incidents/${encodeURIComponent(id)}`, 15_000);
  const [error, setError] = useState("");
  const act = async (what: "acknowledge" | "resolve") => {
    try {
      await post(`/api/v1/incidents/${encodeURIComponent(id)}/${what}`);
      incident.reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  if (incident.error) return <section class="page"><ApiProblem error={incident.error} what="incident" hint={HINT} /></section>;
  const i = incident.data;
  if (!i) return <section class="page"><Loading height={300} /></section>;
  return (
    <section class="page">
      <p>
        <a href={href(["incidents"])}>← Incidents</a>
      </p>
      <div class="title-row">
        <h1>{i.title}</h1>
        <Badge tone={tone(i.state)}>{i.state}</Badge>
        <span class="spacer" />
        {i.state === "open" && <button onClick={() => act("acknowledge")}>Acknowledge</button>}
        {i.state !== "resolved" && (
          <button class="primary" onClick={() => act("resolve")}>
            Resolve
          </button>
        )}
      </div>
      {error && <div class="error">{error}</div>}
      <p class="muted">
        Opened {since(i.openedAt)}
        {i.acknowledgedAt && ` · acknowledged ${since(i.acknowledgedAt)}`}
        {i.resolvedAt && ` · resolved ${since(i.resolvedAt)}`} · <LabelList labels={i.labels} />
      </p>
      <div class="columns">
        <div class="card">
          <h2>Timeline</h2>
          <ol class="timeline">
            {i.timeline.map((t, k) => (
              <li key={k}>
                <time title={t.at}>{new Date(t.at).toLocaleString()}</time> <Badge tone="muted">{t.kind}</Badge> {t.message}
                {t.outcome && <span class="muted"> — {t.outcome}</span>}
              </li>
            ))}
          </ol>
        </div>
        <div class="card">
          <h2>Alerts</h2>
          <ul class="plain">
            {i.alerts.map((a, k) => (
              <li key={k}>
                <Badge tone={a.status === "firing" ? "bad" : "ok"}>{a.status}</Badge> <b>{a.labels.alertname}</b> <LabelList labels={a.labels} skip={["alertname"]} />
                {a.annotations?.summary && <div class="muted">{a.annotations.summary}</div>}
              </li>
            ))}
          </ul>
          <h2>Actions</h2>
          {!i.actions.length ? (
            <p class="muted">No actions ran.</p>
          ) : (
            <table class="grid compact">
              <thead>
                <tr>
                  <th>Action</th>
                  <th>On</th>
                  <th>Outcome</th>
                  <th class="num">Took</th>
                  <th>When</th>
                </tr>
              </thead>
              <tbody>
                {i.actions.map((a, k) => (
                  <tr key={k}>
                    <td>
                      {a.name} {a.dryRun && <Badge tone="muted">dry run</Badge>}
                    </td>
                    <td>{a.on}</td>
                    <td>
                      <Badge tone={a.ok ? "ok" : "bad"}>{a.ok ? `ok${a.statusCode ? ` ${a.statusCode}` : ""}` : "failed"}</Badge> <span class="error-text">{a.error}</span>
                    </td>
                    <td class="num">{a.durationMs != null ? `${a.durationMs} ms` : "–"}</td>
                    <td>{since(a.at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </section>
  );
}

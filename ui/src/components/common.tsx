// Small building blocks shared by the pages.
import type { ComponentChildren } from "preact";
import type { ApiError } from "../lib/api";
import type { Labels } from "../lib/prom";

export function EmptyState(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty" role="note">
      <h3>{props.title}</h3>
      {props.children}
    </div>
  );
}

/** An API error, or for an endpoint this server lacks, what the page needs and how to get it. */
export function ApiProblem(props: { error: ApiError; what: string; hint?: ComponentChildren }) {
  if (props.error.missing)
    return (
      <EmptyState title={`No ${props.what} on this server yet`}>
        <p>This server does not offer the {props.what} API.</p>
        {props.hint}
      </EmptyState>
    );
  return (
    <div class="error" role="alert">
      {props.error.message}
    </div>
  );
}

export function LabelList(props: { labels: Labels | undefined; skip?: string[] }) {
  const entries = Object.entries(props.labels ?? {}).filter(([k]) => !props.skip?.includes(k));
  return (
    <span class="labels">
      {entries.map(([k, v]) => (
        <span class="label" key={k}>
          {k}=<b>{v}</b>
        </span>
      ))}
    </span>
  );
}

export function Badge(props: { tone: "ok" | "warn" | "bad" | "info" | "muted"; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge ${props.tone}`} title={props.title}>
      {props.children}
    </span>
  );
}

export function Loading(props: { height?: number }) {
  return <div class="loading" style={{ height: `${props.height ?? 80}px` }} aria-busy="true" />;
}

export function Code(props: { children: string }) {
  return (
    <pre class="code">
      <code>{props.children}</code>
    </pre>
  );
}

/** The first prediction a newcomer can send: shown wherever model data is missing. */
export const FIRST_PREDICTION_CURL = `curl -X POST ${location.origin}/api/v1/predictions \\
  -H 'Content-Type: application/json' \\
  -d '[{"model":"fraud","model_version":"1","request_id":"r-1","features":{"amount":12.5},"prediction":1,"probabilities":[0.2,0.8],"latency_ms":8}]'`;

// Overview (#/): targets up and down, firing alerts, open incidents, and every
// model with its accuracy, p95 latency, throughput and drift badges.
import { useMemo } from "preact/hooks";
import { useApi, type ApiError } from "../lib/api";
import { instantQuery, samplesOf } from "../lib/prom";
import { href } from "../lib/router";
import { since } from "../lib/time";
import { Badge, Loading } from "../components/common";
import { loadModels, ModelBadges, NoModels, usePromise } from "./Models";

interface Counts {
  up: number;
  down: number;
}

/** Targets from the targets API, or from the `up` series when that API is absent. */
async function targetCounts(): Promise<Counts> {
  const rows = samplesOf(await instantQuery("up"));
  return { up: rows.filter((r) => r.value === 1).length, down: rows.filter((r) => r.value === 0).length };
}

function Tile(props: { title: string; value: string | number; tone: "ok" | "warn" | "bad" | "muted" | "info"; link: string; note?: string }) {
  return (
    <a class={`tile ${props.tone}`} href={props.link}>
      <span class="tile-title">{props.title}</span>
      <b class="tile-value">{props.value}</b>
      <span class="muted">{props.note ?? "\u00a0"}</span>
    </a>
  );
}

function missingNote(error: ApiError | undefined): string | undefined {
  if (!error) return undefined;
  return error.missing ? "not available on this server" : error.message;
}

export function Overview() {
  const targets = usePromise(useMemo(targetCounts, []));
  const alerts = useApi<{ alerts: { state: string; labels: Record<string, string>; activeAt?: string }[] }>("/api/v1/alerts", 15_000);
  const incidents = useApi<{ state: string; id: string; title: string; openedAt: string }[]>("/api/v1/incidents", 15_000);
  const models = usePromise(useMemo(loadModels, []));
  const firing = alerts.data?.alerts.filter((a) => a.state === "firing") ?? [];
  const open = incidents.data?.filter((i) => i.state !== "resolved") ?? [];
  return (
    <section class="page">
      <h1>Overview</h1>
      <div class="tiles">
        <Tile title="Targets up" value={targets.data ? targets.data.up : "–"} tone="ok" link={href(["targets"])} note={targets.data ? `${targets.data.down} down` : undefined} />
        <Tile title="Targets down" value={targets.data ? targets.data.down : "–"} tone={targets.data?.down ? "bad" : "muted"} link={href(["targets"])} />
        <Tile title="Firing alerts" value={alerts.data ? firing.length : "–"} tone={firing.length ? "bad" : "ok"} link={href(["alerts"], { state: "firing" })} note={missingNote(alerts.error)} />
        <Tile title="Open incidents" value={incidents.data ? open.length : "–"} tone={open.length ? "warn" : "ok"} link={href(["incidents"], { state: "open" })} note={missingNote(incidents.error)} />
      </div>
      {firing.length > 0 && (
        <div class="card">
          <h2>Firing</h2>
          <ul class="plain">
            {firing.slice(0, 10).map((a, i) => (
              <li key={i}>
                <Badge tone="bad">firing</Badge> <b>{a.labels.alertname}</b> <span class="muted">{since(a.activeAt)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      {open.length > 0 && (
        <div class="card">
          <h2>Open incidents</h2>
          <ul class="plain">
            {open.slice(0, 10).map((i) => (
              <li key={i.id}>
                <Badge tone={i.state === "open" ? "bad" : "warn"}>{i.state}</Badge> <a href={href(["incidents", i.id])}>{i.title}</a> <span class="muted">{since(i.openedAt)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      <h2>Models</h2>
      {models.error ? (
        <div class="error">{models.error.message}</div>
      ) : !models.data ? (
        <Loading height={120} />
      ) : !models.data.length ? (
        <NoModels />
      ) : (
        <div class="cards">
          {models.data.map((m) => (
            <a class="card model-card" href={href(["models", m.name])} key={m.name}>
              <h3>{m.name}</h3>
              <ModelBadges model={m.name} />
            </a>
          ))}
        </div>
      )}
    </section>
  );
}

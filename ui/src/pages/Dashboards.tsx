// Dashboards: the list (#/dashboards), Grafana import, and one dashboard
// (#/dashboards/<uid>?from=&to=&refresh=&var-<name>=...) with its variables,
// panels and a JSON editor that saves through /api/v1/dashboards.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, post, useApi, type ApiError } from "../lib/api";
import { ALL, formatSelection, variableOptions, interpolate, type Dashboard, type Variable } from "../lib/dashboard";
import { href, navigate, updateParams, type Route } from "../lib/router";
import { autoStep, parseDuration, resolve } from "../lib/time";
import { refreshMs, TimeRangePicker } from "../components/TimeRangePicker";
import { ApiProblem, Badge, EmptyState, Loading } from "../components/common";
import { PanelView, ROW_PX, GAP_PX, type PanelContext } from "../panels/Panel";

interface Summary {
  uid: string;
  title: string;
  tags: string[];
  panels: number;
  provisioned?: string | null;
  generated?: boolean;
}

export function Dashboards({ route }: { route: Route }) {
  const uid = route.parts[1];
  return uid ? <DashboardView uid={uid} route={route} /> : <DashboardList />;
}

function DashboardList() {
  const list = useApi<Summary[]>("/api/v1/dashboards");
  const [importing, setImporting] = useState(false);
  return (
    <section class="page">
      <h1>Dashboards</h1>
      <div class="toolbar">
        <button class="primary" onClick={() => setImporting(!importing)} aria-expanded={importing}>
          Import Grafana JSON
        </button>
        <button onClick={() => createEmpty()}>New dashboard</button>
      </div>
      {importing && <ImportForm />}
      {list.error ? (
        <ApiProblem error={list.error} what="dashboards" />
      ) : !list.data ? (
        <Loading />
      ) : !list.data.length ? (
        <EmptyState title="No dashboards yet">
          <p>
            Import a Grafana dashboard above, create one, or set <code>dashboards: {"{"}path: ./dashboards{"}"}</code> in sightline.yml to load a
            folder of JSON files. Each model that sends predictions gets a dashboard here automatically.
          </p>
        </EmptyState>
      ) : (
        <table class="grid">
          <thead>
            <tr>
              <th>Title</th>
              <th>Tags</th>
              <th class="num">Panels</th>
              <th>Source</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((d) => (
              <tr key={d.uid}>
                <td>
                  <a href={href(["dashboards", d.uid])}>{d.title}</a>
                </td>
                <td>{d.tags.map((t) => <Badge tone="muted" key={t}>{t}</Badge>)}</td>
                <td class="num">{d.panels}</td>
                <td class="muted">{d.generated ? "generated for the model" : d.provisioned ? `file ${d.provisioned}` : "saved here"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

async function createEmpty() {
  const title = `New dashboard ${new Date().toISOString().slice(0, 16).replace("T", " ")}`;
  const saved = await post<{ uid: string }>("/api/v1/dashboards", {
    title,
    uid: `d-${Date.now().toString(36)}`,
    panels: [{ type: "timeseries", title: "Up", gridPos: { x: 0, y: 0, w: 12, h: 8 }, targets: [{ refId: "A", expr: "up", legendFormat: "{{job}} {{instance}}" }] }],
  });
  navigate(["dashboards", saved.uid], { edit: "1" });
}

function ImportForm() {
  const [text, setText] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const res = await api<{ uid: string; warnings: string[] }>("/api/v1/dashboards/import?overwrite=true", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: text,
      });
      navigate(["dashboards", res.uid], { warnings: res.warnings.join("\n") || undefined });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const readFile = async (e: Event) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) setText(await file.text());
  };
  return (
    <form class="card import" onSubmit={submit}>
      <label>
        Grafana dashboard JSON (graph, singlestat, timeseries, stat, gauge, bar gauge and table panels; rows are flattened)
        <textarea aria-label="Dashboard JSON" rows={10} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
      </label>
      <div class="toolbar">
        <input type="file" accept="application/json,.json" aria-label="Dashboard file" onChange={readFile} />
        <button class="primary" type="submit" disabled={busy || !text.trim()}>
          Import
        </button>
      </div>
      {error && (
        <div class="error" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}

function DashboardView({ uid, route }: { uid: string; route: Route }) {
  const loaded = useApi<{ dashboard: Dashboard; meta: { provisioned?: string; generated?: boolean } }>(`/api/v1/dashboards/${encodeURIComponent(uid)}`);
  if (loaded.error) return <section class="page"><ApiProblem error={loaded.error} what="dashboard" /></section>;
  if (!loaded.data) return <section class="page"><Loading height={400} /></section>;
  return <DashboardBody dashboard={loaded.data.dashboard} meta={loaded.data.meta} route={route} reload={loaded.reload} />;
}

function DashboardBody(props: { dashboard: Dashboard; meta: { provisioned?: string; generated?: boolean }; route: Route; reload: () => void }) {
  const { dashboard: d, route } = props;
  const p = route.params;
  const from = p.get("from") ?? d.time?.from ?? "now-6h";
  const to = p.get("to") ?? d.time?.to ?? "now";
  const refresh = p.get("refresh") ?? (typeof d.refresh === "string" ? d.refresh : "");
  const editing = p.get("edit") === "1";
  const warnings = p.get("warnings");
  const [tick, setTick] = useState(0);
  const variables = useVariables(d.templating?.list ?? [], route);
  useEffect(() => {
    const ms = refreshMs(refresh);
    if (!ms) return;
    const t = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [refresh]);
  const range = useMemo(() => resolve({ from, to }), [from, to, tick]);
  const step = parseDuration(p.get("step") ?? "") ?? (range ? autoStep(range, document.body.clientWidth / 2) : 60);
  const rows = Math.max(0, ...d.panels.map((x) => x.gridPos.y + x.gridPos.h));
  const ctx: PanelContext | null = range && variables.ready ? { range, step, variables: variables.values, tick } : null;
  return (
    <section class="page dashboard" data-uid={d.uid}>
      <div class="title-row">
        <h1>{d.title}</h1>
        {props.meta.generated && <Badge tone="info">generated</Badge>}
        {props.meta.provisioned && <Badge tone="muted" title={props.meta.provisioned}>provisioned</Badge>}
        <span class="spacer" />
        <button onClick={() => updateParams({ edit: editing ? undefined : "1" })} aria-pressed={editing}>
          {editing ? "Close editor" : "Edit JSON"}
        </button>
        <button onClick={() => download(d)}>Export</button>
      </div>
      {warnings && (
        <div class="warning" role="status">
          Imported with warnings: {warnings}
        </div>
      )}
      <div class="toolbar">
        <TimeRangePicker from={from} to={to} refresh={refresh} />
        {variables.list.map((v) => (
          <VariablePicker key={v.variable.name} {...v} />
        ))}
      </div>
      {variables.error && <div class="error">{variables.error}</div>}
      {editing && <JsonEditor dashboard={d} provisioned={!!props.meta.provisioned} onSaved={props.reload} />}
      {!range ? (
        <div class="error">Invalid time range {from} → {to}</div>
      ) : !d.panels.length ? (
        <EmptyState title="This dashboard has no panels">Open “Edit JSON” and add panels, or import a Grafana dashboard.</EmptyState>
      ) : (
        <div class="panel-grid" style={{ gridAutoRows: `${ROW_PX}px`, gap: `${GAP_PX}px`, minHeight: `${rows * (ROW_PX + GAP_PX)}px` }}>
          {ctx && d.panels.map((panel) => <PanelView key={panel.id} panel={panel} ctx={ctx} />)}
        </div>
      )}
    </section>
  );
}

function download(d: Dashboard) {
  const blob = new Blob([JSON.stringify(d, null, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${d.uid}.json`;
  a.click();
  URL.revokeObjectURL(a.href);
}

interface VariableState {
  variable: Variable;
  options: string[];
  selected: string[];
}

/** Resolves variables in order (each may use the ones before it), selections from `var-<name>` in the URL. */
function useVariables(list: Variable[], route: Route) {
  const [state, setState] = useState<{ list: VariableState[]; values: Record<string, string>; ready: boolean; error?: string }>({ list: [], values: {}, ready: !list.length });
  const selectionKey = list.map((v) => route.params.getAll(`var-${v.name}`).join(",")).join("|");
  useEffect(() => {
    let stale = false;
    (async () => {
      const values: Record<string, string> = {};
      const resolved: VariableState[] = [];
      let error: string | undefined;
      for (const v of list) {
        let options: string[] = [];
        try {
          options = await variableOptions(v, (s) => interpolate(s, values));
        } catch (e) {
          error = `variable ${v.name}: ${(e as ApiError).message}`;
        }
        const fromUrl = route.params.getAll(`var-${v.name}`);
        const current = v.current?.value;
        const fallback = current == null ? [] : Array.isArray(current) ? current : [current];
        let selected = fromUrl.length ? fromUrl : fallback.filter((x) => x === ALL || x === "$__all" || options.includes(x));
        if (!selected.length) selected = v.includeAll ? [ALL] : options.slice(0, 1);
        values[v.name] = formatSelection(selected, options, v);
        resolved.push({ variable: v, options, selected });
      }
      if (!stale) setState({ list: resolved, values, ready: true, error });
    })();
    return () => {
      stale = true;
    };
  }, [list, selectionKey]);
  return state;
}

function VariablePicker({ variable, options, selected }: VariableState) {
  const label = variable.label || variable.name;
  const choices = [...(variable.includeAll ? [ALL] : []), ...options];
  const onChange = (e: Event) => {
    const el = e.target as HTMLSelectElement;
    const picked = [...el.selectedOptions].map((o) => o.value);
    updateParams({ [`var-${variable.name}`]: picked }, true);
  };
  if (variable.type === "constant") return null;
  return (
    <label class="variable">
      <span>{label}</span>
      <select multiple={variable.multi} onChange={onChange} aria-label={`Variable ${label}`} size={variable.multi ? Math.min(4, choices.length) : undefined}>
        {choices.map((o) => (
          <option key={o} value={o} selected={selected.includes(o)}>
            {o === ALL ? "All" : o}
          </option>
        ))}
      </select>
    </label>
  );
}

function JsonEditor(props: { dashboard: Dashboard; provisioned: boolean; onSaved: () => void }) {
  const [text, setText] = useState(() => JSON.stringify(props.dashboard, null, 2));
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const save = async (asCopy: boolean) => {
    let parsed: Dashboard;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      setMessage({ ok: false, text: `Not JSON: ${(e as Error).message}` });
      return;
    }
    try {
      if (asCopy) {
        const copy = { ...parsed, uid: `${parsed.uid}-copy-${Date.now().toString(36)}`.slice(0, 40), title: `${parsed.title} (copy)`, version: 0 };
        const saved = await post<{ uid: string }>("/api/v1/dashboards", copy);
        navigate(["dashboards", saved.uid]);
        return;
      }
      const saved = await post<{ version: number }>(`/api/v1/dashboards/${encodeURIComponent(props.dashboard.uid)}`, parsed, "PUT");
      setMessage({ ok: true, text: `Saved version ${saved.version}` });
      props.onSaved();
    } catch (e) {
      setMessage({ ok: false, text: (e as Error).message });
    }
  };
  const remove = async () => {
    if (!confirm(`Delete dashboard “${props.dashboard.title}”?`)) return;
    try {
      await api(`/api/v1/dashboards/${encodeURIComponent(props.dashboard.uid)}`, { method: "DELETE" });
      navigate(["dashboards"]);
    } catch (e) {
      setMessage({ ok: false, text: (e as Error).message });
    }
  };
  return (
    <div class="card">
      <textarea class="json" aria-label="Dashboard JSON" rows={18} spellcheck={false} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      <div class="toolbar">
        {!props.provisioned && (
          <button class="primary" onClick={() => save(false)}>
            Save
          </button>
        )}
        <button onClick={() => save(true)}>Save as copy</button>
        {!props.provisioned && (
          <button class="danger" onClick={remove}>
            Delete
          </button>
        )}
        {props.provisioned && <span class="muted">Provisioned from a file: edit the file, or save a copy.</span>}
        {message && <span class={message.ok ? "ok" : "error"}>{message.text}</span>}
      </div>
    </div>
  );
}

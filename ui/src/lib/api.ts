// Talking to the server: Prometheus-envelope APIs (`{"status","data"}`) and
// Alertmanager v2 ones (bare JSON). An endpoint that answers 404 without our
// envelope is one this server does not have (not built or not enabled): pages
// show an empty state for it instead of failing.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly missing = false,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`cannot reach the server: ${(e as Error).message}`, 0);
  }
  const text = await response.text();
  let body: any = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const message = body?.error ?? body?.message ?? (text.trim() || response.statusText);
    const missing = response.status === 404 && (body?.errorType === "not_found" || !body?.status);
    throw new ApiError(message, response.status, missing);
  }
  if (body && typeof body === "object" && body.status === "success" && "data" in body) return body.data as T;
  if (body && typeof body === "object" && body.status === "error") throw new ApiError(body.error, response.status);
  return body as T;
}

export function post<T>(path: string, body?: unknown, method = "POST"): Promise<T> {
  return api<T>(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export interface Loaded<T> {
  data?: T;
  error?: ApiError;
  loading: boolean;
  reload: () => void;
}

/** Fetches `path` (null: nothing) and again every `refreshMs` when given. */
export function useApi<T>(path: string | null, refreshMs = 0): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: !!path });
  const [tick, setTick] = useState(0);
  const current = useRef(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    if (!path) {
      setState({ loading: false });
      return;
    }
    const id = ++current.current;
    setState((s) => ({ ...s, loading: true }));
    api<T>(path).then(
      (data) => id === current.current && setState({ data, loading: false }),
      (error) => id === current.current && setState({ error, loading: false }),
    );
  }, [path, tick]);
  useEffect(() => {
    if (!refreshMs) return;
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs, reload]);
  return { ...state, reload };
}

export function qs(params: Record<string, string | number | undefined | null | string[]>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : v == null || v === "" ? [] : [String(v)]) q.append(k, one);
  }
  return q.toString();
}

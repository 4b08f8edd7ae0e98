// Hash routing: `#/page/sub?key=value`. Every page keeps its state in these
// parameters, so a copied link reproduces the view.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  parts: string[];
  params: URLSearchParams;
}

const CHANGED = "sightline:route";

export function parseHash(hash: string = location.hash): Route {
  const body = hash.replace(/^#\/?/, "");
  const q = body.indexOf("?");
  const path = q < 0 ? body : body.slice(0, q);
  const query = q < 0 ? "" : body.slice(q + 1);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const update = () => setRoute(parseHash());
    addEventListener("hashchange", update);
    addEventListener(CHANGED, update);
    return () => {
      removeEventListener("hashchange", update);
      removeEventListener(CHANGED, update);
    };
  }, []);
  return route;
}

export type ParamValue = string | string[] | undefined | null;

export function href(parts: string[], params: Record<string, ParamValue> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : value == null || value === "" ? [] : [value]) {
      query.append(key, v);
    }
  }
  const q = query.toString();
  return `#/${parts.map(encodeURIComponent).join("/")}${q ? `?${q}` : ""}`;
}

export function navigate(parts: string[], params: Record<string, ParamValue> = {}): void {
  location.hash = href(parts, params);
}

/** Changes some parameters of the current view; `push` adds a history entry. */
export function updateParams(patch: Record<string, ParamValue>, push = false): void {
  const { parts, params } = parseHash();
  const merged: Record<string, ParamValue> = {};
  for (const key of new Set(params.keys())) merged[key] = params.getAll(key);
  Object.assign(merged, patch);
  const next = href(parts, merged);
  if (next === location.hash) return;
  if (push) history.pushState(null, "", next);
  else history.replaceState(null, "", next);
  dispatchEvent(new Event(CHANGED));
}

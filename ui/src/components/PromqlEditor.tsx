// The PromQL editor: a textarea with autocomplete (metric names, functions,
// label names and values from the server) and the query's error marked where it
// occurs. Enter runs the query, Shift+Enter adds a line, Ctrl+Space completes,
// arrows and Tab pick a suggestion, Escape closes the list.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, qs } from "../lib/api";
import { AGGREGATIONS, completionAt, FUNCTIONS, KEYWORDS, lineCol, locateProblem, positionInMessage, type Problem } from "../lib/promql";

interface Suggestion {
  text: string;
  kind: string;
}

const cache = new Map<string, Promise<string[]>>();
function cached(path: string): Promise<string[]> {
  let hit = cache.get(path);
  if (!hit) {
    hit = api<string[]>(path).catch(() => []);
    cache.set(path, hit);
    setTimeout(() => cache.delete(path), 60_000);
  }
  return hit;
}

async function suggestionsFor(text: string, cursor: number): Promise<{ items: Suggestion[]; prefix: string }> {
  const c = completionAt(text, cursor);
  const match = (names: string[], kind: string, prefix: string) =>
    names.filter((n) => n.startsWith(prefix) && n !== prefix).map((n) => ({ text: n, kind }));
  switch (c.kind) {
    case "metric": {
      if (!c.prefix) return { items: [], prefix: "" };
      const metrics = await cached("/api/v1/label/__name__/values");
      const items = [
        ...match(AGGREGATIONS, "aggregation", c.prefix),
        ...match(FUNCTIONS, "function", c.prefix),
        ...match(KEYWORDS, "keyword", c.prefix),
        ...match(metrics, "metric", c.prefix),
      ];
      return { items: items.slice(0, 50), prefix: c.prefix };
    }
    case "labelName": {
      const path = c.metric ? `/api/v1/labels?${qs({ "match[]": c.metric })}` : "/api/v1/labels";
      return { items: match(await cached(path), "label", c.prefix).slice(0, 50), prefix: c.prefix };
    }
    case "labelValue": {
      const match_ = c.metric ? { "match[]": c.metric } : {};
      const values = await cached(`/api/v1/label/${encodeURIComponent(c.label)}/values?${qs(match_)}`);
      return { items: match(values, "value", c.prefix).slice(0, 50), prefix: c.prefix };
    }
    default:
      return { items: [], prefix: "" };
  }
}

/** Asks the server whether `query` parses; places its error with the message's position or our own check. */
async function check(query: string): Promise<Problem | null> {
  if (!query.trim()) return null;
  try {
    await api(`/api/v1/parse_query?${qs({ query })}`);
    return null;
  } catch (e) {
    const message = (e as Error).message.replace(/^invalid parameter "query": /, "");
    if ((e as { missing?: boolean }).missing) return null;
    const placed = positionInMessage(query, message) ?? locateProblem(query);
    if (!placed) return { start: 0, end: query.length, message };
    const detail = placed.message === message ? message : `${placed.message} (server: ${message})`;
    return { ...placed, message: detail };
  }
}

export function PromqlEditor(props: { value: string; onChange: (v: string) => void; onRun: () => void; autofocus?: boolean }) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [items, setItems] = useState<Suggestion[]>([]);
  const [prefix, setPrefix] = useState("");
  const [active, setActive] = useState(0);
  const [problem, setProblem] = useState<Problem | null>(null);

  useEffect(() => {
    const timer = setTimeout(() => check(props.value).then(setProblem), 250);
    return () => clearTimeout(timer);
  }, [props.value]);

  // Completions resolve out of order (some wait on the server); only the
  // latest request may set the list.
  const latest = useRef(0);
  const complete = async () => {
    const el = area.current;
    if (!el) return;
    const request = ++latest.current;
    const found = await suggestionsFor(el.value, el.selectionStart);
    if (request !== latest.current) return;
    setItems(found.items);
    setPrefix(found.prefix);
    setActive(0);
  };
  /** Closes the list, and keeps completions still on their way from reopening it. */
  const close = () => {
    latest.current++;
    setItems([]);
  };

  const accept = (s: Suggestion) => {
    const el = area.current;
    if (!el) return;
    const cursor = el.selectionStart;
    const start = cursor - prefix.length;
    const addParen = s.kind === "function" || s.kind === "aggregation";
    const insert = s.text + (addParen ? "()" : "");
    const next = el.value.slice(0, start) + insert + el.value.slice(cursor);
    // The text and the caret change together, now: a caret placed later (in an
    // animation frame) could land after the user has typed or replaced the text.
    const pos = start + insert.length - (addParen ? 1 : 0);
    el.value = next;
    el.setSelectionRange(pos, pos);
    close();
    props.onChange(next);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (items.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        setActive((a) => (a + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length);
        return;
      }
      if (e.key === "Tab" || e.key === "Enter") {
        e.preventDefault();
        accept(items[active]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        close();
        return;
      }
    }
    if (e.key === " " && e.ctrlKey) {
      e.preventDefault();
      complete();
    } else if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      close();
      props.onRun();
    }
  };

  const rows = Math.min(8, Math.max(1, props.value.split("\n").length));
  const marked = useMemo(() => mark(props.value, problem), [props.value, problem]);
  return (
    <div class="editor">
      <div class="editor-box">
        <div class="editor-mirror" aria-hidden="true">
          {marked}
        </div>
        <textarea
          ref={area}
          class="editor-input"
          aria-label="PromQL query"
          spellcheck={false}
          rows={rows}
          value={props.value}
          autofocus={props.autofocus}
          placeholder="Type a PromQL query, e.g. rate(predictions_total[5m]); Enter runs it"
          onInput={(e) => {
            props.onChange((e.target as HTMLTextAreaElement).value);
            complete();
          }}
          onKeyDown={onKeyDown}
          onBlur={() => setTimeout(close, 150)}
          role="combobox"
          aria-expanded={items.length > 0}
          aria-controls="promql-suggestions"
          aria-autocomplete="list"
        />
        {items.length > 0 && (
          <ul class="suggestions" id="promql-suggestions" role="listbox">
            {items.map((s, i) => (
              <li
                key={s.text + s.kind}
                role="option"
                aria-selected={i === active}
                class={i === active ? "active" : ""}
                onMouseDown={(e) => {
                  e.preventDefault();
                  accept(s);
                }}
              >
                <span>{s.text}</span>
                <small>{s.kind}</small>
              </li>
            ))}
          </ul>
        )}
      </div>
      <div class="editor-error" role="alert" data-start={problem?.start} data-end={problem?.end}>
        {problem ? `${lineCol(props.value, problem.start)}: ${problem.message}` : ""}
      </div>
    </div>
  );
}

/** The query text with the problem's span wrapped, drawn behind the transparent textarea. */
function mark(text: string, problem: Problem | null) {
  if (!problem) return <>{text + "\n"}</>;
  const end = Math.max(problem.end, problem.start + 1);
  const covered = text.slice(problem.start, end) || " ";
  return (
    <>
      {text.slice(0, problem.start)}
      <mark class="problem" data-start={problem.start}>
        {covered}
      </mark>
      {text.slice(end) + "\n"}
    </>
  );
}

// PromQL knowledge for the editor: function and keyword names for autocomplete,
// the completion context at the cursor, and a lexical/structural check that
// finds where a query goes wrong. The server's parser decides whether a query is
// valid; this check only places its error, because the server's parse errors do
// not always carry a position. A position in the server's message (`1:5:` or
// `(1:5)`) wins over ours.

export const FUNCTIONS = [
  "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
  "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
  "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor",
  "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
  "histogram_stdvar", "histogram_sum", "holt_winters", "double_exponential_smoothing", "hour", "idelta",
  "increase", "info", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
  "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
  "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin",
  "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt", "stddev_over_time",
  "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
];
export const AGGREGATIONS = [
  "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
  "quantile", "limitk", "limit_ratio",
];
export const KEYWORDS = ["by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless", "atan2"];

export type Completion =
  | { kind: "metric"; prefix: string }
  | { kind: "labelName"; prefix: string; metric: string }
  | { kind: "labelValue"; prefix: string; metric: string; label: string }
  | { kind: "none" };

/** What may be typed at `cursor`: a metric/function, a label name or a label value. */
export function completionAt(text: string, cursor: number): Completion {
  const before = text.slice(0, cursor);
  const brace = before.lastIndexOf("{");
  if (brace > before.lastIndexOf("}")) {
    const metric = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(before.slice(0, brace))?.[1] ?? "";
    const inside = before.slice(brace + 1);
    const value = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/.exec(inside);
    if (value) return { kind: "labelValue", prefix: value[3], metric, label: value[1] };
    const name = /(?:^|[,{\s])([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(inside);
    if (name && !/"[^"]*$/.test(inside.replace(/"(?:[^"\\]|\\.)*"/g, "")))
      return { kind: "labelName", prefix: name[1] ?? "", metric };
    return { kind: "none" };
  }
  const grouping = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)$/.exec(before);
  if (grouping) {
    const prefix = /([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(grouping[2])?.[1] ?? "";
    return { kind: "labelName", prefix, metric: "" };
  }
  if (/"[^"]*$/.test(before.replace(/"(?:[^"\\]|\\.)*"/g, ""))) return { kind: "none" };
  const word = /([a-zA-Z_:][a-zA-Z0-9_:]*)$/.exec(before)?.[1] ?? "";
  if (/\[[^\]]*$/.test(before)) return { kind: "none" };
  return { kind: "metric", prefix: word };
}

export interface Problem {
  start: number;
  end: number;
  message: string;
}

interface Token {
  kind: "ident" | "number" | "duration" | "string" | "op" | "open" | "close" | "comma" | "colon" | "at";
  text: string;
  start: number;
}

const BINARY_OPS = ["+", "-", "*", "/", "%", "^", "==", "!=", ">=", "<=", ">", "<", "and", "or", "unless", "atan2"];
const MATCH_OPS = ["=", "!=", "=~", "!~"];

function lex(text: string): Token[] | Problem {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === '"' || c === "'" || c === "`") {
      const start = i++;
      while (i < text.length && text[i] !== c) i += text[i] === "\\" && c !== "`" ? 2 : 1;
      if (i >= text.length) return { start, end: text.length, message: "unterminated quoted string" };
      tokens.push({ kind: "string", text: text.slice(start, ++i), start });
    } else if (/[0-9.]/.test(c)) {
      const m = /^(0x[0-9a-fA-F]+|(\d+(ms|s|m|h|d|w|y))+|\d*\.?\d+([eE][+-]?\d+)?)/.exec(text.slice(i));
      if (!m) return { start: i, end: i + 1, message: `unexpected character: ${JSON.stringify(c)}` };
      tokens.push({ kind: /[smhdwy]$/.test(m[0]) && !/^0x/.test(m[0]) ? "duration" : "number", text: m[0], start: i });
      i += m[0].length;
    } else if (c === ":" && !/[a-zA-Z_:]/.test(text[i + 1] ?? "")) {
      tokens.push({ kind: "colon", text: c, start: i++ });
    } else if (/[a-zA-Z_:]/.test(c)) {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(text.slice(i))!;
      tokens.push({ kind: "ident", text: m[0], start: i });
      i += m[0].length;
    } else {
      const two = text.slice(i, i + 2);
      const op = ["==", "!=", ">=", "<=", "=~", "!~"].includes(two) ? two : "+-*/%^<>=".includes(c) ? c : null;
      if (op) {
        tokens.push({ kind: "op", text: op, start: i });
        i += op.length;
      } else if ("({[".includes(c)) tokens.push({ kind: "open", text: c, start: i++ });
      else if (")}]".includes(c)) tokens.push({ kind: "close", text: c, start: i++ });
      else if (c === ",") tokens.push({ kind: "comma", text: c, start: i++ });
      else if (c === "@") tokens.push({ kind: "at", text: c, start: i++ });
      else return { start: i, end: i + 1, message: `unexpected character: ${JSON.stringify(c)}` };
    }
  }
  return tokens;
}

const isOperand = (t: Token | undefined) =>
  !!t && (t.kind === "number" || t.kind === "string" || t.kind === "close" || (t.kind === "ident" && !isBinary(t)));
const isBinary = (t: Token | undefined) => !!t && (t.kind === "op" ? t.text !== "=" && t.text !== "=~" && t.text !== "!~" : t.kind === "ident" && BINARY_OPS.includes(t.text));
const PAIRS: Record<string, string> = { "(": ")", "{": "}", "[": "]" };

/** Where `text` first goes wrong, as far as tokens and brackets tell; null if nothing found. */
export function locateProblem(text: string): Problem | null {
  const lexed = lex(text);
  if (!Array.isArray(lexed)) return lexed;
  const tokens = lexed;
  const stack: { token: Token; grouping: boolean }[] = [];
  let groupingClosedAt = -1;
  const at = (t: Token, message: string): Problem => ({ start: t.start, end: t.start + t.text.length, message });
  const end = (message: string): Problem => ({ start: text.trimEnd().length, end: text.trimEnd().length + 1, message });
  if (!tokens.length) return end("empty query");
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    const prev = tokens[k - 1];
    const next = tokens[k + 1];
    const inside = stack[stack.length - 1]?.token.text;
    if (t.kind === "open") {
      if (t.text === "(" && prev?.kind === "ident" && !isBinary(prev) && !isKnownCallee(prev.text))
        return at(prev, `unknown function "${prev.text}"`);
      if (t.text === "(" && isOperand(prev) && prev?.kind !== "ident" && groupingClosedAt !== k - 1) return at(t, "unexpected \"(\"");
      stack.push({ token: t, grouping: t.text === "(" && prev?.kind === "ident" && MODIFIERS.includes(prev.text) });
    } else if (t.kind === "close") {
      const open = stack.pop();
      if (!open) return at(t, `unexpected "${t.text}"`);
      if (PAIRS[open.token.text] !== t.text) return at(t, `unexpected "${t.text}", expected "${PAIRS[open.token.text]}"`);
      if (prev?.kind === "comma" && open.token.text !== "{") return at(prev, "unexpected \",\"");
      if (open.grouping) groupingClosedAt = k;
    } else if (inside === "{") {
      const problem = checkMatcherToken(tokens, k);
      if (problem) return at(t, problem);
    } else if (inside === "[") {
      if (t.kind !== "duration" && t.kind !== "colon" && t.kind !== "number") return at(t, "expected a duration in brackets");
    } else if (isBinary(t) && !(t.text === "-" || t.text === "+")) {
      if (!isOperand(prev)) return at(t, `unexpected operator "${t.text}"`);
      if (!next || next.kind === "close" || next.kind === "comma") return next ? at(next, `unexpected "${next.text}" after "${t.text}"`) : end(`unexpected end of input after "${t.text}"`);
    } else if ((t.text === "-" || t.text === "+") && t.kind === "op") {
      if (!next || next.kind === "close") return next ? at(next, `unexpected "${next.text}"`) : end(`unexpected end of input after "${t.text}"`);
    } else if (isOperand(t) && isOperand(prev) && groupingClosedAt !== k - 1 && !isModifierContext(tokens, k)) {
      return at(t, `unexpected ${t.kind === "ident" ? `identifier "${t.text}"` : t.kind}`);
    }
  }
  const open = stack.pop();
  if (open) return at(open.token, `unclosed "${open.token.text}"`);
  return null;
}

const MODIFIERS = ["offset", "bool", "by", "without", "on", "ignoring", "group_left", "group_right"];

function isKnownCallee(name: string): boolean {
  return FUNCTIONS.includes(name) || AGGREGATIONS.includes(name) || KEYWORDS.includes(name);
}

/** Two operands in a row are fine around modifiers: `x offset 5m`, `on (a) group_left sum(y)`, `@ 123`. */
function isModifierContext(tokens: Token[], k: number): boolean {
  const t = tokens[k];
  const prev = tokens[k - 1];
  if (t.kind === "ident" && MODIFIERS.includes(t.text)) return true;
  if (prev?.kind === "ident" && MODIFIERS.includes(prev.text)) return true;
  if (prev?.kind === "at" || t.kind === "at") return true;
  return t.kind === "open" || t.kind === "duration";
}

/** Inside `{...}`: `name op "value"` separated by commas. */
function checkMatcherToken(tokens: Token[], k: number): string | null {
  const t = tokens[k];
  const prev = tokens[k - 1];
  if (t.kind === "ident") return prev.kind === "open" || prev.kind === "comma" ? null : `unexpected identifier "${t.text}" in label matching`;
  if (t.kind === "op") return MATCH_OPS.includes(t.text) && prev.kind === "ident" ? null : `unexpected "${t.text}" in label matching, expected "=", "!=", "=~" or "!~"`;
  if (t.kind === "string") return (prev.kind === "op" && MATCH_OPS.includes(prev.text)) || prev.kind === "open" || prev.kind === "comma" ? null : "unexpected string in label matching";
  if (t.kind === "comma") return prev.kind === "string" ? null : "unexpected \",\" in label matching";
  return `unexpected "${t.text}" in label matching`;
}

/** The position a server error message names (`1:5:` as Prometheus writes it, or `(1:5)`), as an offset. */
export function positionInMessage(text: string, message: string): Problem | null {
  const m = /(?:^|\()(\d+):(\d+)(?::|\))/.exec(message);
  if (!m) return null;
  const lines = text.split("\n");
  const line = Number(m[1]) - 1;
  if (line < 0 || line >= lines.length) return null;
  let offset = 0;
  for (let i = 0; i < line; i++) offset += lines[i].length + 1;
  const start = Math.min(offset + Number(m[2]) - 1, text.length);
  return { start, end: start + 1, message };
}

/** Line and column (1-based) of an offset. */
export function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset).split("\n");
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

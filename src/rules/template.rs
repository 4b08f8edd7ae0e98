//! Alert label and annotation templates, compatible with Prometheus's Go templates.
//!
//! The Go `text/template` language comes from the `gotmpl` crate (a port of Go's
//! parser and executor); this module adds Prometheus's data (`$labels`,
//! `$externalLabels`, `$externalURL`, `$value`) and its function set (`query`,
//! `humanize*`, `reReplaceAll`, ...). Two gaps of the crate are closed here:
//! undefined variables and functions are parse-time errors in Go but run-time
//! errors in `gotmpl`, so [`check`] walks the parsed tree; and a missing map key
//! prints `<no value>` where Go (with `missingkey=zero` on a string map) prints
//! nothing, so expansion output drops that text. And `gotmpl` prints floats the
//! Rust way (`1000000`) where Go prints `1e+06`, so every printing action gets a
//! final `__goPrint` command that writes floats as Go's `%v` does. Must not touch storage itself:
//! `query` goes through the [`QueryFn`] the caller installs.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::parse::{Expr, ListNode, Node, PipeNode};
use gotmpl::{MissingKey, Template, TemplateError, Value};

use crate::storage::Labels;

/// Runs an instant query at the evaluation time for the `query` template function.
pub type QueryFn = dyn Fn(&str) -> Result<Vec<(Labels, f64)>, String> + Send + Sync;

/// Prometheus puts this in front of every alert template.
const PREFIX: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}\
{{$externalURL := .ExternalURL}}{{$value := .Value}}";

const GO_BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "html", "js", "urlquery", "call", "slice",
];

/// What one expansion sees besides the template text.
struct ExpansionContext {
    query: Option<Arc<QueryFn>>,
    now_seconds: f64,
    external_url: String,
}

thread_local! {
    /// Set for the duration of one [`AlertTemplate::expand`] call on this thread.
    static CONTEXT: RefCell<Option<ExpansionContext>> = const { RefCell::new(None) };
}

/// The values a template is expanded with.
pub struct TemplateData<'a> {
    /// The output series' labels, `__name__` included when it has one.
    pub labels: &'a Labels,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
    /// Evaluation time, milliseconds (for `now`).
    pub eval_ms: i64,
}

/// A label or annotation value, parsed once and expanded at every evaluation.
#[derive(Clone)]
pub struct AlertTemplate {
    text: String,
    /// `__alert_<name>`, the template to execute.
    name: String,
    /// `None` when the text has no action: it expands to itself.
    parsed: Option<Arc<Template>>,
}

impl std::fmt::Debug for AlertTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AlertTemplate").field(&self.text).finish()
    }
}

impl AlertTemplate {
    /// Parses `text` as the template of alert `alert_name`.
    pub fn compile(alert_name: &str, text: &str) -> Result<AlertTemplate, String> {
        if !text.contains("{{") {
            return Ok(AlertTemplate {
                text: text.to_string(),
                name: String::new(),
                parsed: None,
            });
        }
        let template = parse(alert_name, text)?;
        Ok(AlertTemplate {
            text: text.to_string(),
            name: template_name(alert_name),
            parsed: Some(Arc::new(template)),
        })
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Expands the template; `query` serves the `query` function.
    pub fn expand(&self, data: &TemplateData, query: Option<Arc<QueryFn>>) -> Result<String, String> {
        let Some(template) = &self.parsed else {
            return Ok(self.text.clone());
        };
        let context = ExpansionContext {
            query,
            now_seconds: data.eval_ms as f64 / 1000.0,
            external_url: data.external_url.to_string(),
        };
        CONTEXT.with(|c| *c.borrow_mut() = Some(context));
        let result = template.execute_template_to_string(&self.name, &data_value(data));
        CONTEXT.with(|c| *c.borrow_mut() = None);
        result
            .map(|s| s.replace("<no value>", ""))
            .map_err(|e| e.to_string())
    }
}

/// Parses `text` as Prometheus does at load time: with the prefix, refusing
/// undefined variables and functions.
pub fn check(alert_name: &str, text: &str) -> Result<(), String> {
    AlertTemplate::compile(alert_name, text).map(|_| ())
}

fn template_name(alert_name: &str) -> String {
    format!("__alert_{alert_name}")
}

fn parse(alert_name: &str, text: &str) -> Result<Template, String> {
    let name = template_name(alert_name);
    let mut template = functions(Template::new(&name).missing_key(MissingKey::ZeroValue))
        .parse(&format!("{PREFIX}{text}"))
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = template.templates().into_iter().map(str::to_string).collect();
    if !names.contains(&name) {
        return Err(format!("template {name} has no body"));
    }
    for tree_name in names {
        let Some(tree) = template.lookup(&tree_name).cloned() else {
            continue;
        };
        check_list(&tree, &mut vec!["$".to_string()])?;
        template = template.add_parse_tree(&tree_name, print_floats_as_go(tree));
    }
    Ok(template)
}

/// Appends `| __goPrint` to every action that prints, in every branch.
fn print_floats_as_go(mut list: ListNode) -> ListNode {
    append_go_print(&mut list);
    list
}

fn append_go_print(list: &mut ListNode) {
    for node in &mut list.nodes {
        match node {
            Node::List(inner) => append_go_print(inner),
            Node::Action(action) if action.pipe.decl.is_empty() => {
                let pos = action.pipe.pos;
                action.pipe.commands.push(gotmpl::parse::CommandNode {
                    pos,
                    args: vec![Expr::Identifier(pos, "__goPrint".into())],
                });
            }
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                append_go_print(&mut b.body);
                if let Some(else_body) = &mut b.else_body {
                    append_go_print(else_body);
                }
            }
            Node::Define(d) => append_go_print(&mut d.body),
            _ => {}
        }
    }
}

/// Go's `%v` of a float64 (`strconv` `'g'`, shortest): exponent form below 1e-4 and from 1e6 up.
pub(super) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

fn data_value(data: &TemplateData) -> Value {
    let labels: BTreeMap<Arc<str>, Value> = data
        .labels
        .iter()
        .map(|l| {
            (
                Arc::from(l.name.as_str()),
                Value::String(Arc::from(l.value.as_str())),
            )
        })
        .collect();
    let external: BTreeMap<Arc<str>, Value> = data
        .external_labels
        .iter()
        .map(|(k, v)| (Arc::from(k.as_str()), Value::String(Arc::from(v.as_str()))))
        .collect();
    let mut root = BTreeMap::new();
    root.insert(Arc::from("Labels"), Value::Map(Arc::new(labels)));
    root.insert(Arc::from("ExternalLabels"), Value::Map(Arc::new(external)));
    root.insert(
        Arc::from("ExternalURL"),
        Value::String(Arc::from(data.external_url)),
    );
    root.insert(Arc::from("Value"), Value::Float(data.value));
    Value::Map(Arc::new(root))
}

// ---- parse-time checks Go makes and gotmpl leaves to run time ----

fn check_list(list: &ListNode, scope: &mut Vec<String>) -> Result<(), String> {
    for node in &list.nodes {
        check_node(node, scope)?;
    }
    Ok(())
}

fn check_node(node: &Node, scope: &mut Vec<String>) -> Result<(), String> {
    match node {
        Node::List(list) => check_list(list, scope),
        Node::Action(action) => check_pipe(&action.pipe, scope),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            let outer = scope.len();
            check_pipe(&b.pipe, scope)?;
            check_list(&b.body, scope)?;
            if let Some(else_body) = &b.else_body {
                check_list(else_body, scope)?;
            }
            scope.truncate(outer);
            Ok(())
        }
        Node::Template(t) => t.pipe.as_ref().map_or(Ok(()), |p| check_pipe(p, scope)),
        Node::Define(d) => check_list(&d.body, &mut vec!["$".to_string()]),
        Node::Text(_) | Node::Break(_) | Node::Continue(_) => Ok(()),
    }
}

fn check_pipe(pipe: &PipeNode, scope: &mut Vec<String>) -> Result<(), String> {
    for command in &pipe.commands {
        for arg in &command.args {
            check_expr(arg, scope)?;
        }
    }
    if !pipe.is_assign {
        scope.extend(pipe.decl.iter().map(|d| variable_name(d)));
    } else {
        for d in &pipe.decl {
            let name = variable_name(d);
            if !scope.contains(&name) {
                return Err(format!("undefined variable \"{name}\""));
            }
        }
    }
    Ok(())
}

fn check_expr(expr: &Expr, scope: &mut Vec<String>) -> Result<(), String> {
    match expr {
        Expr::Variable(_, name, _) => {
            let name = variable_name(name);
            if scope.contains(&name) {
                Ok(())
            } else {
                Err(format!("undefined variable \"{name}\""))
            }
        }
        Expr::Identifier(_, name) => {
            if GO_BUILTINS.contains(&name.as_str()) || PROMETHEUS_FUNCTIONS.contains(&name.as_str()) {
                Ok(())
            } else {
                Err(format!("function \"{name}\" not defined"))
            }
        }
        Expr::Pipe(_, pipe) => {
            let outer = scope.len();
            check_pipe(pipe, scope)?;
            scope.truncate(outer);
            Ok(())
        }
        Expr::Chain(_, inner, _) => check_expr(inner, scope),
        _ => Ok(()),
    }
}

fn variable_name(name: &str) -> String {
    if name.starts_with('$') {
        name.to_string()
    } else {
        format!("${name}")
    }
}

// ---- Prometheus's template functions ----

const PROMETHEUS_FUNCTIONS: &[&str] = &[
    "__goPrint",
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "now",
    "parseDuration",
    "title",
    "toUpper",
    "toLower",
    "stripPort",
    "stripDomain",
    "match",
    "reReplaceAll",
    "graphLink",
    "tableLink",
    "urlQueryEscape",
    "args",
    "safeHtml",
    "externalURL",
    "pathPrefix",
];

type FuncResult = gotmpl::Result<Value>;

fn fail(text: impl Into<String>) -> TemplateError {
    TemplateError::Exec(text.into())
}

fn string(s: impl AsRef<str>) -> Value {
    Value::String(Arc::from(s.as_ref()))
}

fn arg(args: &[Value], i: usize, name: &str) -> gotmpl::Result<Value> {
    args.get(i)
        .cloned()
        .ok_or_else(|| fail(format!("{name}: missing argument {}", i + 1)))
}

fn str_arg(args: &[Value], i: usize, name: &str) -> gotmpl::Result<String> {
    match arg(args, i, name)? {
        Value::String(s) => Ok(s.to_string()),
        Value::Nil => Ok(String::new()),
        other => Ok(other.to_string()),
    }
}

/// Prometheus's `convertToFloat`: numbers as they are, strings parsed.
fn float_arg(args: &[Value], i: usize, name: &str) -> gotmpl::Result<f64> {
    match arg(args, i, name)? {
        Value::Float(f) => Ok(f),
        Value::Int(n) => Ok(n as f64),
        Value::Uint(n) => Ok(n as f64),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .ok_or_else(|| fail(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
        other => Err(fail(format!("can't convert {} to float", other.type_name()))),
    }
}

fn with_context<T>(f: impl FnOnce(&ExpansionContext) -> T) -> gotmpl::Result<T> {
    CONTEXT.with(|c| {
        c.borrow()
            .as_ref()
            .map(f)
            .ok_or_else(|| fail("template function used outside an alert expansion"))
    })
}

fn sample_value(labels: &Labels, v: f64) -> Value {
    let labels: BTreeMap<Arc<str>, Value> = labels
        .iter()
        .map(|l| (Arc::from(l.name.as_str()), string(&l.value)))
        .collect();
    let mut m = BTreeMap::new();
    m.insert(Arc::from("Labels"), Value::Map(Arc::new(labels)));
    m.insert(Arc::from("Value"), Value::Float(v));
    Value::Map(Arc::new(m))
}

fn query(args: &[Value]) -> FuncResult {
    let expr = str_arg(args, 0, "query")?;
    let runner = with_context(|c| c.query.clone())?.ok_or_else(|| fail("query: no storage to query"))?;
    let samples = runner(&expr).map_err(fail)?;
    let list: Vec<Value> = samples.iter().map(|(l, v)| sample_value(l, *v)).collect();
    Ok(Value::List(list.into()))
}

fn sample_field(sample: &Value, field: &str) -> Value {
    sample.field(field).cloned().unwrap_or(Value::Nil)
}

fn first(args: &[Value]) -> FuncResult {
    match arg(args, 0, "first")? {
        Value::List(items) => items
            .first()
            .cloned()
            .ok_or_else(|| fail("first() called on vector with no elements")),
        other => Err(fail(format!(
            "first: expected a query result, got {}",
            other.type_name()
        ))),
    }
}

fn label(args: &[Value]) -> FuncResult {
    let name = str_arg(args, 0, "label")?;
    let labels = sample_field(&arg(args, 1, "label")?, "Labels");
    Ok(labels.field(&name).cloned().unwrap_or_else(|| string("")))
}

fn sort_by_label(args: &[Value]) -> FuncResult {
    let name = str_arg(args, 0, "sortByLabel")?;
    let Value::List(items) = arg(args, 1, "sortByLabel")? else {
        return Err(fail("sortByLabel: expected a query result"));
    };
    let key = |v: &Value| {
        sample_field(v, "Labels")
            .field(&name)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let mut sorted: Vec<Value> = items.to_vec();
    sorted.sort_by_key(key);
    Ok(Value::List(sorted.into()))
}

fn humanize_steps(mut v: f64, base: f64, up: &[&str], down: &[&str]) -> String {
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in up {
            if v.abs() < base {
                break;
            }
            prefix = p;
            v /= base;
        }
    } else {
        for p in down {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g(v, 4))
}

const SI_UP: &[&str] = &["k", "M", "G", "T", "P", "E", "Z", "Y"];
const SI_DOWN: &[&str] = &["m", "u", "n", "p", "f", "a", "z", "y"];

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    humanize_steps(v, 1000.0, SI_UP, SI_DOWN)
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    humanize_steps(v, 1024.0, &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"], &[])
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let total = v as i64;
        let (seconds, minutes, hours, days) = (total % 60, total / 60 % 60, total / 3600 % 24, total / 86400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_g(v, 4))
        };
    }
    format!("{}s", humanize_steps(v, 1000.0, &[], SI_DOWN))
}

/// Go's `fmt.Sprint` of a UTC `time.Time`: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn go_time(seconds: f64) -> String {
    if !seconds.is_finite() {
        return go_g(seconds, 4);
    }
    let nanos = (seconds * 1e9) as i64;
    let t = chrono::DateTime::from_timestamp_nanos(nanos);
    let mut text = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = nanos.rem_euclid(1_000_000_000);
    if frac != 0 {
        let digits = format!("{frac:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push_str(" +0000 UTC");
    text
}

/// Go's `%.<prec>g`.
pub(super) fn go_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", prec.saturating_sub(1), v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs())
    } else {
        let decimals = usize::try_from(prec as i32 - 1 - exp).unwrap_or(0);
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous_is_letter = false;
    for c in s.chars() {
        let is_letter = c.is_alphanumeric() || c == '_' || c == '\'';
        if is_letter && !previous_is_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous_is_letter = is_letter;
    }
    out
}

/// Go's `net.SplitHostPort`, returning `None` where Go returns an error.
fn split_host_port(hostport: &str) -> Option<(String, String)> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host.to_string(), port.to_string()));
    }
    let (host, port) = hostport.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn strip_domain(hostport: &str) -> String {
    let (host, port) = split_host_port(hostport).unwrap_or_else(|| (hostport.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hostport.to_string();
    }
    let short = host.split('.').next().unwrap_or_default();
    if port.is_empty() {
        short.to_string()
    } else {
        format!("{short}:{port}")
    }
}

fn query_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn regex_arg(args: &[Value], i: usize, name: &str) -> gotmpl::Result<regex::Regex> {
    let pattern = str_arg(args, i, name)?;
    regex::Regex::new(&pattern).map_err(|e| fail(format!("{name}: {e}")))
}

fn external_url() -> gotmpl::Result<String> {
    with_context(|c| c.external_url.clone())
}

fn functions(t: Template) -> Template {
    t.func("__goPrint", |a| match a.first() {
        Some(Value::Float(f)) => Ok(string(go_float(*f))),
        Some(other) => Ok(other.clone()),
        None => Ok(Value::Nil),
    })
    .func("query", query)
    .func("first", first)
    .func("label", label)
    .func("value", |a| Ok(sample_field(&arg(a, 0, "value")?, "Value")))
    .func("strvalue", |a| {
        Ok(sample_field(&arg(a, 0, "strvalue")?, "Labels")
            .field("__value__")
            .cloned()
            .unwrap_or_else(|| string("")))
    })
    .func("sortByLabel", sort_by_label)
    .func("humanize", |a| Ok(string(humanize(float_arg(a, 0, "humanize")?))))
    .func("humanize1024", |a| {
        Ok(string(humanize1024(float_arg(a, 0, "humanize1024")?)))
    })
    .func("humanizeDuration", |a| {
        Ok(string(humanize_duration(float_arg(a, 0, "humanizeDuration")?)))
    })
    .func("humanizePercentage", |a| {
        Ok(string(format!(
            "{}%",
            go_g(float_arg(a, 0, "humanizePercentage")? * 100.0, 4)
        )))
    })
    .func("humanizeTimestamp", |a| {
        Ok(string(go_time(float_arg(a, 0, "humanizeTimestamp")?)))
    })
    .func("toTime", |a| Ok(string(go_time(float_arg(a, 0, "toTime")?))))
    .func("now", |_| Ok(Value::Float(with_context(|c| c.now_seconds)?)))
    .func("parseDuration", |a| {
        let text = str_arg(a, 0, "parseDuration")?;
        let d: crate::config::PromDuration = text.parse().map_err(|e| fail(format!("{e}")))?;
        Ok(Value::Float(d.as_millis() as f64 / 1000.0))
    })
    .func("title", |a| Ok(string(title(&str_arg(a, 0, "title")?))))
    .func("toUpper", |a| {
        Ok(string(str_arg(a, 0, "toUpper")?.to_uppercase()))
    })
    .func("toLower", |a| {
        Ok(string(str_arg(a, 0, "toLower")?.to_lowercase()))
    })
    .func("stripPort", |a| {
        let hostport = str_arg(a, 0, "stripPort")?;
        Ok(string(split_host_port(&hostport).map_or(hostport, |(h, _)| h)))
    })
    .func("stripDomain", |a| {
        Ok(string(strip_domain(&str_arg(a, 0, "stripDomain")?)))
    })
    .func("match", |a| {
        Ok(Value::Bool(
            regex_arg(a, 0, "match")?.is_match(&str_arg(a, 1, "match")?),
        ))
    })
    .func("reReplaceAll", |a| {
        let re = regex_arg(a, 0, "reReplaceAll")?;
        let (replacement, text) = (str_arg(a, 1, "reReplaceAll")?, str_arg(a, 2, "reReplaceAll")?);
        Ok(string(re.replace_all(&text, replacement.as_str())))
    })
    .func("graphLink", |a| {
        Ok(string(format!(
            "/graph?g0.expr={}&g0.tab=0",
            query_escape(&str_arg(a, 0, "graphLink")?)
        )))
    })
    .func("tableLink", |a| {
        Ok(string(format!(
            "/graph?g0.expr={}&g0.tab=1",
            query_escape(&str_arg(a, 0, "tableLink")?)
        )))
    })
    .func("urlQueryEscape", |a| {
        Ok(string(query_escape(&str_arg(a, 0, "urlQueryEscape")?)))
    })
    .func("args", |a| {
        let m: BTreeMap<Arc<str>, Value> = a
            .iter()
            .enumerate()
            .map(|(i, v)| (Arc::from(format!("arg{i}")), v.clone()))
            .collect();
        Ok(Value::Map(Arc::new(m)))
    })
    .func("safeHtml", |a| Ok(string(str_arg(a, 0, "safeHtml")?)))
    .func("externalURL", |_| Ok(string(external_url()?)))
    .func("pathPrefix", |_| {
        let url = external_url()?;
        let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        Ok(string(after_scheme.find('/').map_or("", |i| &after_scheme[i..])))
    })
}

#[cfg(test)]
mod tests;

//! JSONPath as Step Functions uses it (the Jayway dialect), and the
//! "reference path" subset that may only name one node.
//!
//! A path is *definite* when it can only name one node (`$.a.b[0]`): it
//! yields that node, and a missing node is an error. Any wildcard, slice,
//! union, filter or deep scan makes it *indefinite*: it yields the array of
//! every match, possibly empty. This is how Step Functions behaves: the
//! documented `$.a[0:2]` on `{"a": [1, 2, 3, 4]}` yields `[1, 2]`.

use std::fmt;

mod filter;
mod parse;

use serde_json::{Map, Value};

use filter::FilterExpr;

/// Why a path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct PathSyntaxError {
    pub message: String,
    pub position: usize,
}

/// Why a parsed path could not be applied to a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("no results for path {0}")]
    NoMatch(String),
    #[error("unable to apply {path}: {reason}")]
    CannotApply { path: String, reason: String },
}

/// Which document a path reads: the state's data (`$`) or the context object (`$$`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Input,
    Context,
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Index(i64),
    Wildcard,
    Indices(Vec<i64>),
    Slice { start: Option<i64>, end: Option<i64>, step: i64 },
    Filter(Box<FilterExpr>),
}

#[derive(Debug, Clone, PartialEq)]
struct Segment {
    selector: Selector,
    /// `..` before the selector: apply it to the node and every descendant.
    descendant: bool,
}

impl Segment {
    fn is_singular(&self) -> bool {
        !self.descendant && matches!(self.selector, Selector::Name(_) | Selector::Index(_))
    }
}

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonPath {
    raw: String,
    root: Root,
    segments: Vec<Segment>,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Resolves a `$$` path. The context object is assembled from parts so
/// that each state does not copy the execution input into a fresh tree.
pub(crate) trait ContextSource {
    /// The value of a top-level context field (`Execution`, `State`, ...).
    fn field(&self, name: &str) -> Option<&Value>;
    /// The whole context object, for the rare path that scans it.
    fn whole(&self) -> Value;
}

impl ContextSource for Value {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
    fn whole(&self) -> Value {
        self.clone()
    }
}

impl JsonPath {
    /// Parses a path. `allow_context` admits `$$` paths.
    pub(crate) fn parse(text: &str, allow_context: bool) -> Result<Self, PathSyntaxError> {
        parse::parse_path(text, allow_context)
    }

    /// Parses a reference path: `$` followed only by names and single indices.
    pub(crate) fn parse_reference(text: &str, allow_context: bool) -> Result<Self, PathSyntaxError> {
        let path = Self::parse(text, allow_context)?;
        if !path.is_definite() {
            return Err(PathSyntaxError {
                message: "a reference path may only use names and single array indices \
                          (no wildcards, slices, unions, filters or '..')"
                    .to_string(),
                position: 0,
            });
        }
        Ok(path)
    }

    pub(crate) fn root(&self) -> Root {
        self.root
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.raw
    }

    /// True when the path can name at most one node.
    pub(crate) fn is_definite(&self) -> bool {
        self.segments.iter().all(Segment::is_singular)
    }

    /// True for the bare `$`.
    pub(crate) fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// Applies the path: the single node of a definite path, or the array of
    /// matches of an indefinite one.
    pub(crate) fn select(&self, input: &Value, context: &dyn ContextSource) -> Result<Value, PathError> {
        let (start, segments): (Option<std::borrow::Cow<'_, Value>>, &[Segment]) = match self.root {
            Root::Input => (Some(std::borrow::Cow::Borrowed(input)), &self.segments[..]),
            Root::Context => match self.segments.first() {
                Some(Segment { selector: Selector::Name(name), descendant: false }) => {
                    (context.field(name).map(std::borrow::Cow::Borrowed), &self.segments[1..])
                }
                _ => (Some(std::borrow::Cow::Owned(context.whole())), &self.segments[..]),
            },
        };
        let Some(start) = start else {
            return if self.is_definite() {
                Err(PathError::NoMatch(self.raw.clone()))
            } else {
                Ok(Value::Array(vec![]))
            };
        };
        let root_for_filters = match self.root {
            Root::Input => input,
            Root::Context => start.as_ref(),
        };
        if self.is_definite() {
            let mut node = start.as_ref();
            for segment in segments {
                node = step_singular(node, &segment.selector).ok_or_else(|| PathError::NoMatch(self.raw.clone()))?;
            }
            Ok(node.clone())
        } else {
            let mut nodes = vec![start.as_ref()];
            for segment in segments {
                nodes = apply_segment(&nodes, segment, root_for_filters);
            }
            Ok(Value::Array(nodes.into_iter().cloned().collect()))
        }
    }

    /// Writes `value` at this reference path inside `target` (ResultPath).
    /// Missing objects along the way are created, as Step Functions does.
    pub(crate) fn assign(&self, target: Value, value: Value) -> Result<Value, PathError> {
        if self.segments.is_empty() {
            return Ok(value);
        }
        let mut target = target;
        let mut node = &mut target;
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate() {
            let cannot = |reason: String| PathError::CannotApply { path: self.raw.clone(), reason };
            match &segment.selector {
                Selector::Name(name) => {
                    let Value::Object(map) = node else {
                        return Err(cannot(format!("'{name}' cannot be set on a {}", kind_of(node))));
                    };
                    if i == last {
                        map.insert(name.clone(), value);
                        return Ok(target);
                    }
                    node = map.entry(name.clone()).or_insert_with(|| Value::Object(Map::new()));
                }
                Selector::Index(index) => {
                    let Value::Array(items) = node else {
                        return Err(cannot(format!("index [{index}] cannot be used on a {}", kind_of(node))));
                    };
                    let len = items.len();
                    let Some(position) = resolve_index(*index, len) else {
                        return Err(cannot(format!("index [{index}] is outside an array of {len} items")));
                    };
                    if i == last {
                        items[position] = value;
                        return Ok(target);
                    }
                    node = &mut items[position];
                }
                _ => return Err(cannot("only names and single indices can be assigned".to_string())),
            }
        }
        Ok(target)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let resolved = if index < 0 { len_i + index } else { index };
    if (0..len_i).contains(&resolved) { usize::try_from(resolved).ok() } else { None }
}

fn step_singular<'v>(node: &'v Value, selector: &Selector) -> Option<&'v Value> {
    match (selector, node) {
        (Selector::Name(name), Value::Object(map)) => map.get(name),
        (Selector::Index(index), Value::Array(items)) => resolve_index(*index, items.len()).map(|i| &items[i]),
        _ => None,
    }
}

fn children(node: &Value) -> Vec<&Value> {
    match node {
        Value::Object(map) => map.values().collect(),
        Value::Array(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

fn with_descendants<'v>(node: &'v Value, out: &mut Vec<&'v Value>) {
    out.push(node);
    for child in children(node) {
        with_descendants(child, out);
    }
}

fn apply_segment<'v>(nodes: &[&'v Value], segment: &Segment, root: &'v Value) -> Vec<&'v Value> {
    let mut targets = Vec::new();
    if segment.descendant {
        for node in nodes {
            with_descendants(node, &mut targets);
        }
    } else {
        targets.extend_from_slice(nodes);
    }
    let mut out = Vec::new();
    for node in targets {
        apply_selector(node, &segment.selector, root, &mut out);
    }
    out
}

fn apply_selector<'v>(node: &'v Value, selector: &Selector, root: &'v Value, out: &mut Vec<&'v Value>) {
    match selector {
        Selector::Name(_) | Selector::Index(_) => out.extend(step_singular(node, selector)),
        Selector::Wildcard => out.extend(children(node)),
        Selector::Indices(indices) => {
            if let Value::Array(items) = node {
                for index in indices {
                    out.extend(resolve_index(*index, items.len()).map(|i| &items[i]));
                }
            }
        }
        Selector::Slice { start, end, step } => {
            if let Value::Array(items) = node {
                for i in slice_positions(items.len(), *start, *end, *step) {
                    out.push(&items[i]);
                }
            }
        }
        Selector::Filter(expr) => match node {
            Value::Array(items) => out.extend(items.iter().filter(|item| expr.test(item, root))),
            // Jayway tests a filter applied to an object against the object itself.
            Value::Object(_) if expr.test(node, root) => out.push(node),
            _ => {}
        },
    }
}

/// Positions of a Python-style slice (negative bounds count from the end).
fn slice_positions(len: usize, start: Option<i64>, end: Option<i64>, step: i64) -> Vec<usize> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let clamp = |v: i64, low: i64, high: i64| v.max(low).min(high);
    let norm = |v: i64| if v < 0 { v + len } else { v };
    let mut positions = Vec::new();
    if step > 0 {
        let from = clamp(start.map_or(0, norm), 0, len);
        let to = clamp(end.map_or(len, norm), 0, len);
        let mut i = from;
        while i < to {
            positions.extend(usize::try_from(i).ok());
            i += step;
        }
    } else if step < 0 {
        let from = clamp(start.map_or(len - 1, norm), -1, len - 1);
        let to = clamp(end.map_or(-1, norm), -1, len - 1);
        let mut i = from;
        while i > to {
            positions.extend(usize::try_from(i).ok());
            i += step;
        }
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(path: &str, input: &Value) -> Result<Value, PathError> {
        JsonPath::parse(path, true).expect("valid path").select(input, &json!({}))
    }

    // Example from https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html
    #[test]
    fn reference_path_examples_from_the_paths_page() {
        // GIVEN the documented input
        let input = json!({
            "foo": 123,
            "bar": ["a", "b", "c"],
            "car": {"cdr": true},
            "jar": [{"a": 1}, {"a": 5}, {"a": 2}, {"a": 7}, {"a": 3}]
        });
        // WHEN the documented paths are applied THEN they yield the documented values
        assert_eq!(sel("$.foo", &input), Ok(json!(123)));
        assert_eq!(sel("$.bar", &input), Ok(json!(["a", "b", "c"])));
        assert_eq!(sel("$.car.cdr", &input), Ok(json!(true)));
        assert_eq!(sel("$.jar[?(@.a >= 5)]", &input), Ok(json!([{"a": 5}, {"a": 7}])));
    }

    // Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
    #[test]
    fn slice_yields_an_array() {
        // GIVEN {"a": [1, 2, 3, 4]} WHEN $.a[0:2] is applied THEN [1, 2]
        assert_eq!(sel("$.a[0:2]", &json!({"a": [1, 2, 3, 4]})), Ok(json!([1, 2])));
    }

    #[test]
    fn jayway_forms() {
        // GIVEN a nested document
        let input = json!({"store": {"book": [
            {"title": "A", "price": 8, "isbn": "1"},
            {"title": "B", "price": 12},
            {"title": "C", "price": 9, "isbn": "3"}
        ], "bicycle": {"price": 20}}});
        // WHEN the usual Jayway forms are applied THEN they select as Jayway does
        assert_eq!(sel("$.store.book[*].title", &input), Ok(json!(["A", "B", "C"])));
        // Object members come in serde_json's map order, which depends on its
        // `preserve_order` feature (unified across the workspace): compare as a set.
        let mut prices: Vec<i64> =
            sel("$..price", &input).unwrap().as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        prices.sort();
        assert_eq!(prices, vec![8, 9, 12, 20]);
        assert_eq!(sel("$.store.book[-1].title", &input), Ok(json!("C")));
        assert_eq!(sel("$.store.book[0,2].title", &input), Ok(json!(["A", "C"])));
        assert_eq!(sel("$.store.book[?(@.isbn)].title", &input), Ok(json!(["A", "C"])));
        assert_eq!(sel("$.store.book[?(@.price < 10 && @.title != 'A')].title", &input), Ok(json!(["C"])));
        assert_eq!(sel("$['store']['bicycle'].price", &input), Ok(json!(20)));
        assert_eq!(sel("$.store.book[::-1].title", &input), Ok(json!(["C", "B", "A"])));
        assert_eq!(sel("$.store.book[?(!(@.price > 10))].title", &input), Ok(json!(["A", "C"])));
    }

    #[test]
    fn definite_path_without_a_match_is_an_error_but_indefinite_is_empty() {
        // GIVEN an object without "missing"
        let input = json!({"a": [1]});
        // WHEN a definite and an indefinite path miss THEN error and empty array
        assert_eq!(sel("$.missing", &input), Err(PathError::NoMatch("$.missing".to_string())));
        assert_eq!(sel("$.a[5]", &input), Err(PathError::NoMatch("$.a[5]".to_string())));
        assert_eq!(sel("$.a[?(@.x)]", &input), Ok(json!([])));
    }

    #[test]
    fn names_with_dashes_and_context_paths() {
        // GIVEN names with dashes (as in the docs' "$.error-info") and a context object
        let input = json!({"error-info": {"dest-code": 9511}});
        assert_eq!(sel("$.error-info.dest-code", &input), Ok(json!(9511)));
        let ctx = json!({"Execution": {"Name": "run-1"}});
        let path = JsonPath::parse("$$.Execution.Name", true).expect("valid");
        assert_eq!(path.select(&json!({}), &ctx), Ok(json!("run-1")));
        // THEN $$ is refused where the context is not allowed
        assert!(JsonPath::parse("$$.Execution.Name", false).is_err());
    }

    #[test]
    fn syntax_errors() {
        // GIVEN malformed paths WHEN parsed THEN each is refused; reference paths refuse wildcards
        for bad in
            ["", "a.b", "$.", "$..", "$[", "$[1", "$['a'", "$.a[?(@.b =~ /x/)]", "$.a.length()", "$[0:1:0]", "$ x"]
        {
            assert!(JsonPath::parse(bad, true).is_err(), "{bad} should be rejected");
        }
        assert!(JsonPath::parse_reference("$.a[*]", false).is_err());
        assert!(JsonPath::parse_reference("$.a[0].b['c d']", false).is_ok());
    }

    #[test]
    fn assign_creates_missing_objects_and_refuses_scalars() {
        // GIVEN ResultPath targets WHEN assigned THEN missing objects are created, scalars and bad indices refused
        let path = JsonPath::parse_reference("$.data.lambdaresult", false).expect("valid");
        assert_eq!(path.assign(json!({"x": 1}), json!("r")), Ok(json!({"x": 1, "data": {"lambdaresult": "r"}})));
        assert!(matches!(path.assign(json!("text"), json!(1)), Err(PathError::CannotApply { .. })));
        let index = JsonPath::parse_reference("$.a[1]", false).expect("valid");
        assert_eq!(index.assign(json!({"a": [1, 2]}), json!(9)), Ok(json!({"a": [1, 9]})));
        assert!(index.assign(json!({"a": [1]}), json!(9)).is_err());
    }
}

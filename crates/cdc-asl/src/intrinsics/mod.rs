//! Intrinsic functions (`States.Format(...)` and friends) for `.$` fields,
//! parsed when the definition is loaded and evaluated per state.

mod encoding;
mod parse;

use rand::{Rng, RngCore, SeedableRng};
use serde_json::Value;

use crate::path::{ContextSource, JsonPath, PathError};
pub(crate) use encoding::new_uuid;
use encoding::{base64_decode, base64_encode, hash};

/// AWS allows at most 10 nested intrinsic calls in one field.
const MAX_NESTING: usize = 10;
/// Base64 and Hash take at most 10,000 characters.
const MAX_TEXT_CHARS: usize = 10_000;
/// States.ArrayRange builds at most 1,000 items.
const MAX_RANGE_ITEMS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "States.Format" => Function::Format,
            "States.StringToJson" => Function::StringToJson,
            "States.JsonToString" => Function::JsonToString,
            "States.Array" => Function::Array,
            "States.ArrayPartition" => Function::ArrayPartition,
            "States.ArrayContains" => Function::ArrayContains,
            "States.ArrayRange" => Function::ArrayRange,
            "States.ArrayGetItem" => Function::ArrayGetItem,
            "States.ArrayLength" => Function::ArrayLength,
            "States.ArrayUnique" => Function::ArrayUnique,
            "States.Base64Encode" => Function::Base64Encode,
            "States.Base64Decode" => Function::Base64Decode,
            "States.Hash" => Function::Hash,
            "States.JsonMerge" => Function::JsonMerge,
            "States.MathRandom" => Function::MathRandom,
            "States.MathAdd" => Function::MathAdd,
            "States.StringSplit" => Function::StringSplit,
            "States.UUID" => Function::Uuid,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    /// Allowed argument counts (inclusive).
    fn arity(self) -> (usize, usize) {
        match self {
            Function::Format => (1, usize::MAX),
            Function::Array => (0, usize::MAX),
            Function::Uuid => (0, 0),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, 1),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, 2),
            Function::ArrayRange | Function::JsonMerge => (3, 3),
            Function::MathRandom => (2, 3),
        }
    }
}

/// A piece of a quoted string argument: text, or an unescaped `{}` that
/// States.Format fills (elsewhere it reads as the two characters).
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Slot,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Str(Vec<Piece>),
    Literal(Value),
    Path(JsonPath),
    Call(Box<Intrinsic>),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Intrinsic {
    function: Function,
    args: Vec<Arg>,
}

/// Why an intrinsic call could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntrinsicSyntaxError {
    UnknownFunction(String),
    Invalid(String),
}

/// Why an intrinsic call failed at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntrinsicError {
    /// A path argument matched nothing (`States.Runtime`).
    Path(PathError),
    /// The function refused its arguments (`States.IntrinsicFailure`).
    Failure(String),
}

/// True when a `.$` value is an intrinsic call rather than a path.
pub(crate) fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Intrinsic {
    pub(crate) fn parse(text: &str) -> Result<Self, IntrinsicSyntaxError> {
        parse::parse_call(text)
    }

    pub(crate) fn evaluate(
        &self,
        input: &Value,
        context: &dyn ContextSource,
        rng: &mut dyn RngCore,
    ) -> Result<Value, IntrinsicError> {
        if self.function == Function::Format {
            return self.format(input, context, rng);
        }
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(arg.evaluate(input, context, rng)?);
        }
        apply(self.function, values, rng)
            .map_err(|message| IntrinsicError::Failure(format!("{}: {message}", self.function.name())))
    }

    fn format(
        &self,
        input: &Value,
        context: &dyn ContextSource,
        rng: &mut dyn RngCore,
    ) -> Result<Value, IntrinsicError> {
        let fail = |message: String| IntrinsicError::Failure(format!("States.Format: {message}"));
        let template: Vec<Piece> = match &self.args[0] {
            Arg::Str(pieces) => pieces.clone(),
            other => match other.evaluate(input, context, rng)? {
                Value::String(text) => pieces_of_value(&text),
                value => return Err(fail(format!("the template must be a string, not {value}"))),
            },
        };
        let slots = template.iter().filter(|p| matches!(p, Piece::Slot)).count();
        let args = &self.args[1..];
        if slots != args.len() {
            return Err(fail(format!("the template has {slots} '{{}}' but {} arguments follow it", args.len())));
        }
        let mut out = String::new();
        let mut next_arg = args.iter();
        for piece in template {
            match piece {
                Piece::Text(text) => out.push_str(&text),
                Piece::Slot => {
                    let Some(arg) = next_arg.next() else { break };
                    match arg.evaluate(input, context, rng)? {
                        Value::String(s) => out.push_str(&s),
                        value @ (Value::Number(_) | Value::Bool(_) | Value::Null) => out.push_str(&value.to_string()),
                        value => {
                            return Err(fail(format!(
                                "an argument must be a string, number, boolean or null, not {value}"
                            )));
                        }
                    }
                }
            }
        }
        Ok(Value::String(out))
    }
}

/// A template read from the input: `{}` are slots, there are no escapes.
fn pieces_of_value(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (i, part) in text.split("{}").enumerate() {
        if i > 0 {
            pieces.push(Piece::Slot);
        }
        pieces.push(Piece::Text(part.to_string()));
    }
    pieces
}

impl Arg {
    fn evaluate(
        &self,
        input: &Value,
        context: &dyn ContextSource,
        rng: &mut dyn RngCore,
    ) -> Result<Value, IntrinsicError> {
        match self {
            Arg::Str(pieces) => Ok(Value::String(
                pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(text) => text.as_str(),
                        Piece::Slot => "{}",
                    })
                    .collect(),
            )),
            Arg::Literal(value) => Ok(value.clone()),
            Arg::Path(path) => path.select(input, context).map_err(IntrinsicError::Path),
            Arg::Call(call) => call.evaluate(input, context, rng),
        }
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // Whole floats such as 111.0 count as integers; the cast is exact in range.
            (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        }),
        _ => None,
    }
}

fn want_integer(value: &Value, what: &str) -> Result<i64, String> {
    integer(value).ok_or_else(|| format!("{what} must be an integer, not {value}"))
}

fn want_array(value: Value, what: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(format!("{what} must be an array, not {other}")),
    }
}

fn want_string(value: Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("{what} must be a string, not {other}")),
    }
}

fn want_short_string(value: Value, what: &str) -> Result<String, String> {
    let text = want_string(value, what)?;
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("{what} is longer than {MAX_TEXT_CHARS} characters"));
    }
    Ok(text)
}

fn apply(function: Function, args: Vec<Value>, rng: &mut dyn RngCore) -> Result<Value, String> {
    if function == Function::Array {
        return Ok(Value::Array(args));
    }
    let count = args.len();
    // Arity was checked when the call was parsed, so a missing argument cannot happen.
    let mut args = args.into_iter();
    let mut next = move || args.next().unwrap_or(Value::Null);
    match function {
        Function::Format | Function::Array => Err("evaluated separately".to_string()),
        Function::StringToJson => {
            let text = want_string(next(), "the argument")?;
            serde_json::from_str(&text).map_err(|e| format!("the argument is not JSON text: {e}"))
        }
        Function::JsonToString => Ok(Value::String(next().to_string())),
        Function::ArrayPartition => {
            let items = want_array(next(), "the first argument")?;
            let size = want_integer(&next(), "the chunk size")?;
            let size =
                usize::try_from(size).ok().filter(|s| *s > 0).ok_or("the chunk size must be a positive integer")?;
            Ok(Value::Array(items.chunks(size).map(|c| Value::Array(c.to_vec())).collect()))
        }
        Function::ArrayContains => {
            let items = want_array(next(), "the first argument")?;
            let wanted = next();
            Ok(Value::Bool(items.iter().any(|item| json_equal(item, &wanted))))
        }
        Function::ArrayRange => {
            let start = want_integer(&next(), "the start")?;
            let end = want_integer(&next(), "the end")?;
            let step = want_integer(&next(), "the step")?;
            if step == 0 {
                return Err("the step must not be 0".to_string());
            }
            let mut items = Vec::new();
            let mut value = start;
            while (step > 0 && value <= end) || (step < 0 && value >= end) {
                if items.len() == MAX_RANGE_ITEMS {
                    return Err(format!("the range has more than {MAX_RANGE_ITEMS} items"));
                }
                items.push(Value::from(value));
                value = match value.checked_add(step) {
                    Some(v) => v,
                    None => break,
                };
            }
            Ok(Value::Array(items))
        }
        Function::ArrayGetItem => {
            let items = want_array(next(), "the first argument")?;
            let index = want_integer(&next(), "the index")?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| format!("index {index} is outside an array of {} items", items.len()))
        }
        Function::ArrayLength => Ok(Value::from(want_array(next(), "the argument")?.len())),
        Function::ArrayUnique => {
            let items = want_array(next(), "the argument")?;
            let mut unique: Vec<Value> = Vec::new();
            for item in items {
                if !unique.iter().any(|seen| json_equal(seen, &item)) {
                    unique.push(item);
                }
            }
            Ok(Value::Array(unique))
        }
        Function::Base64Encode => {
            Ok(Value::String(base64_encode(want_short_string(next(), "the argument")?.as_bytes())))
        }
        Function::Base64Decode => {
            let text = want_short_string(next(), "the argument")?;
            let bytes = base64_decode(&text).ok_or("the argument is not valid Base64")?;
            String::from_utf8(bytes).map(Value::String).map_err(|_| "the decoded data is not UTF-8 text".to_string())
        }
        Function::Hash => {
            let data = want_short_string(next(), "the data")?;
            let algorithm = want_string(next(), "the algorithm")?;
            hash(&algorithm, data.as_bytes()).map(Value::String)
        }
        Function::JsonMerge => {
            let (Value::Object(mut left), Value::Object(right)) = (next(), next()) else {
                return Err("the first two arguments must be objects".to_string());
            };
            match next() {
                Value::Bool(false) => {}
                Value::Bool(true) => return Err("only the shallow merge (false) is supported, as in AWS".to_string()),
                other => return Err(format!("the third argument must be false, not {other}")),
            }
            for (key, value) in right {
                left.insert(key, value);
            }
            Ok(Value::Object(left))
        }
        Function::MathRandom => {
            let start = want_integer(&next(), "the start")?;
            let end = want_integer(&next(), "the end")?;
            let seed = if count == 3 { Some(want_integer(&next(), "the seed")?) } else { None };
            if end < start {
                return Err(format!("the end ({end}) is lower than the start ({start})"));
            }
            if end == start {
                return Ok(Value::from(start));
            }
            // The end is exclusive; a seed gives the same number every time, as AWS documents.
            let n = match seed {
                Some(seed) => rand::rngs::StdRng::seed_from_u64(seed.cast_unsigned()).random_range(start..end),
                None => rng.random_range(start..end),
            };
            Ok(Value::from(n))
        }
        Function::MathAdd => {
            let a = want_integer(&next(), "the first argument")?;
            let b = want_integer(&next(), "the second argument")?;
            a.checked_add(b).map(Value::from).ok_or_else(|| "the sum overflows".to_string())
        }
        Function::StringSplit => {
            let text = want_string(next(), "the first argument")?;
            let delimiters = want_string(next(), "the delimiter")?;
            // Every character of the second argument is a delimiter, and empty
            // pieces are dropped: "This.is+a,test=string" split by ".+,=" gives 5 words.
            let parts = text
                .split(|c: char| delimiters.contains(c))
                .filter(|part| !part.is_empty())
                .map(|part| Value::String(part.to_string()))
                .collect();
            Ok(Value::Array(parts))
        }
        Function::Uuid => Ok(Value::String(new_uuid(rng))),
    }
}

/// Equality where 5 and 5.0 are the same number.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use serde_json::json;

    fn eval(call: &str, input: Value) -> Result<Value, IntrinsicError> {
        let mut rng = StdRng::seed_from_u64(7);
        Intrinsic::parse(call).expect("valid call").evaluate(&input, &json!({}), &mut rng)
    }

    // The examples below are from https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html

    #[test]
    fn format_from_the_docs() {
        // GIVEN {"name": "Arnav", "template": "Hello, my name is {}."}
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        // WHEN States.Format is called with a literal or a path template THEN both give the sentence
        assert_eq!(
            eval("States.Format('Hello, my name is {}.', $.name)", input.clone()),
            Ok(json!("Hello, my name is Arnav."))
        );
        assert_eq!(eval("States.Format($.template, $.name)", input), Ok(json!("Hello, my name is Arnav.")));
    }

    #[test]
    fn string_to_json_and_back_from_the_docs() {
        // GIVEN the documented escaped and unescaped JSON WHEN converted THEN the documented results
        assert_eq!(
            eval("States.StringToJson($.escapedJsonString)", json!({"escapedJsonString": "{\"foo\": \"bar\"}"})),
            Ok(json!({"foo": "bar"}))
        );
        assert_eq!(
            eval("States.JsonToString($.unescapedJson)", json!({"unescapedJson": {"foo": "bar"}})),
            Ok(json!("{\"foo\":\"bar\"}"))
        );
    }

    #[test]
    fn array_from_the_docs() {
        // GIVEN {"someJson": {"random": "abcdefg"}, "zebra": "stripe"}
        let input = json!({"someJson": {"random": "abcdefg"}, "zebra": "stripe"});
        // WHEN States.Array('Foo', 2020, $.someJson, null) THEN ["Foo", 2020, {...}, null]
        assert_eq!(
            eval("States.Array('Foo', 2020, $.someJson, null)", input),
            Ok(json!(["Foo", 2020, {"random": "abcdefg"}, null]))
        );
        assert_eq!(eval("States.Array($.Id)", json!({"Id": 123456})), Ok(json!([123456])));
        assert_eq!(eval("States.Array()", json!({})), Ok(json!([])));
    }

    #[test]
    fn array_functions_from_the_docs() {
        // GIVEN the documented arrays WHEN each array intrinsic runs THEN the documented results
        let nine = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5, "index": 5});
        assert_eq!(
            eval("States.ArrayPartition($.inputArray,4)", nine.clone()),
            Ok(json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]]))
        );
        assert_eq!(eval("States.ArrayContains($.inputArray, $.lookingFor)", nine.clone()), Ok(json!(true)));
        assert_eq!(eval("States.ArrayRange(1, 9, 2)", json!({})), Ok(json!([1, 3, 5, 7, 9])));
        assert_eq!(eval("States.ArrayGetItem($.inputArray, $.index)", nine.clone()), Ok(json!(6)));
        assert_eq!(eval("States.ArrayLength($.inputArray)", nine), Ok(json!(9)));
        assert_eq!(
            eval("States.ArrayUnique($.inputArray)", json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]})),
            Ok(json!([1, 2, 3, 4]))
        );
    }

    #[test]
    fn encoding_and_hashing_from_the_docs() {
        // GIVEN the documented data WHEN encoded, decoded and hashed THEN the documented results
        assert_eq!(
            eval("States.Base64Encode($.input)", json!({"input": "Data to encode"})),
            Ok(json!("RGF0YSB0byBlbmNvZGU="))
        );
        // The page prints "Decoded data" here, a known typo: the text encoded above comes back.
        assert_eq!(
            eval("States.Base64Decode($.base64)", json!({"base64": "RGF0YSB0byBlbmNvZGU="})),
            Ok(json!("Data to encode"))
        );
        // The page prints a 39-digit SHA-1 (one digit dropped); this is the full digest of "input data".
        assert_eq!(
            eval("States.Hash($.Data, $.Algorithm)", json!({"Data": "input data", "Algorithm": "SHA-1"})),
            Ok(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))
        );
        assert_eq!(eval("States.Hash('abc', 'MD5')", json!({})), Ok(json!("900150983cd24fb0d6963f7d28e17f72")));
        assert_eq!(
            eval("States.Hash('abc', 'SHA-256')", json!({})),
            Ok(json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        );
        for text in ["", "a", "ab", "abc", "abcd", "ünïcödé"] {
            assert_eq!(base64_decode(&base64_encode(text.as_bytes())), Some(text.as_bytes().to_vec()));
        }
        assert!(base64_decode("abc").is_none());
        assert!(base64_decode("a=bc").is_none());
    }

    #[test]
    fn json_merge_math_and_split_from_the_docs() {
        // GIVEN the documented inputs WHEN merged, added and split THEN the documented results
        let input = json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}});
        assert_eq!(
            eval("States.JsonMerge($.json1, $.json2, false)", input),
            Ok(json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}))
        );
        assert_eq!(eval("States.MathAdd($.value1, $.step)", json!({"value1": 111, "step": -1})), Ok(json!(110)));
        assert_eq!(
            eval("States.StringSplit($.inputString, $.splitter)", json!({"inputString": "1,2,3,4,5", "splitter": ","})),
            Ok(json!(["1", "2", "3", "4", "5"]))
        );
        assert_eq!(
            eval(
                "States.StringSplit($.inputString, $.splitter)",
                json!({"inputString": "This.is+a,test=string", "splitter": ".+,="})
            ),
            Ok(json!(["This", "is", "a", "test", "string"]))
        );
    }

    #[test]
    fn random_and_uuid() {
        // GIVEN a range and a seed WHEN random numbers and UUIDs are made
        // THEN they are in range, repeat for a seed, and UUIDs are version 4
        let Ok(Value::Number(n)) = eval("States.MathRandom($.start, $.end)", json!({"start": 1, "end": 999})) else {
            panic!("expected a number");
        };
        assert!((1..999).contains(&n.as_i64().unwrap_or(0)));
        // The same seed gives the same number.
        assert_eq!(eval("States.MathRandom(1, 999, 42)", json!({})), eval("States.MathRandom(1, 999, 42)", json!({})));
        let Ok(Value::String(uuid)) = eval("States.UUID()", json!({})) else { panic!("expected a string") };
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }

    // Nesting example from the same page (nine nested calls).
    #[test]
    fn nested_calls_from_the_docs() {
        // GIVEN the documented nested call WHEN parsed THEN its three '{}' with two arguments are refused;
        // the two-slot form evaluates through all nine nested calls
        let call = "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))";
        let input =
            json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/recipe/1.0.0"}});
        // The third '{}' has no argument, so the call is refused when it is parsed.
        assert!(Intrinsic::parse(call).is_err());
        let two = "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))";
        assert_eq!(eval(two, input), Ok(json!("1.0")));
    }

    // Escapes from the "Reserved characters" section of the same page.
    #[test]
    fn escapes() {
        // GIVEN every escape AWS defines WHEN formatted THEN each stands for its character; an open escape is refused
        assert_eq!(
            eval(r"States.Format('It\'s \{literal\} {} \\ end', 'x')", json!({})),
            Ok(json!(r"It's {literal} x \ end"))
        );
        assert!(matches!(Intrinsic::parse(r"States.Format('bad \n')"), Err(IntrinsicSyntaxError::Invalid(_))));
    }

    #[test]
    fn failures() {
        // GIVEN bad arities, types and values WHEN parsed or evaluated THEN syntax errors, IntrinsicFailure or path errors
        assert!(matches!(Intrinsic::parse("States.Nope(1)"), Err(IntrinsicSyntaxError::UnknownFunction(_))));
        assert!(matches!(Intrinsic::parse("States.MathAdd(1)"), Err(IntrinsicSyntaxError::Invalid(_))));
        assert!(matches!(Intrinsic::parse("States.UUID(1)"), Err(IntrinsicSyntaxError::Invalid(_))));
        assert!(matches!(eval("States.MathAdd(1.5, 1)", json!({})), Err(IntrinsicError::Failure(_))));
        assert!(matches!(eval("States.ArrayGetItem($.a, 3)", json!({"a": [1]})), Err(IntrinsicError::Failure(_))));
        assert!(matches!(eval("States.StringToJson($.s)", json!({"s": "{"})), Err(IntrinsicError::Failure(_))));
        assert!(matches!(eval("States.ArrayLength($.missing)", json!({})), Err(IntrinsicError::Path(_))));
        assert!(matches!(eval("States.Format('{}', $.o)", json!({"o": {}})), Err(IntrinsicError::Failure(_))));
        assert!(matches!(eval("States.JsonMerge($.a, $.a, true)", json!({"a": {}})), Err(IntrinsicError::Failure(_))));
        assert!(matches!(eval("States.ArrayRange(1, 5000, 1)", json!({})), Err(IntrinsicError::Failure(_))));
    }
}

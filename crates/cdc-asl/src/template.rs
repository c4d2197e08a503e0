//! Payload templates: `Parameters`, `ItemSelector` and `ResultSelector`.
//! A field whose name ends in `.$` takes its value from a path or an
//! intrinsic function; every other value is copied as written.

use rand::RngCore;
use serde_json::{Map, Value};

use crate::error::{DefinitionError, Location, StateError, names};
use crate::intrinsics::{Intrinsic, IntrinsicError, IntrinsicSyntaxError, looks_like_call};
use crate::path::{ContextSource, JsonPath};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    /// A subtree without any `.$` field, copied as is.
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path {
        field: String,
        path: JsonPath,
    },
    Intrinsic {
        field: String,
        call: Box<Intrinsic>,
    },
}

fn has_dynamic_field(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k.ends_with(".$") || has_dynamic_field(v)),
        Value::Array(items) => items.iter().any(has_dynamic_field),
        _ => false,
    }
}

impl Template {
    /// Compiles a template; `field` names it in errors (`Parameters`, `ResultSelector`).
    pub(crate) fn compile(value: &Value, at: &Location, field: &str) -> Result<Self, DefinitionError> {
        if !has_dynamic_field(value) {
            return Ok(Template::Literal(value.clone()));
        }
        match value {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (key, child) in map {
                    let child_field = format!("{field}.{key}");
                    let Some(name) = key.strip_suffix(".$") else {
                        fields.push((key.clone(), Template::compile(child, at, &child_field)?));
                        continue;
                    };
                    let Value::String(text) = child else {
                        return Err(DefinitionError::InvalidField {
                            at: at.clone(),
                            field: child_field,
                            message: "must be a string holding a path or an intrinsic function".to_string(),
                        });
                    };
                    fields.push((name.to_string(), Template::dynamic(text, at, &child_field, key)?));
                }
                Ok(Template::Object(fields))
            }
            Value::Array(items) => Ok(Template::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Template::compile(item, at, &format!("{field}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(Template::Literal(other.clone())),
        }
    }

    fn dynamic(text: &str, at: &Location, field: &str, key: &str) -> Result<Self, DefinitionError> {
        if looks_like_call(text) {
            return match Intrinsic::parse(text) {
                Ok(call) => Ok(Template::Intrinsic { field: key.to_string(), call: Box::new(call) }),
                Err(IntrinsicSyntaxError::UnknownFunction(function)) => {
                    Err(DefinitionError::UnknownIntrinsic { at: at.clone(), field: field.to_string(), function })
                }
                Err(IntrinsicSyntaxError::Invalid(message)) => {
                    Err(DefinitionError::InvalidIntrinsic { at: at.clone(), field: field.to_string(), message })
                }
            };
        }
        JsonPath::parse(text, true).map(|path| Template::Path { field: key.to_string(), path }).map_err(|e| {
            DefinitionError::InvalidPath {
                at: at.clone(),
                field: field.to_string(),
                path: text.to_string(),
                message: e.to_string(),
            }
        })
    }

    /// The value of a top-level field written literally in the template.
    pub(crate) fn static_field(&self, key: &str) -> Option<&Value> {
        match self {
            Template::Literal(Value::Object(map)) => map.get(key),
            Template::Object(fields) => fields.iter().find_map(|(k, t)| match t {
                Template::Literal(value) if k == key => Some(value),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Whether the template has a top-level field `key`, literal or `key.$`.
    pub(crate) fn has_field(&self, key: &str) -> bool {
        match self {
            Template::Literal(Value::Object(map)) => map.contains_key(key),
            Template::Object(fields) => fields.iter().any(|(k, _)| k == key),
            _ => false,
        }
    }

    /// Builds the payload from the state's data and the context object.
    pub(crate) fn render(
        &self,
        input: &Value,
        context: &dyn ContextSource,
        rng: &mut dyn RngCore,
    ) -> Result<Value, StateError> {
        match self {
            Template::Literal(value) => Ok(value.clone()),
            Template::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (key, template) in fields {
                    map.insert(key.clone(), template.render(input, context, rng)?);
                }
                Ok(Value::Object(map))
            }
            Template::Array(items) => {
                items.iter().map(|t| t.render(input, context, rng)).collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            Template::Path { field, path } => path.select(input, context).map_err(|_| path_failure(field, path, input)),
            Template::Intrinsic { field, call } => call.evaluate(input, context, rng).map_err(|e| match e {
                IntrinsicError::Path(e) => StateError::runtime(format!(
                    "An error occurred while evaluating the intrinsic function of the field '{field}': {e}"
                )),
                IntrinsicError::Failure(message) => StateError::new(
                    names::INTRINSIC_FAILURE,
                    format!("Invalid arguments in the intrinsic function of the field '{field}': {message}"),
                ),
            }),
        }
    }
}

/// The cause Step Functions gives when a `.$` path finds nothing.
fn path_failure(field: &str, path: &JsonPath, input: &Value) -> StateError {
    StateError::runtime(format!(
        "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
        crate::history::truncate(&input.to_string(), 2_000)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn render(template: Value, input: Value) -> Result<Value, StateError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        Template::compile(&template, &Location::top(), "Parameters").expect("valid template").render(
            &input,
            &json!({"Execution": {"Name": "exec"}}),
            &mut rng,
        )
    }

    // Example from https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
    #[test]
    fn parameters_key_value_pairs_from_the_docs() {
        // GIVEN the documented product input
        let input = json!({
            "comment": "Example for Parameters.",
            "product": {
                "details": {"color": "blue", "size": "small", "material": "cotton"},
                "availability": "in stock",
                "sku": "2317",
                "cost": "$23"
            }
        });
        // WHEN the documented Parameters are applied
        let template = json!({
            "comment": "Selecting what I care about.",
            "MyDetails": {
                "size.$": "$.product.details.size",
                "exists.$": "$.product.availability",
                "StaticValue": "foo"
            }
        });
        // THEN the documented payload is built
        assert_eq!(
            render(template, input),
            Ok(json!({
                "comment": "Selecting what I care about.",
                "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}
            }))
        );
    }

    #[test]
    fn arrays_context_and_intrinsics() {
        // GIVEN a template with an array, a context path and an intrinsic WHEN rendered THEN each is resolved
        let template =
            json!({"list": [{"v.$": "$.a"}, 2], "name.$": "$$.Execution.Name", "n.$": "States.MathAdd($.a, 1)"});
        assert_eq!(render(template, json!({"a": 1})), Ok(json!({"list": [{"v": 1}, 2], "name": "exec", "n": 2})));
    }

    #[test]
    fn missing_path_is_a_runtime_error_and_bad_templates_are_refused() {
        // GIVEN a path that finds nothing, and malformed templates
        // WHEN rendered or compiled THEN States.Runtime, and definition errors
        let Err(error) = render(json!({"x.$": "$.missing"}), json!({})) else { panic!("expected an error") };
        assert_eq!(error.error, names::RUNTIME);
        assert!(error.cause.unwrap_or_default().contains("'$.missing' specified for the field 'x.$'"));
        let at = Location::top().state("S");
        assert!(matches!(
            Template::compile(&json!({"x.$": 1}), &at, "Parameters"),
            Err(DefinitionError::InvalidField { .. })
        ));
        assert!(matches!(
            Template::compile(&json!({"x.$": "$.a["}), &at, "Parameters"),
            Err(DefinitionError::InvalidPath { .. })
        ));
        assert!(matches!(
            Template::compile(&json!({"x.$": "States.Frobnicate()"}), &at, "Parameters"),
            Err(DefinitionError::UnknownIntrinsic { .. })
        ));
    }
}

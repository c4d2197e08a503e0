//! In-process stand-ins for the Lambda functions (and other task resources)
//! a state machine calls.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

/// A failed task: the error name Step Functions reports and its cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError { error: error.into(), cause: cause.into() }
    }

    /// The error of a Lambda function that raised `error_type`: Step Functions
    /// names the error after the type, and the cause is the function's error
    /// payload as JSON text, `{"errorMessage":"...","errorType":"..."}`.
    pub fn lambda(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        let error_type = error_type.into();
        let cause = serde_json::json!({"errorMessage": error_message.into(), "errorType": error_type}).to_string();
        TaskError { error: error_type, cause }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for TaskError {}

/// Runs one task: the body of a Lambda function, or of another integration.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// `function_name` is the name the definition used (an ARN, a partial
    /// ARN or a plain name); `payload` is the event the function receives.
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, TaskError>;
}

struct FnHandler<F>(F);

#[async_trait]
impl<F, Fut> TaskHandler for FnHandler<F>
where
    F: Fn(String, Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, TaskError>> + Send,
{
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, TaskError> {
        (self.0)(function_name.to_string(), payload).await
    }
}

/// Wraps an async closure `(function_name, payload) -> Result<Value, TaskError>` as a handler.
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn TaskHandler>
where
    F: Fn(String, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

/// The handlers an executor dispatches to, keyed by function name or resource.
///
/// A Lambda function can be registered under its plain name, its full ARN
/// or a partial ARN; a call through any of these forms finds it. Other
/// integrations (`arn:aws:states:::sns:publish`, ...) are registered under
/// the exact `Resource` string.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn TaskHandler>>,
}

impl fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("HandlerRegistry").field("handlers", &names).finish()
    }
}

/// The function name inside a Lambda ARN or partial ARN, without a version or alias.
/// `arn:aws:lambda:eu-west-1:123:function:load:$LATEST` and `123:function:load` give `load`.
pub(crate) fn lambda_function_name(reference: &str) -> &str {
    let parts: Vec<&str> = reference.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => parts[i + 1],
        // "name:alias" has no "function" part: drop the qualifier.
        _ => parts.first().copied().unwrap_or(reference),
    }
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` under `name`, replacing any earlier one.
    pub fn register(&mut self, name: impl Into<String>, handler: Arc<dyn TaskHandler>) -> &mut Self {
        self.handlers.insert(name.into(), handler);
        self
    }

    /// Builder form of [`HandlerRegistry::register`].
    pub fn with(mut self, name: impl Into<String>, handler: Arc<dyn TaskHandler>) -> Self {
        self.register(name, handler);
        self
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// The handler of a Lambda function named any way Lambda accepts.
    pub fn lambda(&self, function_name: &str) -> Option<Arc<dyn TaskHandler>> {
        if let Some(handler) = self.handlers.get(function_name) {
            return Some(handler.clone());
        }
        let wanted = lambda_function_name(function_name);
        self.handlers.iter().find(|(name, _)| lambda_function_name(name) == wanted).map(|(_, h)| h.clone())
    }

    /// The handler registered under exactly this resource.
    pub fn resource(&self, resource: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers.get(resource).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lambda_error_cause_is_the_error_payload() {
        // GIVEN a Lambda errorType and message WHEN turned into a task error
        // THEN the error is the type and the cause the JSON error payload
        let error = TaskError::lambda("DataError", "bad row 7");
        assert_eq!(error.error, "DataError");
        assert_eq!(error.cause, r#"{"errorMessage":"bad row 7","errorType":"DataError"}"#);
        let parsed: Value = serde_json::from_str(&error.cause).expect("cause is JSON");
        assert_eq!(parsed, json!({"errorMessage": "bad row 7", "errorType": "DataError"}));
    }

    #[test]
    fn function_names_resolve_in_every_form() {
        // GIVEN a function named by ARN, partial ARN, alias or name WHEN resolved THEN the bare name
        assert_eq!(
            lambda_function_name("arn:aws:lambda:us-east-2:111122223333:function:check-identity:$LATEST"),
            "check-identity"
        );
        assert_eq!(lambda_function_name("123456789012:function:load"), "load");
        assert_eq!(lambda_function_name("load:prod"), "load");
        assert_eq!(lambda_function_name("load"), "load");
    }

    #[tokio::test]
    async fn registry_finds_handlers_by_any_name() {
        // GIVEN a handler registered as "load" WHEN looked up by ARN THEN it is found and called
        let registry = HandlerRegistry::new()
            .with("load", handler_fn(|name, payload| async move { Ok(json!({"name": name, "in": payload})) }));
        let handler = registry.lambda("arn:aws:lambda:eu-west-1:000000000000:function:load").expect("found by ARN");
        assert_eq!(handler.invoke("x", json!(1)).await, Ok(json!({"name": "x", "in": 1})));
        assert!(registry.lambda("unload").is_none());
        assert!(registry.resource("load").is_some());
        assert_eq!(format!("{registry:?}"), "HandlerRegistry { handlers: [\"load\"] }");
    }
}

//! Request validation as API Gateway does it for WebSocket routes: a route's model
//! selection expression picks one of its `RequestModels` (else the `$default` one), and a
//! message that does not match that model's JSON Schema (draft 4) is refused with API
//! Gateway's "Bad request body" response, without invoking the integration.
//!
//! The schemas are compiled once, when the app is read, with the `jsonschema` crate.

use super::model::select_route;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `message` of API Gateway's `BAD_REQUEST_BODY` gateway response, which a WebSocket
/// client receives (with its connection and request IDs) when a message fails its model.
pub const INVALID_BODY: &str = "Invalid request body";

/// How many of a message's schema violations a log line names.
const SHOWN_VIOLATIONS: usize = 3;

/// A route's request validation: its model selection expression and its models,
/// compiled.
#[derive(Debug, Clone)]
pub struct RouteModels {
    /// `Route.ModelSelectionExpression`.
    pub expression: String,
    /// By selection key (`$default` among them, usually).
    pub models: BTreeMap<String, Model>,
}

/// A model's name and its compiled schema.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub schema: Arc<jsonschema::Validator>,
}

/// A schema API Gateway would not accept as a model (and `wsgen dev` cannot compile).
#[derive(Debug)]
pub struct Unusable {
    pub message: String,
}

impl Model {
    /// Compiles a model's schema as JSON Schema draft 4, the dialect of API Gateway's
    /// models. References are resolved within the schema only (nothing is fetched).
    pub fn compile(name: &str, schema: &Value) -> Result<Model, Unusable> {
        let schema = jsonschema::draft4::new(schema).map_err(|e| Unusable {
            message: format!("{e} (at {})", pointer(e.instance_path().as_str())),
        })?;
        Ok(Model {
            name: name.to_string(),
            schema: Arc::new(schema),
        })
    }
}

impl RouteModels {
    /// Checks a message as API Gateway does before the integration: `Err` carries what
    /// is wrong with it, for the log (the client gets [`INVALID_BODY`] only).
    pub fn check(&self, body: &str, binary: bool) -> Result<(), String> {
        let key = if binary {
            None
        } else {
            select_route(&self.expression, body)
        };
        let Some(model) = key
            .as_deref()
            .and_then(|k| self.models.get(k))
            .or_else(|| self.models.get("$default"))
        else {
            return Err(format!(
                "no request model for the selection key {} and no $default model",
                key.as_deref().unwrap_or("(none)")
            ));
        };
        if binary {
            return Err(format!(
                "a binary frame cannot match model {} (a JSON Schema)",
                model.name
            ));
        }
        let message: Value = serde_json::from_str(body).map_err(|e| {
            format!(
                "the message is not JSON ({e}), so it cannot match model {}",
                model.name
            )
        })?;
        // Most messages match: the validator's boolean check is its fast path, and the
        // violations are collected only for a message that fails.
        if model.schema.is_valid(&message) {
            return Ok(());
        }
        let all: Vec<String> = model
            .schema
            .iter_errors(&message)
            .map(|v| format!("{} ({})", v, pointer(v.instance_path().as_str())))
            .collect();
        let more = all.len().saturating_sub(SHOWN_VIOLATIONS);
        let mut shown = all
            .into_iter()
            .take(SHOWN_VIOLATIONS)
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            shown.push_str(&format!("; and {more} more"));
        }
        Err(format!(
            "the message does not match model {}: {shown}",
            model.name
        ))
    }
}

/// A JSON pointer, `/` for the whole document.
fn pointer(p: &str) -> &str {
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat() -> RouteModels {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "object",
            "required": ["action", "data"],
            "properties": {
                "action": {"type": "string"},
                "data": {"type": "string", "maxLength": 5}
            }
        });
        RouteModels {
            expression: "$request.body.action".into(),
            models: BTreeMap::from([("$default".into(), Model::compile("Chat", &schema).unwrap())]),
        }
    }

    #[test]
    fn a_matching_message_passes() {
        assert_eq!(
            chat().check(r#"{"action":"send","data":"hi"}"#, false),
            Ok(())
        );
    }

    #[test]
    fn a_message_without_a_required_field_is_refused_with_the_reason() {
        let why = chat().check(r#"{"action":"send"}"#, false).unwrap_err();
        assert!(why.contains("model Chat"), "{why}");
        assert!(why.contains("\"data\" is a required property"), "{why}");
        let why = chat()
            .check(r#"{"action":"send","data":"toolong"}"#, false)
            .unwrap_err();
        assert!(why.contains("(/data)"), "{why}");
    }

    #[test]
    fn not_json_and_binary_frames_are_refused() {
        assert!(chat()
            .check("hello", false)
            .unwrap_err()
            .contains("not JSON"));
        assert!(chat().check("aGk=", true).unwrap_err().contains("binary"));
    }

    #[test]
    fn the_selection_key_picks_the_model_else_default_else_refuses() {
        let strict = json!({"type": "object", "required": ["n"]});
        let mut models = chat();
        models
            .models
            .insert("count".into(), Model::compile("Count", &strict).unwrap());
        assert_eq!(models.check(r#"{"action":"count","n":1}"#, false), Ok(()));
        assert!(models
            .check(r#"{"action":"count","data":"x"}"#, false)
            .unwrap_err()
            .contains("model Count"));
        models.models.remove("$default");
        let why = models
            .check(r#"{"action":"send","data":"x"}"#, false)
            .unwrap_err();
        assert!(why.contains("no $default model"), "{why}");
    }

    #[test]
    fn a_schema_draft_4_cannot_compile_is_unusable() {
        let bad = json!({"type": "object", "properties": {"a": {"pattern": "("}}});
        let e = Model::compile("Bad", &bad).unwrap_err();
        assert!(e.message.contains("/properties/a/pattern"), "{}", e.message);
    }
}

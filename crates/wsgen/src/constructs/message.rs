//! The typed message contract: a route's message as a Rust type deriving
//! `schemars::JsonSchema` (and serde's traits, for the handlers), turned into the API
//! Gateway model that validates the route's messages at the edge. API Gateway models are
//! JSON Schema draft 4; schemars writes draft 7, so the schema is converted, and what
//! draft 4 cannot express is a validation problem naming the keyword and where it is.

use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The meta-schema API Gateway models declare.
pub const DRAFT_4: &str = "http://json-schema.org/draft-04/schema#";

/// Draft 6+ keywords with a meaning draft 4 has no way to say: a schema using one
/// cannot become a model.
const NOT_IN_DRAFT_4: &[&str] = &[
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "dependentRequired",
    "dependentSchemas",
    "prefixItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "minContains",
    "maxContains",
    "$dynamicRef",
    "$recursiveRef",
];

/// Annotations of later drafts, without effect on validation: left out.
const LATER_ANNOTATIONS: &[&str] = &[
    "$comment",
    "examples",
    "readOnly",
    "writeOnly",
    "deprecated",
    "contentEncoding",
    "contentMediaType",
    "$id",
    "$anchor",
];

/// The formats draft 4 defines; schemars' others (`uint32`, `double`, ...) only
/// annotate, and its bounds (`minimum`, `maximum`) carry their meaning.
const DRAFT_4_FORMATS: &[&str] = &["date-time", "email", "hostname", "ipv4", "ipv6", "uri"];

/// A message type as an API Gateway model.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageModel {
    /// The model's name: the type's schema name, letters and digits only (API Gateway
    /// model names are alphanumeric), e.g. `SendMessage`.
    pub name: String,
    /// The type, for messages (`crate::module::SendMessage`).
    pub type_name: String,
    /// The draft-4 schema, or what draft 4 cannot express (each `where: what`).
    pub schema: Result<Value, Vec<String>>,
}

impl MessageModel {
    /// The model of `T`: its schema with every subschema inlined (recursive types keep
    /// `#/definitions/...` references, which draft 4 has), converted to draft 4.
    pub fn of<T: JsonSchema>() -> MessageModel {
        let generator = schemars::generate::SchemaSettings::draft07()
            .with(|s| s.inline_subschemas = true)
            .into_generator();
        let schema = generator.into_root_schema_for::<T>();
        MessageModel {
            name: T::schema_name()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect(),
            type_name: std::any::type_name::<T>().to_string(),
            schema: to_draft4(schema.to_value()),
        }
    }
}

/// `schema` (draft 7, as schemars writes it) in draft 4: `$schema` set to draft 4,
/// `const` as a one-value `enum`, numeric `exclusiveMinimum`/`exclusiveMaximum` as
/// draft 4's boolean flags beside `minimum`/`maximum`, boolean schemas as `{}` and
/// `{"not": {}}`, later annotations and unknown formats left out; keywords draft 4
/// cannot express are returned as problems (`/properties/x: \`if\``).
pub fn to_draft4(schema: Value) -> Result<Value, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = convert(schema, "", &mut problems);
    if let Value::Object(m) = &mut out {
        let mut with_meta = Map::new();
        with_meta.insert("$schema".into(), Value::String(DRAFT_4.into()));
        with_meta.extend(std::mem::take(m));
        *m = with_meta;
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        problems.sort();
        Err(problems)
    }
}

/// One subschema at `at` (a JSON pointer).
fn convert(schema: Value, at: &str, problems: &mut Vec<String>) -> Value {
    let mut m = match schema {
        Value::Bool(true) => return Value::Object(Map::new()),
        Value::Bool(false) => {
            let mut not = Map::new();
            not.insert("not".into(), Value::Object(Map::new()));
            return Value::Object(not);
        }
        Value::Object(m) => m,
        other => return other,
    };
    let place = if at.is_empty() { "/" } else { at };
    let mut out = Map::new();
    for (key, value) in std::mem::take(&mut m) {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "$schema" => {}
            k if LATER_ANNOTATIONS.contains(&k) => {}
            k if NOT_IN_DRAFT_4.contains(&k) => problems.push(format!("{place}: `{k}`")),
            "const" => {
                out.insert("enum".into(), Value::Array(vec![value]));
            }
            "exclusiveMinimum" | "exclusiveMaximum" if value.is_number() => {
                let bound = if key == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                out.insert(bound.into(), value);
                out.insert(key, Value::Bool(true));
            }
            "format" => {
                if value.as_str().is_some_and(|f| DRAFT_4_FORMATS.contains(&f)) {
                    out.insert(key, value);
                }
            }
            // A map of subschemas by name.
            "properties" | "patternProperties" | "definitions" | "$defs" => {
                let key = if key == "$defs" {
                    "definitions".to_string()
                } else {
                    key
                };
                let inner = match value {
                    Value::Object(props) => Value::Object(
                        props
                            .into_iter()
                            .map(|(name, s)| {
                                let s = convert(s, &format!("{here}/{name}"), problems);
                                (name, s)
                            })
                            .collect(),
                    ),
                    other => other,
                };
                out.insert(key, inner);
            }
            // One subschema, or (items, the combinators) a list of them.
            "items"
            | "additionalItems"
            | "additionalProperties"
            | "not"
            | "allOf"
            | "anyOf"
            | "oneOf" => {
                let inner = match value {
                    Value::Array(list) => Value::Array(
                        list.into_iter()
                            .enumerate()
                            .map(|(i, s)| convert(s, &format!("{here}/{i}"), problems))
                            .collect(),
                    ),
                    Value::Bool(b) if key == "additionalProperties" || key == "additionalItems" => {
                        Value::Bool(b)
                    }
                    other => convert(other, &here, problems),
                };
                out.insert(key, inner);
            }
            "$ref" => {
                let target = value.as_str().unwrap_or_default();
                if let Some(name) = target
                    .strip_prefix("#/definitions/")
                    .or_else(|| target.strip_prefix("#/$defs/"))
                {
                    out.insert(key, Value::String(format!("#/definitions/{name}")));
                } else if target == "#" {
                    out.insert(key, value);
                } else {
                    problems.push(format!("{place}: `$ref` to {target}"));
                }
            }
            _ => {
                out.insert(key, value);
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    #[schemars(crate = "schemars")]
    struct SendMessage {
        /// The route.
        action: String,
        data: String,
        room: Option<String>,
        #[schemars(range(min = 1, max = 10))]
        priority: u8,
    }

    #[test]
    fn a_struct_becomes_a_draft_4_model() {
        let model = MessageModel::of::<SendMessage>();
        assert_eq!(model.name, "SendMessage");
        assert!(
            model.type_name.ends_with("SendMessage"),
            "{}",
            model.type_name
        );
        let schema = model.schema.unwrap();
        assert_eq!(schema["$schema"], DRAFT_4);
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["action", "data", "priority"]));
        assert_eq!(schema["properties"]["data"], json!({"type": "string"}));
        assert_eq!(
            schema["properties"]["room"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(schema["properties"]["priority"]["minimum"], 1);
        assert_eq!(schema["properties"]["priority"]["maximum"], 10);
        assert!(schema["properties"]["priority"].get("format").is_none());
    }

    #[test]
    fn later_keywords_are_rewritten_or_refused() {
        let converted = to_draft4(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "kind": {"const": "chat", "examples": ["chat"]},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "any": true,
                "none": false,
                "when": {"type": "string", "format": "date-time"}
            },
            "additionalProperties": false
        }))
        .unwrap();
        assert_eq!(
            converted,
            json!({
                "$schema": DRAFT_4,
                "type": "object",
                "properties": {
                    "kind": {"enum": ["chat"]},
                    "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true},
                    "any": {},
                    "none": {"not": {}},
                    "when": {"type": "string", "format": "date-time"}
                },
                "additionalProperties": false
            })
        );
        let refused = to_draft4(json!({
            "type": "object",
            "properties": {"tags": {"type": "array", "contains": {"const": "x"}}},
            "if": {"required": ["a"]},
            "then": {"required": ["b"]}
        }))
        .unwrap_err();
        assert_eq!(
            refused,
            ["/: `if`", "/: `then`", "/properties/tags: `contains`"]
        );
    }
}

//! The AsyncAPI 3.0 document of a stack: what a client of its WebSocket APIs needs to
//! know, written by `wsgen synth` beside the template as `<Stack>.asyncapi.yaml`.
//!
//! It is read from the synthesized template (as `wsgen dev` reads it), so it describes
//! exactly what would be deployed:
//! - a server per stage (`wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}`, the
//!   two variables known once deployed; `wsgen dev` serves the same paths on
//!   `ws://127.0.0.1:PORT`);
//! - a channel per API, with `$connect`'s query and header parameters (its
//!   authorizer's identity sources) as the WebSocket binding;
//! - an operation per route key (`$connect` and `$disconnect` are not messages), the
//!   API receiving the client's message, with a reply for two-way routes;
//! - an operation per message type the app pushes (`WebSocketApi::pushes`), the API
//!   sending it (`push.<Name>`);
//! - a message per model (a route's or a push's message type) with its JSON Schema, and
//!   for routes without one, what the route selection expression requires of the
//!   message.
//!
//! The models' schemas are draft 4 (API Gateway's dialect); the document carries them
//! in the AsyncAPI schema format (draft 7's superset): numeric exclusive bounds become
//! numbers again, and references point into the document.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use wsgen::cfn::resources::{self, ResourceKind};
use wsgen::cfn::{Expr, Template};
use wsgen::PUSHED;

/// The AsyncAPI version of the documents.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The document's file name in the assembly directory.
pub fn file_name(stack: &str) -> String {
    format!("{stack}.asyncapi.yaml")
}

/// The WebSocket binding's version (AsyncAPI's bindings repository).
const WS_BINDING_VERSION: &str = "0.1.0";

/// A WebSocket API of a template with what describes its messages (the AsyncAPI
/// document and `wsgen client` read it).
pub struct WebSocketApi<'a> {
    /// Its logical id.
    pub id: &'a str,
    pub props: &'a resources::Api,
    /// Its stages' names, sorted.
    pub stages: Vec<&'a str>,
    /// By route key: the route's logical id and properties.
    pub routes: BTreeMap<&'a str, (&'a str, &'a resources::Route)>,
    /// Its models by name.
    pub models: BTreeMap<&'a str, &'a resources::Model>,
    /// The route responses of its two-way routes, by the route's logical id.
    pub responses: BTreeMap<&'a str, &'a resources::RouteResponse>,
    /// The models of the messages the app pushes to its connections (marked
    /// [`PUSHED`]), by name.
    pub pushes: BTreeMap<&'a str, &'a resources::Model>,
}

impl WebSocketApi<'_> {
    /// The route selection expression (API Gateway's default when the template has none).
    pub fn selection(&self) -> &str {
        self.props
            .route_selection_expression
            .as_deref()
            .unwrap_or("$request.body.action")
    }

    /// The models a route's messages are validated with (none without a model
    /// selection expression, as on API Gateway).
    pub fn route_models(&self, route: &resources::Route) -> Vec<&resources::Model> {
        if route.model_selection_expression.is_none() {
            return Vec::new();
        }
        route
            .request_models
            .values()
            .filter_map(|name| self.models.get(name.as_str()).copied())
            .collect()
    }

    /// Whether the route (by logical id) sends the integration's response back.
    pub fn two_way(&self, route_id: &str) -> bool {
        self.responses.contains_key(route_id)
    }

    /// The model of a two-way route's response (by the route's logical id).
    pub fn response_model(&self, route_id: &str) -> Option<&resources::Model> {
        let response = self.responses.get(route_id)?;
        response.model_selection_expression.as_ref()?;
        let name = response.response_models.get("$default")?;
        self.models.get(name.as_str()).copied()
    }
}

/// The path into the message that a selection expression reads: `action` for
/// `$request.body.action` or `${request.body.action}`, `a.b` for `$request.body.a.b`,
/// the empty path (the whole message) for `$request.body`; `None` when it reads no part
/// of the body (a literal such as `\$default`). `wsgen dev`'s routing, the AsyncAPI
/// document and `wsgen client` all read expressions through it.
pub fn body_path(selection: &str) -> Option<&str> {
    let variable = selection
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
        .or_else(|| selection.strip_prefix('$'))?;
    match variable.strip_prefix("request.body")? {
        "" => Some(""),
        rest => rest.strip_prefix('.'),
    }
}

fn reference(e: &Expr) -> Option<&str> {
    match e {
        Expr::Ref(id) | Expr::GetAtt(id, _) => Some(id.as_str()),
        _ => None,
    }
}

/// The template's WebSocket APIs, in logical id order.
pub fn websocket_apis(template: &Template) -> Vec<WebSocketApi<'_>> {
    let mut apis: Vec<WebSocketApi> = template
        .resources
        .iter()
        .filter_map(|(id, r)| match &r.kind {
            ResourceKind::Api(p) if p.protocol_type == "WEBSOCKET" => Some(WebSocketApi {
                id,
                props: p,
                stages: Vec::new(),
                routes: BTreeMap::new(),
                models: BTreeMap::new(),
                responses: BTreeMap::new(),
                pushes: BTreeMap::new(),
            }),
            _ => None,
        })
        .collect();
    let responses: BTreeMap<&str, &resources::RouteResponse> = template
        .resources
        .values()
        .filter_map(|r| match &r.kind {
            ResourceKind::RouteResponse(p) => Some((reference(&p.route_id)?, p.as_ref())),
            _ => None,
        })
        .collect();
    for (id, r) in &template.resources {
        let (api, kind) = match &r.kind {
            ResourceKind::Stage(p) => (&p.api_id, &r.kind),
            ResourceKind::Model(p) => (&p.api_id, &r.kind),
            ResourceKind::Route(p) => (&p.api_id, &r.kind),
            _ => continue,
        };
        let Some(api) = apis.iter_mut().find(|a| reference(api) == Some(a.id)) else {
            continue;
        };
        match kind {
            ResourceKind::Stage(p) => api.stages.push(&p.stage_name),
            ResourceKind::Model(p) => {
                api.models.insert(&p.name, p);
                if r.metadata.get(PUSHED) == Some(&Value::Bool(true)) {
                    api.pushes.insert(&p.name, p);
                }
            }
            ResourceKind::Route(p) => {
                api.routes.insert(&p.route_key, (id, p));
                if let Some(response) = responses.get(id.as_str()) {
                    api.responses.insert(id, response);
                }
            }
            _ => {}
        }
    }
    for api in &mut apis {
        api.stages.sort();
    }
    apis
}

/// A key AsyncAPI accepts for a component, operation, channel or server
/// (`^[A-Za-z0-9.\-_]+$`): other characters become `_` (`$default` is `_default`).
fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The document, or `None` when the stack has no WebSocket API.
pub fn document(stack: &str, template: &Template) -> Option<Value> {
    let apis = websocket_apis(template);
    if apis.is_empty() {
        return None;
    }
    let one_api = apis.len() == 1;
    let scoped = |api: &str, name: &str| {
        if one_api {
            key(name)
        } else {
            format!("{}.{}", key(api), key(name))
        }
    };
    let (mut servers, mut channels, mut operations) = (Map::new(), Map::new(), Map::new());
    let mut components = Components::default();
    for api in &apis {
        let mut channel_servers = Vec::new();
        for stage in &api.stages {
            let deployed = scoped(api.id, stage);
            servers.insert(
                deployed.clone(),
                json!({
                    "host": "{apiId}.execute-api.{region}.amazonaws.com",
                    "pathname": format!("/{stage}"),
                    "protocol": "wss",
                    "title": format!("{} stage {stage}", api.id),
                    "variables": {
                        "apiId": {"description": format!("The ID of API {} once deployed (`wsgen deploy` prints the stage's URL)", api.id)},
                        "region": {"description": "The region the stack is deployed in"},
                    },
                }),
            );
            channel_servers.push(json!({"$ref": format!("#/servers/{deployed}")}));
        }
        let selection = api.selection();
        let channel = key(api.id);
        let channel_ref = json!({"$ref": format!("#/channels/{channel}")});
        let mut channel_messages = Map::new();
        let mut description = match &api.props.description {
            Some(d) => format!("{d}\n\n"),
            None => String::new(),
        };
        description.push_str(&format!(
            "API Gateway routes each message by `{selection}`; a message no route matches goes to `$default`, or is refused when there is none."
        ));
        let mut binding = Map::new();
        for (route_key, (id, route)) in &api.routes {
            let route_key = *route_key;
            if route_key == "$connect" {
                connect_binding(template, route, &mut binding, &mut description);
                continue;
            }
            if route_key == "$disconnect" {
                continue;
            }
            let mut refs = Vec::new();
            let models = api.route_models(route);
            let mut add = |model: &resources::Model| {
                components.add(
                    scoped(api.id, &model.name),
                    model,
                    &channel,
                    &mut channel_messages,
                )
            };
            for model in &models {
                refs.push(add(model));
            }
            let reply = api.response_model(id).map(&mut add);
            if refs.is_empty() {
                let component = scoped(api.id, &format!("{route_key}.message"));
                components
                    .messages
                    .insert(component.clone(), untyped_message(route_key, selection));
                refs.push(channel_reference(
                    &component,
                    &channel,
                    &mut channel_messages,
                ));
            }
            let mut operation = json!({
                "action": "receive",
                "channel": channel_ref,
                "title": route_key,
                "summary": if models.is_empty() {
                    format!("Route `{route_key}`: its messages are not validated")
                } else {
                    format!("Route `{route_key}`: API Gateway refuses a message that does not match its model (\"Invalid request body\") without invoking the integration")
                },
                "messages": refs,
            });
            if api.two_way(id) {
                operation["reply"] = match reply {
                    Some(message) => json!({"channel": channel_ref, "messages": [message]}),
                    None => json!({"channel": channel_ref}),
                };
                operation["description"] =
                    json!("Two-way: the integration's response is sent back to the client.");
            }
            operations.insert(scoped(api.id, route_key), operation);
        }
        for (name, model) in &api.pushes {
            let message =
                components.add(scoped(api.id, name), model, &channel, &mut channel_messages);
            operations.insert(
                scoped(api.id, &format!("push.{name}")),
                json!({
                    "action": "send",
                    "channel": channel_ref,
                    "title": format!("{name} (pushed)"),
                    "summary": format!("The app posts `{name}` to its connections (the @connections API); API Gateway does not check it against the type"),
                    "messages": [message],
                }),
            );
        }
        if !binding.is_empty() {
            binding.insert("method".into(), json!("GET"));
            binding.insert("bindingVersion".into(), json!(WS_BINDING_VERSION));
        }
        let mut channel_doc = json!({
            "address": "/",
            "title": match &api.props.name {
                Expr::Str(s) => s.clone(),
                _ => api.id.to_string(),
            },
            "description": description,
            "servers": channel_servers,
            "messages": channel_messages,
        });
        if !binding.is_empty() {
            channel_doc["bindings"] = json!({"ws": binding});
        }
        channels.insert(channel, channel_doc);
    }

    let contract = json!({"channels": channels, "operations": operations, "components": {"messages": components.messages, "schemas": components.schemas}});
    let digest = Sha256::digest(contract.to_string().as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let mut info = json!({
        "title": stack,
        // Not a release number: the contract's fingerprint, which changes with any
        // route, message or schema.
        "version": format!("0.0.0+{hex}"),
    });
    if let Some(d) = &template.description {
        info["description"] = json!(d);
    }
    let mut doc = json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": "application/json",
        "servers": servers,
    });
    if let Value::Object(c) = contract {
        doc.as_object_mut().expect("an object").extend(c);
    }
    Some(doc)
}

/// The document's message and schema components, which the operations of every API
/// refer to.
#[derive(Default)]
struct Components {
    messages: Map<String, Value>,
    schemas: Map<String, Value>,
}

impl Components {
    /// A model's message and schema components (once), and its [`channel_reference`].
    fn add(
        &mut self,
        component: String,
        model: &resources::Model,
        channel: &str,
        channel_messages: &mut Map<String, Value>,
    ) -> Value {
        if !self.messages.contains_key(&component) {
            self.schemas.insert(
                component.clone(),
                schema(&model.schema, &format!("#/components/schemas/{component}")),
            );
            let mut message = json!({
                "name": model.name,
                "contentType": "application/json",
                "payload": {"$ref": format!("#/components/schemas/{component}")},
            });
            if let Some(d) = &model.description {
                message["summary"] = json!(d);
            }
            self.messages.insert(component.clone(), message);
        }
        channel_reference(&component, channel, channel_messages)
    }
}

/// The channel's reference to a message component, and the reference operations make
/// through the channel, which this returns.
fn channel_reference(
    component: &str,
    channel: &str,
    channel_messages: &mut Map<String, Value>,
) -> Value {
    channel_messages.insert(
        component.to_string(),
        json!({"$ref": format!("#/components/messages/{component}")}),
    );
    json!({"$ref": format!("#/channels/{channel}/messages/{component}")})
}

/// `$connect`'s parameters (its authorizer's identity sources) as the channel's WebSocket
/// binding, and its authorization in the channel's description.
fn connect_binding(
    template: &Template,
    route: &resources::Route,
    binding: &mut Map<String, Value>,
    description: &mut String,
) {
    match route.authorization_type.as_deref() {
        Some("AWS_IAM") => description.push_str(
            "\n\nConnecting needs IAM authorization: the handshake is signed with SigV4 (`wsgen connect --sign`).",
        ),
        Some("CUSTOM") => {
            let authorizer = route
                .authorizer_id
                .as_ref()
                .and_then(reference)
                .and_then(|id| template.resources.get(id))
                .map(|r| &r.kind);
            if let Some(ResourceKind::Authorizer(a)) = authorizer {
                let (mut query, mut headers) = (Vec::new(), Vec::new());
                for source in &a.identity_source {
                    if let Some(q) = source.strip_prefix("route.request.querystring.") {
                        query.push(q.to_string());
                    } else if let Some(h) = source.strip_prefix("route.request.header.") {
                        headers.push(h.to_string());
                    }
                }
                for (name, list) in [("query", query), ("headers", headers)] {
                    if !list.is_empty() {
                        let properties: Map<String, Value> = list
                            .iter()
                            .map(|p| (p.clone(), json!({"type": "string"})))
                            .collect();
                        binding.insert(
                            name.into(),
                            json!({"type": "object", "properties": properties, "required": list}),
                        );
                    }
                }
                description.push_str(&format!(
                    "\n\nConnecting is authorized by Lambda authorizer {}: a handshake without its identity sources is refused with 401, a denied one with 403.",
                    a.name
                ));
            }
        }
        _ => {}
    }
}

/// The message of a route without a model: what the route selection expression
/// requires of it (`{"action": "<route key>"}` for `$request.body.action`).
fn untyped_message(route_key: &str, selection: &str) -> Value {
    let payload = match body_path(selection) {
        Some(path) if route_key != "$default" && !path.is_empty() => {
            // `a.b` requires {"a": {"b": key}}.
            let mut schema = json!({"const": route_key});
            for part in path.rsplit('.') {
                schema =
                    json!({"type": "object", "properties": {part: schema}, "required": [part]});
            }
            schema
        }
        _ => json!({}),
    };
    json!({
        "name": route_key,
        "summary": if route_key == "$default" {
            "Any message no other route takes".to_string()
        } else {
            format!("A message routed to `{route_key}`")
        },
        "payload": payload,
    })
}

/// A model's draft 4 schema in the AsyncAPI schema format: without `$schema`, numeric
/// exclusive bounds, and `#/definitions/...` references pointing at `at` (where the
/// schema sits in the document).
fn schema(draft4: &Value, at: &str) -> Value {
    let Value::Object(o) = draft4 else {
        return draft4.clone();
    };
    let mut out = Map::new();
    for (k, v) in o {
        let v = match k.as_str() {
            "$schema" => continue,
            "$ref" => match v.as_str().and_then(|r| r.strip_prefix('#')) {
                Some(pointer) => json!(format!("{at}{pointer}")),
                None => v.clone(),
            },
            // Maps of schemas.
            "properties" | "patternProperties" | "definitions" | "dependencies" => match v {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .map(|(name, s)| (name.clone(), schema(s, at)))
                        .collect(),
                ),
                other => other.clone(),
            },
            // A schema, or a list of them.
            "items"
            | "additionalItems"
            | "additionalProperties"
            | "not"
            | "allOf"
            | "anyOf"
            | "oneOf" => match v {
                Value::Array(list) => list.iter().map(|s| schema(s, at)).collect(),
                other => schema(other, at),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(exclusive)) = out.get(flag).cloned() {
            out.remove(flag);
            if exclusive {
                if let Some(n) = out.remove(bound) {
                    out.insert(flag.into(), n);
                }
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_4_schemas_become_asyncapi_schemas() {
        let draft4 = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "object",
            "properties": {
                "n": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false},
                "next": {"$ref": "#/definitions/Node"},
                "minimum": {"type": "string"}
            },
            "definitions": {"Node": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}
        });
        assert_eq!(
            schema(&draft4, "#/components/schemas/Tree"),
            json!({
                "type": "object",
                "properties": {
                    "n": {"type": "number", "exclusiveMinimum": 0, "maximum": 9},
                    "next": {"$ref": "#/components/schemas/Tree/definitions/Node"},
                    "minimum": {"type": "string"}
                },
                "definitions": {"Node": {"type": "array", "items": {"$ref": "#/components/schemas/Tree/definitions/Node"}}}
            })
        );
    }

    #[test]
    fn selection_expressions_read_a_path_of_the_body() {
        assert_eq!(body_path("$request.body.action"), Some("action"));
        assert_eq!(
            body_path("${request.body.meta.action}"),
            Some("meta.action")
        );
        assert_eq!(body_path("$request.body"), Some(""));
        assert_eq!(body_path("\\$default"), None);
        assert_eq!(body_path("$request.bodyguard"), None);
    }

    #[test]
    fn untyped_routes_require_their_route_key() {
        assert_eq!(
            untyped_message("join", "${request.body.meta.action}")["payload"],
            json!({"type": "object", "required": ["meta"], "properties": {"meta": {
                "type": "object", "required": ["action"], "properties": {"action": {"const": "join"}}}}})
        );
        assert_eq!(
            untyped_message("$default", "$request.body.action")["payload"],
            json!({})
        );
        assert_eq!(key("$default"), "_default");
    }
}

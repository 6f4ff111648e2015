//! What `wsgen dev` serves, read from the synthesized template (not from the DSL), so
//! that what runs locally is what would be deployed: WebSocket APIs with their route
//! selection, routes and their Lambda integrations, stages, functions with their
//! environment resolved to local values, tables, schedules and stream subscriptions.

use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use wsgen::cfn::resources::{self, ResourceKind};
use wsgen::cfn::{Expr, Pseudo, Resolve, Resource, Template};
use wsgen::schedule::Expression;

use super::messages::{Model, RouteModels};
use crate::error::DevError;

/// The region the local app pretends to run in.
pub const LOCAL_REGION: &str = "us-east-1";
/// The account the local app pretends to run in.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// API Gateway's integration timeout when the template sets none.
pub const DEFAULT_INTEGRATION_TIMEOUT_MS: u64 = 29_000;

#[derive(Debug, Clone)]
pub struct DevApp {
    pub apis: BTreeMap<String, DevApi>,
    pub functions: BTreeMap<String, DevFunction>,
    pub tables: BTreeMap<String, DevTable>,
    pub schedules: Vec<DevSchedule>,
    pub subscriptions: Vec<DevSubscription>,
}

/// An `AWS::Lambda::EventSourceMapping` of a table's stream: a function run on
/// batches of the table's changes.
#[derive(Debug, Clone, PartialEq)]
pub struct DevSubscription {
    /// The mapping's logical id.
    pub mapping: String,
    /// The table's local name.
    pub table: String,
    /// The function's logical id.
    pub function: String,
    pub batch_size: usize,
    /// Start from the oldest record (`TRIM_HORIZON`) rather than the next (`LATEST`).
    pub trim_horizon: bool,
    /// `MaximumBatchingWindowInSeconds`.
    pub window: std::time::Duration,
    /// `MaximumRetryAttempts`; none (or -1) retries until the records expire.
    pub retry_attempts: Option<u32>,
}

/// An `AWS::Events::Rule` with a schedule that targets a function.
#[derive(Debug, Clone)]
pub struct DevSchedule {
    /// The rule's logical id.
    pub rule: String,
    pub expression: String,
    /// The expression parsed (`None` when it is not one wsgen could synthesize).
    pub parsed: Option<Expression>,
    /// The target function's logical id.
    pub function: String,
    /// The target's `Input` (the event), when it sets one.
    pub input: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DevApi {
    pub logical_id: String,
    /// The local API id (`apiId` in events).
    pub id: String,
    pub route_selection: String,
    pub routes: BTreeMap<String, DevRoute>,
    pub stages: Vec<String>,
    /// Each stage's throttling settings (`DefaultRouteSettings`, `RouteSettings`).
    pub throttling: BTreeMap<String, StageThrottling>,
}

/// A stage's throttling: the default for its routes, and per route key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageThrottling {
    pub default: Limits,
    pub routes: BTreeMap<String, Limits>,
}

/// `ThrottlingRateLimit` and `ThrottlingBurstLimit` as a stage or route sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub rate: Option<f64>,
    pub burst: Option<u32>,
}

/// The limits a route is throttled with: steady requests per second and the bucket's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: u32,
}

impl DevApi {
    /// The throttle of `route` on `stage`: each of the route's settings, else the
    /// stage's default; none unless both a rate and a burst result (the account's
    /// limits, which would apply otherwise, are not applied locally).
    pub fn throttle(&self, stage: &str, route: &str) -> Option<Throttle> {
        let settings = self.throttling.get(stage)?;
        let own = settings.routes.get(route).copied().unwrap_or_default();
        Some(Throttle {
            rate: own.rate.or(settings.default.rate)?,
            burst: own.burst.or(settings.default.burst)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct DevRoute {
    pub key: String,
    /// The Lambda function (logical id) of an AWS_PROXY integration.
    pub function: Option<String>,
    /// The integration type when it is not a Lambda proxy.
    pub other_integration: Option<String>,
    /// An HTTP, HTTP_PROXY or MOCK integration.
    pub http: Option<HttpIntegration>,
    pub timeout_ms: u64,
    /// Has a route response: the handler's body goes back to the caller.
    pub two_way: bool,
    /// The route's authorization (only `$connect` has one).
    pub authorization: Authorization,
    /// The models API Gateway validates the route's messages with, when the route has
    /// a model selection expression.
    pub models: Option<RouteModels>,
}

/// An HTTP, HTTP_PROXY or MOCK integration, as the template describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpIntegration {
    /// `HTTP`, `HTTP_PROXY` or `MOCK`.
    pub kind: String,
    pub uri: String,
    pub method: String,
    /// By template selection key.
    pub request_templates: BTreeMap<String, String>,
    pub template_selection: Option<String>,
    /// `WHEN_NO_MATCH` (the default), `WHEN_NO_TEMPLATES` or `NEVER`.
    pub passthrough: String,
    /// `integration.request.header.X` -> `context.Y`, `route.request.body.Z` or `'literal'`.
    pub request_parameters: BTreeMap<String, String>,
    /// The `$default` integration response's templates.
    pub response_templates: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    None,
    /// `AWS_IAM`: SigV4-signed handshakes (not checked locally).
    Iam,
    Lambda(DevAuthorizer),
}

/// A Lambda REQUEST authorizer.
#[derive(Debug, Clone, PartialEq)]
pub struct DevAuthorizer {
    pub name: String,
    /// The function's logical id.
    pub function: Option<String>,
    /// `route.request.header.X` and `route.request.querystring.Y`.
    pub identity_sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DevFunction {
    pub logical_id: String,
    /// The local function name (`{stack}-{logical id}`).
    pub name: String,
    /// Its `Handler`, which Lambda passes to the process as `_HANDLER` (the handler a
    /// multi-call binary runs).
    pub handler: String,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub reserved_concurrency: Option<u64>,
    /// Environment variables with references resolved to local values.
    pub env: BTreeMap<String, String>,
    /// Its role's local name (`{stack}-{logical id}`), when the template gives it one.
    pub role: Option<String>,
    /// The statements of the policies attached to its role, resolved to local values.
    pub statements: Vec<DevStatement>,
}

/// An IAM policy statement with its resources resolved to local ARNs.
#[derive(Debug, Clone, PartialEq)]
pub struct DevStatement {
    /// `Allow` (else `Deny`).
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// It has a `Condition`, which wsgen dev does not evaluate (it counts as met).
    pub conditional: bool,
}

#[derive(Debug, Clone)]
pub struct DevTable {
    pub logical_id: String,
    pub name: String,
    pub properties: resources::Table,
}

/// Local values of the template's references.
pub struct Resolver<'a> {
    pub stack: &'a str,
    pub resources: &'a BTreeMap<String, Resource>,
    /// `127.0.0.1:PORT` where the gateway listens.
    pub gateway: &'a str,
}

impl Resolver<'_> {
    fn kind(&self, logical: &str) -> Option<&ResourceKind> {
        self.resources.get(logical).map(|r| &r.kind)
    }

    /// The local physical id of a resource (what `Ref` gives).
    pub fn physical(&self, logical: &str) -> String {
        match self.kind(logical) {
            Some(ResourceKind::Api(_)) => logical.to_ascii_lowercase(),
            Some(ResourceKind::Table(t)) => t
                .table_name
                .clone()
                .unwrap_or_else(|| format!("{}-{logical}", self.stack)),
            _ => format!("{}-{logical}", self.stack),
        }
    }

    fn pseudo(&self, pseudo: Pseudo) -> String {
        match pseudo {
            Pseudo::Region => LOCAL_REGION.into(),
            Pseudo::AccountId => LOCAL_ACCOUNT.into(),
            Pseudo::Partition => "aws".into(),
            Pseudo::UrlSuffix => "amazonaws.com".into(),
            Pseudo::StackName => self.stack.into(),
            Pseudo::StackId => format!(
                "arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stack/{}/local",
                self.stack
            ),
            Pseudo::NoValue => String::new(),
        }
    }

    fn attribute(&self, logical: &str, attr: &str) -> String {
        let name = self.physical(logical);
        match (self.kind(logical), attr) {
            (Some(ResourceKind::Table(_)), "Arn") => {
                format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}")
            }
            (Some(ResourceKind::Table(_)), "StreamArn") => {
                format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}/stream/local")
            }
            (Some(ResourceKind::Function(_)), "Arn") => {
                format!("arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{name}")
            }
            (Some(ResourceKind::Api(_)), "ApiEndpoint") => format!("ws://{}", self.gateway),
            _ => format!("{name}.{attr}"),
        }
    }

    /// Resolves an intrinsic (or a plain value) to a string.
    pub fn resolve(&self, e: &Expr) -> String {
        e.evaluate(self)
    }
}

impl Resolve for Resolver<'_> {
    fn reference(&self, name: &str) -> String {
        match Pseudo::from_name(name) {
            Some(p) => self.pseudo(p),
            None => self.physical(name),
        }
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> String {
        Resolver::attribute(self, logical_id, attribute)
    }

    /// The execute-api host of an API becomes the local gateway, over plain HTTP and WS.
    fn sub_template<'a>(&self, template: &'a str) -> Cow<'a, str> {
        let mut s = Cow::Borrowed(template);
        for (scheme, local) in [("https", "http://"), ("wss", "ws://")] {
            for (id, r) in self.resources {
                if let ResourceKind::Api(_) = r.kind {
                    let host = wsgen::execute_api_origin(scheme, id);
                    if s.contains(&host) {
                        s = Cow::Owned(s.replace(&host, &format!("{local}{}", self.gateway)));
                    }
                }
            }
        }
        s
    }
}

/// The logical id named by `{"Ref": id}`.
/// The statements of the `AWS::IAM::Policy` resources attached to `role`.
fn role_statements(template: &Template, r: &Resolver, role: &str) -> Vec<DevStatement> {
    of_kind(template, |k| match k {
        ResourceKind::Policy(p) => Some(p.as_ref()),
        _ => None,
    })
    .filter(|(_, p)| p.roles.iter().any(|e| ref_of(e) == Some(role)))
    .flat_map(|(_, p)| &p.policy_document.statement)
    .map(|s| DevStatement {
        allow: s.effect == "Allow",
        actions: s.action.clone(),
        resources: s.resource.iter().map(|e| r.resolve(e)).collect(),
        conditional: s.condition.is_some(),
    })
    .collect()
}

fn ref_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Ref(id) => Some(id),
        _ => None,
    }
}

/// The first logical id a value refers to (`Ref`, `Fn::GetAtt`, `${Id}` or `${Id.Attr}`
/// in `Fn::Sub`, inside `Fn::Join` too): the function of a Lambda proxy integration
/// URI (`arn:...:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations`, or its
/// `Fn::Join` form), the integration of a route's target (`integrations/${Id}`).
fn first_reference(e: &Expr) -> Option<String> {
    e.references().into_iter().next()
}

/// The resources of one type: `pick` returns a resource's properties when it is of
/// that type.
fn of_kind<'a, T: 'a>(
    template: &'a Template,
    pick: fn(&'a ResourceKind) -> Option<&'a T>,
) -> impl Iterator<Item = (&'a String, &'a T)> + 'a {
    template
        .resources
        .iter()
        .filter_map(move |(id, r)| Some((id, pick(&r.kind)?)))
}

/// Reads the app from a stack's template. `gateway` is `127.0.0.1:PORT`. Fails only
/// for a message model whose schema cannot be compiled.
pub fn read(stack: &str, template: &Template, gateway: &str) -> Result<DevApp, DevError> {
    use ResourceKind as K;
    let r = Resolver {
        stack,
        resources: &template.resources,
        gateway,
    };

    let mut apis: BTreeMap<String, DevApi> = of_kind(template, |k| match k {
        K::Api(p) => Some(p.as_ref()),
        _ => None,
    })
    .filter(|(_, p)| p.protocol_type == "WEBSOCKET")
    .map(|(id, p)| {
        let api = DevApi {
            id: r.physical(id),
            logical_id: id.clone(),
            route_selection: p
                .route_selection_expression
                .clone()
                .unwrap_or_else(|| "$request.body.action".into()),
            routes: BTreeMap::new(),
            stages: Vec::new(),
            throttling: BTreeMap::new(),
        };
        (id.clone(), api)
    })
    .collect();

    let integrations: BTreeMap<&str, &resources::Integration> = of_kind(template, |k| match k {
        K::Integration(p) => Some(p.as_ref()),
        _ => None,
    })
    .map(|(id, p)| (id.as_str(), p))
    .collect();
    let authorizers: BTreeMap<&str, DevAuthorizer> = of_kind(template, |k| match k {
        K::Authorizer(p) => Some(p.as_ref()),
        _ => None,
    })
    .map(|(id, p)| {
        let authorizer = DevAuthorizer {
            name: if p.name.is_empty() {
                id.clone()
            } else {
                p.name.clone()
            },
            function: p.authorizer_uri.as_ref().and_then(first_reference),
            identity_sources: p.identity_source.clone(),
        };
        (id.as_str(), authorizer)
    })
    .collect();
    let responses: BTreeMap<&str, &BTreeMap<String, String>> = of_kind(template, |k| match k {
        K::IntegrationResponse(p) => Some(p.as_ref()),
        _ => None,
    })
    .filter(|(_, p)| p.integration_response_key == "$default")
    .filter_map(|(_, p)| Some((ref_of(&p.integration_id)?, &p.response_templates)))
    .collect();
    // Models by API and name, compiled once however many routes use them.
    let mut models: BTreeMap<(&str, &str), Model> = BTreeMap::new();
    for (id, p) in of_kind(template, |k| match k {
        K::Model(p) => Some(p.as_ref()),
        _ => None,
    }) {
        let Some(api) = ref_of(&p.api_id) else {
            continue;
        };
        let model = Model::compile(&p.name, &p.schema).map_err(|e| DevError::Model {
            model: format!("{stack}/{id}"),
            message: e.message,
        })?;
        models.insert((api, p.name.as_str()), model);
    }
    let with_response: Vec<&str> = of_kind(template, |k| match k {
        K::RouteResponse(p) => Some(p.as_ref()),
        _ => None,
    })
    .filter_map(|(_, p)| ref_of(&p.route_id))
    .collect();
    for (id, p) in of_kind(template, |k| match k {
        K::Route(p) => Some(p.as_ref()),
        _ => None,
    }) {
        let Some(api) = ref_of(&p.api_id).and_then(|a| apis.get_mut(a)) else {
            continue;
        };
        let integration_id = p.target.as_ref().and_then(first_reference);
        let integration = integration_id.as_deref().and_then(|i| integrations.get(i));
        let http = integration
            .filter(|i| matches!(i.integration_type.as_str(), "HTTP" | "HTTP_PROXY" | "MOCK"))
            .map(|i| HttpIntegration {
                kind: i.integration_type.clone(),
                uri: i
                    .integration_uri
                    .as_ref()
                    .map(|v| r.resolve(v))
                    .unwrap_or_default(),
                method: i
                    .integration_method
                    .as_ref()
                    .map_or_else(|| "POST".into(), |m| m.to_ascii_uppercase()),
                request_templates: i.request_templates.clone(),
                template_selection: i.template_selection_expression.clone(),
                passthrough: i
                    .passthrough_behavior
                    .clone()
                    .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
                request_parameters: i.request_parameters.clone(),
                response_templates: integration_id
                    .as_deref()
                    .and_then(|id| responses.get(id))
                    .map(|t| (*t).clone())
                    .unwrap_or_default(),
            });
        let (function, other, timeout_ms) = match integration {
            Some(i) => {
                let timeout = i
                    .timeout_in_millis
                    .map_or(DEFAULT_INTEGRATION_TIMEOUT_MS, u64::from);
                if i.integration_type == "AWS_PROXY" {
                    let function = i.integration_uri.as_ref().and_then(first_reference);
                    (function, None, timeout)
                } else {
                    (None, Some(i.integration_type.clone()), timeout)
                }
            }
            None => (None, None, DEFAULT_INTEGRATION_TIMEOUT_MS),
        };
        let two_way =
            p.route_response_selection_expression.is_some() || with_response.contains(&id.as_str());
        let authorization = match p.authorization_type.as_deref() {
            Some("AWS_IAM") => Authorization::Iam,
            Some("CUSTOM") => p
                .authorizer_id
                .as_ref()
                .and_then(ref_of)
                .and_then(|a| authorizers.get(a).cloned())
                .map_or(Authorization::None, Authorization::Lambda),
            _ => Authorization::None,
        };
        api.routes.insert(
            p.route_key.clone(),
            DevRoute {
                key: p.route_key.clone(),
                function,
                other_integration: other,
                http,
                timeout_ms,
                two_way,
                authorization,
                models: route_models(stack, id, p, &models)?,
            },
        );
    }
    for (_, p) in of_kind(template, |k| match k {
        K::Stage(p) => Some(p.as_ref()),
        _ => None,
    }) {
        if let Some(api) = ref_of(&p.api_id).and_then(|a| apis.get_mut(a)) {
            api.stages.push(p.stage_name.clone());
            let limits = |s: &resources::RouteSettings| Limits {
                rate: s.throttling_rate_limit,
                burst: s.throttling_burst_limit,
            };
            let throttling = StageThrottling {
                default: p
                    .default_route_settings
                    .as_ref()
                    .map(limits)
                    .unwrap_or_default(),
                routes: p
                    .route_settings
                    .iter()
                    .map(|(key, s)| (key.clone(), limits(s)))
                    .collect(),
            };
            if throttling != StageThrottling::default() {
                api.throttling.insert(p.stage_name.clone(), throttling);
            }
        }
    }

    let functions = of_kind(template, |k| match k {
        K::Function(p) => Some(p.as_ref()),
        _ => None,
    })
    .map(|(id, p)| {
        let env = p
            .environment
            .iter()
            .flat_map(|e| &e.variables)
            .map(|(k, v)| (k.clone(), r.resolve(v)))
            .collect();
        let role = first_reference(&p.role);
        let statements = role
            .as_deref()
            .map(|role| role_statements(template, &r, role))
            .unwrap_or_default();
        let function = DevFunction {
            role: role.map(|role| r.physical(&role)),
            statements,
            name: r.physical(id),
            handler: p.handler.clone(),
            timeout_secs: p.timeout.map_or(3, u64::from),
            memory_mb: p.memory_size.map_or(128, u64::from),
            reserved_concurrency: p.reserved_concurrent_executions.map(u64::from),
            env,
            logical_id: id.clone(),
        };
        (id.clone(), function)
    })
    .collect();
    let tables = of_kind(template, |k| match k {
        K::Table(p) => Some(p.as_ref()),
        _ => None,
    })
    .map(|(id, p)| {
        let table = DevTable {
            name: r.physical(id),
            logical_id: id.clone(),
            properties: p.clone(),
        };
        (id.clone(), table)
    })
    .collect();
    let schedules = of_kind(template, |k| match k {
        K::Rule(p) => Some(p.as_ref()),
        _ => None,
    })
    .filter(|(_, p)| p.state.as_deref().unwrap_or("ENABLED") == "ENABLED")
    .filter(|(_, p)| !p.schedule_expression.is_empty())
    .flat_map(|(id, p)| {
        p.targets.iter().filter_map(|t| {
            Some(DevSchedule {
                rule: id.clone(),
                parsed: Expression::parse(&p.schedule_expression).ok(),
                expression: p.schedule_expression.clone(),
                function: first_reference(&t.arn)?,
                input: t.input.clone(),
            })
        })
    })
    .collect();
    let subscriptions = of_kind(template, |k| match k {
        K::EventSourceMapping(p) => Some(p.as_ref()),
        _ => None,
    })
    .filter(|(_, p)| p.enabled != Some(false))
    .filter_map(|(id, p)| {
        let Expr::GetAtt(table, attribute) = &p.event_source_arn else {
            return None;
        };
        if attribute != "StreamArn" || !matches!(r.kind(table), Some(K::Table(_))) {
            return None;
        }
        Some(DevSubscription {
            mapping: id.clone(),
            table: r.physical(table),
            function: first_reference(&p.function_name)?,
            batch_size: p.batch_size.unwrap_or(100).clamp(1, 10_000) as usize,
            trim_horizon: p.starting_position.as_deref() == Some("TRIM_HORIZON"),
            window: std::time::Duration::from_secs(
                p.maximum_batching_window_in_seconds
                    .unwrap_or(0)
                    .min(300)
                    .into(),
            ),
            retry_attempts: p.maximum_retry_attempts.and_then(|n| u32::try_from(n).ok()),
        })
    })
    .collect();
    Ok(DevApp {
        apis,
        functions,
        tables,
        schedules,
        subscriptions,
    })
}

/// A route's request validation: only with a model selection expression, as on API
/// Gateway, from its `RequestModels` (model names by selection key).
fn route_models(
    stack: &str,
    id: &str,
    route: &resources::Route,
    models: &BTreeMap<(&str, &str), Model>,
) -> Result<Option<RouteModels>, DevError> {
    let (Some(expression), Some(api)) = (&route.model_selection_expression, ref_of(&route.api_id))
    else {
        return Ok(None);
    };
    if route.request_models.is_empty() {
        return Ok(None);
    }
    let by_key = route
        .request_models
        .iter()
        .map(|(key, name)| match models.get(&(api, name.as_str())) {
            Some(model) => Ok((key.clone(), model.clone())),
            None => Err(DevError::Model {
                model: format!("{stack}/{id}"),
                message: format!("the route names model `{name}`, which API {api} does not have"),
            }),
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(RouteModels {
        expression: expression.clone(),
        models: by_key,
    }))
}

/// Evaluates a route selection expression (`$request.body.action`, `${request.body.a.b}`,
/// `\$default`) on a message; `None` when the message has no such value.
pub fn select_route(expression: &str, body: &str) -> Option<String> {
    let expr = expression.trim();
    if let Some(literal) = expr.strip_prefix('\\') {
        return Some(literal.to_string());
    }
    let path = crate::asyncapi::body_path(expr)?;
    let json: Value = serde_json::from_str(body).ok()?;
    let mut v = &json;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A template from its `Resources`, as JSON.
    fn template(resources: Value) -> Template {
        serde_json::from_value(json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": resources,
        }))
        .expect("a template")
    }

    #[test]
    fn route_selection_expressions() {
        assert_eq!(
            select_route("$request.body.action", r#"{"action":"send"}"#).as_deref(),
            Some("send")
        );
        assert_eq!(
            select_route("${request.body.msg.type}", r#"{"msg":{"type":"x"}}"#).as_deref(),
            Some("x")
        );
        assert_eq!(select_route("$request.body.action", r#"{"other":1}"#), None);
        assert_eq!(select_route("$request.body.action", "not json"), None);
        assert_eq!(
            select_route("\\$default", "{}").as_deref(),
            Some("$default")
        );
    }

    #[test]
    fn references_resolve_to_local_values() {
        let t = template(json!({
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"}},
            "T": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "F": {"Type": "AWS::Lambda::Function", "Properties": {"Timeout": 5, "Environment": {"Variables": {
                "TABLE_NAME": {"Ref": "T"},
                "CALLBACK_URL": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live"},
                "ARN": {"Fn::GetAtt": ["T", "Arn"]}
            }}}}
        }));
        let app = read("Chat", &t, "127.0.0.1:4000").expect("the app");
        let f = &app.functions["F"];
        assert_eq!(f.env["TABLE_NAME"], "Chat-T");
        assert_eq!(f.env["CALLBACK_URL"], "http://127.0.0.1:4000/live");
        assert_eq!(
            f.env["ARN"],
            "arn:aws:dynamodb:us-east-1:000000000000:table/Chat-T"
        );
        assert_eq!(f.timeout_secs, 5);
        assert_eq!(app.apis["Api"].id, "api");
    }

    #[test]
    fn a_route_is_throttled_by_its_settings_else_the_stage_default() {
        let t = template(json!({
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"}},
            "Live": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                "ApiId": {"Ref": "Api"}, "StageName": "live",
                "DefaultRouteSettings": {"ThrottlingRateLimit": 100.0, "ThrottlingBurstLimit": 50},
                "RouteSettings": {
                    "send": {"ThrottlingRateLimit": 10.0, "ThrottlingBurstLimit": 5},
                    "slow": {"ThrottlingRateLimit": 1.0}
                }
            }},
            "Open": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                "ApiId": {"Ref": "Api"}, "StageName": "open",
                "DefaultRouteSettings": {"ThrottlingRateLimit": 5.0}
            }}
        }));
        let app = read("Chat", &t, "127.0.0.1:4000").expect("the app");
        let api = &app.apis["Api"];
        let limit =
            |stage: &str, route: &str| api.throttle(stage, route).map(|t| (t.rate, t.burst));
        assert_eq!(limit("live", "send"), Some((10.0, 5)));
        assert_eq!(limit("live", "slow"), Some((1.0, 50)));
        assert_eq!(limit("live", "$connect"), Some((100.0, 50)));
        // A rate without a burst: the account's burst would apply, which is off locally.
        assert_eq!(limit("open", "send"), None);
        assert_eq!(limit("nosuch", "send"), None);
    }

    #[test]
    fn schedules_run_on_their_rate_or_cron() {
        let rule = |expr: &str| {
            json!({"Type": "AWS::Events::Rule", "Properties": {
                "ScheduleExpression": expr, "State": "ENABLED",
                "Targets": [{"Arn": {"Fn::GetAtt": ["F", "Arn"]}, "Id": "F"}]
            }})
        };
        let t = template(json!({
            "F": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "Every": rule("rate(5 minutes)"),
            "Noon": rule("cron(0 12 ? * MON-FRI *)"),
            "Off": {"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(1 minute)", "State": "DISABLED",
                "Targets": [{"Arn": {"Fn::GetAtt": ["F", "Arn"]}, "Id": "F"}]}}
        }));
        let app = read("S", &t, "127.0.0.1:4000").expect("the app");
        let by_rule: BTreeMap<&str, &DevSchedule> =
            app.schedules.iter().map(|s| (s.rule.as_str(), s)).collect();
        assert_eq!(
            by_rule.keys().copied().collect::<Vec<_>>(),
            ["Every", "Noon"]
        );
        assert_eq!(
            by_rule["Every"].parsed.as_ref().and_then(Expression::rate),
            Some(std::time::Duration::from_secs(300))
        );
        let Some(Expression::Cron(noon)) = &by_rule["Noon"].parsed else {
            panic!("a cron schedule")
        };
        assert_eq!(by_rule["Noon"].function, "F");
        // Monday 2026-11-23 10:30 UTC: next at noon that day.
        assert_eq!(noon.next_after(1_795_429_800), Some(1_795_435_200));
    }
}

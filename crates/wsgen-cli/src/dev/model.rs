//! What `wsgen dev` serves, read from the synthesized template (not from the DSL), so
//! that what runs locally is what would be deployed: WebSocket APIs with their route
//! selection, routes and their Lambda integrations, stages, functions with their
//! environment resolved to local values, tables, schedules and stream subscriptions.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use wsgen::cfn::{types, Expr, Resolve};
use wsgen::schedule::Expression;

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
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub reserved_concurrency: Option<u64>,
    /// Environment variables with references resolved to local values.
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct DevTable {
    pub logical_id: String,
    pub name: String,
    pub properties: Value,
}

/// Local values of the template's references.
pub struct Resolver<'a> {
    pub stack: &'a str,
    pub resources: &'a Map<String, Value>,
    /// `127.0.0.1:PORT` where the gateway listens.
    pub gateway: &'a str,
}

impl Resolver<'_> {
    /// The `Type` of a resource of the template (empty for an unknown one).
    fn resource_type(&self, logical: &str) -> &str {
        self.resources
            .get(logical)
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The local physical id of a resource (what `Ref` gives).
    pub fn physical(&self, logical: &str) -> String {
        let ty = self.resource_type(logical);
        let named = |prop: &str| {
            self.resources
                .get(logical)
                .and_then(|r| r.pointer(&format!("/Properties/{prop}")))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match ty {
            types::API => logical.to_ascii_lowercase(),
            types::TABLE => {
                named("TableName").unwrap_or_else(|| format!("{}-{logical}", self.stack))
            }
            types::FUNCTION => {
                named("FunctionName").unwrap_or_else(|| format!("{}-{logical}", self.stack))
            }
            _ => format!("{}-{logical}", self.stack),
        }
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::Region" => LOCAL_REGION.into(),
            "AWS::AccountId" => LOCAL_ACCOUNT.into(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackName" => self.stack.into(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stack/{}/local",
                self.stack
            ),
            _ => return None,
        })
    }

    fn attribute(&self, logical: &str, attr: &str) -> String {
        let ty = self.resource_type(logical);
        let name = self.physical(logical);
        match (ty, attr) {
            (types::TABLE, "Arn") => {
                format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}")
            }
            (types::TABLE, "StreamArn") => {
                format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}/stream/local")
            }
            (types::FUNCTION, "Arn") => {
                format!("arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{name}")
            }
            (types::API, "ApiEndpoint") => format!("ws://{}", self.gateway),
            _ => format!("{name}.{attr}"),
        }
    }

    /// Resolves an intrinsic (or a plain value) to a string.
    pub fn resolve(&self, v: &Value) -> String {
        match Expr::from_json(v) {
            Ok(e) => e.evaluate(self),
            Err(_) => v.to_string(),
        }
    }
}

impl Resolve for Resolver<'_> {
    fn reference(&self, name: &str) -> String {
        self.pseudo(name).unwrap_or_else(|| self.physical(name))
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> String {
        Resolver::attribute(self, logical_id, attribute)
    }

    /// The execute-api host of an API becomes the local gateway, over plain HTTP and WS.
    fn sub_template<'a>(&self, template: &'a str) -> Cow<'a, str> {
        let mut s = Cow::Borrowed(template);
        for (scheme, local) in [("https", "http://"), ("wss", "ws://")] {
            for (id, r) in self.resources {
                if r.get("Type").and_then(Value::as_str) == Some(types::API) {
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

/// A map of strings (templates, parameters), references resolved.
fn strings_of(v: Option<&Value>, r: &Resolver) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), r.resolve(v))).collect())
        .unwrap_or_default()
}

/// The logical id named by `{"Ref": id}`.
fn ref_of(v: Option<&Value>) -> Option<String> {
    match Expr::from_json(v?).ok()? {
        Expr::Ref(id) => Some(id),
        _ => None,
    }
}

/// The first logical id a value refers to (`Ref`, `Fn::GetAtt`, `${Id}` or `${Id.Attr}`
/// in `Fn::Sub`, inside `Fn::Join` too).
fn first_reference(v: Option<&Value>) -> Option<String> {
    Expr::from_json(v?).ok()?.references().into_iter().next()
}

/// Reads the app from a stack's template. `gateway` is `127.0.0.1:PORT`.
pub fn read(stack: &str, template: &Value, gateway: &str) -> DevApp {
    let empty = Map::new();
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let r = Resolver {
        stack,
        resources,
        gateway,
    };
    let of_type = |ty: &'static str| {
        resources
            .iter()
            .filter(move |(_, v)| v.get("Type").and_then(Value::as_str) == Some(ty))
            .map(|(id, v)| {
                (
                    id.clone(),
                    v.get("Properties").cloned().unwrap_or(Value::Null),
                )
            })
    };

    let mut apis: BTreeMap<String, DevApi> = of_type(types::API)
        .filter(|(_, p)| p.get("ProtocolType").and_then(Value::as_str) == Some("WEBSOCKET"))
        .map(|(id, p)| {
            (
                id.clone(),
                DevApi {
                    id: r.physical(&id),
                    logical_id: id,
                    route_selection: p
                        .get("RouteSelectionExpression")
                        .map(|v| r.resolve(v))
                        .unwrap_or_else(|| "$request.body.action".into()),
                    routes: BTreeMap::new(),
                    stages: Vec::new(),
                },
            )
        })
        .collect();

    let integrations: BTreeMap<String, Value> = of_type(types::INTEGRATION).collect();
    let authorizers: BTreeMap<String, DevAuthorizer> = of_type(types::AUTHORIZER)
        .map(|(id, p)| {
            let authorizer = DevAuthorizer {
                name: p
                    .get("Name")
                    .map(|v| r.resolve(v))
                    .unwrap_or_else(|| id.clone()),
                function: lambda_of(p.get("AuthorizerUri")),
                identity_sources: p
                    .get("IdentitySource")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|v| r.resolve(v))
                    .collect(),
            };
            (id, authorizer)
        })
        .collect();
    let mut responses: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (_, p) in of_type(types::INTEGRATION_RESPONSE) {
        if p.get("IntegrationResponseKey").and_then(Value::as_str) != Some("$default") {
            continue;
        }
        if let Some(integration) = ref_of(p.get("IntegrationId")) {
            let templates = strings_of(p.get("ResponseTemplates"), &r);
            responses.insert(integration, templates);
        }
    }
    let with_response: Vec<String> = of_type(types::ROUTE_RESPONSE)
        .filter_map(|(_, p)| ref_of(p.get("RouteId")))
        .collect();
    for (id, p) in of_type(types::ROUTE) {
        let Some(api) = ref_of(p.get("ApiId")).and_then(|a| apis.get_mut(&a)) else {
            continue;
        };
        let key = p.get("RouteKey").map(|v| r.resolve(v)).unwrap_or_default();
        // `integrations/${Integration}`: a Join of the prefix and a Ref.
        let integration = first_reference(p.get("Target"));
        let integration_id = integration.clone();
        let integration = integration.and_then(|i| integrations.get(&i));
        let http = integration
            .filter(|i| {
                matches!(
                    i.get("IntegrationType").and_then(Value::as_str),
                    Some("HTTP" | "HTTP_PROXY" | "MOCK")
                )
            })
            .map(|i| HttpIntegration {
                kind: i
                    .get("IntegrationType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                uri: i
                    .get("IntegrationUri")
                    .map(|v| r.resolve(v))
                    .unwrap_or_default(),
                method: i
                    .get("IntegrationMethod")
                    .map(|v| r.resolve(v).to_ascii_uppercase())
                    .unwrap_or_else(|| "POST".into()),
                request_templates: strings_of(i.get("RequestTemplates"), &r),
                template_selection: i.get("TemplateSelectionExpression").map(|v| r.resolve(v)),
                passthrough: i
                    .get("PassthroughBehavior")
                    .map(|v| r.resolve(v))
                    .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
                request_parameters: strings_of(i.get("RequestParameters"), &r),
                response_templates: integration_id
                    .as_ref()
                    .and_then(|id| responses.get(id))
                    .cloned()
                    .unwrap_or_default(),
            });
        let (function, other, timeout_ms) = match integration {
            Some(i) => {
                let ty = i
                    .get("IntegrationType")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let timeout = i
                    .get("TimeoutInMillis")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_INTEGRATION_TIMEOUT_MS);
                if ty == "AWS_PROXY" {
                    (lambda_of(i.get("IntegrationUri")), None, timeout)
                } else {
                    (None, Some(ty.to_string()), timeout)
                }
            }
            None => (None, None, DEFAULT_INTEGRATION_TIMEOUT_MS),
        };
        let two_way =
            p.get("RouteResponseSelectionExpression").is_some() || with_response.contains(&id);
        let authorization = match p.get("AuthorizationType").and_then(Value::as_str) {
            Some("AWS_IAM") => Authorization::Iam,
            Some("CUSTOM") => ref_of(p.get("AuthorizerId"))
                .and_then(|a| authorizers.get(&a).cloned())
                .map_or(Authorization::None, Authorization::Lambda),
            _ => Authorization::None,
        };
        api.routes.insert(
            key.clone(),
            DevRoute {
                key,
                function,
                other_integration: other,
                http,
                timeout_ms,
                two_way,
                authorization,
            },
        );
    }
    for (_, p) in of_type(types::STAGE) {
        if let Some(api) = ref_of(p.get("ApiId")).and_then(|a| apis.get_mut(&a)) {
            api.stages
                .push(p.get("StageName").map(|v| r.resolve(v)).unwrap_or_default());
        }
    }

    let functions = of_type(types::FUNCTION)
        .map(|(id, p)| {
            let env = p
                .pointer("/Environment/Variables")
                .and_then(Value::as_object)
                .map(|vars| {
                    vars.iter()
                        .map(|(k, v)| (k.clone(), r.resolve(v)))
                        .collect()
                })
                .unwrap_or_default();
            (
                id.clone(),
                DevFunction {
                    name: r.physical(&id),
                    timeout_secs: p.get("Timeout").and_then(Value::as_u64).unwrap_or(3),
                    memory_mb: p.get("MemorySize").and_then(Value::as_u64).unwrap_or(128),
                    reserved_concurrency: p
                        .get("ReservedConcurrentExecutions")
                        .and_then(Value::as_u64),
                    env,
                    logical_id: id,
                },
            )
        })
        .collect();
    let tables = of_type(types::TABLE)
        .map(|(id, p)| {
            (
                id.clone(),
                DevTable {
                    name: r.physical(&id),
                    logical_id: id,
                    properties: p,
                },
            )
        })
        .collect();
    let schedules = of_type(types::RULE)
        .filter(|(_, p)| p.get("State").and_then(Value::as_str).unwrap_or("ENABLED") == "ENABLED")
        .flat_map(|(id, p)| {
            let expression = p
                .get("ScheduleExpression")
                .map(|v| r.resolve(v))
                .unwrap_or_default();
            p.get("Targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    let function = first_reference(t.get("Arn"))?;
                    Some(DevSchedule {
                        rule: id.clone(),
                        parsed: Expression::parse(&expression).ok(),
                        expression: expression.clone(),
                        function,
                        input: t.get("Input").map(|v| r.resolve(v)),
                    })
                })
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.expression.is_empty())
        .collect();
    let subscriptions = of_type(types::EVENT_SOURCE_MAPPING)
        .filter(|(_, p)| p.get("Enabled") != Some(&Value::Bool(false)))
        .filter_map(|(id, p)| {
            let Expr::GetAtt(table, attribute) = Expr::from_json(p.get("EventSourceArn")?).ok()?
            else {
                return None;
            };
            if attribute != "StreamArn" || r.resource_type(&table) != types::TABLE {
                return None;
            }
            let function = first_reference(p.get("FunctionName"))?;
            let number = |key: &str| p.get(key).and_then(Value::as_i64);
            Some(DevSubscription {
                mapping: id.clone(),
                table: r.physical(&table),
                function,
                batch_size: number("BatchSize").unwrap_or(100).clamp(1, 10_000) as usize,
                trim_horizon: p.get("StartingPosition").and_then(Value::as_str)
                    == Some("TRIM_HORIZON"),
                window: std::time::Duration::from_secs(
                    number("MaximumBatchingWindowInSeconds")
                        .unwrap_or(0)
                        .clamp(0, 300) as u64,
                ),
                retry_attempts: number("MaximumRetryAttempts")
                    .filter(|n| *n >= 0)
                    .map(|n| n as u32),
            })
        })
        .collect();
    DevApp {
        apis,
        functions,
        tables,
        schedules,
        subscriptions,
    }
}

/// The function of a Lambda proxy integration URI
/// (`arn:...:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations`, or its
/// `Fn::Join` form).
fn lambda_of(uri: Option<&Value>) -> Option<String> {
    first_reference(uri)
}

/// Evaluates a route selection expression (`$request.body.action`, `${request.body.a.b}`,
/// `\$default`) on a message; `None` when the message has no such value.
pub fn select_route(expression: &str, body: &str) -> Option<String> {
    let expr = expression.trim();
    if let Some(literal) = expr.strip_prefix('\\') {
        return Some(literal.to_string());
    }
    let path = expr
        .strip_prefix("${")
        .and_then(|e| e.strip_suffix('}'))
        .or_else(|| expr.strip_prefix('$'))?;
    let path = path.strip_prefix("request.body")?;
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
        let t = json!({"Resources": {
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"}},
            "T": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "F": {"Type": "AWS::Lambda::Function", "Properties": {"Timeout": 5, "Environment": {"Variables": {
                "TABLE_NAME": {"Ref": "T"},
                "CALLBACK_URL": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live"},
                "ARN": {"Fn::GetAtt": ["T", "Arn"]}
            }}}}
        }});
        let app = read("Chat", &t, "127.0.0.1:4000");
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
    fn schedules_run_on_their_rate_or_cron() {
        let rule = |expr: &str| {
            json!({"Type": "AWS::Events::Rule", "Properties": {
                "ScheduleExpression": expr, "State": "ENABLED",
                "Targets": [{"Arn": {"Fn::GetAtt": ["F", "Arn"]}, "Id": "F"}]
            }})
        };
        let t = json!({"Resources": {
            "F": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "Every": rule("rate(5 minutes)"),
            "Noon": rule("cron(0 12 ? * MON-FRI *)"),
            "Off": {"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(1 minute)", "State": "DISABLED",
                "Targets": [{"Arn": {"Fn::GetAtt": ["F", "Arn"]}, "Id": "F"}]}}
        }});
        let app = read("S", &t, "127.0.0.1:4000");
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

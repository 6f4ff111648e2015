//! `WebSocketApi` with its routes, integrations and authorizers.

use super::app::SynthCtx;
use super::function::{execute_api_arn, FunctionState, Grant, RustFunction};
use super::message::MessageModel;
use super::naming::logical_id;
use super::problems::Problems;
use super::stage::{Stage, StageState};
use crate::cfn::resources as r;
use crate::cfn::{Expr, Resource};
use crate::digest::hex;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// The default route selection expression: the `action` field of a JSON message.
pub const DEFAULT_ROUTE_SELECTION: &str = "$request.body.action";
/// The most routes API Gateway allows per API.
pub const MAX_ROUTES: usize = 300;
/// The most stages API Gateway allows per API.
pub const MAX_STAGES: usize = 10;
/// The route keys API Gateway reserves.
pub const RESERVED_ROUTES: [&str; 3] = ["$connect", "$disconnect", "$default"];
/// The metadata key that marks a model as a message the app pushes to its connections
/// ([`WebSocketApi::pushes`]), which the AsyncAPI document and `wsgen client` read.
pub const PUSHED: &str = "wsgen:pushed";

/// A WebSocket API (`AWS::ApiGatewayV2::Api`, protocol `WEBSOCKET`).
#[derive(Clone)]
pub struct WebSocketApi {
    pub(crate) inner: Rc<RefCell<ApiState>>,
}

pub(crate) struct ApiState {
    pub id: String,
    /// Default: `{stack name}-{id}`.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Default: [`DEFAULT_ROUTE_SELECTION`].
    pub route_selection_expression: String,
    /// Default: none (API Gateway then reads `$request.header.x-api-key`).
    pub api_key_selection_expression: Option<String>,
    /// Default: false.
    pub disable_execute_api_endpoint: bool,
    pub tags: BTreeMap<String, String>,
    pub routes: Vec<Rc<RefCell<RouteState>>>,
    pub authorizers: Vec<Rc<RefCell<AuthorizerState>>>,
    pub stages: Vec<Rc<RefCell<StageState>>>,
    /// The message types the app posts to its connections. Default: none.
    pub pushes: Vec<MessageModel>,
}

/// A route of a WebSocket API.
#[derive(Clone)]
pub struct Route {
    pub(crate) inner: Rc<RefCell<RouteState>>,
}

pub(crate) struct RouteState {
    pub key: String,
    pub integration: Option<Integration>,
    pub authorization: Authorization,
    /// Default: false.
    pub api_key_required: bool,
    pub operation_name: Option<String>,
    /// Whether the integration's response is sent back to the caller. Default: false.
    pub two_way: bool,
    /// The message type API Gateway validates the route's messages against. Default:
    /// none (any message goes to the integration).
    pub request: Option<MessageModel>,
    /// The message type of a two-way route's response (documented as a model of the
    /// route response; API Gateway does not validate responses). Default: none.
    pub response: Option<MessageModel>,
}

#[derive(Clone)]
pub(crate) enum Authorization {
    None,
    Iam,
    Custom(Rc<RefCell<AuthorizerState>>),
}

/// How a binary or text payload is converted between client and integration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentHandling {
    ConvertToBinary,
    ConvertToText,
}

/// What a non-proxy integration does with a request no template matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassthroughBehavior {
    WhenNoMatch,
    WhenNoTemplates,
    Never,
}

#[derive(Clone)]
pub(crate) enum Target {
    Lambda(Rc<RefCell<FunctionState>>),
    HttpProxy { url: String, method: String },
    Http { url: String, method: String },
    Mock,
}

/// What a route invokes: a Lambda function (proxy), an HTTP endpoint (proxy or with
/// templates) or a mock.
#[derive(Clone)]
pub struct Integration {
    pub(crate) target: Target,
    /// Default: API Gateway's 29 s.
    timeout: Option<Duration>,
    content_handling: Option<ContentHandling>,
    passthrough: Option<PassthroughBehavior>,
    request_templates: BTreeMap<String, String>,
    template_selection_expression: Option<String>,
    request_parameters: BTreeMap<String, String>,
    response_templates: BTreeMap<String, String>,
    description: Option<String>,
}

impl Integration {
    fn new(target: Target) -> Integration {
        Integration {
            target,
            timeout: None,
            content_handling: None,
            passthrough: None,
            request_templates: BTreeMap::new(),
            template_selection_expression: None,
            request_parameters: BTreeMap::new(),
            response_templates: BTreeMap::new(),
            description: None,
        }
    }

    /// Lambda proxy integration (`AWS_PROXY`): the function gets the API Gateway event
    /// and its response's `body` is what a two-way route sends back.
    pub fn lambda(function: &RustFunction) -> Integration {
        Integration::new(Target::Lambda(function.inner.clone()))
    }

    /// HTTP proxy integration: the message is forwarded as is with `method` to `url`.
    pub fn http_proxy(url: &str, method: &str) -> Integration {
        Integration::new(Target::HttpProxy {
            url: url.into(),
            method: method.into(),
        })
    }

    /// HTTP integration with request templates (seed 003's backend): the request
    /// template (default `$default` key) turns the message into the backend's request.
    pub fn http(url: &str, method: &str) -> Integration {
        Integration::new(Target::Http {
            url: url.into(),
            method: method.into(),
        })
    }

    /// A mock integration: API Gateway answers itself. Default request template
    /// `{"statusCode":200}`; add a response with [`Integration::response_template`].
    pub fn mock() -> Integration {
        Integration::new(Target::Mock)
    }

    /// How long API Gateway waits (50 ms to 29 s). Default: 29 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Converts payloads between text and binary. Default: passed through as they are.
    pub fn content_handling(mut self, c: ContentHandling) -> Self {
        self.content_handling = Some(c);
        self
    }

    /// What happens when no request template matches (HTTP and MOCK only).
    pub fn passthrough(mut self, p: PassthroughBehavior) -> Self {
        self.passthrough = Some(p);
        self
    }

    /// A request template for the template selection key `key` (HTTP and MOCK only),
    /// e.g. `("$default", "{\"connectionId\":\"$context.connectionId\"}")`.
    pub fn request_template(mut self, key: &str, template: &str) -> Self {
        self.request_templates.insert(key.into(), template.into());
        self
    }

    /// The template selection expression (HTTP and MOCK only), e.g. `\$default`.
    pub fn template_selection_expression(mut self, e: &str) -> Self {
        self.template_selection_expression = Some(e.into());
        self
    }

    /// A request parameter mapping, e.g.
    /// `("integration.request.header.connectionId", "context.connectionId")`.
    pub fn request_parameter(mut self, destination: &str, source: &str) -> Self {
        self.request_parameters
            .insert(destination.into(), source.into());
        self
    }

    /// A template of the `$default` integration response (HTTP and MOCK), applied to
    /// what a two-way route sends back.
    pub fn response_template(mut self, key: &str, template: &str) -> Self {
        self.response_templates.insert(key.into(), template.into());
        self
    }

    /// The integration's description.
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.into());
        self
    }

    fn is_proxy(&self) -> bool {
        matches!(self.target, Target::Lambda(_) | Target::HttpProxy { .. })
    }
}

impl From<&RustFunction> for Integration {
    fn from(f: &RustFunction) -> Self {
        Integration::lambda(f)
    }
}
impl From<RustFunction> for Integration {
    fn from(f: RustFunction) -> Self {
        Integration::lambda(&f)
    }
}

/// A Lambda REQUEST authorizer, run before `$connect`.
#[derive(Clone)]
pub struct Authorizer {
    pub(crate) inner: Rc<RefCell<AuthorizerState>>,
}

pub(crate) struct AuthorizerState {
    pub api: String,
    pub id: String,
    pub function: Rc<RefCell<FunctionState>>,
    /// Default: none.
    pub identity_sources: Vec<String>,
}

impl AuthorizerState {
    pub fn logical_id(&self) -> String {
        logical_id(&[&self.api, &self.id, "Authorizer"])
    }
}

/// Where a REQUEST authorizer reads the caller's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentitySource(String);

impl IdentitySource {
    /// `route.request.querystring.{name}`
    pub fn query(name: &str) -> IdentitySource {
        IdentitySource(format!("route.request.querystring.{name}"))
    }
    /// `route.request.header.{name}`
    pub fn header(name: &str) -> IdentitySource {
        IdentitySource(format!("route.request.header.{name}"))
    }
    /// `stageVariables.{name}`
    pub fn stage_variable(name: &str) -> IdentitySource {
        IdentitySource(format!("stageVariables.{name}"))
    }
    /// `context.{name}`
    pub fn context(name: &str) -> IdentitySource {
        IdentitySource(format!("context.{name}"))
    }
    /// An identity source as written, e.g. `route.request.header.Authorization`.
    pub fn raw(s: &str) -> IdentitySource {
        IdentitySource(s.into())
    }
}

impl Authorizer {
    /// Adds an identity source; a connection without it is refused with 401 before the
    /// authorizer runs.
    pub fn identity_source(self, source: IdentitySource) -> Self {
        self.inner.borrow_mut().identity_sources.push(source.0);
        self
    }
}

impl ApiState {
    pub fn new(_stack: &str, id: &str) -> ApiState {
        ApiState {
            id: id.into(),
            name: None,
            description: None,
            route_selection_expression: DEFAULT_ROUTE_SELECTION.into(),
            api_key_selection_expression: None,
            disable_execute_api_endpoint: false,
            tags: BTreeMap::new(),
            routes: Vec::new(),
            authorizers: Vec::new(),
            stages: Vec::new(),
            pushes: Vec::new(),
        }
    }

    pub fn logical_id(&self) -> String {
        logical_id(&[&self.id])
    }

    /// Emits the API, its authorizers, routes and stages, each checking itself first.
    pub fn synth(&self, ctx: &mut SynthCtx) {
        let api_path = ctx.path(&[&self.id]);
        let api_id = self.logical_id();
        let mut tags = ctx.tags.clone();
        tags.extend(self.tags.clone());
        self.check(&mut ctx.problems, &api_path, &tags);
        self.emit_api(ctx, &api_path, &api_id, tags);
        let mut deployment = Deployment::default();
        for a in &self.authorizers {
            a.borrow().synth(ctx, &api_path, &api_id, &mut deployment);
        }
        let models = self.synth_models(ctx, &api_path, &api_id, &mut deployment);
        let mut keys: BTreeSet<String> = BTreeSet::new();
        let mut integrations = SharedIntegrations::default();
        for route in &self.routes {
            let route = route.borrow();
            let path = format!("{api_path}/routes/{}", route.key);
            if !keys.insert(route.key.clone()) {
                ctx.problems.add(
                    &path,
                    "route-key-duplicate",
                    format!("route key `{}` is defined twice", route.key),
                    "remove one of the routes or give it another key",
                );
                continue;
            }
            let refs = ApiRefs {
                id: &self.id,
                logical_id: &api_id,
                route_selection: &self.route_selection_expression,
                models: &models,
            };
            route.synth(ctx, &path, &refs, &mut integrations, &mut deployment);
        }
        let deployment_hash = deployment.hash(ctx);
        // `keys` now holds every route key, which stages check their route settings against.
        let mut stage_names = BTreeSet::new();
        for stage in &self.stages {
            let stage = stage.borrow();
            if !stage_names.insert(stage.name.clone()) {
                ctx.problems.add(
                    format!("{api_path}/stages/{}", stage.name),
                    "stage-duplicate",
                    format!("two stages are named `{}`", stage.name),
                    "give each stage a unique name",
                );
                continue;
            }
            stage.synth(
                ctx,
                &self.id,
                &api_id,
                &deployment.routes,
                &deployment_hash,
                &keys,
            );
        }
    }

    /// The models of the routes' message types and of the messages the app pushes, one
    /// per name (routes and pushes may share a type): `AWS::ApiGatewayV2::Model`
    /// resources, part of the deployment when a route uses them, a pushed one marked
    /// `wsgen:pushed` in its metadata. Model names by name to logical ID. A type draft 4
    /// cannot express, or two types of one name and different schemas, are problems.
    fn synth_models(
        &self,
        ctx: &mut SynthCtx,
        api_path: &str,
        api_id: &str,
        deployment: &mut Deployment,
    ) -> BTreeMap<String, String> {
        // Each message type with where it is declared: (construct path, whose, model).
        let mut declared: Vec<(String, String, &MessageModel)> = Vec::new();
        let routes: Vec<_> = self.routes.iter().map(|r| r.borrow()).collect();
        for route in &routes {
            for model in route.request.iter().chain(&route.response) {
                declared.push((
                    format!("{api_path}/routes/{}", route.key),
                    format!("route `{}`", route.key),
                    model,
                ));
            }
        }
        for model in &self.pushes {
            declared.push((
                format!("{api_path}/pushes/{}", model.type_name),
                "the API's pushed messages".into(),
                model,
            ));
        }
        let mut schemas: BTreeMap<String, (serde_json::Value, String)> = BTreeMap::new();
        for (path, whose, model) in declared {
            if model.name.is_empty() {
                ctx.problems.add(
                    &path,
                    "model-name",
                    format!(
                        "the message type `{}` of {whose} has a schema name without letters or digits, and API Gateway model names are letters and digits",
                        model.type_name
                    ),
                    "name its schema: #[schemars(rename = \"SendMessage\")]",
                );
                continue;
            }
            match &model.schema {
                Err(keywords) => ctx.problems.add(
                    &path,
                    "model-schema",
                    format!(
                        "the message type `{}` of {whose} needs JSON Schema keywords that draft 4, the dialect of API Gateway models, does not have: {}",
                        model.type_name,
                        keywords.join(", ")
                    ),
                    "simplify the type (or its #[schemars] attributes) so that its schema needs none of them",
                ),
                Ok(schema) => match schemas.get(&model.name) {
                    Some((other, other_type)) if other != schema => ctx.problems.add(
                        &path,
                        "model-name",
                        format!(
                            "message types `{other_type}` and `{}` both have the schema name `{}`, with different schemas; an API's models need distinct names",
                            model.type_name, model.name
                        ),
                        "rename one: #[schemars(rename = \"OtherName\")]",
                    ),
                    Some(_) => {}
                    None => {
                        schemas.insert(model.name.clone(), (schema.clone(), model.type_name.clone()));
                    }
                },
            }
        }
        let pushed: BTreeSet<&str> = self.pushes.iter().map(|m| m.name.as_str()).collect();
        // What routes validate and answer with is part of their deployment; a model only
        // pushed is not (changing it redeploys nothing).
        let routed: BTreeSet<&str> = routes
            .iter()
            .flat_map(|r| r.request.iter().chain(&r.response))
            .map(|m| m.name.as_str())
            .collect();
        let mut ids = BTreeMap::new();
        for (name, (schema, _)) in schemas {
            let id = logical_id(&[&self.id, &name, "Model"]);
            let mut model = Resource::new(r::Model {
                api_id: Expr::ref_(api_id),
                name: name.clone(),
                content_type: Some("application/json".into()),
                description: None,
                schema,
            });
            if pushed.contains(name.as_str()) {
                model.metadata.insert(PUSHED.into(), true.into());
            }
            ctx.add(&id, &format!("{api_path}/models/{name}"), model);
            if routed.contains(name.as_str()) {
                deployment.resources.push(id.clone());
            }
            ids.insert(name, id);
        }
        ids
    }

    /// The API's own rules: selection expressions, name and description lengths, and
    /// API Gateway's limits on routes and stages.
    fn check(&self, p: &mut Problems, api_path: &str, tags: &BTreeMap<String, String>) {
        if let Some(problem) = route_selection_problem(&self.route_selection_expression) {
            p.add(api_path, "route-selection-expression", problem, "use `$request.body.<field>` (e.g. `$request.body.action`) or `${request.body.<field>}` forms");
        }
        if let Some(e) = &self.api_key_selection_expression {
            if e != "$request.header.x-api-key" && e != "$context.authorizer.usageIdentifierKey" {
                p.add(
                    api_path,
                    "api-key-selection-expression",
                    format!("API key selection expression `{e}` is not one API Gateway accepts"),
                    "use `$request.header.x-api-key` or `$context.authorizer.usageIdentifierKey`",
                );
            }
        }
        if let Some(n) = &self.name {
            p.max_len(api_path, "API name", n, 128);
        }
        if let Some(d) = &self.description {
            p.max_len(api_path, "API description", d, 1024);
        }
        super::app::check_tags(p, api_path, tags);
        if self.routes.len() > MAX_ROUTES {
            p.add(
                api_path,
                "too-many-routes",
                format!(
                    "the API has {} routes; API Gateway allows {MAX_ROUTES}",
                    self.routes.len()
                ),
                "merge routes (e.g. one route with a `type` field in the message) or split the API",
            );
        }
        if self.stages.len() > MAX_STAGES {
            p.add(
                api_path,
                "too-many-stages",
                format!(
                    "the API has {} stages; API Gateway allows {MAX_STAGES}",
                    self.stages.len()
                ),
                "remove stages or deploy them as separate stacks",
            );
        }
    }

    /// The `AWS::ApiGatewayV2::Api` resource, with the stack's tags and its own.
    fn emit_api(
        &self,
        ctx: &mut SynthCtx,
        api_path: &str,
        api_id: &str,
        tags: BTreeMap<String, String>,
    ) {
        let name = match &self.name {
            Some(n) => Expr::from(n.as_str()),
            None => Expr::sub(format!("${{AWS::StackName}}-{}", self.id)),
        };
        ctx.add(
            api_id,
            api_path,
            Resource::new(r::Api {
                name,
                protocol_type: "WEBSOCKET".into(),
                route_selection_expression: Some(self.route_selection_expression.clone()),
                api_key_selection_expression: self.api_key_selection_expression.clone(),
                description: self.description.clone(),
                disable_execute_api_endpoint: self.disable_execute_api_endpoint.then_some(true),
                tags,
            }),
        );
    }
}

/// What a route's synthesis needs of its API.
#[derive(Clone, Copy)]
struct ApiRefs<'a> {
    /// The API's construct id (the first part of its routes' logical ids).
    id: &'a str,
    /// The API's logical id.
    logical_id: &'a str,
    /// The API's route selection expression, which model selection reuses.
    route_selection: &'a str,
    /// The API's models: logical ids by model name.
    models: &'a BTreeMap<String, String>,
}

/// What an explicit deployment captures: its resources (hashed into the deployment's
/// logical ID) and the routes and route responses it depends on.
#[derive(Default)]
struct Deployment {
    resources: Vec<String>,
    routes: Vec<String>,
}

impl Deployment {
    /// A hash of everything the deployment captures: explicit deployments get a new
    /// logical ID (and so are redeployed) exactly when it changes.
    fn hash(&mut self, ctx: &SynthCtx) -> String {
        let mut h = Sha256::new();
        self.resources.sort();
        for id in &self.resources {
            if let Some(res) = ctx.template.resources.get(id) {
                h.update(id.as_bytes());
                h.update(serde_json::to_vec(res).expect("resources serialize"));
            }
        }
        hex(&h.finalize())[..8].to_string()
    }
}

/// Routes with identical integrations share one Integration resource (named after the
/// first), which keeps large APIs under CloudFormation's 500 resources per template;
/// Lambda permissions stay per route.
#[derive(Default)]
struct SharedIntegrations(BTreeMap<String, String>);

impl AuthorizerState {
    /// Checks the authorizer and emits it with the permission to invoke its function.
    fn synth(&self, ctx: &mut SynthCtx, api_path: &str, api_id: &str, deployment: &mut Deployment) {
        let path = format!("{api_path}/{}", self.id);
        let auth_id = self.logical_id();
        let f = self.function.borrow().logical_id();
        for s in &self.identity_sources {
            let ok = [
                "route.request.header.",
                "route.request.querystring.",
                "stageVariables.",
                "context.",
            ]
            .iter()
            .any(|prefix| s.strip_prefix(prefix).is_some_and(|n| !n.is_empty()));
            if !ok {
                ctx.problems.add(&path, "authorizer-identity-source", format!("identity source `{s}` is not valid for a WebSocket authorizer"), "use `IdentitySource::query(\"token\")`, `IdentitySource::header(\"Authorization\")`, a stage variable or a context variable");
            }
        }
        ctx.problems
            .max_len(&path, "authorizer name", &self.id, 128);
        ctx.add(
            &auth_id,
            &path,
            Resource::new(r::Authorizer {
                api_id: Expr::ref_(api_id),
                name: self.id.clone(),
                authorizer_type: "REQUEST".into(),
                authorizer_uri: Some(lambda_invocation_uri(&f)),
                identity_source: self.identity_sources.clone(),
            }),
        );
        deployment.resources.push(auth_id.clone());
        ctx.add(
            &format!("{auth_id}Permission"),
            &format!("{path}/Permission"),
            Resource::new(r::Permission {
                action: "lambda:InvokeFunction".into(),
                function_name: Expr::get_att(&f, "Arn"),
                principal: "apigateway.amazonaws.com".into(),
                source_arn: Some(execute_api_arn(
                    api_id,
                    vec!["/authorizers/".into(), Expr::ref_(&auth_id)],
                )),
                source_account: None,
            }),
        );
    }
}

impl RouteState {
    /// The route's rules: its key, authorization only on `$connect`, two-way routes.
    fn check(&self, p: &mut Problems, path: &str) {
        let key = self.key.as_str();
        if key.is_empty() || (key.starts_with('$') && !RESERVED_ROUTES.contains(&key)) {
            p.add(path, "route-key-invalid", format!("route key `{key}` is not valid: keys starting with `$` are reserved for $connect, $disconnect and $default"), "use a plain key such as `sendmessage`");
        }
        p.max_len(path, "route key", key, 128);
        if !matches!(self.authorization, Authorization::None) && key != "$connect" {
            let what = if matches!(self.authorization, Authorization::Iam) {
                "IAM authorization"
            } else {
                "an authorizer"
            };
            p.add(path, "authorizer-not-on-connect", format!("route `{key}` has {what}; WebSocket APIs authorize only the `$connect` route"), "move the authorization to the `$connect` route; later messages are already authorized");
        }
        if let Some(model) = &self.request {
            if key == "$connect" || key == "$disconnect" {
                p.add(
                    path,
                    "route-model-no-message",
                    format!(
                        "route `{key}` has the message type `{}`, but `{key}` carries no message to validate",
                        model.type_name
                    ),
                    format!("remove `.request::<..>()` from the `{key}` route"),
                );
            }
        }
        if let Some(model) = &self.response {
            if key == "$disconnect" {
                p.add(
                    path,
                    "route-model-no-message",
                    format!(
                        "route `{key}` has the response type `{}`, but `{key}` sends no response",
                        model.type_name
                    ),
                    format!("remove `.response::<..>()` from the `{key}` route"),
                );
            }
        }
        if self.two_way && key == "$disconnect" {
            p.add(
                path,
                "route-response-disconnect",
                "`$disconnect` cannot be two-way: the connection is gone",
                "remove `.two_way()` from the `$disconnect` route",
            );
        }
        if let Some(op) = &self.operation_name {
            p.max_len(path, "operation name", op, 128);
        }
    }

    /// Checks the route and emits it: its integration (shared when identical), the
    /// permission to invoke its function, the route and its route response.
    fn synth(
        &self,
        ctx: &mut SynthCtx,
        path: &str,
        api: &ApiRefs,
        integrations: &mut SharedIntegrations,
        deployment: &mut Deployment,
    ) {
        let ApiRefs {
            id: api,
            logical_id: api_id,
            route_selection,
            models,
        } = *api;
        let key = self.key.as_str();
        let base = logical_id(&[api, key]);
        self.check(&mut ctx.problems, path);
        let Some(integration) = &self.integration else {
            ctx.problems.add(path, "route-no-integration", format!("route `{key}` has no integration"), "give it one with `.integration(&function)` (or `Integration::http_proxy`/`Integration::mock()`)");
            return;
        };
        let integ_id = integration.synth_shared(ctx, path, &base, api_id, integrations, deployment);
        if let Target::Lambda(f) = &integration.target {
            let f = f.borrow().logical_id();
            ctx.add(
                &format!("{base}Permission"),
                &format!("{path}/Permission"),
                Resource::new(r::Permission {
                    action: "lambda:InvokeFunction".into(),
                    function_name: Expr::get_att(&f, "Arn"),
                    principal: "apigateway.amazonaws.com".into(),
                    source_arn: Some(execute_api_arn(
                        api_id,
                        vec![Expr::from(format!("/*/{key}"))],
                    )),
                    source_account: None,
                }),
            );
        }
        let (authorization_type, authorizer_id) = match &self.authorization {
            Authorization::None => ("NONE", None),
            Authorization::Iam => ("AWS_IAM", None),
            Authorization::Custom(a) => ("CUSTOM", Some(Expr::ref_(a.borrow().logical_id()))),
        };
        let route_id = format!("{base}Route");
        // The route's message type validates every message: the selection expression
        // is the API's route selection expression, whose values have no model of their
        // own, so `$default`'s model applies to all.
        let (request_models, request_model_id) = keyed_model(self.request.as_ref(), models);
        let route = Resource::new(r::Route {
            api_id: Expr::ref_(api_id),
            route_key: key.into(),
            target: Some(Expr::concat([
                "integrations/".into(),
                Expr::ref_(&integ_id),
            ])),
            authorization_type: Some(authorization_type.into()),
            authorizer_id,
            api_key_required: self.api_key_required.then_some(true),
            operation_name: self.operation_name.clone(),
            route_response_selection_expression: self.two_way.then(|| "$default".into()),
            model_selection_expression: request_model_id
                .as_ref()
                .map(|_| route_selection.to_string()),
            request_models,
        })
        .depends_on(request_model_id);
        ctx.add(&route_id, path, route);
        deployment.resources.push(route_id.clone());
        deployment.routes.push(route_id.clone());
        if self.two_way {
            let rr = format!("{base}RouteResponse");
            // The response's type, as the route response's only model: the escaped
            // `\$default` selection expression always selects the `$default` key.
            let (response_models, response_model_id) = keyed_model(self.response.as_ref(), models);
            let resource = Resource::new(r::RouteResponse {
                api_id: Expr::ref_(api_id),
                route_id: Expr::ref_(&route_id),
                route_response_key: "$default".into(),
                model_selection_expression: response_model_id.as_ref().map(|_| "\\$default".into()),
                response_models,
            })
            .depends_on(response_model_id);
            ctx.add(&rr, &format!("{path}/RouteResponse"), resource);
            deployment.resources.push(rr.clone());
            deployment.routes.push(rr);
        }
    }
}

/// A message type's model as a route or route response names it: `{"$default": name}`
/// (its `RequestModels` or `ResponseModels`) and the model's logical id, which the route
/// or route response must come after (models are named, not referenced); empty when
/// there is no type, or the API emitted no model for it (a validation problem).
fn keyed_model(
    message: Option<&MessageModel>,
    models: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Option<String>) {
    match message.and_then(|m| Some((m.name.clone(), models.get(&m.name)?.clone()))) {
        Some((name, id)) => (BTreeMap::from([("$default".to_string(), name)]), Some(id)),
        None => (BTreeMap::new(), None),
    }
}

impl Integration {
    /// The integration of the route at `path` (and its integration response when it is
    /// not a proxy), or the identical one an earlier route emitted; returns its logical
    /// ID.
    fn synth_shared(
        &self,
        ctx: &mut SynthCtx,
        path: &str,
        base: &str,
        api_id: &str,
        integrations: &mut SharedIntegrations,
        deployment: &mut Deployment,
    ) -> String {
        let props = self.properties(&mut ctx.problems, api_id, path);
        let spec = serde_json::to_string(&(&props, &self.response_templates)).expect("serializes");
        if let Some(id) = integrations.0.get(&spec) {
            return id.clone();
        }
        let id = format!("{base}Integration");
        ctx.add(&id, &format!("{path}/Integration"), Resource::new(props));
        deployment.resources.push(id.clone());
        if !self.is_proxy() {
            let res_id = format!("{base}IntegrationResponse");
            ctx.add(
                &res_id,
                &format!("{path}/IntegrationResponse"),
                Resource::new(r::IntegrationResponse {
                    api_id: Expr::ref_(api_id),
                    integration_id: Expr::ref_(&id),
                    integration_response_key: "$default".into(),
                    content_handling_strategy: None,
                    response_templates: self.response_templates.clone(),
                    template_selection_expression: None,
                }),
            );
            deployment.resources.push(res_id);
        }
        integrations.0.insert(spec, id.clone());
        id
    }
}

/// `arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations`
fn lambda_invocation_uri(function_logical_id: &str) -> Expr {
    Expr::sub(format!(
        "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{function_logical_id}.Arn}}/invocations"
    ))
}

impl Integration {
    /// The Integration resource's properties, checking the integration's options.
    fn properties(&self, p: &mut Problems, api_id: &str, path: &str) -> r::Integration {
        if let Some(t) = self.timeout {
            let ms = t.as_millis();
            if !(50..=29_000).contains(&ms) {
                p.add(
                    path,
                    "integration-timeout",
                    format!("integration timeout is {ms} ms; API Gateway allows 50 to 29000 ms"),
                    "set `.timeout(..)` between 50 ms and 29 s",
                );
            }
        }
        if self.is_proxy()
            && (!self.request_templates.is_empty()
                || self.template_selection_expression.is_some()
                || self.passthrough.is_some()
                || !self.response_templates.is_empty())
        {
            p.add(path, "integration-templates-proxy", "templates and passthrough behaviour apply only to HTTP and MOCK integrations; proxy integrations pass messages through unchanged", "remove the templates, or use `Integration::http(..)` instead of a proxy integration");
        }
        let (integration_type, uri, method) = match &self.target {
            Target::Lambda(f) => (
                "AWS_PROXY",
                Some(lambda_invocation_uri(&f.borrow().logical_id())),
                None,
            ),
            Target::HttpProxy { url, method } | Target::Http { url, method } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 9 {
                    p.add(
                        path,
                        "integration-uri",
                        format!("integration URL `{url}` is not an http:// or https:// URL"),
                        "give the backend's full URL, e.g. `https://backend.example.com/messages`",
                    );
                }
                let t = if matches!(self.target, Target::Http { .. }) {
                    "HTTP"
                } else {
                    "HTTP_PROXY"
                };
                (
                    t,
                    Some(Expr::from(url.as_str())),
                    Some(method.to_ascii_uppercase()),
                )
            }
            Target::Mock => ("MOCK", None, None),
        };
        let mut request_templates = self.request_templates.clone();
        let mut template_selection_expression = self.template_selection_expression.clone();
        if matches!(self.target, Target::Mock) && request_templates.is_empty() {
            request_templates.insert("$default".into(), "{\"statusCode\":200}".into());
        }
        if !request_templates.is_empty() && template_selection_expression.is_none() {
            template_selection_expression = Some("\\$default".into());
        }
        let (content_handling_strategy, passthrough_behavior) = (
            self.content_handling.map(|c| match c {
                ContentHandling::ConvertToBinary => "CONVERT_TO_BINARY".to_string(),
                ContentHandling::ConvertToText => "CONVERT_TO_TEXT".to_string(),
            }),
            self.passthrough.map(|b| match b {
                PassthroughBehavior::WhenNoMatch => "WHEN_NO_MATCH".to_string(),
                PassthroughBehavior::WhenNoTemplates => "WHEN_NO_TEMPLATES".to_string(),
                PassthroughBehavior::Never => "NEVER".to_string(),
            }),
        );
        r::Integration {
            api_id: Expr::ref_(api_id),
            integration_type: integration_type.into(),
            integration_uri: uri,
            integration_method: method,
            description: self.description.clone(),
            content_handling_strategy,
            passthrough_behavior,
            request_parameters: self.request_parameters.clone(),
            request_templates,
            template_selection_expression,
            timeout_in_millis: self
                .timeout
                .map(|t| t.as_millis().min(u32::MAX as u128) as u32),
        }
    }
}

/// Why a route selection expression is invalid, if it is. Variables are
/// `$request.body.<path>` or `${request.body.<path>}`; `\$` is a literal dollar sign.
pub fn route_selection_problem(expr: &str) -> Option<String> {
    if expr.is_empty() {
        return Some("the route selection expression is empty".into());
    }
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut variables = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'$') => i += 2,
            '$' if chars.get(i + 1) == Some(&'{') => {
                let Some(end) = chars[i..].iter().position(|&c| c == '}') else {
                    return Some(format!("`{expr}`: `${{` is not closed by `}}`"));
                };
                variables.push(chars[i + 2..i + end].iter().collect::<String>());
                i += end + 1;
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric() || matches!(chars[j], '.' | '_' | '-'))
                {
                    j += 1;
                }
                variables.push(chars[start..j].iter().collect::<String>());
                i = j;
            }
            _ => i += 1,
        }
    }
    for v in &variables {
        let ok = v.strip_prefix("request.body.").is_some_and(|path| {
            !path.is_empty()
                && path.split('.').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                })
        });
        if !ok {
            return Some(format!("`{expr}`: `${v}` is not a message field; WebSocket route selection reads `$request.body.<field>`"));
        }
    }
    None
}

impl WebSocketApi {
    /// The API's name. Default: `{stack name}-{id}`.
    pub fn name(self, name: &str) -> Self {
        self.inner.borrow_mut().name = Some(name.into());
        self
    }

    /// The API's description.
    pub fn description(self, d: &str) -> Self {
        self.inner.borrow_mut().description = Some(d.into());
        self
    }

    /// How a message selects its route. Default: `$request.body.action`.
    pub fn route_selection_expression(self, e: &str) -> Self {
        self.inner.borrow_mut().route_selection_expression = e.into();
        self
    }

    /// Where API keys are read: `$request.header.x-api-key` or
    /// `$context.authorizer.usageIdentifierKey`.
    pub fn api_key_selection_expression(self, e: &str) -> Self {
        self.inner.borrow_mut().api_key_selection_expression = Some(e.into());
        self
    }

    /// Turns off the default `execute-api` endpoint (for custom domains only).
    pub fn disable_execute_api_endpoint(self, disable: bool) -> Self {
        self.inner.borrow_mut().disable_execute_api_endpoint = disable;
        self
    }

    /// A tag on the API (added to the stack's tags).
    pub fn tag(self, key: &str, value: &str) -> Self {
        self.inner
            .borrow_mut()
            .tags
            .insert(key.into(), value.into());
        self
    }

    /// A message type the app posts to its connections (through the `@connections` API,
    /// e.g. `wsgen_handler::broadcast`), such as a price update nobody asked for in that
    /// message. API Gateway does not check what is posted: the type becomes a model of
    /// the API, a `send` operation of the AsyncAPI document and a typed handler
    /// (`on<Name>`) of the clients `wsgen client` writes. Replies of two-way routes are
    /// declared with [`Route::response`] instead.
    pub fn pushes<T: schemars::JsonSchema>(self) -> Self {
        let model = MessageModel::of::<T>();
        let mut api = self.inner.borrow_mut();
        if !api.pushes.iter().any(|m| m.type_name == model.type_name) {
            api.pushes.push(model);
        }
        drop(api);
        self
    }

    /// The `$connect` route.
    pub fn on_connect(self, integration: impl Into<Integration>) -> Self {
        self.route("$connect", integration)
    }

    /// The `$disconnect` route.
    pub fn on_disconnect(self, integration: impl Into<Integration>) -> Self {
        self.route("$disconnect", integration)
    }

    /// The `$default` route, for messages no other route matches.
    pub fn on_default(self, integration: impl Into<Integration>) -> Self {
        self.route("$default", integration)
    }

    /// A route with its integration.
    pub fn route(self, key: &str, integration: impl Into<Integration>) -> Self {
        let _ = self.add_route(key).integration(integration);
        self
    }

    /// A route, configured through the returned handle.
    pub fn add_route(&self, key: &str) -> Route {
        let state = Rc::new(RefCell::new(RouteState {
            key: key.into(),
            integration: None,
            authorization: Authorization::None,
            api_key_required: false,
            operation_name: None,
            two_way: false,
            response: None,
            request: None,
        }));
        self.inner.borrow_mut().routes.push(state.clone());
        Route { inner: state }
    }

    /// The route with `key`, if there is one.
    pub fn route_handle(&self, key: &str) -> Option<Route> {
        self.inner
            .borrow()
            .routes
            .iter()
            .find(|r| r.borrow().key == key)
            .map(|r| Route { inner: r.clone() })
    }

    /// A Lambda REQUEST authorizer for the `$connect` route, backed by `function`.
    pub fn lambda_authorizer(&self, id: &str, function: &RustFunction) -> Authorizer {
        let api = self.inner.borrow().id.clone();
        let state = Rc::new(RefCell::new(AuthorizerState {
            api,
            id: id.into(),
            function: function.inner.clone(),
            identity_sources: Vec::new(),
        }));
        self.inner.borrow_mut().authorizers.push(state.clone());
        Authorizer { inner: state }
    }

    /// A stage: the API deployed at `wss://.../{name}`.
    pub fn stage(&self, name: &str) -> Stage {
        let api = self.inner.borrow().logical_id();
        let state = Rc::new(RefCell::new(StageState::new(&api, name)));
        self.inner.borrow_mut().stages.push(state.clone());
        Stage { inner: state }
    }

    /// The API's ID.
    pub fn api_id(&self) -> Expr {
        Expr::ref_(self.inner.borrow().logical_id())
    }

    /// The API's endpoint, `wss://{api-id}.execute-api.{region}.amazonaws.com`.
    pub fn endpoint(&self) -> Expr {
        Expr::get_att(self.inner.borrow().logical_id(), "ApiEndpoint")
    }

    /// Lets `function` send messages to this API's connections in every stage
    /// (`execute-api:ManageConnections` on `{api}/*/POST/@connections/*`). Prefer
    /// [`Stage::grant_manage_connections`], which is narrower.
    pub fn grant_manage_connections(&self, function: &RustFunction) {
        let api = self.inner.borrow().logical_id();
        function.inner.borrow_mut().grants.push(Grant::Connections {
            api,
            stage: None,
            method: "POST",
        });
    }
}

impl Route {
    /// The route's integration.
    pub fn integration(self, integration: impl Into<Integration>) -> Self {
        self.inner.borrow_mut().integration = Some(integration.into());
        self
    }

    /// Runs `authorizer` before the connection is accepted (`$connect` only).
    pub fn authorizer(self, authorizer: &Authorizer) -> Self {
        self.inner.borrow_mut().authorization = Authorization::Custom(authorizer.inner.clone());
        self
    }

    /// Requires SigV4-signed connection requests (`AWS_IAM`, `$connect` only).
    pub fn iam_authorization(self) -> Self {
        self.inner.borrow_mut().authorization = Authorization::Iam;
        self
    }

    /// Requires an API key. Default: false.
    pub fn api_key_required(self, required: bool) -> Self {
        self.inner.borrow_mut().api_key_required = required;
        self
    }

    /// The route's operation name.
    pub fn operation_name(self, name: &str) -> Self {
        self.inner.borrow_mut().operation_name = Some(name.into());
        self
    }

    /// The route's message type: API Gateway validates every message of the route
    /// against `T`'s JSON Schema (an `AWS::ApiGatewayV2::Model`, draft 4) and answers one
    /// that does not match without invoking the integration. `T` derives
    /// `schemars::JsonSchema`, and serde's traits for the handlers that read it.
    pub fn request<T: schemars::JsonSchema>(self) -> Self {
        self.inner.borrow_mut().request = Some(MessageModel::of::<T>());
        self
    }

    /// The message type of the route's response, which makes the route two-way: the
    /// route response gets `T`'s model (API Gateway does not validate responses; the
    /// AsyncAPI document and `wsgen client` describe them with it).
    pub fn response<T: schemars::JsonSchema>(self) -> Self {
        {
            let mut route = self.inner.borrow_mut();
            route.response = Some(MessageModel::of::<T>());
            route.two_way = true;
        }
        self
    }

    /// Sends the integration's response back to the caller (a route response).
    pub fn two_way(self) -> Self {
        self.inner.borrow_mut().two_way = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::route_selection_problem as p;

    #[test]
    fn route_selection_expressions() {
        for ok in [
            "$request.body.action",
            "${request.body.action}",
            "${request.body.service}/${request.body.action}",
            "\\$default",
            "$request.body.a.b_c",
        ] {
            assert_eq!(p(ok), None, "{ok}");
        }
        for bad in [
            "",
            "$request.header.x",
            "${request.body.action",
            "$request.body.",
            "$request.body",
            "${context.routeKey}",
            "$request.body.a..b",
        ] {
            assert!(p(bad).is_some(), "{bad}");
        }
    }
}

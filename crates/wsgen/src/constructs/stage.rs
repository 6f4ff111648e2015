//! `Stage`: a deployed version of a WebSocket API at `wss://.../{stage}`.

use super::app::SynthCtx;
use super::function::{Grant, RetentionDays, RustFunction};
use super::naming::logical_id;
use super::problems::matches;
use crate::cfn::resources as r;
use crate::cfn::{Expr, Resource};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The access log format of every stage unless [`Stage::access_logs_with_format`] gives
/// another: one JSON object per request (a connect, a message or a disconnect), with
/// its request and message IDs, the client's address, the time, the event type
/// (`CONNECT`, `MESSAGE`, `DISCONNECT`), the route, API Gateway's status and the
/// integration's, the connection, the integration's latency in milliseconds and API
/// Gateway's error message (a JSON string, or `null`). Message bodies are never logged.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","messageId":"$context.messageId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","eventType":"$context.eventType","routeKey":"$context.routeKey","status":"$context.status","integrationStatus":"$context.integration.status","connectionId":"$context.connectionId","integrationLatency":"$context.integrationLatency","error":$context.error.messageString}"#;

/// The longest access log format API Gateway takes (its "access log template size"
/// quota for WebSocket APIs, 3 KB).
const MAX_ACCESS_LOG_FORMAT: usize = 3 * 1024;

/// How long a stage's access log group keeps its events unless
/// [`Stage::access_logs`] says otherwise (the functions' log groups keep theirs as
/// long).
pub const DEFAULT_ACCESS_LOG_RETENTION: RetentionDays = RetentionDays::OneMonth;

/// How much API Gateway writes to CloudWatch Logs about execution. Needs the account's
/// API Gateway CloudWatch role (`AWS::ApiGateway::Account`), set once per region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoggingLevel {
    Off,
    Error,
    Info,
}

/// Throttling, logging and metrics of a stage's routes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteSettings {
    /// Steady-state requests per second. Default: the account's limit.
    pub throttling_rate_limit: Option<f64>,
    /// Burst capacity. Default: the account's limit.
    pub throttling_burst_limit: Option<u32>,
    /// Default: off.
    pub logging_level: Option<LoggingLevel>,
    /// Logs full requests and responses. Default: off; never turn it on where messages
    /// carry secrets.
    pub data_trace: Option<bool>,
    /// Per-route CloudWatch metrics. Default: off.
    pub detailed_metrics: Option<bool>,
}

impl RouteSettings {
    pub fn new() -> RouteSettings {
        RouteSettings::default()
    }
    /// Steady-state rate (requests per second) and burst.
    pub fn throttle(mut self, rate: f64, burst: u32) -> Self {
        self.throttling_rate_limit = Some(rate);
        self.throttling_burst_limit = Some(burst);
        self
    }
    pub fn logging(mut self, level: LoggingLevel) -> Self {
        self.logging_level = Some(level);
        self
    }
    pub fn data_trace(mut self, on: bool) -> Self {
        self.data_trace = Some(on);
        self
    }
    pub fn detailed_metrics(mut self, on: bool) -> Self {
        self.detailed_metrics = Some(on);
        self
    }

    fn to_cfn(&self) -> r::RouteSettings {
        r::RouteSettings {
            data_trace_enabled: self.data_trace,
            detailed_metrics_enabled: self.detailed_metrics,
            logging_level: self.logging_level.map(|l| {
                match l {
                    LoggingLevel::Off => "OFF",
                    LoggingLevel::Error => "ERROR",
                    LoggingLevel::Info => "INFO",
                }
                .into()
            }),
            throttling_burst_limit: self.throttling_burst_limit,
            throttling_rate_limit: self.throttling_rate_limit,
        }
    }

    fn problem(&self) -> Option<String> {
        match self.throttling_rate_limit {
            Some(r) if !r.is_finite() || r < 0.0 => {
                Some(format!("throttling rate {r} is not a non-negative number"))
            }
            _ => None,
        }
    }
}

/// A stage of a WebSocket API.
///
/// Every stage gets two stack outputs, `{Api}{Stage}WebSocketUrl` ([`Stage::url`]) and
/// `{Api}{Stage}CallbackUrl` ([`Stage::callback_url`]), unless an output of the stack
/// already has that value: `wsgen deploy` prints the outputs, so the URLs are always
/// shown.
#[derive(Clone)]
pub struct Stage {
    pub(crate) inner: Rc<RefCell<StageState>>,
}

pub(crate) struct StageState {
    pub api: String,
    pub name: String,
    /// Default: true (API Gateway deploys every change to the API by itself).
    pub auto_deploy: bool,
    pub description: Option<String>,
    pub default_settings: RouteSettings,
    pub route_settings: BTreeMap<String, RouteSettings>,
    /// Access logs to a log group kept this long, in this format. Default: on, for
    /// [`DEFAULT_ACCESS_LOG_RETENTION`], in [`DEFAULT_ACCESS_LOG_FORMAT`].
    pub access_logs: Option<(RetentionDays, String)>,
    pub variables: BTreeMap<String, String>,
    /// A custom domain and its ACM certificate. Default: none.
    pub domain: Option<(String, Expr)>,
}

impl StageState {
    pub fn new(api: &str, name: &str) -> StageState {
        StageState {
            api: api.into(),
            name: name.into(),
            auto_deploy: true,
            description: None,
            default_settings: RouteSettings::default(),
            route_settings: BTreeMap::new(),
            access_logs: Some((
                DEFAULT_ACCESS_LOG_RETENTION,
                DEFAULT_ACCESS_LOG_FORMAT.into(),
            )),
            variables: BTreeMap::new(),
            domain: None,
        }
    }

    pub(crate) fn base(&self) -> String {
        logical_id(&[&self.api, &self.name])
    }

    pub(crate) fn url(&self, scheme: &str) -> Expr {
        Expr::sub(format!(
            "{}/{}",
            execute_api_origin(scheme, &self.api),
            self.name
        ))
    }

    pub fn synth(
        &self,
        ctx: &mut SynthCtx,
        api_construct: &str,
        api_id: &str,
        routes: &[String],
        deployment_hash: &str,
        route_keys: &BTreeSet<String>,
    ) {
        let path = ctx.path(&[api_construct, "stages", &self.name]);
        let base = self.base();
        let p = &mut ctx.problems;
        if !matches(&self.name, stage_char, stage_char, 1..=128) {
            p.add(
                &path,
                "stage-name",
                format!(
                    "stage name `{}` is not valid: use 1 to 128 letters, digits, `-` or `_`",
                    self.name
                ),
                "rename the stage, e.g. `prod` or `dev`",
            );
        }
        if let Some(d) = &self.description {
            p.max_len(&path, "stage description", d, 1024);
        }
        if let Some(problem) = self.default_settings.problem() {
            p.add(
                &path,
                "stage-throttle",
                problem,
                "use a rate of at least 0 requests per second",
            );
        }
        for (key, settings) in &self.route_settings {
            if !route_keys.contains(key) {
                p.add(
                    &path,
                    "stage-route-settings",
                    format!("settings are given for route `{key}`, which the API does not have"),
                    format!(
                        "use one of the API's route keys: {}",
                        route_keys.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            if let Some(problem) = settings.problem() {
                p.add(
                    &path,
                    "stage-throttle",
                    format!("route `{key}`: {problem}"),
                    "use a rate of at least 0 requests per second",
                );
            }
        }
        for (k, v) in &self.variables {
            if !matches(k, stage_var_char, stage_var_char, 1..=64) {
                p.add(
                    &path,
                    "stage-variable",
                    format!("stage variable name `{k}` must be 1 to 64 letters, digits or `_`"),
                    "rename the variable",
                );
            }
            if !matches(v, stage_value_char, stage_value_char, 1..=512) {
                p.add(&path, "stage-variable", format!("the value of stage variable `{k}` may hold only letters, digits and `-._~:/?#&=,` (1 to 512 characters)"), "change the value, or pass it another way (e.g. an environment variable of the function)");
            }
        }

        if let Some((_, format)) = &self.access_logs {
            if format.len() > MAX_ACCESS_LOG_FORMAT {
                ctx.problems.add(
                    &path,
                    "access-log-format",
                    format!(
                        "the access log format is {} bytes; API Gateway takes at most {MAX_ACCESS_LOG_FORMAT} (3 KB)",
                        format.len()
                    ),
                    "log fewer `$context` variables, or shorter keys",
                );
            }
        }
        let access_log_settings = self.access_logs.as_ref().map(|(retention, format)| {
            let lg = format!("{base}AccessLogs");
            ctx.add(
                &lg,
                &format!("{path}/AccessLogs"),
                Resource::new(r::LogGroup {
                    log_group_name: None,
                    retention_in_days: retention.days(),
                    tags: r::tag_list(&ctx.tags),
                }),
            );
            r::AccessLogSettings {
                destination_arn: Expr::get_att(&lg, "Arn"),
                format: format.clone(),
            }
        });

        let deployment_id = (!self.auto_deploy).then(|| {
            let id = format!("{base}Deployment{deployment_hash}");
            ctx.add(
                &id,
                &format!("{path}/Deployment"),
                Resource::new(r::Deployment {
                    api_id: Expr::ref_(api_id),
                    description: Some(format!("routes as of {deployment_hash}")),
                })
                .depends_on(routes.iter().cloned()),
            );
            Expr::ref_(id)
        });
        let defaults = self.default_settings.to_cfn();
        let stage_id = format!("{base}Stage");
        let mut tags = ctx.tags.clone();
        if let Some(r::ResourceKind::Api(api)) = ctx.template.resources.get(api_id).map(|r| &r.kind)
        {
            tags = api.tags.clone();
        }
        ctx.add(
            &stage_id,
            &path,
            Resource::new(r::Stage {
                api_id: Expr::ref_(api_id),
                stage_name: self.name.clone(),
                description: self.description.clone(),
                auto_deploy: self.auto_deploy.then_some(true),
                deployment_id,
                default_route_settings: (defaults != r::RouteSettings::default())
                    .then_some(defaults),
                route_settings: self
                    .route_settings
                    .iter()
                    .map(|(k, s)| (k.clone(), s.to_cfn()))
                    .collect(),
                access_log_settings,
                stage_variables: self.variables.clone(),
                tags,
            })
            // Route settings name routes, and the first auto-deployment should hold
            // every route: create the stage after them.
            .depends_on(routes.iter().cloned()),
        );
        if let Some((domain, certificate)) = &self.domain {
            let dn = format!("{base}Domain");
            ctx.problems.max_len(&path, "domain name", domain, 253);
            ctx.add(
                &dn,
                &format!("{path}/Domain"),
                Resource::new(r::DomainName {
                    domain_name: domain.clone(),
                    domain_name_configurations: vec![r::DomainNameConfiguration {
                        certificate_arn: certificate.clone(),
                        endpoint_type: Some("REGIONAL".into()),
                        security_policy: Some("TLS_1_2".into()),
                    }],
                    tags: ctx.tags.clone(),
                }),
            );
            ctx.add(
                &format!("{base}ApiMapping"),
                &format!("{path}/Domain/Mapping"),
                Resource::new(r::ApiMapping {
                    api_id: Expr::ref_(api_id),
                    domain_name: Expr::ref_(&dn),
                    stage: Expr::ref_(&stage_id),
                    api_mapping_key: None,
                }),
            );
        }
    }
}

fn stage_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}
fn stage_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
fn stage_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(c)
}

impl Stage {
    /// Deploys every change to the API by itself (the default). With `false`, wsgen
    /// creates an explicit `Deployment` whose logical ID changes with the routes, so a
    /// change to the routes redeploys the stage.
    pub fn auto_deploy(self, on: bool) -> Self {
        self.inner.borrow_mut().auto_deploy = on;
        self
    }

    /// The stage's description.
    pub fn description(self, d: &str) -> Self {
        self.inner.borrow_mut().description = Some(d.into());
        self
    }

    /// Default throttling for every route: steady `rate` per second and `burst`.
    pub fn throttle(self, rate: f64, burst: u32) -> Self {
        {
            let mut s = self.inner.borrow_mut();
            s.default_settings.throttling_rate_limit = Some(rate);
            s.default_settings.throttling_burst_limit = Some(burst);
        }
        self
    }

    /// The execution logging level of every route.
    pub fn logging(self, level: LoggingLevel) -> Self {
        self.inner.borrow_mut().default_settings.logging_level = Some(level);
        self
    }

    /// Full request and response logging for every route. Default: off.
    pub fn data_trace(self, on: bool) -> Self {
        self.inner.borrow_mut().default_settings.data_trace = Some(on);
        self
    }

    /// Per-route CloudWatch metrics. Default: off.
    pub fn detailed_metrics(self, on: bool) -> Self {
        self.inner.borrow_mut().default_settings.detailed_metrics = Some(on);
        self
    }

    /// The default settings of every route, replacing those set so far.
    pub fn default_route_settings(self, settings: RouteSettings) -> Self {
        self.inner.borrow_mut().default_settings = settings;
        self
    }

    /// Settings of one route, overriding the defaults.
    pub fn route_settings(self, route_key: &str, settings: RouteSettings) -> Self {
        self.inner
            .borrow_mut()
            .route_settings
            .insert(route_key.into(), settings);
        self
    }

    /// Throttling of one route.
    pub fn route_throttle(self, route_key: &str, rate: f64, burst: u32) -> Self {
        {
            let mut s = self.inner.borrow_mut();
            let e = s.route_settings.entry(route_key.into()).or_default();
            e.throttling_rate_limit = Some(rate);
            e.throttling_burst_limit = Some(burst);
        }
        self
    }

    /// Keeps the access logs (on by default: one JSON line per request in
    /// [`DEFAULT_ACCESS_LOG_FORMAT`], in a log group of the stack) for `retention`
    /// instead of [`DEFAULT_ACCESS_LOG_RETENTION`].
    pub fn access_logs(self, retention: RetentionDays) -> Self {
        self.access_logs_with_format(retention, DEFAULT_ACCESS_LOG_FORMAT)
    }

    /// Access logs in `format` (`$context` variables), kept for `retention`.
    pub fn access_logs_with_format(self, retention: RetentionDays, format: &str) -> Self {
        self.inner.borrow_mut().access_logs = Some((retention, format.into()));
        self
    }

    /// No access logs. Stages log their requests by default, which needs the account's
    /// API Gateway CloudWatch role (`wsgen bootstrap --api-gateway-logging`); a stage
    /// without access logs and with execution logging off needs no such role.
    pub fn no_access_logs(self) -> Self {
        self.inner.borrow_mut().access_logs = None;
        self
    }

    /// A stage variable.
    pub fn variable(self, name: &str, value: &str) -> Self {
        self.inner
            .borrow_mut()
            .variables
            .insert(name.into(), value.into());
        self
    }

    /// Serves the stage at `wss://{domain}` with an ACM certificate in the same region.
    pub fn custom_domain(self, domain: &str, certificate_arn: impl Into<Expr>) -> Self {
        self.inner.borrow_mut().domain = Some((domain.into(), certificate_arn.into()));
        self
    }

    /// The stage's name.
    pub fn stage_name(&self) -> String {
        self.inner.borrow().name.clone()
    }

    /// `wss://{api-id}.execute-api.{region}.{suffix}/{stage}`: where clients connect.
    pub fn url(&self) -> Expr {
        self.inner.borrow().url("wss")
    }

    /// `https://{api-id}.execute-api.{region}.{suffix}/{stage}`: the endpoint of the
    /// `@connections` management API (the SDK appends `/@connections/{id}`).
    pub fn callback_url(&self) -> Expr {
        self.inner.borrow().url("https")
    }

    /// `wss://{domain}` when the stage has a custom domain.
    pub fn domain_url(&self) -> Option<Expr> {
        self.inner
            .borrow()
            .domain
            .as_ref()
            .map(|(d, _)| Expr::from(format!("wss://{d}")))
    }

    /// Lets `function` send messages to this stage's connections
    /// (`execute-api:ManageConnections` on `{api}/{stage}/POST/@connections/*`: what
    /// `wsgen_handler::Connections::post` and broadcasts call).
    pub fn grant_manage_connections(&self, function: &RustFunction) {
        self.grant_connections(function, "POST");
    }

    /// Lets `function` read this stage's connections (`GET .../@connections/*`: what
    /// `wsgen_handler::Connections::get` calls).
    pub fn grant_get_connections(&self, function: &RustFunction) {
        self.grant_connections(function, "GET");
    }

    /// Lets `function` close this stage's connections (`DELETE .../@connections/*`:
    /// what `wsgen_handler::Connections::delete` calls).
    pub fn grant_delete_connections(&self, function: &RustFunction) {
        self.grant_connections(function, "DELETE");
    }

    fn grant_connections(&self, function: &RustFunction, method: &'static str) {
        let s = self.inner.borrow();
        function.inner.borrow_mut().grants.push(Grant::Connections {
            api: s.api.clone(),
            stage: Some(s.name.clone()),
            method,
        });
    }
}

/// The origin of an API's stage URLs as `Fn::Sub` writes it, e.g.
/// `wss://${ChatApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}` (`scheme` is `wss`
/// or `https`); `wsgen dev` recognizes it to point clients at the local gateway.
pub fn execute_api_origin(scheme: &str, api_logical_id: &str) -> String {
    format!("{scheme}://${{{api_logical_id}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}")
}

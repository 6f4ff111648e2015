//! Typed CloudFormation resources and property types for the services wsgen uses.
//!
//! Field names follow the CloudFormation resource reference (serialized in PascalCase);
//! empty optional fields are left out of the template. Each struct documents only what
//! wsgen relies on; see the AWS resource reference for the full meaning of each property.

use super::{types, Expr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a field is left out of the template (`None`, an empty list or map).
pub trait Omit {
    fn omit(&self) -> bool {
        false
    }
}
impl<T> Omit for Option<T> {
    fn omit(&self) -> bool {
        self.is_none()
    }
}
impl<T> Omit for Vec<T> {
    fn omit(&self) -> bool {
        self.is_empty()
    }
}
impl<K, V> Omit for BTreeMap<K, V> {
    fn omit(&self) -> bool {
        self.is_empty()
    }
}
impl Omit for Expr {}
impl Omit for String {}
impl Omit for bool {}
impl Omit for u32 {}
impl Omit for serde_json::Value {}

pub(crate) fn omit<T: Omit>(t: &T) -> bool {
    t.omit()
}

impl Default for Expr {
    fn default() -> Self {
        Expr::Str(String::new())
    }
}

macro_rules! props {
    ($(#[$m:meta])* $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            $( $(#[$fm])* #[serde(default, skip_serializing_if = "omit")] pub $field: $ty, )*
        }
        impl Omit for $name {}
    };
}

/// Tags in the map form (`AWS::ApiGatewayV2::*`).
pub type TagMap = BTreeMap<String, String>;

props!(
    /// A tag in the list form (`AWS::Lambda`, `AWS::IAM`, `AWS::DynamoDB`, `AWS::Logs`).
    Tag { key: String, value: String }
);

/// Tags in the list form, sorted by key.
pub fn tag_list(tags: &TagMap) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

// ---------------------------------------------------------------- AWS::ApiGatewayV2

props!(
    /// `AWS::ApiGatewayV2::Api`.
    Api {
        name: Expr,
        protocol_type: String,
        route_selection_expression: Option<String>,
        api_key_selection_expression: Option<String>,
        description: Option<String>,
        disable_execute_api_endpoint: Option<bool>,
        tags: TagMap,
    }
);

props!(
    /// `AWS::ApiGatewayV2::Route`.
    Route {
        api_id: Expr,
        route_key: String,
        /// `integrations/{IntegrationId}`.
        target: Option<Expr>,
        /// `NONE`, `AWS_IAM` or `CUSTOM`.
        authorization_type: Option<String>,
        authorizer_id: Option<Expr>,
        api_key_required: Option<bool>,
        operation_name: Option<String>,
        route_response_selection_expression: Option<String>,
        /// Which of `RequestModels` validates a message (WebSocket APIs only).
        model_selection_expression: Option<String>,
        /// Model names by selection key.
        request_models: BTreeMap<String, String>,
    }
);

props!(
    /// `AWS::ApiGatewayV2::Model`: a JSON Schema (draft 4) messages are validated with.
    Model {
        api_id: Expr,
        name: String,
        content_type: Option<String>,
        description: Option<String>,
        schema: serde_json::Value,
    }
);

props!(
    /// `AWS::ApiGatewayV2::RouteResponse`.
    RouteResponse {
        api_id: Expr,
        route_id: Expr,
        route_response_key: String,
        /// Which of `ResponseModels` describes the response (WebSocket APIs only).
        model_selection_expression: Option<String>,
        /// Model names by selection key.
        response_models: BTreeMap<String, String>,
    }
);

props!(
    /// `AWS::ApiGatewayV2::Integration`.
    Integration {
        api_id: Expr,
        /// `AWS_PROXY`, `HTTP`, `HTTP_PROXY`, `MOCK` (`AWS` too, unused here).
        integration_type: String,
        integration_uri: Option<Expr>,
        integration_method: Option<String>,
        description: Option<String>,
        /// `CONVERT_TO_BINARY` or `CONVERT_TO_TEXT`.
        content_handling_strategy: Option<String>,
        /// `WHEN_NO_MATCH`, `WHEN_NO_TEMPLATES` or `NEVER`.
        passthrough_behavior: Option<String>,
        request_parameters: BTreeMap<String, String>,
        request_templates: BTreeMap<String, String>,
        template_selection_expression: Option<String>,
        timeout_in_millis: Option<u32>,
    }
);

props!(
    /// `AWS::ApiGatewayV2::IntegrationResponse`.
    IntegrationResponse {
        api_id: Expr,
        integration_id: Expr,
        integration_response_key: String,
        content_handling_strategy: Option<String>,
        response_templates: BTreeMap<String, String>,
        template_selection_expression: Option<String>,
    }
);

props!(
    /// `AWS::ApiGatewayV2::Authorizer`.
    Authorizer {
        api_id: Expr,
        name: String,
        /// `REQUEST` for WebSocket APIs.
        authorizer_type: String,
        authorizer_uri: Option<Expr>,
        identity_source: Vec<String>,
    }
);

props!(
    /// Throttling, logging and metrics of a stage or one of its routes.
    RouteSettings {
        data_trace_enabled: Option<bool>,
        detailed_metrics_enabled: Option<bool>,
        /// `ERROR`, `INFO` or `OFF`.
        logging_level: Option<String>,
        throttling_burst_limit: Option<u32>,
        throttling_rate_limit: Option<f64>,
    }
);

props!(
    /// Where a stage writes its access logs.
    AccessLogSettings { destination_arn: Expr, format: String }
);

props!(
    /// `AWS::ApiGatewayV2::Stage`.
    Stage {
        api_id: Expr,
        stage_name: String,
        description: Option<String>,
        auto_deploy: Option<bool>,
        deployment_id: Option<Expr>,
        default_route_settings: Option<RouteSettings>,
        route_settings: BTreeMap<String, RouteSettings>,
        access_log_settings: Option<AccessLogSettings>,
        stage_variables: BTreeMap<String, String>,
        tags: TagMap,
    }
);

props!(
    /// `AWS::ApiGatewayV2::Deployment`.
    Deployment { api_id: Expr, description: Option<String> }
);

props!(
    /// One endpoint configuration of a custom domain.
    DomainNameConfiguration {
        certificate_arn: Expr,
        endpoint_type: Option<String>,
        security_policy: Option<String>,
    }
);

props!(
    /// `AWS::ApiGatewayV2::DomainName`.
    DomainName {
        domain_name: String,
        domain_name_configurations: Vec<DomainNameConfiguration>,
        tags: TagMap,
    }
);

props!(
    /// `AWS::ApiGatewayV2::ApiMapping`.
    ApiMapping { api_id: Expr, domain_name: Expr, stage: Expr, api_mapping_key: Option<String> }
);

// ---------------------------------------------------------------- AWS::Lambda

props!(
    /// Where a function's code zip lives.
    Code { s3_bucket: Expr, s3_key: Expr }
);

props!(
    /// A function's environment variables.
    Environment { variables: BTreeMap<String, Expr> }
);

props!(
    /// A function's log destination.
    LoggingConfig { log_group: Option<Expr>, log_format: Option<String> }
);

props!(
    /// X-Ray tracing of a function (`Active` or `PassThrough`).
    TracingConfig { mode: String }
);

props!(
    /// `AWS::Lambda::Function`.
    Function {
        description: Option<String>,
        runtime: String,
        handler: String,
        architectures: Vec<String>,
        code: Code,
        role: Expr,
        memory_size: Option<u32>,
        timeout: Option<u32>,
        environment: Option<Environment>,
        logging_config: Option<LoggingConfig>,
        reserved_concurrent_executions: Option<u32>,
        tracing_config: Option<TracingConfig>,
        tags: Vec<Tag>,
    }
);

props!(
    /// `AWS::Lambda::Permission`.
    Permission {
        action: String,
        function_name: Expr,
        principal: String,
        source_arn: Option<Expr>,
        source_account: Option<Expr>,
    }
);

props!(
    /// `AWS::Lambda::EventSourceMapping`: a function run on batches of a stream's records.
    EventSourceMapping {
        event_source_arn: Expr,
        function_name: Expr,
        batch_size: Option<u32>,
        starting_position: Option<String>,
        maximum_batching_window_in_seconds: Option<u32>,
        maximum_retry_attempts: Option<i32>,
        /// Off when `false`; on by default.
        enabled: Option<bool>,
    }
);

// ---------------------------------------------------------------- AWS::IAM

props!(
    /// One statement of an IAM policy.
    Statement {
        sid: Option<String>,
        effect: String,
        principal: Option<Expr>,
        action: Vec<String>,
        resource: Vec<Expr>,
        condition: Option<Expr>,
    }
);

props!(
    /// An IAM policy document.
    PolicyDocument { version: String, statement: Vec<Statement> }
);

props!(
    /// `AWS::IAM::Role`.
    Role {
        assume_role_policy_document: PolicyDocument,
        description: Option<String>,
        managed_policy_arns: Vec<Expr>,
        tags: Vec<Tag>,
    }
);

props!(
    /// `AWS::IAM::Policy`.
    Policy { policy_name: String, policy_document: PolicyDocument, roles: Vec<Expr> }
);

// ---------------------------------------------------------------- AWS::DynamoDB

props!(
    /// A key attribute and its type (`S`, `N` or `B`).
    AttributeDefinition { attribute_name: String, attribute_type: String }
);

props!(
    /// A key element (`HASH` or `RANGE`).
    KeySchema { attribute_name: String, key_type: String }
);

props!(
    /// Which attributes an index holds (`ALL`, `KEYS_ONLY` or `INCLUDE`).
    Projection { projection_type: String, non_key_attributes: Vec<String> }
);

props!(
    /// A global secondary index.
    GlobalSecondaryIndex { index_name: String, key_schema: Vec<KeySchema>, projection: Projection }
);

props!(
    /// Server-side encryption.
    SseSpecification {
        #[serde(rename = "SSEEnabled")]
        sse_enabled: bool,
    }
);

props!(
    /// The attribute that holds each item's expiry time.
    TimeToLiveSpecification { attribute_name: String, enabled: bool }
);

props!(
    /// Point-in-time recovery.
    PointInTimeRecoverySpecification { point_in_time_recovery_enabled: bool }
);

props!(
    /// The table's stream: what each record holds (`KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE`
    /// or `NEW_AND_OLD_IMAGES`).
    StreamSpecification { stream_view_type: String }
);

props!(
    /// Read and write capacity for `PROVISIONED` billing.
    ProvisionedThroughput { read_capacity_units: u32, write_capacity_units: u32 }
);

props!(
    /// `AWS::DynamoDB::Table`.
    Table {
        table_name: Option<String>,
        attribute_definitions: Vec<AttributeDefinition>,
        key_schema: Vec<KeySchema>,
        billing_mode: Option<String>,
        provisioned_throughput: Option<ProvisionedThroughput>,
        global_secondary_indexes: Vec<GlobalSecondaryIndex>,
        #[serde(rename = "SSESpecification")]
        sse_specification: Option<SseSpecification>,
        time_to_live_specification: Option<TimeToLiveSpecification>,
        point_in_time_recovery_specification: Option<PointInTimeRecoverySpecification>,
        stream_specification: Option<StreamSpecification>,
        tags: Vec<Tag>,
    }
);

// ---------------------------------------------------------------- AWS::Logs, AWS::Events

props!(
    /// `AWS::Logs::LogGroup`.
    LogGroup { log_group_name: Option<Expr>, retention_in_days: Option<u32>, tags: Vec<Tag> }
);

props!(
    /// One target of an EventBridge rule; `input` is the event it gets (JSON text), the
    /// scheduled event when none.
    Target { arn: Expr, id: String, input: Option<String> }
);

props!(
    /// `AWS::Events::Rule` (scheduled functions).
    Rule { description: Option<String>, schedule_expression: String, state: Option<String>, targets: Vec<Target> }
);

/// A typed resource: its CloudFormation type and properties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Type", content = "Properties")]
pub enum ResourceKind {
    #[serde(rename = "AWS::ApiGatewayV2::Api")]
    Api(Box<Api>),
    #[serde(rename = "AWS::ApiGatewayV2::Route")]
    Route(Box<Route>),
    #[serde(rename = "AWS::ApiGatewayV2::RouteResponse")]
    RouteResponse(Box<RouteResponse>),
    #[serde(rename = "AWS::ApiGatewayV2::Model")]
    Model(Box<Model>),
    #[serde(rename = "AWS::ApiGatewayV2::Integration")]
    Integration(Box<Integration>),
    #[serde(rename = "AWS::ApiGatewayV2::IntegrationResponse")]
    IntegrationResponse(Box<IntegrationResponse>),
    #[serde(rename = "AWS::ApiGatewayV2::Authorizer")]
    Authorizer(Box<Authorizer>),
    #[serde(rename = "AWS::ApiGatewayV2::Stage")]
    Stage(Box<Stage>),
    #[serde(rename = "AWS::ApiGatewayV2::Deployment")]
    Deployment(Box<Deployment>),
    #[serde(rename = "AWS::ApiGatewayV2::DomainName")]
    DomainName(Box<DomainName>),
    #[serde(rename = "AWS::ApiGatewayV2::ApiMapping")]
    ApiMapping(Box<ApiMapping>),
    #[serde(rename = "AWS::Lambda::Function")]
    Function(Box<Function>),
    #[serde(rename = "AWS::Lambda::Permission")]
    Permission(Box<Permission>),
    #[serde(rename = "AWS::Lambda::EventSourceMapping")]
    EventSourceMapping(Box<EventSourceMapping>),
    #[serde(rename = "AWS::IAM::Role")]
    Role(Box<Role>),
    #[serde(rename = "AWS::IAM::Policy")]
    Policy(Box<Policy>),
    #[serde(rename = "AWS::DynamoDB::Table")]
    Table(Box<Table>),
    #[serde(rename = "AWS::Logs::LogGroup")]
    LogGroup(Box<LogGroup>),
    #[serde(rename = "AWS::Events::Rule")]
    Rule(Box<Rule>),
}

impl ResourceKind {
    /// The CloudFormation type name, e.g. `AWS::Lambda::Function`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ResourceKind::Api(_) => types::API,
            ResourceKind::Route(_) => types::ROUTE,
            ResourceKind::RouteResponse(_) => types::ROUTE_RESPONSE,
            ResourceKind::Model(_) => types::MODEL,
            ResourceKind::Integration(_) => types::INTEGRATION,
            ResourceKind::IntegrationResponse(_) => types::INTEGRATION_RESPONSE,
            ResourceKind::Authorizer(_) => types::AUTHORIZER,
            ResourceKind::Stage(_) => types::STAGE,
            ResourceKind::Deployment(_) => types::DEPLOYMENT,
            ResourceKind::DomainName(_) => types::DOMAIN_NAME,
            ResourceKind::ApiMapping(_) => types::API_MAPPING,
            ResourceKind::Function(_) => types::FUNCTION,
            ResourceKind::Permission(_) => types::PERMISSION,
            ResourceKind::EventSourceMapping(_) => types::EVENT_SOURCE_MAPPING,
            ResourceKind::Role(_) => types::ROLE,
            ResourceKind::Policy(_) => types::POLICY,
            ResourceKind::Table(_) => types::TABLE,
            ResourceKind::LogGroup(_) => types::LOG_GROUP,
            ResourceKind::Rule(_) => types::RULE,
        }
    }
}

macro_rules! into_kind {
    ($($t:ident),*) => {$(
        impl From<$t> for ResourceKind {
            fn from(p: $t) -> Self {
                ResourceKind::$t(Box::new(p))
            }
        }
    )*};
}
into_kind!(
    Api,
    Route,
    RouteResponse,
    Model,
    Integration,
    IntegrationResponse,
    Authorizer,
    Stage,
    Deployment,
    DomainName,
    ApiMapping,
    Function,
    Permission,
    EventSourceMapping,
    Role,
    Policy,
    Table,
    LogGroup,
    Rule
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each variant's serde tag (what templates carry) is its `type_name`.
    #[test]
    fn serde_tags_are_the_type_names() {
        let kinds: Vec<ResourceKind> = vec![
            Api::default().into(),
            Route::default().into(),
            RouteResponse::default().into(),
            Model::default().into(),
            Integration::default().into(),
            IntegrationResponse::default().into(),
            Authorizer::default().into(),
            Stage::default().into(),
            Deployment::default().into(),
            DomainName::default().into(),
            ApiMapping::default().into(),
            Function::default().into(),
            Permission::default().into(),
            EventSourceMapping::default().into(),
            Role::default().into(),
            Policy::default().into(),
            Table::default().into(),
            LogGroup::default().into(),
            Rule::default().into(),
        ];
        for kind in kinds {
            let json = serde_json::to_value(&kind).unwrap();
            assert_eq!(json["Type"], kind.type_name());
        }
    }
}

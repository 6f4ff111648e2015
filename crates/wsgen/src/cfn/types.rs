//! The CloudFormation resource type names wsgen writes and reads, in one place: the
//! types it synthesizes (each a [`ResourceKind`](super::ResourceKind) variant, whose
//! serde tag a test checks against these), and the ones deploy and diff reason about in
//! templates (data-bearing and IAM types, the stack itself).

pub const API: &str = "AWS::ApiGatewayV2::Api";
pub const API_MAPPING: &str = "AWS::ApiGatewayV2::ApiMapping";
pub const AUTHORIZER: &str = "AWS::ApiGatewayV2::Authorizer";
pub const DEPLOYMENT: &str = "AWS::ApiGatewayV2::Deployment";
pub const DOMAIN_NAME: &str = "AWS::ApiGatewayV2::DomainName";
pub const INTEGRATION: &str = "AWS::ApiGatewayV2::Integration";
pub const INTEGRATION_RESPONSE: &str = "AWS::ApiGatewayV2::IntegrationResponse";
pub const ROUTE: &str = "AWS::ApiGatewayV2::Route";
pub const ROUTE_RESPONSE: &str = "AWS::ApiGatewayV2::RouteResponse";
pub const STAGE: &str = "AWS::ApiGatewayV2::Stage";
pub const MODEL: &str = "AWS::ApiGatewayV2::Model";
pub const FUNCTION: &str = "AWS::Lambda::Function";
pub const PERMISSION: &str = "AWS::Lambda::Permission";
pub const EVENT_SOURCE_MAPPING: &str = "AWS::Lambda::EventSourceMapping";
pub const ROLE: &str = "AWS::IAM::Role";
pub const POLICY: &str = "AWS::IAM::Policy";
pub const TABLE: &str = "AWS::DynamoDB::Table";
pub const LOG_GROUP: &str = "AWS::Logs::LogGroup";
pub const RULE: &str = "AWS::Events::Rule";

// Types wsgen does not synthesize but reads in templates (deployed ones, the toolkit's).
pub const MANAGED_POLICY: &str = "AWS::IAM::ManagedPolicy";
pub const GLOBAL_TABLE: &str = "AWS::DynamoDB::GlobalTable";
pub const BUCKET: &str = "AWS::S3::Bucket";
pub const BUCKET_POLICY: &str = "AWS::S3::BucketPolicy";
pub const STACK: &str = "AWS::CloudFormation::Stack";
pub const API_GATEWAY_ACCOUNT: &str = "AWS::ApiGateway::Account";

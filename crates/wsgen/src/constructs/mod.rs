//! The DSL: constructs that describe a WebSocket API and synthesize to CloudFormation.
//!
//! Every construct is a cheap handle (clone it freely); configuration methods take and
//! return the handle, relation methods (`grant_*`, `stage`, `add_route`) take `&self`.
//! Defaults are documented on each method and resolved at synthesis.

mod api;
mod app;
mod function;
mod message;
pub(crate) mod naming;
mod problems;
mod stage;
mod table;

pub use api::{
    route_selection_problem, Authorizer, ContentHandling, IdentitySource, Integration,
    PassthroughBehavior, Route, WebSocketApi, DEFAULT_ROUTE_SELECTION, MAX_ROUTES, MAX_STAGES,
    PUSHED, RESERVED_ROUTES,
};
pub use app::{App, Output, Stack, OUTDIR_ENV, PROJECT_DIR_ENV};
pub use function::{
    asset_bucket_name, Architecture, RetentionDays, RustFunction, Schedule, ASSET_BUCKET,
    RESERVED_ENV,
};
pub use message::{to_draft4, MessageModel, DRAFT_4};
pub use naming::logical_id;
pub use problems::{Problem, ValidationErrors};
pub use stage::{
    execute_api_origin, LoggingLevel, RouteSettings, Stage, DEFAULT_ACCESS_LOG_FORMAT,
    DEFAULT_ACCESS_LOG_RETENTION,
};
pub use table::{
    AttributeType, Billing, GlobalSecondaryIndex, Projection, RemovalPolicy, StartingPosition,
    StreamSubscription, StreamView, Table,
};

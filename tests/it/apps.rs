//! A catalogue of apps that together use every construct and option. Their templates
//! are snapshotted, checked for invariants and linted by cfn-lint.

use crate::support::fixture;
use wsgen::prelude::*;

/// The chat app's one definition, the chat blueprint's.
#[path = "../../blueprints/chat/infra/src/lib.rs"]
mod chat;

/// The chat app of the AWS sample (seeds 003 and 004), as the chat blueprint defines it.
pub fn chat() -> App {
    let app = App::at(fixture("chat"));
    chat::build(&app, "Chat");
    app
}

/// Seed 002's protocol with a header-token authorizer, and an IAM-authorized API.
pub fn authorizers() -> App {
    let app = App::at(fixture("chat"));
    let stack = app.stack("Direct");
    let auth = stack
        .rust_function("Auth", "lambdas/default")
        .timeout(Duration::from_secs(3));
    let connect = stack.rust_function("Connect", "lambdas/onconnect");
    let who = stack.rust_function("WhoAmI", "lambdas/sendmessage");
    let api = stack.websocket_api("DirectApi").route("whoAmI", &who);
    let authorizer = api
        .lambda_authorizer("HeaderAuth", &auth)
        .identity_source(IdentitySource::header("Authorization"))
        .identity_source(IdentitySource::query("room"));
    let _ = api
        .add_route("$connect")
        .integration(&connect)
        .authorizer(&authorizer);
    let _ = api.route_handle("whoAmI").unwrap().two_way();
    let stage = api.stage("dev");
    api.grant_manage_connections(&who);
    // One grant per @connections method: GET and DELETE on this stage only.
    stage.grant_get_connections(&who);
    stage.grant_delete_connections(&who);
    stack.output("Url", stage.url());

    let iam = stack.websocket_api("InternalApi").route("$default", &who);
    let _ = iam
        .add_route("$connect")
        .integration(&connect)
        .iam_authorization();
    let _ = iam.stage("internal");
    app
}

/// Seed 003: HTTP integrations with request templates, an HTTP proxy, a MOCK two-way
/// route, and an explicitly deployed stage with logging, metrics and access logs.
pub fn http_backend() -> App {
    let app = App::at(fixture("chat"));
    let stack = app.stack("HttpBackend");
    let api = stack
        .websocket_api("Api")
        .route_selection_expression("${request.body.action}")
        .route(
            "$connect",
            Integration::http("https://chat.example.com/connect", "POST")
                .request_template("$default", "{\"connectionId\":\"$context.connectionId\"}")
                .request_parameter("integration.request.header.connectionId", "context.connectionId")
                .passthrough(PassthroughBehavior::Never)
                .timeout(Duration::from_millis(500)),
        )
        .route(
            "$disconnect",
            Integration::http("https://chat.example.com/disconnect", "DELETE")
                .request_template("$default", "{\"connectionId\":\"$context.connectionId\"}"),
        )
        .route(
            "sendMessage",
            Integration::http("https://chat.example.com/messages", "POST")
                .request_template("$default", "{\"connectionId\":\"$context.connectionId\",\"message\":$input.json('$.message')}")
                .template_selection_expression("\\$default")
                .content_handling(ContentHandling::ConvertToText)
                .description("seed 003's message backend"),
        )
        .route("echo", Integration::http_proxy("https://chat.example.com/echo", "post").timeout(Duration::from_secs(29)))
        .route("ping", Integration::mock().response_template("$default", "{\"pong\":true}"));
    let _ = api.route_handle("ping").unwrap().two_way();
    let _ = api
        .route_handle("sendMessage")
        .unwrap()
        .two_way()
        .api_key_required(true)
        .operation_name("SendMessage");
    let _ = api
        .stage("v1")
        .auto_deploy(false)
        .description("first version")
        .logging(LoggingLevel::Error)
        .data_trace(false)
        .detailed_metrics(true)
        .route_settings(
            "sendMessage",
            RouteSettings::new()
                .throttle(5.0, 2)
                .logging(LoggingLevel::Info)
                .detailed_metrics(false),
        )
        .access_logs_with_format(
            RetentionDays::ThreeMonths,
            "$context.requestId $context.routeKey $context.status",
        )
        .variable("backend", "chat.example.com");
    app
}

/// A scheduled, tuned function and the table options.
pub fn functions_and_tables() -> App {
    let app = App::at(fixture("full"));
    let stack = app.stack("Ticker").tag("cost-center", "42");
    let prices = stack
        .table("Prices")
        .partition_key("symbol", AttributeType::String)
        .sort_key("at", AttributeType::Number)
        .global_secondary_index(
            GlobalSecondaryIndex::new("bySubscriber", "subscriber", AttributeType::String)
                .sort_key("symbol", AttributeType::String)
                .projection(Projection::Include(vec!["price".into()])),
        )
        .billing(Billing::Provisioned { read: 5, write: 5 })
        .table_name("ticker-prices")
        .point_in_time_recovery(true)
        .removal_policy(RemovalPolicy::Destroy);
    let subs = stack
        .connections_table("Subscribers")
        .global_secondary_index(GlobalSecondaryIndex::new(
            "byTopic",
            "topic",
            AttributeType::String,
        ));
    let ticker = stack
        .rust_function("Ticker", "lambdas/ticker")
        .description("Pushes prices to subscribers")
        .arch(Architecture::Arm64)
        .memory(512)
        .timeout(Duration::from_secs(60))
        .reserved_concurrency(1)
        .tracing(true)
        .log_retention(RetentionDays::Infinite)
        .schedule(Schedule::cron("0/5 * * * ? *"))
        .env("PRICES", prices.name())
        .env("SUBSCRIBERS", subs.name())
        .env("SUBSCRIBERS_ARN", subs.arn())
        .env("MODE", "live");
    let hourly = stack
        .rust_function("Hourly", "lambdas/multi")
        .bin("unsubscribe")
        .schedule(Schedule::rate(Duration::from_secs(3600)));
    prices.grant_write(&ticker);
    subs.grant_read(&ticker);
    subs.grant_read_write(&hourly);
    let api = stack.websocket_api("TickerApi").route("subscribe", &hourly);
    let live = api.stage("live");
    live.grant_manage_connections(&ticker);
    // A scheduled push has no event to learn the stage from: it is told.
    let _ = ticker.env("CALLBACK_URL", live.callback_url());
    stack.output("Prices", prices.arn());
    app
}

/// Custom domain, API keys, parameters, conditions and exports.
pub fn domain_and_parameters() -> App {
    let app = App::at(fixture("chat"));
    let stack = app
        .stack("Public")
        .account("123456789012")
        .region("eu-west-1");
    let cert = stack.parameter(
        "CertificateArn",
        None,
        "ACM certificate for the custom domain",
    );
    let env = stack.parameter("Environment", Some("dev"), "dev or prod");
    let prod = stack.condition("IsProd", Expr::equals(env.clone(), "prod"));
    let f = stack
        .rust_function("Handler", "lambdas/default")
        .env("LOG_LEVEL", Expr::if_(&prod, "warn", "debug"))
        .env("ENV", env);
    let api = stack
        .websocket_api("PublicApi")
        .name("public-websocket")
        .description("Public API behind a custom domain")
        .api_key_selection_expression("$request.header.x-api-key")
        .disable_execute_api_endpoint(true)
        .tag("exposure", "public")
        .on_default(&f);
    let _ = api
        .add_route("$connect")
        .integration(&f)
        .api_key_required(true);
    let stage = api.stage("prod").custom_domain("ws.example.com", cert);
    stack
        .output("DomainUrl", stage.domain_url().unwrap())
        .export(Expr::sub("${AWS::StackName}-DomainUrl"));
    stack.output("ApiId", api.api_id());
    stack.output("Endpoint", api.endpoint());
    stack.output("HandlerArn", f.arn());
    stack.output("HandlerName", f.function_name());
    app
}

/// Two stacks in one app.
pub fn two_stacks() -> App {
    let app = App::at(fixture("chat"));
    for name in ["Blue", "Green"] {
        let stack = app.stack(name);
        let f = stack.rust_function("Echo", "lambdas/default");
        let api = stack.websocket_api("EchoApi").on_default(&f);
        let _ = api.route_handle("$default").unwrap().two_way();
        let _ = api.stage("live");
    }
    app
}

/// A 300-route API: every action proxied to one HTTP backend.
pub fn three_hundred_routes() -> App {
    let app = App::at(fixture("chat"));
    let stack = app.stack("Big");
    let mut api = stack.websocket_api("BigApi");
    for i in 0..300 {
        api = api.route(
            &format!("action{i:03}"),
            Integration::http_proxy("https://backend.example.com/ws", "POST"),
        );
    }
    let _ = api.stage("live");
    app
}

/// A table's stream with a function subscribed to it (write to a table, fan out from its
/// stream).
pub fn table_streams() -> App {
    let app = App::at(fixture("full"));
    let stack = app.stack("Streams");
    let messages = stack
        .table("Messages")
        .partition_key("room", AttributeType::String)
        .sort_key("sk", AttributeType::String)
        .stream(StreamView::NewAndOldImages);
    let fanout = stack.rust_function("Fanout", "lambdas/ticker");
    let audit = stack
        .rust_function("Audit", "lambdas/multi")
        .bin("unsubscribe");
    let _ = messages.on_change(&fanout);
    let _ = messages
        .on_change(&audit)
        .batch_size(10)
        .starting_position(StartingPosition::TrimHorizon)
        .max_batching_window(Duration::from_secs(5))
        .retry_attempts(3);
    messages.grant_read(&audit);
    stack.output("MessagesStream", messages.stream_arn());
    app
}

/// The message types of [`typed_messages`]: the chat protocol's `sendmessage`.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars")]
pub struct SendMessage {
    /// Routes the message (`sendmessage`).
    pub action: String,
    /// What the others receive.
    pub data: String,
    pub room: Option<String>,
}

/// `subscribe` and `unsubscribe` share one type (one model).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars")]
pub struct Topic {
    pub action: String,
    #[schemars(length(min = 1, max = 64))]
    pub topic: String,
    pub kind: TopicKind,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars")]
pub enum TopicKind {
    Prices,
    News,
}

/// The reply of `subscribe` and `unsubscribe`.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars")]
pub struct Subscription {
    pub topic: String,
    /// Whether the connection now gets the topic's messages.
    pub subscribed: bool,
}

/// What the app pushes to a topic's subscribers: a tagged enum (`{"type":"Price",...}`).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars", tag = "type")]
pub enum Update {
    Price { topic: String, price: f64 },
    Headline { topic: String, text: String },
}

/// Routes with message types: API Gateway models validate their messages, the
/// subscriptions' replies are typed, and so are the updates the app pushes.
pub fn typed_messages() -> App {
    let app = App::at(fixture("chat"));
    let stack = app.stack("Typed");
    let f = stack.rust_function("Chat", "lambdas/default");
    let api = stack
        .websocket_api("TypedApi")
        .on_connect(&f)
        .on_default(&f)
        .pushes::<Update>();
    let _ = api
        .add_route("sendmessage")
        .integration(&f)
        .request::<SendMessage>();
    for key in ["subscribe", "unsubscribe"] {
        let _ = api
            .add_route(key)
            .integration(&f)
            .request::<Topic>()
            .response::<Subscription>();
    }
    let _ = api.stage("live").auto_deploy(false);
    app
}

/// Every app of the catalogue by name.
pub fn catalogue() -> Vec<(&'static str, App)> {
    vec![
        ("chat", chat()),
        ("authorizers", authorizers()),
        ("http-backend", http_backend()),
        ("functions-and-tables", functions_and_tables()),
        ("domain-and-parameters", domain_and_parameters()),
        ("two-stacks", two_stacks()),
        ("table-streams", table_streams()),
        ("typed-messages", typed_messages()),
    ]
}

//! One test per validation rule: the problem names the construct, the rule and a fix.

use crate::support::fixture;
use wsgen::prelude::*;
use wsgen::Problem;

fn problems(app: &App) -> Vec<Problem> {
    app.assemble()
        .expect_err("the app should not validate")
        .problems
}

/// The one problem breaking `rule`, with a message containing every piece of `says`.
fn expect(app: &App, rule: &str, path: &str, says: &[&str]) -> Problem {
    let all = problems(app);
    let found: Vec<&Problem> = all.iter().filter(|p| p.rule == rule).collect();
    assert!(!found.is_empty(), "no `{rule}` problem in {all:#?}");
    let p = found
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no `{rule}` at {path}: {found:#?}"));
    for s in says {
        assert!(p.message.contains(s), "`{}` does not say `{s}`", p.message);
    }
    assert!(!p.fix.is_empty());
    (*p).clone()
}

/// An app with one valid API in stack `S`, to break in one way.
fn base() -> (App, Stack, RustFunction, WebSocketApi) {
    let app = App::at(fixture("chat"));
    let stack = app.stack("S");
    let f = stack.rust_function("F", "lambdas/default");
    let api = stack.websocket_api("Api").on_default(&f);
    let _ = api.stage("live");
    (app, stack, f, api)
}

#[test]
fn the_base_app_and_boundary_values_are_valid() {
    let mut templates = vec![(
        "base".to_string(),
        base().0.assemble().unwrap().templates.remove("S").unwrap(),
    )];
    for ms in [50, 29_000] {
        let (app, _, f, api) = base();
        let _ = api.route(
            "slow",
            Integration::mock().timeout(Duration::from_millis(ms)),
        );
        let _ = f.memory(10240).timeout(Duration::from_secs(900));
        templates.push((
            format!("boundary-{ms}"),
            app.assemble().unwrap().templates.remove("S").unwrap(),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    crate::support::cfn_lint(&crate::support::write_templates(dir.path(), &templates));
}

#[test]
fn every_problem_is_reported_at_once() {
    let (app, stack, f, api) = base();
    let _ = f.memory(1).timeout(Duration::from_secs(0));
    let _ = api.route("$default", stack.rust_function("G", "lambdas/nope"));
    let rules: Vec<String> = problems(&app).into_iter().map(|p| p.rule).collect();
    for r in [
        "function-memory",
        "function-timeout",
        "route-key-duplicate",
        "handler-crate-missing",
    ] {
        assert!(rules.contains(&r.to_string()), "{rules:?}");
    }
    let text = app.assemble().unwrap_err().to_string();
    assert!(
        text.starts_with("4 problems found:\n- S/F: memory is 1 MB"),
        "{text}"
    );
    assert!(
        text.contains("\n  fix: set `.memory(mb)` between 128 and 10240"),
        "{text}"
    );
}

#[test]
fn app_empty() {
    expect(
        &App::at(fixture("chat")),
        "app-empty",
        "App",
        &["no stacks"],
    );
}

#[test]
fn stack_duplicate_and_name() {
    let (app, ..) = base();
    app.stack("S");
    expect(&app, "stack-duplicate", "S", &["two stacks are named `S`"]);
    let (app, ..) = base();
    app.stack("9lives");
    expect(&app, "stack-name", "9lives", &["must start with a letter"]);
}

#[test]
fn construct_ids() {
    let (app, stack, ..) = base();
    stack.rust_function("F", "lambdas/default");
    expect(&app, "construct-id-duplicate", "S/F", &["have the id `F`"]);
    let (app, stack, ..) = base();
    stack.connections_table("bad/id");
    expect(
        &app,
        "construct-id",
        "S/bad/id",
        &["construct id `bad/id` is not valid"],
    );
}

#[test]
fn logical_id_collisions() {
    let (app, _, f, api) = base();
    let _ = api.route("send-message", &f).route("send_message", &f);
    let p = expect(
        &app,
        "logical-id-collision",
        "S/Api/routes/send_message/Permission",
        &[
            "ApiSendMessagePermission",
            "S/Api/routes/send-message/Permission",
        ],
    );
    assert!(p.fix.contains("rename"));
}

#[test]
fn tags() {
    let (app, stack, ..) = base();
    let _ = stack.tag("aws:owner", "me");
    expect(&app, "tag-key", "S", &["may not start with `aws:`"]);
    let (app, stack, ..) = base();
    let _ = stack.tag("k", &"v".repeat(300));
    expect(&app, "tag-value", "S", &["over 256"]);
    let (app, stack, ..) = base();
    let mut stack = stack;
    for i in 0..51 {
        stack = stack.tag(&format!("k{i}"), "v");
    }
    expect(&app, "tags-too-many", "S", &["51 tags"]);
}

#[test]
fn names_over_limits() {
    let (app, _, _, api) = base();
    let _ = api.name(&"n".repeat(129));
    expect(
        &app,
        "name-too-long",
        "S/Api",
        &["API name", "129 characters", "limit is 128"],
    );
    let (app, _, f, _) = base();
    let _ = f.description(&"d".repeat(257));
    expect(&app, "name-too-long", "S/F", &["function description"]);
    let (app, stack, ..) = base();
    let _ = stack.description(&"d".repeat(1025));
    expect(&app, "name-too-long", "S", &["stack description"]);
}

#[test]
fn outputs() {
    let (app, stack, ..) = base();
    stack.output("Web-Url", "x");
    expect(&app, "output-name", "S/Web-Url", &["letters and digits"]);
    let (app, stack, ..) = base();
    stack.output("Url", "x");
    stack.output("Url", "y");
    expect(&app, "output-duplicate", "S/Url", &["two outputs"]);
}

#[test]
fn dangling_references_across_stacks() {
    let (app, ..) = base();
    let other = app.stack("Other");
    let table = other.connections_table("Conns");
    let (_, stack, ..) = (0, app.stack("Third"), 0);
    let g = stack
        .rust_function("G", "lambdas/default")
        .env("TABLE", table.name());
    table.grant_read(&g);
    let p = expect(
        &app,
        "dangling-reference",
        "Third/Resources/G",
        &["`Conns`", "not in stack `Third`"],
    );
    assert!(p.fix.contains("same stack"));
    let (app, stack, ..) = base();
    stack.output("X", Expr::if_("Missing", "a", "b"));
    expect(
        &app,
        "dangling-reference",
        "S/Outputs/X",
        &["condition `Missing`"],
    );
}

#[test]
fn template_limit() {
    let (app, stack, f, _) = base();
    let api = stack.websocket_api("Big");
    // 10 resources in the base app (its stage's access log group among them), the API,
    // one shared integration, and a route and a permission for each of 250 routes.
    for i in 0..250 {
        let _ = api.clone().route(&format!("r{i}"), &f);
    }
    expect(
        &app,
        "template-limit",
        "S",
        &["512 resources", "allows 500"],
    );
}

#[test]
fn function_memory_and_timeout() {
    let (app, _, f, _) = base();
    let _ = f.memory(64);
    expect(&app, "function-memory", "S/F", &["64 MB", "128 to 10240"]);
    let (app, _, f, _) = base();
    let _ = f.memory(10241);
    expect(&app, "function-memory", "S/F", &["10241 MB"]);
    let (app, _, f, _) = base();
    let _ = f.timeout(Duration::from_secs(901));
    expect(&app, "function-timeout", "S/F", &["901 s", "1 to 900"]);
}

#[test]
fn environment_variables() {
    let (app, _, f, _) = base();
    let _ = f.env("1BAD", "x");
    expect(&app, "env-name", "S/F", &["`1BAD` is not valid"]);
    let (app, _, f, _) = base();
    let _ = f.env("AWS_REGION", "x");
    expect(&app, "env-reserved", "S/F", &["`AWS_REGION` is reserved"]);
    let (app, _, f, _) = base();
    let _ = f.env("BIG", "x".repeat(4100));
    expect(&app, "env-size", "S/F", &["4103 bytes", "4 KB"]);
}

#[test]
fn schedule_expressions() {
    for (schedule, says) in [
        (Schedule::expression("every minute"), "neither"),
        (Schedule::expression("rate(1 minutes)"), "singular for 1"),
        (Schedule::expression("rate(0 minutes)"), "positive"),
        (Schedule::rate(Duration::from_secs(90)), "rate(90 seconds)"),
        (Schedule::cron("* * * *"), "it has 4 fields"),
        (Schedule::cron("0 12 * * * *"), "one of them must be `?`"),
        (
            Schedule::cron("0 25 * * ? *"),
            "hours `25`: 25 is outside 0-23",
        ),
    ] {
        let (app, _, f, _) = base();
        let _ = f.schedule(schedule);
        expect(&app, "schedule-expression", "S/F", &[says]);
    }
    assert_eq!(
        Schedule::rate(Duration::from_secs(120)).as_str(),
        "rate(2 minutes)"
    );
    assert_eq!(
        Schedule::rate(Duration::from_secs(86400)).as_str(),
        "rate(1 day)"
    );
}

#[test]
fn handler_crates() {
    let (app, stack, ..) = base();
    stack.rust_function("G", "lambdas/missing");
    let p = expect(
        &app,
        "handler-crate-missing",
        "S/G",
        &["`lambdas/missing` does not exist"],
    );
    assert!(p.fix.contains("relative to the project directory"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bad/src")).unwrap();
    std::fs::write(dir.path().join("bad/Cargo.toml"), "[package\nname=").unwrap();
    let app = App::at(dir.path());
    app.stack("S").rust_function("G", "bad");
    expect(&app, "handler-crate-invalid", "S/G", &["not valid TOML"]);
    let app = App::at(fixture("full"));
    app.stack("S").rust_function("G", "lambdas/multi");
    expect(
        &app,
        "handler-bin-ambiguous",
        "S/G",
        &["`subscribe`, `unsubscribe`"],
    );
    let app = App::at(fixture("full"));
    let _ = app
        .stack("S")
        .rust_function("G", "lambdas/multi")
        .bin("nope");
    expect(&app, "handler-bin-missing", "S/G", &["no binary `nope`"]);
}

#[test]
fn tables() {
    let (app, stack, ..) = base();
    stack.table("T");
    expect(&app, "table-key", "S/T", &["no partition key"]);
    let (app, stack, ..) = base();
    let _ = stack
        .table("T")
        .partition_key("pk", AttributeType::String)
        .global_secondary_index(GlobalSecondaryIndex::new(
            "byPk",
            "pk",
            AttributeType::Number,
        ));
    expect(
        &app,
        "table-key",
        "S/T",
        &["`pk` is declared as both S and N"],
    );
    let (app, stack, ..) = base();
    let mut t = stack.connections_table("T");
    for i in 0..21 {
        t = t.global_secondary_index(GlobalSecondaryIndex::new(
            &format!("index{i}"),
            "x",
            AttributeType::String,
        ));
    }
    expect(
        &app,
        "table-indexes",
        "S/T",
        &["21 global secondary indexes"],
    );
    let (app, stack, ..) = base();
    let _ = stack
        .connections_table("T")
        .global_secondary_index(GlobalSecondaryIndex::new("ix", "x", AttributeType::String));
    expect(&app, "table-index-name", "S/T", &["`ix` must be 3 to 255"]);
    let (app, stack, ..) = base();
    let _ = stack.connections_table("T").table_name("no spaces please");
    expect(&app, "table-name", "S/T", &["`no spaces please`"]);
    let (app, stack, ..) = base();
    let _ = stack.connections_table("T").ttl("connectionId");
    expect(
        &app,
        "table-ttl",
        "S/T",
        &["`connectionId` is a key attribute"],
    );
}

#[test]
fn selection_expressions() {
    let (app, _, _, api) = base();
    let _ = api.route_selection_expression("$request.header.action");
    let p = expect(
        &app,
        "route-selection-expression",
        "S/Api",
        &["not a message field"],
    );
    assert!(p.fix.contains("$request.body.action"));
    let (app, _, _, api) = base();
    let _ = api.api_key_selection_expression("$request.querystring.key");
    expect(
        &app,
        "api-key-selection-expression",
        "S/Api",
        &["not one API Gateway accepts"],
    );
}

#[test]
fn too_many_routes_and_stages() {
    let (app, stack, f, _) = base();
    let api = stack.websocket_api("Big");
    for i in 0..301 {
        let _ = api
            .add_route(&format!("r{i}"))
            .integration(Integration::mock());
    }
    expect(
        &app,
        "too-many-routes",
        "S/Big",
        &["301 routes", "allows 300"],
    );
    let (app, _, _, api) = base();
    for i in 0..10 {
        let _ = api.stage(&format!("s{i}"));
    }
    expect(
        &app,
        "too-many-stages",
        "S/Api",
        &["11 stages", "allows 10"],
    );
    let _ = f;
}

#[test]
fn routes() {
    let (app, _, f, api) = base();
    let _ = api.route("$default", &f);
    expect(
        &app,
        "route-key-duplicate",
        "S/Api/routes/$default",
        &["`$default` is defined twice"],
    );
    let (app, _, f, api) = base();
    let _ = api.route("$ping", &f);
    expect(
        &app,
        "route-key-invalid",
        "S/Api/routes/$ping",
        &["reserved"],
    );
    let (app, _, _, api) = base();
    let _ = api.add_route("orphan");
    let p = expect(
        &app,
        "route-no-integration",
        "S/Api/routes/orphan",
        &["has no integration"],
    );
    assert!(p.fix.contains(".integration("));
    let (app, _, f, api) = base();
    let _ = api.clone().on_disconnect(&f);
    let _ = api.route_handle("$disconnect").unwrap().two_way();
    expect(
        &app,
        "route-response-disconnect",
        "S/Api/routes/$disconnect",
        &["cannot be two-way"],
    );
}

#[test]
fn authorization_only_on_connect() {
    let (app, _, f, api) = base();
    let auth = api
        .lambda_authorizer("Auth", &f)
        .identity_source(IdentitySource::query("token"));
    let _ = api
        .add_route("sendmessage")
        .integration(&f)
        .authorizer(&auth);
    let p = expect(
        &app,
        "authorizer-not-on-connect",
        "S/Api/routes/sendmessage",
        &["has an authorizer", "only the `$connect` route"],
    );
    assert!(p.fix.contains("$connect"));
    let (app, _, f, api) = base();
    let _ = api.add_route("admin").integration(&f).iam_authorization();
    expect(
        &app,
        "authorizer-not-on-connect",
        "S/Api/routes/admin",
        &["has IAM authorization"],
    );
    let (app, _, f, api) = base();
    let _ = api
        .lambda_authorizer("Auth", &f)
        .identity_source(IdentitySource::raw("method.request.header.Auth"));
    expect(
        &app,
        "authorizer-identity-source",
        "S/Api/Auth",
        &["`method.request.header.Auth` is not valid"],
    );
}

#[test]
fn integrations() {
    for ms in [49, 29_001] {
        let (app, _, _, api) = base();
        let _ = api.route(
            "slow",
            Integration::mock().timeout(Duration::from_millis(ms)),
        );
        expect(
            &app,
            "integration-timeout",
            "S/Api/routes/slow",
            &[&format!("{ms} ms"), "50 to 29000"],
        );
    }
    let (app, _, f, api) = base();
    let _ = api.route(
        "x",
        Integration::lambda(&f).request_template("$default", "{}"),
    );
    expect(
        &app,
        "integration-templates-proxy",
        "S/Api/routes/x",
        &["only to HTTP and MOCK"],
    );
    let (app, _, _, api) = base();
    let _ = api.route("x", Integration::http_proxy("ftp://example.com", "GET"));
    expect(
        &app,
        "integration-uri",
        "S/Api/routes/x",
        &["`ftp://example.com` is not an http:// or https:// URL"],
    );
}

#[test]
fn stages() {
    let (app, _, _, api) = base();
    let _ = api.stage("live");
    expect(
        &app,
        "stage-duplicate",
        "S/Api/stages/live",
        &["two stages are named `live`"],
    );
    let (app, _, _, api) = base();
    let _ = api.stage("pro d");
    expect(
        &app,
        "stage-name",
        "S/Api/stages/pro d",
        &["`pro d` is not valid"],
    );
    let (app, _, _, api) = base();
    let _ = api.stage("x").throttle(-1.0, 1);
    expect(&app, "stage-throttle", "S/Api/stages/x", &["-1"]);
    let (app, _, _, api) = base();
    let long = format!("{{{}}}", "\"k\":\"$context.requestId\",".repeat(130));
    let _ = api
        .stage("x")
        .access_logs_with_format(RetentionDays::OneDay, &long);
    expect(
        &app,
        "access-log-format",
        "S/Api/stages/x",
        &["bytes; API Gateway takes at most 3072"],
    );
    let (app, _, _, api) = base();
    let _ = api.stage("x").route_throttle("nope", 1.0, 1);
    let p = expect(
        &app,
        "stage-route-settings",
        "S/Api/stages/x",
        &["route `nope`"],
    );
    assert!(p.fix.contains("$default"));
    let (app, _, _, api) = base();
    let _ = api.stage("x").variable("url", "has spaces");
    expect(
        &app,
        "stage-variable",
        "S/Api/stages/x",
        &["value of stage variable `url`"],
    );
    let (app, _, _, api) = base();
    let _ = api.stage("x").variable("bad-name", "ok");
    expect(&app, "stage-variable", "S/Api/stages/x", &["`bad-name`"]);
}

#[test]
fn stream_subscriptions_need_a_stream_and_settings_lambda_takes() {
    let (app, stack, f, _) = base();
    let table = stack
        .table("Events")
        .partition_key("id", AttributeType::String);
    let _ = table.on_change(&f);
    expect(
        &app,
        "stream-missing",
        "S/F/OnEventsChange",
        &["table Events has no stream"],
    );

    let (app, stack, f, _) = base();
    let table = stack
        .table("Events")
        .partition_key("id", AttributeType::String)
        .stream(StreamView::KeysOnly);
    let _ = table
        .on_change(&f)
        .batch_size(0)
        .max_batching_window(Duration::from_millis(1500))
        .retry_attempts(10_001);
    expect(
        &app,
        "stream-batch-size",
        "S/F/OnEventsChange",
        &["0", "1 to 10000"],
    );
    expect(
        &app,
        "stream-batching-window",
        "S/F/OnEventsChange",
        &["whole seconds"],
    );
    expect(
        &app,
        "stream-retry-attempts",
        "S/F/OnEventsChange",
        &["10001"],
    );
}

/// A message type whose schema needs draft 6+ keywords.
struct Conditional;

impl JsonSchema for Conditional {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Conditional".into()
    }

    fn json_schema(_: &mut wsgen::schemars::SchemaGenerator) -> wsgen::schemars::Schema {
        wsgen::schemars::json_schema!({
            "type": "object",
            "properties": {"tags": {"type": "array", "contains": {"const": "urgent"}}},
            "if": {"required": ["a"]},
            "then": {"required": ["b"]}
        })
    }
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars", rename = "Msg")]
struct MsgA {
    a: String,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars", rename = "Msg")]
struct MsgB {
    b: u32,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(crate = "wsgen::schemars", rename = "--")]
struct Unnamed {
    a: String,
}

#[test]
fn message_types() {
    let (app, _, f, api) = base();
    let _ = api
        .add_route("send")
        .integration(&f)
        .request::<Conditional>();
    let p = expect(
        &app,
        "model-schema",
        "S/Api/routes/send",
        &[
            "validation::Conditional` of route `send`",
            "draft 4",
            "/: `if`, /: `then`, /properties/tags: `contains`",
        ],
    );
    assert!(p.fix.contains("simplify"), "{}", p.fix);

    let (app, _, f, api) = base();
    let _ = api.add_route("a").integration(&f).request::<MsgA>();
    let _ = api.add_route("b").integration(&f).request::<MsgB>();
    expect(
        &app,
        "model-name",
        "S/Api/routes/b",
        &["`it::validation::MsgA` and `it::validation::MsgB` both have the schema name `Msg`"],
    );

    // A pushed type is checked as a route's is, and shares the API's model names.
    let (app, _, f, api) = base();
    let _ = api.add_route("a").integration(&f).request::<MsgA>();
    let _ = api.pushes::<MsgB>().pushes::<Conditional>();
    let p = expect(
        &app,
        "model-name",
        "S/Api/pushes/it::validation::MsgB",
        &["`it::validation::MsgA` and `it::validation::MsgB` both have the schema name `Msg`"],
    );
    assert!(p.fix.contains("rename"), "{}", p.fix);
    expect(
        &app,
        "model-schema",
        "S/Api/pushes/it::validation::Conditional",
        &[
            "`it::validation::Conditional` of the API's pushed messages",
            "draft 4",
        ],
    );

    let (app, _, f, api) = base();
    let _ = api.add_route("c").integration(&f).request::<Unnamed>();
    expect(
        &app,
        "model-name",
        "S/Api/routes/c",
        &["without letters or digits"],
    );

    let (app, _, f, api) = base();
    let _ = api.add_route("$connect").integration(&f).request::<MsgA>();
    expect(
        &app,
        "route-model-no-message",
        "S/Api/routes/$connect",
        &["carries no message"],
    );
    let (app, _, f, api) = base();
    let _ = api
        .add_route("$disconnect")
        .integration(&f)
        .response::<MsgA>();
    expect(
        &app,
        "route-model-no-message",
        "S/Api/routes/$disconnect",
        &["sends no response"],
    );

    // A response type makes the route two-way, with the type's model on its route
    // response; a type used for requests and responses is one model.
    let (app, _, f, api) = base();
    let _ = api
        .add_route("ask")
        .integration(&f)
        .request::<MsgA>()
        .response::<MsgA>();
    let assembly = app.assemble().unwrap_or_else(|e| panic!("{e}"));
    let t = serde_json::to_value(assembly.templates.values().next().unwrap()).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    let of_type = |ty: &str| -> Vec<&serde_json::Value> {
        resources.values().filter(|r| r["Type"] == ty).collect()
    };
    assert_eq!(of_type("AWS::ApiGatewayV2::Model").len(), 1);
    let rr = of_type("AWS::ApiGatewayV2::RouteResponse");
    assert_eq!(rr.len(), 1);
    assert_eq!(
        rr[0]["Properties"]["ModelSelectionExpression"],
        "\\$default"
    );
    assert_eq!(
        rr[0]["Properties"]["ResponseModels"]["$default"],
        of_type("AWS::ApiGatewayV2::Model")[0]["Properties"]["Name"]
    );
}

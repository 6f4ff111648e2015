//! The catalogue's templates: snapshots, invariants, cfn-lint, determinism, and what
//! each construct puts in them.

use crate::apps;
use crate::support::{cfn_lint, check_invariants, write_templates, Assert};
use serde_json::{json, Value};
use wsgen::cfn::Template;
use wsgen::prelude::*;

fn templates(app: &App) -> std::collections::BTreeMap<String, Template> {
    app.assemble().unwrap_or_else(|e| panic!("{e}")).templates
}

fn one(app: &App) -> Template {
    templates(app).into_values().next().unwrap()
}

#[test]
fn catalogue_templates_match_snapshots_and_invariants() {
    for (name, app) in apps::catalogue() {
        let assembly = app.assemble().unwrap_or_else(|e| panic!("{name}: {e}"));
        for (stack, t) in &assembly.templates {
            check_invariants(&format!("{name}/{stack}"), t);
            insta::assert_snapshot!(format!("{name}-{stack}"), t.to_json_string());
        }
        insta::assert_snapshot!(format!("{name}-manifest"), assembly.manifest_json());
    }
}

#[test]
fn catalogue_templates_pass_cfn_lint() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (name, app) in apps::catalogue() {
        for (stack, t) in templates(&app) {
            all.push((format!("{name}-{stack}"), t));
        }
    }
    cfn_lint(&write_templates(dir.path(), &all));
}

#[test]
fn synthesis_is_deterministic() {
    for (name, app) in apps::catalogue() {
        let a = app.assemble().unwrap();
        let b = app.assemble().unwrap();
        assert_eq!(a.manifest_json(), b.manifest_json(), "{name}");
        for (stack, t) in &a.templates {
            assert_eq!(
                t.to_json_string(),
                b.templates[stack].to_json_string(),
                "{name}/{stack}"
            );
        }
    }
    // Two separately built apps, same program: same bytes.
    assert_eq!(
        one(&apps::chat()).to_json_string(),
        one(&apps::chat()).to_json_string()
    );
}

/// Every stage logs its requests unless told not to; `no_access_logs` takes the log
/// group and the settings out, and the retention and format can be chosen.
#[test]
fn stages_write_access_logs_unless_told_not_to() {
    let app = App::at(crate::support::fixture("chat"));
    let stack = app.stack("Logs");
    let f = stack.rust_function("Echo", "lambdas/default");
    let api = stack.websocket_api("EchoApi").on_default(&f);
    let _ = api.stage("quiet").no_access_logs();
    let _ = api.stage("loud");
    let _ = api
        .stage("custom")
        .access_logs_with_format(RetentionDays::OneWeek, "$context.requestId");
    let t = one(&app);
    let a = Assert::new(&t);
    a.count("AWS::ApiGatewayV2::Stage", 3)
        .count("AWS::Logs::LogGroup", 3);
    assert!(a.resource("EchoApiQuietStage")["Properties"]
        .get("AccessLogSettings")
        .is_none());
    assert_eq!(
        a.resource("EchoApiLoudStage")["Properties"]["AccessLogSettings"],
        json!({"DestinationArn": {"Fn::GetAtt": ["EchoApiLoudAccessLogs", "Arn"]}, "Format": wsgen::DEFAULT_ACCESS_LOG_FORMAT})
    );
    assert_eq!(
        a.resource("EchoApiLoudAccessLogs")["Properties"]["RetentionInDays"],
        json!(wsgen::DEFAULT_ACCESS_LOG_RETENTION.days())
    );
    assert_eq!(
        a.resource("EchoApiCustomStage")["Properties"]["AccessLogSettings"]["Format"],
        "$context.requestId"
    );
    assert_eq!(
        a.resource("EchoApiCustomAccessLogs")["Properties"]["RetentionInDays"],
        7
    );
    // The default format is one JSON object once API Gateway fills in the variables.
    let filled = wsgen::DEFAULT_ACCESS_LOG_FORMAT
        .replace("$context.error.messageString", "\"Forbidden\"")
        .replace("$context.", "");
    let line: Value = serde_json::from_str(&filled).unwrap();
    assert_eq!(line["error"], "Forbidden");
    assert_eq!(line["eventType"], "eventType");
}

#[test]
fn templates_round_trip_through_the_typed_model() {
    for (name, app) in apps::catalogue() {
        for (stack, t) in templates(&app) {
            let text = t.to_json_string();
            let back: Template =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}/{stack}: {e}"));
            assert_eq!(back, t, "{name}/{stack}");
        }
    }
}

#[test]
fn chat_stack_resources() {
    let t = one(&apps::chat());
    let a = Assert::new(&t);
    a.count("AWS::Lambda::Function", 4)
        .count("AWS::ApiGatewayV2::Route", 4)
        .count("AWS::ApiGatewayV2::Integration", 4)
        .count("AWS::Lambda::Permission", 4)
        .count("AWS::ApiGatewayV2::RouteResponse", 1)
        .count("AWS::ApiGatewayV2::Stage", 1)
        .count("AWS::ApiGatewayV2::Deployment", 0)
        .count("AWS::IAM::Role", 4)
        .count("AWS::IAM::Policy", 4)
        // One per function, and the stage's access log (on by default).
        .count("AWS::Logs::LogGroup", 5)
        .count("AWS::DynamoDB::Table", 1);
    a.has("AWS::ApiGatewayV2::Api", json!({"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action", "Tags": {"app": "chat"}}));
    a.has(
        "AWS::ApiGatewayV2::Stage",
        json!({"AccessLogSettings": {
            "DestinationArn": {"Fn::GetAtt": ["ChatApiLiveAccessLogs", "Arn"]},
            "Format": wsgen::DEFAULT_ACCESS_LOG_FORMAT,
        }}),
    );
    assert_eq!(
        a.resource("ChatApiLiveAccessLogs")["Properties"]["RetentionInDays"],
        30
    );
    a.has(
        "AWS::DynamoDB::Table",
        json!({
            "KeySchema": [{"AttributeName": "connectionId", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "SSESpecification": {"SSEEnabled": true},
            "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": true},
        }),
    );
    let table = a.resource("Connections");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    a.has("AWS::ApiGatewayV2::Stage", json!({"StageName": "live", "AutoDeploy": true, "DefaultRouteSettings": {"ThrottlingRateLimit": 100.0, "ThrottlingBurstLimit": 50}}));
    a.has(
        "AWS::ApiGatewayV2::Route",
        json!({"RouteKey": "$default", "RouteResponseSelectionExpression": "$default"}),
    );
    a.has(
        "AWS::ApiGatewayV2::RouteResponse",
        json!({"RouteResponseKey": "$default", "RouteId": {"Ref": "ChatApiDefaultRoute"}}),
    );
    a.has(
        "AWS::Lambda::Function",
        json!({
            "Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 256, "Timeout": 10,
            "Environment": {"Variables": {"TABLE_NAME": {"Ref": "Connections"}}},
            "LoggingConfig": {"LogGroup": {"Ref": "SendMessageLogGroup"}},
        }),
    );
    assert_eq!(
        t.outputs["WebSocketUrl"].value,
        Expr::sub("wss://${ChatApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live")
    );
}

#[test]
fn a_stage_callback_url_is_an_environment_value() {
    let t = one(&apps::functions_and_tables());
    let a = Assert::new(&t);
    assert_eq!(
        a.resource("Ticker")["Properties"]["Environment"]["Variables"]["CALLBACK_URL"],
        json!({"Fn::Sub": "https://${TickerApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live"})
    );
}

#[test]
fn lambda_permissions_are_scoped_to_the_api_and_route() {
    let t = one(&apps::chat());
    let a = Assert::new(&t);
    let arn = &a.resource("ChatApiSendmessagePermission")["Properties"]["SourceArn"]["Fn::Join"][1];
    let parts: Vec<String> = arn
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(parts.last().unwrap(), "\"/*/sendmessage\"");
    assert!(
        parts.contains(&"{\"Ref\":\"ChatApi\"}".to_string()),
        "{parts:?}"
    );
}

#[test]
fn grants_use_the_narrowest_arns() {
    let t = one(&apps::chat());
    let a = Assert::new(&t);
    let statements =
        &a.resource("SendMessageRolePolicy")["Properties"]["PolicyDocument"]["Statement"];
    let text = statements.to_string();
    assert!(text.contains("/live/POST/@connections/*"), "{text}");
    assert!(text.contains("execute-api:ManageConnections"));
    assert!(text.contains("dynamodb:PutItem") && text.contains("dynamodb:Query"));
    // A write-only grant has no read actions, and no index ARN without indexes.
    let connect = a.resource("OnConnectRolePolicy")["Properties"]["PolicyDocument"].to_string();
    assert!(
        connect.contains("dynamodb:PutItem") && !connect.contains("dynamodb:Query"),
        "{connect}"
    );
    assert!(!connect.contains("/index/"));
    // Logs only to the function's own log group.
    assert!(connect.contains("OnConnectLogGroup"));

    let t = one(&apps::functions_and_tables());
    let a = Assert::new(&t);
    let ticker = a.resource("TickerRolePolicy")["Properties"]["PolicyDocument"].to_string();
    assert!(
        ticker.contains("${Subscribers.Arn}/index/*"),
        "reads cover the indexes: {ticker}"
    );
    assert!(
        !ticker.contains("${Prices.Arn}/index/*"),
        "writes do not: {ticker}"
    );
    assert!(ticker.contains("/live/POST/@connections/*"));
    let authz = one(&apps::authorizers());
    let text = Assert::new(&authz).resource("WhoAmIRolePolicy").to_string();
    assert!(
        text.contains("/*/POST/@connections/*"),
        "api-wide grant: {text}"
    );
    // One grant per @connections method, on one stage.
    for method in ["GET", "DELETE"] {
        assert!(
            text.contains(&format!("/dev/{method}/@connections/*")),
            "{method}: {text}"
        );
    }
    assert!(!text.contains("/*/GET/"), "{text}");
}

#[test]
fn authorizers_and_iam_authorization() {
    let t = one(&apps::authorizers());
    let a = Assert::new(&t);
    a.has(
        "AWS::ApiGatewayV2::Authorizer",
        json!({"Name": "HeaderAuth", "AuthorizerType": "REQUEST", "IdentitySource": ["route.request.header.Authorization", "route.request.querystring.room"]}),
    );
    a.has("AWS::ApiGatewayV2::Route", json!({"RouteKey": "$connect", "AuthorizationType": "CUSTOM", "AuthorizerId": {"Ref": "DirectApiHeaderAuthAuthorizer"}}));
    a.has(
        "AWS::ApiGatewayV2::Route",
        json!({"RouteKey": "$connect", "AuthorizationType": "AWS_IAM"}),
    );
    let perm = a
        .resource("DirectApiHeaderAuthAuthorizerPermission")
        .to_string();
    assert!(
        perm.contains("/authorizers/") && perm.contains("DirectApiHeaderAuthAuthorizer"),
        "{perm}"
    );
}

#[test]
fn http_mock_integrations_and_explicit_deployments() {
    let t = one(&apps::http_backend());
    let a = Assert::new(&t);
    a.has(
        "AWS::ApiGatewayV2::Integration",
        json!({
            "IntegrationType": "HTTP", "IntegrationMethod": "POST", "IntegrationUri": "https://chat.example.com/connect",
            "PassthroughBehavior": "NEVER", "TimeoutInMillis": 500, "TemplateSelectionExpression": "\\$default",
            "RequestParameters": {"integration.request.header.connectionId": "context.connectionId"},
        }),
    );
    a.has("AWS::ApiGatewayV2::Integration", json!({"IntegrationType": "HTTP_PROXY", "IntegrationMethod": "POST", "TimeoutInMillis": 29000}));
    a.has("AWS::ApiGatewayV2::Integration", json!({"IntegrationType": "MOCK", "RequestTemplates": {"$default": "{\"statusCode\":200}"}}));
    a.has(
        "AWS::ApiGatewayV2::Integration",
        json!({"ContentHandlingStrategy": "CONVERT_TO_TEXT"}),
    );
    a.has("AWS::ApiGatewayV2::IntegrationResponse", json!({"IntegrationResponseKey": "$default", "ResponseTemplates": {"$default": "{\"pong\":true}"}}));
    a.count("AWS::ApiGatewayV2::IntegrationResponse", 4)
        .count("AWS::ApiGatewayV2::Deployment", 1);
    a.has(
        "AWS::ApiGatewayV2::Route",
        json!({"RouteKey": "sendMessage", "ApiKeyRequired": true, "OperationName": "SendMessage"}),
    );
    a.has(
        "AWS::ApiGatewayV2::Stage",
        json!({
            "StageName": "v1", "Description": "first version",
            "DefaultRouteSettings": {"LoggingLevel": "ERROR", "DataTraceEnabled": false, "DetailedMetricsEnabled": true},
            "RouteSettings": {"sendMessage": {"ThrottlingRateLimit": 5.0, "ThrottlingBurstLimit": 2, "LoggingLevel": "INFO", "DetailedMetricsEnabled": false}},
            "AccessLogSettings": {"DestinationArn": {"Fn::GetAtt": ["ApiV1AccessLogs", "Arn"]}, "Format": "$context.requestId $context.routeKey $context.status"},
            "StageVariables": {"backend": "chat.example.com"},
        }),
    );
    let (dep, res) = a.of_type("AWS::ApiGatewayV2::Deployment")[0];
    let stage = a.of_type("AWS::ApiGatewayV2::Stage")[0].1;
    assert_eq!(stage["Properties"]["DeploymentId"], json!({"Ref": dep}));
    assert!(stage["Properties"].get("AutoDeploy").is_none());
    assert_eq!(
        res["DependsOn"].as_array().unwrap().len(),
        7,
        "every route and route response: {res}"
    );
}

#[test]
fn explicit_deployments_change_exactly_when_routes_change() {
    let linted = std::cell::RefCell::new(Vec::new());
    let deployment = |extra_route: Option<&str>, throttle: f64| {
        let app = App::at(crate::support::fixture("chat"));
        let stack = app.stack("S");
        let f = stack.rust_function("F", "lambdas/default");
        let api = stack.websocket_api("Api").on_default(&f);
        if let Some(k) = extra_route {
            let _ = api.clone().route(k, &f);
        }
        let _ = api.stage("live").auto_deploy(false).throttle(throttle, 1);
        let t = one(&app);
        let id = Assert::new(&t).of_type("AWS::ApiGatewayV2::Deployment")[0]
            .0
            .clone();
        let n = linted.borrow().len();
        linted.borrow_mut().push((format!("deployment-{n}"), t));
        id
    };
    let base = deployment(None, 1.0);
    assert!(
        base.starts_with("ApiLiveDeployment") && base.len() == "ApiLiveDeployment".len() + 8,
        "{base}"
    );
    assert_eq!(base, deployment(None, 1.0));
    assert_eq!(
        base,
        deployment(None, 9.0),
        "stage settings do not need a new deployment"
    );
    assert_ne!(
        base,
        deployment(Some("extra"), 1.0),
        "a new route redeploys"
    );
}

#[test]
fn functions_schedules_and_tables() {
    let t = one(&apps::functions_and_tables());
    let a = Assert::new(&t);
    a.has(
        "AWS::Lambda::Function",
        json!({
            "Description": "Pushes prices to subscribers", "Architectures": ["arm64"], "MemorySize": 512, "Timeout": 60,
            "ReservedConcurrentExecutions": 1, "TracingConfig": {"Mode": "Active"},
            "Environment": {"Variables": {"MODE": "live", "SUBSCRIBERS_ARN": {"Fn::GetAtt": ["Subscribers", "Arn"]}}},
            "Tags": [{"Key": "cost-center", "Value": "42"}],
        }),
    );
    a.has("AWS::IAM::Role", json!({"ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}]}));
    a.has("AWS::Events::Rule", json!({"ScheduleExpression": "cron(0/5 * * * ? *)", "State": "ENABLED", "Targets": [{"Arn": {"Fn::GetAtt": ["Ticker", "Arn"]}}]}));
    a.has(
        "AWS::Events::Rule",
        json!({"ScheduleExpression": "rate(1 hour)"}),
    );
    a.has("AWS::Lambda::Permission", json!({"Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": ["TickerSchedule", "Arn"]}}));
    let log = a.resource("TickerLogGroup");
    assert!(
        log["Properties"].get("RetentionInDays").is_none(),
        "infinite retention: {log}"
    );
    a.has(
        "AWS::DynamoDB::Table",
        json!({
            "TableName": "ticker-prices", "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "KeySchema": [{"AttributeName": "symbol", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
            "AttributeDefinitions": [
                {"AttributeName": "at", "AttributeType": "N"},
                {"AttributeName": "subscriber", "AttributeType": "S"},
                {"AttributeName": "symbol", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [{"IndexName": "bySubscriber", "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["price"]}}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true},
        }),
    );
    assert_eq!(
        a.resource("Prices")["DeletionPolicy"],
        "Delete",
        "opted in explicitly"
    );
    assert_eq!(a.resource("Subscribers")["DeletionPolicy"], "Retain");
    let asset = app_assets(&apps::functions_and_tables());
    assert!(
        asset
            .iter()
            .any(|(bin, arch)| bin == "ticker" && arch == "arm64"),
        "{asset:?}"
    );
    assert!(
        asset
            .iter()
            .any(|(bin, arch)| bin == "unsubscribe" && arch == "x86_64"),
        "{asset:?}"
    );
}

#[test]
fn table_streams_and_subscriptions() {
    let t = one(&apps::table_streams());
    let a = Assert::new(&t);
    a.has(
        "AWS::DynamoDB::Table",
        json!({"StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"}}),
    );
    // Lambda's defaults, written out; and every setting.
    assert_eq!(
        a.resource("FanoutOnMessagesChange"),
        &json!({
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["Messages", "StreamArn"]},
                "FunctionName": {"Ref": "Fanout"},
                "BatchSize": 100,
                "StartingPosition": "LATEST"
            },
            "DependsOn": ["FanoutRolePolicy"]
        })
    );
    a.has(
        "AWS::Lambda::EventSourceMapping",
        json!({"FunctionName": {"Ref": "Audit"}, "BatchSize": 10, "StartingPosition": "TRIM_HORIZON",
            "MaximumBatchingWindowInSeconds": 5, "MaximumRetryAttempts": 3}),
    );
    // Reading the stream, on the stream's ARN only (not the table's, not `*`).
    let policy = &a.resource("FanoutRolePolicy")["Properties"]["PolicyDocument"]["Statement"];
    assert!(
        policy.as_array().unwrap().contains(&json!({
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
            "Resource": [{"Fn::GetAtt": ["Messages", "StreamArn"]}]
        })),
        "{policy}"
    );
}

fn app_assets(app: &App) -> Vec<(String, String)> {
    app.assemble()
        .unwrap()
        .manifest
        .assets
        .values()
        .map(|a| (a.bin.clone(), a.architecture.clone()))
        .collect()
}

#[test]
fn domains_parameters_conditions_and_exports() {
    let t = one(&apps::domain_and_parameters());
    let a = Assert::new(&t);
    a.has("AWS::ApiGatewayV2::Api", json!({"Name": "public-websocket", "DisableExecuteApiEndpoint": true, "ApiKeySelectionExpression": "$request.header.x-api-key", "Tags": {"exposure": "public"}}));
    a.has("AWS::ApiGatewayV2::DomainName", json!({"DomainName": "ws.example.com", "DomainNameConfigurations": [{"CertificateArn": {"Ref": "CertificateArn"}, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}]}));
    a.has("AWS::ApiGatewayV2::ApiMapping", json!({"DomainName": {"Ref": "PublicApiProdDomain"}, "Stage": {"Ref": "PublicApiProdStage"}}));
    a.has("AWS::Lambda::Function", json!({"Environment": {"Variables": {"LOG_LEVEL": {"Fn::If": ["IsProd", "warn", "debug"]}, "ENV": {"Ref": "Environment"}}}}));
    assert_eq!(t.parameters["Environment"].default.as_deref(), Some("dev"));
    assert!(t.conditions.contains_key("IsProd"));
    assert_eq!(
        t.outputs["DomainUrl"].export.as_ref().unwrap().name,
        Expr::sub("${AWS::StackName}-DomainUrl")
    );
    let manifest = apps::domain_and_parameters().assemble().unwrap().manifest;
    let entry = &manifest.stacks["Public"];
    assert_eq!(
        (entry.account.as_deref(), entry.region.as_deref()),
        (Some("123456789012"), Some("eu-west-1"))
    );
}

#[test]
fn manifests_list_stacks_assets_and_retained_resources() {
    let a = apps::chat().assemble().unwrap();
    let chat = &a.manifest.stacks["Chat"];
    assert_eq!(chat.template_file, "Chat.template.json");
    assert_eq!(chat.retained, vec!["Connections"]);
    assert_eq!(
        chat.outputs,
        vec!["CallbackUrl", "TableName", "WebSocketUrl"]
    );
    assert_eq!(chat.assets.len(), 4);
    for fp in &chat.assets {
        let asset = &a.manifest.assets[fp];
        assert_eq!(asset.key, format!("{fp}.zip"));
        assert_eq!(asset.functions.len(), 1);
    }
    let two = apps::two_stacks().assemble().unwrap();
    assert_eq!(two.templates.len(), 2);
    let shared: Vec<_> = two.manifest.assets.values().collect();
    assert_eq!(shared.len(), 1, "one asset for the same crate");
    assert_eq!(shared[0].functions, vec!["Blue/Echo", "Green/Echo"]);
}

#[test]
fn written_assembly_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let a = apps::two_stacks().assemble().unwrap();
    a.write_to(dir.path()).unwrap();
    let back = wsgen::assembly::CloudAssembly::read_from(dir.path()).unwrap();
    assert_eq!(back, a);
}

#[test]
fn routes_share_identical_integrations_and_big_apis_fit() {
    let t = one(&apps::domain_and_parameters());
    let a = Assert::new(&t);
    a.count("AWS::ApiGatewayV2::Integration", 1)
        .count("AWS::ApiGatewayV2::Route", 2)
        .count("AWS::Lambda::Permission", 2);
    let integration =
        json!({"Fn::Join": ["", ["integrations/", {"Ref": "PublicApiDefaultIntegration"}]]});
    a.has(
        "AWS::ApiGatewayV2::Route",
        json!({"RouteKey": "$connect", "Target": integration}),
    );
    a.has(
        "AWS::ApiGatewayV2::Route",
        json!({"RouteKey": "$default", "Target": integration}),
    );

    let t = one(&apps::three_hundred_routes());
    let a = Assert::new(&t);
    a.count("AWS::ApiGatewayV2::Route", 300)
        .count("AWS::ApiGatewayV2::Integration", 1);
    assert!(t.resources.len() < 500, "{}", t.resources.len());
    check_invariants("big", &t);
    let dir = tempfile::tempdir().unwrap();
    cfn_lint(&write_templates(dir.path(), &[("big".into(), t)]));
}

/// The toolkit stack's template is versioned like the app's: snapshotted (a change to
/// it shows here, and must come with a new `TOOLKIT_VERSION` when deploy relies on it),
/// cfn-lint clean, and carrying the version deploy reads back. With
/// `--api-gateway-logging` it also holds the account's API Gateway CloudWatch role.
#[test]
fn toolkit_template_is_versioned_snapshotted_and_linted() {
    let template = wsgen_cli::toolkit_template(false);
    assert_eq!(
        template["Outputs"]["BootstrapVersion"]["Value"],
        json!(wsgen_cli::TOOLKIT_VERSION.to_string())
    );
    insta::assert_json_snapshot!("toolkit-template", template);
    let logging = wsgen_cli::toolkit_template(true);
    insta::assert_json_snapshot!("toolkit-template-api-gateway-logging", logging);
    // The same bucket, plus the role and the account setting.
    let mut without = logging.clone();
    for (section, key) in [
        ("Resources", "ApiGatewayCloudWatchRole"),
        ("Resources", "ApiGatewayAccount"),
        ("Outputs", "ApiGatewayCloudWatchRoleArn"),
    ] {
        assert!(without[section]
            .as_object_mut()
            .unwrap()
            .remove(key)
            .is_some());
    }
    assert_eq!(without, template);
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("WsgenToolkit", &template),
        ("WsgenToolkitLogging", &logging),
    ]
    .map(|(name, t)| {
        let file = dir.path().join(format!("{name}.template.json"));
        std::fs::write(&file, serde_json::to_string_pretty(t).unwrap()).unwrap();
        file
    });
    cfn_lint(&files);
}

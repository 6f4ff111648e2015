//! The library against the in-process fake of DynamoDB and `@connections`.

use serde_json::json;
use std::time::Duration;
use wsgen_handler::testing::FakeAws;
use wsgen_handler::{
    broadcast, Body, ConnectionStore, Connections, Delivery, EventType, Router, WsRequest,
    WsResponse,
};

fn request(event: serde_json::Value) -> WsRequest {
    WsRequest::from_event(serde_json::from_value(event).unwrap()).unwrap()
}

#[tokio::test]
async fn requests_carry_the_request_context() {
    let aws = FakeAws::start().await;
    let mut connect = aws.event("$connect", "c1", None);
    connect["queryStringParameters"] = json!({"room": "lobby"});
    connect["requestContext"]["authorizer"] = json!({"principalId": "user-1", "plan": "pro"});
    let r = request(connect);
    assert_eq!(
        (
            r.route_key.as_str(),
            r.event_type.clone(),
            r.connection_id.as_str()
        ),
        ("$connect", EventType::Connect, "c1")
    );
    assert_eq!(r.query["room"], "lobby");
    assert_eq!(r.headers["sec-websocket-key"], "x3JJHMbDL1EzLkh9GBhXDw==");
    assert_eq!(r.authorizer["plan"], "pro");
    assert_eq!(
        (r.stage.as_str(), r.api_id.as_str(), r.connected_at),
        ("dev", "fakeapi", 1_700_000_000_000)
    );
    assert_eq!(r.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        r.callback_endpoint(),
        format!("http://{}/dev", aws.domain()),
        "loopback domains use http"
    );

    let mut binary = aws.event("$default", "c1", Some("AAEC/w=="));
    binary["isBase64Encoded"] = json!(true);
    assert_eq!(request(binary).body, Some(Body::Binary(vec![0, 1, 2, 255])));

    let message = request(aws.event(
        "sendmessage",
        "c1",
        Some(r#"{"action":"sendmessage","data":"hi"}"#),
    ));
    assert_eq!(message.event_type, EventType::Message);
    let v: serde_json::Value = message.json().unwrap();
    assert_eq!(v["data"], "hi");
    assert!(message
        .json::<Vec<u8>>()
        .unwrap_err()
        .to_string()
        .contains("not the JSON this route expects"));

    let mut gone = aws.event("$disconnect", "c1", None);
    gone["requestContext"]["disconnectStatusCode"] = json!(1001);
    gone["requestContext"]["disconnectReason"] = json!("Going away");
    let d = request(gone);
    assert_eq!(
        (
            d.event_type,
            d.disconnect_status_code,
            d.disconnect_reason.as_deref()
        ),
        (EventType::Disconnect, Some(1001), Some("Going away"))
    );

    let mut remote = request(aws.event("$default", "c1", None));
    remote.domain_name = "abc123.execute-api.eu-west-1.amazonaws.com".into();
    let execute_api = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev";
    assert_eq!(remote.callback_endpoint_in(Some("eu-west-1")), execute_api);
    assert_eq!(remote.callback_endpoint_in(None), execute_api);
    // A custom domain may map the API under a path: the execute-api host is used.
    remote.domain_name = "ws.example.com".into();
    remote.api_id = "abc123".into();
    assert_eq!(remote.callback_endpoint_in(Some("eu-west-1")), execute_api);
}

#[tokio::test]
async fn routers_dispatch_by_route_key() {
    let aws = FakeAws::start().await;
    let router = Router::new(42u32)
        .on_connect(|_, _| async { Ok(WsResponse::status(401)) })
        .route("echo", |req, state| async move {
            Ok(WsResponse::text(format!(
                "{} {}",
                req.text().unwrap_or(""),
                state
            )))
        })
        .on_schedule(|event, _| async move {
            assert_eq!(event["source"], "aws.events");
            Ok(())
        });
    let out = router
        .handle(aws.event("echo", "c1", Some("hello")))
        .await
        .unwrap();
    assert_eq!(
        (out["statusCode"].as_i64(), out["body"].as_str()),
        (Some(200), Some("hello 42"))
    );
    let out = router
        .handle(aws.event("$connect", "c1", None))
        .await
        .unwrap();
    assert_eq!(out["statusCode"], 401);
    let e = router
        .handle(aws.event("other", "c1", None))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no handler for route `other` (this function serves: $connect, echo)"),
        "{e}"
    );
    router
        .handle(json!({"source": "aws.events", "detail-type": "Scheduled Event"}))
        .await
        .unwrap();

    let fallback =
        Router::new(()).on_default(|req, _| async move { Ok(WsResponse::text(req.route_key)) });
    let out = fallback
        .handle(aws.event("unknown", "c1", None))
        .await
        .unwrap();
    assert_eq!(out["body"], "unknown");
    let e = fallback
        .handle(json!({"source": "aws.events"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no schedule handler"));
}

#[tokio::test]
async fn the_store_pages_expires_groups_and_subscribes() {
    let aws = FakeAws::start().await;
    let store =
        ConnectionStore::new(&aws.sdk_config(), "conns").with_ttl(Duration::from_secs(3600));
    for (id, group) in [
        ("a", Some("lobby")),
        ("b", None),
        ("c", Some("lobby")),
        ("d", Some("games")),
        ("e", None),
    ] {
        store.put(id, group).await.unwrap();
    }
    let item = aws.item("conns", "a").unwrap();
    let connected: i64 = item["connectedAt"]["N"].as_str().unwrap().parse().unwrap();
    let expires: i64 = item["expiresAt"]["N"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - connected, 3600);

    aws.state.lock().unwrap().page_size = 2;
    let all = store.list().await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e"]
    );
    let scans = aws
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| *l == "DynamoDB.Scan")
        .count();
    assert_eq!(scans, 3, "five items in pages of two");
    let lobby = store.list_group("lobby").await.unwrap();
    assert_eq!(
        lobby.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert_eq!(lobby[0].group.as_deref(), Some("lobby"));

    store.subscribe("a", "AMZN").await.unwrap();
    store.subscribe("b", "AMZN").await.unwrap();
    store.subscribe("b", "MSFT").await.unwrap();
    store.unsubscribe("a", "AMZN").await.unwrap();
    let amzn = store.subscribers("AMZN").await.unwrap();
    assert_eq!(
        amzn.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    assert_eq!(amzn[0].topics, ["AMZN", "MSFT"]);
    let gone = store
        .subscribe("nobody", "AMZN")
        .await
        .expect_err("a gone connection is not brought back")
        .to_string();
    assert_eq!(
        gone,
        "DynamoDB UpdateItem: ConditionalCheckFailedException (400 Bad Request): The conditional \
         request failed (table conns)"
    );

    store.delete("b").await.unwrap();
    assert_eq!(aws.stored("conns"), ["a", "c", "d", "e"]);
}

#[tokio::test]
async fn connections_post_get_delete_and_gone() {
    let aws = FakeAws::start().await;
    let conns = Connections::new(&aws.sdk_config(), &format!("{}/dev", aws.endpoint()));
    aws.connect("L0SM9cOFvHcCIhw=");
    assert_eq!(
        conns.post("L0SM9cOFvHcCIhw=", "hello").await.unwrap(),
        Delivery::Delivered
    );
    assert_eq!(aws.received("L0SM9cOFvHcCIhw="), ["hello"]);
    let info = conns.get("L0SM9cOFvHcCIhw=").await.unwrap().unwrap();
    assert_eq!(info.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(info.user_agent.as_deref(), Some("fake-client"));
    assert_eq!(info.connected_at, Some(1_700_000_000));
    assert_eq!(
        conns.delete("L0SM9cOFvHcCIhw=").await.unwrap(),
        Delivery::Delivered
    );
    assert_eq!(
        conns.post("L0SM9cOFvHcCIhw=", "again").await.unwrap(),
        Delivery::Gone
    );
    assert_eq!(conns.get("L0SM9cOFvHcCIhw=").await.unwrap(), None);
    assert_eq!(conns.delete("never").await.unwrap(), Delivery::Gone);
}

#[tokio::test]
async fn throttled_posts_are_retried() {
    let aws = FakeAws::start().await;
    let conns = Connections::new(&aws.sdk_config(), &format!("{}/dev", aws.endpoint()));
    aws.connect("c1");
    aws.state.lock().unwrap().throttle_posts = 2;
    assert_eq!(
        conns.post("c1", "eventually").await.unwrap(),
        Delivery::Delivered
    );
    assert_eq!(aws.received("c1"), ["eventually"]);
    let posts = aws
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| l.starts_with("POST"))
        .count();
    assert_eq!(posts, 3, "two throttled attempts, then success");
    aws.state.lock().unwrap().throttle_posts = 10;
    let e = conns.post("c1", "never").await.unwrap_err();
    assert!(format!("{e:?}").contains("LimitExceeded"), "{e:?}");
}

#[tokio::test]
async fn broadcast_delivers_and_drops_the_gone() {
    let aws = FakeAws::start().await;
    let config = aws.sdk_config();
    let store = ConnectionStore::new(&config, "conns");
    let conns = Connections::new(&config, &format!("{}/dev", aws.endpoint()));
    for id in ["a", "b", "c", "d", "e"] {
        store.put(id, None).await.unwrap();
        aws.connect(id);
    }
    aws.close("b");
    aws.close("d");
    aws.state.lock().unwrap().throttle_posts = 1;
    let ids = store.list().await.unwrap().into_iter().map(|c| c.id);
    let report = broadcast(&conns, Some(&store), ids, b"news", 2).await;
    assert_eq!(report.delivered, ["a", "c", "e"]);
    assert_eq!(report.gone, ["b", "d"]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        aws.stored("conns"),
        ["a", "c", "e"],
        "gone connections are removed"
    );
    for id in ["a", "c", "e"] {
        assert_eq!(aws.received(id), ["news"]);
    }
}

/// A deployed handler on a local AWS engine: `AWS_ENDPOINT_URL` (the configuration's
/// endpoint for every service) names the engine, which serves the stage's
/// `@connections` under `/_aws/execute-api/{api-id}/{stage}`; the AWS endpoint the
/// event names is never looked up.
#[tokio::test]
async fn a_general_endpoint_reaches_connections_on_the_local_engine() {
    let aws = FakeAws::start().await;
    let conns = Connections::new(
        &aws.sdk_config(),
        "https://abc123.execute-api.us-east-1.amazonaws.com/dev",
    );
    aws.connect("c1");
    assert_eq!(conns.post("c1", "hi").await.unwrap(), Delivery::Delivered);
    assert_eq!(aws.received("c1"), ["hi"]);
}

/// `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` (here as the configuration's service
/// setting, which is where the SDK reads it) is used as it is.
#[tokio::test]
async fn the_service_endpoint_setting_is_used_as_it_is() {
    #[derive(Debug)]
    struct ServiceEndpoint(String);
    impl aws_types::service_config::LoadServiceConfig for ServiceEndpoint {
        fn load_config(
            &self,
            key: aws_types::service_config::ServiceConfigKey<'_>,
        ) -> Option<String> {
            (key.service_id() == "ApiGatewayManagementApi" && key.env() == "AWS_ENDPOINT_URL")
                .then(|| self.0.clone())
        }
    }
    let aws = FakeAws::start().await;
    let mut config = aws.sdk_config().into_builder();
    config.set_endpoint_url(None);
    let config = config
        .service_config(ServiceEndpoint(aws.endpoint()))
        .build();
    let conns = Connections::new(
        &config,
        "https://abc123.execute-api.us-east-1.amazonaws.com/dev",
    );
    aws.connect("c1");
    assert_eq!(conns.post("c1", "hi").await.unwrap(), Delivery::Delivered);
    assert_eq!(aws.received("c1"), ["hi"]);
}

/// The client signs as the SDK does (SigV4 for `execute-api` in the configuration's
/// region, with the session token), escapes the connection id as API Gateway expects,
/// and fetches credentials once for every client of one context.
#[tokio::test]
async fn posts_are_signed_with_credentials_fetched_once() {
    use aws_credential_types::provider::{future, ProvideCredentials};
    use aws_credential_types::Credentials;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Debug, Default)]
    struct Counting(Arc<AtomicUsize>);
    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                "AKIDCOUNTING",
                "secret",
                Some("the-session-token".into()),
                None,
                "counting",
            )))
        }
    }
    let seen: Arc<Mutex<Vec<wsgen_handler::testing::Request>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = seen.clone();
    wsgen_handler::testing::serve_http(listener, move |r| {
        log.lock().unwrap().push(r);
        async { (200, Vec::new(), Vec::new()) }
    });
    let provider = Counting::default();
    let config = wsgen_handler::SdkConfig::builder()
        .behavior_version(
            aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
        )
        .region(aws_types::region::Region::new("eu-west-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider.clone()),
        )
        .build();
    let ctx =
        wsgen_handler::Context::new(config, None).with_callback_url(format!("http://{addr}/live"));
    for _ in 0..3 {
        let conns = ctx.callback_connections().unwrap();
        assert_eq!(
            conns.post("L0SM9cOFvHcCIhw=", "hi").await.unwrap(),
            Delivery::Delivered
        );
    }
    assert_eq!(
        provider.0.load(Ordering::SeqCst),
        1,
        "credentials are cached"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/live/@connections/L0SM9cOFvHcCIhw%3D");
    assert_eq!(r.body, b"hi");
    let auth = &r.headers["authorization"];
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDCOUNTING/")
            && auth.contains("/eu-west-1/execute-api/aws4_request")
            && auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
        "{auth}"
    );
    assert_eq!(r.headers["x-amz-security-token"], "the-session-token");
}

/// Errors name the API's error and message; a call without credentials says what to do.
#[tokio::test]
async fn failures_name_the_error_and_the_fix() {
    let aws = FakeAws::start().await;
    let conns = Connections::new(&aws.sdk_config(), "http://127.0.0.1:1/dev");
    let e = conns.post("c1", "x").await.unwrap_err().to_string();
    assert!(
        e.contains("the request failed") && e.contains("after 3 attempts"),
        "{e}"
    );

    let config = wsgen_handler::SdkConfig::builder()
        .behavior_version(
            aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
        )
        .region(aws_types::region::Region::new("us-east-1"))
        .build();
    let e = Connections::new(&config, &format!("{}/dev", aws.endpoint()))
        .post("c1", "x")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no AWS credentials provider"), "{e}");

    let conns = Connections::new(&aws.sdk_config(), &format!("{}/dev", aws.endpoint()));
    let e = conns.get("c1").await;
    assert_eq!(e.unwrap(), None, "410 is a value, not an error");
}

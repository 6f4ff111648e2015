//! A fake of the two AWS APIs handlers use, in process on loopback, for tests: the
//! DynamoDB JSON protocol (PutItem, DeleteItem, UpdateItem with ADD/DELETE on a string
//! set, Scan with filters and pages) and the `@connections` API (POST, GET, DELETE, with
//! 410 Gone and 429 throttling), plus builders of API Gateway WebSocket events.

use crate::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_types::region::Region;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A connection as the fake `@connections` API knows it.
#[derive(Clone, Debug, Default)]
pub struct FakeConnection {
    /// Messages posted to it, in order.
    pub received: Vec<Vec<u8>>,
    pub gone: bool,
}

/// The fake's state, open to the tests.
#[derive(Debug)]
pub struct State {
    /// Items by table and `connectionId`.
    pub tables: BTreeMap<String, BTreeMap<String, Value>>,
    pub connections: BTreeMap<String, FakeConnection>,
    /// The next this many posts answer 429 (throttled).
    pub throttle_posts: usize,
    /// Items a Scan evaluates per page.
    pub page_size: usize,
    /// Requests seen: `DynamoDB.Scan`, `POST @connections/id`, ...
    pub log: Vec<String>,
}

/// The running fake.
pub struct FakeAws {
    addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
}

impl FakeAws {
    /// Starts the fake on 127.0.0.1 with a free port.
    pub async fn start() -> FakeAws {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State {
            tables: BTreeMap::new(),
            connections: BTreeMap::new(),
            throttle_posts: 0,
            page_size: 100,
            log: Vec::new(),
        }));
        let shared = state.clone();
        serve_http(listener, move |r| {
            let state = shared.clone();
            async move { answer(&state, r) }
        });
        FakeAws { addr, state }
    }

    /// `127.0.0.1:port`, the `domainName` of events from [`FakeAws::event`].
    pub fn domain(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An SDK configuration pointing at the fake, with test credentials and retries
    /// that back off for a millisecond.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "fake",
            )))
            .endpoint_url(self.endpoint())
            .retry_config(
                aws_smithy_types::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build()
    }

    /// A handler context on the fake: the connections table `conns`, and the stage
    /// `dev` as the callback URL.
    pub fn context(&self) -> crate::Context {
        let config = self.sdk_config();
        let store = crate::ConnectionStore::new(&config, "conns");
        crate::Context::new(config, Some(store))
            .with_callback_url(format!("{}/dev", self.endpoint()))
    }

    /// Opens connection `id` in the fake `@connections` API.
    pub fn connect(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .connections
            .insert(id.into(), FakeConnection::default());
    }

    /// Closes connection `id`: posts to it answer 410.
    pub fn close(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .connections
            .entry(id.into())
            .or_default()
            .gone = true;
    }

    /// The text messages connection `id` received.
    pub fn received(&self, id: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.connections
            .get(id)
            .map(|c| {
                c.received
                    .iter()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `connectionId`s stored in `table`.
    pub fn stored(&self, table: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .tables
            .get(table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The item of `id` in `table`.
    pub fn item(&self, table: &str, id: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .tables
            .get(table)
            .and_then(|t| t.get(id))
            .cloned()
    }

    /// Stores an item `{connectionId: id}` directly.
    pub fn store(&self, table: &str, id: &str) {
        self.state
            .lock()
            .unwrap()
            .tables
            .entry(table.into())
            .or_default()
            .insert(id.into(), json!({"connectionId": {"S": id}}));
    }

    /// An API Gateway WebSocket event from connection `id` on route `route` of stage
    /// `dev`, whose domain is the fake.
    pub fn event(&self, route: &str, id: &str, body: Option<&str>) -> Value {
        let event_type = match route {
            "$connect" => "CONNECT",
            "$disconnect" => "DISCONNECT",
            _ => "MESSAGE",
        };
        let mut e = json!({
            "requestContext": {
                "routeKey": route,
                "eventType": event_type,
                "connectionId": id,
                "domainName": self.domain(),
                "stage": "dev",
                "apiId": "fakeapi",
                "requestId": "req-1",
                "messageId": "msg-1",
                "extendedRequestId": "ext-1",
                "messageDirection": "IN",
                "connectedAt": 1_700_000_000_000i64,
                "requestTimeEpoch": 1_700_000_000_500i64,
                "requestTime": "14/Nov/2023:22:13:20 +0000",
                "identity": {"sourceIp": "127.0.0.1"}
            },
            "isBase64Encoded": false
        });
        if let Some(b) = body {
            e["body"] = Value::String(b.to_string());
        }
        if event_type == "CONNECT" {
            e["headers"] =
                json!({"Host": self.domain(), "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="});
        }
        e
    }
}

/// An HTTP/1.1 request, as [`serve_http`] hands it over.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lowercase.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// A response: status, headers, body.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

type Handler = Arc<
    dyn Fn(Request) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>
        + Send
        + Sync,
>;

/// Serves HTTP/1.1 (keep-alive, `content-length` bodies) on `listener` with `handler`,
/// until the runtime ends: enough for the AWS SDKs and the Lambda runtime client.
pub fn serve_http<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let _ = connection(stream, handler).await;
            });
        }
    });
}

async fn connection(stream: tokio::net::TcpStream, handler: Handler) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if read.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            read.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        read.read_exact(&mut body).await?;
        let (status, extra, out) = handler(Request {
            method,
            path,
            headers,
            body,
        })
        .await;
        let mut response = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", out.len());
        for (k, v) in extra {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        write.write_all(response.as_bytes()).await?;
        write.write_all(&out).await?;
    }
}

fn answer(state: &Mutex<State>, r: Request) -> Response {
    let mut s = state.lock().unwrap();
    let (status, headers, body) = match r.headers.get("x-amz-target") {
        Some(target) => dynamodb(&mut s, target, &r.body),
        None => management(&mut s, &r.method, &r.path, r.body),
    };
    let mut headers: Vec<(String, String)> = headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    headers.push(("content-type".into(), "application/x-amz-json-1.0".into()));
    (status, headers, body)
}

type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

fn error(status: u16, kind: &str, message: &str) -> Answer {
    (
        status,
        vec![("x-amzn-errortype", kind.to_string())],
        json!({"__type": kind, "message": message})
            .to_string()
            .into_bytes(),
    )
}

fn management(s: &mut State, method: &str, path: &str, body: Vec<u8>) -> Answer {
    // As API Gateway: the path's escapes (`%40`, `%3D` in ids) decoded.
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let Some((_, id)) = path.split_once("/@connections/") else {
        return error(404, "NotFoundException", "no such path");
    };
    let id = id.to_string();
    s.log.push(format!("{method} @connections/{id}"));
    let gone = s.connections.get(&id).is_none_or(|c| c.gone);
    match method {
        "POST" if s.throttle_posts > 0 => {
            s.throttle_posts -= 1;
            error(429, "LimitExceededException", "slow down")
        }
        _ if gone => error(410, "GoneException", &format!("connection {id} is gone")),
        "POST" => {
            s.connections
                .get_mut(&id)
                .expect("exists")
                .received
                .push(body);
            (200, vec![], Vec::new())
        }
        "GET" => {
            let info = json!({
                "connectedAt": "2023-11-14T22:13:20Z",
                "lastActiveAt": "2023-11-14T22:14:20Z",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "fake-client"}
            });
            (200, vec![], info.to_string().into_bytes())
        }
        "DELETE" => {
            s.connections.get_mut(&id).expect("exists").gone = true;
            (204, vec![], Vec::new())
        }
        _ => error(405, "BadRequestException", "method not allowed"),
    }
}

fn dynamodb(s: &mut State, target: &str, body: &[u8]) -> Answer {
    let op = target.rsplit('.').next().unwrap_or(target).to_string();
    s.log.push(format!("DynamoDB.{op}"));
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(400, "SerializationException", "bad JSON");
    };
    let table = req["TableName"].as_str().unwrap_or_default().to_string();
    let key_of = |v: &Value| v["connectionId"]["S"].as_str().map(str::to_string);
    let names = req["ExpressionAttributeNames"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let values = req["ExpressionAttributeValues"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let name = |n: &str| {
        names
            .get(n)
            .and_then(Value::as_str)
            .unwrap_or(n)
            .to_string()
    };
    let ok = |v: Value| (200, vec![], v.to_string().into_bytes());
    match op.as_str() {
        "PutItem" => {
            let Some(id) = key_of(&req["Item"]) else {
                return error(400, "ValidationException", "no key");
            };
            s.tables
                .entry(table)
                .or_default()
                .insert(id, req["Item"].clone());
            ok(json!({}))
        }
        "DeleteItem" => {
            if let Some(id) = key_of(&req["Key"]) {
                s.tables.entry(table).or_default().remove(&id);
            }
            ok(json!({}))
        }
        "UpdateItem" => {
            let Some(id) = key_of(&req["Key"]) else {
                return error(400, "ValidationException", "no key");
            };
            let expr = req["UpdateExpression"].as_str().unwrap_or_default();
            let mut words = expr.split_whitespace();
            let (Some(verb), Some(attr), Some(val)) = (words.next(), words.next(), words.next())
            else {
                return error(400, "ValidationException", "unsupported update expression");
            };
            let items = s.tables.entry(table).or_default();
            let Some(item) = items.get_mut(&id) else {
                return error(
                    400,
                    "ConditionalCheckFailedException",
                    "The conditional request failed",
                );
            };
            let attr = name(attr);
            let add: Vec<String> = values
                .get(val)
                .and_then(|v| v["SS"].as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let mut set: Vec<String> = item[&attr]["SS"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            match verb {
                "ADD" => set.extend(add),
                "DELETE" => set.retain(|t| !add.contains(t)),
                _ => return error(400, "ValidationException", "unsupported update expression"),
            }
            set.sort();
            set.dedup();
            let obj = item.as_object_mut().expect("items are objects");
            if set.is_empty() {
                obj.remove(&attr);
            } else {
                obj.insert(attr, json!({"SS": set}));
            }
            ok(json!({}))
        }
        "Scan" => {
            let items = s.tables.get(&table).cloned().unwrap_or_default();
            let start = req.get("ExclusiveStartKey").and_then(key_of);
            let page: Vec<(&String, &Value)> = items
                .iter()
                .filter(|(k, _)| start.as_ref().is_none_or(|st| *k > st))
                .take(s.page_size)
                .collect();
            let filter = req["FilterExpression"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let matches = |item: &Value| -> bool {
                if filter.is_empty() {
                    return true;
                }
                let value = values.get(":v").cloned().unwrap_or(Value::Null);
                if let Some(inner) = filter
                    .strip_prefix("contains(")
                    .and_then(|f| f.strip_suffix(')'))
                {
                    let attr = name(inner.split(',').next().unwrap_or("").trim());
                    return item[&attr]["SS"]
                        .as_array()
                        .is_some_and(|a| a.contains(&value["S"]));
                }
                let attr = name(filter.split_whitespace().next().unwrap_or(""));
                item[&attr] == value
            };
            let found: Vec<Value> = page
                .iter()
                .map(|(_, v)| (*v).clone())
                .filter(|v| matches(v))
                .collect();
            let mut out = Map::new();
            out.insert("Count".into(), json!(found.len()));
            out.insert("ScannedCount".into(), json!(page.len()));
            out.insert("Items".into(), Value::Array(found));
            if let Some((last, _)) = page.last() {
                if items.keys().any(|k| k > *last) {
                    out.insert(
                        "LastEvaluatedKey".into(),
                        json!({"connectionId": {"S": last}}),
                    );
                }
            }
            ok(Value::Object(out))
        }
        other => error(
            400,
            "UnknownOperationException",
            &format!("the fake does not implement {other}"),
        ),
    }
}

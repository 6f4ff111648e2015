//! The DynamoDB endpoint handlers and clients use: in front of the embedded engine
//! (dynoxide, which listens on a port of its own), so that it answers as the rest of
//! `wsgen dev` does: through `http::serve` (loopback `Host` only, a header-read
//! timeout), and with local IAM: a request signed by one of the app's functions must be
//! allowed by its role, action by action and table by table (indexes as
//! `table/NAME/index/INDEX`), as DynamoDB checks it; else DynamoDB's
//! `AccessDeniedException` and a log line naming the grant. Requests not signed by the
//! app's functions keep full access. Not checked: PartiQL statements and the Streams API
//! (wsgen dev reads the streams itself).

use super::iam;
use super::lambda::{LambdaService, Logs};
use super::model::{DevFunction, LOCAL_ACCOUNT, LOCAL_REGION};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::Full;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// DynamoDB accepts request bodies up to 16 MB.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The proxy's state.
pub struct Proxy {
    /// Where the engine listens.
    engine: SocketAddr,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    /// The app's functions (known once they are loaded), to tell callers apart.
    pub callers: OnceLock<(Arc<LambdaService>, Logs)>,
}

impl Proxy {
    pub fn new(engine: SocketAddr) -> Arc<Proxy> {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Arc::new(Proxy {
            engine,
            client,
            callers: OnceLock::new(),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(forward).with_state(self.clone())
    }

    /// DynamoDB's answer to a request `function`'s role does not allow, if it does not.
    fn denial(&self, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
        let (lambda, logs) = self.callers.get()?;
        let function = lambda.caller(iam::signer(headers)?)?;
        let target = headers.get("x-amz-target")?.to_str().ok()?;
        let operation = target.strip_prefix("DynamoDB_20120810.")?;
        let body: Value = serde_json::from_slice(body).ok()?;
        let (action, resource) = required(operation, &body)
            .into_iter()
            .find(|(action, resource)| !iam::allows(&function.statements, action, resource))?;
        logs.line(
            &function.name,
            &format!(
                "denied {action} on {resource}: the function has no such grant; {}",
                hint(&action, &resource)
            ),
        );
        Some(access_denied(&function, &action, &resource))
    }
}

/// Forwards a request to the engine unless local IAM denies it.
async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the request is over 16 MB\n").into_response();
    };
    if let Some(denied) = proxy.denial(&parts.headers, &body) {
        return denied;
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = hyper::Request::builder()
        .method(parts.method)
        .uri(format!("http://{}{path}", proxy.engine));
    for (name, value) in &parts.headers {
        out = out.header(name, value);
    }
    let Ok(out) = out.body(Full::new(body)) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match proxy.client.request(out).await {
        Ok(response) => response.map(Body::new).into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the local DynamoDB engine did not answer: {e}\n"),
        )
            .into_response(),
    }
}

/// The ARN of table `name`.
fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}")
}

/// The (action, resource) pairs a request needs, as DynamoDB authorizes it.
fn required(operation: &str, body: &Value) -> Vec<(String, String)> {
    let table = |v: &Value| {
        v.get("TableName")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let on = |action: &str, name: String| (format!("dynamodb:{action}"), table_arn(&name));
    match operation {
        "BatchGetItem" | "BatchWriteItem" => body
            .get("RequestItems")
            .and_then(Value::as_object)
            .map(|items| items.keys().map(|t| on(operation, t.clone())).collect())
            .unwrap_or_default(),
        "TransactWriteItems" | "TransactGetItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, inner) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    _ => return None,
                };
                Some(on(action, table(inner)?))
            })
            .collect(),
        "ListTables" => vec![("dynamodb:ListTables".into(), "*".into())],
        // PartiQL needs PartiQL* actions per statement: not checked locally.
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => Vec::new(),
        _ => match table(body) {
            Some(name) => {
                let mut arn = table_arn(&name);
                if let Some(index) = body.get("IndexName").and_then(Value::as_str) {
                    arn = format!("{arn}/index/{index}");
                }
                vec![(format!("dynamodb:{operation}"), arn)]
            }
            None => Vec::new(),
        },
    }
}

/// The DSL call that grants `action`.
fn hint(action: &str, resource: &str) -> String {
    let op = action.trim_start_matches("dynamodb:");
    let call = match op {
        "BatchGetItem" | "ConditionCheckItem" | "DescribeTable" | "GetItem" | "Query" | "Scan" => {
            "table.grant_read(&function)"
        }
        "BatchWriteItem" | "DeleteItem" | "PutItem" | "UpdateItem" => {
            "table.grant_write(&function)"
        }
        _ => return format!("wsgen's grants do not cover {action}"),
    };
    let index = if resource.contains("/index/") {
        " (reads include the table's indexes)"
    } else {
        ""
    };
    format!("add `{call}` in the infra crate{index}")
}

/// DynamoDB's `AccessDeniedException` (HTTP 400).
fn access_denied(function: &DevFunction, action: &str, resource: &str) -> Response {
    let body = serde_json::json!({
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "Message": iam::denial(function, action, resource),
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    (StatusCode::BAD_REQUEST, headers, body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_each_request_needs() {
        let t = table_arn;
        assert_eq!(
            required("PutItem", &json!({"TableName": "T", "Item": {}})),
            [("dynamodb:PutItem".to_string(), t("T"))]
        );
        assert_eq!(
            required("Query", &json!({"TableName": "T", "IndexName": "byRoom"})),
            [(
                "dynamodb:Query".to_string(),
                format!("{}/index/byRoom", t("T"))
            )]
        );
        assert_eq!(
            required(
                "BatchWriteItem",
                &json!({"RequestItems": {"A": [], "B": []}})
            ),
            [
                ("dynamodb:BatchWriteItem".to_string(), t("A")),
                ("dynamodb:BatchWriteItem".to_string(), t("B"))
            ]
        );
        assert_eq!(
            required(
                "TransactWriteItems",
                &json!({"TransactItems": [{"Put": {"TableName": "A"}}, {"ConditionCheck": {"TableName": "B"}}]})
            ),
            [
                ("dynamodb:PutItem".to_string(), t("A")),
                ("dynamodb:ConditionCheckItem".to_string(), t("B"))
            ]
        );
        assert!(required("ExecuteStatement", &json!({"Statement": "SELECT"})).is_empty());
        assert!(hint("dynamodb:GetItem", &t("T")).contains("table.grant_read(&function)"));
        assert!(hint("dynamodb:PutItem", &t("T")).contains("table.grant_write(&function)"));
    }
}

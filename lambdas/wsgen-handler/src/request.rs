//! The WebSocket event a route's Lambda integration receives.

use crate::Error;
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// What happened on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `$connect`: the handshake, before the connection is accepted.
    Connect,
    /// A message on a custom route or `$default`.
    Message,
    /// `$disconnect`: the connection is gone.
    Disconnect,
    Other(String),
}

/// A message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Text(String),
    /// A binary frame (API Gateway sends it base64-encoded; this is decoded).
    Binary(Vec<u8>),
}

/// A WebSocket event with its request context.
#[derive(Clone, Debug)]
pub struct WsRequest {
    /// `$connect`, `$disconnect`, `$default` or a custom key.
    pub route_key: String,
    pub event_type: EventType,
    pub connection_id: String,
    pub body: Option<Body>,
    /// The query string of the handshake (on `$connect`).
    pub query: BTreeMap<String, String>,
    /// The handshake's headers, names in lowercase (on `$connect`).
    pub headers: BTreeMap<String, String>,
    /// What the authorizer put in its `context` (null without one).
    pub authorizer: serde_json::Value,
    /// `{api-id}.execute-api.{region}.amazonaws.com` (or the local runtime's address).
    pub domain_name: String,
    pub stage: String,
    pub api_id: String,
    pub request_id: String,
    /// When the connection was opened (epoch milliseconds).
    pub connected_at: i64,
    pub source_ip: Option<String>,
    /// On `$disconnect`: the close code and reason.
    pub disconnect_status_code: Option<i64>,
    pub disconnect_reason: Option<String>,
}

impl WsRequest {
    /// Reads the event, decoding a base64 body.
    pub fn from_event(e: ApiGatewayWebsocketProxyRequest) -> Result<WsRequest, Error> {
        let ctx = e.request_context;
        let event_type = match ctx.event_type.as_deref() {
            Some("CONNECT") => EventType::Connect,
            Some("MESSAGE") => EventType::Message,
            Some("DISCONNECT") => EventType::Disconnect,
            other => EventType::Other(other.unwrap_or_default().to_string()),
        };
        let body = match e.body {
            None => None,
            Some(b) if e.is_base64_encoded => Some(Body::Binary(
                aws_smithy_types::base64::decode(&b)
                    .map_err(|err| format!("the body is not valid base64: {err}"))?,
            )),
            Some(b) => Some(Body::Text(b)),
        };
        let query = query_map(&e.query_string_parameters);
        let headers = header_map(&e.headers);
        let authorizer = serde_json::to_value(&ctx.authorizer).unwrap_or(serde_json::Value::Null);
        let authorizer = match authorizer {
            serde_json::Value::Object(mut m) => {
                m.remove("lambda").unwrap_or(serde_json::Value::Object(m))
            }
            other => other,
        };
        // No authorizer: null, whether the event has no field or an empty one.
        let authorizer = match authorizer {
            serde_json::Value::Object(m) if m.is_empty() => serde_json::Value::Null,
            other => other,
        };
        Ok(WsRequest {
            route_key: ctx.route_key.unwrap_or_default(),
            event_type,
            connection_id: ctx.connection_id.unwrap_or_default(),
            body,
            query,
            headers,
            authorizer,
            domain_name: ctx.domain_name.unwrap_or_default(),
            stage: ctx.stage.unwrap_or_default(),
            api_id: ctx.apiid.unwrap_or_default(),
            request_id: ctx.request_id.unwrap_or_default(),
            connected_at: ctx.connected_at,
            source_ip: ctx.identity.source_ip,
            disconnect_status_code: ctx.disconnect_status_code,
            disconnect_reason: ctx.disconnect_reason,
        })
    }

    /// The body as text, if it is a text frame.
    pub fn text(&self) -> Option<&str> {
        match &self.body {
            Some(Body::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The body's bytes (empty without a body).
    pub fn bytes(&self) -> &[u8] {
        match &self.body {
            Some(Body::Text(t)) => t.as_bytes(),
            Some(Body::Binary(b)) => b,
            None => &[],
        }
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(self.bytes())
            .map_err(|e| format!("the message is not the JSON this route expects: {e}"))?)
    }

    /// The `@connections` endpoint of the stage this event came from:
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` (the event's domain
    /// when it is that host; with a custom domain, built from the API id and Lambda's
    /// `AWS_REGION`, since the custom domain may map the API under a path), or
    /// `http://{domain}/{stage}` when the domain is a loopback address (a local runtime).
    pub fn callback_endpoint(&self) -> String {
        self.callback_endpoint_in(std::env::var("AWS_REGION").ok().as_deref())
    }

    /// [`WsRequest::callback_endpoint`] in `region`.
    pub fn callback_endpoint_in(&self, region: Option<&str>) -> String {
        let domain = self.domain_name.as_str();
        let host = domain.rsplit_once(':').map_or(domain, |(h, _)| h);
        if host == "localhost" || host == "[::1]" || host.starts_with("127.") {
            return format!("http://{domain}/{}", self.stage);
        }
        match region {
            Some(region) if !domain.contains(".execute-api.") && !self.api_id.is_empty() => {
                format!(
                    "https://{}.execute-api.{region}.amazonaws.com/{}",
                    self.api_id, self.stage
                )
            }
            _ => format!("https://{domain}/{}", self.stage),
        }
    }
}

/// A query string as a map (the last value of a repeated parameter).
pub(crate) fn query_map(q: &aws_lambda_events::query_map::QueryMap) -> BTreeMap<String, String> {
    q.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Headers by lower-case name (values that are not text are left out).
pub(crate) fn header_map(h: &aws_lambda_events::http::HeaderMap) -> BTreeMap<String, String> {
    h.iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect()
}

//! What a handler answers.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body as EventBody;
use serde::Serialize;

/// A handler's answer: on `$connect` a non-2xx status refuses the connection; on a
/// two-way route the body is sent back to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsResponse {
    pub status: u16,
    pub body: Option<String>,
}

impl WsResponse {
    /// 200 without a body.
    pub fn ok() -> WsResponse {
        WsResponse {
            status: 200,
            body: None,
        }
    }

    /// 200 with a text body.
    pub fn text(body: impl Into<String>) -> WsResponse {
        WsResponse {
            status: 200,
            body: Some(body.into()),
        }
    }

    /// 200 with a JSON body.
    pub fn json<T: Serialize>(value: &T) -> WsResponse {
        WsResponse {
            status: 200,
            body: Some(serde_json::to_string(value).expect("serializable")),
        }
    }

    /// Another status, e.g. 401 to refuse a connection.
    pub fn status(status: u16) -> WsResponse {
        WsResponse { status, body: None }
    }

    /// A status with a JSON `{"error": message}` body.
    pub fn error(status: u16, message: impl Into<String>) -> WsResponse {
        WsResponse {
            status,
            body: Some(serde_json::json!({ "error": message.into() }).to_string()),
        }
    }

    /// With this body.
    pub fn with_body(mut self, body: impl Into<String>) -> WsResponse {
        self.body = Some(body.into());
        self
    }
}

impl From<WsResponse> for ApiGatewayProxyResponse {
    fn from(r: WsResponse) -> Self {
        let mut out = ApiGatewayProxyResponse::default();
        out.status_code = i64::from(r.status);
        out.body = r.body.map(EventBody::Text);
        out
    }
}

//! Lambda REQUEST authorizers for `$connect`: the request API Gateway sends (headers
//! and query string of the handshake, `methodArn`) and the policy answer, with a
//! `context` that later events of the connection carry in
//! `requestContext.authorizer`.
//!
//! ```no_run
//! use wsgen_handler::authorizer::{run, Decision};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), wsgen_handler::Error> {
//!     run(|req| async move {
//!         Ok(match req.query.get("token").map(String::as_str) {
//!             Some("let-me-in") => Decision::allow("guest").context("plan", "free"),
//!             _ => Decision::deny("anonymous"),
//!         })
//!     })
//!     .await
//! }
//! ```

use crate::Error;
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use std::collections::BTreeMap;
use std::future::Future;

/// What an authorizer gets: the handshake's headers (lower-case names) and query
/// string, and the ARN of the `$connect` route it guards.
#[derive(Debug, Clone)]
pub struct AuthorizerRequest {
    pub method_arn: String,
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
}

impl AuthorizerRequest {
    pub fn from_event(event: serde_json::Value) -> Result<AuthorizerRequest, Error> {
        let e: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_value(event)?;
        Ok(AuthorizerRequest {
            method_arn: e.method_arn.unwrap_or_default(),
            headers: crate::request::header_map(&e.headers),
            query: crate::request::query_map(&e.query_string_parameters),
        })
    }
}

/// Allow or deny, for a principal, with context for the connection's later events.
#[derive(Debug, Clone)]
pub struct Decision {
    pub principal_id: String,
    pub allow: bool,
    /// Strings, numbers and booleans only (API Gateway refuses anything else).
    pub context: serde_json::Map<String, serde_json::Value>,
}

impl Decision {
    pub fn allow(principal_id: &str) -> Decision {
        Decision {
            principal_id: principal_id.to_string(),
            allow: true,
            context: serde_json::Map::new(),
        }
    }

    pub fn deny(principal_id: &str) -> Decision {
        Decision {
            allow: false,
            ..Decision::allow(principal_id)
        }
    }

    /// Adds a context value (a string, number or boolean).
    pub fn context(mut self, key: &str, value: impl Into<serde_json::Value>) -> Decision {
        self.context.insert(key.to_string(), value.into());
        self
    }

    /// The authorizer's answer: a policy on `execute-api:Invoke` for `method_arn`.
    pub fn into_response(self, method_arn: &str) -> serde_json::Value {
        let mut statement = IamPolicyStatement::default();
        statement.action = vec!["execute-api:Invoke".to_string()];
        statement.effect = if self.allow {
            IamPolicyEffect::Allow
        } else {
            IamPolicyEffect::Deny
        };
        statement.resource = vec![method_arn.to_string()];
        let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
        policy.version = Some("2012-10-17".to_string());
        policy.statement = vec![statement];
        let mut response: ApiGatewayCustomAuthorizerResponse = Default::default();
        response.principal_id = Some(self.principal_id);
        response.policy_document = policy;
        response.context = serde_json::Value::Object(self.context);
        serde_json::to_value(response).unwrap_or_default()
    }
}

/// Runs an authorizer function as the Lambda handler.
pub async fn run<F, Fut>(f: F) -> Result<(), Error>
where
    F: Fn(AuthorizerRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Decision, Error>> + Send,
{
    let f = &f;
    crate::router::serve(Box::new(move |event| {
        Box::pin(async move {
            let req = AuthorizerRequest::from_event(event)?;
            let arn = req.method_arn.clone();
            Ok(f(req).await?.into_response(&arn))
        })
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_decisions_become_policies() {
        let req = AuthorizerRequest::from_event(serde_json::json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/live/$connect",
            "headers": {"Host": "example.com", "X-Token": "t"},
            "queryStringParameters": {"token": "secret"},
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "id="}
        }))
        .unwrap();
        assert_eq!(req.query["token"], "secret");
        assert_eq!(req.headers["x-token"], "t");
        let out = Decision::allow("alice")
            .context("user", "alice")
            .into_response(&req.method_arn);
        assert_eq!(out["principalId"], "alice");
        assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            out["policyDocument"]["Statement"][0]["Resource"][0],
            req.method_arn
        );
        assert_eq!(out["context"]["user"], "alice");
        let out = Decision::deny("x").into_response("arn");
        assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Deny");
    }
}

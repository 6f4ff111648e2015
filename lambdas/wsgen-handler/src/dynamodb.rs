//! DynamoDB's JSON protocol (`x-amz-json-1.0`), for the connections table.
//!
//! The store needs four operations (PutItem, DeleteItem, UpdateItem, Scan). The SDK's
//! DynamoDB crate is the largest of a handler's build: a cold bundle waited half a
//! minute for it alone on one core, and without it the chat blueprint's zip went from
//! 2,346 to 1,732 KiB (BENCHMARKS.md). Handlers with tables of their own can still use
//! it: feature `sdk` re-exports it as `wsgen_handler::aws_sdk_dynamodb`.

use crate::aws::{Api, CredentialsCache, Failure};
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;

/// The SigV4 service name.
const SERVICE: &str = "dynamodb";

/// A DynamoDB client on the configuration's endpoint settings, region, credentials and
/// retries.
#[derive(Clone, Debug)]
pub(crate) struct DynamoDb {
    api: Arc<Api>,
}

impl DynamoDb {
    pub fn new(config: &crate::SdkConfig) -> DynamoDb {
        DynamoDb {
            api: Arc::new(Api::new(
                config,
                SERVICE,
                &endpoint(config),
                None,
                CredentialsCache::new(config),
            )),
        }
    }

    /// Runs `operation` (`PutItem`, ...) with `input`, the request's JSON: the answer's
    /// JSON, or the error with DynamoDB's error type (`ConditionalCheckFailedException
    /// (400): ...`).
    pub fn call<'a>(&'a self, operation: &'a str, input: &Value) -> crate::Boxed<'a, Value> {
        let body = serde_json::to_vec(input).map(Bytes::from);
        Box::pin(async move {
            let target = format!("DynamoDB_20120810.{operation}");
            let headers = [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", target.as_str()),
            ];
            let url = format!("{}/", self.api.base);
            self.api
                .call("POST", &url, &headers, body?, |answer| {
                    if !answer.status.is_success() {
                        return Err(answer.failure());
                    }
                    if answer.body.is_empty() {
                        return Ok(Value::Object(Default::default()));
                    }
                    serde_json::from_slice(&answer.body)
                        .map_err(|e| Failure::fatal(format!("the answer is not JSON: {e}")))
                })
                .await
                .map_err(|e| format!("DynamoDB {operation}: {e}").into())
        })
    }
}

/// Where requests go, as the SDK's DynamoDB client decides: an endpoint set in code;
/// else the service's setting (`AWS_ENDPOINT_URL_DYNAMODB`), then the general one
/// (`AWS_ENDPOINT_URL`); else the region's AWS endpoint.
fn endpoint(config: &crate::SdkConfig) -> String {
    let configured = crate::aws::service_endpoint(config, "DynamoDB")
        .or_else(|| config.endpoint_url().map(str::to_string));
    configured.unwrap_or_else(|| {
        aws_endpoint(
            config.region().map(|r| r.as_ref()),
            config.use_fips().unwrap_or(false),
            config.use_dual_stack().unwrap_or(false),
        )
    })
}

/// DynamoDB's endpoint in `region` (AWS's endpoint rules for the partitions:
/// `https://dynamodb.eu-west-1.amazonaws.com`, China's `amazonaws.com.cn`, FIPS'
/// `dynamodb-fips`, dual-stack's `api.aws`).
fn aws_endpoint(region: Option<&str>, fips: bool, dual_stack: bool) -> String {
    let region = region.unwrap_or("us-east-1");
    let suffix = if region.starts_with("cn-") {
        if dual_stack {
            "api.amazonwebservices.com.cn"
        } else {
            "amazonaws.com.cn"
        }
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if dual_stack {
        "api.aws"
    } else {
        "amazonaws.com"
    };
    let host = if fips { "dynamodb-fips" } else { "dynamodb" };
    format!("https://{host}.{region}.{suffix}")
}

#[cfg(test)]
mod tests {
    use super::aws_endpoint;

    #[test]
    fn aws_endpoints_follow_the_partition() {
        assert_eq!(
            aws_endpoint(Some("eu-west-1"), false, false),
            "https://dynamodb.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            aws_endpoint(Some("cn-north-1"), false, false),
            "https://dynamodb.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            aws_endpoint(Some("us-gov-west-1"), true, false),
            "https://dynamodb-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            aws_endpoint(Some("us-east-2"), false, true),
            "https://dynamodb.us-east-2.api.aws"
        );
    }
}

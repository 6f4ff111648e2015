//! The account's API Gateway settings in a region: the CloudWatch role API Gateway
//! writes stage logs with (access logs, execution logs). It is one setting for the whole
//! account in a region, shared by every REST and WebSocket API there:
//! `wsgen bootstrap --api-gateway-logging` sets it (in the toolkit stack, after asking),
//! and `wsgen deploy` checks it before a stack whose stages log, since without it
//! CloudFormation fails those stages and rolls the stack back.

use super::aws::{sign_request, Aws};
use super::{CloudError, Console};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use wsgen::cfn::types;

/// The toolkit stack's output naming the role it set (present only when
/// `--api-gateway-logging` added that part).
pub const ROLE_OUTPUT: &str = "ApiGatewayCloudWatchRoleArn";
/// How long the account check waits for API Gateway.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The stages (logical IDs) of `template` that write to CloudWatch Logs: access logs,
/// or execution logging (`ERROR`, `INFO`, data trace) by default or on a route. A level
/// given by an intrinsic counts as logging. Sorted.
pub fn logging_stages(template: &Value) -> Vec<String> {
    template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(types::STAGE))
        .filter(|(_, r)| {
            let p = r.get("Properties").unwrap_or(&Value::Null);
            p.get("AccessLogSettings").is_some() || execution_logging(p)
        })
        .map(|(id, _)| id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Whether a stage (its `Properties`) has execution logging on, by default or on a
/// route: a level other than `OFF` (an intrinsic counts), or data trace.
pub fn execution_logging(stage: &Value) -> bool {
    let executes = |s: &Value| {
        let level = match s.get("LoggingLevel") {
            Some(Value::String(l)) => l != "OFF",
            Some(_) => true,
            None => false,
        };
        level || s.get("DataTraceEnabled") == Some(&Value::Bool(true))
    };
    stage.get("DefaultRouteSettings").is_some_and(executes)
        || stage
            .get("RouteSettings")
            .and_then(Value::as_object)
            .is_some_and(|m| m.values().any(executes))
}

/// The role API Gateway writes logs with in `aws`'s region, `None` when none is set:
/// `GET /account` of API Gateway's REST API. The one request of that API wsgen makes,
/// so it is signed here rather than through aws-sdk-apigateway, one of the SDK's
/// largest crates to compile.
pub async fn cloudwatch_role(aws: &Aws) -> Result<Option<String>, String> {
    use aws_credential_types::provider::ProvideCredentials;
    let url = match aws.config.endpoint_url() {
        Some(e) => format!("{}/account", e.trim_end_matches('/')),
        None => {
            let suffix = if aws.region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://apigateway.{}.{suffix}/account", aws.region)
        }
    };
    let credentials = aws
        .config
        .credentials_provider()
        .ok_or("no credential provider")?
        .provide_credentials()
        .await
        .map_err(|e| e.to_string())?;
    let mut request = hyper::Request::get(&url)
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    sign_request(
        credentials,
        &aws.region,
        "apigateway",
        &url,
        SystemTime::now(),
        &mut request,
    )?;
    let late = || format!("no answer from {url} within {}s", TIMEOUT.as_secs());
    let response = tokio::time::timeout(TIMEOUT, crate::https::client()?.request(request))
        .await
        .map_err(|_| late())?
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = tokio::time::timeout(TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| late())?
        .map_err(|e| format!("GET {url}: {e}"))?
        .to_bytes();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = json
            .get("message")
            .or_else(|| json.get("Message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        return Err(format!("GET {url}: HTTP {status}: {message}"));
    }
    if !json.is_object() {
        return Err(format!("GET {url}: the answer is not a JSON object"));
    }
    Ok(json
        .get("cloudwatchRoleArn")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string))
}

/// Before a deploy of `stacks` (name and template): an error naming the stages that
/// log and the fix when the account has no API Gateway CloudWatch role in the region;
/// a warning when the setting cannot be read, or reads as unset although the toolkit
/// stack sets it (an engine that does not model `AWS::ApiGateway::Account`): the deploy
/// goes on.
pub async fn check_logging(
    aws: &Aws,
    ui: &dyn Console,
    stacks: &[(&str, &Value)],
) -> Result<(), CloudError> {
    let stages: Vec<String> = stacks
        .iter()
        .flat_map(|(name, t)| {
            logging_stages(t)
                .into_iter()
                .map(move |s| format!("{name}/{s}"))
        })
        .collect();
    if stages.is_empty() {
        return Ok(());
    }
    let stages_log = format!(
        "{} to CloudWatch Logs, which needs the account's API Gateway CloudWatch role",
        super::error::stages_log(&stages)
    );
    match cloudwatch_role(aws).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            let toolkit = super::stacks::describe(aws, super::toolkit::TOOLKIT_STACK).await?;
            match toolkit.and_then(|s| s.outputs.get(ROLE_OUTPUT).cloned()) {
                Some(role) => {
                    ui.warn(&format!(
                        "{} reports no API Gateway CloudWatch role, though the toolkit stack sets {role}; {stages_log}: if CloudFormation fails them, run `wsgen bootstrap --api-gateway-logging` again",
                        aws.target
                    ));
                    Ok(())
                }
                None => Err(CloudError::NoLoggingRole {
                    account: aws.account.clone(),
                    region: aws.region.clone(),
                    stages,
                }),
            }
        }
        Err(e) => {
            ui.warn(&format!(
                "could not read the API Gateway settings of {} ({e}); {stages_log}: if CloudFormation fails them with \"CloudWatch Logs role ARN must be set in account settings\", run `wsgen bootstrap --api-gateway-logging`",
                aws.place(),
            ));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stages_that_log_are_those_with_access_logs_or_execution_logging() {
        let template = json!({"Resources": {
            "Quiet": {"Type": types::STAGE, "Properties": {"StageName": "a"}},
            "Off": {"Type": types::STAGE, "Properties": {"DefaultRouteSettings": {"LoggingLevel": "OFF", "DetailedMetricsEnabled": true}}},
            "Access": {"Type": types::STAGE, "Properties": {"AccessLogSettings": {"Format": "x"}}},
            "Errors": {"Type": types::STAGE, "Properties": {"DefaultRouteSettings": {"LoggingLevel": "ERROR"}}},
            "Route": {"Type": types::STAGE, "Properties": {"RouteSettings": {"$connect": {"DataTraceEnabled": true}}}},
            "Param": {"Type": types::STAGE, "Properties": {"DefaultRouteSettings": {"LoggingLevel": {"Ref": "Level"}}}},
            "Group": {"Type": types::LOG_GROUP, "Properties": {"AccessLogSettings": {}}}
        }});
        assert_eq!(
            logging_stages(&template),
            ["Access", "Errors", "Param", "Route"]
        );
        assert!(logging_stages(&json!({})).is_empty());
    }
}

//! `wsgen bootstrap`: the toolkit stack of an account and region, holding the asset
//! bucket that deploy uploads handler zips (and large templates) to, and on request
//! (`--api-gateway-logging`) the account's API Gateway CloudWatch role that stage logs
//! need. Like `cdk bootstrap`: run once per account and region; running it again
//! updates the stack, keeping the logging role once it is there.

use crate::cloud::account::{self, ROLE_OUTPUT};
use crate::cloud::aws::{block_on, Aws, AwsOptions};
use crate::cloud::stacks::{self, Approval, Outcome, StackDeploy, TemplateSource};
use crate::cloud::toolkit::{toolkit_template, TOOLKIT_STACK};
use crate::{CliError, Ui};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct BootstrapOptions {
    pub aws: AwsOptions,
    /// Add the account's API Gateway CloudWatch role (kept once there). Default: off.
    pub api_gateway_logging: bool,
    /// Default: ask about broadening changes (the logging role is one).
    pub approval: Approval,
}

#[derive(Debug, serde::Serialize)]
pub struct BootstrapResult {
    pub stack: String,
    pub bucket: String,
    pub account: String,
    pub region: String,
    pub outcome: Outcome,
    /// The role API Gateway logs with, when the toolkit stack sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_gateway_logging_role: Option<String>,
}

pub fn bootstrap(opts: &BootstrapOptions, ui: &Ui) -> Result<BootstrapResult, CliError> {
    block_on(async {
        let aws = Aws::connect(&opts.aws).await?;
        run(&aws, ui, opts.api_gateway_logging, opts.approval).await
    })
}

/// Creates or updates the toolkit stack, with the logging role if it has it already
/// or `api_gateway_logging` asks for it.
pub async fn run(
    aws: &Aws,
    ui: &Ui,
    api_gateway_logging: bool,
    approval: Approval,
) -> Result<BootstrapResult, CliError> {
    let existing = stacks::describe(aws, TOOLKIT_STACK).await?;
    let has_logging = existing
        .as_ref()
        .is_some_and(|s| s.outputs.contains_key(ROLE_OUTPUT));
    if api_gateway_logging && !has_logging {
        let now = match account::cloudwatch_role(aws).await {
            Ok(Some(role)) => format!(": it replaces the role set now, {role}"),
            Ok(None) => ": none is set now".into(),
            Err(e) => format!(" (the current setting could not be read: {e})"),
        };
        ui.warn(&format!(
            "--api-gateway-logging sets the API Gateway CloudWatch role of {}, one setting for the whole account in this region that every REST and WebSocket API there logs through{now}",
            aws.place()
        ));
    }
    let template = toolkit_template(api_gateway_logging || has_logging);
    let body = serde_json::to_string_pretty(&template).expect("json");
    ui.info(&format!(
        "bootstrapping {} (stack {TOOLKIT_STACK})",
        aws.place()
    ));
    let (outcome, stack) = stacks::deploy_stack(
        aws,
        ui,
        &StackDeploy {
            name: TOOLKIT_STACK,
            template: &template,
            source: TemplateSource::Body(body),
            tags: BTreeMap::new(),
            approval,
        },
    )
    .await?;
    let bucket = aws.asset_bucket();
    let role = stack.outputs.get(ROLE_OUTPUT).cloned();
    let logging = match &role {
        Some(role) => format!("; API Gateway logs with {role}"),
        None => String::new(),
    };
    match outcome {
        Outcome::Unchanged => ui.done(&format!(
            "{} is already bootstrapped: asset bucket {bucket}{logging}",
            aws.place()
        )),
        _ => ui.done(&format!(
            "bootstrapped {}: asset bucket {bucket}{logging}",
            aws.place()
        )),
    }
    Ok(BootstrapResult {
        stack: TOOLKIT_STACK.into(),
        bucket,
        account: aws.account.clone(),
        region: aws.region.clone(),
        outcome,
        api_gateway_logging_role: role,
    })
}

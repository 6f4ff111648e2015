//! `wsgen bootstrap`: the toolkit stack of an account and region, holding the asset
//! bucket that deploy uploads handler zips (and large templates) to. Like `cdk
//! bootstrap`: run once per account and region; running it again updates the stack.

use crate::cloud::aws::{block_on, Aws, AwsOptions};
use crate::cloud::stacks::{self, Approval, Outcome, StackDeploy, TemplateSource};
use crate::cloud::toolkit::{toolkit_template, TOOLKIT_STACK};
use crate::{CliError, Ui};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct BootstrapOptions {
    pub aws: AwsOptions,
}

#[derive(Debug, serde::Serialize)]
pub struct BootstrapResult {
    pub stack: String,
    pub bucket: String,
    pub account: String,
    pub region: String,
    pub outcome: Outcome,
}

pub fn bootstrap(opts: &BootstrapOptions, ui: &Ui) -> Result<BootstrapResult, CliError> {
    block_on(async {
        let aws = Aws::connect(&opts.aws).await?;
        run(&aws, ui).await
    })
}

/// Creates or updates the toolkit stack.
pub async fn run(aws: &Aws, ui: &Ui) -> Result<BootstrapResult, CliError> {
    let template = toolkit_template();
    let body = serde_json::to_string_pretty(&template).expect("json");
    ui.info(&format!(
        "bootstrapping {} (stack {TOOLKIT_STACK})",
        aws.place()
    ));
    let (outcome, _) = stacks::deploy_stack(
        aws,
        ui,
        &StackDeploy {
            name: TOOLKIT_STACK,
            template: &template,
            source: TemplateSource::Body(body),
            tags: BTreeMap::new(),
            approval: Approval::Never,
        },
    )
    .await?;
    let bucket = aws.asset_bucket();
    match outcome {
        Outcome::Unchanged => ui.done(&format!(
            "{} is already bootstrapped: asset bucket {bucket}",
            aws.place()
        )),
        _ => ui.done(&format!(
            "bootstrapped {}: asset bucket {bucket}",
            aws.place()
        )),
    }
    Ok(BootstrapResult {
        stack: TOOLKIT_STACK.into(),
        bucket,
        account: aws.account.clone(),
        region: aws.region.clone(),
        outcome,
    })
}

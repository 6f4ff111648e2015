//! `wsgen bootstrap`: the toolkit stack of an account and region, holding the asset
//! bucket that deploy uploads handler zips (and large templates) to. Like `cdk
//! bootstrap`: run once per account and region; running it again updates the stack.

use super::aws::{block_on, error_code, Aws, AwsOptions};
use super::stacks::{self, Approval, Outcome, StackDeploy, TemplateSource};
use super::{CliError, Ui};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The toolkit stack's name.
pub const TOOLKIT_STACK: &str = "WsgenToolkit";
/// Bumped when the toolkit template changes.
pub const TOOLKIT_VERSION: &str = "1";
/// Days a replaced or deleted asset version is kept (for rollbacks) before S3 expires
/// it.
pub const NONCURRENT_ASSET_DAYS: u32 = 30;

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

/// Whether the asset bucket exists (deploy checks this before uploading).
pub async fn bucket_exists(aws: &Aws) -> Result<bool, CliError> {
    let bucket = aws.asset_bucket();
    match aws.s3.head_bucket().bucket(&bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) if error_code(&e) == Some("NotFound") || error_code(&e) == Some("NoSuchBucket") => {
            Ok(false)
        }
        Err(e) => Err(aws.error(&format!("check the asset bucket {bucket}"), e)),
    }
}

/// The toolkit template: a versioned, encrypted, private bucket that only accepts TLS,
/// and expires superseded asset versions.
pub fn toolkit_template() -> Value {
    let bucket_arn = json!({"Fn::GetAtt": ["AssetBucket", "Arn"]});
    let objects_arn = json!({"Fn::Join": ["", [bucket_arn, "/*"]]});
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "wsgen toolkit: the asset bucket wsgen deploy uploads Lambda zips and large templates to",
        "Resources": {
            "AssetBucket": {
                "Type": "AWS::S3::Bucket",
                // Deployed stacks point at their zips: keep the bucket if this stack goes.
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": {"Fn::Sub": "wsgen-assets-${AWS::AccountId}-${AWS::Region}"},
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "LifecycleConfiguration": {"Rules": [
                        {
                            "Id": "ExpireSupersededAssets",
                            "Status": "Enabled",
                            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_ASSET_DAYS}
                        },
                        {
                            "Id": "AbortIncompleteUploads",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}
                        }
                    ]}
                }
            },
            "AssetBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "AssetBucket"},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, objects_arn],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                        }]
                    }
                }
            }
        },
        "Outputs": {
            "BucketName": {"Value": {"Ref": "AssetBucket"}},
            "BootstrapVersion": {"Value": TOOLKIT_VERSION}
        }
    })
}

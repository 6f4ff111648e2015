//! The toolkit stack of an account and region (`wsgen bootstrap` makes it): its
//! versioned template, and the check deploy makes before it uploads anything.

use super::aws::Aws;
use super::stacks;
use super::CloudError;
use super::Console;
use aws_sdk_cloudformation::types::StackStatus;
use serde_json::{json, Value};
use wsgen::cfn::types;

/// The toolkit stack's name.
pub const TOOLKIT_STACK: &str = "WsgenToolkit";
/// Bumped when the toolkit template changes in a way deploy relies on; deploy refuses
/// a toolkit stack older than this.
pub const TOOLKIT_VERSION: u32 = 1;
/// Days a replaced or deleted asset version is kept (for rollbacks) before S3 expires
/// it.
pub const NONCURRENT_ASSET_DAYS: u32 = 30;

/// Why the account and region need `wsgen bootstrap` before a deploy (`None`: they do
/// not). Deploy checks the toolkit stack, not just a bucket by the expected name: that
/// name is predictable, so a bucket of that name in another account must never receive
/// the zips and templates. The stack must exist, be complete, be of version
/// [`TOOLKIT_VERSION`] or newer and name the expected bucket, and the bucket must
/// belong to this account (S3 checks `ExpectedBucketOwner`).
pub async fn needed(aws: &Aws, ui: &dyn Console) -> Result<Option<String>, CloudError> {
    let Some(stack) = stacks::wait_idle(aws, ui, TOOLKIT_STACK).await? else {
        return Ok(Some(format!(
            "the toolkit stack {TOOLKIT_STACK} does not exist"
        )));
    };
    // UPDATE_ROLLBACK_COMPLETE is usable: the bucket is as the last good update left it.
    let complete = stack.status.as_str().ends_with("_COMPLETE")
        && !matches!(
            stack.status,
            StackStatus::RollbackComplete | StackStatus::DeleteComplete
        );
    if !complete {
        return Ok(Some(format!(
            "the toolkit stack {TOOLKIT_STACK} is {}",
            stack.status
        )));
    }
    let version = stack.outputs.get("BootstrapVersion");
    match version.and_then(|v| v.parse::<u32>().ok()) {
        Some(v) if v >= TOOLKIT_VERSION => {}
        Some(v) => {
            return Ok(Some(format!(
                "the toolkit stack {TOOLKIT_STACK} is version {v}, and this wsgen needs version {TOOLKIT_VERSION}"
            )))
        }
        None => {
            return Ok(Some(format!(
                "the toolkit stack {TOOLKIT_STACK} has no readable BootstrapVersion output ({})",
                version.map_or("none", String::as_str)
            )))
        }
    }
    let bucket = aws.asset_bucket();
    let named = stack.outputs.get("BucketName").map(String::as_str);
    if named != Some(bucket.as_str()) {
        return Err(CloudError::Toolkit(format!(
            "the toolkit stack {TOOLKIT_STACK} names the asset bucket {}, not {bucket}: it was not made by `wsgen bootstrap` for {}; delete it or deploy elsewhere",
            named.unwrap_or("(none)"),
            aws.place()
        )));
    }
    match aws
        .s3
        .head_bucket()
        .bucket(&bucket)
        .expected_bucket_owner(&aws.account)
        .send()
        .await
    {
        Ok(_) => Ok(None),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(Some(format!(
            "the asset bucket {bucket} of the toolkit stack is gone"
        ))),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
            Err(CloudError::Aws {
                action: format!("check the asset bucket {bucket}"),
                code: "AccessDenied".into(),
                message: format!(
                    "S3 refused the request with ExpectedBucketOwner {}: the bucket belongs to another account, or these credentials may not read it. wsgen uploads nothing to a bucket it cannot prove is this account's",
                    aws.account
                ),
            })
        }
        Err(e) => Err(aws.error(&format!("check the asset bucket {bucket}"), e)),
    }
}

/// The toolkit template: a versioned, encrypted, private bucket that only accepts TLS,
/// and expires superseded asset versions; with `api_gateway_logging`, also the role API
/// Gateway writes stage logs with, set as the account's (see [`logging_part`]).
pub fn toolkit_template(api_gateway_logging: bool) -> Value {
    let mut template = bucket_template();
    if api_gateway_logging {
        let (resources, outputs) = logging_part();
        for (section, part) in [("Resources", resources), ("Outputs", outputs)] {
            if let (Some(to), Value::Object(part)) = (template[section].as_object_mut(), part) {
                to.extend(part);
            }
        }
    }
    template
}

/// The account's API Gateway CloudWatch role (`wsgen bootstrap --api-gateway-logging`):
/// a role API Gateway assumes to create log groups and streams and put events in this
/// account and region only (narrower than AWS's managed
/// AmazonAPIGatewayPushToCloudWatchLogs policy, which also reads logs, everywhere), and
/// the `AWS::ApiGateway::Account` setting naming it. The role is retained if the stack
/// goes: the setting outlives the stack (deleting an `AWS::ApiGateway::Account` resource
/// changes nothing), and logging must not break with it. Resources and outputs.
fn logging_part() -> (Value, Value) {
    let role_arn = json!({"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]});
    let resources = json!({
        "ApiGatewayCloudWatchRole": {
            "Type": types::ROLE,
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": "API Gateway writes stage access and execution logs with this role (wsgen bootstrap --api-gateway-logging)",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole"
                    }]
                },
                "Policies": [{
                    "PolicyName": "PushToCloudWatchLogs",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogGroup",
                                "logs:CreateLogStream",
                                "logs:DescribeLogGroups",
                                "logs:DescribeLogStreams",
                                "logs:PutLogEvents"
                            ],
                            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}
                        }]
                    }
                }]
            }
        },
        "ApiGatewayAccount": {
            "Type": types::API_GATEWAY_ACCOUNT,
            "Properties": {"CloudWatchRoleArn": role_arn}
        }
    });
    let outputs = json!({ super::account::ROLE_OUTPUT: {"Value": role_arn} });
    (resources, outputs)
}

fn bucket_template() -> Value {
    let bucket_arn = json!({"Fn::GetAtt": ["AssetBucket", "Arn"]});
    let objects_arn = json!({"Fn::Join": ["", [bucket_arn, "/*"]]});
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "wsgen toolkit: the asset bucket wsgen deploy uploads Lambda zips and large templates to",
        "Resources": {
            "AssetBucket": {
                "Type": types::BUCKET,
                // Deployed stacks point at their zips: keep the bucket if this stack goes.
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": {"Fn::Sub": wsgen::ASSET_BUCKET},
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
                "Type": types::BUCKET_POLICY,
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
            "BootstrapVersion": {"Value": TOOLKIT_VERSION.to_string()}
        }
    })
}

//! `wsgen deploy`: synth, bundle, upload the missing assets, then create or update each
//! stack through a change set, with approval of security-broadening changes, live
//! events and the stack outputs at the end.

use super::bundle::{bundle_synthesized, BuildProfile, BundleOptions};
use super::synth::synth_project;
use super::{bootstrap, CliError, Ui};
use crate::cargo::BuildError;
use crate::cloud::aws::{block_on, Aws, AwsOptions};
use crate::cloud::stacks::{self, Approval, Outcome, StackDeploy, StackInfo};
use crate::cloud::toolkit;
use crate::cloud::CloudError;
use crate::cloud::{account, changes};
use crate::select::{deploy_order, known_stacks, prerequisites, with_prerequisites};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wsgen::assembly::CloudAssembly;
use wsgen::cfn::{sub_placeholders, Template};

/// Uploads in flight at once.
const PARALLEL_UPLOADS: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    pub project: Option<PathBuf>,
    /// Stacks to deploy. Default: every stack of the app.
    pub stacks: Vec<String>,
    pub aws: AwsOptions,
    pub approval: Approval,
    /// Where to write the stacks' outputs as JSON (`{"Stack": {"Key": "value"}}`).
    pub outputs_file: Option<PathBuf>,
    /// Update only the functions' code when nothing else changed.
    pub hotswap: bool,
    /// Bootstrap the account and region first when they are not.
    pub bootstrap: bool,
    /// Deploy only the stacks named, not also the stacks they import exports from.
    pub exclusively: bool,
}

#[derive(Debug, Serialize)]
pub struct DeployResult {
    pub account: String,
    pub region: String,
    /// Asset keys uploaded (the others were in the bucket already).
    pub uploaded: Vec<String>,
    pub stacks: BTreeMap<String, DeployedStack>,
}

#[derive(Debug, Serialize)]
pub struct DeployedStack {
    pub outcome: Outcome,
    pub status: String,
    pub outputs: BTreeMap<String, String>,
    /// Outputs the template declares that the stack does not report, or reports with
    /// a reference left unresolved (`${ChatApi}`): the engine did not create what they
    /// name. Never the case on AWS.
    pub missing_outputs: Vec<String>,
    /// Functions that ran code their template does not name (deployed by `--hotswap`, or
    /// by hand) and now run the template's again.
    pub restored: Vec<String>,
}

pub fn deploy(opts: &DeployOptions, ui: &Ui) -> Result<DeployResult, CliError> {
    // Check the stack names before building anything.
    let synthesized = synth_project(opts.project.as_deref(), ui.quiet())?;
    let needs = prerequisites(&synthesized.assembly);
    let named = known_stacks(&synthesized.assembly, &opts.stacks)?;
    let all = if opts.exclusively {
        named.clone()
    } else {
        with_prerequisites(&needs, &named)
    };
    let added: Vec<&str> = all
        .iter()
        .filter(|n| !named.contains(n))
        .map(String::as_str)
        .collect();
    if !added.is_empty() {
        ui.info(&format!(
            "also deploying {} (the stacks named import their exports; --exclusively deploys only the stacks named)",
            added.join(", ")
        ));
    }
    let names = deploy_order(&needs, &all)?;
    let bundled = bundle_synthesized(
        synthesized,
        &BundleOptions {
            project: opts.project.clone(),
            profile: BuildProfile::Release,
            arch: None,
        },
        ui,
    )?;
    let (out, assembly) = (bundled.out, bundled.assembly);
    block_on(async {
        let aws = Aws::connect(&opts.aws).await?;
        run(&aws, ui, opts, &assembly, &out, &names).await
    })
}

/// Deploys `names` of an assembly (already bundled) in `out`.
pub async fn run(
    aws: &Aws,
    ui: &Ui,
    opts: &DeployOptions,
    assembly: &CloudAssembly,
    out: &Path,
    names: &[String],
) -> Result<DeployResult, CliError> {
    for name in names {
        let entry = &assembly.manifest.stacks[name];
        for (what, want, have) in [
            ("account", &entry.account, &aws.account),
            ("region", &entry.region, &aws.region),
        ] {
            if let Some(want) = want {
                if want != have {
                    return Err(CliError::Usage(format!(
                        "stack {name} is for {what} {want}, but the credentials and configuration are for {what} {have}: use the matching --profile/--region"
                    )));
                }
            }
        }
    }
    if let Some(reason) = toolkit::needed(aws, ui).await? {
        if opts.bootstrap {
            ui.info(&format!("{reason}: bootstrapping first (--bootstrap)"));
            bootstrap::run(aws, ui, false, opts.approval).await?;
        } else {
            return Err(CloudError::NotBootstrapped {
                account: aws.account.clone(),
                region: aws.region.clone(),
                reason,
            }
            .into());
        }
    }
    // Stages that log need the account's API Gateway CloudWatch role: say so now
    // rather than after CloudFormation fails them and rolls the stack back.
    // Each template as JSON, made once: the check below and each stack's deploy use it.
    let jsons: Vec<Value> = names
        .iter()
        .map(|n| serde_json::to_value(&assembly.templates[n]).expect("a template is JSON"))
        .collect();
    let templates: Vec<(&str, &Value)> = names.iter().map(String::as_str).zip(&jsons).collect();
    account::check_logging(aws, ui, &templates).await?;
    let assets = upload_assets(aws, ui, assembly, out, names).await?;

    let mut result = DeployResult {
        account: aws.account.clone(),
        region: aws.region.clone(),
        uploaded: assets.uploaded.clone(),
        stacks: BTreeMap::new(),
    };
    for (name, json) in names.iter().zip(&jsons) {
        let template = &assembly.templates[name];
        let (mut outcome, stack) = if opts.hotswap {
            match hotswap(aws, ui, name, template, json).await? {
                Some(done) => done,
                None => deploy_one(aws, ui, opts, assembly, name, json).await?,
            }
        } else {
            deploy_one(aws, ui, opts, assembly, name, json).await?
        };
        let restored = match outcome {
            Outcome::Unchanged | Outcome::Updated => {
                restore_drifted_code(aws, ui, assembly, &assets, name, template).await?
            }
            Outcome::Created | Outcome::Hotswapped => vec![],
        };
        if !restored.is_empty() {
            outcome = Outcome::Updated;
        }
        match outcome {
            Outcome::Unchanged => ui.done(&format!("{name}: no changes ({})", stack.status)),
            Outcome::Hotswapped => ui.done(&format!("{name}: functions' code updated (hotswap)")),
            _ => ui.done(&format!("{name}: {}", stack.status)),
        }
        let missing_outputs = missing_outputs(template, &stack.outputs);
        if !missing_outputs.is_empty() {
            ui.warn(&format!(
                "{name}: the deployed stack does not report output{} {} that the template declares: the engine at {} did not create or resolve what {} refer to (moto, for one, skips AWS::ApiGatewayV2 resources)",
                if missing_outputs.len() == 1 { "" } else { "s" },
                missing_outputs.join(", "),
                aws.target,
                if missing_outputs.len() == 1 { "it" } else { "they" },
            ));
        }
        result.stacks.insert(
            name.clone(),
            DeployedStack {
                outcome,
                status: stack.status.to_string(),
                outputs: stack.outputs,
                missing_outputs,
                restored,
            },
        );
    }
    if let Some(file) = &opts.outputs_file {
        let outputs: BTreeMap<&String, &BTreeMap<String, String>> =
            result.stacks.iter().map(|(k, v)| (k, &v.outputs)).collect();
        let json = format!(
            "{}\n",
            serde_json::to_string_pretty(&outputs).expect("json")
        );
        super::files::write_atomically(file, json.as_bytes(), None)?;
        ui.done(&format!("outputs written to {}", file.display()));
    }
    Ok(result)
}

async fn deploy_one(
    aws: &Aws,
    ui: &Ui,
    opts: &DeployOptions,
    assembly: &CloudAssembly,
    name: &str,
    template: &Value,
) -> Result<(Outcome, StackInfo), CliError> {
    let body = serde_json::to_string(template).expect("json");
    let source = stacks::template_source(aws, body).await?;
    stacks::deploy_stack(
        aws,
        ui,
        &StackDeploy {
            name,
            template,
            source,
            tags: assembly.manifest.stacks[name].tags.clone(),
            approval: opts.approval,
        },
    )
    .await
    .map_err(CliError::from)
}

/// The zips a deploy's functions run, as the bucket holds them.
struct Assets {
    /// The keys uploaded now (the others were in the bucket already), sorted.
    uploaded: Vec<String>,
    /// Each key's SHA-256 (hex) as recorded with the object in the bucket. An asset's
    /// key names its sources, not its bytes: the same sources built in another
    /// directory or on another machine (other paths in panic messages, another linker)
    /// make another zip under the same key, and the bucket keeps the first. Lambda
    /// reports the hash of what it runs, which is the bucket's.
    sha256: BTreeMap<String, String>,
}

/// The object metadata key (`x-amz-meta-sha256`) recording an uploaded zip's SHA-256.
const SHA256_METADATA: &str = "sha256";

/// Uploads the zips of `names`' functions that the bucket lacks, in parallel.
async fn upload_assets(
    aws: &Aws,
    ui: &Ui,
    assembly: &CloudAssembly,
    out: &Path,
    names: &[String],
) -> Result<Assets, CliError> {
    let mut wanted: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for name in names {
        for fp in &assembly.manifest.stacks[name].assets {
            let asset = &assembly.manifest.assets[fp];
            let bundle = asset.bundle.as_ref().ok_or_else(|| {
                BuildError::Bundle(format!(
                    "{} has no deployable zip in the manifest: run `wsgen bundle`",
                    asset.crate_path
                ))
            })?;
            wanted.insert(
                asset.key.clone(),
                (out.join(&bundle.file), bundle.sha256.clone()),
            );
        }
    }
    let mut assets = Assets {
        uploaded: Vec::new(),
        sha256: BTreeMap::new(),
    };
    if wanted.is_empty() {
        return Ok(assets);
    }
    let bucket = Arc::new(aws.asset_bucket());
    let bar = Arc::new(ui.bar(wanted.len() as u64, "assets"));
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL_UPLOADS));
    let mut tasks = tokio::task::JoinSet::new();
    for (key, (file, sha256)) in wanted {
        let (aws, bucket, bar, limit) = (aws.clone(), bucket.clone(), bar.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore open");
            let result = upload_if_missing(&aws, &bucket, &key, &file, &sha256).await;
            bar.inc();
            result.map(|stored| (key, stored))
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("an upload task panicked") {
            Ok((key, Stored::Uploaded(sha256))) => {
                assets.uploaded.push(key.clone());
                assets.sha256.insert(key, sha256);
            }
            Ok((key, Stored::Already(Some(sha256)))) => {
                assets.sha256.insert(key, sha256);
            }
            Ok((_, Stored::Already(None))) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    bar.finish();
    if let Some(e) = first_error {
        return Err(e);
    }
    assets.uploaded.sort();
    if assets.uploaded.is_empty() {
        ui.done("assets: all in the bucket already");
    } else {
        ui.done(&format!(
            "assets: uploaded {} to s3://{bucket}",
            assets.uploaded.len()
        ));
    }
    Ok(assets)
}

/// What the bucket holds under an asset's key after [`upload_if_missing`].
enum Stored {
    /// Uploaded now, with this SHA-256 (hex).
    Uploaded(String),
    /// There already, with the SHA-256 recorded at its upload (none when an earlier
    /// version of wsgen uploaded it).
    Already(Option<String>),
}

async fn upload_if_missing(
    aws: &Aws,
    bucket: &str,
    key: &str,
    file: &Path,
    sha256: &str,
) -> Result<Stored, CliError> {
    match aws
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .expected_bucket_owner(&aws.account)
        .send()
        .await
    {
        Ok(head) => {
            tracing::debug!(bucket, key, "asset in the bucket already");
            let recorded = head
                .metadata()
                .and_then(|m| m.get(SHA256_METADATA))
                .filter(|hex| hex_to_base64(hex).is_some())
                .cloned();
            return Ok(Stored::Already(recorded));
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            tracing::debug!(bucket, key, file = %file.display(), "uploading asset");
        }
        Err(e) => return Err(aws.error(&format!("check s3://{bucket}/{key}"), e).into()),
    }
    let body = aws_sdk_s3::primitives::ByteStream::from_path(file)
        .await
        .map_err(|e| crate::files::io("cannot read", file)(std::io::Error::other(e)))?;
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .content_type("application/zip")
        .metadata(SHA256_METADATA, sha256)
        .expected_bucket_owner(&aws.account)
        .send()
        .await
        .map_err(|e| {
            aws.error(
                &format!("upload {} to s3://{bucket}/{key}", file.display()),
                e,
            )
        })?;
    Ok(Stored::Uploaded(sha256.to_string()))
}

/// The outputs `template` declares (without a condition) that `reported` lacks, or
/// holds with a `${Resource}` reference left unresolved, by name.
fn missing_outputs(template: &Template, reported: &BTreeMap<String, String>) -> Vec<String> {
    // A `${Logical}` or `${Logical.Attr}` placeholder CloudFormation left in the value.
    let unresolved = |value: &str| {
        sub_placeholders(value).into_iter().any(|p| {
            template
                .resources
                .contains_key(p.split('.').next().unwrap_or(p))
        })
    };
    template
        .outputs
        .iter()
        .filter(|(_, o)| o.condition.is_none())
        .filter(|(key, _)| reported.get(*key).is_none_or(|v| unresolved(v)))
        .map(|(key, _)| key.clone())
        .collect()
}

/// After a deploy, the functions whose code is not the zip the template names (code
/// deployed earlier by `--hotswap`, which CloudFormation does not know of) get the
/// template's code again; their logical ids. Without this, reverting the source after
/// a hotswap would deploy "no changes" while the hotswapped code kept running.
async fn restore_drifted_code(
    aws: &Aws,
    ui: &Ui,
    assembly: &CloudAssembly,
    assets: &Assets,
    name: &str,
    template: &Template,
) -> Result<Vec<String>, CliError> {
    let expected: BTreeMap<&str, (&str, String)> = template
        .resources
        .keys()
        .filter_map(|id| {
            let key = template.code_key(id)?;
            let asset = assembly.manifest.assets.values().find(|a| a.key == key)?;
            // What the bucket holds under the key, else (uploaded by an earlier wsgen)
            // the local zip.
            let hex = match assets.sha256.get(key) {
                Some(hex) => hex,
                None => &asset.bundle.as_ref()?.sha256,
            };
            let sha256 = hex_to_base64(hex)?;
            Some((id.as_str(), (key, sha256)))
        })
        .collect();
    if expected.is_empty() {
        return Ok(vec![]);
    }
    let physical = stacks::physical_ids(aws, name).await?;
    let mut checks = tokio::task::JoinSet::new();
    for (logical, (key, sha256)) in &expected {
        let Some(function) = physical.get(*logical).filter(|id| !id.is_empty()) else {
            continue;
        };
        let (aws, function, logical) = (aws.clone(), function.clone(), logical.to_string());
        let (key, sha256) = (key.to_string(), sha256.clone());
        checks.spawn(async move {
            let c = aws
                .lambda
                .get_function_configuration()
                .function_name(&function)
                .send()
                .await
                .map_err(|e| aws.error(&format!("read function {function}"), e))?;
            let drifted = c.code_sha256().is_some_and(|live| live != sha256);
            Ok::<_, CliError>(drifted.then_some((logical, function, key)))
        });
    }
    let mut drifted = Vec::new();
    while let Some(joined) = checks.join_next().await {
        if let Some(d) = joined.expect("a function check panicked")? {
            drifted.push(d);
        }
    }
    drifted.sort();
    let bucket = aws.asset_bucket();
    let mut restored = Vec::new();
    for (logical, function, key) in drifted {
        aws.lambda
            .update_function_code()
            .function_name(&function)
            .s3_bucket(&bucket)
            .s3_key(&key)
            .send()
            .await
            .map_err(|e| aws.error(&format!("update the code of function {function}"), e))?;
        wait_function_updated(aws, &function).await?;
        ui.done(&format!(
            "{name}: {logical} ({function}) ran code its template does not name (deployed by --hotswap, or by hand): it runs the template's {key} again"
        ));
        restored.push(logical);
    }
    Ok(restored)
}

/// A SHA-256 in hex as Lambda's `CodeSha256` writes it (base64 of the digest).
fn hex_to_base64(hex: &str) -> Option<String> {
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(aws_smithy_types::base64::encode(bytes))
}

/// When only functions' code changed, updates it directly; `None` when a full deploy
/// is needed (said why).
async fn hotswap(
    aws: &Aws,
    ui: &Ui,
    name: &str,
    template: &Template,
    json: &Value,
) -> Result<Option<(Outcome, StackInfo)>, CliError> {
    let Some(stack) = stacks::wait_idle(aws, ui, name).await? else {
        ui.note(&format!(
            "hotswap: {name} does not exist yet, deploying it through CloudFormation"
        ));
        return Ok(None);
    };
    if !stacks::succeeded(&stack.status) {
        ui.note(&format!(
            "hotswap: {name} is {}, deploying through CloudFormation",
            stack.status
        ));
        return Ok(None);
    }
    let old = stacks::deployed_template(aws, name).await?;
    let diff = changes::diff(&old, json);
    if diff.is_empty() {
        return Ok(Some((Outcome::Unchanged, stack)));
    }
    let Some(functions) = diff.code_only_functions() else {
        ui.note("hotswap: more than functions' code changed, deploying through CloudFormation");
        return Ok(None);
    };
    ui.warn(&format!(
        "hotswap updates {name}'s functions directly, bypassing CloudFormation: for development stacks only (the stack's template now lags behind its code until the next full deploy)"
    ));
    let bucket = aws.asset_bucket();
    let physical = stacks::physical_ids(aws, name).await?;
    for logical in functions {
        let key = template
            .code_key(logical)
            .ok_or_else(|| BuildError::Bundle(format!("function {logical} has no S3Key")))?;
        let function = physical
            .get(logical)
            .filter(|id| !id.is_empty())
            .cloned()
            .ok_or_else(|| CloudError::Aws {
                action: format!("find function {logical} of stack {name}"),
                code: "NotFound".into(),
                message: "the stack has no such resource".into(),
            })?;
        aws.lambda
            .update_function_code()
            .function_name(&function)
            .s3_bucket(&bucket)
            .s3_key(key)
            .send()
            .await
            .map_err(|e| aws.error(&format!("update the code of function {function}"), e))?;
        wait_function_updated(aws, &function).await?;
        ui.done(&format!("{name}: {logical} ({function}) now runs {key}"));
    }
    Ok(Some((Outcome::Hotswapped, stack)))
}

/// Lambda applies code updates asynchronously: waits until it has.
async fn wait_function_updated(aws: &Aws, function: &str) -> Result<(), CliError> {
    loop {
        let c = aws
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| aws.error(&format!("read function {function}"), e))?;
        match c.last_update_status().map(|s| s.as_str()) {
            Some("InProgress") => tokio::time::sleep(aws.poll).await,
            Some("Failed") => {
                return Err(CloudError::Aws {
                    action: format!("update the code of function {function}"),
                    code: c
                        .last_update_status_reason_code()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_else(|| "Failed".into()),
                    message: c
                        .last_update_status_reason()
                        .unwrap_or_default()
                        .to_string(),
                }
                .into())
            }
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_missing_or_unresolved_are_named() {
        let template: Template = serde_json::from_value(serde_json::json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "ChatApi": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {}},
                "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}}
            },
            "Outputs": {
                "WebSocketUrl": {"Value": "x"},
                "CallbackUrl": {"Value": "x"},
                "TableName": {"Value": "x"},
                "Optional": {"Value": "x", "Condition": "HasDomain"},
                "Static": {"Value": "x"}
            }
        }))
        .unwrap();
        let reported: BTreeMap<String, String> = [
            (
                "CallbackUrl",
                "https://${ChatApi}.execute-api.eu-west-1.amazonaws.com/prod",
            ),
            ("TableName", "Chat-Table-1ABC"),
            ("Static", "costs ${5}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            missing_outputs(&template, &reported),
            ["CallbackUrl", "WebSocketUrl"]
        );
    }

    #[test]
    fn lambda_writes_code_hashes_in_base64() {
        // sha256("") in hex, and as Lambda reports it.
        assert_eq!(
            hex_to_base64("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .as_deref(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(hex_to_base64("zz"), None);
        assert_eq!(hex_to_base64("abc"), None);
    }
}

//! CloudFormation stack operations shared by bootstrap, deploy, destroy and diff:
//! describing a stack, reading its template, change sets, and watching an operation's
//! events to its end.

use super::aws::{error_code, Aws};
use super::changes;
use super::CloudError;
use super::{Console, Steps};
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, StackStatus, Tag};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use wsgen::cfn::types;

/// The stack tag deploy writes and destroy looks for: wsgen destroys only its own.
pub const MANAGED_TAG: &str = "wsgen:managed-by";
pub const MANAGED_VALUE: &str = "wsgen";
/// The most CloudFormation takes inline; larger templates go through the asset bucket.
pub const MAX_TEMPLATE_BODY: usize = 51_200;

/// A stack as DescribeStacks reports it.
#[derive(Debug, Clone)]
pub struct StackInfo {
    pub id: String,
    pub name: String,
    pub status: StackStatus,
    pub reason: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
}

impl StackInfo {
    pub fn managed_by_wsgen(&self) -> bool {
        self.tags.get(MANAGED_TAG).map(String::as_str) == Some(MANAGED_VALUE)
    }
}

/// An operation is running on the stack (and must be waited for, not raced).
pub fn in_progress(status: &StackStatus) -> bool {
    status.as_str().ends_with("_IN_PROGRESS") && *status != StackStatus::ReviewInProgress
}

/// The last operation on the stack succeeded (it was not rolled back).
pub fn succeeded(status: &StackStatus) -> bool {
    status.as_str().ends_with("_COMPLETE") && !status.as_str().contains("ROLLBACK")
}

/// The stack named (or with the id) `name`, or `None` when there is none.
pub async fn describe(aws: &Aws, name: &str) -> Result<Option<StackInfo>, CloudError> {
    let out = match aws.cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => out,
        Err(e)
            if error_code(&e) == Some("ValidationError")
                && e.as_service_error()
                    .and_then(|s| aws_sdk_cloudformation::error::ProvideErrorMetadata::message(s))
                    .is_some_and(|m| m.contains("does not exist")) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws.error(&format!("describe stack {name}"), e)),
    };
    let Some(s) = out.stacks().first() else {
        return Ok(None);
    };
    let status = s
        .stack_status()
        .cloned()
        .unwrap_or_else(|| StackStatus::from(""));
    if status == StackStatus::DeleteComplete {
        return Ok(None);
    }
    Ok(Some(StackInfo {
        id: s.stack_id().unwrap_or(name).to_string(),
        name: s.stack_name().unwrap_or(name).to_string(),
        status,
        reason: s.stack_status_reason().map(str::to_string),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
    }))
}

/// The template the stack was last deployed with (JSON or YAML), as JSON.
pub async fn deployed_template(aws: &Aws, stack: &str) -> Result<Value, CloudError> {
    let out = aws
        .cfn
        .get_template()
        .stack_name(stack)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .map_err(|e| aws.error(&format!("read the template of stack {stack}"), e))?;
    let body = out.template_body().unwrap_or("{}");
    serde_json::from_str(body)
        .or_else(|_| serde_saphyr::from_str(body).map_err(|e| e.to_string()))
        .map_err(|e| CloudError::Aws {
            action: format!("read the template of stack {stack}"),
            code: "UnreadableTemplate".into(),
            message: e.to_string(),
        })
}

/// The stack's resources: logical id to physical id (empty while none is assigned).
pub async fn physical_ids(aws: &Aws, stack: &str) -> Result<BTreeMap<String, String>, CloudError> {
    let mut ids = BTreeMap::new();
    let mut token = None;
    loop {
        let out = aws
            .cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws.error(&format!("list the resources of stack {stack}"), e))?;
        for r in out.stack_resource_summaries() {
            ids.insert(
                r.logical_resource_id().unwrap_or_default().to_string(),
                r.physical_resource_id().unwrap_or_default().to_string(),
            );
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(ids);
        }
    }
}

/// Waits while another operation runs on the stack; returns the stack after it.
pub async fn wait_idle(
    aws: &Aws,
    ui: &dyn Console,
    name: &str,
) -> Result<Option<StackInfo>, CloudError> {
    let mut told = false;
    loop {
        let stack = describe(aws, name).await?;
        match &stack {
            Some(s) if in_progress(&s.status) => {
                if !told {
                    ui.info(&format!(
                        "{name} is {}: waiting for that operation to finish first",
                        s.status
                    ));
                    super::aws::on_interrupt(Some(format!(
                        "stopped waiting for {name} ({}); wsgen changed nothing",
                        s.status
                    )));
                    told = true;
                }
                pause(aws).await;
            }
            _ => {
                if told {
                    super::aws::on_interrupt(None);
                }
                return Ok(stack);
            }
        }
    }
}

/// Sleeps one poll interval.
async fn pause(aws: &Aws) {
    tokio::time::sleep(aws.poll).await
}

/// The id of the stack's newest event, so a watch shows only what comes after.
pub async fn latest_event(aws: &Aws, stack: &str) -> Result<Option<String>, CloudError> {
    let out = aws
        .cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws.error(&format!("read the events of stack {stack}"), e))?;
    Ok(out
        .stack_events()
        .first()
        .and_then(|e| e.event_id())
        .map(str::to_string))
}

/// A stack event, reduced to what is shown.
#[derive(Debug, Clone)]
struct Event {
    id: String,
    time: String,
    logical_id: String,
    resource_type: String,
    status: String,
    reason: Option<String>,
}

/// Events newer than `after`, oldest first.
async fn events_since(
    aws: &Aws,
    stack_id: &str,
    after: Option<&str>,
) -> Result<Vec<Event>, CloudError> {
    let mut newest_first = Vec::new();
    let mut token = None;
    'pages: loop {
        let out = aws
            .cfn
            .describe_stack_events()
            .stack_name(stack_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws.error("read the stack's events", e))?;
        for e in out.stack_events() {
            let id = e.event_id().unwrap_or_default();
            if Some(id) == after {
                break 'pages;
            }
            newest_first.push(Event {
                id: id.to_string(),
                time: e
                    .timestamp()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                    .and_then(|t| t.get(11..19).map(str::to_string))
                    .unwrap_or_default(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(str::to_string),
            });
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    newest_first.reverse();
    Ok(newest_first)
}

/// How a watched operation ended.
pub struct Watched {
    pub stack: StackInfo,
    /// The first resource that failed, with CloudFormation's reason.
    pub first_failure: Option<String>,
}

/// Follows the stack's events from `after` until the operation ends, showing each event
/// and a bar of resources done out of `total`. Ctrl-C stops watching (the operation
/// goes on) and says so.
pub async fn watch(
    aws: &Aws,
    ui: &dyn Console,
    stack_id: &str,
    name: &str,
    after: Option<String>,
    total: u64,
    operation: &str,
) -> Result<Watched, CloudError> {
    let bar = ui.progress(total, name);
    super::aws::on_interrupt(Some(format!(
        "stopped watching {name}: its {operation} goes on in CloudFormation. Run the same wsgen command again to wait for it, or follow it in the CloudFormation console"
    )));
    let result = watch_inner(aws, bar.as_ref(), stack_id, name, after).await;
    super::aws::on_interrupt(None);
    bar.finish();
    result
}

async fn watch_inner(
    aws: &Aws,
    bar: &dyn Steps,
    stack_id: &str,
    name: &str,
    mut after: Option<String>,
) -> Result<Watched, CloudError> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut first_failure: Option<String> = None;
    loop {
        // Read the status first, so that the events read after it include its last ones.
        let stack = describe(aws, stack_id).await?;
        for e in events_since(aws, stack_id, after.as_deref()).await? {
            after = Some(e.id.clone());
            let is_stack = e.resource_type == types::STACK;
            if !is_stack && e.status.ends_with("_COMPLETE") {
                done.insert(e.logical_id.clone());
                bar.set(done.len() as u64);
            }
            if e.status.ends_with("_FAILED") && !is_stack && first_failure.is_none() {
                let reason = e.reason.clone().unwrap_or_default();
                first_failure = Some(format!("{} ({}): {reason}", e.logical_id, e.resource_type));
            }
            bar.line(&format!(
                "{name} | {} | {:<28} | {} {}{}",
                e.time,
                e.status,
                e.resource_type,
                e.logical_id,
                e.reason
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        match stack {
            None => {
                // Deleted: DescribeStacks by id reports DELETE_COMPLETE, which reads as
                // no stack.
                return Ok(Watched {
                    stack: StackInfo {
                        id: stack_id.to_string(),
                        name: name.to_string(),
                        status: StackStatus::DeleteComplete,
                        reason: None,
                        tags: BTreeMap::new(),
                        outputs: BTreeMap::new(),
                    },
                    first_failure,
                });
            }
            Some(s) if !in_progress(&s.status) => {
                return Ok(Watched {
                    stack: s,
                    first_failure,
                })
            }
            Some(_) => pause(aws).await,
        }
    }
}

/// How much to confirm before executing a change set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Approval {
    /// Never ask.
    Never,
    /// Ask when the change grants more than before (IAM, permissions, authorization).
    #[default]
    Broadening,
    /// Ask before any change.
    AnyChange,
}

/// One stack to create or update.
pub struct StackDeploy<'a> {
    pub name: &'a str,
    pub template: &'a Value,
    /// Where CloudFormation reads the template from: the body, or an S3 URL for
    /// templates over [`MAX_TEMPLATE_BODY`].
    pub source: TemplateSource,
    pub tags: BTreeMap<String, String>,
    pub approval: Approval,
}

pub enum TemplateSource {
    Body(String),
    Url(String),
}

/// Passes `body` inline when CloudFormation takes it so, else uploads it to the asset
/// bucket (`templates/<sha256>.json`) and passes its URL.
pub async fn template_source(aws: &Aws, body: String) -> Result<TemplateSource, CloudError> {
    if body.len() <= MAX_TEMPLATE_BODY {
        return Ok(TemplateSource::Body(body));
    }
    let key = format!(
        "templates/{}.json",
        wsgen::digest::sha256_hex(body.as_bytes())
    );
    let bucket = aws.asset_bucket();
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body.into_bytes().into())
        .content_type("application/json")
        .expected_bucket_owner(&aws.account)
        .send()
        .await
        .map_err(|e| aws.error(&format!("upload the template to s3://{bucket}/{key}"), e))?;
    let suffix = if aws.region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Ok(TemplateSource::Url(format!(
        "https://s3.{}.{suffix}/{bucket}/{key}",
        aws.region
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Unchanged,
    Created,
    Updated,
    Hotswapped,
}

/// Creates or updates a stack through a change set: shows the change set, asks for
/// approval as configured, executes it and watches it to the end.
pub async fn deploy_stack(
    aws: &Aws,
    ui: &dyn Console,
    d: &StackDeploy<'_>,
) -> Result<(Outcome, StackInfo), CloudError> {
    let name = d.name;
    let existing = deployable_stack(aws, ui, name).await?;
    let creating = existing
        .as_ref()
        .is_none_or(|s| s.status == StackStatus::ReviewInProgress);
    let old_template = if creating {
        Value::Null
    } else {
        deployed_template(aws, name).await?
    };
    let change_set = format!(
        "wsgen-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_millis())
            .unwrap_or_default()
    );
    let (change_set_id, stack_id) = create_change_set(aws, d, &change_set, creating).await?;

    // Until the change set runs, nothing is deployed: an error, a refusal or Ctrl-C
    // deletes it (and the empty stack a first deploy's change set made).
    let undo = {
        let (aws, change_set_id) = (aws.clone(), change_set_id.clone());
        let stack = creating.then(|| stack_id.clone());
        move || {
            let (aws, change_set_id, stack) = (aws.clone(), change_set_id.clone(), stack.clone());
            async move { discard(&aws, &change_set_id, stack.as_ref()).await }
        }
    };
    super::aws::on_interrupt_undo(
        format!(
            "nothing was deployed: {name} is {}",
            if creating {
                "not created (the change set and its empty stack are deleted)"
            } else {
                "unchanged (the change set is deleted)"
            }
        ),
        undo(),
    );
    let prepared = async {
        if !change_set_has_changes(aws, name, &change_set, &change_set_id).await? {
            return Ok(None);
        }
        let changes = review(aws, ui, d, creating, &change_set_id, &old_template).await?;
        let after = latest_event(aws, &stack_id).await?;
        Ok(Some((changes, after)))
    }
    .await;
    super::aws::on_interrupt(None);
    let (changes, after) = match prepared {
        Ok(Some(ready)) => ready,
        Ok(None) => {
            undo().await;
            let stack = describe(aws, name).await?.ok_or_else(|| CloudError::Aws {
                action: format!("describe stack {name}"),
                code: "ValidationError".into(),
                message: "the stack disappeared".into(),
            })?;
            return Ok((Outcome::Unchanged, stack));
        }
        Err(e) => {
            undo().await;
            return Err(e);
        }
    };
    let operation = if creating { "creation" } else { "update" };
    super::aws::on_interrupt(Some(format!(
        "stopped: {name}'s {operation} may have started, and then goes on in CloudFormation. Run the same wsgen command again to wait for it"
    )));
    aws.cfn
        .execute_change_set()
        .change_set_name(&change_set_id)
        .send()
        .await
        .map_err(|e| {
            // Sent but unanswered, the change set may be running.
            let e = aws.error(&format!("execute change set {change_set}"), e);
            match e {
                CloudError::Aws { .. } | CloudError::CredentialsRejected { .. } => e,
                e => detached(name, operation, e),
            }
        })?;
    let watched = watch(
        aws,
        ui,
        &stack_id,
        name,
        after,
        changes.len() as u64,
        operation,
    )
    .await
    .map_err(|e| detached(name, operation, e))?;
    outcome(name, watched)
}

/// The stack `name` as a deploy finds it, once no operation runs on it: `None` when
/// there is none (or a failed creation was deleted on request); an error when it is not
/// wsgen's or is stuck in a failed state only the user can resolve.
async fn deployable_stack(
    aws: &Aws,
    ui: &dyn Console,
    name: &str,
) -> Result<Option<StackInfo>, CloudError> {
    let mut existing = wait_idle(aws, ui, name).await?;
    if let Some(s) = &existing {
        if !s.managed_by_wsgen() && s.status != StackStatus::ReviewInProgress {
            return Err(CloudError::NotOurs {
                stack: name.to_string(),
                tag: format!("{MANAGED_TAG}={MANAGED_VALUE}"),
            });
        }
        if matches!(
            s.status,
            StackStatus::RollbackComplete | StackStatus::RollbackFailed | StackStatus::CreateFailed
        ) {
            replace_failed_stack(aws, ui, s).await?;
            existing = None;
        } else if matches!(
            s.status,
            StackStatus::UpdateRollbackFailed | StackStatus::DeleteFailed
        ) {
            let help = if s.status == StackStatus::DeleteFailed {
                format!("delete what blocks it (see the stack's events), then run `wsgen destroy {name}` again")
            } else {
                format!("let CloudFormation finish the rollback: `aws cloudformation continue-update-rollback --stack-name {name}`, then deploy again")
            };
            return Err(CloudError::StackFailed {
                stack: name.to_string(),
                status: s.status.to_string(),
                reason: s.reason.clone().unwrap_or_else(|| "see its events".into()),
                help,
            });
        }
    }
    Ok(existing)
}

/// Creates the change set `change_set` of the deploy; returns its id and the stack's.
async fn create_change_set(
    aws: &Aws,
    d: &StackDeploy<'_>,
    change_set: &str,
    creating: bool,
) -> Result<(String, String), CloudError> {
    let name = d.name;
    let mut tags = d.tags.clone();
    tags.insert(MANAGED_TAG.into(), MANAGED_VALUE.into());
    let mut req = aws
        .cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name(change_set)
        .description(format!("wsgen {}", env!("CARGO_PKG_VERSION")))
        .change_set_type(if creating {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ));
    req = match &d.source {
        TemplateSource::Body(b) => req.template_body(b),
        TemplateSource::Url(u) => req.template_url(u),
    };
    let created = req
        .send()
        .await
        .map_err(|e| aws.error(&format!("create a change set for stack {name}"), e))?;
    let change_set_id = created.id().unwrap_or(change_set).to_string();
    let stack_id = created.stack_id().unwrap_or(name).to_string();
    Ok((change_set_id, stack_id))
}

/// Waits for the change set to be created; false when CloudFormation found nothing to
/// change.
async fn change_set_has_changes(
    aws: &Aws,
    name: &str,
    change_set: &str,
    change_set_id: &str,
) -> Result<bool, CloudError> {
    let (status, reason) = loop {
        let out = aws
            .cfn
            .describe_change_set()
            .change_set_name(change_set_id)
            .send()
            .await
            .map_err(|e| aws.error(&format!("describe change set {change_set}"), e))?;
        match out.status() {
            Some(status @ (ChangeSetStatus::CreateComplete | ChangeSetStatus::Failed)) => {
                break (
                    status.clone(),
                    out.status_reason().unwrap_or_default().to_string(),
                )
            }
            _ => pause(aws).await,
        }
    };
    if status == ChangeSetStatus::Failed {
        if reason.contains("didn't contain changes")
            || reason.contains("No updates are to be performed")
        {
            return Ok(false);
        }
        return Err(CloudError::Aws {
            action: format!("create a change set for stack {name}"),
            code: "ChangeSetFailed".into(),
            message: reason,
        });
    }
    Ok(true)
}

/// What a watched creation or update came to.
fn outcome(name: &str, watched: Watched) -> Result<(Outcome, StackInfo), CloudError> {
    let s = watched.stack;
    match &s.status {
        StackStatus::CreateComplete => Ok((Outcome::Created, s)),
        StackStatus::UpdateComplete => Ok((Outcome::Updated, s)),
        status => {
            let reason = watched
                .first_failure
                .or(s.reason.clone())
                .unwrap_or_else(|| "see the stack's events".into());
            let help = match status {
                StackStatus::RollbackComplete | StackStatus::RollbackFailed => format!(
                    "the creation was rolled back; fix the cause, then deploy again (wsgen offers to delete the failed stack {name} first)"
                ),
                StackStatus::UpdateRollbackComplete => format!(
                    "the update was rolled back: {name} is as it was before; fix the cause and deploy again"
                ),
                StackStatus::UpdateRollbackFailed => format!(
                    "the rollback failed too: `aws cloudformation continue-update-rollback --stack-name {name}`, then deploy again"
                ),
                _ => "see the stack's events in the CloudFormation console".into(),
            };
            Err(CloudError::StackFailed {
                stack: name.to_string(),
                status: status.to_string(),
                reason,
                help,
            })
        }
    }
}

/// Shows a change set's changes, its IAM and permission changes and the data it would
/// destroy or orphan, and asks for approval as configured; the changes when approved.
async fn review(
    aws: &Aws,
    ui: &dyn Console,
    d: &StackDeploy<'_>,
    creating: bool,
    change_set_id: &str,
    old_template: &Value,
) -> Result<Vec<ResourceChange>, CloudError> {
    let name = d.name;
    let changes = change_set_changes(aws, change_set_id).await?;
    ui.info(&format!(
        "{}: {} change{} ({}):",
        ui.bold(name),
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        aws.place()
    ));
    for c in &changes {
        ui.info(&format!("  {c}"));
    }
    let template_diff = changes::diff(old_template, d.template);
    if !template_diff.security.is_empty() {
        ui.info(template_diff.render_security("  ").trim_end());
    }
    let mut losses = if creating {
        Vec::new()
    } else {
        data_loss(&changes, old_template)
    };
    count_items(aws, &mut losses).await;
    if !losses.is_empty() {
        ui.info(&format!("  Data destroyed or orphaned ({}):", losses.len()));
        for l in &losses {
            ui.info(&format!("    ! {l}"));
        }
    }
    let broadening = template_diff.broadening().count();
    let mut reasons = Vec::new();
    if broadening > 0 {
        reasons.push(format!(
            "{broadening} change{} above widen{} access",
            if broadening == 1 { "" } else { "s" },
            if broadening == 1 { "s" } else { "" }
        ));
    }
    if !losses.is_empty() {
        reasons.push(format!(
            "{} destroy{} or orphan{} data",
            losses.len(),
            if losses.len() == 1 { "s" } else { "" },
            if losses.len() == 1 { "s" } else { "" }
        ));
    }
    let question = match d.approval {
        Approval::Never => None,
        Approval::Broadening if reasons.is_empty() => None,
        Approval::Broadening => Some(format!(
            "{}. Deploy {name}?",
            sentence(&reasons.join(", and "))
        )),
        Approval::AnyChange => Some(format!("Deploy these changes to {name}?")),
    };
    if let Some(question) = question {
        match ui.confirm(&question) {
            Some(true) => {}
            None => {
                let mut why = Vec::new();
                if broadening > 0 {
                    why.push("they widen access");
                }
                if !losses.is_empty() {
                    why.push("they destroy or orphan data");
                }
                if why.is_empty() {
                    why.push("--require-approval any-change");
                }
                let why = why.join(", and ");
                return Err(CloudError::ApprovalRequired(format!(
                    "the changes to {name} need approval ({why}), and this is not an interactive terminal"
                )));
            }
            Some(false) => {
                return Err(CloudError::Declined(format!(
                    "not deployed: {name} is unchanged"
                )))
            }
        }
    }
    Ok(changes)
}

/// `text` with a capital first letter.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// An error met after the change set was executed: the operation goes on without wsgen.
fn detached(stack: &str, operation: &str, cause: CloudError) -> CloudError {
    CloudError::Detached {
        stack: stack.to_string(),
        operation: operation.to_string(),
        cause: Box::new(cause),
    }
}

/// A stack whose creation failed can only be deleted: offers that on a terminal.
async fn replace_failed_stack(
    aws: &Aws,
    ui: &dyn Console,
    s: &StackInfo,
) -> Result<(), CloudError> {
    let name = &s.name;
    let reason = first_failure(aws, &s.id)
        .await?
        .or(s.reason.clone())
        .unwrap_or_else(|| "see its events".into());
    ui.warn(&format!(
        "{name} is {} from an earlier failed creation: {reason}",
        s.status
    ));
    match ui.confirm(&format!(
        "Delete the failed stack {name} (it holds no resources) and create it again?"
    )) {
        Some(true) => {
            delete_stack(aws, ui, s, 0).await?;
            Ok(())
        }
        _ => Err(CloudError::StackFailed {
            stack: name.clone(),
            status: s.status.to_string(),
            reason,
            help: format!(
                "a failed creation must be deleted before the next deploy: run `wsgen destroy {name}`, then deploy again"
            ),
        }),
    }
}

/// The first failed resource in the stack's events, with its reason.
pub async fn first_failure(aws: &Aws, stack_id: &str) -> Result<Option<String>, CloudError> {
    Ok(events_since(aws, stack_id, None)
        .await?
        .into_iter()
        .find(|e| e.status.ends_with("_FAILED") && e.resource_type != types::STACK)
        .map(|e| {
            format!(
                "{} ({}): {}",
                e.logical_id,
                e.resource_type,
                e.reason.unwrap_or_default()
            )
        }))
}

/// Deletes a stack and watches the deletion to its end.
pub async fn delete_stack(
    aws: &Aws,
    ui: &dyn Console,
    s: &StackInfo,
    resources: u64,
) -> Result<Watched, CloudError> {
    let after = latest_event(aws, &s.id).await?;
    aws.cfn
        .delete_stack()
        .stack_name(&s.id)
        .send()
        .await
        .map_err(|e| aws.error(&format!("delete stack {}", s.name), e))?;
    let watched = watch(aws, ui, &s.id, &s.name, after, resources, "deletion")
        .await
        .map_err(|e| detached(&s.name, "deletion", e))?;
    if watched.stack.status != StackStatus::DeleteComplete {
        return Err(CloudError::StackFailed {
            stack: s.name.clone(),
            status: watched.stack.status.to_string(),
            reason: watched
                .first_failure
                .or(watched.stack.reason)
                .unwrap_or_else(|| "see the stack's events".into()),
            help: format!(
                "remove what blocks the deletion (see the reason), then run `wsgen destroy {}` again",
                s.name
            ),
        });
    }
    Ok(watched)
}

/// Deletes a change set that will not run (and the empty stack a CREATE change set
/// made), so nothing is left behind.
async fn discard(aws: &Aws, change_set_id: &str, created_stack: Option<&String>) {
    let _ = aws
        .cfn
        .delete_change_set()
        .change_set_name(change_set_id)
        .send()
        .await;
    if let Some(stack) = created_stack {
        if let Ok(Some(s)) = describe(aws, stack).await {
            if s.status == StackStatus::ReviewInProgress {
                let _ = aws.cfn.delete_stack().stack_name(stack).send().await;
            }
        }
    }
}

/// A resource change of a change set.
#[derive(Debug, Clone)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, ...
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// Empty for a resource not created yet.
    pub physical_id: String,
    /// CloudFormation's `True`, `Conditional` or `False` (for a modification).
    pub replacement: String,
}

impl std::fmt::Display for ResourceChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = match self.action.as_str() {
            "Add" => "+",
            "Remove" => "-",
            _ => "~",
        };
        let replacement = match self.replacement.as_str() {
            "True" => "  (replacement)",
            "Conditional" => "  (may be replaced)",
            _ => "",
        };
        write!(
            f,
            "{sign} {:<7} {:<36} {}{replacement}",
            self.action, self.logical_id, self.resource_type
        )
    }
}

/// The change set's resource changes.
async fn change_set_changes(
    aws: &Aws,
    change_set_id: &str,
) -> Result<Vec<ResourceChange>, CloudError> {
    let mut changes = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .cfn
            .describe_change_set()
            .change_set_name(change_set_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws.error("describe the change set", e))?;
        for c in out.changes() {
            let Some(r) = c.resource_change() else {
                continue;
            };
            changes.push(ResourceChange {
                action: r.action().map(|a| a.as_str()).unwrap_or("?").to_string(),
                logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: r.resource_type().unwrap_or_default().to_string(),
                physical_id: r.physical_resource_id().unwrap_or_default().to_string(),
                replacement: r
                    .replacement()
                    .map(|r| r.as_str())
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(changes);
        }
    }
}

/// Resource types that hold data: replacing or deleting one loses it.
const DATA_BEARING: &[&str] = &[types::TABLE, types::GLOBAL_TABLE, types::BUCKET];

/// A change that destroys data, or orphans it (kept, but no longer the stack's).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DataLoss {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub physical_id: String,
    /// What happens to the data, in words.
    pub effect: String,
}

impl std::fmt::Display for DataLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.logical_id, self.resource_type)?;
        if !self.physical_id.is_empty() {
            write!(f, " {}", self.physical_id)?;
        }
        write!(f, "): {}", self.effect)
    }
}

/// The changes that destroy or orphan data: a data-bearing resource replaced (a table
/// whose key schema changed: the new one starts empty, and the old one is deleted,
/// or kept apart when its `UpdateReplacePolicy` is `Retain`), or removed while its
/// `DeletionPolicy` deletes it. `old` is the deployed template (for the policies).
pub fn data_loss(changes: &[ResourceChange], old: &Value) -> Vec<DataLoss> {
    let policy = |id: &str, attribute: &str| {
        old.pointer(&format!("/Resources/{id}/{attribute}"))
            .and_then(Value::as_str)
            .unwrap_or("Delete")
            .to_string()
    };
    changes
        .iter()
        .filter(|c| DATA_BEARING.contains(&c.resource_type.as_str()))
        .filter_map(|c| {
            let kept = |p: String| p == "Retain" || p == "RetainExceptOnCreate";
            let effect = match (c.action.as_str(), c.replacement.as_str()) {
                ("Remove", _) if !kept(policy(&c.logical_id, "DeletionPolicy")) => {
                    "removed: deleted with all its data".to_string()
                }
                ("Modify", r @ ("True" | "Conditional")) => {
                    let may = if r == "True" { "" } else { "may be " };
                    if kept(policy(&c.logical_id, "UpdateReplacePolicy")) {
                        format!("{may}replaced by a new, empty one; the old one keeps its data but leaves the stack (UpdateReplacePolicy Retain)")
                    } else {
                        format!("{may}replaced by a new, empty one; the old one is deleted with all its data")
                    }
                }
                _ => return None,
            };
            Some(DataLoss {
                logical_id: c.logical_id.clone(),
                resource_type: c.resource_type.clone(),
                physical_id: c.physical_id.clone(),
                effect,
            })
        })
        .collect()
}

/// Adds what DynamoDB last counted of each table's items to its data-loss line.
async fn count_items(aws: &Aws, losses: &mut [DataLoss]) {
    for loss in losses
        .iter_mut()
        .filter(|l| l.resource_type == types::TABLE && !l.physical_id.is_empty())
    {
        let described = aws
            .dynamodb
            .describe_table()
            .table_name(&loss.physical_id)
            .send()
            .await;
        if let Some(count) = described
            .ok()
            .and_then(|d| d.table().and_then(|t| t.item_count()))
        {
            loss.effect.push_str(&format!(
                " ({count} item{} at DynamoDB's last count)",
                if count == 1 { "" } else { "s" }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(action: &str, id: &str, ty: &str, replacement: &str) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_id: id.into(),
            resource_type: ty.into(),
            physical_id: format!("Chat-{id}-1ABC"),
            replacement: replacement.into(),
        }
    }

    #[test]
    fn data_is_lost_by_replacing_or_deleting_what_holds_it() {
        let old = json!({"Resources": {
            "Kept": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
            "Plain": {"Type": "AWS::DynamoDB::Table"},
            "Files": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete"},
            "Send": {"Type": "AWS::Lambda::Function"}
        }});
        let effects = |changes: &[ResourceChange]| -> Vec<String> {
            data_loss(changes, &old)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            effects(&[
                change("Modify", "Plain", "AWS::DynamoDB::Table", "True"),
                change("Modify", "Kept", "AWS::DynamoDB::Table", "Conditional"),
                change("Remove", "Files", "AWS::S3::Bucket", ""),
            ]),
            [
                "Plain (AWS::DynamoDB::Table Chat-Plain-1ABC): replaced by a new, empty one; the old one is deleted with all its data",
                "Kept (AWS::DynamoDB::Table Chat-Kept-1ABC): may be replaced by a new, empty one; the old one keeps its data but leaves the stack (UpdateReplacePolicy Retain)",
                "Files (AWS::S3::Bucket Chat-Files-1ABC): removed: deleted with all its data",
            ]
        );
        // Kept on removal, modified in place, or holding no data: nothing is lost.
        assert!(effects(&[
            change("Remove", "Kept", "AWS::DynamoDB::Table", ""),
            change("Modify", "Plain", "AWS::DynamoDB::Table", "False"),
            change("Modify", "Send", "AWS::Lambda::Function", "True"),
            change("Remove", "Send", "AWS::Lambda::Function", ""),
            change("Add", "New", "AWS::DynamoDB::Table", ""),
        ])
        .is_empty());
    }
}

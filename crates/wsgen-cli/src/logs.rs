//! `wsgen logs`: a deployed app's logs from CloudWatch Logs, every log group of the
//! stack (each function's, and a stage's access log where it has one) interleaved by
//! time, each line tagged with its source.
//!
//! - The sources come from the stack's resources: an `AWS::Logs::LogGroup` whose logical
//!   ID is `{Function}LogGroup` is that function's (wsgen writes one per function);
//!   other log groups are tagged with their logical ID less `LogGroup`; a function with
//!   no log group of the stack's logs to `/aws/lambda/{name}`, as Lambda does; a stage
//!   with execution logging writes to `API-Gateway-Execution-Logs_{api-id}/{stage}`,
//!   which API Gateway makes outside the stack (tagged `{Stage}ExecutionLogs`).
//! - `FUNCTION` arguments choose sources by tag (`SendMessage`, case-insensitive) or
//!   by the function's deployed name.
//! - Without `--follow`: the events since `--since` ago, oldest first. With it: those,
//!   then every new event as it arrives (polled every [`FOLLOW_EVERY`]) until Ctrl-C,
//!   which ends with exit 0. A log group that does not exist yet (a function not yet
//!   invoked) is said once and watched for.
//! - Against `wsgen dev` (no `--stack`, and a `wsgen dev` of the project runs): the local
//!   invocations' output, which wsgen dev appends to `wsgen.out/dev/logs.jsonl` (see
//!   [`DEV_LOGS`]), with the same options; `--filter` then matches plain terms only.
//! - Lines are `time tag  message` (time in UTC, the tag coloured by source on a
//!   terminal); with `--json` one object a line: `timestamp` (ms), `time`, `source`,
//!   `group`, `stream`, `message`.

use crate::cloud::aws::{Aws, AwsOptions};
use crate::cloud::{stacks, CloudError};
use crate::error::LogsError;
use crate::project::Project;
use crate::{CliError, Ui};
use aws_sdk_cloudformation::types::StackResourceSummary;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where `wsgen dev` appends its functions' output, inside `wsgen.out/` (the one before
/// is `logs.jsonl.1`).
pub const DEV_LOGS: &str = "dev/logs.jsonl";
/// How often `--follow` reads `wsgen dev`'s log file for new lines.
const DEV_FOLLOW_EVERY: Duration = Duration::from_millis(300);
/// How often `--follow` asks for new events.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// The events a log group may give per poll (the rest come with the next).
const PAGES_PER_POLL: usize = 20;

/// What `wsgen logs` was asked to do.
#[derive(Clone, Debug)]
pub struct LogsOptions {
    pub project: Option<PathBuf>,
    pub stack: Option<String>,
    /// Sources to show (tags or deployed function names); empty: all.
    pub functions: Vec<String>,
    pub since: Duration,
    pub follow: bool,
    /// A CloudWatch Logs filter pattern.
    pub filter: Option<String>,
    pub aws: AwsOptions,
    pub json: bool,
}

/// One log group of the stack, and what its lines are tagged with.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Source {
    tag: String,
    group: String,
    /// The deployed function's name, for a function's log group.
    function: Option<String>,
}

/// One event, as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    timestamp: i64,
    tag: String,
    id: String,
    group: String,
    stream: String,
    message: String,
}

impl Event {
    /// What tells this event from the others at its timestamp: CloudWatch's event ID,
    /// or where an engine gives none (ministack, for the lines it writes for Lambda),
    /// the stream and the message.
    fn key(&self) -> String {
        if self.id.is_empty() {
            format!("{}\n{}", self.stream, self.message)
        } else {
            self.id.clone()
        }
    }
}

pub fn logs(opts: &LogsOptions, ui: &Ui) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        tokio::select! {
            done = run(opts, ui) => done,
            // Ctrl-C ends following (and a long first read) cleanly.
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

async fn run(opts: &LogsOptions, ui: &Ui) -> Result<(), CliError> {
    if opts.stack.is_none() {
        if let Ok(project) = Project::discover(opts.project.as_deref()) {
            if crate::connect::running_dev(&project.out).await.is_some() {
                return dev_logs(opts, ui, &project.out.join(DEV_LOGS)).await;
            }
        }
    }
    let stack = match &opts.stack {
        Some(s) => s.clone(),
        None => only_stack(opts)?,
    };
    let aws = Aws::connect(&opts.aws).await?;
    if stacks::describe(&aws, &stack).await?.is_none() {
        return Err(LogsError::NotDeployed {
            stack,
            place: aws.place(),
        }
        .into());
    }
    let all = sources(&aws, &stack).await?;
    let chosen = choose(&all, &opts.functions)?;
    let printer = Printer::new(opts.json, ui.color(), chosen.iter().map(|s| s.tag.as_str()));
    let show = |e: &Event| printer.show(e);

    let start = start_of(opts.since);
    ui.info(&format!(
        "logs of stack {stack} ({}) since {}{}",
        chosen
            .iter()
            .map(|s| s.tag.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        human(opts.since),
        if opts.follow {
            ", following (Ctrl-C stops)"
        } else {
            ""
        }
    ));
    let mut from: BTreeMap<&str, i64> = chosen.iter().map(|s| (s.group.as_str(), start)).collect();
    // Event ids already shown at each group's last timestamp: the next poll starts there
    // again (CloudWatch's start time is inclusive).
    let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    loop {
        let mut batch = Vec::new();
        for s in &chosen {
            match fetch(&aws, s, from[s.group.as_str()], opts.filter.as_deref()).await? {
                None => {
                    if missing.insert(s.group.as_str()) {
                        ui.note(&format!(
                            "no logs yet for {} (log group {} does not exist yet: it appears when {} first logs){}",
                            s.tag,
                            s.group,
                            if s.function.is_some() { "the function" } else { "the stage" },
                            if opts.follow { "; watching for it" } else { "" }
                        ));
                    }
                }
                Some(events) => {
                    let shown = seen.entry(s.group.as_str()).or_default();
                    let fresh: Vec<Event> = events
                        .into_iter()
                        .filter(|e| !shown.contains(&e.key()))
                        .collect();
                    if let Some(last) = fresh.iter().map(|e| e.timestamp).max() {
                        let previous = from[s.group.as_str()];
                        if last > previous {
                            shown.clear();
                        }
                        from.insert(s.group.as_str(), last.max(previous));
                        for e in fresh.iter().filter(|e| e.timestamp == last) {
                            shown.insert(e.key());
                        }
                    }
                    batch.extend(fresh);
                }
            }
        }
        // By time; events of one time keep the order their group gave them (START
        // before END), the groups in turn.
        batch.sort_by_key(|e| e.timestamp);
        for e in &batch {
            show(e);
        }
        if !opts.follow {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// The time `since` ago, in ms since the epoch.
fn start_of(since: Duration) -> i64 {
    SystemTime::now()
        .checked_sub(since)
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Prints events: `time tag  message`, the tags aligned and coloured by source, or JSON.
struct Printer {
    json: bool,
    color: bool,
    width: usize,
    colors: std::sync::Mutex<BTreeMap<String, &'static str>>,
}

impl Printer {
    fn new<'a>(json: bool, color: bool, tags: impl Iterator<Item = &'a str>) -> Printer {
        let p = Printer {
            json,
            color,
            width: 0,
            colors: std::sync::Mutex::new(BTreeMap::new()),
        };
        let mut width = 0;
        for t in tags {
            width = width.max(t.len());
            p.color_of(t);
        }
        Printer { width, ..p }
    }

    /// The tag's colour: the next of the palette for a tag not seen before.
    fn color_of(&self, tag: &str) -> &'static str {
        let mut colors = self.colors.lock().unwrap_or_else(|e| e.into_inner());
        let next = PALETTE[colors.len() % PALETTE.len()];
        colors.entry(tag.to_string()).or_insert(next)
    }

    fn show(&self, e: &Event) {
        let time = rfc3339_millis(e.timestamp);
        let line = if self.json {
            json!({
                "timestamp": e.timestamp,
                "time": time,
                "source": e.tag,
                "group": e.group,
                "stream": e.stream,
                "message": e.message,
            })
            .to_string()
        } else {
            let tag = format!("{:<width$}", e.tag, width = self.width);
            let tag = if self.color {
                format!("\x1b[{}m{tag}\x1b[0m", self.color_of(&e.tag))
            } else {
                tag
            };
            format!("{time} {tag}  {}", e.message)
        };
        print_line(&line);
    }
}

/// `2026-12-03T01:36:39.740Z`: UTC, always three digits of milliseconds.
fn rfc3339_millis(ms: i64) -> String {
    let text = aws_smithy_types::DateTime::from_millis(ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let Some(body) = text.strip_suffix('Z') else {
        return text;
    };
    match body.split_once('.') {
        Some((seconds, fraction)) => format!("{seconds}.{:0<3.3}Z", fraction),
        None => format!("{body}.000Z"),
    }
}

/// `wsgen logs` against the running `wsgen dev`: its log file (see [`DEV_LOGS`]).
async fn dev_logs(opts: &LogsOptions, ui: &Ui, path: &std::path::Path) -> Result<(), CliError> {
    let filter = LocalFilter::parse(opts.filter.as_deref())?;
    let start = start_of(opts.since);
    ui.info(&format!(
        "logs of wsgen dev's functions since {}{} (--stack for a deployed stack's)",
        human(opts.since),
        if opts.follow {
            ", following (Ctrl-C stops)"
        } else {
            ""
        }
    ));
    let printer = Printer::new(opts.json, ui.color(), std::iter::empty());
    let group = "wsgen dev".to_string();
    // wsgen dev names a function `{Stack}-{LogicalId}`: either names it.
    let wanted = |source: &str| {
        opts.functions.is_empty()
            || opts.functions.iter().any(|f| {
                let source = source.to_ascii_lowercase();
                let f = f.to_ascii_lowercase();
                source == f || source.ends_with(&format!("-{f}"))
            })
    };
    let mut show = |line: &str| {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            return;
        };
        let (Some(timestamp), Some(source), Some(message)) = (
            v["timestamp"].as_i64(),
            v["source"].as_str(),
            v["message"].as_str(),
        ) else {
            return;
        };
        if timestamp >= start && wanted(source) && filter.matches(message) {
            printer.show(&Event {
                timestamp,
                tag: source.to_string(),
                id: String::new(),
                group: group.clone(),
                stream: String::new(),
                message: message.to_string(),
            });
        }
    };
    let mut previous = path.as_os_str().to_owned();
    previous.push(".1");
    if let Ok(text) = std::fs::read_to_string(&previous) {
        text.lines().for_each(&mut show);
    }
    // The file's whole lines, then (following) those appended since: a line written
    // meanwhile is neither lost nor shown twice, and a line is decoded only once whole.
    let mut tail = Tail::default();
    loop {
        for line in tail.read(path) {
            show(&line);
        }
        if !opts.follow {
            return Ok(());
        }
        tokio::time::sleep(DEV_FOLLOW_EVERY).await;
    }
}

/// Reads a file that grows by whole lines: what was appended since the last read, from
/// the start again when the file was moved aside and begun anew.
#[derive(Default)]
struct Tail {
    /// How much of the file has been read (`partial` included).
    offset: u64,
    /// The start of a line not yet ended.
    partial: Vec<u8>,
}

impl Tail {
    /// The lines ended since the last read (none when the file cannot be read).
    fn read(&mut self, path: &std::path::Path) -> Vec<String> {
        use std::io::{Read, Seek};
        let Ok(mut file) = std::fs::File::open(path) else {
            return Vec::new();
        };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            *self = Tail::default();
        }
        if file.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        match file.read_to_end(&mut self.partial) {
            Ok(n) => self.offset += n as u64,
            Err(_) => return Vec::new(),
        }
        let Some(last) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(last + 1);
        let whole = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&whole)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A filter pattern as `wsgen dev`'s logs apply it: terms (words, or "quoted phrases")
/// that must all appear, case-sensitively, as CloudWatch Logs' unstructured patterns.
#[derive(Debug, Default, PartialEq, Eq)]
struct LocalFilter {
    terms: Vec<String>,
}

impl LocalFilter {
    fn parse(pattern: Option<&str>) -> Result<LocalFilter, CliError> {
        let Some(pattern) = pattern.map(str::trim).filter(|p| !p.is_empty()) else {
            return Ok(LocalFilter::default());
        };
        if pattern.starts_with(['{', '[', '?', '%'])
            || pattern.contains(" -")
            || pattern.starts_with('-')
        {
            return Err(CliError::Usage(format!(
                "the filter pattern `{pattern}` needs CloudWatch Logs: against wsgen dev, give plain terms (every one must appear), e.g. --filter 'ERROR \"room 7\"'"
            )));
        }
        let mut terms = Vec::new();
        let mut rest = pattern;
        while !rest.is_empty() {
            rest = rest.trim_start();
            if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted.find('"').unwrap_or(quoted.len());
                terms.push(quoted[..end].to_string());
                rest = quoted.get(end + 1..).unwrap_or("");
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                terms.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
        terms.retain(|t| !t.is_empty());
        Ok(LocalFilter { terms })
    }

    fn matches(&self, message: &str) -> bool {
        self.terms.iter().all(|t| message.contains(t.as_str()))
    }
}

/// ANSI colours for the tags, in turn.
const PALETTE: &[&str] = &["36", "33", "35", "32", "34", "91", "96", "93"];

fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 && s > 0 => format!("{}h ago", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m ago", s / 60),
        s => format!("{s}s ago"),
    }
}

/// The project's only stack, from its last synth.
fn only_stack(opts: &LogsOptions) -> Result<String, CliError> {
    use crate::select::NoOnlyStack;
    let project = Project::discover(opts.project.as_deref())?;
    crate::select::only_stack(&project.out).map_err(|e| {
        LogsError::NoStack(match e {
            NoOnlyStack::NotSynthesized => {
                "the project has not been synthesized (`wsgen synth` lists its stacks)".into()
            }
            NoOnlyStack::Stacks(names) => {
                format!("the app has {} stacks ({})", names.len(), names.join(", "))
            }
        })
        .into()
    })
}

/// Every log group of the stack, tagged (see the module's documentation).
async fn sources(aws: &Aws, stack: &str) -> Result<Vec<Source>, CloudError> {
    let mut resources: Vec<StackResourceSummary> = Vec::new();
    let mut pages = aws
        .cfn
        .list_stack_resources()
        .stack_name(stack)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error(&format!("list the resources of {stack}"), e))?;
        resources.extend(page.stack_resource_summaries().iter().cloned());
    }
    // Stages' execution logs go to log groups API Gateway makes, outside the stack: the
    // template says which stages have them.
    let stages = resources
        .iter()
        .any(|r| r.resource_type() == Some(wsgen::cfn::types::STAGE));
    let template = if stages {
        stacks::deployed_template(aws, stack).await?
    } else {
        serde_json::Value::Null
    };
    Ok(sources_of(&resources, &template))
}

/// The log groups of `resources`, and the execution log groups of the stages
/// `template` gives execution logging (`API-Gateway-Execution-Logs_{api-id}/{stage}`,
/// tagged `{Stage}ExecutionLogs` after the stage's logical ID less `Stage`).
fn sources_of(resources: &[StackResourceSummary], template: &serde_json::Value) -> Vec<Source> {
    let of_type = |ty: &str| -> BTreeMap<String, String> {
        resources
            .iter()
            .filter(|r| r.resource_type() == Some(ty))
            .filter_map(|r| {
                Some((
                    r.logical_resource_id()?.to_string(),
                    r.physical_resource_id()?.to_string(),
                ))
            })
            .collect()
    };
    let functions = of_type(wsgen::cfn::types::FUNCTION);
    let groups = of_type(wsgen::cfn::types::LOG_GROUP);
    let mut out: Vec<Source> = groups
        .iter()
        .map(|(logical, group)| {
            let tag = logical.strip_suffix("LogGroup").unwrap_or(logical);
            let tag = if tag.is_empty() { logical } else { tag };
            Source {
                tag: tag.to_string(),
                group: group.clone(),
                function: functions.get(tag).cloned(),
            }
        })
        .collect();
    for (logical, name) in &functions {
        if !groups.contains_key(&format!("{logical}LogGroup")) {
            out.push(Source {
                tag: logical.clone(),
                group: format!("/aws/lambda/{name}"),
                function: Some(name.clone()),
            });
        }
    }
    let apis = of_type(wsgen::cfn::types::API);
    let stages = of_type(wsgen::cfn::types::STAGE);
    for (logical, resource) in template
        .get("Resources")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
    {
        let props = &resource["Properties"];
        if resource["Type"] != wsgen::cfn::types::STAGE
            || !crate::cloud::account::execution_logging(props)
        {
            continue;
        }
        let api = props["ApiId"]["Ref"].as_str().and_then(|a| apis.get(a));
        let name = props["StageName"]
            .as_str()
            .or_else(|| stages.get(logical).map(String::as_str));
        if let (Some(api), Some(name)) = (api, name) {
            let base = logical.strip_suffix("Stage").unwrap_or(logical);
            out.push(Source {
                tag: format!("{base}ExecutionLogs"),
                group: format!("API-Gateway-Execution-Logs_{api}/{name}"),
                function: None,
            });
        }
    }
    out.sort_by(|a, b| a.tag.cmp(&b.tag));
    out
}

/// The sources named (all when none are).
fn choose(all: &[Source], wanted: &[String]) -> Result<Vec<Source>, CliError> {
    if wanted.is_empty() {
        if all.is_empty() {
            return Err(LogsError::NoSources.into());
        }
        return Ok(all.to_vec());
    }
    let mut chosen = Vec::new();
    for w in wanted {
        let found = all
            .iter()
            .find(|s| s.tag.eq_ignore_ascii_case(w) || s.function.as_deref() == Some(w.as_str()));
        match found {
            Some(s) if !chosen.contains(s) => chosen.push(s.clone()),
            Some(_) => {}
            None => {
                return Err(LogsError::UnknownSource {
                    name: w.clone(),
                    known: all
                        .iter()
                        .map(|s| s.tag.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into())
            }
        }
    }
    Ok(chosen)
}

/// The group's events from `start` (ms, inclusive), oldest first; `None` when the log
/// group does not exist (yet).
async fn fetch(
    aws: &Aws,
    source: &Source,
    start: i64,
    filter: Option<&str>,
) -> Result<Option<Vec<Event>>, CloudError> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..PAGES_PER_POLL {
        let sent = aws
            .logs
            .filter_log_events()
            .log_group_name(&source.group)
            .start_time(start)
            .set_filter_pattern(filter.map(str::to_string))
            .set_next_token(token.take())
            .send()
            .await;
        let page = match sent {
            Ok(page) => page,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(aws.error(&format!("read the log group {}", source.group), e)),
        };
        for e in page.events() {
            events.push(Event {
                timestamp: e.timestamp().unwrap_or_default(),
                tag: source.tag.clone(),
                id: e.event_id().unwrap_or_default().to_string(),
                group: source.group.clone(),
                stream: e.log_stream_name().unwrap_or_default().to_string(),
                message: e.message().unwrap_or_default().trim_end().to_string(),
            });
        }
        match page.next_token() {
            Some(t) if !t.is_empty() && !page.events().is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(Some(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(logical: &str, ty: &str, physical: &str) -> StackResourceSummary {
        StackResourceSummary::builder()
            .logical_resource_id(logical)
            .resource_type(ty)
            .physical_resource_id(physical)
            .last_updated_timestamp(aws_smithy_types::DateTime::from_secs(0))
            .resource_status("CREATE_COMPLETE".into())
            .build()
    }

    #[test]
    fn sources_are_the_stacks_log_groups_tagged_by_function() {
        let resources = [
            resource("SendMessage", "AWS::Lambda::Function", "Chat-SendMessage-1"),
            resource(
                "SendMessageLogGroup",
                "AWS::Logs::LogGroup",
                "Chat-SendMessageLogGroup-1",
            ),
            resource("OnConnect", "AWS::Lambda::Function", "Chat-OnConnect-1"),
            resource(
                "ChatApiProdAccessLogs",
                "AWS::Logs::LogGroup",
                "Chat-access-1",
            ),
            resource("Table", "AWS::DynamoDB::Table", "Chat-Table-1"),
            resource("ChatApi", "AWS::ApiGatewayV2::Api", "a1b2c3"),
            resource("ChatApiProdStage", "AWS::ApiGatewayV2::Stage", "prod"),
            resource("ChatApiDevStage", "AWS::ApiGatewayV2::Stage", "dev"),
        ];
        // The prod stage logs errors: its execution log group is API Gateway's.
        let template = serde_json::json!({"Resources": {
            "ChatApiProdStage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                "ApiId": {"Ref": "ChatApi"}, "StageName": "prod",
                "DefaultRouteSettings": {"LoggingLevel": "ERROR"}
            }},
            "ChatApiDevStage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                "ApiId": {"Ref": "ChatApi"}, "StageName": "dev"
            }}
        }});
        assert!(!sources_of(&resources, &serde_json::Value::Null)
            .iter()
            .any(|s| s.tag.ends_with("ExecutionLogs")));
        let all = sources_of(&resources, &template);
        assert_eq!(
            all,
            [
                Source {
                    tag: "ChatApiProdAccessLogs".into(),
                    group: "Chat-access-1".into(),
                    function: None
                },
                Source {
                    tag: "ChatApiProdExecutionLogs".into(),
                    group: "API-Gateway-Execution-Logs_a1b2c3/prod".into(),
                    function: None
                },
                Source {
                    tag: "OnConnect".into(),
                    group: "/aws/lambda/Chat-OnConnect-1".into(),
                    function: Some("Chat-OnConnect-1".into())
                },
                Source {
                    tag: "SendMessage".into(),
                    group: "Chat-SendMessageLogGroup-1".into(),
                    function: Some("Chat-SendMessage-1".into())
                },
            ]
        );
        let picked = choose(&all, &["sendmessage".into(), "Chat-OnConnect-1".into()]).unwrap();
        assert_eq!(
            picked.iter().map(|s| s.tag.as_str()).collect::<Vec<_>>(),
            ["SendMessage", "OnConnect"]
        );
        let unknown = choose(&all, &["Nope".into()]).unwrap_err();
        assert_eq!(unknown.exit_code(), 2);
        assert!(
            unknown.to_string().contains(
                "(it has: ChatApiProdAccessLogs, ChatApiProdExecutionLogs, OnConnect, SendMessage)"
            ),
            "{unknown}"
        );
    }

    #[test]
    fn local_filters_are_plain_terms() {
        let f = LocalFilter::parse(Some(r#"ERROR "room 7""#)).unwrap();
        assert_eq!(f.terms, ["ERROR", "room 7"]);
        assert!(f.matches("ERROR in room 7: gone"));
        assert!(!f.matches("ERROR in room 8"));
        assert!(LocalFilter::parse(None).unwrap().matches("anything"));
        for cloud_only in [r#"{ $.level = "ERROR" }"#, "?ERROR ?WARN", "ERROR -debug"] {
            assert_eq!(
                LocalFilter::parse(Some(cloud_only))
                    .unwrap_err()
                    .exit_code(),
                2
            );
        }
    }

    #[test]
    fn a_tail_gives_each_whole_line_once_and_starts_over_on_a_new_file() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.jsonl");
        let append = |text: &[u8]| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap()
                .write_all(text)
                .unwrap()
        };
        let mut tail = Tail::default();
        assert!(tail.read(&path).is_empty(), "no file yet");
        append(b"one\ntw");
        assert_eq!(tail.read(&path), ["one"]);
        // A character split across two reads is decoded whole.
        append("o \u{e9}".as_bytes().split_at(4).0);
        assert!(tail.read(&path).is_empty());
        append(&"o \u{e9}\nthree\n".as_bytes()[4..]);
        assert_eq!(tail.read(&path), ["two \u{e9}", "three"]);
        assert!(tail.read(&path).is_empty());
        // Moved aside and begun anew.
        std::fs::remove_file(&path).unwrap();
        append(b"new\n");
        assert_eq!(tail.read(&path), ["new"]);
    }

    #[test]
    fn events_without_an_id_are_told_apart_by_stream_and_message() {
        let event = |id: &str, stream: &str, message: &str| Event {
            timestamp: 1,
            tag: "Default".into(),
            id: id.into(),
            group: "g".into(),
            stream: stream.into(),
            message: message.into(),
        };
        assert_eq!(event("e1", "s", "START").key(), "e1");
        let keys: BTreeSet<String> = [
            event("", "s1", "START RequestId: a"),
            event("", "s2", "START RequestId: b"),
            event("", "s1", "END RequestId: a"),
            event("", "s1", "START RequestId: a"),
        ]
        .iter()
        .map(Event::key)
        .collect();
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn times_have_milliseconds() {
        assert_eq!(
            rfc3339_millis(1_764_725_799_740),
            "2025-12-03T01:36:39.740Z"
        );
        assert_eq!(
            rfc3339_millis(1_764_725_799_000),
            "2025-12-03T01:36:39.000Z"
        );
        assert_eq!(
            rfc3339_millis(1_764_725_799_007),
            "2025-12-03T01:36:39.007Z"
        );
    }

    #[test]
    fn durations_read_as_ago() {
        assert_eq!(human(Duration::from_secs(600)), "10m ago");
        assert_eq!(human(Duration::from_secs(7200)), "2h ago");
        assert_eq!(human(Duration::from_secs(90)), "90s ago");
    }
}

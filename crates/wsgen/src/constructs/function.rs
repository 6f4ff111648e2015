//! `RustFunction`: a Lambda function built from a Rust handler crate, with its
//! execution role, policy, log group and optional schedule.

use super::app::SynthCtx;
use super::problems::matches;
use super::table::{SubscriptionState, TableState};
use crate::assembly::{AssetEntry, LINKED_PACKAGE};
use crate::cfn::resources::{
    self as r, Code, Environment, LoggingConfig, PolicyDocument, Statement, TracingConfig,
};
use crate::cfn::{Expr, Pseudo, Resource};
use crate::fingerprint;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// The name of the S3 bucket `wsgen bootstrap` creates for assets, per account and region.
/// Templates name it with this `Fn::Sub` pattern; [`asset_bucket_name`] resolves it.
pub const ASSET_BUCKET: &str = "wsgen-assets-${AWS::AccountId}-${AWS::Region}";

/// [`ASSET_BUCKET`] in an account and region.
pub fn asset_bucket_name(account: &str, region: &str) -> String {
    ASSET_BUCKET
        .replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
}

/// Environment variables Lambda sets itself; a function may not define them.
pub const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
];

/// The CPU architecture a function runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Architecture {
    /// `x86_64` (the default: host builds on x86_64 machines need no cross toolchain).
    #[default]
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Architecture {
    /// The name Lambda uses: `x86_64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The architecture Lambda calls `name` (`x86_64` or `arm64`).
    pub fn from_name(name: &str) -> Option<Architecture> {
        match name {
            "x86_64" => Some(Architecture::X86_64),
            "arm64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// The architecture of the machine this runs on, when Lambda has it.
    pub fn host() -> Option<Architecture> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Architecture::X86_64),
            "aarch64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// The Rust target triple handlers for it are built for.
    pub fn target_triple(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long CloudWatch Logs keeps a log group's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionDays {
    OneDay,
    ThreeDays,
    FiveDays,
    OneWeek,
    TwoWeeks,
    OneMonth,
    TwoMonths,
    ThreeMonths,
    SixMonths,
    OneYear,
    TwoYears,
    FiveYears,
    TenYears,
    /// Never expire.
    Infinite,
}

impl RetentionDays {
    /// The value of `RetentionInDays`, `None` for [`RetentionDays::Infinite`].
    pub fn days(self) -> Option<u32> {
        use RetentionDays::*;
        Some(match self {
            OneDay => 1,
            ThreeDays => 3,
            FiveDays => 5,
            OneWeek => 7,
            TwoWeeks => 14,
            OneMonth => 30,
            TwoMonths => 60,
            ThreeMonths => 90,
            SixMonths => 180,
            OneYear => 365,
            TwoYears => 731,
            FiveYears => 1827,
            TenYears => 3653,
            Infinite => return None,
        })
    }
}

/// When a scheduled function runs (an EventBridge schedule expression).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule(String);

impl Schedule {
    /// `rate(N unit)` from a whole number of minutes, hours or days (at least a minute).
    pub fn rate(every: Duration) -> Schedule {
        let secs = every.as_secs();
        let (n, unit) = if secs.is_multiple_of(86_400) && secs > 0 {
            (secs / 86_400, "day")
        } else if secs.is_multiple_of(3600) && secs > 0 {
            (secs / 3600, "hour")
        } else {
            (secs / 60, "minute")
        };
        let plural = if n == 1 { "" } else { "s" };
        // A rate that is not a whole number of minutes is kept as seconds so that
        // validation can reject it by name instead of rounding silently.
        if !secs.is_multiple_of(60) || secs == 0 {
            return Schedule(format!("rate({secs} seconds)"));
        }
        Schedule(format!("rate({n} {unit}{plural})"))
    }

    /// `cron(fields)` with the six EventBridge fields, e.g. `0 12 * * ? *`.
    pub fn cron(fields: &str) -> Schedule {
        Schedule(format!("cron({fields})"))
    }

    /// A schedule expression as written, e.g. `rate(5 minutes)`.
    pub fn expression(expr: &str) -> Schedule {
        Schedule(expr.to_string())
    }

    /// The expression, e.g. `rate(1 minute)`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Why the expression is invalid, if it is.
    pub fn problem(&self) -> Option<String> {
        crate::schedule::Expression::parse(&self.0).err()
    }
}

/// A permission granted to a function's role, resolved at synthesis.
pub(crate) enum Grant {
    Table {
        table: Rc<RefCell<TableState>>,
        read: bool,
        write: bool,
    },
    /// `execute-api:ManageConnections` on an API's `@connections` with one HTTP method
    /// (`POST` sends, `GET` reads a connection, `DELETE` closes it), for one stage or all.
    Connections {
        api: String,
        stage: Option<String>,
        method: &'static str,
    },
    /// Reading a table's stream (what a subscription needs), on the stream's ARN.
    Stream { table: Rc<RefCell<TableState>> },
}

/// A Lambda function built from a Rust crate (runtime `provided.al2023`).
#[derive(Clone)]
pub struct RustFunction {
    pub(crate) inner: Rc<RefCell<FunctionState>>,
}

pub(crate) struct FunctionState {
    pub id: String,
    /// The handler crate, relative to the project directory.
    pub crate_path: String,
    /// The binary target. Default: the crate's only binary.
    pub bin: Option<String>,
    /// Memory in MB. Default: 128 (Rust handlers are small; raise it for CPU-bound work,
    /// since Lambda's CPU share grows with memory).
    pub memory: u32,
    /// Timeout in seconds. Default: 10 (API Gateway waits at most 29 s for a route's
    /// integration; a broadcast to many connections needs more than Lambda's 3 s).
    pub timeout: u64,
    /// Default: x86_64.
    pub arch: Architecture,
    pub description: Option<String>,
    pub env: BTreeMap<String, Expr>,
    /// Retention of the function's log group. Default: one month.
    pub log_retention: RetentionDays,
    /// Default: none (the account's unreserved pool).
    pub reserved_concurrency: Option<u32>,
    /// X-Ray active tracing. Default: off.
    pub tracing: bool,
    pub schedule: Option<Schedule>,
    pub grants: Vec<Grant>,
    /// The table streams the function is subscribed to ([`super::table::Table::on_change`]).
    pub stream_sources: Vec<Rc<RefCell<SubscriptionState>>>,
}

impl FunctionState {
    pub fn new(id: &str, crate_path: &str) -> FunctionState {
        FunctionState {
            id: id.to_string(),
            crate_path: crate_path.to_string(),
            bin: None,
            memory: 128,
            timeout: 10,
            arch: Architecture::default(),
            description: None,
            env: BTreeMap::new(),
            log_retention: RetentionDays::OneMonth,
            reserved_concurrency: None,
            tracing: false,
            schedule: None,
            grants: Vec::new(),
            stream_sources: Vec::new(),
        }
    }

    pub fn logical_id(&self) -> String {
        super::naming::logical_id(&[&self.id])
    }

    pub fn synth(&self, ctx: &mut SynthCtx) {
        let path = ctx.path(&[&self.id]);
        let id = self.logical_id();
        let p = &mut ctx.problems;
        if !(128..=10240).contains(&self.memory) {
            p.add(
                &path,
                "function-memory",
                format!(
                    "memory is {} MB; Lambda allows 128 to 10240 MB",
                    self.memory
                ),
                "set `.memory(mb)` between 128 and 10240",
            );
        }
        if !(1..=900).contains(&self.timeout) {
            p.add(
                &path,
                "function-timeout",
                format!(
                    "timeout is {} s; Lambda allows 1 to 900 seconds",
                    self.timeout
                ),
                "set `.timeout(..)` between 1 second and 15 minutes",
            );
        }
        if let Some(d) = &self.description {
            p.max_len(&path, "function description", d, 256);
        }
        let mut env_size = 0;
        for (k, v) in &self.env {
            env_size += k.len() + v.as_str().map_or(0, str::len);
            if !matches(
                k,
                |c| c.is_ascii_alphabetic(),
                |c| c.is_ascii_alphanumeric() || c == '_',
                1..=usize::MAX,
            ) {
                p.add(&path, "env-name", format!("environment variable name `{k}` is not valid: it must start with a letter and hold only letters, digits and underscores"), "rename the variable, e.g. `TABLE_NAME`");
            } else if RESERVED_ENV.contains(&k.as_str()) {
                p.add(
                    &path,
                    "env-reserved",
                    format!("environment variable `{k}` is reserved: Lambda sets it itself"),
                    "use another name, e.g. with your app's prefix",
                );
            }
        }
        if env_size > 4096 {
            p.add(
                &path,
                "env-size",
                format!(
                    "the environment variables take {env_size} bytes; Lambda allows 4 KB in all"
                ),
                "move large values to SSM Parameter Store or S3 and pass their names instead",
            );
        }
        if let Some(problem) = self.schedule.as_ref().and_then(Schedule::problem) {
            p.add(&path, "schedule-expression", problem, "use `Schedule::rate(Duration::from_secs(60))` or `Schedule::cron(\"0 12 * * ? *\")`");
        }

        // The handler crate and its asset: the crate's own binary, or the stack's
        // multi-call binary that the function runs as its `Handler`.
        let mut handler = "bootstrap".to_string();
        let linked = ctx
            .linked
            .get(self.arch.as_str())
            .filter(|l| {
                self.bin.is_none() && l.handlers.iter().any(|h| h.crate_path == self.crate_path)
            })
            .cloned();
        let inspected =
            fingerprint::inspect_crate(&ctx.project_dir, &self.crate_path, self.bin.as_deref());
        let key = match (inspected, linked) {
            (Ok(krate), Some(linked)) => {
                let fp = linked.fingerprint;
                let crates: Vec<&str> = linked
                    .handlers
                    .iter()
                    .map(|h| h.crate_path.as_str())
                    .collect();
                let asset = ctx.assets.entry(fp.clone()).or_insert_with(|| AssetEntry {
                    crate_path: crates.join(", "),
                    package: LINKED_PACKAGE.into(),
                    bin: "bootstrap".into(),
                    linked: linked.handlers.clone(),
                    architecture: self.arch.as_str().to_string(),
                    key: format!("{fp}.zip"),
                    functions: Vec::new(),
                    bundle: None,
                });
                asset.functions.push(path.clone());
                handler = krate.package;
                format!("{fp}.zip")
            }
            (Ok(krate), None) => {
                let fp = ctx.fingerprint(&self.crate_path, &krate.bin, self.arch.as_str());
                match fp {
                    Ok(fp) => {
                        let asset = ctx.assets.entry(fp.clone()).or_insert_with(|| AssetEntry {
                            crate_path: self.crate_path.clone(),
                            package: krate.package.clone(),
                            bin: krate.bin.clone(),
                            linked: Vec::new(),
                            architecture: self.arch.as_str().to_string(),
                            key: format!("{fp}.zip"),
                            functions: Vec::new(),
                            bundle: None,
                        });
                        asset.functions.push(path.clone());
                        format!("{fp}.zip")
                    }
                    Err(e) => {
                        ctx.problems.add(
                            &path,
                            "handler-crate-unreadable",
                            format!("cannot read handler crate `{}`: {e}", self.crate_path),
                            "check the crate's file permissions",
                        );
                        String::new()
                    }
                }
            }
            (Err(problem), _) => {
                ctx.problems
                    .add(&path, problem.rule, problem.message, problem.fix);
                String::new()
            }
        };

        // Log group, role and policy.
        let log_group_id = format!("{id}LogGroup");
        let role_id = format!("{id}Role");
        let policy_id = format!("{id}RolePolicy");
        ctx.add(
            &log_group_id,
            &format!("{path}/LogGroup"),
            Resource::new(r::LogGroup {
                log_group_name: None,
                retention_in_days: self.log_retention.days(),
                tags: r::tag_list(&ctx.tags),
            }),
        );
        let mut managed = Vec::new();
        if self.tracing {
            // X-Ray's write actions support no resource-level permissions, so the AWS
            // managed policy is used instead of a `*` statement in this template.
            managed.push(Expr::sub(
                "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess",
            ));
        }
        ctx.add(
            &role_id,
            &format!("{path}/Role"),
            Resource::new(r::Role {
                assume_role_policy_document: PolicyDocument {
                    version: "2012-10-17".into(),
                    statement: vec![Statement {
                        effect: "Allow".into(),
                        principal: Some(Expr::Map(BTreeMap::from([(
                            "Service".into(),
                            "lambda.amazonaws.com".into(),
                        )]))),
                        action: vec!["sts:AssumeRole".into()],
                        ..Default::default()
                    }],
                },
                description: None,
                managed_policy_arns: managed,
                tags: r::tag_list(&ctx.tags),
            }),
        );
        let mut statements = vec![(
            vec![Expr::get_att(&log_group_id, "Arn")],
            BTreeSet::from([
                "logs:CreateLogStream".to_string(),
                "logs:PutLogEvents".to_string(),
            ]),
        )];
        for grant in &self.grants {
            let (resources, actions) = grant.resolve();
            match statements.iter_mut().find(|(r, _)| *r == resources) {
                Some((_, a)) => a.extend(actions),
                None => statements.push((resources, actions)),
            }
        }
        ctx.add(
            &policy_id,
            &format!("{path}/Role/Policy"),
            Resource::new(r::Policy {
                policy_name: policy_id.clone(),
                policy_document: PolicyDocument {
                    version: "2012-10-17".into(),
                    statement: statements
                        .into_iter()
                        .map(|(resource, action)| Statement {
                            effect: "Allow".into(),
                            action: action.into_iter().collect(),
                            resource,
                            ..Default::default()
                        })
                        .collect(),
                },
                roles: vec![Expr::ref_(&role_id)],
            }),
        );

        let function = r::Function {
            description: self.description.clone(),
            runtime: "provided.al2023".into(),
            handler,
            architectures: vec![self.arch.as_str().into()],
            code: Code {
                s3_bucket: Expr::sub(ASSET_BUCKET),
                s3_key: Expr::Str(key),
            },
            role: Expr::get_att(&role_id, "Arn"),
            memory_size: Some(self.memory),
            timeout: Some(self.timeout as u32),
            environment: (!self.env.is_empty()).then(|| Environment {
                variables: self.env.clone(),
            }),
            logging_config: Some(LoggingConfig {
                log_group: Some(Expr::ref_(&log_group_id)),
                log_format: None,
            }),
            reserved_concurrent_executions: self.reserved_concurrency,
            tracing_config: self.tracing.then(|| TracingConfig {
                mode: "Active".into(),
            }),
            tags: r::tag_list(&ctx.tags),
        };
        let mut res = Resource::new(function).depends_on([policy_id.clone()]);
        res.metadata
            .insert("wsgen:crate".into(), self.crate_path.clone().into());
        ctx.add(&id, &path, res);

        if let Some(schedule) = &self.schedule {
            let rule_id = format!("{id}Schedule");
            ctx.add(
                &rule_id,
                &format!("{path}/Schedule"),
                Resource::new(r::Rule {
                    description: Some(format!("Runs {path} on {}", schedule.as_str())),
                    schedule_expression: schedule.as_str().to_string(),
                    state: Some("ENABLED".into()),
                    targets: vec![r::Target {
                        arn: Expr::get_att(&id, "Arn"),
                        id: "Function".into(),
                        input: None,
                    }],
                }),
            );
            ctx.add(
                &format!("{id}SchedulePermission"),
                &format!("{path}/Schedule/Permission"),
                Resource::new(r::Permission {
                    action: "lambda:InvokeFunction".into(),
                    function_name: Expr::get_att(&id, "Arn"),
                    principal: "events.amazonaws.com".into(),
                    source_arn: Some(Expr::get_att(&rule_id, "Arn")),
                    source_account: None,
                }),
            );
        }

        // Stream subscriptions: after the policy that lets the function read the
        // stream, which Lambda checks when the mapping is created.
        for source in &self.stream_sources {
            let table = source.borrow().table.borrow().logical_id();
            let mapping_path = format!("{path}/On{table}Change");
            let mapping = source.borrow().synth(ctx, &mapping_path, &id);
            ctx.add(
                &format!("{id}On{table}Change"),
                &mapping_path,
                Resource::new(mapping).depends_on([policy_id.clone()]),
            );
        }
    }
}

impl Grant {
    fn resolve(&self) -> (Vec<Expr>, BTreeSet<String>) {
        match self {
            Grant::Table { table, read, write } => {
                let t = table.borrow();
                let id = t.logical_id();
                let mut resources = vec![Expr::get_att(&id, "Arn")];
                if !t.indexes.is_empty() && *read {
                    resources.push(Expr::sub(format!("${{{id}.Arn}}/index/*")));
                }
                let mut actions = BTreeSet::new();
                if *read {
                    actions.extend(
                        [
                            "BatchGetItem",
                            "ConditionCheckItem",
                            "DescribeTable",
                            "GetItem",
                            "Query",
                            "Scan",
                        ]
                        .map(|a| format!("dynamodb:{a}")),
                    );
                }
                if *write {
                    actions.extend(
                        ["BatchWriteItem", "DeleteItem", "PutItem", "UpdateItem"]
                            .map(|a| format!("dynamodb:{a}")),
                    );
                }
                (resources, actions)
            }
            Grant::Stream { table } => (
                vec![Expr::get_att(table.borrow().logical_id(), "StreamArn")],
                [
                    "DescribeStream",
                    "GetRecords",
                    "GetShardIterator",
                    "ListStreams",
                ]
                .map(|a| format!("dynamodb:{a}"))
                .into(),
            ),
            Grant::Connections { api, stage, method } => {
                let stage = stage.as_deref().unwrap_or("*");
                (
                    vec![execute_api_arn(
                        api,
                        vec![Expr::from(format!("/{stage}/{method}/@connections/*"))],
                    )],
                    BTreeSet::from(["execute-api:ManageConnections".to_string()]),
                )
            }
        }
    }
}

/// `arn:{partition}:execute-api:{region}:{account}:{api-id}{suffix}`.
pub(crate) fn execute_api_arn(api_logical_id: &str, suffix: Vec<Expr>) -> Expr {
    let mut parts = vec![
        Expr::from("arn:"),
        Pseudo::Partition.into(),
        ":execute-api:".into(),
        Pseudo::Region.into(),
        ":".into(),
        Pseudo::AccountId.into(),
        ":".into(),
        Expr::ref_(api_logical_id),
    ];
    parts.extend(suffix);
    Expr::concat(parts)
}

impl RustFunction {
    /// The binary target to deploy, when the crate has more than one.
    pub fn bin(self, name: &str) -> Self {
        self.inner.borrow_mut().bin = Some(name.to_string());
        self
    }

    /// Memory in MB (128 to 10240). Default: 128.
    pub fn memory(self, mb: u32) -> Self {
        self.inner.borrow_mut().memory = mb;
        self
    }

    /// Timeout (1 s to 15 min, whole seconds). Default: 10 s.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.inner.borrow_mut().timeout = timeout.as_secs();
        self
    }

    /// The CPU architecture. Default: x86_64.
    pub fn arch(self, arch: Architecture) -> Self {
        self.inner.borrow_mut().arch = arch;
        self
    }

    /// The function's description.
    pub fn description(self, description: &str) -> Self {
        self.inner.borrow_mut().description = Some(description.to_string());
        self
    }

    /// An environment variable; the value can be a literal or a reference such as
    /// `table.name()` or `stage.callback_url()`.
    pub fn env(self, name: &str, value: impl Into<Expr>) -> Self {
        self.inner
            .borrow_mut()
            .env
            .insert(name.to_string(), value.into());
        self
    }

    /// How long the function's log group keeps events. Default: one month.
    pub fn log_retention(self, retention: RetentionDays) -> Self {
        self.inner.borrow_mut().log_retention = retention;
        self
    }

    /// Reserved concurrency: at most this many instances, always available.
    pub fn reserved_concurrency(self, n: u32) -> Self {
        self.inner.borrow_mut().reserved_concurrency = Some(n);
        self
    }

    /// Turns on X-Ray active tracing. Default: off.
    pub fn tracing(self, on: bool) -> Self {
        self.inner.borrow_mut().tracing = on;
        self
    }

    /// Runs the function on a schedule (an EventBridge rule).
    pub fn schedule(self, schedule: Schedule) -> Self {
        self.inner.borrow_mut().schedule = Some(schedule);
        self
    }

    /// The function's ARN.
    pub fn arn(&self) -> Expr {
        Expr::get_att(self.inner.borrow().logical_id(), "Arn")
    }

    /// The function's name.
    pub fn function_name(&self) -> Expr {
        Expr::ref_(self.inner.borrow().logical_id())
    }

    /// The logical ID of the function resource.
    pub fn logical_id(&self) -> String {
        self.inner.borrow().logical_id()
    }
}

//! `App` (one or more stacks) and `Stack` (one CloudFormation template).

use super::api::{ApiState, WebSocketApi};
use super::function::{FunctionState, RustFunction};
use super::problems::{matches, Problems, ValidationErrors};
use super::table::{Table, TableKind, TableState};
use crate::assembly::{AssetEntry, CloudAssembly, Manifest, StackEntry};
use crate::cfn::{self, Expr, Resource, Template};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The environment variable through which `wsgen synth` tells an infra program where
/// to write its cloud assembly.
pub const OUTDIR_ENV: &str = "WSGEN_OUTDIR";
/// The environment variable through which `wsgen synth` names the project directory
/// that handler crate paths are relative to.
pub const PROJECT_DIR_ENV: &str = "WSGEN_PROJECT_DIR";

/// A wsgen application: one or more stacks, synthesized together.
#[derive(Clone)]
pub struct App {
    inner: Rc<RefCell<AppState>>,
}

struct AppState {
    project_dir: PathBuf,
    stacks: Vec<Stack>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app whose handler crate paths are relative to `$WSGEN_PROJECT_DIR`, or to the
    /// current directory when that is unset.
    pub fn new() -> App {
        let dir = std::env::var_os(PROJECT_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        App::at(dir)
    }

    /// An app whose handler crate paths are relative to `project_dir`.
    pub fn at(project_dir: impl Into<PathBuf>) -> App {
        App {
            inner: Rc::new(RefCell::new(AppState {
                project_dir: project_dir.into(),
                stacks: Vec::new(),
            })),
        }
    }

    /// The directory handler crate paths are relative to.
    pub fn project_dir(&self) -> PathBuf {
        self.inner.borrow().project_dir.clone()
    }

    /// Adds a stack: one CloudFormation template, deployed as the CloudFormation stack
    /// `name`.
    pub fn stack(&self, name: &str) -> Stack {
        let stack = Stack {
            inner: Rc::new(RefCell::new(StackState::new(name))),
        };
        self.inner.borrow_mut().stacks.push(stack.clone());
        stack
    }

    /// Validates every construct and builds the templates and the manifest. Every
    /// problem in the app is reported at once.
    pub fn assemble(&self) -> Result<CloudAssembly, ValidationErrors> {
        let state = self.inner.borrow();
        let mut problems = Problems::default();
        let mut manifest = Manifest::default();
        let mut templates = BTreeMap::new();
        if state.stacks.is_empty() {
            problems.add(
                "App",
                "app-empty",
                "the app has no stacks",
                "add one with `app.stack(\"Name\")`",
            );
        }
        for stack in &state.stacks {
            let stack = stack.inner.borrow();
            if templates.contains_key(&stack.name) {
                problems.add(
                    &stack.name,
                    "stack-duplicate",
                    format!("two stacks are named `{}`", stack.name),
                    "give every stack a unique name",
                );
                continue;
            }
            let mut ctx = SynthCtx::new(&stack, &state.project_dir);
            stack.synth(&mut ctx);
            let (template, assets, mut found) = ctx.finish();
            problems.0.append(&mut found.0);
            let entry = StackEntry {
                template_file: format!("{}.template.json", stack.name),
                description: stack.description.clone(),
                tags: stack.tags.clone(),
                account: stack.account.clone(),
                region: stack.region.clone(),
                outputs: template.outputs.keys().cloned().collect(),
                assets: assets.keys().cloned().collect(),
                retained: template
                    .resources
                    .iter()
                    .filter(|(_, r)| r.deletion_policy == Some(cfn::Policy::Retain))
                    .map(|(id, _)| id.clone())
                    .collect(),
            };
            for (fp, asset) in assets {
                manifest
                    .assets
                    .entry(fp)
                    .or_insert_with(|| asset.clone())
                    .functions
                    .extend(asset.functions);
            }
            manifest.stacks.insert(stack.name.clone(), entry);
            templates.insert(stack.name.clone(), template);
        }
        for asset in manifest.assets.values_mut() {
            asset.functions.sort();
            asset.functions.dedup();
        }
        if problems.0.is_empty() {
            Ok(CloudAssembly {
                manifest,
                templates,
            })
        } else {
            Err(ValidationErrors {
                problems: problems.0,
            })
        }
    }

    /// The entry point of an infra program: assembles the app and writes the cloud
    /// assembly to `$WSGEN_OUTDIR` (or `wsgen.out`). On validation problems it prints
    /// them (or, under `wsgen synth`, hands them to wsgen) and exits with status 2;
    /// when the output cannot be written it exits with status 1.
    pub fn synth(&self) {
        let under_wsgen = std::env::var_os(OUTDIR_ENV).is_some();
        let out = std::env::var_os(OUTDIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("wsgen.out"));
        match self.assemble() {
            Ok(assembly) => {
                if let Err(e) = assembly.write_to(&out) {
                    eprintln!(
                        "error: cannot write the cloud assembly to {}: {e}",
                        out.display()
                    );
                    std::process::exit(1);
                }
                if !under_wsgen {
                    eprintln!(
                        "wrote {} stack(s) to {}",
                        assembly.templates.len(),
                        out.display()
                    );
                }
            }
            Err(problems) => {
                if under_wsgen {
                    let written = std::fs::create_dir_all(&out).and_then(|_| {
                        std::fs::write(
                            out.join(crate::assembly::PROBLEMS_FILE),
                            serde_json::to_string_pretty(&problems).expect("problems serialize"),
                        )
                    });
                    if written.is_ok() {
                        std::process::exit(2);
                    }
                }
                eprint!("error: {problems}");
                std::process::exit(2);
            }
        }
    }
}

/// One stack: a CloudFormation template and everything in it.
#[derive(Clone)]
pub struct Stack {
    pub(crate) inner: Rc<RefCell<StackState>>,
}

pub(crate) struct StackState {
    pub name: String,
    /// The template's `Description`. Default: none.
    pub description: Option<String>,
    /// Tags on the stack and on every taggable resource in it. Default: none.
    pub tags: BTreeMap<String, String>,
    /// The account to deploy to. Default: the one the credentials belong to.
    pub account: Option<String>,
    /// The region to deploy to. Default: the one configured for the credentials.
    pub region: Option<String>,
    pub functions: Vec<Rc<RefCell<FunctionState>>>,
    pub tables: Vec<Rc<RefCell<TableState>>>,
    pub apis: Vec<Rc<RefCell<ApiState>>>,
    pub outputs: Vec<Rc<RefCell<OutputState>>>,
    pub parameters: BTreeMap<String, cfn::Parameter>,
    pub conditions: BTreeMap<String, Expr>,
    /// Construct ids in declaration order, for the duplicate check.
    pub ids: Vec<String>,
}

impl StackState {
    fn new(name: &str) -> StackState {
        StackState {
            name: name.to_string(),
            description: None,
            tags: BTreeMap::new(),
            account: None,
            region: None,
            functions: Vec::new(),
            tables: Vec::new(),
            apis: Vec::new(),
            outputs: Vec::new(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            ids: Vec::new(),
        }
    }

    fn synth(&self, ctx: &mut SynthCtx) {
        let name = &self.name;
        if !matches(
            name,
            |c| c.is_ascii_alphabetic(),
            |c| c.is_ascii_alphanumeric() || c == '-',
            1..=128,
        ) {
            ctx.problems.add(
                name,
                "stack-name",
                format!("stack name `{name}` is not valid: it must start with a letter and hold only letters, digits and hyphens, at most 128 characters"),
                "rename the stack, e.g. `ChatProd`",
            );
        }
        if let Some(d) = &self.description {
            ctx.problems.max_len(name, "stack description", d, 1024);
        }
        check_tags(&mut ctx.problems, name, &self.tags);
        let mut seen = std::collections::BTreeSet::new();
        for id in &self.ids {
            if !matches(
                id,
                |c| c.is_ascii_alphabetic(),
                |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
                1..=64,
            ) {
                ctx.problems.add(
                    format!("{name}/{id}"),
                    "construct-id",
                    format!("construct id `{id}` is not valid: it must start with a letter and hold only letters, digits, `-` and `_`, at most 64 characters"),
                    "rename the construct, e.g. `OnConnect`",
                );
            }
            if !seen.insert(id) {
                ctx.problems.add(
                    format!("{name}/{id}"),
                    "construct-id-duplicate",
                    format!("two constructs in stack `{name}` have the id `{id}`"),
                    "give each construct in a stack a unique id",
                );
            }
        }
        ctx.template.description = self.description.clone();
        ctx.template.parameters = self.parameters.clone();
        ctx.template.conditions = self.conditions.clone();
        for t in &self.tables {
            t.borrow().synth(ctx);
        }
        ctx.plan_linking(&self.functions);
        for f in &self.functions {
            f.borrow().synth(ctx);
        }
        for a in &self.apis {
            a.borrow().synth(ctx);
        }
        let mut outputs = BTreeMap::new();
        for o in &self.outputs {
            let o = o.borrow();
            let path = format!("{name}/{}", o.name);
            if !matches(
                &o.name,
                |c| c.is_ascii_alphanumeric(),
                |c| c.is_ascii_alphanumeric(),
                1..=255,
            ) {
                ctx.problems.add(
                    &path,
                    "output-name",
                    format!(
                        "output name `{}` must be 1 to 255 letters and digits",
                        o.name
                    ),
                    "rename the output, e.g. `WebSocketUrl`",
                );
            }
            if let Some(d) = &o.description {
                ctx.problems.max_len(&path, "output description", d, 1024);
            }
            if let Some(Expr::Str(export)) = &o.export {
                ctx.problems.max_len(&path, "export name", export, 255);
            }
            let out = cfn::Output {
                value: o.value.clone(),
                description: o.description.clone(),
                export: o.export.clone().map(|name| cfn::Export { name }),
                condition: None,
            };
            if outputs.insert(o.name.clone(), out).is_some() {
                ctx.problems.add(
                    &path,
                    "output-duplicate",
                    format!("two outputs are named `{}`", o.name),
                    "give every output of a stack a unique name",
                );
            }
        }
        // Every stage's URLs, unless an output gives them already: deploy prints the
        // outputs, so users always see where clients connect and the @connections
        // endpoint. They never push a stack over CloudFormation's output limit.
        for a in &self.apis {
            for s in &a.borrow().stages {
                let s = s.borrow();
                for (suffix, scheme, what) in [
                    ("WebSocketUrl", "wss", "Where clients connect to"),
                    ("CallbackUrl", "https", "The @connections endpoint of"),
                ] {
                    let value = s.url(scheme);
                    let name = format!("{}{suffix}", s.base());
                    if outputs.len() >= MAX_OUTPUTS
                        || outputs.contains_key(&name)
                        || outputs.values().any(|o| o.value == value)
                    {
                        continue;
                    }
                    let description = format!("{what} {} stage {} (added by wsgen)", s.api, s.name);
                    outputs.insert(
                        name,
                        cfn::Output {
                            value,
                            description: Some(description),
                            export: None,
                            condition: None,
                        },
                    );
                }
            }
        }
        ctx.template.outputs = outputs;
    }
}

/// The most outputs CloudFormation allows in a template.
const MAX_OUTPUTS: usize = 200;

pub(crate) fn check_tags(p: &mut Problems, path: &str, tags: &BTreeMap<String, String>) {
    if tags.len() > 50 {
        p.add(
            path,
            "tags-too-many",
            format!("{} tags; the limit is 50", tags.len()),
            "remove tags until at most 50 are left",
        );
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || k.to_ascii_lowercase().starts_with("aws:") {
            p.add(
                path,
                "tag-key",
                format!("tag key `{k}` is not allowed: keys are 1 to 128 characters and may not start with `aws:`"),
                "rename the tag key",
            );
        }
        if v.chars().count() > 256 {
            p.add(
                path,
                "tag-value",
                format!("the value of tag `{k}` is over 256 characters"),
                "shorten the tag value",
            );
        }
    }
}

impl Stack {
    /// The stack's name.
    pub fn name(&self) -> String {
        self.inner.borrow().name.clone()
    }

    /// The template's description.
    pub fn description(self, description: &str) -> Self {
        self.inner.borrow_mut().description = Some(description.to_string());
        self
    }

    /// A tag on the stack and on every taggable resource in it.
    pub fn tag(self, key: &str, value: &str) -> Self {
        self.inner
            .borrow_mut()
            .tags
            .insert(key.to_string(), value.to_string());
        self
    }

    /// The account to deploy to (checked against the credentials at deploy time).
    pub fn account(self, account: &str) -> Self {
        self.inner.borrow_mut().account = Some(account.to_string());
        self
    }

    /// The region to deploy to.
    pub fn region(self, region: &str) -> Self {
        self.inner.borrow_mut().region = Some(region.to_string());
        self
    }

    pub(crate) fn register(&self, id: &str) -> String {
        let mut s = self.inner.borrow_mut();
        s.ids.push(id.to_string());
        s.name.clone()
    }

    /// A DynamoDB table for WebSocket connections: partition key `connectionId`
    /// (string), on-demand billing, encrypted, retained when the stack is deleted.
    pub fn connections_table(&self, id: &str) -> Table {
        self.add_table(id, TableKind::Connections)
    }

    /// A DynamoDB table; set its partition key with [`Table::partition_key`].
    pub fn table(&self, id: &str) -> Table {
        self.add_table(id, TableKind::Custom)
    }

    fn add_table(&self, id: &str, kind: TableKind) -> Table {
        let stack = self.register(id);
        let state = Rc::new(RefCell::new(TableState::new(&stack, id, kind)));
        self.inner.borrow_mut().tables.push(state.clone());
        Table { inner: state }
    }

    /// A Lambda function built from the Rust crate at `crate_path` (relative to the
    /// project directory). Its `bootstrap` is the crate's binary; or, when the crate's
    /// Cargo.toml names its library's entry point (`[package.metadata.wsgen] entry =
    /// "main"`, a public function taking no arguments and returning what a `main` may)
    /// and another function of the stack and architecture has such a crate, one binary
    /// linking all of them, which runs the function's crate by its `Handler` (the package
    /// name).
    pub fn rust_function(&self, id: &str, crate_path: &str) -> RustFunction {
        self.register(id);
        let state = Rc::new(RefCell::new(FunctionState::new(id, crate_path)));
        self.inner.borrow_mut().functions.push(state.clone());
        RustFunction { inner: state }
    }

    /// A WebSocket API.
    pub fn websocket_api(&self, id: &str) -> WebSocketApi {
        let stack = self.register(id);
        let state = Rc::new(RefCell::new(ApiState::new(&stack, id)));
        self.inner.borrow_mut().apis.push(state.clone());
        WebSocketApi { inner: state }
    }

    /// A stack output.
    pub fn output(&self, name: &str, value: impl Into<Expr>) -> Output {
        let state = Rc::new(RefCell::new(OutputState {
            name: name.to_string(),
            value: value.into(),
            description: None,
            export: None,
        }));
        self.inner.borrow_mut().outputs.push(state.clone());
        Output { inner: state }
    }

    /// A template parameter of type `String`; returns a reference to its value.
    pub fn parameter(&self, name: &str, default: Option<&str>, description: &str) -> Expr {
        self.inner.borrow_mut().parameters.insert(
            name.to_string(),
            cfn::Parameter {
                type_: "String".into(),
                default: default.map(str::to_string),
                description: Some(description.to_string()),
                ..Default::default()
            },
        );
        Expr::ref_(name)
    }

    /// A template condition (built from `Expr::equals` and friends); returns its name
    /// for use in `Expr::if_`.
    pub fn condition(&self, name: &str, condition: Expr) -> String {
        self.inner
            .borrow_mut()
            .conditions
            .insert(name.to_string(), condition);
        name.to_string()
    }
}

/// A stack output.
#[derive(Clone)]
pub struct Output {
    inner: Rc<RefCell<OutputState>>,
}

pub(crate) struct OutputState {
    name: String,
    value: Expr,
    description: Option<String>,
    export: Option<Expr>,
}

impl Output {
    /// The output's description.
    pub fn description(self, description: &str) -> Self {
        self.inner.borrow_mut().description = Some(description.to_string());
        self
    }

    /// Exports the output under `name` for other stacks' `Fn::ImportValue`.
    pub fn export(self, name: impl Into<Expr>) -> Self {
        self.inner.borrow_mut().export = Some(name.into());
        self
    }
}

/// The state of one stack's synthesis: its template, assets and problems.
pub(crate) struct SynthCtx {
    pub stack: String,
    pub tags: BTreeMap<String, String>,
    pub project_dir: PathBuf,
    pub template: Template,
    pub problems: Problems,
    pub assets: BTreeMap<String, AssetEntry>,
    /// Logical ID to the construct path that produced it.
    owners: BTreeMap<String, String>,
    /// Asset fingerprints by (crate, binary, architecture): functions sharing a crate
    /// hash it once.
    fingerprints: BTreeMap<(String, String, String), String>,
    /// The multi-call binary of each architecture whose functions' crates link into one
    /// ([`SynthCtx::plan_linking`]).
    pub linked: BTreeMap<String, Linked>,
}

/// The handler crates of a stack's functions of one architecture linked into one
/// binary.
#[derive(Clone, Debug)]
pub(crate) struct Linked {
    pub fingerprint: String,
    pub handlers: Vec<crate::assembly::LinkedHandler>,
}

impl SynthCtx {
    fn new(stack: &StackState, project_dir: &Path) -> SynthCtx {
        SynthCtx {
            stack: stack.name.clone(),
            tags: stack.tags.clone(),
            project_dir: project_dir.to_path_buf(),
            template: Template::new(),
            problems: Problems::default(),
            assets: BTreeMap::new(),
            owners: BTreeMap::new(),
            fingerprints: BTreeMap::new(),
            linked: BTreeMap::new(),
        }
    }

    /// Plans the multi-call binaries: per architecture, the crates of the functions
    /// that name a library entry point (`[package.metadata.wsgen] entry`) and no
    /// binary of their own choosing link into one binary, when there are two or more
    /// of them. Two crates with one package name cannot be told apart by a function's
    /// `Handler` and keep their own binaries. A crate that cannot be read is left to
    /// the function's own synthesis to report.
    pub fn plan_linking(&mut self, functions: &[Rc<RefCell<FunctionState>>]) {
        use crate::assembly::LinkedHandler;
        let mut candidates: BTreeMap<String, BTreeMap<String, (LinkedHandler, String)>> =
            BTreeMap::new();
        for f in functions {
            let f = f.borrow();
            if f.bin.is_some() {
                continue;
            }
            let Ok(krate) =
                crate::fingerprint::inspect_crate(&self.project_dir, &f.crate_path, None)
            else {
                continue;
            };
            let Some(entry) = krate.entry else { continue };
            let arch = f.arch.as_str();
            let Ok(fp) = self.fingerprint(&f.crate_path, &krate.bin, arch) else {
                continue;
            };
            candidates.entry(arch.to_string()).or_default().insert(
                f.crate_path.clone(),
                (
                    LinkedHandler {
                        package: krate.package,
                        crate_path: f.crate_path.clone(),
                        entry,
                    },
                    fp,
                ),
            );
        }
        for (arch, crates) in candidates {
            let members = crate::assembly::linkable(crates.into_values().collect(), |(h, _)| {
                h.package.as_str()
            });
            if members.is_empty() {
                continue;
            }
            let parts: Vec<(String, String, String)> = members
                .iter()
                .map(|(h, fp)| (h.package.clone(), h.entry.clone(), fp.clone()))
                .collect();
            let mut handlers: Vec<LinkedHandler> = members.iter().map(|(h, _)| h.clone()).collect();
            handlers.sort();
            self.linked.insert(
                arch.clone(),
                Linked {
                    fingerprint: crate::fingerprint::linked_fingerprint(&arch, &parts),
                    handlers,
                },
            );
        }
    }

    /// The fingerprint of the asset built from `crate_path` (see [`crate::fingerprint`]).
    pub fn fingerprint(
        &mut self,
        crate_path: &str,
        bin: &str,
        arch: &str,
    ) -> std::io::Result<String> {
        let key = (crate_path.to_string(), bin.to_string(), arch.to_string());
        if let Some(fp) = self.fingerprints.get(&key) {
            return Ok(fp.clone());
        }
        let fp = crate::fingerprint::fingerprint(&self.project_dir, crate_path, bin, arch)?;
        self.fingerprints.insert(key, fp.clone());
        Ok(fp)
    }

    /// The construct path of `id` in this stack.
    pub fn path(&self, parts: &[&str]) -> String {
        let mut p = self.stack.clone();
        for part in parts {
            p.push('/');
            p.push_str(part);
        }
        p
    }

    /// Adds a resource; a logical ID that two constructs produce is a problem.
    pub fn add(&mut self, logical_id: &str, path: &str, resource: Resource) {
        if let Some(owner) = self.owners.get(logical_id) {
            self.problems.add(
                path,
                "logical-id-collision",
                format!("`{path}` and `{owner}` both become the logical ID `{logical_id}` (IDs keep only letters and digits)"),
                "rename one of the two constructs (or route keys) so their letters and digits differ",
            );
            return;
        }
        if logical_id.len() > 255 {
            self.problems.max_len(path, "logical ID", logical_id, 255);
        }
        self.owners.insert(logical_id.to_string(), path.to_string());
        self.template
            .resources
            .insert(logical_id.to_string(), resource);
    }

    fn finish(mut self) -> (Template, BTreeMap<String, AssetEntry>, Problems) {
        let t = &self.template;
        for d in t.dangling_references() {
            let (what, fix) = if d.is_condition {
                (
                    "condition",
                    "define the condition with `stack.condition(..)` in the same stack",
                )
            } else {
                ("resource or parameter", "references across stacks are not supported: create both constructs in the same stack")
            };
            self.problems.add(
                format!("{}/{}", self.stack, d.from),
                "dangling-reference",
                format!(
                    "{} refers to {what} `{}`, which is not in stack `{}`",
                    d.from, d.target, self.stack
                ),
                fix,
            );
        }
        for (what, n, max) in [
            ("resources", t.resources.len(), 500),
            ("outputs", t.outputs.len(), MAX_OUTPUTS),
            ("parameters", t.parameters.len(), 200),
        ] {
            if n > max {
                self.problems.add(
                    &self.stack,
                    "template-limit",
                    format!("the template has {n} {what}; CloudFormation allows {max}"),
                    "split the app into more stacks",
                );
            }
        }
        (self.template, self.assets, self.problems)
    }
}

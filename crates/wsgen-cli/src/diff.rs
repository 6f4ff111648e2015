//! `wsgen diff`: the synthesized templates against the deployed ones (`GetTemplate`),
//! with IAM and permission changes in their own section.

use super::synth::synth_project;
use super::{CliError, Ui};
use crate::cloud::aws::{block_on, Aws, AwsOptions};
use crate::cloud::changes::{self, TemplateDiff};
use crate::cloud::stacks;
use crate::select::select_stacks;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    pub project: Option<PathBuf>,
    /// Stacks to compare. Default: every stack of the app.
    pub stacks: Vec<String>,
    pub aws: AwsOptions,
}

#[derive(Debug, Serialize)]
pub struct DiffResult {
    pub account: String,
    pub region: String,
    pub stacks: BTreeMap<String, StackDiff>,
}

#[derive(Debug, Serialize)]
pub struct StackDiff {
    /// Whether the stack is deployed (if not, everything is added).
    pub deployed: bool,
    #[serde(flatten)]
    pub diff: TemplateDiff,
}

impl DiffResult {
    pub fn has_differences(&self) -> bool {
        self.stacks.values().any(|s| !s.diff.is_empty())
    }

    /// The result as text, one section per stack.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, s) in &self.stacks {
            out.push_str(&format!(
                "Stack {name}{}\n",
                if s.deployed {
                    ""
                } else {
                    " (not deployed: everything is new)"
                }
            ));
            out.push_str(&s.diff.render("  "));
        }
        out
    }
}

pub fn diff(opts: &DiffOptions, ui: &Ui) -> Result<DiffResult, CliError> {
    let synthesized = synth_project(opts.project.as_deref(), ui.quiet())?;
    let assembly = synthesized.assembly;
    let names = select_stacks(&assembly, &opts.stacks)?;
    block_on(async {
        let aws = Aws::connect(&opts.aws).await?;
        let mut result = DiffResult {
            account: aws.account.clone(),
            region: aws.region.clone(),
            stacks: BTreeMap::new(),
        };
        for name in names {
            let new = serde_json::to_value(&assembly.templates[&name]).expect("json");
            let deployed = stacks::describe(&aws, &name).await?.filter(|s| {
                s.status != aws_sdk_cloudformation::types::StackStatus::ReviewInProgress
            });
            let old = match deployed {
                Some(_) => stacks::deployed_template(&aws, &name).await?,
                None => Value::Null,
            };
            let diff = changes::diff(&old, &new);
            ui.info(&format!(
                "{name}: {} in {}",
                if diff.is_empty() {
                    "no differences".to_string()
                } else {
                    format!("{} resource change(s)", diff.resources.len())
                },
                aws.place()
            ));
            result.stacks.insert(
                name,
                StackDiff {
                    deployed: !old.is_null(),
                    diff,
                },
            );
        }
        Ok(result)
    })
}

//! `wsgen destroy`: deletes stacks that wsgen deployed, after confirmation, and says
//! which resources CloudFormation kept (tables with `DeletionPolicy: Retain` keep their
//! data).

use super::synth::synth_project;
use super::{CliError, Ui};
use crate::cloud::aws::{block_on, Aws, AwsOptions};
use crate::cloud::stacks::{self, MANAGED_TAG, MANAGED_VALUE};
use crate::cloud::CloudError;
use crate::select::select_stacks;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct DestroyOptions {
    pub project: Option<PathBuf>,
    /// Stacks to destroy. Default: every stack of the project's app.
    pub stacks: Vec<String>,
    pub aws: AwsOptions,
    /// Do not ask for confirmation.
    pub yes: bool,
}

#[derive(Debug, Serialize)]
pub struct DestroyResult {
    pub account: String,
    pub region: String,
    pub stacks: BTreeMap<String, Destroyed>,
}

#[derive(Debug, Serialize)]
pub struct Destroyed {
    /// `deleted`, or `absent` when there was no such stack.
    pub outcome: &'static str,
    /// Resources CloudFormation kept, with their physical ids.
    pub retained: Vec<Retained>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Retained {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub physical_id: String,
}

pub fn destroy(opts: &DestroyOptions, ui: &Ui) -> Result<DestroyResult, CliError> {
    // Named stacks need no project (it may be gone or broken); otherwise the app's.
    let names = if opts.stacks.is_empty() {
        // Importers go before the stacks whose exports they import.
        let s = synth_project(opts.project.as_deref(), ui.quiet())?;
        let mut order = select_stacks(&s.assembly, &[])?;
        order.reverse();
        order
    } else {
        opts.stacks.clone()
    };
    block_on(async {
        let aws = Aws::connect(&opts.aws).await?;
        run(&aws, ui, &names, opts.yes).await
    })
}

pub async fn run(
    aws: &Aws,
    ui: &Ui,
    names: &[String],
    yes: bool,
) -> Result<DestroyResult, CliError> {
    let mut result = DestroyResult {
        account: aws.account.clone(),
        region: aws.region.clone(),
        stacks: BTreeMap::new(),
    };
    // Check every stack before deleting any.
    let mut found = Vec::new();
    for name in names {
        match stacks::wait_idle(aws, ui, name).await? {
            None => {
                ui.info(&format!(
                    "{name}: no such stack in {}, nothing to destroy",
                    aws.place()
                ));
                result.stacks.insert(
                    name.clone(),
                    Destroyed {
                        outcome: "absent",
                        retained: vec![],
                    },
                );
            }
            Some(s) if !s.managed_by_wsgen() => {
                return Err(CloudError::NotOurs {
                    stack: name.clone(),
                    tag: format!("{MANAGED_TAG}={MANAGED_VALUE}"),
                }
                .into())
            }
            Some(s) => found.push(s),
        }
    }
    if found.is_empty() {
        return Ok(result);
    }
    if !yes {
        let list = found
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        match ui.confirm(&format!("Delete stack{} {list} in {}?", if found.len() == 1 { "" } else { "s" }, aws.place())) {
            Some(true) => {}
            Some(false) => {
                return Err(CloudError::Declined(format!("not destroyed: {list}")).into())
            }
            None => {
                return Err(CloudError::ApprovalRequired(format!(
                    "destroying {list} in {} needs confirmation, and this is not an interactive terminal: pass --yes",
                    aws.place()
                ))
                .into())
            }
        }
    }
    for s in found {
        let physical = stacks::physical_ids(aws, &s.name).await?;
        let retained = retained_resources(aws, &s.name, &physical).await?;
        let count = physical.len() as u64;
        stacks::delete_stack(aws, ui, &s, count).await?;
        ui.done(&format!("{}: destroyed", s.name));
        for r in &retained {
            ui.note(&format!(
                "{}: kept {} {} ({}) with its data (DeletionPolicy Retain); delete it yourself when it is no longer needed",
                s.name, r.resource_type, r.logical_id, r.physical_id
            ));
        }
        result.stacks.insert(
            s.name.clone(),
            Destroyed {
                outcome: "deleted",
                retained,
            },
        );
    }
    Ok(result)
}

/// The stack's resources whose deletion policy keeps them.
async fn retained_resources(
    aws: &Aws,
    stack: &str,
    physical: &BTreeMap<String, String>,
) -> Result<Vec<Retained>, CliError> {
    let template = stacks::deployed_template(aws, stack).await?;
    let mut kept: Vec<(String, String)> = template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, r)| {
            matches!(
                r.get("DeletionPolicy").and_then(Value::as_str),
                Some("Retain" | "RetainExceptOnCreate" | "Snapshot")
            )
        })
        .map(|(id, r)| {
            (
                id.clone(),
                r.get("Type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    kept.sort();
    Ok(kept
        .into_iter()
        .map(|(logical_id, resource_type)| Retained {
            physical_id: physical.get(&logical_id).cloned().unwrap_or_default(),
            logical_id,
            resource_type,
        })
        .collect())
}

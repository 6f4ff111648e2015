//! Which stacks of an assembly a command acts on, and in what order: a stack that
//! imports another's exports (`Fn::ImportValue`) comes after it.

use crate::project::ProjectError;
use std::collections::{BTreeMap, BTreeSet};
use wsgen::assembly::CloudAssembly;
use wsgen::cfn::Resource;

/// The stacks named (all when none are), checked against the assembly, in the order
/// to deploy them (see [`deploy_order`]).
pub fn select_stacks(
    assembly: &CloudAssembly,
    wanted: &[String],
) -> Result<Vec<String>, ProjectError> {
    deploy_order(&prerequisites(assembly), &known_stacks(assembly, wanted)?)
}

/// The stacks named (all when none are), checked against the assembly.
pub fn known_stacks(
    assembly: &CloudAssembly,
    wanted: &[String],
) -> Result<Vec<String>, ProjectError> {
    let known: Vec<String> = assembly.templates.keys().cloned().collect();
    if wanted.is_empty() {
        return Ok(known);
    }
    for w in wanted {
        if !known.contains(w) {
            return Err(ProjectError::UnknownStack {
                name: w.clone(),
                known: known.join(", "),
            });
        }
    }
    Ok(wanted.to_vec())
}

/// Each stack of an assembly with its prerequisites: the other stacks whose exports it
/// imports.
pub type Prerequisites = BTreeMap<String, BTreeSet<String>>;

/// The prerequisites of every stack (`Fn::ImportValue` of a literal name that another
/// stack's outputs export).
pub fn prerequisites(assembly: &CloudAssembly) -> Prerequisites {
    let mut exporter: BTreeMap<&str, &String> = BTreeMap::new();
    for (name, t) in &assembly.templates {
        for output in t.outputs.values() {
            if let Some(export) = output.export.as_ref().and_then(|e| e.name.as_str()) {
                exporter.insert(export, name);
            }
        }
    }
    assembly
        .templates
        .iter()
        .map(|(name, t)| {
            let imports = t
                .resources
                .values()
                .filter_map(Resource::properties)
                .chain(t.outputs.values().map(|o| o.value.clone()))
                .chain(t.conditions.values().cloned())
                .flat_map(|e| e.imports());
            let deps = imports
                .filter_map(|i| exporter.get(i.as_str()).copied())
                .filter(|d| *d != name)
                .cloned()
                .collect();
            (name.clone(), deps)
        })
        .collect()
}

/// `names` and, transitively, the stacks they import from: what `wsgen deploy STACK`
/// deploys unless `--exclusively` (as `cdk deploy` does).
pub fn with_prerequisites(needs: &Prerequisites, names: &[String]) -> Vec<String> {
    let mut all: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if all.insert(n.clone()) {
            todo.extend(needs.get(&n).into_iter().flatten().cloned());
        }
    }
    all.into_iter().collect()
}

/// `names` in the order CloudFormation can deploy them: a stack that imports an export
/// of another comes after it; otherwise by name. Destroy goes in the reverse order. Two
/// stacks that import from each other cannot be deployed at all: that is an error.
pub fn deploy_order(all: &Prerequisites, names: &[String]) -> Result<Vec<String>, ProjectError> {
    let mut needs: BTreeMap<&String, BTreeSet<&String>> = names
        .iter()
        .map(|n| {
            let deps = all
                .get(n)
                .into_iter()
                .flatten()
                .filter(|d| names.contains(d))
                .collect();
            (n, deps)
        })
        .collect();
    let mut order = Vec::with_capacity(names.len());
    while !needs.is_empty() {
        let ready: Vec<&String> = needs
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let cycle: Vec<&str> = needs.keys().map(|n| n.as_str()).collect();
            return Err(ProjectError::ImportCycle(cycle.join(", ")));
        }
        for n in ready {
            needs.remove(n);
            for deps in needs.values_mut() {
                deps.remove(n);
            }
            order.push(n.clone());
        }
    }
    Ok(order)
}

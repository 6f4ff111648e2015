//! Which stacks of an assembly a command acts on, and in what order: a stack that
//! imports another's exports (`Fn::ImportValue`) comes after it.

use crate::project::ProjectError;
use std::collections::{BTreeMap, BTreeSet};
use wsgen::assembly::CloudAssembly;
use wsgen::cfn::Resource;

/// Why a command that acts on one stack could not take the project's only one.
#[derive(Debug)]
pub enum NoOnlyStack {
    /// `wsgen.out/` holds no assembly: the project has not been synthesized.
    NotSynthesized,
    /// The app has these stacks (none, or several): one must be named.
    Stacks(Vec<String>),
}

/// The project's only stack, from its last synth (in `out`).
pub fn only_stack(out: &std::path::Path) -> Result<String, NoOnlyStack> {
    let assembly = CloudAssembly::read_from(out).map_err(|_| NoOnlyStack::NotSynthesized)?;
    let mut names: Vec<String> = assembly.templates.into_keys().collect();
    match names.len() {
        1 => Ok(names.remove(0)),
        _ => Err(NoOnlyStack::Stacks(names)),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use wsgen::cfn::Expr;
    use wsgen::{App, AttributeType};

    /// An app whose stacks export `exports` and import `imports` (by stack).
    fn app(stacks: &[(&str, &[&str], &[&str])]) -> CloudAssembly {
        let app = App::at(std::env::temp_dir());
        for (name, exports, imports) in stacks {
            let stack = app.stack(name);
            stack.table("T").partition_key("id", AttributeType::String);
            for e in *exports {
                stack
                    .output(&format!("Out{}", e.replace('-', "")), "v")
                    .export(*e);
            }
            for i in *imports {
                let import = Expr::ImportValue(Box::new(Expr::from(*i)));
                stack.output(&format!("In{}", i.replace('-', "")), import);
            }
        }
        app.assemble().expect("a valid app")
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn importers_deploy_after_exporters_and_others_by_name() {
        let a = app(&[
            ("Api", &[], &["Zeta-Table"]),
            ("Mid", &[], &["Elsewhere"]),
            ("Zeta", &["Zeta-Table"], &[]),
        ]);
        let all = names(&["Api", "Mid", "Zeta"]);
        assert_eq!(
            deploy_order(&prerequisites(&a), &all).unwrap(),
            names(&["Mid", "Zeta", "Api"])
        );
        assert_eq!(
            select_stacks(&a, &[]).unwrap(),
            names(&["Mid", "Zeta", "Api"])
        );
        // Only the stacks named, still in order.
        assert_eq!(
            select_stacks(&a, &names(&["Api", "Zeta"])).unwrap(),
            names(&["Zeta", "Api"])
        );
        // Deploying Api alone needs Zeta (unless --exclusively); Mid needs nothing.
        assert_eq!(
            with_prerequisites(&prerequisites(&a), &names(&["Api"])),
            names(&["Api", "Zeta"])
        );
        assert_eq!(
            with_prerequisites(&prerequisites(&a), &names(&["Mid"])),
            names(&["Mid"])
        );
    }

    #[test]
    fn stacks_that_import_from_each_other_are_an_error() {
        let a = app(&[("A", &["A-Out"], &["B-Out"]), ("B", &["B-Out"], &["A-Out"])]);
        let e = deploy_order(&prerequisites(&a), &names(&["A", "B"])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("stacks A, B import each other's exports"),
            "{e}"
        );
    }
}

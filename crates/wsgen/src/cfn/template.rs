//! The template: parameters, conditions, resources with their attributes, and outputs.

use super::resources::{omit, ResourceKind};
use super::Expr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The template format version wsgen writes.
pub const FORMAT_VERSION: &str = "2010-09-09";

/// A CloudFormation template. Maps are ordered, so the same template always serializes
/// to the same bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: String,
    #[serde(default, skip_serializing_if = "omit")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "omit")]
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(default, skip_serializing_if = "omit")]
    pub conditions: BTreeMap<String, Expr>,
    pub resources: BTreeMap<String, Resource>,
    #[serde(default, skip_serializing_if = "omit")]
    pub outputs: BTreeMap<String, Output>,
}

/// What CloudFormation does with a resource's physical resource when the resource is
/// removed from the stack (`DeletionPolicy`) or replaced (`UpdateReplacePolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    Delete,
    Retain,
    Snapshot,
    RetainExceptOnCreate,
}

/// A resource with its attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(flatten)]
    pub kind: ResourceKind,
    #[serde(default, skip_serializing_if = "omit")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub deletion_policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "omit")]
    pub update_replace_policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "omit")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl Resource {
    pub fn new(kind: impl Into<ResourceKind>) -> Resource {
        Resource {
            kind: kind.into(),
            depends_on: Vec::new(),
            condition: None,
            deletion_policy: None,
            update_replace_policy: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Adds `DependsOn` entries (kept sorted and unique).
    pub fn depends_on(mut self, ids: impl IntoIterator<Item = String>) -> Resource {
        self.depends_on.extend(ids);
        self.depends_on.sort();
        self.depends_on.dedup();
        self
    }

    /// Sets both `DeletionPolicy` and `UpdateReplacePolicy`.
    pub fn removal(mut self, policy: Policy) -> Resource {
        self.deletion_policy = Some(policy);
        self.update_replace_policy = Some(policy);
        self
    }

    /// The properties as one value (for walking their intrinsics).
    pub fn properties(&self) -> Option<Expr> {
        let value = serde_json::to_value(&self.kind).expect("resources serialize");
        value
            .get("Properties")
            .and_then(|p| Expr::from_json(p).ok())
    }
}

/// A template parameter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "omit")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub allowed_values: Vec<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub allowed_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub no_echo: Option<bool>,
}

/// A stack output, optionally exported for other stacks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub value: Expr,
    #[serde(default, skip_serializing_if = "omit")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "omit")]
    pub export: Option<Export>,
    #[serde(default, skip_serializing_if = "omit")]
    pub condition: Option<String>,
}

/// The exported name of an output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Export {
    pub name: Expr,
}

/// A reference in a template that points nowhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DanglingReference {
    /// Where the reference is: `Resources/X`, `Outputs/Y` or `Conditions/Z`.
    pub from: String,
    /// The missing logical ID or condition name.
    pub target: String,
    /// Whether the missing name is a condition.
    pub is_condition: bool,
}

impl Template {
    pub fn new() -> Template {
        Template {
            format_version: FORMAT_VERSION.to_string(),
            ..Template::default()
        }
    }

    /// The template as pretty JSON with a trailing newline: the bytes wsgen writes.
    pub fn to_json_string(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("templates serialize");
        s.push('\n');
        s
    }

    /// The S3 key of function `logical_id`'s code zip, when the template names it
    /// literally (as wsgen writes it).
    pub fn code_key(&self, logical_id: &str) -> Option<&str> {
        match &self.resources.get(logical_id)?.kind {
            ResourceKind::Function(f) => match &f.code.s3_key {
                Expr::Str(key) => Some(key),
                _ => None,
            },
            _ => None,
        }
    }

    /// References to resources, parameters or conditions the template does not define.
    pub fn dangling_references(&self) -> Vec<DanglingReference> {
        let mut out = Vec::new();
        let known = |id: &str| self.resources.contains_key(id) || self.parameters.contains_key(id);
        let mut check = |from: String, refs: Vec<String>, conds: Vec<String>| {
            for r in refs {
                if !known(&r) {
                    out.push(DanglingReference {
                        from: from.clone(),
                        target: r,
                        is_condition: false,
                    });
                }
            }
            for c in conds {
                if !self.conditions.contains_key(&c) {
                    out.push(DanglingReference {
                        from: from.clone(),
                        target: c,
                        is_condition: true,
                    });
                }
            }
        };
        for (id, r) in &self.resources {
            let props = r.properties();
            let mut refs = props.as_ref().map(Expr::references).unwrap_or_default();
            refs.extend(r.depends_on.iter().cloned());
            let conds = props.as_ref().map(Expr::conditions).unwrap_or_default();
            check(
                format!("Resources/{id}"),
                refs,
                conds.into_iter().chain(r.condition.clone()).collect(),
            );
        }
        for (id, o) in &self.outputs {
            check(
                format!("Outputs/{id}"),
                o.value.references(),
                o.value
                    .conditions()
                    .into_iter()
                    .chain(o.condition.clone())
                    .collect(),
            );
        }
        for (id, c) in &self.conditions {
            check(format!("Conditions/{id}"), c.references(), c.conditions());
        }
        out
    }
}

//! What changes between a deployed template and a new one: resources added, removed
//! and modified (with the changed properties and whether they force a replacement),
//! outputs, and the security-relevant changes (IAM statements, Lambda permissions,
//! route authorization) that `wsgen diff` lists apart and `wsgen deploy` asks about.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use wsgen::cfn::{types, Expr, Resolve};

/// The difference of two templates.
#[derive(Debug, Default, Serialize)]
pub struct TemplateDiff {
    pub resources: Vec<ResourceDiff>,
    pub outputs: Vec<OutputDiff>,
    pub security: Vec<SecurityChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Modified,
}

impl Change {
    fn sign(self) -> &'static str {
        match self {
            Change::Added => "+",
            Change::Removed => "-",
            Change::Modified => "~",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ResourceDiff {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub change: Change,
    /// Whether CloudFormation will replace the resource (a new physical resource).
    pub replacement: bool,
    /// Changed properties (and attributes such as DeletionPolicy), deepest path first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyDiff>,
}

#[derive(Debug, Serialize)]
pub struct PropertyDiff {
    /// `Properties.Code.S3Key`, `DeletionPolicy`, ...
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// This property cannot change in place.
    pub replaces: bool,
}

#[derive(Debug, Serialize)]
pub struct OutputDiff {
    pub name: String,
    pub change: Change,
}

/// A change to who may do what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecurityChange {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Grants more than before (new or widened statements, new permissions,
    /// authorization removed).
    pub broadening: bool,
    pub change: String,
}

impl TemplateDiff {
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.outputs.is_empty() && self.security.is_empty()
    }

    pub fn broadening(&self) -> impl Iterator<Item = &SecurityChange> {
        self.security.iter().filter(|s| s.broadening)
    }

    /// The functions whose only changes are their code (`Properties.Code`), when
    /// nothing else in the templates differs: what `--hotswap` can update directly.
    pub fn code_only_functions(&self) -> Option<Vec<&str>> {
        if self.resources.is_empty() || !self.outputs.is_empty() || !self.security.is_empty() {
            return None;
        }
        self.resources
            .iter()
            .map(|r| {
                let code_only = r.change == Change::Modified
                    && r.resource_type == types::FUNCTION
                    && r.properties
                        .iter()
                        .all(|p| p.path.starts_with("Properties.Code"));
                code_only.then_some(r.logical_id.as_str())
            })
            .collect()
    }

    /// The IAM and permission section alone (empty when there are no such changes).
    pub fn render_security(&self, indent: &str) -> String {
        if self.security.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "{indent}IAM and permission changes ({} broadening):\n",
            self.broadening().count()
        );
        for s in &self.security {
            out.push_str(&format!(
                "{indent}  {} {} ({}): {}\n",
                if s.broadening { "+" } else { "-" },
                s.logical_id,
                s.resource_type,
                s.change
            ));
        }
        out
    }

    /// The diff as text for a terminal, each line prefixed by `indent`.
    pub fn render(&self, indent: &str) -> String {
        let mut out = String::new();
        if self.is_empty() {
            out.push_str(&format!("{indent}no differences\n"));
            return out;
        }
        out.push_str(&self.render_security(indent));
        if !self.resources.is_empty() {
            out.push_str(&format!("{indent}Resources:\n"));
            for r in &self.resources {
                out.push_str(&format!(
                    "{indent}  [{}] {} {}{}\n",
                    r.change.sign(),
                    r.resource_type,
                    r.logical_id,
                    if r.replacement && r.change == Change::Modified {
                        "  (replacement: a new resource replaces it)"
                    } else {
                        ""
                    }
                ));
                for p in &r.properties {
                    out.push_str(&format!(
                        "{indent}      {}: {} -> {}{}\n",
                        p.path,
                        p.old.as_ref().map_or("(none)".into(), short),
                        p.new.as_ref().map_or("(none)".into(), short),
                        if p.replaces {
                            "  (requires replacement)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        if !self.outputs.is_empty() {
            out.push_str(&format!("{indent}Outputs:\n"));
            for o in &self.outputs {
                out.push_str(&format!("{indent}  [{}] {}\n", o.change.sign(), o.name));
            }
        }
        out
    }
}

/// A value on one line, at most 100 characters.
fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(m)
            if m.len() == 1 && m.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) =>
        {
            render_expr(v)
        }
        other => other.to_string(),
    };
    if s.chars().count() > 100 {
        format!("{}...", s.chars().take(97).collect::<String>())
    } else {
        s
    }
}

/// An intrinsic in the `${Logical.Attr}` notation of Fn::Sub, for reading.
pub fn render_expr(v: &Value) -> String {
    match Expr::from_json(v) {
        Ok(e) => e.evaluate(&Notation),
        Err(_) => v.to_string(),
    }
}

/// References as `${Name}` and `${Logical.Attr}`, lists as `a, b`.
struct Notation;

impl Resolve for Notation {
    fn reference(&self, name: &str) -> String {
        format!("${{{name}}}")
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> String {
        format!("${{{logical_id}.{attribute}}}")
    }

    fn escape(&self, literal: &str) -> String {
        format!("${{!{literal}}}")
    }

    fn other(&self, value: &Expr) -> String {
        match value {
            Expr::List(items) => items
                .iter()
                .map(|e| e.evaluate(self))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_json().to_string(),
        }
    }
}

/// Compares two templates (JSON values; `old` is `Value::Null` for a new stack).
pub fn diff(old: &Value, new: &Value) -> TemplateDiff {
    let empty = Map::new();
    let section = |t: &'_ Value, name: &str| -> Map<String, Value> {
        t.get(name)
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .clone()
    };
    let (old_res, new_res) = (section(old, "Resources"), section(new, "Resources"));
    let ids: BTreeSet<&String> = old_res.keys().chain(new_res.keys()).collect();
    let mut resources = Vec::new();
    for id in ids {
        let ty = |r: &Value| {
            r.get("Type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        match (old_res.get(id), new_res.get(id)) {
            (None, Some(n)) => resources.push(ResourceDiff {
                logical_id: id.clone(),
                resource_type: ty(n),
                change: Change::Added,
                replacement: false,
                properties: vec![],
            }),
            (Some(o), None) => resources.push(ResourceDiff {
                logical_id: id.clone(),
                resource_type: ty(o),
                change: Change::Removed,
                replacement: false,
                properties: vec![],
            }),
            (Some(o), Some(n)) if o != n => {
                let resource_type = ty(n);
                let mut properties = Vec::new();
                let type_changed = ty(o) != resource_type;
                if type_changed {
                    properties.push(PropertyDiff {
                        path: "Type".into(),
                        old: Some(Value::String(ty(o))),
                        new: Some(Value::String(resource_type.clone())),
                        replaces: true,
                    });
                }
                for attr in [
                    "Properties",
                    "DependsOn",
                    "DeletionPolicy",
                    "UpdateReplacePolicy",
                    "Condition",
                    "Metadata",
                ] {
                    compare(attr, o.get(attr), n.get(attr), &mut properties);
                }
                for p in &mut properties {
                    if let Some(top) = p.path.strip_prefix("Properties.") {
                        let top = top.split('.').next().unwrap_or(top);
                        p.replaces = replaces(&resource_type, top);
                    }
                }
                let replacement = properties.iter().any(|p| p.replaces);
                resources.push(ResourceDiff {
                    logical_id: id.clone(),
                    resource_type,
                    change: Change::Modified,
                    replacement,
                    properties,
                });
            }
            _ => {}
        }
    }

    let (old_out, new_out) = (section(old, "Outputs"), section(new, "Outputs"));
    let names: BTreeSet<&String> = old_out.keys().chain(new_out.keys()).collect();
    let outputs = names
        .into_iter()
        .filter_map(|name| {
            let change = match (old_out.get(name), new_out.get(name)) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(o), Some(n)) if o != n => Change::Modified,
                _ => return None,
            };
            Some(OutputDiff {
                name: name.clone(),
                change,
            })
        })
        .collect();

    let before = grants(&old_res);
    let after = grants(&new_res);
    let mut security = group(after.difference(&before), "added", |allows| allows);
    // Removing a Deny widens access.
    security.extend(group(before.difference(&after), "removed", |allows| {
        !allows
    }));
    for (id, r) in &new_res {
        if r.get("Type").and_then(Value::as_str) != Some(types::ROUTE) {
            continue;
        }
        let auth = |r: &Value| {
            r.pointer("/Properties/AuthorizationType")
                .and_then(Value::as_str)
                .unwrap_or("NONE")
                .to_string()
        };
        if let Some(o) = old_res.get(id) {
            let (was, is) = (auth(o), auth(r));
            if was != "NONE" && is == "NONE" {
                security.push(SecurityChange {
                    logical_id: id.clone(),
                    resource_type: types::ROUTE.into(),
                    broadening: true,
                    change: format!(
                        "authorization removed from route {} (was {was})",
                        render_expr(r.pointer("/Properties/RouteKey").unwrap_or(&Value::Null))
                    ),
                });
            }
        }
    }
    security.sort();
    TemplateDiff {
        resources,
        outputs,
        security,
    }
}

/// Records the differences of `old` and `new` at `path`, descending into objects.
fn compare(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<PropertyDiff>) {
    if old == new {
        return;
    }
    if let (Some(Value::Object(o)), Some(Value::Object(n))) = (old, new) {
        // Intrinsic functions are compared whole.
        let intrinsic = |m: &Map<String, Value>| {
            m.len() == 1 && m.keys().all(|k| k == "Ref" || k.starts_with("Fn::"))
        };
        if !intrinsic(o) && !intrinsic(n) {
            let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in keys {
                compare(&format!("{path}.{k}"), o.get(k), n.get(k), out);
            }
            return;
        }
    }
    out.push(PropertyDiff {
        path: path.to_string(),
        old: old.cloned(),
        new: new.cloned(),
        replaces: false,
    });
}

/// Properties whose change makes CloudFormation replace the resource (from the
/// resource type references' "Update requires: Replacement"), for the types wsgen
/// synthesizes.
fn replaces(resource_type: &str, property: &str) -> bool {
    let props: &[&str] = match resource_type {
        types::API => &["ProtocolType"],
        types::ROUTE | types::INTEGRATION | types::AUTHORIZER | types::DEPLOYMENT => &["ApiId"],
        types::ROUTE_RESPONSE => &["ApiId", "RouteId"],
        types::MODEL => &["ApiId"],
        types::INTEGRATION_RESPONSE => &["ApiId", "IntegrationId"],
        types::STAGE => &["ApiId", "StageName"],
        types::DOMAIN_NAME => &["DomainName"],
        types::API_MAPPING => &["DomainName"],
        types::FUNCTION => &["FunctionName", "PackageType"],
        types::PERMISSION => &[
            "Action",
            "EventSourceToken",
            "FunctionName",
            "FunctionUrlAuthType",
            "Principal",
            "PrincipalOrgID",
            "SourceAccount",
            "SourceArn",
        ],
        types::ROLE => &["Path", "RoleName"],
        types::POLICY => &[],
        types::TABLE => &["TableName", "KeySchema", "LocalSecondaryIndexes"],
        types::LOG_GROUP => &["LogGroupName"],
        types::RULE => &["Name", "EventBusName"],
        types::BUCKET => &["BucketName"],
        _ => &[],
    };
    props.contains(&property)
}

/// One thing a template allows (or denies): an action of an IAM policy statement, or a
/// Lambda permission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    logical_id: String,
    resource_type: String,
    allows: bool,
    /// What the action applies to (and by whom, and when).
    target: String,
    action: String,
}

/// Grants added or removed, one change per resource, effect and target with the
/// actions listed together; `broadening` tells from the effect (Allow) whether the
/// change widens access.
fn group<'a>(
    grants: impl Iterator<Item = &'a Grant>,
    what: &str,
    broadening: impl Fn(bool) -> bool,
) -> Vec<SecurityChange> {
    let mut grouped: std::collections::BTreeMap<(&str, &str, bool, &str), Vec<&str>> =
        Default::default();
    for g in grants {
        grouped
            .entry((&g.logical_id, &g.resource_type, g.allows, &g.target))
            .or_default()
            .push(&g.action);
    }
    grouped
        .into_iter()
        .map(|((id, ty, allows, target), actions)| SecurityChange {
            logical_id: id.to_string(),
            resource_type: ty.to_string(),
            broadening: broadening(allows),
            change: format!(
                "{what}: {}{} {target}",
                match (ty, allows) {
                    (types::PERMISSION, _) => "",
                    (_, true) => "Allow ",
                    (_, false) => "Deny ",
                },
                actions.join(", ")
            )
            .trim_end()
            .to_string(),
        })
        .collect()
}

fn grants(resources: &Map<String, Value>) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for (id, r) in resources {
        let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
        let props = r.get("Properties").unwrap_or(&Value::Null);
        let mut docs: Vec<(&str, &Value)> = Vec::new();
        match ty {
            types::ROLE => {
                if let Some(d) = props.get("AssumeRolePolicyDocument") {
                    docs.push(("trust", d));
                }
                for p in props
                    .get("Policies")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(d) = p.get("PolicyDocument") {
                        docs.push(("policy", d));
                    }
                }
                for arn in props
                    .get("ManagedPolicyArns")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.insert(Grant {
                        logical_id: id.clone(),
                        resource_type: ty.into(),
                        allows: true,
                        target: String::new(),
                        action: format!("managed policy {}", render_expr(arn)),
                    });
                }
            }
            types::POLICY | types::MANAGED_POLICY => {
                if let Some(d) = props.get("PolicyDocument") {
                    docs.push(("policy", d));
                }
            }
            types::PERMISSION => {
                let field = |k: &str| props.get(k).map(render_expr).unwrap_or_default();
                let mut target = format!("on {} for {}", field("FunctionName"), field("Principal"));
                if props.get("SourceArn").is_some() {
                    target.push_str(&format!(" from {}", field("SourceArn")));
                }
                out.insert(Grant {
                    logical_id: id.clone(),
                    resource_type: ty.into(),
                    allows: true,
                    target,
                    action: field("Action"),
                });
            }
            _ => {}
        }
        for (kind, doc) in docs {
            let statements = match doc.get("Statement") {
                Some(Value::Array(a)) => a.clone(),
                Some(one) => vec![one.clone()],
                None => vec![],
            };
            for s in statements {
                let allows = s.get("Effect").and_then(Value::as_str) != Some("Deny");
                let list = |k: &str| -> Vec<String> {
                    match s.get(k) {
                        Some(Value::Array(a)) => a.iter().map(render_expr).collect(),
                        Some(v) => vec![render_expr(v)],
                        None => vec![],
                    }
                };
                let mut target = if kind == "trust" {
                    format!(
                        "by {}",
                        s.get("Principal").map(render_expr).unwrap_or_default()
                    )
                } else {
                    format!("on {}", list("Resource").join(", "))
                };
                if let Some(c) = s.get("Condition") {
                    target.push_str(&format!(" when {c}"));
                }
                for action in list("Action") {
                    out.insert(Grant {
                        logical_id: id.clone(),
                        resource_type: ty.into(),
                        allows,
                        target: target.clone(),
                        action,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(resources: Value) -> Value {
        json!({ "Resources": resources })
    }

    #[test]
    fn a_new_statement_broadens_and_a_removed_one_does_not() {
        let old = template(
            json!({"P": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": {"Fn::GetAtt": ["T", "Arn"]}}
            ]}}}}),
        );
        let new = template(
            json!({"P": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Scan"], "Resource": {"Fn::GetAtt": ["T", "Arn"]}}
            ]}}}}),
        );
        let d = diff(&old, &new);
        let s: Vec<(bool, &str)> = d
            .security
            .iter()
            .map(|s| (s.broadening, s.change.as_str()))
            .collect();
        assert_eq!(
            s,
            [
                (false, "removed: Allow dynamodb:PutItem on ${T.Arn}"),
                (true, "added: Allow dynamodb:Scan on ${T.Arn}"),
            ]
        );
        assert_eq!(d.resources.len(), 1);
        assert!(!d.resources[0].replacement);
    }

    #[test]
    fn permissions_and_route_authorization() {
        let old = template(json!({
            "R": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"ApiId": {"Ref": "A"}, "RouteKey": "$connect", "AuthorizationType": "CUSTOM"}}
        }));
        let new = template(json!({
            "R": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"ApiId": {"Ref": "A"}, "RouteKey": "$connect", "AuthorizationType": "NONE"}},
            "Perm": {"Type": "AWS::Lambda::Permission", "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Fn::GetAtt": ["F", "Arn"]}, "Principal": "apigateway.amazonaws.com",
                "SourceArn": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "A"}, "/*/$connect"]]}}}
        }));
        let d = diff(&old, &new);
        assert_eq!(d.broadening().count(), 2);
        assert_eq!(d.security[0].change, "added: lambda:InvokeFunction on ${F.Arn} for apigateway.amazonaws.com from arn:${AWS::Partition}:execute-api:${A}/*/$connect");
        assert_eq!(
            d.security[1].change,
            "authorization removed from route $connect (was CUSTOM)"
        );
    }

    #[test]
    fn replacement_and_code_only_changes() {
        let f = |key: &str, mem: u32| json!({"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Bucket": "b", "S3Key": key}, "MemorySize": mem}});
        let t = |key_schema: &str| json!({"Type": "AWS::DynamoDB::Table", "Properties": {"KeySchema": [{"AttributeName": key_schema, "KeyType": "HASH"}]}});
        let old = template(json!({"F": f("a.zip", 128), "T": t("id")}));
        let code = template(json!({"F": f("b.zip", 128), "T": t("id")}));
        let d = diff(&old, &code);
        assert_eq!(d.code_only_functions(), Some(vec!["F"]));
        assert_eq!(d.resources[0].properties[0].path, "Properties.Code.S3Key");

        let more = template(json!({"F": f("b.zip", 256), "T": t("pk")}));
        let d = diff(&old, &more);
        assert_eq!(d.code_only_functions(), None);
        assert!(!d.resources[0].replacement);
        assert!(d.resources[1].replacement);
        assert!(d.render("").contains("Properties.KeySchema: [{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}] -> [{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}]  (requires replacement)"));
        assert!(diff(&old, &old).is_empty());
        assert_eq!(diff(&Value::Null, &old).resources.len(), 2);
    }
}

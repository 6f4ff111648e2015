//! Helpers: fixture paths, a template-assertion helper with partial matching, and
//! cfn-lint.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use wsgen::cfn::Template;

/// The workspace's root (the tests belong to crates/wsgen-cli).
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("the workspace's root")
}

/// The wsgen library crate, which fixture projects depend on by path.
pub fn library() -> PathBuf {
    repo().join("crates/wsgen")
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// Assertions on a synthesized template.
pub struct Assert {
    json: Value,
}

impl Assert {
    pub fn new(template: &Template) -> Assert {
        Assert {
            json: serde_json::to_value(template).unwrap(),
        }
    }

    pub fn resources(&self) -> &serde_json::Map<String, Value> {
        self.json["Resources"].as_object().unwrap()
    }

    /// The resources of `type_` as (logical ID, resource).
    pub fn of_type(&self, type_: &str) -> Vec<(&String, &Value)> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == type_)
            .collect()
    }

    pub fn count(&self, type_: &str, n: usize) -> &Self {
        let found = self.of_type(type_);
        assert_eq!(
            found.len(),
            n,
            "{type_}: {:?}",
            found.iter().map(|(id, _)| id).collect::<Vec<_>>()
        );
        self
    }

    /// Some resource of `type_` has properties matching `expected` (partially).
    pub fn has(&self, type_: &str, expected: Value) -> &Self {
        let found = self.of_type(type_);
        let errors: Vec<String> = found
            .iter()
            .filter_map(|(id, r)| {
                partial_match(&expected, &r["Properties"])
                    .err()
                    .map(|e| format!("{id}: {e}"))
            })
            .collect();
        assert!(
            errors.len() < found.len(),
            "no {type_} matches {expected:#}:\n{}",
            errors.join("\n")
        );
        self
    }

    /// The resource `id`, which must exist.
    pub fn resource(&self, id: &str) -> &Value {
        self.resources()
            .get(id)
            .unwrap_or_else(|| panic!("no resource {id}; have {:?}", self.resources().keys()))
    }
}

/// Whether `actual` holds everything in `expected`: objects may have more keys, arrays
/// must match element by element, everything else must be equal.
pub fn partial_match(expected: &Value, actual: &Value) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let got = a.get(k).ok_or_else(|| format!("missing key {k}"))?;
                partial_match(v, got).map_err(|m| format!("{k}: {m}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .try_for_each(|(i, (e, a))| partial_match(e, a).map_err(|m| format!("[{i}]: {m}"))),
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("expected {e}, found {a}")),
    }
}

/// The cfn-lint to run: `$WSGEN_CFN_LINT`, the repository's `.venv` (what `.ci/run`
/// installs) or `cfn-lint` on PATH.
fn cfn_lint_program() -> PathBuf {
    if let Some(p) = std::env::var_os("WSGEN_CFN_LINT") {
        return p.into();
    }
    let venv = repo().join(".venv/bin/cfn-lint");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("cfn-lint")
}

/// Runs cfn-lint (with the project's custom rules) on `files` and fails on any
/// finding: errors and warnings alike.
pub fn cfn_lint(files: &[PathBuf]) {
    assert!(!files.is_empty());
    let rules = repo().join("../shared/oracles/cfnlint-custom-rules.txt");
    assert!(
        rules.is_file(),
        "the custom cfn-lint rules are missing at {}",
        rules.display()
    );
    let program = cfn_lint_program();
    let out = Command::new(&program)
        .arg("-z")
        .arg(&rules)
        .arg("--")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run `bash .ci/run` once, or `pip install cfn-lint==1.58.0`",
                program.display()
            )
        });
    assert!(
        out.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes every template of `apps` into `dir` and returns the files.
pub fn write_templates(dir: &Path, apps: &[(String, Template)]) -> Vec<PathBuf> {
    apps.iter()
        .map(|(name, t)| {
            let f = dir.join(format!("{name}.template.json"));
            std::fs::write(&f, t.to_json_string()).unwrap();
            f
        })
        .collect()
}

/// Checks the rules cfn-lint does not: route targets carry the `integrations/`
/// prefix, no stage has both `AutoDeploy` and `DeploymentId`, no IAM statement grants
/// on `*`, functions run on provided.al2023, and every reference resolves.
pub fn check_invariants(name: &str, t: &Template) {
    let a = Assert::new(t);
    for (id, r) in a.of_type("AWS::ApiGatewayV2::Route") {
        let target = &r["Properties"]["Target"];
        let first = &target["Fn::Join"][1][0];
        assert_eq!(first, "integrations/", "{name}/{id}: Target {target}");
    }
    for (id, r) in a.of_type("AWS::ApiGatewayV2::Stage") {
        let p = &r["Properties"];
        assert!(
            !(p.get("AutoDeploy").is_some() && p.get("DeploymentId").is_some()),
            "{name}/{id}: AutoDeploy with DeploymentId"
        );
        assert!(
            p.get("AutoDeploy").is_some() || p.get("DeploymentId").is_some(),
            "{name}/{id}: never deployed"
        );
    }
    for (id, r) in a.of_type("AWS::IAM::Policy") {
        for s in r["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
        {
            for res in s["Resource"].as_array().unwrap() {
                assert_ne!(res, "*", "{name}/{id}: a statement on *");
                assert!(!res.to_string().contains("\":*\""), "{name}/{id}: {res}");
            }
        }
    }
    for (id, r) in a.of_type("AWS::Lambda::Function") {
        assert_eq!(r["Properties"]["Runtime"], "provided.al2023", "{name}/{id}");
    }
    assert_eq!(t.dangling_references(), vec![], "{name}");
}

//! The cloud assembly: what `synth` writes to `wsgen.out/` and later steps read.
//!
//! ```text
//! wsgen.out/
//!   manifest.json          stacks, their templates, outputs and assets
//!   <Stack>.template.json  one CloudFormation template per stack
//! ```

use crate::cfn::Template;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Where an infra program run by `wsgen synth` writes its validation problems.
pub const PROBLEMS_FILE: &str = "problems.json";
/// The manifest format version.
pub const MANIFEST_VERSION: &str = "1";

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: String,
    /// Stacks by name.
    pub stacks: BTreeMap<String, StackEntry>,
    /// Handler assets by fingerprint.
    pub assets: BTreeMap<String, AssetEntry>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: MANIFEST_VERSION.into(),
            stacks: BTreeMap::new(),
            assets: BTreeMap::new(),
        }
    }
}

/// One stack of the assembly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackEntry {
    /// The template's file name, relative to the assembly directory.
    pub template_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags for the stack itself (CloudFormation also passes them to its resources).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Output names.
    pub outputs: Vec<String>,
    /// Fingerprints of the assets the stack's functions use.
    pub assets: Vec<String>,
    /// Logical IDs of resources kept when the stack is deleted.
    pub retained: Vec<String>,
}

/// A handler crate built into a zip, stored in the asset bucket under `key`; or, when
/// `linked` is not empty, the handler crates of a stack linked into one multi-call
/// binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetEntry {
    /// The crate directory, relative to the project directory (for a multi-call
    /// binary, its crates' directories joined by `, `).
    #[serde(rename = "crate")]
    pub crate_path: String,
    /// The crate's package name ([`LINKED_PACKAGE`] for a multi-call binary).
    pub package: String,
    /// The binary that becomes `bootstrap`.
    pub bin: String,
    /// The handler crates linked into one binary, by package name: a function runs the
    /// one its `Handler` names (Lambda passes it to the process as `_HANDLER`). Empty
    /// for a crate's own binary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<LinkedHandler>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// The object key in the asset bucket: `<fingerprint>.zip`.
    pub key: String,
    /// Construct paths of the functions that use the asset.
    pub functions: Vec<String>,
    /// The deployable zip, once `wsgen bundle` has built it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleInfo>,
}

/// The package name of the multi-call binary that `wsgen bundle` generates for an asset
/// with linked handlers.
pub const LINKED_PACKAGE: &str = "wsgen-linked-handlers";

/// A handler crate linked into a multi-call binary.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkedHandler {
    /// The crate's package name, which its functions' `Handler` is.
    pub package: String,
    /// The crate directory, relative to the project directory.
    #[serde(rename = "crate")]
    pub crate_path: String,
    /// The public function of the crate's library that runs the handler
    /// (`[package.metadata.wsgen] entry`).
    pub entry: String,
}

/// Which of `crates` (handler crates that name an entry point, one per directory) link
/// into one binary: those whose package name no other of them has (a function's
/// `Handler` must tell them apart), when there are two or more; none otherwise.
pub fn linkable<T>(crates: Vec<T>, package: impl Fn(&T) -> &str) -> Vec<T> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for c in &crates {
        *count.entry(package(c).to_string()).or_default() += 1;
    }
    let members: Vec<T> = crates
        .into_iter()
        .filter(|c| count[package(c)] == 1)
        .collect();
    if members.len() < 2 {
        Vec::new()
    } else {
        members
    }
}

/// A built asset: `bootstrap` in a reproducible zip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// The zip, relative to the assembly directory: `assets/<fingerprint>.zip`.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the zip, in hex.
    pub sha256: String,
}

/// A synthesized app: the manifest and one template per stack.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudAssembly {
    pub manifest: Manifest,
    pub templates: BTreeMap<String, Template>,
}

impl CloudAssembly {
    /// The manifest as pretty JSON with a trailing newline.
    pub fn manifest_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.manifest).expect("manifests serialize");
        s.push('\n');
        s
    }

    /// Writes the manifest alone into `dir`, atomically (a temporary file renamed).
    pub fn write_manifest(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!(".{MANIFEST_FILE}.{}", std::process::id()));
        std::fs::write(&tmp, self.manifest_json())?;
        std::fs::rename(&tmp, dir.join(MANIFEST_FILE))
    }

    /// Writes the templates and then the manifest into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, template) in &self.templates {
            let file = &self.manifest.stacks[name].template_file;
            std::fs::write(dir.join(file), template.to_json_string())?;
        }
        std::fs::write(dir.join(MANIFEST_FILE), self.manifest_json())
    }

    /// Reads an assembly written by [`CloudAssembly::write_to`].
    pub fn read_from(dir: &Path) -> Result<CloudAssembly, ReadError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ReadError::Io(path.display().to_string(), e))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ReadError::Parse(path.display().to_string(), e))?;
        // Another format (a newer or older wsgen library wrote it) is told apart before
        // its fields are read.
        match value.get("version").and_then(|v| v.as_str()) {
            Some(MANIFEST_VERSION) => {}
            found => {
                return Err(ReadError::Version {
                    path: path.display().to_string(),
                    found: found.unwrap_or("none").to_string(),
                })
            }
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|e| ReadError::Parse(path.display().to_string(), e))?;
        let mut templates = BTreeMap::new();
        for (name, stack) in &manifest.stacks {
            let path = dir.join(&stack.template_file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ReadError::Io(path.display().to_string(), e))?;
            let t = serde_json::from_str(&text)
                .map_err(|e| ReadError::Parse(path.display().to_string(), e))?;
            templates.insert(name.clone(), t);
        }
        Ok(CloudAssembly {
            manifest,
            templates,
        })
    }
}

/// Why a cloud assembly could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {0}: {1}")]
    Io(String, #[source] io::Error),
    #[error("{0} is not a wsgen cloud assembly file: {1}")]
    Parse(String, #[source] serde_json::Error),
    /// A manifest of another format than [`MANIFEST_VERSION`].
    #[error("{path} is of cloud assembly format `{found}`; this wsgen reads format `{MANIFEST_VERSION}`")]
    Version { path: String, found: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_of_another_format_is_named_as_such() {
        let dir = std::env::temp_dir().join(format!("wsgen-assembly-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(MANIFEST_FILE),
            r#"{"version":"2","stacks":{"A":{"new":"shape"}}}"#,
        )
        .unwrap();
        let error = CloudAssembly::read_from(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            matches!(&error, ReadError::Version { found, .. } if found == "2"),
            "{error}"
        );
        assert!(error.to_string().ends_with("this wsgen reads format `1`"));
    }

    #[test]
    fn crates_link_when_two_or_more_have_package_names_of_their_own() {
        fn package<'a>(c: &'a (&str, &str)) -> &'a str {
            c.0
        }
        assert_eq!(
            linkable(
                vec![("a", "x"), ("b", "y"), ("a", "z"), ("c", "w")],
                package
            ),
            [("b", "y"), ("c", "w")]
        );
        assert!(linkable(vec![("a", "x"), ("a", "y"), ("b", "z")], package).is_empty());
        assert!(linkable(vec![("a", "x")], package).is_empty());
    }
}

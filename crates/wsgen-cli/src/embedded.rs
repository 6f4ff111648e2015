//! The files wsgen carries in its binary, embedded at build time (see `build.rs`):
//! `blueprints/**`, `lambdas/<crate>/**`, `library/{wsgen,wsgen-handler}/**` and
//! `Cargo.lock`, by those paths. Nothing at run time reads the source the binary was
//! built from.

use std::path::Path;
use std::time::{Duration, SystemTime};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// An embedded file.
#[derive(Clone, Copy, Debug)]
pub struct File {
    /// Its path below the prefix it was asked for, `/`-separated.
    pub path: &'static str,
    pub bytes: &'static [u8],
    /// Its source's modification time when the binary was built.
    pub modified: SystemTime,
}

/// The files under `prefix` (a directory, ending in `/`), by path below it, sorted.
pub fn under(prefix: &str) -> impl Iterator<Item = File> + '_ {
    generated::FILES
        .iter()
        .filter_map(move |(path, bytes, modified)| {
            Some(File {
                path: path.strip_prefix(prefix)?,
                bytes,
                modified: SystemTime::UNIX_EPOCH + Duration::from_secs(*modified),
            })
        })
}

/// One file by its full path.
pub fn get(path: &str) -> Option<File> {
    under("").find(|f| f.path == path)
}

/// Writes every file below `dir` as the published crate carries them (`embed/`, read
/// by build.rs when the workspace is not there): each `Cargo.toml` as `Cargo.toml.in`.
pub fn write_all(dir: &Path) -> std::io::Result<usize> {
    let mut count = 0;
    for file in under("") {
        let rel = match file.path.strip_suffix("Cargo.toml") {
            Some(parent) if parent.is_empty() || parent.ends_with('/') => {
                format!("{parent}Cargo.toml.in")
            }
            _ => file.path.to_string(),
        };
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, file.bytes)?;
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(file.modified)?;
        count += 1;
    }
    Ok(count)
}

//! Files the commands write whole: through a temporary file in the same directory and a
//! rename, so readers never see half a file and a failure leaves the old one.

use std::path::{Path, PathBuf};

/// A file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {error}")]
pub struct IoError {
    pub action: &'static str,
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// The error of `action` (`cannot read`, `cannot write`) on `path`.
pub fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> IoError {
    let path = path.into();
    move |error| IoError {
        action,
        path,
        error,
    }
}

/// Writes `data` to `file` atomically, creating its directory; `mode` sets the Unix
/// permissions (an executable's 0o755) before the file appears.
pub fn write_atomically(file: &Path, data: &[u8], mode: Option<u32>) -> Result<(), IoError> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    let written = std::fs::write(&tmp, data).and_then(|_| match mode {
        Some(mode) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        }
        None => Ok(()),
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("cannot write", &tmp)(e));
    }
    std::fs::rename(&tmp, file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("cannot write", file)(e)
    })
}

//! Files the commands write whole: through a temporary file in the same directory and a
//! rename, so readers never see half a file and a failure leaves the old one.

use super::CliError;
use std::path::Path;

/// Writes `data` to `file` atomically, creating its directory; `mode` sets the Unix
/// permissions (an executable's 0o755) before the file appears.
pub fn write_atomically(file: &Path, data: &[u8], mode: Option<u32>) -> Result<(), CliError> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(CliError::io("cannot create", dir))?;
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
        return Err(CliError::io("cannot write", &tmp)(e));
    }
    std::fs::rename(&tmp, file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::io("cannot write", file)(e)
    })
}

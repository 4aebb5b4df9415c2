//! Durable file writes of the log writer: a file replaced atomically (temporary name,
//! `fsync`, rename, `fsync` of the directory), a directory made durable, and the private
//! directory with its owner-only files. Apart because the key file, the tiles and the
//! checkpoint all rely on the same few steps, and their order is what crash safety rests on.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

pub(super) const PRIVATE_DIR: &str = ".accord";

pub(super) fn private_dir(dir: &Path) -> PathBuf {
    dir.join(PRIVATE_DIR)
}

pub(super) fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Write `data` to `path` atomically and durably: temporary file, fsync, rename, fsync
/// of the directory (skipped when `sync_dir` is false and the caller does it).
pub(super) fn write_atomic(path: &Path, data: &[u8], sync_dir: bool) -> Result<(), Error> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = parent.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(data).map_err(|e| Error::io(&tmp, e))?;
        f.sync_data().map_err(|e| Error::io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if sync_dir {
        fsync_dir(parent)?;
    }
    Ok(())
}

#[cfg(unix)]
pub(super) fn create_private_file(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
pub(super) fn create_private_file(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

pub(super) fn create_private_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

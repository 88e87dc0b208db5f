//! The database directory on disk: creating it privately, clearing what a crash leaves behind
//! that sled cannot open, and the `fsync`s sled does not do.
//!
//! sled writes its `conf` file without an `fsync` (`config.rs:666-682`) and renames its
//! snapshot into place without syncing the directory (`snapshot.rs:561`); both are synced here.
//! A crash while sled writes a snapshot during open leaves `snap.*.generating`, which sled
//! then reads as the newest snapshot and fails on (`config.rs:838` filters only
//! `.in___motion`; `snapshot.rs:458-492`; sled issues #1527 and #1533): it is removed before
//! opening, and sled falls back to the previous snapshot and the log.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// The log file in the directory (`config.rs:262-264`): the file sled locks and flushes.
const LOG_FILE: &str = "db";
/// sled's settings file, written once at creation (`config.rs:266-268`).
const CONF_FILE: &str = "conf";

/// What is known of the directory before sled opens it.
pub(crate) struct Prepared {
    /// Whether sled will create a new database here.
    pub(crate) new: bool,
    /// The segment size an existing database was created with.
    pub(crate) segment_size: Option<usize>,
}

/// Creates the directory (owner-only: sessions hold access tokens), removes leftover
/// `snap.*.generating` files and reads an existing database's segment size.
pub(crate) fn prepare(path: &Path) -> Result<Prepared> {
    create_private_dir(path)?;
    let entries =
        std::fs::read_dir(path).map_err(|source| io_error("cannot list", path, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| io_error("cannot list", path, source))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let file = entry.path();
            std::fs::remove_file(&file).map_err(|source| {
                io_error("cannot remove the unfinished snapshot", &file, source)
            })?;
            tracing::warn!(file = %file.display(), "removed an unfinished sled snapshot left by a crash");
        }
    }
    let conf = path.join(CONF_FILE);
    let segment_size = match std::fs::read(&conf) {
        Ok(bytes) => Some(segment_size_in_conf(&bytes).ok_or_else(|| {
            let source =
                std::io::Error::new(std::io::ErrorKind::InvalidData, "it names no segment_size");
            io_error("cannot use sled's conf file", &conf, source)
        })?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(io_error("cannot read", &conf, source)),
    };
    Ok(Prepared {
        new: segment_size.is_none(),
        segment_size,
    })
}

/// Makes what sled created or renamed durable: after creating a database its `conf`, the
/// directory and the directory's parent; after every open the directory.
pub(crate) fn sync_after_open(path: &Path, created: bool) -> Result<()> {
    if created {
        sync(&path.join(CONF_FILE))?;
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            sync(parent)?;
        }
    }
    sync(path)
}

/// A second handle on the log file, for `fdatasync` after each flush.
pub(crate) fn open_log_file(path: &Path) -> Result<File> {
    let file = path.join(LOG_FILE);
    File::open(&file).map_err(|source| io_error("cannot open", &file, source))
}

/// sled's `conf` is lines of `name: value` followed by a CRC (`config.rs:42-60`).
fn segment_size_in_conf(bytes: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(bytes)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size: "))
        .and_then(|value| value.trim().parse().ok())
}

fn sync(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| io_error("cannot sync", path, source))
}

fn create_private_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|source| io_error("cannot create the session database directory", path, source))
}

/// The bytes of every file under `path`, sled's blob files and snapshots included.
pub(crate) fn dir_size(path: &Path) -> Result<u64> {
    let mut total = 0;
    let entries =
        std::fs::read_dir(path).map_err(|source| io_error("cannot list", path, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| io_error("cannot list", path, source))?;
        let file = entry.path();
        let metadata = entry
            .metadata()
            .map_err(|source| io_error("cannot read the size of", &file, source))?;
        total += if metadata.is_dir() {
            dir_size(&file)?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}

/// Whether `path` holds a database (sled writes `conf` when it creates one).
pub(crate) fn holds_database(path: &Path) -> bool {
    path.join(CONF_FILE).is_file()
}

/// The error for a path that holds no database.
pub(crate) fn not_a_database(path: &Path) -> Error {
    let source = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the directory does not exist or holds no sled `conf` file",
    );
    io_error("no session database at", path, source)
}

/// An exclusive hold on a database, as sled's own: `flock` on its log file (sled
/// `config.rs:576-598`, through fs2's `try_lock_exclusive`, `fs2 unix.rs:38-39`). While it is
/// held no `SledSessionStorage` can open the database; it follows the directory when the
/// directory is renamed. Dropping it lets go.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) struct DatabaseLock(#[allow(dead_code)] File);

/// Takes [`DatabaseLock`] on the database at `path`, waiting out the moment sled's I/O threads
/// keep theirs after a close (see `open_with_lock_grace` in `builder.rs`); [`Error::Locked`]
/// when another process has it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn lock_database(path: &Path) -> Result<DatabaseLock> {
    use rustix::fs::{FlockOperation, flock};
    let file = path.join(LOG_FILE);
    let log = File::open(&file).map_err(|source| io_error("cannot open", &file, source))?;
    let started = std::time::Instant::now();
    loop {
        match flock(&log, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(DatabaseLock(log)),
            Err(errno) if errno == rustix::io::Errno::WOULDBLOCK => {
                if started.elapsed() >= super::builder::LOCK_GRACE {
                    return Err(Error::Locked {
                        path: path.to_path_buf(),
                        source: sled::Error::Io(std::io::Error::from(errno)),
                    });
                }
                std::thread::sleep(super::builder::LOCK_RETRY_EVERY);
            }
            Err(errno) => return Err(io_error("cannot lock", &file, errno.into())),
        }
    }
}

/// Gives everything under `to` the owner and group of `from`, and `to` itself the mode of
/// `from`: a copy made by an operator (as root, say) must open for the app's own user.
#[cfg(unix)]
pub(crate) fn match_owner(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let source = std::fs::metadata(from).map_err(|error| io_error("cannot read", from, error))?;
    chown_all(to, source.uid(), source.gid())?;
    let mode = std::fs::Permissions::from_mode(source.mode() & 0o7777);
    std::fs::set_permissions(to, mode)
        .map_err(|error| io_error("cannot set the mode of", to, error))
}

#[cfg(unix)]
fn chown_all(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|error| io_error("cannot give the database's owner to", path, error))?;
    if path.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(|source| io_error("cannot list", path, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| io_error("cannot list", path, source))?;
            chown_all(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Without Unix owners, there is nothing to match.
#[cfg(not(unix))]
pub(crate) fn match_owner(_: &Path, _: &Path) -> Result<()> {
    Ok(())
}

/// Swaps two directories in one step (`renameat2` with `RENAME_EXCHANGE`): at every moment each
/// path names a whole directory. Both must be on one file system.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn exchange(a: &Path, b: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|errno| Error::Io {
        context: format!(
            "cannot exchange {} and {} (they must be on one file system that supports renameat2's \
             RENAME_EXCHANGE)",
            a.display(),
            b.display()
        ),
        source: errno.into(),
    })
}

/// Renames `from` to `to` and syncs their parent directory, so the new name survives a crash.
pub(crate) fn rename_durably(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| Error::Io {
        context: format!("cannot rename {} to {}", from.display(), to.display()),
        source,
    })?;
    sync_parent(to)
}

/// Syncs the directory that holds `path`, so an entry created, renamed or removed there
/// survives a crash.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    match path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        Some(parent) => sync(parent),
        None => sync(Path::new(".")),
    }
}

fn io_error(what: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("{what} {}", PathBuf::from(path).display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_segment_size_of_sleds_conf() {
        let conf = b"segment_size: 524288\nuse_compression: false\nversion: 0.34\n\x01\x02\x03\x04";
        assert_eq!(segment_size_in_conf(conf), Some(524_288));
        assert_eq!(segment_size_in_conf(b"version: 0.34\n"), None);
    }
}

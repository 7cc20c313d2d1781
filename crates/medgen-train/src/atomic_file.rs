//! Writing a file so that readers see either the old contents or the complete new contents.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use medgen_core::error::{CoreError, Result};

/// The infix of the temporary files [`write_atomically`] creates: `.{name}.tmp-{pid}-{n}`.
pub const TEMP_INFIX: &str = ".tmp-";

/// Writes `path` atomically with the bytes that `write` produces.
///
/// The bytes go to a temporary file in the same directory (`.{name}.tmp-{pid}-{n}`), which is
/// flushed and `fsync`ed and then renamed over `path`; finally the directory is `fsync`ed
/// where the platform allows it, so that the rename itself survives a power loss. A process
/// killed at any point leaves `path` either as it was or complete: never half-written. If
/// `write` (or any step) fails, the temporary file is removed and `path` is untouched.
///
/// Fails with [`CoreError::Io`] naming `path`.
pub fn write_atomically<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let temp = temp_path(path)?;
    let written = write_synced(&temp, write).and_then(|()| fs::rename(&temp, path));
    if let Err(err) = written {
        // Best effort: the write already failed, and a leftover temporary file is harmless.
        let _ = fs::remove_file(&temp);
        return Err(CoreError::io(path, err));
    }
    sync_dir(&parent_dir(path));
    Ok(())
}

/// If `file_name` is a temporary file that [`write_atomically`] creates (and that a killed
/// process may leave behind), the name of the file it was meant to replace.
pub fn temp_file_target(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix('.')?;
    let at = rest.rfind(TEMP_INFIX)?;
    (at > 0).then(|| &rest[..at])
}

fn write_synced<F>(temp: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    let mut writer = BufWriter::new(file);
    write(&mut writer)?;
    let file = writer.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

fn temp_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| CoreError::config("path", format!("{path:?} has no file name")))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp_name = format!(".{name}{TEMP_INFIX}{}-{n}", std::process::id());
    Ok(parent_dir(path).join(temp_name))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `fsync`s a directory so that a rename in it is durable. Not every platform can open a
/// directory for this (Windows cannot), so failures are ignored: the rename has happened.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomically(&path, |w| w.write_all(b"first")).unwrap();
        write_atomically(&path, |w| w.write_all(b"second")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(entries(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomically(&path, |w| w.write_all(b"good")).unwrap();
        let err = write_atomically(&path, |w| {
            w.write_all(b"half of the new cont")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(matches!(err, CoreError::Io { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"good");
        assert_eq!(entries(dir.path()), ["a.bin"]);
    }

    #[test]
    fn recognises_its_temporary_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step-1.ckpt");
        let temp = temp_path(&path).unwrap();
        let temp_name = temp.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_file_target(temp_name), Some("step-1.ckpt"));
        assert_eq!(temp_file_target("step-1.ckpt"), None);
        assert_eq!(temp_file_target(".tmp-1-0"), None);
    }
}

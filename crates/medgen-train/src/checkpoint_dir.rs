//! A directory of numbered checkpoints: naming, keep-last-N rotation and resume.
//!
//! Checkpoints are named `step-{step:09}.ckpt`, so that the newest is the one with the
//! largest step. Files of other names in the directory are left alone.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::atomic_file::temp_file_target;
use super::checkpoint::Checkpoint;
use super::progress::TrainingProgress;
use medgen_core::error::{CoreError, Result};

const PREFIX: &str = "step-";
/// The extension of checkpoint files.
pub const CHECKPOINT_EXTENSION: &str = "ckpt";

/// The file name of the checkpoint of `step`: `step-{step:09}.ckpt`.
pub fn checkpoint_file_name(step: usize) -> String {
    format!("{PREFIX}{step:09}.{CHECKPOINT_EXTENSION}")
}

/// The step in a checkpoint file name, or `None` if `name` is not one.
fn parse_step(name: &str) -> Option<usize> {
    let digits =
        name.strip_prefix(PREFIX)?.strip_suffix(CHECKPOINT_EXTENSION)?.strip_suffix('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The checkpoints in `dir` as `(step, path)`, oldest first; empty if `dir` does not exist.
pub fn list_checkpoints(dir: impl AsRef<Path>) -> Result<Vec<(usize, PathBuf)>> {
    let dir = dir.as_ref();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(CoreError::io(dir, err)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| CoreError::io(dir, err))?;
        if let Some(step) = entry.file_name().to_str().and_then(parse_step) {
            found.push((step, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The checkpoint with the largest step in `dir`, for resuming; `None` if there is none.
///
/// Checkpoints are written atomically, so the newest file is complete unless the disk itself
/// corrupted it ([`Checkpoint::read`] verifies that).
pub fn latest_checkpoint(dir: impl AsRef<Path>) -> Result<Option<PathBuf>> {
    Ok(list_checkpoints(dir)?.pop().map(|(_, path)| path))
}

/// Deletes all but the `keep_last` newest checkpoints in `dir`; returns the deleted paths.
pub fn rotate_checkpoints(dir: impl AsRef<Path>, keep_last: usize) -> Result<Vec<PathBuf>> {
    let all = list_checkpoints(dir)?;
    let excess = all.len().saturating_sub(keep_last);
    let mut removed = Vec::with_capacity(excess);
    for (_, path) in all.into_iter().take(excess) {
        fs::remove_file(&path).map_err(|err| CoreError::io(&path, err))?;
        removed.push(path);
    }
    Ok(removed)
}

/// A run's checkpoint directory: saves `step-*.ckpt` files and keeps the newest `keep_last`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointDir {
    dir: PathBuf,
    keep_last: usize,
}

impl CheckpointDir {
    /// Opens (creating it if needed) the directory `dir`, keeping the newest `keep_last ≥ 1`
    /// checkpoints. Temporary files that a killed writer left for checkpoint names are
    /// deleted (open only one `CheckpointDir` per directory at a time).
    pub fn new(dir: impl Into<PathBuf>, keep_last: usize) -> Result<Self> {
        if keep_last == 0 {
            return Err(CoreError::config("keep_last", "must be at least 1"));
        }
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|err| CoreError::io(&dir, err))?;
        let this = Self { dir, keep_last };
        this.remove_stale_temporaries()?;
        Ok(this)
    }

    fn remove_stale_temporaries(&self) -> Result<()> {
        let entries = fs::read_dir(&self.dir).map_err(|err| CoreError::io(&self.dir, err))?;
        for entry in entries {
            let entry = entry.map_err(|err| CoreError::io(&self.dir, err))?;
            let name = entry.file_name();
            let stale = name.to_str().and_then(temp_file_target).and_then(parse_step).is_some();
            if stale {
                let path = entry.path();
                fs::remove_file(&path).map_err(|err| CoreError::io(&path, err))?;
            }
        }
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path the checkpoint of `step` is saved to.
    pub fn path_for(&self, step: usize) -> PathBuf {
        self.dir.join(checkpoint_file_name(step))
    }

    /// Saves `checkpoint` atomically as the file of its step, then deletes the oldest ones
    /// beyond `keep_last`. Returns the path written.
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<PathBuf> {
        let path = self.path_for(checkpoint.step());
        checkpoint.save(&path)?;
        rotate_checkpoints(&self.dir, self.keep_last)?;
        Ok(path)
    }

    /// What a trainer's `save_checkpoint` does: saves `checkpoint` into `dir` (see
    /// [`CheckpointDir::save`]) and prints the path on `progress`; an error names the missing
    /// directory when a trainer was built without `with_checkpoints`.
    pub fn save_reported(
        dir: Option<&Self>,
        checkpoint: &Checkpoint,
        progress: Option<&mut TrainingProgress>,
    ) -> Result<PathBuf> {
        let dir = dir.ok_or_else(|| {
            CoreError::config("checkpoints", "no checkpoint directory (with_checkpoints)")
        })?;
        let path = dir.save(checkpoint)?;
        if let Some(progress) = progress {
            progress.println(&format!("saved checkpoint {}", path.display()));
        }
        Ok(path)
    }

    /// Whether a trainer at `step` saves a checkpoint: every `every` steps (`every > 0`) and
    /// at the last step, and only when it has a checkpoint directory.
    pub fn is_due(dir: Option<&Self>, step: usize, every: usize, finished: bool) -> bool {
        dir.is_some() && every > 0 && (step.is_multiple_of(every) || finished)
    }

    /// The checkpoints present, oldest first.
    pub fn list(&self) -> Result<Vec<(usize, PathBuf)>> {
        list_checkpoints(&self.dir)
    }

    /// The newest checkpoint's path, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        latest_checkpoint(&self.dir)
    }

    /// Loads the newest checkpoint and checks it against `expected_config`; `None` when the
    /// directory holds no checkpoint (a fresh run).
    pub fn load_latest<C: Serialize + ?Sized>(
        &self,
        expected_config: &C,
    ) -> Result<Option<Checkpoint>> {
        self.latest()?.map(|path| Checkpoint::load(path, expected_config)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::rng::seeded_rng;

    fn checkpoint(step: usize) -> Checkpoint {
        Checkpoint::new(step, &seeded_rng(step as u64), &serde_json::json!({"run": 1})).unwrap()
    }

    #[test]
    fn names_parse_back() {
        assert_eq!(checkpoint_file_name(42), "step-000000042.ckpt");
        assert_eq!(parse_step("step-000000042.ckpt"), Some(42));
        assert_eq!(parse_step("step-12345678901.ckpt"), Some(12_345_678_901));
        assert_eq!(parse_step("step-.ckpt"), None);
        assert_eq!(parse_step("step-1.ckpt.bak"), None);
        assert_eq!(parse_step("notes.txt"), None);
    }

    #[test]
    fn keeps_the_newest_and_finds_the_latest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(tmp.path().join("ckpts"), 2).unwrap();
        assert_eq!(dir.latest().unwrap(), None);
        assert!(dir.load_latest(&serde_json::json!({"run": 1})).unwrap().is_none());
        for step in [5, 10, 100, 1000] {
            dir.save(&checkpoint(step)).unwrap();
        }
        std::fs::write(dir.dir().join("notes.txt"), "kept").unwrap();
        let steps: Vec<usize> = dir.list().unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, [100, 1000]);
        assert_eq!(latest_checkpoint(dir.dir()).unwrap(), Some(dir.path_for(1000)));
        let latest = dir.load_latest(&serde_json::json!({"run": 1})).unwrap().unwrap();
        assert_eq!(latest.step(), 1000);
        assert!(dir.dir().join("notes.txt").exists());
    }

    #[test]
    fn stale_temporaries_are_ignored_then_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::new(tmp.path(), 3).unwrap();
        dir.save(&checkpoint(7)).unwrap();
        let stale = tmp.path().join(".step-000000008.ckpt.tmp-999-0");
        std::fs::write(&stale, b"MEDGENCK partial").unwrap();
        assert_eq!(latest_checkpoint(tmp.path()).unwrap(), Some(dir.path_for(7)));
        let reopened = CheckpointDir::new(tmp.path(), 3).unwrap();
        assert!(!stale.exists());
        assert_eq!(reopened.latest().unwrap(), Some(dir.path_for(7)));
        assert!(CheckpointDir::new(tmp.path(), 0).is_err());
    }
}

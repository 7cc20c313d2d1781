//! Faults during training, in real processes and on a real file system:
//!
//! - a run killed with `SIGKILL` while it writes a checkpoint resumes from the newest complete
//!   checkpoint and repeats the uninterrupted run's losses bit for bit;
//! - a save that hits a full disk (the kernel refuses the write: `RLIMIT_FSIZE`, set with the
//!   shell's `ulimit -f`, gives the same `EFBIG`/`ENOSPC`-style I/O error a full file system
//!   does) returns [`CoreError::Io`] and leaves the previous checkpoint byte for byte intact.
//!
//! The training runs in a child process: this test binary runs itself again on the ignored
//! test [`training_child`], which reads its orders from environment variables, trains (or
//! resumes from the newest checkpoint in its directory) and prints one `LOSS step bits` line
//! per step, then a `HISTORY` line with the whole loss history of the run.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use medgen_core::burn::nn::{Linear, LinearConfig};
use medgen_core::burn::optim::AdamConfig;
use medgen_core::burn::tensor::{Device, Tensor};
use medgen_core::noise::gaussian_noise;
use medgen_core::{CoreError, SeededRng, init_seeded, seeded_rng};
use medgen_testing::test_device;
use medgen_train::{
    Checkpoint, Trainer, TrainerConfig, WarmupCosineConfig, checkpoint_file_name, latest_checkpoint,
};

/// The checkpoint directory of a child run.
const DIR_ENV: &str = "MEDGEN_FAULT_DIR";
/// If set, the child stops (cleanly) once it has completed this many steps of the run.
const STOP_ENV: &str = "MEDGEN_FAULT_STOP_AT";
/// The name of the ignored test that is the child's entry point.
const CHILD: &str = "faults::training_child";
/// Optimiser steps of the run.
const STEPS: usize = 12;
/// Width of the square linear model: large enough (≈ 0.8 MB of weights and Adam moments per
/// checkpoint, written and `fsync`ed every step) that most of a step is spent writing.
const WIDTH: usize = 256;

fn run_config() -> LinearConfig {
    LinearConfig::new(WIDTH, WIDTH)
}

fn trainer_config() -> TrainerConfig {
    TrainerConfig::new(WarmupCosineConfig::new(1e-3, STEPS).with_warmup_steps(2))
        .with_max_grad_norm(Some(1.0))
        .with_checkpoint_every(1)
        .with_keep_checkpoints(2)
}

fn model(device: &Device) -> Linear {
    init_seeded(device, &mut seeded_rng(3), |d| Ok::<_, CoreError>(run_config().init(d))).unwrap()
}

/// `‖W x − x‖²` on a batch drawn from the run's rng (learning the identity).
fn loss(model: &Linear, _step: usize, rng: &mut SeededRng) -> medgen_core::Result<Tensor<1>> {
    let device = model.weight.val().device();
    let x = gaussian_noise([4, WIDTH], rng, &device)?;
    Ok(model.forward(x.clone()).sub(x).square().mean())
}

/// The child: trains from scratch, or resumes from the newest checkpoint of its directory,
/// printing every step's loss; a failed step is printed as `ERROR message` and ends the run.
#[test]
#[ignore = "the child process of the fault tests (runs only when they spawn it)"]
fn training_child() {
    let dir = PathBuf::from(std::env::var(DIR_ENV).expect("MEDGEN_FAULT_DIR"));
    let device = test_device().autodiff();
    let config = trainer_config();
    let optimizer = AdamConfig::new().init();
    let trainer = match latest_checkpoint(&dir).unwrap() {
        Some(path) => {
            let checkpoint = Checkpoint::read(&path).unwrap();
            Trainer::resume(&config, model(&device), optimizer, &checkpoint, &run_config())
        }
        None => Trainer::new(&config, model(&device), optimizer, seeded_rng(11), &run_config()),
    };
    let mut trainer = trainer.unwrap().with_checkpoints(&dir).unwrap();
    let stop_at = std::env::var(STOP_ENV).map_or(STEPS, |s| s.parse().unwrap());
    println!("START {}", trainer.current_step());
    while !trainer.is_finished() && trainer.current_step() < stop_at {
        match trainer.step(loss) {
            Ok(report) => println!("LOSS {} {:08x}", report.step, report.loss.to_bits()),
            Err(err) => {
                println!("ERROR {err:?} | {err}");
                return;
            }
        }
    }
    let bits: Vec<String> =
        trainer.history().losses().iter().map(|l| format!("{:08x}", l.to_bits())).collect();
    println!("HISTORY {}", bits.join(","));
}

/// What a child printed: `LOSS` lines by step, the `HISTORY` line and any `ERROR` line.
#[derive(Debug, Default)]
struct ChildOutput {
    start: Option<usize>,
    losses: BTreeMap<usize, String>,
    history: Option<String>,
    error: Option<String>,
}

impl ChildOutput {
    /// Records one line of the child's output. The test harness prints `test name ... `
    /// without a newline before the test's own output, so a marker may start mid-line.
    fn record(&mut self, line: &str) {
        let Some(at) = ["START ", "LOSS ", "HISTORY ", "ERROR "]
            .iter()
            .filter_map(|marker| line.find(marker))
            .min()
        else {
            return;
        };
        let line = &line[at..];
        let words: Vec<&str> = line.splitn(3, ' ').collect();
        match words[..] {
            ["START", step] => self.start = step.parse().ok(),
            ["LOSS", step, bits] => {
                self.losses.insert(step.parse().unwrap(), bits.to_string());
            }
            ["HISTORY", bits] => self.history = Some(bits.to_string()),
            ["ERROR", ..] => self.error = Some(line.to_string()),
            _ => {}
        }
    }
}

/// Spawns the child on `dir`, stopping at step `stop_at` if given, through
/// `sh -c shell_prefix` when given (to set limits).
fn spawn_child(dir: &Path, stop_at: Option<usize>, shell_prefix: Option<&str>) -> Child {
    let exe = std::env::current_exe().unwrap();
    let test_args = ["--exact", CHILD, "--ignored", "--nocapture", "--test-threads=1"];
    let mut command = match shell_prefix {
        Some(prefix) => {
            let mut command = Command::new("sh");
            command.arg("-c").arg(format!("{prefix}; exec \"$0\" \"$@\"")).arg(exe);
            command
        }
        None => Command::new(exe),
    };
    if let Some(stop_at) = stop_at {
        command.env(STOP_ENV, stop_at.to_string());
    }
    command
        .args(test_args)
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs a child on `dir` to its end (or `stop_at`) and returns what it printed.
fn run_child(dir: &Path, stop_at: Option<usize>, shell_prefix: Option<&str>) -> ChildOutput {
    let mut child = spawn_child(dir, stop_at, shell_prefix);
    let mut output = ChildOutput::default();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        output.record(&line.unwrap());
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the child failed: {status} ({output:?})");
    output
}

/// The temporary files a checkpoint write in progress has in `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.file_name().unwrap().to_string_lossy().contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Spawns a child on `dir` and kills it with `SIGKILL` as soon as the `nth` checkpoint
/// temporary file of the run appears (its `nth` write in progress). Returns whether the kill
/// landed before the rename (the temporary file is still there afterwards), or `None` if the
/// child finished first.
fn kill_during_a_checkpoint_write(dir: &Path, nth: usize) -> Option<bool> {
    // A temporary file a killed predecessor left is not a write of this run.
    let stale = temporaries(dir);
    let mut child = spawn_child(dir, None, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = std::collections::BTreeSet::new();
    loop {
        seen.extend(temporaries(dir).into_iter().filter(|path| !stale.contains(path)));
        if seen.len() >= nth {
            child.kill().unwrap(); // SIGKILL on Unix.
            child.wait().unwrap();
            return Some(temporaries(dir).iter().any(|path| !stale.contains(path)));
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::yield_now();
    }
}

/// A run killed by `SIGKILL` in the middle of checkpoint writes, over and over, and resumed
/// each time from its newest complete checkpoint, ends with the uninterrupted run's loss
/// history and per-step losses, bit for bit.
#[test]
fn a_run_killed_during_checkpoint_writes_resumes_bit_for_bit() {
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = run_child(reference_dir.path(), None, None);
    assert_eq!(reference.losses.len(), STEPS, "{reference:?}");
    let reference_history = reference.history.clone().expect("the reference history");

    let dir = tempfile::tempdir().unwrap();
    let mut killed_mid_write = 0;
    for _ in 0..6 {
        // The second write of each life: one step is kept, the next one's write is cut.
        match kill_during_a_checkpoint_write(dir.path(), 2) {
            Some(true) => killed_mid_write += 1,
            Some(false) => {}
            None => break,
        }
        // What the killed run left: the newest checkpoint is complete and readable.
        if let Some(path) = latest_checkpoint(dir.path()).unwrap() {
            Checkpoint::read(&path).unwrap();
        }
    }
    assert!(killed_mid_write > 0, "no kill landed during a checkpoint write");
    eprintln!("{killed_mid_write} of 6 kills landed between a checkpoint's creation and rename");

    let resumed = run_child(dir.path(), None, None);
    let start = resumed.start.expect("the resumed run's start");
    assert!(start > 0 && start < STEPS, "resumed at step {start}");
    for (step, bits) in &resumed.losses {
        assert_eq!(Some(bits), reference.losses.get(step), "the loss of step {step} differs");
    }
    assert_eq!(resumed.losses.len(), STEPS - start);
    assert_eq!(resumed.history.as_deref(), Some(reference_history.as_str()));
    assert!(temporaries(dir.path()).is_empty(), "temporary files were left behind");
}

/// A save that the kernel refuses (file size limit: the write fails like on a full disk)
/// stops the run with an I/O error naming the checkpoint, removes its temporary file and
/// leaves the previous checkpoints byte for byte as they were.
#[test]
fn a_full_disk_during_a_save_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // A run interrupted after 3 steps, with checkpoints at steps 2 and 3.
    let first = run_child(dir.path(), Some(3), None);
    assert_eq!(first.losses.len(), 3, "{first:?}");
    let newest = latest_checkpoint(dir.path()).unwrap().expect("a checkpoint");
    let files_before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| !path.to_string_lossy().contains(".tmp-"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    let step = Checkpoint::read(&newest).unwrap().step();
    assert_eq!(step, 3);

    // 64 KiB at most per file (the checkpoints are ~0.8 MB); SIGXFSZ ignored so that the
    // write returns an error instead of killing the process.
    let full = run_child(dir.path(), None, Some("trap '' XFSZ; ulimit -f 128"));
    let error = full.error.clone().expect("the save should have failed");
    assert!(error.starts_with("ERROR Io"), "{error}");
    assert!(error.contains(&checkpoint_file_name(step + 1)), "{error}");
    assert!(full.losses.is_empty(), "no step completes without its checkpoint: {full:?}");

    let mut files_after: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    let mut files_before = files_before;
    files_before.sort();
    files_after.sort();
    assert_eq!(files_after.len(), files_before.len(), "files were added or removed");
    for ((before, old), (after, new)) in files_before.iter().zip(&files_after) {
        assert_eq!(before, after);
        assert!(old == new, "{} changed", before.display());
    }
    // The run goes on from the intact checkpoint once there is room again.
    let resumed = run_child(dir.path(), None, None);
    assert_eq!(resumed.start, Some(step));
    assert!(resumed.history.is_some(), "{resumed:?}");
}

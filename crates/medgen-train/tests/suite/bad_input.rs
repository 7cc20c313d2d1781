//! Bad inputs to the public API of `medgen-train`, beyond those of `tests/suite/api.rs`: a run
//! resumed into a model of another shape or under another trainer configuration, checkpoint
//! files truncated inside the prefix or the header or written by a future container version,
//! optimiser states and metadata that the checkpoint does not hold, checkpoint directories
//! that keep nothing or sit where a file is, atomic writes into a missing directory, NaN loss
//! tensors, NaN learning rates and EMA decays, volume slices outside the volume, label maps
//! with two channels, grids whose padding overflows, plots narrower than their margins and
//! histories without a finite (or, on a log axis, positive) loss. Each case asserts the exact
//! `CoreError` variant and that the message names the offending argument.

use std::path::Path;

use medgen_core::burn::nn::{Linear, LinearConfig};
use medgen_core::burn::optim::SgdConfig;
use medgen_core::burn::tensor::{Device, Int, Tensor};
use medgen_core::{CoreError, SeededRng, init_seeded, seeded_rng};
use medgen_testing::{assert_err, test_device};
use medgen_train::viz::{
    GridBuilder, LossPlotConfig, VolumeSlice, label_map_to_rgb, render_loss_plot, volume_slices,
};
use medgen_train::{
    Checkpoint, CheckpointDir, DivergenceGuard, EmaConfig, LossHistory, Trainer, TrainerConfig,
    WarmupCosineConfig, write_atomically,
};

/// The run configuration stored in checkpoints.
fn run_config() -> LinearConfig {
    LinearConfig::new(2, 1)
}

fn linear(device: &Device, inputs: usize) -> Linear {
    init_seeded(device, &mut seeded_rng(0), |d| {
        Ok::<_, CoreError>(LinearConfig::new(inputs, 1).init(d))
    })
    .unwrap()
}

fn trainer_config(base_lr: f64) -> TrainerConfig {
    TrainerConfig::new(WarmupCosineConfig::new(base_lr, 4))
}

/// A trainer of a `2 → 1` linear model after one step.
fn trained(device: &Device) -> Trainer<Linear> {
    let mut trainer = Trainer::new(
        &trainer_config(0.1),
        linear(device, 2),
        SgdConfig::new().init(),
        seeded_rng(0),
        &run_config(),
    )
    .unwrap();
    trainer
        .step(|model: &Linear, _, _: &mut SeededRng| {
            let x = Tensor::<2>::ones([2, 2], &model.weight.val().device());
            Ok::<_, CoreError>(model.forward(x).square().mean())
        })
        .unwrap();
    trainer
}

/// The bytes of a saved checkpoint of one linear model.
fn checkpoint_bytes(dir: &Path) -> Vec<u8> {
    let path = dir.join("good.ckpt");
    Checkpoint::new(1, &seeded_rng(0), &run_config())
        .unwrap()
        .with_module("model", &linear(&test_device(), 2))
        .unwrap()
        .with_metadata("a note")
        .unwrap()
        .save(&path)
        .unwrap();
    std::fs::read(&path).unwrap()
}

/// A run resumed into a model of another shape, or under another learning rate, is refused
/// with a mismatch naming the module or the differing field.
#[test]
fn resuming_into_another_model_or_config_is_a_mismatch() {
    let device = test_device().autodiff();
    let checkpoint = trained(&device).checkpoint().unwrap();
    let resume = |config: &TrainerConfig, inputs: usize| {
        Trainer::resume(
            config,
            linear(&device, inputs),
            SgdConfig::new().init(),
            &checkpoint,
            &run_config(),
        )
    };
    assert_err!(resume(&trainer_config(0.1), 3), CoreError::CheckpointMismatch { .. }, "model");
    assert_err!(resume(&trainer_config(0.2), 2), CoreError::CheckpointMismatch { .. }, "base_lr");
}

/// Checkpoints cut inside the prefix or inside the header, and one from a future container
/// version, are format errors naming the file.
#[test]
fn truncated_and_future_checkpoints_are_format_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = checkpoint_bytes(dir.path());
    let named = |name: &str| dir.path().join(name);
    assert_err!(
        Checkpoint::from_bytes(&bytes[..12], &named("prefix.ckpt")),
        CoreError::Format { format: "checkpoint", .. },
        "prefix.ckpt"
    );
    assert_err!(
        Checkpoint::from_bytes(&bytes[..40], &named("header.ckpt")),
        CoreError::Format { format: "checkpoint", .. },
        "header.ckpt"
    );
    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&99u32.to_le_bytes());
    assert_err!(
        Checkpoint::from_bytes(&future, &named("future.ckpt")),
        CoreError::Format { format: "checkpoint", .. },
        "version 99"
    );
}

/// An optimiser state the checkpoint does not hold, and metadata read as another type, are
/// mismatches naming what was asked for.
#[test]
fn missing_sections_and_mistyped_metadata_are_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint =
        Checkpoint::from_bytes(&checkpoint_bytes(dir.path()), Path::new("run.ckpt")).unwrap();
    assert_err!(
        checkpoint.load_optimizer("optimizer", SgdConfig::new().init()),
        CoreError::CheckpointMismatch { .. },
        "optimizer"
    );
    assert_err!(
        checkpoint.metadata_as::<Vec<f32>>(),
        CoreError::CheckpointMismatch { .. },
        "metadata"
    );
}

/// A checkpoint directory that keeps nothing, one where a file is, and an atomic write into
/// a missing directory are refused, naming the setting or the path.
#[test]
fn unusable_directories_and_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_err!(
        CheckpointDir::new(dir.path().join("runs"), 0),
        CoreError::InvalidConfig { .. },
        "keep_last"
    );
    let file = dir.path().join("occupied");
    std::fs::write(&file, b"x").unwrap();
    assert_err!(CheckpointDir::new(&file, 1), CoreError::Io { .. }, "occupied");
    let orphan = dir.path().join("missing").join("out.bin");
    assert_err!(
        write_atomically(&orphan, |out| out.write_all(b"data")),
        CoreError::Io { .. },
        "out.bin"
    );
    assert!(!orphan.exists());
}

/// A NaN loss tensor diverges naming the loss; NaN learning rates and EMA decays are refused
/// before a run starts.
#[test]
fn nan_losses_rates_and_decays_are_refused() {
    let device = test_device();
    let mut guard = DivergenceGuard::new();
    let nan = Tensor::<1>::from_floats([f32::NAN], &device);
    assert_err!(guard.check_loss_tensor(3, &nan), CoreError::Diverged { step: 3, .. }, "loss");
    assert_err!(
        WarmupCosineConfig::new(f64::NAN, 4).init(),
        CoreError::InvalidConfig { .. },
        "base_lr"
    );
    let nan_ema = trainer_config(0.1).with_ema(Some(EmaConfig::new().with_decay(f64::NAN)));
    assert_err!(
        Trainer::new(
            &nan_ema,
            linear(&device.autodiff(), 2),
            SgdConfig::new().init(),
            seeded_rng(0),
            &()
        ),
        CoreError::InvalidConfig { .. },
        "decay"
    );
}

/// Slices across a fourth axis or beyond the volume, label maps with two channels, and a
/// padding that overflows the grid's size are refused (the last used to panic).
#[test]
fn grid_inputs_outside_the_volume_or_the_png_are_refused() {
    let device = test_device();
    let volumes = || Tensor::<5>::zeros([1, 1, 2, 2, 2], &device);
    assert_err!(
        volume_slices(volumes(), VolumeSlice::central(3)),
        CoreError::InvalidConfig { .. },
        "slice.axis"
    );
    assert_err!(
        volume_slices(volumes(), VolumeSlice::at(0, 2)),
        CoreError::InvalidConfig { .. },
        "slice.index"
    );
    assert_err!(
        label_map_to_rgb(Tensor::<4, Int>::zeros([1, 2, 2, 2], &device)),
        CoreError::ShapeMismatch { .. },
        "labels"
    );
    let images = Tensor::<4>::zeros([2, 1, 2, 2], &device);
    let grid =
        GridBuilder::new().padding(usize::MAX).images(images.clone(), (0.0, 1.0), 2).unwrap();
    assert_err!(grid.render(), CoreError::InvalidConfig { .. }, "padding");
    // A scale that overflows, and one that fits `usize` but not in memory.
    for scale in [usize::MAX, 1 << 20] {
        let grid = GridBuilder::new().scale(scale).images(images.clone(), (0.0, 1.0), 2).unwrap();
        assert_err!(grid.render(), CoreError::InvalidConfig { .. }, "scale");
    }
}

/// A plot narrower than its margins, a history of NaN losses and, on a log axis, a history
/// without a positive loss are refused.
#[test]
fn loss_plots_need_room_and_plottable_losses() {
    let history: LossHistory = [(1, 1.0), (2, 0.5)].into_iter().collect();
    assert_err!(
        render_loss_plot(&history, &LossPlotConfig::new().with_width(10)),
        CoreError::InvalidConfig { .. },
        "width"
    );
    let nan: LossHistory = [(1, f32::NAN), (2, f32::INFINITY)].into_iter().collect();
    assert_err!(
        render_loss_plot(&nan, &LossPlotConfig::new()),
        CoreError::Empty { .. },
        "finite losses"
    );
    let negative: LossHistory = [(1, -1.0), (2, 0.0)].into_iter().collect();
    assert_err!(
        render_loss_plot(&negative, &LossPlotConfig::new().with_log_y(true)),
        CoreError::Empty { .. },
        "positive finite losses"
    );
}

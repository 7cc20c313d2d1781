//! The public API of `medgen-train`, used as a dependent crate would use it: a `Trainer` of a
//! tiny Burn `Linear` model (one SGD step against the closed-form gradient of a least-squares
//! loss, a short fit that lowers the loss under the warm-up + cosine schedule), checkpoints
//! (save/read/load round trip, and a run resumed from its checkpoint directory repeating the
//! uninterrupted run's losses exactly), the EMA, clipping, schedule and smoothing formulas, PNG
//! grids and loss plots, and the typed error (variant and offending argument in the message)
//! of diverged losses, invalid settings and corrupt or mismatched checkpoints.

use std::path::Path;

use medgen_core::burn::module::{Module, ModuleMapper, Param};
use medgen_core::burn::nn::{Linear, LinearConfig};
use medgen_core::burn::optim::{AdamWConfig, GradientsParams, SgdConfig};
use medgen_core::burn::tensor::{Device, Int, Tensor};
use medgen_core::noise::gaussian_noise;
use medgen_core::{CoreError, SeededRng, init_seeded, seeded_rng};
use medgen_testing::assert_err;
use medgen_testing::{host, test_device, testing_on_wgpu};
use medgen_train::viz::{
    GRID_BACKGROUND, GridBuilder, LossPlotConfig, save_image_grid, save_loss_plot,
};
use medgen_train::{
    Checkpoint, CheckpointSections, DivergenceGuard, EmaConfig, LossHistory, ModelUpdater,
    RunSchedule, RunState, Trainer, TrainerConfig, UpdateConfig, WarmupCosineConfig,
    checkpoint_file_name, clip_grad_norm, grad_norm, list_checkpoints,
};

type Loss = medgen_core::Result<Tensor<1>>;

/// The run configuration stored in checkpoints: the model's own Burn config.
fn run_config() -> LinearConfig {
    LinearConfig::new(2, 1)
}

fn linear(device: &Device, seed: u64) -> Linear {
    init_seeded(device, &mut seeded_rng(seed), |d| Ok::<_, CoreError>(run_config().init(d)))
        .unwrap()
}

fn weights(model: &Linear) -> Vec<f32> {
    let mut values = host::<f32, 2, _>(model.weight.val());
    values.extend(host::<f32, 1, _>(model.bias.as_ref().unwrap().val()));
    values
}

/// The fixed least-squares problem of the closed-form test: `x` `[2, 2]` and targets `[2, 1]`.
const X: [[f32; 2]; 2] = [[1.0, 2.0], [3.0, -1.0]];
const Y: [[f32; 1]; 2] = [[1.0], [0.0]];

fn fixed_loss(model: &Linear) -> Loss {
    let device = model.weight.val().device();
    let x = Tensor::<2>::from_floats(X, &device);
    let y = Tensor::<2>::from_floats(Y, &device);
    Ok(model.forward(x).sub(y).square().mean())
}

/// Least squares towards `y = 1·x₀ − 2·x₁ + 0.5` on a fresh batch drawn from the run's rng.
fn drawn_loss(model: &Linear, _step: usize, rng: &mut SeededRng) -> Loss {
    let device = model.weight.val().device();
    let x = gaussian_noise([8, 2], rng, &device)?;
    let truth = Tensor::<2>::from_floats([[1.0], [-2.0]], &device);
    let y = x.clone().matmul(truth).add_scalar(0.5);
    Ok(model.forward(x).sub(y).square().mean())
}

#[test]
fn one_sgd_step_follows_the_closed_form_gradient() {
    let device = test_device().autodiff();
    let model = linear(&device, 3);
    let [w0, w1, b] = weights(&model)[..] else { panic!("Linear(2, 1) has three parameters") };
    let config = TrainerConfig::new(WarmupCosineConfig::new(0.1, 4));
    let mut trainer =
        Trainer::new(&config, model, SgdConfig::new().init(), seeded_rng(0), &run_config())
            .unwrap();
    let report = trainer.step(|m: &Linear, _, _: &mut SeededRng| fixed_loss(m)).unwrap();

    // r_n = x_n·w + b − y_n, L = mean r², ∂L/∂w_i = (2/N) Σ r_n x_ni, ∂L/∂b = (2/N) Σ r_n.
    let r: Vec<f32> = X.iter().zip(Y).map(|(x, y)| x[0] * w0 + x[1] * w1 + b - y[0]).collect();
    let loss = r.iter().map(|v| v * v).sum::<f32>() / 2.0;
    let grad_w0 = r[0] * X[0][0] + r[1] * X[1][0];
    let grad_w1 = r[0] * X[0][1] + r[1] * X[1][1];
    let grad_b = r[0] + r[1];
    // No warm-up: lr(0) = base_lr = 0.1.
    let expected = [w0 - 0.1 * grad_w0, w1 - 0.1 * grad_w1, b - 0.1 * grad_b];
    assert_eq!((report.step, report.lr, report.grad_norm), (1, 0.1, None));
    assert!((report.loss - loss).abs() < 1e-5 * loss.max(1.0), "{} vs {loss}", report.loss);
    for (got, want) in weights(trainer.model()).iter().zip(expected) {
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
    assert_eq!(trainer.current_step(), 1);
    assert_eq!(trainer.history().iter().collect::<Vec<_>>(), vec![(1, report.loss)]);
}

#[test]
fn fit_lowers_the_loss_under_the_schedule() {
    let steps = if testing_on_wgpu() { 10 } else { 30 };
    let device = test_device().autodiff();
    let lr = WarmupCosineConfig::new(0.2, steps).with_warmup_steps(2);
    let schedule = lr.init().unwrap();
    let config = TrainerConfig::new(lr).with_max_grad_norm(Some(5.0));
    let mut trainer = Trainer::new(
        &config,
        linear(&device, 1),
        SgdConfig::new().init(),
        seeded_rng(2),
        &run_config(),
    )
    .unwrap();
    let first = trainer.step(drawn_loss).unwrap();
    assert_eq!(first.lr, 0.0, "the warm-up starts from 0");
    assert!(first.grad_norm.is_some_and(f32::is_finite), "clipping reports the norm");
    for k in 1..steps {
        let report = trainer.step(drawn_loss).unwrap();
        assert_eq!(report.lr, schedule.lr_at(k));
        assert_eq!(report.step, k + 1);
    }
    assert!(trainer.is_finished());
    let losses = trainer.history().losses();
    assert_eq!(losses.len(), steps);
    assert_eq!(trainer.history().steps(), (1..=steps).collect::<Vec<_>>());
    let head = losses[..3].iter().sum::<f32>();
    let tail = losses[steps - 3..].iter().sum::<f32>();
    assert!(tail < 0.5 * head, "the loss must fall: {losses:?}");
    // A finished run refuses another step.
    assert_err!(trainer.step(drawn_loss), CoreError::InvalidConfig { .. }, "step");
}

fn resumable_config() -> TrainerConfig {
    TrainerConfig::new(WarmupCosineConfig::new(0.05, 6).with_warmup_steps(1))
        .with_max_grad_norm(Some(10.0))
        .with_ema(Some(EmaConfig::new().with_decay(0.8)))
        .with_checkpoint_every(2)
        .with_keep_checkpoints(2)
}

#[test]
fn a_resumed_run_repeats_the_uninterrupted_losses() {
    let device = test_device().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let config = resumable_config();
    let optimizer = || AdamWConfig::new().init();
    let mut full =
        Trainer::new(&config, linear(&device, 5), optimizer(), seeded_rng(9), &run_config())
            .unwrap()
            .with_checkpoints(dir.path())
            .unwrap();
    full.fit(drawn_loss).unwrap();
    let losses = full.history().losses().to_vec();
    assert_eq!(losses.len(), 6);
    let kept: Vec<usize> =
        list_checkpoints(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(kept, [4, 6], "checkpoints every 2 steps, the newest 2 kept");

    let checkpoint = Checkpoint::read(dir.path().join(checkpoint_file_name(4))).unwrap();
    assert_eq!(checkpoint.step(), 4);
    let names: Vec<&str> = checkpoint.module_names().collect();
    assert_eq!(names, ["ema", "model"]);
    let mut resumed =
        Trainer::resume(&config, linear(&device, 77), optimizer(), &checkpoint, &run_config())
            .unwrap();
    assert_eq!(resumed.current_step(), 4);
    assert_eq!(resumed.history().losses(), &losses[..4]);
    resumed.fit(drawn_loss).unwrap();
    assert_eq!(resumed.history().losses(), &losses[..], "the resumed run differs");
    assert_eq!(weights(resumed.model()), weights(full.model()));
    assert_eq!(weights(resumed.ema().unwrap()), weights(full.ema().unwrap()));

    // A checkpoint of another run configuration is refused, naming the differing key.
    let other = LinearConfig::new(2, 1).with_bias(false);
    assert_err!(
        Trainer::resume(&config, linear(&device, 0), optimizer(), &checkpoint, &other),
        CoreError::CheckpointMismatch { .. },
        "run.bias"
    );
    let longer = resumable_config().with_checkpoint_every(3);
    assert_err!(
        Trainer::resume(&longer, linear(&device, 0), optimizer(), &checkpoint, &run_config()),
        CoreError::CheckpointMismatch { .. },
        "trainer.checkpoint_every"
    );
}

#[test]
fn checkpoints_round_trip_modules_rng_and_metadata() {
    let device = test_device();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    let model = linear(&device, 11);
    let mut rng = seeded_rng(21);
    let _ = gaussian_noise([5], &mut rng, &device).unwrap();
    Checkpoint::new(7, &rng, &run_config())
        .unwrap()
        .with_module("model", &model)
        .unwrap()
        .with_metadata(&vec![0.5f32, 0.25])
        .unwrap()
        .save(&path)
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], medgen_train::CHECKPOINT_MAGIC);

    let checkpoint = Checkpoint::load(&path, &run_config()).unwrap();
    assert_eq!(checkpoint.step(), 7);
    assert_eq!(checkpoint.path(), path.as_path());
    assert_eq!(checkpoint.metadata_as::<Vec<f32>>().unwrap(), vec![0.5, 0.25]);
    let stored: LinearConfig = checkpoint.config_as().unwrap();
    assert_eq!((stored.d_input, stored.d_output), (2, 1));
    // The stored generator continues the stream where it stood when saved.
    let expected = host::<f32, 1, _>(gaussian_noise([4], &mut rng, &device).unwrap());
    let mut restored = checkpoint.rng().unwrap();
    assert_eq!(host::<f32, 1, _>(gaussian_noise([4], &mut restored, &device).unwrap()), expected);
    // The parameters land in a differently initialised model.
    let fresh = linear(&device, 12);
    assert_ne!(weights(&fresh), weights(&model));
    let loaded = checkpoint.load_module("model", fresh).unwrap();
    assert_eq!(weights(&loaded), weights(&model));
}

/// Writes `bytes` to `path` and reads it back as a checkpoint.
fn read_corrupt(path: &Path, bytes: &[u8]) -> medgen_core::Result<Checkpoint> {
    std::fs::write(path, bytes).unwrap();
    Checkpoint::read(path)
}

#[test]
fn bad_checkpoints_are_typed_errors() {
    let device = test_device();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.ckpt");
    Checkpoint::new(3, &seeded_rng(0), &run_config())
        .unwrap()
        .with_module("model", &linear(&device, 0))
        .unwrap()
        .save(&path)
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();

    assert_err!(
        Checkpoint::load(&path, &LinearConfig::new(2, 3)),
        CoreError::CheckpointMismatch { .. },
        "d_output"
    );
    let checkpoint = Checkpoint::read(&path).unwrap();
    assert_err!(
        checkpoint.load_module("ema", linear(&device, 0)),
        CoreError::CheckpointMismatch { .. },
        "ema"
    );
    let wider = LinearConfig::new(3, 1).init(&device);
    assert_err!(
        checkpoint.load_module("model", wider),
        CoreError::CheckpointMismatch { .. },
        "model"
    );

    let cut = dir.path().join("cut.ckpt");
    let err = read_corrupt(&cut, &bytes[..bytes.len() - 5]).unwrap_err();
    assert!(matches!(err, CoreError::Format { format: "checkpoint", .. }), "{err:?}");
    assert!(err.to_string().contains("checkpoint") && err.to_string().contains("cut.ckpt"));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert_err!(
        read_corrupt(&cut, &flipped),
        CoreError::Format { format: "checkpoint", .. },
        "cut.ckpt"
    );
    assert_err!(
        read_corrupt(&cut, b"not a checkpoint"),
        CoreError::Format { format: "checkpoint", .. },
        "checkpoint"
    );
    assert_err!(
        Checkpoint::read(dir.path().join("absent.ckpt")),
        CoreError::Io { .. },
        "absent.ckpt"
    );
}

#[test]
fn a_nan_loss_stops_the_run_naming_the_step() {
    let device = test_device().autodiff();
    let config = TrainerConfig::new(WarmupCosineConfig::new(0.05, 5));
    let mut trainer = Trainer::new(
        &config,
        linear(&device, 4),
        SgdConfig::new().init(),
        seeded_rng(0),
        &run_config(),
    )
    .unwrap();
    trainer.step(drawn_loss).unwrap();
    trainer.step(drawn_loss).unwrap();
    let before = weights(trainer.model());
    let err = trainer
        .step(|m: &Linear, s, r: &mut SeededRng| Ok(drawn_loss(m, s, r)?.mul_scalar(f32::NAN)))
        .unwrap_err();
    assert!(matches!(err, CoreError::Diverged { step: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("step 2") && err.to_string().contains("loss"), "{err}");
    assert_eq!(weights(trainer.model()), before, "a diverged step leaves the model unchanged");
    assert_eq!(trainer.current_step(), 2);
    let err = trainer
        .step(|m: &Linear, _, _: &mut SeededRng| Ok(fixed_loss(m)?.div_scalar(0.0)))
        .unwrap_err();
    assert_err!(Err::<(), _>(err), CoreError::Diverged { step: 2, .. }, "step 2");

    let mut guard = DivergenceGuard::new();
    assert_eq!(guard.check_loss(0, 1.5).unwrap(), 1.5);
    assert_eq!(guard.last_finite_step(), Some(0));
    assert_err!(
        guard.check_grad_norm(4, f32::INFINITY),
        CoreError::Diverged { step: 4, .. },
        "gradient norm"
    );
}

#[test]
fn the_trainer_ema_follows_its_closed_form() {
    let device = test_device().autodiff();
    let d = 0.5f32;
    let ema = EmaConfig::new().with_decay(f64::from(d)).with_warmup(false);
    let config = TrainerConfig::new(WarmupCosineConfig::new(0.1, 3)).with_ema(Some(ema));
    let mut trainer = Trainer::new(
        &config,
        linear(&device, 8),
        SgdConfig::new().init(),
        seeded_rng(0),
        &run_config(),
    )
    .unwrap();
    let mut thetas = Vec::new();
    for _ in 0..3 {
        trainer.step(drawn_loss).unwrap();
        thetas.push(weights(trainer.model()));
    }
    // Update 1 copies θ₁ (d₁ = 0); then θ̄ ← d θ̄ + (1 − d) θ_k.
    let expected: Vec<f32> = (0..3)
        .map(|i| d * (d * thetas[0][i] + (1.0 - d) * thetas[1][i]) + (1.0 - d) * thetas[2][i])
        .collect();
    for (got, want) in weights(trainer.ema().unwrap()).iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert_eq!(weights(&trainer.inference_model()), weights(trainer.ema().unwrap()));
}

#[test]
fn ema_decay_schedule_and_validation() {
    let warm = EmaConfig::new().with_decay(0.999);
    assert_eq!(warm.decay_for_update(1), 0.0);
    assert_eq!(warm.decay_for_update(2), 2.0 / 11.0);
    assert_eq!(warm.decay_for_update(11), 11.0 / 20.0);
    let late = warm.clone().with_update_after(2);
    assert_eq!(late.decay_for_update(3), 0.0);
    assert_eq!(late.decay_for_update(4), 2.0 / 11.0);
    assert_eq!(warm.with_warmup(false).decay_for_update(2), 0.999);

    let device = test_device();
    let model = linear(&device, 1);
    let theta = weights(&model);
    // The same parameters (same ids) shifted by a constant.
    let shifted = |by: f32| model.clone().map(&mut Shift(by));
    let config = EmaConfig::new().with_decay(0.5).with_warmup(false).with_update_every(2);
    let mut average = config.init(&model).unwrap();
    assert!(!average.update(&shifted(1.0)).unwrap(), "only every second call updates");
    assert_eq!(weights(average.model()), theta);
    assert!(average.update(&shifted(1.0)).unwrap());
    let plus = |by: f32| theta.iter().map(|v| v + by).collect::<Vec<_>>();
    assert_eq!(weights(average.model()), plus(1.0), "the first update copies");
    assert_eq!((average.state().calls, average.state().updates), (2, 1));
    assert_eq!(average.next_decay(), 0.5);
    assert!(!average.update(&shifted(3.0)).unwrap());
    assert!(average.update(&shifted(3.0)).unwrap());
    // ½ (θ + 1) + ½ (θ + 3) = θ + 2.
    for (got, want) in weights(average.model()).iter().zip(plus(2.0)) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    // A model with other parameters cannot be folded in.
    let mut strict = EmaConfig::new().init(&model).unwrap();
    assert_err!(strict.update(&linear(&device, 2)), CoreError::InvalidConfig { .. }, "model");

    assert_err!(
        EmaConfig::new().with_decay(1.5).validate(),
        CoreError::InvalidConfig { .. },
        "decay"
    );
    assert_err!(
        EmaConfig::new().with_update_every(0).init(&model),
        CoreError::InvalidConfig { .. },
        "update_every"
    );
}

#[test]
fn warmup_cosine_matches_its_formula() {
    let schedule =
        WarmupCosineConfig::new(1.0, 10).with_warmup_steps(2).with_min_lr(0.1).init().unwrap();
    let lr = |k| schedule.lr_at(k);
    assert_eq!((lr(0), lr(1), lr(2)), (0.0, 0.5, 1.0));
    // m + ½ (b − m)(1 + cos(π (k − W)/(T − W))) at k = 6: the midpoint of [m, b].
    assert!((lr(6) - 0.55).abs() < 1e-12, "{}", lr(6));
    assert!((lr(4) - (0.1 + 0.45 * (1.0 + (std::f64::consts::PI / 4.0).cos()))).abs() < 1e-12);
    assert_eq!((lr(10), lr(50)), (0.1, 0.1));

    let base = WarmupCosineConfig::new(1.0, 10);
    for (config, name) in [
        (WarmupCosineConfig::new(0.0, 10), "base_lr"),
        (WarmupCosineConfig::new(1.0, 0), "total_steps"),
        (base.clone().with_warmup_steps(11), "warmup_steps"),
        (base.clone().with_min_lr(2.0), "min_lr"),
        (base.with_warmup_start_factor(-0.5), "warmup_start_factor"),
    ] {
        assert_err!(config.init(), CoreError::InvalidConfig { .. }, name);
    }
}

#[test]
fn gradients_clip_to_the_global_norm() {
    // L = Σ (x W + b) with x = [2, 2]: ∂L/∂W = [2, 2], ∂L/∂b = 1, so ‖g‖ = 3.
    let device = test_device().autodiff();
    let model = linear(&device, 0);
    let x = Tensor::<2>::from_floats([[2.0, 2.0]], &device);
    let grads = GradientsParams::from_grads(model.forward(x).sum().backward(), &model);
    let norm = grad_norm(&model, &grads).unwrap().into_scalar::<f32>();
    assert!((norm - 3.0).abs() < 1e-6, "{norm}");
    let (clipped, before) = clip_grad_norm(&model, grads, 1.5).unwrap();
    assert!((before - 3.0).abs() < 1e-6);
    let after = grad_norm(&model, &clipped).unwrap().into_scalar::<f32>();
    assert!((after - 1.5).abs() < 1e-5, "{after}");
    let (unchanged, _) = clip_grad_norm(&model, clipped, 10.0).unwrap();
    let same = grad_norm(&model, &unchanged).unwrap().into_scalar::<f32>();
    assert!((same - after).abs() < 1e-6);
    let grads = GradientsParams::from_grads(
        model.forward(Tensor::<2>::ones([1, 2], &device)).sum().backward(),
        &model,
    );
    assert_err!(clip_grad_norm(&model, grads, 0.0), CoreError::InvalidConfig { .. }, "max_norm");
}

#[test]
fn invalid_trainer_setups_are_typed_errors() {
    let device = test_device();
    let lr = WarmupCosineConfig::new(0.1, 3);
    let plain = linear(&device, 0);
    assert_err!(
        Trainer::new(
            &TrainerConfig::new(lr.clone()),
            plain,
            SgdConfig::new().init(),
            seeded_rng(0),
            &()
        ),
        CoreError::InvalidConfig { .. },
        "model"
    );
    let autodiff = device.autodiff();
    let build = |config: TrainerConfig| {
        Trainer::new(&config, linear(&autodiff, 0), SgdConfig::new().init(), seeded_rng(0), &())
    };
    assert_err!(
        build(TrainerConfig::new(lr.clone()).with_max_grad_norm(Some(0.0))),
        CoreError::InvalidConfig { .. },
        "max_grad_norm"
    );
    assert_err!(
        build(TrainerConfig::new(lr.clone()).with_keep_checkpoints(0)),
        CoreError::InvalidConfig { .. },
        "keep_checkpoints"
    );
    assert_err!(
        build(TrainerConfig::new(WarmupCosineConfig::new(-1.0, 3))),
        CoreError::InvalidConfig { .. },
        "base_lr"
    );
    let mut trainer = build(TrainerConfig::new(lr)).unwrap();
    assert_err!(trainer.save_checkpoint(), CoreError::InvalidConfig { .. }, "checkpoints");
    // The loss closure's own errors come back unchanged, and the step is not counted.
    let failed = trainer.step(|_: &Linear, _, _: &mut SeededRng| -> Loss {
        Err(CoreError::config("batch", "the loader ran dry"))
    });
    assert_err!(failed, CoreError::InvalidConfig { .. }, "batch");
    assert_eq!(trainer.current_step(), 0);
}

/// Adds a constant to every float parameter, keeping the parameter ids.
struct Shift(f32);

impl ModuleMapper for Shift {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let by = self.0;
        param.map(|t| t.add_scalar(by))
    }
}

/// The width and height stored in a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn image_grids_and_loss_plots_are_written_as_png() {
    let device = test_device();
    let dir = tempfile::tempdir().unwrap();
    // Three 2 × 2 images, two per row, one pixel apart: 2·(2+1)+1 = 7 square.
    let images = Tensor::<4>::from_floats(
        [[[[-1.0, 1.0], [0.0, 5.0]]], [[[1.0, 1.0], [1.0, 1.0]]], [[[0.5, -0.5], [-3.0, 0.0]]]],
        &device,
    );
    let path = dir.path().join("grid.png");
    save_image_grid(&path, images.clone(), 2, (-1.0, 1.0), 1).unwrap();
    assert_eq!(png_size(&path), (7, 7));

    // Values map linearly from [-1, 1] to 0..=255 (rounded, clamped).
    let grid =
        GridBuilder::new().padding(1).images(images, (-1.0, 1.0), 2).unwrap().render().unwrap();
    assert_eq!((grid.width(), grid.height()), (7, 7));
    assert_eq!(grid.get(0, 0), Some(GRID_BACKGROUND));
    assert_eq!(grid.get(1, 1), Some([0; 3]));
    assert_eq!(grid.get(2, 1), Some([255; 3]));
    assert_eq!(grid.get(1, 2), Some([128; 3]));
    assert_eq!(grid.get(2, 2), Some([255; 3]), "values above the range clamp");
    assert_eq!(grid.get(4, 1), Some([255; 3]));
    assert_eq!(grid.get(1, 4), Some([191; 3]));
    assert_eq!(grid.get(2, 4), Some([64; 3]));
    assert_eq!(grid.get(1, 5), Some([0; 3]), "values below the range clamp");
    assert_eq!(grid.get(4, 4), Some(GRID_BACKGROUND), "the fourth cell is empty");

    let labels = Tensor::<4, Int>::zeros([2, 1, 3, 3], &device);
    let labelled = GridBuilder::new().scale(2).label_row(labels).unwrap().render().unwrap();
    assert_eq!((labelled.width(), labelled.height()), (2 * (6 + 2) + 2, 6 + 4));

    let history: LossHistory = [(1, 4.0), (2, 2.0), (3, 1.0)].into_iter().collect();
    let smoothed = history.smoothed(0.5);
    // Debiased EMA: s₀ = 4, s₁ = (0.5·2 + 0.5·2)/0.75, s₂ = (0.5·2 + 0.5·1)/0.875.
    let expected = [4.0, 2.0 / 0.75, 1.5 / 0.875];
    for (got, want) in smoothed.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let plot = dir.path().join("loss.png");
    save_loss_plot(&plot, &history, &LossPlotConfig::new().with_width(200).with_height(120))
        .unwrap();
    assert_eq!(png_size(&plot), (200, 120));
}

#[test]
fn bad_grid_and_plot_inputs_are_typed_errors() {
    let device = test_device();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    let images = Tensor::<4>::zeros([2, 1, 2, 2], &device);
    assert_err!(
        save_image_grid(&path, images.clone(), 0, (-1.0, 1.0), 1),
        CoreError::InvalidConfig { .. },
        "ncols"
    );
    assert_err!(
        save_image_grid(&path, images, 2, (1.0, 1.0), 1),
        CoreError::InvalidConfig { .. },
        "value_range"
    );
    assert_err!(
        save_image_grid(&path, Tensor::<4>::zeros([2, 2, 2, 2], &device), 2, (-1.0, 1.0), 1),
        CoreError::ShapeMismatch { .. },
        "images"
    );
    assert_err!(GridBuilder::new().render(), CoreError::Empty { .. }, "image grid");
    assert!(!path.exists(), "a failed grid writes no file");
    let history: LossHistory = [(1, 1.0)].into_iter().collect();
    assert_err!(
        save_loss_plot(&path, &history, &LossPlotConfig::new().with_smoothing(1.0)),
        CoreError::InvalidConfig { .. },
        "smoothing"
    );
    assert_err!(
        save_loss_plot(&path, &LossHistory::new(), &LossPlotConfig::new()),
        CoreError::Empty { .. },
        "loss"
    );
}

/// Two networks trained in one run from the shared pieces (as the GAN loop does): a
/// [`RunState`] and one [`ModelUpdater`] each. The second network regresses onto the first's
/// output, so the updates depend on each other; a run resumed from its step-2 checkpoint must
/// end with the same weights as the uninterrupted run.
#[test]
fn a_two_network_run_on_run_state_and_updaters_resumes_exactly() {
    const LEADER: CheckpointSections =
        CheckpointSections { module: "leader", optimizer: "leader", ema: "leader_ema" };
    const FOLLOWER: CheckpointSections =
        CheckpointSections { module: "follower", optimizer: "follower", ema: "follower_ema" };
    let device = test_device().autodiff();
    let schedule = RunSchedule { total_steps: 4, checkpoint_every: 2, keep_checkpoints: 3 };
    let leader_update = UpdateConfig::new(WarmupCosineConfig::new(0.05, 4))
        .with_ema(Some(EmaConfig::new().with_decay(0.5)));
    let follower_update =
        UpdateConfig::new(WarmupCosineConfig::new(0.1, 4)).with_max_grad_norm(Some(0.5));
    let dir = tempfile::tempdir().unwrap();

    type Run = (RunState, ModelUpdater<Linear>, ModelUpdater<Linear>);
    let train = |(mut run, mut leader, mut follower): Run| -> Run {
        while !run.is_finished() {
            run.ensure_running().unwrap();
            let step = run.step();
            let loss = drawn_loss(leader.model(), step, run.rng_mut()).unwrap();
            leader.update(step, loss, run.guard_mut()).unwrap();
            let x = gaussian_noise([8, 2], run.rng_mut(), &device).unwrap();
            let target = leader.model().forward(x.clone()).detach();
            let loss = follower.model().forward(x).sub(target).square().mean();
            let stats = follower.update(step, loss, run.guard_mut()).unwrap();
            assert!(stats.grad_norm.is_some());
            run.advance(stats.loss);
            if run.checkpoint_due() {
                let checkpoint = leader.write_to(run.start_checkpoint().unwrap()).unwrap();
                let checkpoint = follower.write_to(checkpoint).unwrap();
                let checkpoint = checkpoint.with_metadata(&leader.ema_state()).unwrap();
                run.save(&checkpoint).unwrap();
            }
        }
        (run, leader, follower)
    };
    let mut run = RunState::new(schedule, seeded_rng(3), "pair", &"both", &run_config()).unwrap();
    run.set_checkpoint_dir(dir.path()).unwrap();
    let leader = ModelUpdater::new(&leader_update, linear(&device, 1), sgd(), LEADER).unwrap();
    let follower =
        ModelUpdater::new(&follower_update, linear(&device, 2), sgd(), FOLLOWER).unwrap();
    let (_, leader, follower) = train((run, leader, follower));

    let checkpoint = Checkpoint::read(dir.path().join(checkpoint_file_name(2))).unwrap();
    let resumed_run =
        RunState::resume(schedule, &checkpoint, "pair", &"both", &run_config()).unwrap();
    assert_eq!(resumed_run.step(), 2);
    let ema_state = checkpoint.metadata_as().unwrap();
    let resume = |config, seed, sections, state| {
        ModelUpdater::resume(config, linear(&device, seed), sgd(), sections, &checkpoint, state)
            .unwrap()
    };
    let resumed_leader = resume(&leader_update, 8, LEADER, ema_state);
    let resumed_follower = resume(&follower_update, 9, FOLLOWER, None);
    let (_, resumed_leader, resumed_follower) =
        train((resumed_run, resumed_leader, resumed_follower));
    assert_eq!(weights(resumed_leader.model()), weights(leader.model()));
    assert_eq!(weights(resumed_leader.ema().unwrap()), weights(leader.ema().unwrap()));
    assert_eq!(weights(resumed_follower.model()), weights(follower.model()));
    // Another stored configuration is refused, and so is a model off autodiff.
    let other = RunState::resume(schedule, &checkpoint, "pair", &"other", &run_config());
    assert_err!(other, CoreError::CheckpointMismatch { .. }, "pair");
    let plain = ModelUpdater::new(&leader_update, linear(&test_device(), 1), sgd(), LEADER);
    assert_err!(plain, CoreError::InvalidConfig { .. }, "leader");
    let no_steps = RunSchedule { total_steps: 0, ..schedule };
    let empty = RunState::new(no_steps, seeded_rng(0), "pair", &(), &());
    assert_err!(empty, CoreError::InvalidConfig { .. }, "total_steps");
}

fn sgd() -> medgen_core::burn::optim::ModuleOptimizer {
    SgdConfig::new().init()
}

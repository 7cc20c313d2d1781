//! Training-based tests of [`GanTrainer`] on 1D problems with closed-form answers, using tiny
//! MLP networks defined here.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{leaky_relu, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use medgen_core::{Condition, CoreError, SeededRng, seeded_rng};
use medgen_testing::test_device;
use medgen_testing::testing_on_wgpu;
use medgen_train::{Checkpoint, EmaConfig, checkpoint_file_name};
use rand::RngExt;
use rand_distr::StandardNormal;

use super::*;
use crate::error::{GanError, Result};
use crate::loss::GanLoss;
use crate::network::{Discriminator, DiscriminatorOutput, Generator};

/// A two-layer perceptron `[N, d_in] (+ one-hot class) → [N, d_out]`, used as a generator
/// (`z ↦ x`) and as a discriminator (`x ↦ logit`).
#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    out: Linear,
    classes: usize,
}

impl Mlp {
    fn new(d_in: usize, width: usize, d_out: usize, classes: usize, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(d_in + classes, width).init(device),
            out: LinearConfig::new(width, d_out).init(device),
            classes,
        }
    }

    fn forward(&self, x: Tensor<2>, condition: &Condition<2>) -> Tensor<2> {
        let x = match (&condition.class, self.classes) {
            (Some(labels), k) if k > 0 => {
                let one_hot = labels.clone().one_hot::<2>(k).float();
                Tensor::cat(vec![x, one_hot], 1)
            }
            _ => x,
        };
        self.out.forward(leaky_relu(self.hidden.forward(x), 0.2))
    }
}

impl Generator<2, 2> for Mlp {
    fn generate(&self, input: Tensor<2>, condition: &Condition<2>) -> Result<Tensor<2>> {
        Ok(self.forward(input, condition))
    }
}

impl Discriminator<2> for Mlp {
    fn discriminate(&self, x: Tensor<2>, condition: &Condition<2>) -> Result<DiscriminatorOutput> {
        Ok(DiscriminatorOutput { logits: self.forward(x, condition), class_logits: None })
    }
}

/// A fixed generator `G(z) = z + shift`, so that `p_g = N(shift, 1)` for `z ~ N(0, 1)`.
#[derive(Module, Debug)]
struct Shift {
    shift: f32,
}

impl Generator<2, 2> for Shift {
    fn generate(&self, input: Tensor<2>, _condition: &Condition<2>) -> Result<Tensor<2>> {
        Ok(input.add_scalar(self.shift))
    }
}

/// Logistic regression on the features `(x, x²)`: `logit = a x + b x² + c`.
#[derive(Module, Debug)]
struct Quadratic {
    linear: Linear,
}

impl Discriminator<2> for Quadratic {
    fn discriminate(&self, x: Tensor<2>, _condition: &Condition<2>) -> Result<DiscriminatorOutput> {
        let features = Tensor::cat(vec![x.clone(), x.square()], 1);
        Ok(DiscriminatorOutput { logits: self.linear.forward(features), class_logits: None })
    }
}

fn column(values: Vec<f32>, device: &Device) -> Tensor<2> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1]), device)
}

fn normal(n: usize, mean: f32, std: f32, rng: &mut SeededRng) -> Vec<f32> {
    (0..n).map(|_| mean + std * rng.sample::<f32, _>(StandardNormal)).collect()
}

/// `p_data = N(0, 1)`, `p_g = N(1, 1)` fixed: training only D must reach
/// `D*(x) = p_data / (p_data + p_g) = σ(½ − x)`.
#[test]
fn training_only_the_discriminator_recovers_the_optimal_discriminator() {
    if testing_on_wgpu() {
        return; // 600 sequential updates: minutes on a software Vulkan device.
    }
    let device = test_device().autodiff();
    let config = GanTrainerConfig::new(1).with_lr_discriminator(0.01);
    let discriminator = Quadratic { linear: LinearConfig::new(2, 1).init(&device) };
    let mut trainer = GanTrainer::new(
        &config,
        Shift { shift: 1.0 },
        discriminator,
        GanLoss::NonSaturating,
        seeded_rng(0),
        &"optimal-d",
    )
    .unwrap();
    for _ in 0..600 {
        let rng = trainer.rng_mut();
        let real = column(normal(512, 0.0, 1.0, rng), &device);
        let z = column(normal(512, 0.0, 1.0, rng), &device);
        trainer.discriminator_step(&GanBatch::new(real, z)).unwrap();
    }
    let grid: Vec<f32> = (0..=20).map(|i| -2.0 + 0.25 * i as f32).collect();
    let d = trainer.discriminator().valid();
    let logits = d
        .discriminate(column(grid.clone(), &device.clone().inner()), &Condition::none())
        .unwrap()
        .logits;
    let got = sigmoid(logits).try_into_vec_as::<f32>().unwrap();
    // Tolerance: the stochastic-gradient noise of Adam at lr 0.01 with 512 samples per batch
    // moves D(x) by about 0.01 (measured: max error 0.0095 on this grid).
    for (x, d) in grid.iter().zip(&got) {
        let expected = 1.0 / (1.0 + (x - 0.5).exp());
        assert!((d - expected).abs() < 0.025, "D({x}) = {d}, D* = {expected}");
    }
}

const MODES: [f32; 3] = [-3.0, 0.0, 3.0];
const MODE_STD: f32 = 0.2;

/// One batch of the class-conditional mixture: labels uniform in 0..3, `x ~ N(μ_y, 0.2²)`,
/// `z ~ N(0, I₂)`.
fn mixture_batch(n: usize, rng: &mut SeededRng, device: &Device) -> GanBatch<2, 2> {
    let labels: Vec<i64> = (0..n).map(|_| rng.random_range(0..3i64)).collect();
    let real: Vec<f32> = labels
        .iter()
        .map(|&y| MODES[y as usize] + MODE_STD * rng.sample::<f32, _>(StandardNormal))
        .collect();
    let z = Tensor::from_data(TensorData::new(normal(2 * n, 0.0, 1.0, rng), [n, 2]), device);
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    GanBatch::new(column(real, device), z).with_condition(Condition::none().with_class(labels))
}

#[test]
fn a_conditional_gan_covers_every_mode_of_a_mixture() {
    if testing_on_wgpu() {
        return;
    }
    let device = test_device().autodiff();
    let config = GanTrainerConfig::new(500).with_lr_generator(2e-3).with_lr_discriminator(2e-3);
    let mut trainer = GanTrainer::new(
        &config,
        Mlp::new(2, 32, 1, 3, &device),
        Mlp::new(1, 32, 1, 3, &device),
        GanLoss::NonSaturating,
        seeded_rng(1),
        &"mixture",
    )
    .unwrap();
    let dev = device.clone();
    trainer.fit(|_, rng| Ok(mixture_batch(64, rng, &dev)), |_, _| Ok(())).unwrap();
    // Measured coverage: the fraction of each class's samples within 3σ of its mode.
    let generator = trainer.inference_generator();
    let inner = device.clone().inner();
    let mut rng = seeded_rng(2);
    for (class, &mode) in MODES.iter().enumerate() {
        let n = 300;
        let z =
            Tensor::from_data(TensorData::new(normal(2 * n, 0.0, 1.0, &mut rng), [n, 2]), &inner);
        let labels = Tensor::<1, Int>::full([n], class as i64, &inner);
        let x = generator
            .generate(z, &Condition::none().with_class(labels))
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap();
        let near = x.iter().filter(|v| (*v - mode).abs() < 3.0 * MODE_STD).count();
        let fraction = near as f32 / n as f32;
        assert!(fraction > 0.8, "class {class}: {fraction} of samples near mode {mode}");
    }
}

#[test]
fn a_nan_loss_stops_the_run_naming_the_step_and_network() {
    let device = test_device().autodiff();
    let config = GanTrainerConfig::new(5);
    let mut trainer = GanTrainer::new(
        &config,
        Mlp::new(2, 4, 1, 0, &device),
        Mlp::new(1, 4, 1, 0, &device),
        GanLoss::NonSaturating,
        seeded_rng(0),
        &"nan",
    )
    .unwrap();
    let data = |step: usize, rng: &mut SeededRng| -> Result<GanBatch<2, 2>> {
        let mut real = normal(8, 0.0, 1.0, rng);
        if step == 2 {
            real[3] = f32::NAN;
        }
        let z = Tensor::from_data(TensorData::new(normal(16, 0.0, 1.0, rng), [8, 2]), &device);
        Ok(GanBatch::new(column(real, &device), z))
    };
    trainer.step(data).unwrap();
    trainer.step(data).unwrap();
    let before = trainer.discriminator().out.weight.val().try_into_vec_as::<f32>().unwrap();
    let err = trainer.step(data).unwrap_err();
    match &err {
        GanError::Core(CoreError::Diverged { step, what }) => {
            assert_eq!(*step, 2);
            assert!(what.starts_with("discriminator loss"), "{what}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("step 2"), "{err}");
    let after = trainer.discriminator().out.weight.val().try_into_vec_as::<f32>().unwrap();
    assert_eq!(before, after, "the diverged update must not be applied");
    assert_eq!(trainer.current_step(), 2);
}

fn resumable_config() -> GanTrainerConfig {
    GanTrainerConfig::new(4)
        .with_lr_generator(1e-2)
        .with_lr_discriminator(2e-2)
        .with_n_critic(2)
        .with_ema(Some(EmaConfig::new().with_decay(0.9)))
        .with_checkpoint_every(2)
}

fn gaussian_batch(rng: &mut SeededRng, device: &Device) -> GanBatch<2, 2> {
    let real = column(normal(8, 2.0, 0.5, rng), device);
    let z = Tensor::from_data(TensorData::new(normal(16, 0.0, 1.0, rng), [8, 2]), device);
    GanBatch::new(real, z)
}

#[test]
fn resuming_from_a_checkpoint_repeats_the_next_steps_exactly() {
    let device = test_device().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let build = |g: Mlp, d: Mlp| {
        GanTrainer::new(&resumable_config(), g, d, GanLoss::Hinge, seeded_rng(7), &"resume")
            .unwrap()
    };
    let fresh = || (Mlp::new(2, 8, 1, 0, &device), Mlp::new(1, 8, 1, 0, &device));
    let (g, d) = fresh();
    let mut full = build(g, d).with_checkpoints(dir.path()).unwrap();
    let dev = device.clone();
    full.fit(|_, rng| Ok(gaussian_batch(rng, &dev)), |_, _| Ok(())).unwrap();
    let path = dir.path().join(checkpoint_file_name(2));
    let checkpoint = Checkpoint::read(&path).unwrap();
    let (g, d) = fresh();
    let mut resumed =
        GanTrainer::resume(&resumable_config(), g, d, GanLoss::Hinge, &checkpoint, &"resume")
            .unwrap();
    assert_eq!(resumed.current_step(), 2);
    resumed.fit(|_, rng| Ok(gaussian_batch(rng, &dev)), |_, _| Ok(())).unwrap();
    assert_eq!(resumed.history(), full.history(), "the resumed run differs");
    let weights = |t: &GanTrainer<Mlp, Mlp, 2, 2>| {
        let ema = t.inference_generator().out.weight.val();
        let d = t.discriminator().out.weight.val();
        (ema.try_into_vec_as::<f32>().unwrap(), d.try_into_vec_as::<f32>().unwrap())
    };
    assert_eq!(weights(&resumed), weights(&full));
    // Another run configuration is refused.
    let (g, d) = fresh();
    let other = GanTrainer::resume(&resumable_config(), g, d, GanLoss::Hinge, &checkpoint, &"x");
    assert!(matches!(other, Err(GanError::Core(CoreError::CheckpointMismatch { .. }))));
}

#[test]
fn bad_batches_and_setups_are_typed_errors() {
    let device = test_device().autodiff();
    let build = |g: Mlp| {
        GanTrainer::new(
            &GanTrainerConfig::new(3),
            g,
            Mlp::new(1, 4, 1, 0, &device),
            GanLoss::NonSaturating,
            seeded_rng(0),
            &(),
        )
    };
    // The generator writes 2 values per item, the data has 1.
    let mut trainer = build(Mlp::new(2, 4, 2, 0, &device)).unwrap();
    let mut rng = seeded_rng(0);
    let batch = gaussian_batch(&mut rng, &device);
    let err = trainer.discriminator_step(&batch).unwrap_err();
    assert!(matches!(err, GanError::Core(CoreError::ShapeMismatch { .. })), "{err}");
    // Zero-size and inconsistent batches.
    let mut trainer = build(Mlp::new(2, 4, 1, 0, &device)).unwrap();
    let empty = GanBatch::new(Tensor::<2>::zeros([0, 1], &device), Tensor::zeros([0, 2], &device));
    assert!(trainer.discriminator_step(&empty).is_err());
    let short = GanBatch::new(batch.real.clone(), batch.input.clone().narrow(0, 0, 4));
    assert!(trainer.generator_step(&short).is_err());
    // Networks off autodiff cannot be trained.
    let plain = GanTrainer::new(
        &GanTrainerConfig::new(3),
        Mlp::new(2, 4, 1, 0, &device.clone().inner()),
        Mlp::new(1, 4, 1, 0, &device.clone().inner()),
        GanLoss::NonSaturating,
        seeded_rng(0),
        &(),
    );
    assert!(plain.is_err());
    // A finished run refuses another step.
    let mut trainer = build(Mlp::new(2, 4, 1, 0, &device)).unwrap();
    let dev = device.clone();
    trainer.fit(|_, rng| Ok(gaussian_batch(rng, &dev)), |_, _| Ok(())).unwrap();
    assert_eq!(trainer.history().len(), 3);
    assert!(trainer.step(|_, rng| Ok(gaussian_batch(rng, &dev))).is_err());
}

/// The learning rates follow the warm-up + cosine schedule of medgen-train over the run's
/// steps, clipping reports the gradient norms, and a zero learning rate leaves a network as it
/// was: the GAN loop runs on the shared update pieces, not a fixed-rate Adam of its own.
#[test]
fn learning_rate_schedule_and_clipping_apply_to_both_networks() {
    let device = test_device().autodiff();
    let (total, warmup, lr_g, lr_d, floor) = (6, 2, 1e-2, 3e-2, 0.1);
    let config = GanTrainerConfig::new(total)
        .with_lr_generator(lr_g)
        .with_lr_discriminator(lr_d)
        .with_warmup_steps(warmup)
        .with_min_lr_factor(floor)
        .with_n_critic(2)
        .with_max_grad_norm(Some(1e-3));
    let mut trainer = GanTrainer::new(
        &config,
        Mlp::new(2, 8, 1, 0, &device),
        Mlp::new(1, 8, 1, 0, &device),
        GanLoss::NonSaturating,
        seeded_rng(3),
        &"schedule",
    )
    .unwrap();
    // lr(k) of WarmupCosineConfig written out: b·k/W during warm-up, then cosine to f·b.
    let expected = |base: f64, k: usize| {
        if k < warmup {
            base * k as f64 / warmup as f64
        } else {
            let progress = (k - warmup) as f64 / (total - warmup) as f64;
            floor * base
                + 0.5 * (base - floor * base) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    };
    let g_before = trainer.generator().out.weight.val().try_into_vec_as::<f32>().unwrap();
    let d_before = trainer.discriminator().out.weight.val().try_into_vec_as::<f32>().unwrap();
    let dev = device.clone();
    for k in 0..total {
        let report = trainer.step(|_, rng| Ok(gaussian_batch(rng, &dev))).unwrap();
        assert!((report.generator.lr - expected(lr_g, k)).abs() < 1e-12, "step {k}");
        assert!((report.discriminator.lr - expected(lr_d, k)).abs() < 1e-12, "step {k}");
        for norm in [report.generator.grad_norm, report.discriminator.grad_norm] {
            assert!(norm.is_some_and(|n| n.is_finite() && n > 0.0), "step {k}: {norm:?}");
        }
        if k == 0 {
            // Step 0 of a warm-up from 0 runs at rate 0: Adam moves nothing.
            let g = trainer.generator().out.weight.val().try_into_vec_as::<f32>().unwrap();
            let d = trainer.discriminator().out.weight.val().try_into_vec_as::<f32>().unwrap();
            assert_eq!(g, g_before);
            assert_eq!(d, d_before);
        }
    }
    let g_after = trainer.generator().out.weight.val().try_into_vec_as::<f32>().unwrap();
    assert_ne!(g_after, g_before, "later steps must move the generator");
}

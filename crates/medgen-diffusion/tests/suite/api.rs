//! The public API of `medgen-diffusion`, used as a dependent crate would use it: schedulers
//! chosen by name (`SchedulerConfig::from_name` → `build::<4>` → `Box<dyn Scheduler<4>>`),
//! the `DiffusionPipeline` behind medgen-core's `Sample` verb (against oracle networks whose
//! exact output is known: a constant `x̂₀` prediction, and the ε-oracle of a data set with a
//! single point), the denoising loss against its closed form, one `Trainer` step of a tiny
//! U-Net through `TrainingObjective`, a save/load round trip of that U-Net, and the typed
//! error every bad input produces (variant, and the offending argument in the message).

use medgen_core::burn::module::Module;
use medgen_core::burn::optim::AdamWConfig;
use medgen_core::burn::tensor::{Device, Tensor, TensorData};
use medgen_core::noise::{NoiseKind, SimplexNoiseConfig, gaussian_noise};
use medgen_core::{
    Condition, CoreError, GuidanceConfig, Sample, TimeConditionedNetwork, init_seeded, seeded_rng,
};
use medgen_diffusion::{
    DenoisingLossConfig, DiffusionError, DiffusionPipeline, PredictionType, ScheduleConfig,
    Scheduler, SchedulerConfig, Timestep,
};
use medgen_nn::{UNet, UNetConfig};
use medgen_testing::assert_error;
use medgen_testing::{host, max_abs_diff, test_device};
use medgen_train::{Trainer, TrainerConfig, TrainingObjective, WarmupCosineConfig};

/// The names the brief promises, with the number of network evaluations of 4 inference steps
/// (Heun adds a corrector evaluation to every interval but the last; PNDM's Runge-Kutta
/// warm-up evaluates its first three intervals four times; PLMS alone evaluates the first
/// interval twice), whether the scheduler walks integer timesteps, and whether its sample
/// lives at the VE scale `x₀ + σ ε` (initial noise `σ_max ≫ 1`) rather than at unit scale.
const SCHEDULERS: [(&str, usize, bool, bool); 11] = [
    ("ddim", 4, true, false),
    ("ddpm", 4, true, false),
    ("euler", 4, false, true),
    ("heun", 7, false, true),
    ("k-dpm++2m", 4, false, true),
    ("dpm++2m", 4, false, false),
    ("dpm++3m-karras", 4, false, false),
    ("euler-ancestral", 4, false, true),
    ("pndm", 13, true, false),
    ("plms", 5, true, false),
    ("rflow", 4, false, false),
];

/// A per-item factor `[N]` broadcast to `dims` (rank 4).
fn per_item(values: Vec<f32>, dims: [usize; 4], device: &Device) -> Tensor<4> {
    let n = values.len();
    Tensor::<1>::from_data(TensorData::new(values, [n]), device).reshape([n, 1, 1, 1]).expand(dims)
}

/// A network that predicts `x̂₀ = c` everywhere (for schedulers configured with
/// `PredictionType::Sample`): every scheduler must end exactly on `c`.
fn constant_sample_prediction<const D: usize>(
    c: f32,
) -> impl Fn(Tensor<D>, Tensor<1>, &Condition<D>) -> medgen_core::Result<Tensor<D>> {
    move |x: Tensor<D>, _t: Tensor<1>, _c: &Condition<D>| Ok(x.ones_like().mul_scalar(c))
}

/// The exact ε-prediction of the data set `{x₀ = m}` under the default linear schedule:
/// `x_t = √ᾱ_t m + √(1−ᾱ_t) ε` gives `ε = (x_t − √ᾱ_t m) / √(1−ᾱ_t)`, one `t` per item.
fn single_point_oracle(
    m: f32,
) -> impl Fn(Tensor<4>, Tensor<1>, &Condition<4>) -> medgen_core::Result<Tensor<4>> {
    let abar = ScheduleConfig::new().init().unwrap().alphas_cumprod().to_vec();
    move |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
        let (dims, device) = (x.dims(), x.device());
        let (signal, noise): (Vec<f32>, Vec<f32>) = host::<f32, 1, _>(t)
            .into_iter()
            .map(|t| {
                let a = abar[t.round() as usize];
                (a.sqrt() as f32 * m, (1.0 - a).sqrt() as f32)
            })
            .unzip();
        Ok(x.sub(per_item(signal, dims, &device)).div(per_item(noise, dims, &device)))
    }
}

/// A one-level U-Net small enough for the software-Vulkan CI device.
fn tiny_unet() -> UNetConfig {
    UNetConfig::new(1, 1)
        .with_base_channels(8)
        .with_channel_mults(vec![1])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(4)
}

fn short_run(steps: usize) -> TrainerConfig {
    TrainerConfig::new(WarmupCosineConfig::new(1e-2, steps).with_warmup_steps(0))
}

#[test]
fn scheduler_names_build_boxed_schedulers_with_their_timesteps() {
    for (name, evaluations, discrete, ve_scale) in SCHEDULERS {
        let config = SchedulerConfig::from_name(name).unwrap();
        assert_eq!(config.name(), name);
        assert_eq!(config.to_string(), name);
        let parsed: SchedulerConfig = name.parse().unwrap();
        assert_eq!(parsed.name(), name);
        let scheduler: Box<dyn Scheduler<4>> = config.build::<4>(4).unwrap();
        let timesteps = scheduler.timesteps();
        assert_eq!(timesteps.len(), evaluations, "{name}");
        assert!(
            timesteps.iter().all(|t| matches!(t, Timestep::Discrete(_)) == discrete),
            "{name}: {timesteps:?}"
        );
        // Time runs backwards, from the noisiest level to the cleanest.
        let first = timesteps.first().unwrap().model_time();
        let last = timesteps.last().unwrap().model_time();
        assert!(first > last, "{name}: {first} then {last}");
        // Unit-scale samplers start from N(0, I); the VE-scale ones at σ_max ≫ 1.
        let sigma = scheduler.init_noise_sigma();
        if ve_scale {
            assert!(sigma > 10.0, "{name}: {sigma}");
        } else {
            assert_eq!(sigma, 1.0, "{name}");
        }
    }
    // diffusers' "leading" spacing of 3 steps out of 1000: 666, 333, 0.
    let ddim = SchedulerConfig::from_name("ddim").unwrap().build::<4>(3).unwrap();
    assert_eq!(
        ddim.timesteps(),
        vec![Timestep::Discrete(666), Timestep::Discrete(333), Timestep::Discrete(0)]
    );
    // Class names of diffusers are accepted, case-insensitively.
    assert_eq!(SchedulerConfig::from_name("DDIMScheduler").unwrap().name(), "ddim");
    assert_eq!(SchedulerConfig::from_name("EulerDiscreteScheduler").unwrap().name(), "euler");
}

#[test]
fn unknown_names_and_step_counts_are_typed_errors() {
    assert_error!(
        SchedulerConfig::from_name("lms").unwrap_err(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "scheduler"
    );
    let err = "lms".parse::<SchedulerConfig>().unwrap_err();
    assert!(err.to_string().contains("lms"), "{err}");
    for (name, ..) in SCHEDULERS {
        let config = SchedulerConfig::from_name(name).unwrap();
        assert_error!(
            config.build::<4>(0).err().unwrap(),
            DiffusionError::InvalidStepCount { requested: 0, num_train_timesteps: 1000 },
            "inference steps"
        );
        assert_error!(
            config.build::<4>(1001).err().unwrap(),
            DiffusionError::InvalidStepCount { requested: 1001, num_train_timesteps: 1000 },
            "1001"
        );
    }
}

#[test]
fn every_scheduler_ends_on_a_constant_sample_prediction() {
    let device = test_device();
    let c = 0.5;
    for (name, evaluations, ..) in SCHEDULERS {
        // Euler ancestral, PNDM and rectified flow have no x₀ parametrisation (as in their
        // peers); their trajectories are checked against diffusers and MONAI instead.
        if matches!(name, "euler-ancestral" | "pndm" | "plms" | "rflow") {
            continue;
        }
        let config =
            SchedulerConfig::from_name(name).unwrap().with_prediction_type(PredictionType::Sample);
        let pipeline =
            DiffusionPipeline::new(constant_sample_prediction::<4>(c), config, 4, &[1, 4, 4])
                .unwrap();
        assert_eq!(pipeline.sample_shape(), [1, 4, 4]);
        assert_eq!(pipeline.scheduler().name(), name);
        let out = pipeline.sample(2, &Condition::none(), &mut seeded_rng(3), &device).unwrap();
        assert_eq!(out.samples.dims(), [2, 1, 4, 4], "{name}");
        assert_eq!(out.nfe, evaluations, "{name}");
        let expected = Tensor::<4>::full([2, 1, 4, 4], c, &device);
        let err = max_abs_diff(out.samples, expected);
        assert!(err < 1e-4, "{name}: max error {err}");
    }
}

#[test]
fn the_pipeline_samples_volumes_through_the_same_verb() {
    let device = test_device();
    let ddim =
        SchedulerConfig::from_name("ddim").unwrap().with_prediction_type(PredictionType::Sample);
    let pipeline =
        DiffusionPipeline::new(constant_sample_prediction::<5>(-0.25), ddim, 2, &[1, 2, 2, 2])
            .unwrap();
    let out =
        Sample::<5>::sample(&pipeline, 3, &Condition::none(), &mut seeded_rng(0), &device).unwrap();
    assert_eq!(out.samples.dims(), [3, 1, 2, 2, 2]);
    assert_eq!(out.nfe, 2);
    let err = max_abs_diff(out.samples, Tensor::<5>::full([3, 1, 2, 2, 2], -0.25, &device));
    assert!(err < 1e-4, "max error {err}");
}

#[test]
fn ddim_with_the_epsilon_oracle_recovers_the_data_point_and_is_seeded() {
    let device = test_device();
    let m = 0.25;
    let ddim = SchedulerConfig::from_name("ddim").unwrap();
    let pipeline = DiffusionPipeline::new(single_point_oracle(m), ddim, 3, &[1, 4, 4]).unwrap();
    let draw =
        |seed| pipeline.sample(2, &Condition::none(), &mut seeded_rng(seed), &device).unwrap();
    let a = draw(11);
    assert_eq!(a.nfe, 3);
    let err = max_abs_diff(a.samples.clone(), Tensor::<4>::full([2, 1, 4, 4], m, &device));
    assert!(err < 1e-4, "DDIM did not land on x0 = {m}: max error {err}");
    // Ancestral DDPM draws fresh noise at every step but its last step is deterministic, so
    // the oracle lands on the data point as well.
    let ddpm = SchedulerConfig::from_name("ddpm").unwrap();
    let pipeline = DiffusionPipeline::new(single_point_oracle(m), ddpm, 3, &[1, 4, 4]).unwrap();
    let out = pipeline.sample(2, &Condition::none(), &mut seeded_rng(11), &device).unwrap();
    let err = max_abs_diff(out.samples, Tensor::<4>::full([2, 1, 4, 4], m, &device));
    assert!(err < 1e-4, "DDPM did not land on x0 = {m}: max error {err}");
    // With a network that ignores the data the starting noise shows: same seed, same
    // samples; another seed, other samples.
    let ddim = SchedulerConfig::from_name("ddim").unwrap();
    let zero_noise = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.zeros_like());
    let pipeline = DiffusionPipeline::new(zero_noise, ddim, 2, &[1, 4, 4]).unwrap();
    let draw = |seed| {
        host::<f32, 4, _>(
            pipeline.sample(2, &Condition::none(), &mut seeded_rng(seed), &device).unwrap().samples,
        )
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}

#[test]
fn the_denoising_loss_matches_its_closed_form() {
    let device = test_device();
    let schedule = ScheduleConfig::new().init().unwrap();
    let abar = schedule.alphas_cumprod().to_vec();
    let snr = schedule.snr();
    assert_eq!(schedule.num_train_timesteps(), 1000);
    let x0 = Tensor::<4>::from_floats([[[[0.5, -1.0]]], [[[1.0, 0.0]]]], &device);
    let noise = Tensor::<4>::from_floats([[[[1.0, 2.0]]], [[[-3.0, 0.5]]]], &device);
    let zeros = x0.zeros_like();
    let timesteps = [10, 900];
    // ε-prediction with w ≡ 1: L = mean_n mean_pixels ε² for a zero output.
    let plain = DenoisingLossConfig::new().init(schedule.clone()).unwrap();
    let got = host::<f32, 1, _>(
        plain.loss(zeros.clone(), x0.clone(), noise.clone(), &timesteps).unwrap(),
    );
    let expected = ((1.0 + 4.0) / 2.0 + (9.0 + 0.25) / 2.0) / 2.0;
    assert!((got[0] - expected).abs() < 1e-5, "{got:?} vs {expected}");
    // Min-SNR-γ weights of an ε-network: w(t) = min(SNR_t, γ) / SNR_t.
    let gamma = 5.0;
    let weighted =
        DenoisingLossConfig::new().with_min_snr_gamma(Some(gamma)).init(schedule.clone()).unwrap();
    for t in [0, 10, 500, 900, 999] {
        let w = weighted.weight(t).unwrap();
        let expected = snr[t].min(gamma) / snr[t];
        assert!((w - expected).abs() < 1e-9, "t = {t}: {w} vs {expected}");
    }
    assert!(weighted.weight(10).unwrap() < 0.02 && weighted.weight(900).unwrap() == 1.0);
    let got = host::<f32, 1, _>(
        weighted.loss(zeros.clone(), x0.clone(), noise.clone(), &timesteps).unwrap(),
    );
    let w = [weighted.weight(10).unwrap(), weighted.weight(900).unwrap()];
    let expected = (w[0] * 2.5 + w[1] * 4.625) / 2.0;
    assert!((f64::from(got[0]) - expected).abs() < 1e-5, "{got:?} vs {expected}");
    // The velocity target v = √ᾱ_t ε − √(1−ᾱ_t) x₀, one timestep per item.
    let v = DenoisingLossConfig::new()
        .with_prediction_type(PredictionType::VPrediction)
        .init(schedule)
        .unwrap();
    let target = host::<f32, 4, _>(v.target(x0.clone(), noise.clone(), &timesteps).unwrap());
    let (x0_h, noise_h) = (host::<f32, 4, _>(x0), host::<f32, 4, _>(noise));
    for (i, got) in target.iter().enumerate() {
        let a = abar[timesteps[i / 2]];
        let expected = a.sqrt() * f64::from(noise_h[i]) - (1.0 - a).sqrt() * f64::from(x0_h[i]);
        assert!((f64::from(*got) - expected).abs() < 1e-5, "item {i}: {got} vs {expected}");
    }
}

#[test]
fn the_training_loss_of_the_epsilon_oracle_is_zero() {
    let device = test_device();
    let m = 0.25;
    let loss = DenoisingLossConfig::new().init(ScheduleConfig::new().init().unwrap()).unwrap();
    let data = Tensor::<4>::full([4, 1, 4, 4], m, &device);
    let oracle = single_point_oracle(m);
    let exact = host::<f32, 1, _>(
        loss.training_loss(&oracle, data.clone(), &Condition::none(), &mut seeded_rng(2)).unwrap(),
    );
    assert!(exact[0].abs() < 1e-6, "oracle loss {exact:?}");
    // The trait method is the same loss with the same draws.
    let via_trait = host::<f32, 1, _>(
        TrainingObjective::<4>::training_loss(
            &loss,
            &oracle,
            data.clone(),
            &Condition::none(),
            &mut seeded_rng(2),
        )
        .unwrap(),
    );
    assert_eq!(exact, via_trait);
    // A network that predicts no noise pays E[ε²] = 1 per pixel (64 draws: within ±0.6).
    let zero = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.zeros_like());
    let blind = host::<f32, 1, _>(
        loss.training_loss(&zero, data, &Condition::none(), &mut seeded_rng(2)).unwrap(),
    );
    assert!((blind[0] - 1.0).abs() < 0.6, "zero-network loss {blind:?}");
}

#[test]
fn the_training_loss_draws_simplex_noise_when_configured() {
    // With x₀ = 0 the network sees x_t = √(1−ᾱ_t) ε: white noise has no lag-1 correlation,
    // AnoDDPM's simplex noise is smooth.
    let device = test_device();
    let data = Tensor::<4>::zeros([2, 1, 32, 32], &device);
    let lag_correlation = |noise: NoiseKind| {
        let seen = std::cell::RefCell::new(None);
        let spy = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| {
            *seen.borrow_mut() = Some(x.clone());
            Ok(x)
        };
        let loss = DenoisingLossConfig::new()
            .with_noise(noise)
            .init(ScheduleConfig::new().init().unwrap())
            .unwrap();
        loss.training_loss(&spy, data.clone(), &Condition::none(), &mut seeded_rng(7)).unwrap();
        let x = seen.into_inner().unwrap();
        let (a, b) = (x.clone().narrow(3, 0, 31), x.narrow(3, 1, 31));
        let covariance = a.clone().mul(b).mean().into_scalar::<f32>();
        covariance / a.square().mean().into_scalar::<f32>()
    };
    assert!(lag_correlation(NoiseKind::Gaussian).abs() < 0.1);
    assert!(lag_correlation(NoiseKind::Simplex(SimplexNoiseConfig::new())) > 0.8);
}

#[test]
fn a_unet_trains_one_step_then_fits_and_samples() {
    let device = test_device().autodiff();
    let mut rng = seeded_rng(21);
    let data = gaussian_noise([2, 1, 8, 8], &mut rng, &device).unwrap().mul_scalar(0.5);
    let unet = init_seeded(&device, &mut rng, |d| tiny_unet().init(d)).unwrap();
    let loss = DenoisingLossConfig::new().init(ScheduleConfig::new().init().unwrap()).unwrap();
    // The first step's reported loss is the loss of the initial weights with the trainer's
    // first draws.
    let before = host::<f32, 1, _>(
        loss.training_loss(&unet, data.clone(), &Condition::none(), &mut seeded_rng(99)).unwrap(),
    )[0];
    let mut trainer =
        Trainer::new(&short_run(2), unet.clone(), AdamWConfig::new().init(), seeded_rng(99), &())
            .unwrap();
    let report = loss.train_step(&mut trainer, &data, &Condition::none()).unwrap();
    assert_eq!(report.step, 1);
    assert!(
        (report.loss - before).abs() <= 1e-5 * before.abs().max(1.0),
        "{} vs {before}",
        report.loss
    );
    assert_eq!(trainer.current_step(), 1);
    // The update changed the weights.
    let probe = |net: &UNet| {
        let t = Tensor::<1>::from_floats([500.0, 500.0], &device);
        net.evaluate(data.clone(), t, &Condition::none()).unwrap()
    };
    assert!(max_abs_diff(probe(&unet), probe(trainer.model())) > 0.0);
    loss.fit(&mut trainer, |_, _| Ok((data.clone(), Condition::none()))).unwrap();
    assert!(trainer.is_finished());
    assert_eq!(trainer.history().losses().len(), 2);
    assert!(trainer.history().losses().iter().all(|l| l.is_finite()));
    // A finished run refuses another step, naming it.
    assert_error!(
        loss.train_step(&mut trainer, &data, &Condition::none()).unwrap_err(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "step"
    );
    let ddim = SchedulerConfig::from_name("ddim").unwrap();
    let pipeline = DiffusionPipeline::new(trainer.inference_model(), ddim, 2, &[1, 8, 8]).unwrap();
    let samples =
        pipeline.sample(2, &Condition::none(), &mut seeded_rng(1), &test_device()).unwrap();
    assert_eq!(samples.samples.dims(), [2, 1, 8, 8]);
    assert_eq!(samples.nfe, 2);
    assert!(host::<f32, 4, _>(samples.samples).iter().all(|v| v.is_finite()));
}

#[test]
fn a_unet_survives_a_save_load_round_trip() {
    let device = test_device();
    let unet = init_seeded(&device, &mut seeded_rng(1), |d| tiny_unet().init(d)).unwrap();
    let other = init_seeded(&device, &mut seeded_rng(2), |d| tiny_unet().init(d)).unwrap();
    let x = gaussian_noise([1, 1, 8, 8], &mut seeded_rng(3), &device).unwrap();
    let t = Tensor::<1>::from_floats([250.0], &device);
    let eval = |net: &UNet| net.evaluate(x.clone(), t.clone(), &Condition::none()).unwrap();
    let reference = eval(&unet);
    assert!(max_abs_diff(reference.clone(), eval(&other)) > 1e-3, "two seeds, one network");
    // medgen-diffusion has no tempfile dev-dependency: a per-process file in the temp dir,
    // removed when the guard drops (also on a failed assertion).
    let file = TempFile(
        std::env::temp_dir().join(format!("medgen-diffusion-api-{}.bpk", std::process::id())),
    );
    unet.save_file(&file.0).unwrap();
    // Burn reads the parameters from the file lazily: evaluate while it exists.
    let loaded = other.load_file(&file.0);
    assert_eq!(max_abs_diff(reference, eval(&loaded)), 0.0);
}

/// A file path that is deleted on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn bad_pipeline_inputs_are_typed_errors() {
    let device = test_device();
    let ddim = || SchedulerConfig::from_name("ddim").unwrap();
    let net = constant_sample_prediction::<4>(0.0);
    assert_error!(
        DiffusionPipeline::new(&net, ddim(), 0, &[1, 4, 4]).err().unwrap(),
        DiffusionError::InvalidStepCount { requested: 0, .. },
        "inference steps"
    );
    for shape in [&[][..], &[1, 0, 4][..]] {
        assert_error!(
            DiffusionPipeline::new(&net, ddim(), 2, shape).err().unwrap(),
            DiffusionError::Core(CoreError::InvalidConfig { .. }),
            "sample_shape"
        );
    }
    // A volume shape for rank-4 samples.
    let pipeline = DiffusionPipeline::new(&net, ddim(), 2, &[1, 2, 2, 2]).unwrap();
    assert_error!(
        pipeline.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        DiffusionError::Core(CoreError::InvalidRank { expected: 5, got: 4, .. }),
        "sample_shape"
    );
    // More steps than training timesteps, caught when the scheduler is built.
    let pipeline =
        DiffusionPipeline::new(&net, ddim(), 2, &[1, 4, 4]).unwrap().with_num_inference_steps(2000);
    assert_error!(
        pipeline.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        DiffusionError::InvalidStepCount { requested: 2000, num_train_timesteps: 1000 },
        "2000 inference steps"
    );
    // Guidance needs a class or embedding to drop.
    let guided = DiffusionPipeline::new(&net, ddim(), 2, &[1, 4, 4])
        .unwrap()
        .with_guidance(GuidanceConfig::new().with_scale(3.0));
    assert_error!(
        guided.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        DiffusionError::Core(CoreError::GuidanceWithoutCondition { .. }),
        "guidance scale 3"
    );
    // A network that returns NaN is caught at the first timestep, which the error names.
    let nan =
        |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.ones_like().mul_scalar(f32::NAN));
    let pipeline = DiffusionPipeline::new(nan, ddim(), 3, &[1, 4, 4]).unwrap();
    assert_error!(
        pipeline.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        DiffusionError::NonFiniteModelOutput { timestep: 666 },
        "timestep 666"
    );
    // A network whose output does not have the sample's shape.
    let wrong = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.repeat_dim(1, 2));
    let pipeline = DiffusionPipeline::new(wrong, ddim(), 2, &[1, 4, 4]).unwrap();
    assert_error!(
        pipeline.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        DiffusionError::ModelOutputShape { .. },
        "model output"
    );
}

#[test]
fn bad_loss_and_schedule_inputs_are_typed_errors() {
    let device = test_device();
    let schedule = || ScheduleConfig::new().init().unwrap();
    assert_error!(
        DenoisingLossConfig::new().with_min_snr_gamma(Some(-1.0)).init(schedule()).unwrap_err(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "min_snr_gamma"
    );
    assert_error!(
        DenoisingLossConfig::new().with_condition_drop_prob(1.5).init(schedule()).unwrap_err(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "condition_drop_prob"
    );
    assert_error!(
        ScheduleConfig::new().with_num_train_timesteps(0).init().unwrap_err(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "num_train_timesteps"
    );
    assert_error!(
        ScheduleConfig::new().with_beta_start(0.5).with_beta_end(0.1).init().unwrap_err(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "beta_start"
    );
    let loss = DenoisingLossConfig::new().init(schedule()).unwrap();
    assert_error!(
        loss.weight(1000).unwrap_err(),
        DiffusionError::TimestepOutOfRange { timestep: 1000, num_train_timesteps: 1000 },
        "timestep 1000"
    );
    let x0 = Tensor::<4>::zeros([2, 1, 2, 2], &device);
    assert_error!(
        loss.loss(Tensor::zeros([2, 1, 2, 3], &device), x0.clone(), x0.clone(), &[1, 2])
            .unwrap_err(),
        DiffusionError::ModelOutputShape { .. },
        "model output"
    );
    assert_error!(
        loss.loss(x0.clone(), x0.clone(), x0.clone(), &[1, 5000]).unwrap_err(),
        DiffusionError::TimestepOutOfRange { timestep: 5000, .. },
        "timestep 5000"
    );
    // A condition for three items given with a batch of two.
    let labels = Tensor::<1, medgen_core::burn::tensor::Int>::zeros([3], &device);
    let net = constant_sample_prediction::<4>(0.0);
    assert_error!(
        loss.training_loss(
            &net,
            x0.clone(),
            &Condition::none().with_class(labels),
            &mut seeded_rng(0)
        )
        .unwrap_err(),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "condition"
    );
    assert_error!(
        loss.training_loss(
            &net,
            Tensor::<4>::zeros([0, 1, 2, 2], &device),
            &Condition::none(),
            &mut seeded_rng(0)
        )
        .unwrap_err(),
        DiffusionError::Core(CoreError::Empty { .. }),
        "training batch"
    );
}

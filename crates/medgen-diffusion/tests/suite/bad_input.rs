//! Bad inputs to `medgen-diffusion`, used as a dependent crate would use it: scheduler
//! configurations that cannot work (unknown names, `eta`, clipping and thresholding options,
//! custom timestep lists, offsets past `T`), the sampling loop with an empty batch, a
//! condition of another batch size, out-of-range guidance and networks whose output is NaN or
//! infinite (DDIM, DDPM with a learned variance, Euler, the probability-flow ODE, the score
//! SDE), img2img strengths, RePaint masks of the wrong shape or outside `[0, 1]`, the
//! denoising loss with mismatched timesteps or noise, the variational bound, the noisy
//! classifier and classifier guidance, and `slerp`. Every case asserts the exact error
//! variant and that the message names the offending argument.

use medgen_core::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen_core::ode::OdeSolver;
use medgen_core::{Condition, CoreError, TimeConditionedNetwork, seeded_rng};
use medgen_diffusion::{
    ClassifierGuided, DdimSchedulerConfig, DdpmSchedulerConfig, DenoisingLossConfig,
    DiffusionError, GuidanceConfig, LangevinCorrectorConfig, NoisyClassifierConfig, PredictionType,
    ProbabilityFlowConfig, RepaintConfig, ScheduleConfig, SchedulerConfig, ScoreSde,
    SdeSamplerConfig, VarianceType, img2img, sample, sample_sde, slerp, variational_bound,
};
use medgen_testing::{assert_err, assert_error, host, test_device};

/// The closure type of the oracle networks below.
type Network = Box<dyn Fn(Tensor<4>, Tensor<1>, &Condition<4>) -> medgen_core::Result<Tensor<4>>>;

/// A network whose output is `value` everywhere (NaN and ±∞ included).
fn constant(value: f32) -> Network {
    Box::new(move |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| {
        Ok(x.ones_like().mul_scalar(value))
    })
}

/// A network that predicts zero noise at every time except those below 1, where it returns
/// NaN: only the very last evaluation of a run goes wrong.
fn nan_near_zero() -> Network {
    Box::new(|x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
        let time = host::<f32, 1, _>(t)[0];
        Ok(if time < 1.0 { x.ones_like().mul_scalar(f32::NAN) } else { x.zeros_like() })
    })
}

/// A deterministic DDIM scheduler with `steps` inference steps.
fn ddim(steps: usize) -> medgen_diffusion::DdimScheduler {
    let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
    scheduler.set_timesteps(steps).unwrap();
    scheduler
}

/// A batch of `n` 4 × 4 single-channel images of zeros.
fn images(n: usize, device: &Device) -> Tensor<4> {
    Tensor::zeros([n, 1, 4, 4], device)
}

/// Scheduler configurations that cannot work are refused when the scheduler is built or its
/// timesteps are set.
#[test]
fn scheduler_configurations_that_cannot_work_are_refused() {
    assert_err!(
        SchedulerConfig::from_name("lms"),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "scheduler"
    );
    assert_err!(
        DdimSchedulerConfig::new().with_eta(1.5).init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "eta"
    );
    let mut scheduler = ddim(2);
    assert_err!(
        scheduler.set_eta(-0.1),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "eta"
    );
    assert_err!(
        DdpmSchedulerConfig::new().with_clip_sample_range(0.0).init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "clip_sample_range"
    );
    assert_err!(
        DdimSchedulerConfig::new()
            .with_thresholding(true)
            .with_dynamic_thresholding_ratio(0.0)
            .init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "dynamic_thresholding_ratio"
    );
    // Leading spacing of 1000 steps with an offset of 1 reaches timestep 1000.
    let mut offset = DdimSchedulerConfig::new().with_steps_offset(1).init().unwrap();
    assert_err!(
        offset.set_timesteps(1000),
        DiffusionError::TimestepOutOfRange { timestep: 1000, num_train_timesteps: 1000 },
        "timestep 1000"
    );
}

/// Custom timestep lists must be non-empty, strictly decreasing and below `T`.
#[test]
fn bad_custom_timestep_lists_are_refused() {
    let mut scheduler = DdpmSchedulerConfig::new().init().unwrap();
    assert_err!(
        scheduler.set_custom_timesteps(&[10, 20]),
        DiffusionError::InvalidTimesteps { .. },
        "strictly decreasing"
    );
    assert_err!(
        scheduler.set_custom_timesteps(&[1000, 10]),
        DiffusionError::InvalidTimesteps { .. },
        "num_train_timesteps"
    );
    let mut scheduler = ddim(2);
    assert_err!(
        scheduler.set_custom_timesteps(&[]),
        DiffusionError::InvalidTimesteps { .. },
        "empty"
    );
}

/// The sampling loop refuses an unset scheduler, an empty batch, a condition of another batch
/// size and out-of-range guidance before it evaluates the network.
#[test]
fn the_sampling_loop_checks_its_inputs() {
    let device = test_device();
    let net = constant(0.0);
    let none = Condition::none();
    let plain = GuidanceConfig::new();
    let mut rng = seeded_rng(0);
    let mut unset = DdimSchedulerConfig::new().init().unwrap();
    assert_err!(
        sample(&net, &mut unset, images(1, &device), &none, &plain, &mut rng),
        DiffusionError::TimestepsNotSet,
        "set_timesteps"
    );
    assert_err!(
        sample(&net, &mut ddim(2), images(0, &device), &none, &plain, &mut rng),
        DiffusionError::Core(CoreError::Empty { .. }),
        "sample"
    );
    let three = Condition::none().with_class(Tensor::<1, Int>::zeros([3], &device));
    assert_err!(
        sample(&net, &mut ddim(2), images(2, &device), &three, &plain, &mut rng),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "condition"
    );
    let two = Condition::none().with_class(Tensor::<1, Int>::zeros([2], &device));
    assert_err!(
        sample(
            &net,
            &mut ddim(2),
            images(2, &device),
            &two,
            &GuidanceConfig::new().with_scale(f64::NAN),
            &mut rng
        ),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "guidance.scale"
    );
    assert_err!(
        sample(
            &net,
            &mut ddim(2),
            images(2, &device),
            &two,
            &GuidanceConfig::new().with_scale(2.0).with_rescale(1.5),
            &mut rng
        ),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "guidance.rescale"
    );
}

/// A network whose output is NaN or infinite ends the run with a typed error naming the model
/// output, never with NaN samples.
#[test]
fn non_finite_network_outputs_are_typed_errors() {
    let device = test_device();
    let none = Condition::none();
    let plain = GuidanceConfig::new();
    let mut rng = seeded_rng(0);
    let mut ddpm = SchedulerConfig::from_name("ddpm").unwrap().build::<4>(2).unwrap();
    assert_err!(
        sample(
            &constant(f32::INFINITY),
            ddpm.as_mut(),
            images(1, &device),
            &none,
            &plain,
            &mut rng
        ),
        DiffusionError::NonFiniteModelOutput { .. },
        "model output"
    );
    let mut euler = SchedulerConfig::from_name("euler").unwrap().build::<4>(2).unwrap();
    assert_err!(
        sample(&constant(f32::NAN), euler.as_mut(), images(1, &device), &none, &plain, &mut rng),
        DiffusionError::NonFiniteModelOutput { .. },
        "model output"
    );
}

/// A DDPM step with a learned variance checks both halves of the `2C`-channel output: their
/// shape, and that the variance half is finite as well as the prediction.
#[test]
fn learned_variance_outputs_are_checked() {
    let device = test_device();
    let mut scheduler =
        DdpmSchedulerConfig::new().with_variance_type(VarianceType::Learned).init().unwrap();
    scheduler.set_timesteps(2).unwrap();
    let t = scheduler.timesteps()[0];
    let x = images(1, &device);
    assert_err!(
        scheduler.step(x.clone(), t, x.clone(), &mut seeded_rng(0)),
        DiffusionError::ModelOutputShape { .. },
        "2 x 1 channels"
    );
    let nan_variance = Tensor::cat(vec![x.zeros_like(), x.ones_like().mul_scalar(f32::NAN)], 1);
    assert_err!(
        scheduler.step(nan_variance, t, x, &mut seeded_rng(0)),
        DiffusionError::NonFiniteModelOutput { .. },
        "model output"
    );
}

/// img2img needs `0 < strength ≤ 1`, a scheduler with timesteps and a non-empty image.
#[test]
fn bad_img2img_inputs_are_refused() {
    let device = test_device();
    let net = constant(0.0);
    let (none, plain) = (Condition::none(), GuidanceConfig::new());
    let mut rng = seeded_rng(0);
    for strength in [0.0, 1.5] {
        assert_err!(
            img2img(&net, &mut ddim(4), images(1, &device), strength, &none, &plain, &mut rng),
            DiffusionError::InvalidStrength { .. },
            "strength"
        );
    }
    let mut unset = DdimSchedulerConfig::new().init().unwrap();
    assert_err!(
        img2img(&net, &mut unset, images(1, &device), 0.5, &none, &plain, &mut rng),
        DiffusionError::TimestepsNotSet,
        "set_timesteps"
    );
    assert_err!(
        img2img(&net, &mut ddim(4), images(0, &device), 0.5, &none, &plain, &mut rng),
        DiffusionError::Core(CoreError::Empty { .. }),
        "image"
    );
}

/// RePaint settings out of range, and masks that do not fit the image or leave `[0, 1]`.
#[test]
fn bad_repaint_settings_and_masks_are_refused() {
    let device = test_device();
    let schedule = || ScheduleConfig::new().init().unwrap();
    let small = || RepaintConfig::new().with_num_inference_steps(2).with_jump_length(1);
    assert_err!(
        small().with_eta(2.0).init(schedule()),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "eta"
    );
    assert_err!(
        small().with_jump_n_sample(0).init(schedule()),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "jump_n_sample"
    );
    assert_err!(
        RepaintConfig::new().with_num_inference_steps(0).init(schedule()),
        DiffusionError::InvalidStepCount { requested: 0, .. },
        "0 inference steps"
    );
    let repaint = small().with_jump_n_sample(1).init(schedule()).unwrap();
    let net = constant(0.0);
    let (none, plain) = (Condition::none(), GuidanceConfig::new());
    let image = images(1, &device);
    let inpaint = |mask: Tensor<4>| {
        repaint.inpaint(&net, image.clone(), mask, &none, &plain, &mut seeded_rng(0))
    };
    assert_err!(
        inpaint(Tensor::ones([1, 1, 2, 4], &device)),
        DiffusionError::InvalidMask { .. },
        "mask"
    );
    assert_err!(
        inpaint(Tensor::full([1, 1, 4, 4], 2.0, &device)),
        DiffusionError::InvalidMask { .. },
        "mask"
    );
    assert_err!(
        inpaint(Tensor::full([1, 1, 4, 4], -1.0, &device)),
        DiffusionError::InvalidMask { .. },
        "mask"
    );
    let mut nan_mask = vec![1.0f32; 16];
    nan_mask[5] = f32::NAN;
    let nan_mask = Tensor::<4>::from_data(TensorData::new(nan_mask, [1, 1, 4, 4]), &device);
    assert_err!(inpaint(nan_mask), DiffusionError::InvalidMask { .. }, "mask");
    assert_err!(
        repaint.inpaint(
            &net,
            images(0, &device),
            Tensor::ones([1, 1, 1, 1], &device),
            &none,
            &plain,
            &mut seeded_rng(0)
        ),
        DiffusionError::Core(CoreError::Empty { .. }),
        "image"
    );
    let half = Tensor::<4>::ones([1, 1, 4, 2], &device);
    let mask = Tensor::cat(vec![half.clone(), half.zeros_like()], 3);
    assert_err!(
        repaint.inpaint(
            &constant(f32::NAN),
            image.clone(),
            mask,
            &none,
            &plain,
            &mut seeded_rng(0)
        ),
        DiffusionError::Core(CoreError::NonFinite { .. }),
        "RePaint sample"
    );
}

/// The probability-flow ODE refuses an empty or reversed time interval, and a network that
/// returns NaN at the final denoising evaluation (after the ODE itself stayed finite).
#[test]
fn probability_flow_inputs_and_final_outputs_are_checked() {
    let device = test_device();
    let schedule = ScheduleConfig::new().init().unwrap();
    let euler = || ProbabilityFlowConfig::new(OdeSolver::Euler { steps: 2 });
    assert_err!(
        euler().with_t_start(Some(10.0)).with_t_end(10.0).init(&schedule),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "t_start/t_end"
    );
    assert_err!(
        ProbabilityFlowConfig::new(OdeSolver::Euler { steps: 0 }).init(&schedule),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "steps"
    );
    let flow = euler().init(&schedule).unwrap();
    let initial =
        medgen_core::noise::gaussian_noise([1, 1, 4, 4], &mut seeded_rng(1), &device).unwrap();
    assert_err!(
        flow.sample(&nan_near_zero(), initial, &Condition::none(), &GuidanceConfig::new()),
        DiffusionError::NonFiniteModelOutput { timestep: 0 },
        "model output"
    );
}

/// Score-SDE sampler settings out of range, and a NaN network.
#[test]
fn bad_score_sde_settings_and_outputs_are_refused() {
    let device = test_device();
    let net = constant(0.0);
    let (none, plain) = (Condition::none(), GuidanceConfig::new());
    let run = |config: SdeSamplerConfig, net: &Network| {
        sample_sde(net, &config, images(1, &device), &none, &plain, &mut seeded_rng(0))
    };
    let vp = || SdeSamplerConfig::new(ScoreSde::vp()).with_steps(2);
    assert_err!(
        run(vp().with_steps(0), &net),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "steps"
    );
    assert_err!(
        run(vp().with_eps(1.0), &net),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "eps"
    );
    assert_err!(
        run(vp().with_corrector(Some(LangevinCorrectorConfig::new().with_snr(0.0))), &net),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "snr"
    );
    let reversed = ScoreSde::Ve { sigma_min: 50.0, sigma_max: 0.01 };
    assert_err!(
        run(SdeSamplerConfig::new(reversed).with_steps(2), &net),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "sde"
    );
    assert_err!(
        run(vp(), &constant(f32::NAN)),
        DiffusionError::Core(CoreError::NonFinite { .. }),
        "SDE sample"
    );
}

/// The denoising loss needs one timestep per item and noise shaped like the data.
#[test]
fn the_denoising_loss_checks_timesteps_and_noise() {
    let device = test_device();
    let schedule = ScheduleConfig::new().init().unwrap();
    let loss = DenoisingLossConfig::new().init(schedule.clone()).unwrap();
    let x0 = Tensor::<4>::zeros([2, 1, 2, 2], &device);
    assert_err!(
        loss.loss(x0.clone(), x0.clone(), x0.clone(), &[1]),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "timesteps"
    );
    assert_err!(
        loss.loss(x0.clone(), x0.clone(), Tensor::zeros([2, 1, 1, 1], &device), &[1, 2]),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "noise"
    );
    assert_err!(
        schedule.add_noise(x0.clone(), x0, &[1, 2, 3]),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "timesteps"
    );
}

/// The variational bound needs timesteps in range and finite data.
#[test]
fn bad_variational_bound_inputs_are_refused() {
    let device = test_device();
    let ddpm = DdpmSchedulerConfig::new().init().unwrap();
    let net = constant(0.0);
    let none = Condition::none();
    let x0 = images(1, &device);
    let bound = |x0: Tensor<4>, timesteps: &[usize]| {
        variational_bound(&net, &ddpm, x0, &none, timesteps, false, &mut seeded_rng(0))
    };
    assert_err!(bound(x0.clone(), &[]), DiffusionError::Core(CoreError::Empty { .. }), "timesteps");
    assert_err!(
        bound(x0.clone(), &[0, 1000]),
        DiffusionError::TimestepOutOfRange { timestep: 1000, .. },
        "timestep 1000"
    );
    assert_err!(
        bound(x0.add_scalar(f32::NAN), &[0, 1]),
        DiffusionError::Core(CoreError::NonFinite { .. }),
        "x0"
    );
}

/// The noisy classifier refuses configurations that cannot be built and inputs that do not
/// fit it; classifier guidance refuses a negative scale and a missing target class.
#[test]
fn bad_classifier_and_classifier_guidance_inputs_are_refused() {
    let device = test_device();
    let tiny =
        || NoisyClassifierConfig::new(2, 1, 2).with_channels(4).with_levels(1).with_groups(2);
    assert_err!(
        tiny().with_groups(3).init(&device),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "groups"
    );
    assert_err!(
        NoisyClassifierConfig::new(2, 0, 2).init(&device),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "in_channels"
    );
    assert_err!(
        NoisyClassifierConfig::new(2, 1, 1)
            .with_channels(4)
            .with_levels(1)
            .with_groups(2)
            .init(&device),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "num_classes"
    );
    let classifier = tiny().init(&device).unwrap();
    let t = Tensor::<1>::zeros([1], &device);
    assert_err!(
        classifier.forward(Tensor::<4>::zeros([1, 2, 4, 4], &device), t.clone()),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "classifier input channels"
    );
    assert_err!(
        classifier.forward(images(1, &device), Tensor::zeros([2], &device)),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "classifier times"
    );
    let schedule = ScheduleConfig::new().init().unwrap();
    assert_err!(
        classifier.loss(
            &schedule,
            images(2, &device),
            Tensor::from_ints([0, 2], &device),
            &mut seeded_rng(0)
        ),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "labels"
    );
    assert_err!(
        classifier.log_prob_gradient(
            images(1, &device),
            t.clone(),
            Tensor::from_ints([5], &device)
        ),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "labels"
    );
    let net = constant(0.0);
    let eps = PredictionType::Epsilon;
    assert_err!(
        ClassifierGuided::new(&net, &classifier, &schedule, eps, -1.0, None, &device),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "classifier guidance scale"
    );
    let guided =
        ClassifierGuided::new(&net, &classifier, &schedule, eps, 1.0, None, &device).unwrap();
    assert_err!(
        guided.evaluate(images(1, &device), t, &Condition::none()),
        CoreError::InvalidConfig { .. },
        "classifier guidance"
    );
}

/// `slerp` needs end points of one shape and a finite fraction.
#[test]
fn bad_slerp_inputs_are_refused() {
    let device = test_device();
    let a = Tensor::<2>::ones([1, 4], &device);
    assert_error!(
        slerp(a.clone(), Tensor::ones([1, 3], &device), 0.5).unwrap_err(),
        DiffusionError::Core(CoreError::ShapeMismatch { .. }),
        "slerp end point"
    );
    assert_error!(
        slerp(a.clone(), a, f64::NAN).unwrap_err(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "slerp fraction"
    );
}

#[test]
fn bad_settings_of_the_multistep_and_flow_schedulers_are_refused() {
    use medgen_diffusion::{
        DpmAlgorithm, DpmSolverMultistepConfig, EulerAncestralConfig, PndmConfig, RFlowConfig,
        Scheduler,
    };
    let device = test_device();
    let x = images(1, &device);
    // Rectified flow defines only the velocity target.
    for prediction in [PredictionType::Epsilon, PredictionType::Sample] {
        assert_err!(
            RFlowConfig::new().with_prediction_type(prediction).init(),
            DiffusionError::Core(CoreError::InvalidConfig { .. }),
            "prediction_type"
        );
    }
    let by_name = SchedulerConfig::from_name("rflow").unwrap();
    assert_err!(
        by_name.with_prediction_type(PredictionType::Epsilon).build::<4>(4),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "prediction_type"
    );
    assert_err!(
        RFlowConfig::new().with_spatial_dim(4).init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "spatial_dim"
    );
    // The resolution shift needs the image size.
    let mut shifted = RFlowConfig::new().with_use_timestep_transform(true).init().unwrap();
    assert_err!(
        Scheduler::<4>::set_timesteps(&mut shifted, 10),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "input_img_size_numel"
    );
    assert_err!(
        DpmSolverMultistepConfig::new().with_solver_order(4).init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "solver_order"
    );
    assert_err!(
        DpmSolverMultistepConfig::new()
            .with_thresholding(true)
            .with_dynamic_thresholding_ratio(0.0)
            .init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "dynamic_thresholding_ratio"
    );
    assert_err!(
        DpmSolverMultistepConfig::new().with_thresholding(true).with_sample_max_value(0.5).init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "sample_max_value"
    );
    // The SDE variant needs noise; steps must come in order.
    let mut sde = DpmSolverMultistepConfig::new()
        .with_algorithm_type(DpmAlgorithm::SdeDpmSolverPlusPlus)
        .init()
        .unwrap();
    sde.set_timesteps(5).unwrap();
    let steps = sde.steps();
    assert_err!(
        sde.step(x.clone(), steps[0], x.clone(), None),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "noise"
    );
    assert!(matches!(
        sde.step(x.clone(), steps[1], x.clone(), Some(x.clone())),
        Err(DiffusionError::InvalidTimesteps { .. })
    ));
    let wrong = Tensor::<4>::zeros([1, 2, 8, 8], &device);
    assert!(matches!(
        sde.step(x.clone(), steps[0], x.clone(), Some(wrong.clone())),
        Err(DiffusionError::ModelOutputShape { .. })
    ));
    let mut unset = DpmSolverMultistepConfig::new().init().unwrap();
    assert!(matches!(
        unset.step(x.clone(), steps[0], x.clone(), None),
        Err(DiffusionError::TimestepsNotSet)
    ));
    // PNDM's Runge-Kutta warm-up needs four intervals; an offset past T is refused.
    let mut pndm = PndmConfig::new().init().unwrap();
    assert!(matches!(pndm.set_timesteps(3), Err(DiffusionError::InvalidStepCount { .. })));
    let mut offset = PndmConfig::new().with_steps_offset(100).init().unwrap();
    assert!(matches!(offset.set_timesteps(10), Err(DiffusionError::TimestepOutOfRange { .. })));
    pndm.set_timesteps(10).unwrap();
    assert!(matches!(
        pndm.step(x.clone(), 500, x.clone()),
        Err(DiffusionError::InvalidTimesteps { .. })
    ));
    assert_err!(
        EulerAncestralConfig::new().with_prediction_type(PredictionType::Sample).init(),
        DiffusionError::Core(CoreError::InvalidConfig { .. }),
        "prediction_type"
    );
    // Non-finite outputs are typed errors in every new scheduler.
    for name in ["dpm++2m", "dpm++2m-sde", "euler-ancestral", "pndm", "plms", "rflow"] {
        let config = SchedulerConfig::from_name(name).unwrap();
        let mut scheduler = match name {
            "rflow" => SchedulerConfig::RFlow(medgen_diffusion::RFlowConfig::new()).build::<4>(10),
            _ => config.build::<4>(10),
        }
        .unwrap();
        let network = constant(f32::NAN);
        let err = sample(
            &network,
            scheduler.as_mut(),
            x.clone(),
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut seeded_rng(0),
        )
        .unwrap_err();
        assert!(matches!(err, DiffusionError::NonFiniteModelOutput { .. }), "{name}: {err:?}");
    }
}

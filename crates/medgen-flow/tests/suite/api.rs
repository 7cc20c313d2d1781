//! The public API of `medgen-flow`, used as a dependent crate would use it: normalizing flows
//! (`Flow`, RealNVP, Glow) with exact densities checked against closed forms, inverses and a
//! `Trainer` step on the negative log-likelihood; flow matching (`FlowMatchingLoss` through
//! `TrainingObjective`, `FlowMatchingModel`) against the exact velocity field of a one-point
//! data set; continuous flows against a linear field `f(x) = a x`; sampling through
//! medgen-core's `Sample` verb with its `nfe`; a save/load round trip; and the typed error
//! every bad input produces (variant, and the offending argument in the message).

use medgen_core::burn::module::Module;
use medgen_core::burn::optim::AdamWConfig;
use medgen_core::burn::tensor::{Int, Tensor};
use medgen_core::noise::gaussian_noise;
use medgen_core::ode::OdeSolver;
use medgen_core::{
    Condition, CoreError, DensityKind, GuidanceConfig, LogDensity, Sample, init_seeded, seeded_rng,
};
use medgen_flow::continuous::{
    ContinuousFlow, ContinuousFlowConfig, MlpVectorFieldConfig, VjpField,
};
use medgen_flow::discrete::{ActNormConfig, GlowConfig, RealNvpConfig};
use medgen_flow::matching::{FlowMatchingLossConfig, FlowMatchingModel};
use medgen_flow::{Flow, FlowError};
use medgen_testing::assert_error;
use medgen_testing::{host, max_abs_diff, test_device};
use medgen_train::{Trainer, TrainerConfig, TrainingObjective, WarmupCosineConfig};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

fn short_run(steps: usize) -> TrainerConfig {
    TrainerConfig::new(WarmupCosineConfig::new(1e-2, steps).with_warmup_steps(0))
}

/// `log N(x; 0, I)` of each row of a row-major `[N, d]` array, in f64.
fn standard_normal_log_prob(values: &[f32], d: usize) -> Vec<f64> {
    values
        .chunks(d)
        .map(|row| {
            let sq: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            -0.5 * sq - 0.5 * d as f64 * LN_2PI
        })
        .collect()
}

/// The exact flow-matching velocity towards the one-point data set `{x₁ = m}` on the
/// straight path `x_t = (1 − t) x₀ + t m`: `u_t(x) = (m − x) / (1 − t)` (any rank).
fn single_point_field<const D: usize>(
    m: f32,
) -> impl Fn(Tensor<D>, Tensor<1>, &Condition<D>) -> medgen_core::Result<Tensor<D>> {
    move |x: Tensor<D>, t: Tensor<1>, _c: &Condition<D>| {
        let dims = x.dims();
        let mut per_item = [1; D];
        per_item[0] = dims[0];
        let remaining = t.neg().add_scalar(1.0).reshape(per_item).expand(dims);
        Ok(x.neg().add_scalar(m).div(remaining))
    }
}

/// The linear field `f(x, t) = a x` (any rank): the flow map is `x(1) = eᵃ x(0)`.
fn linear_field<const D: usize>(
    a: f32,
) -> impl Fn(Tensor<D>, Tensor<1>, &Condition<D>) -> medgen_core::Result<Tensor<D>> {
    move |x: Tensor<D>, _t: Tensor<1>, _c: &Condition<D>| Ok(x.mul_scalar(a))
}

#[test]
fn an_act_norm_flow_has_the_closed_form_density_and_samples() {
    let device = test_device();
    // y = 2x: log p(x) = log N(2x; 0, I) + 2 ln 2, and samples are z / 2.
    let layer = ActNormConfig::new(2).with_scale(2.0).init(&device).unwrap();
    let flow = Flow::new(2, vec![layer.into()], None).unwrap();
    let x = Tensor::<2>::from_floats([[0.5, -1.0], [2.0, 0.25], [0.0, 0.0]], &device);
    let doubled = host::<f32, 2, _>(x.clone().mul_scalar(2.0));
    let expected: Vec<f64> = standard_normal_log_prob(&doubled, 2)
        .into_iter()
        .map(|l| l + 2.0 * std::f64::consts::LN_2)
        .collect();
    let got = host::<f32, 1, _>(flow.log_prob(x.clone()).unwrap());
    for (g, e) in got.iter().zip(&expected) {
        assert!((f64::from(*g) - e).abs() < 1e-5, "{g} vs {e}");
    }
    // The capability trait says the same, and calls it exact.
    let value = flow.log_density(x, &Condition::none(), &mut seeded_rng(0)).unwrap();
    assert_eq!(value.kind, DensityKind::Exact);
    assert_eq!(host::<f32, 1, _>(value.nats), got);
    let samples =
        Sample::sample(&flow, 5, &Condition::none(), &mut seeded_rng(4), &device).unwrap();
    assert_eq!(samples.nfe, 1);
    assert_eq!(samples.samples.dims(), [5, 2]);
    let z = gaussian_noise([5, 2], &mut seeded_rng(4), &device).unwrap();
    assert!(max_abs_diff(samples.samples, z.div_scalar(2.0)) < 1e-6);
}

#[test]
fn real_nvp_inverts_its_forward_map() {
    let device = test_device();
    let flow =
        init_seeded(&device, &mut seeded_rng(1), |d| RealNvpConfig::new(2, 3, 8).init(d)).unwrap();
    assert_eq!(flow.dim, 2);
    let x = gaussian_noise([6, 2], &mut seeded_rng(2), &device).unwrap();
    let (z, log_det) = flow.forward(x.clone()).unwrap();
    assert!(max_abs_diff(z.clone(), x.clone()) > 1e-3, "random couplings move points");
    let (back, inverse_log_det) = flow.inverse(z.clone()).unwrap();
    assert!(max_abs_diff(back, x.clone()) < 1e-4);
    assert!(max_abs_diff(log_det.clone(), inverse_log_det.neg()) < 1e-4);
    // log p(x) = log N(f(x)) + log|det J_f(x)|.
    let base = standard_normal_log_prob(&host::<f32, 2, _>(z), 2);
    let dets = host::<f32, 1, _>(log_det);
    let got = host::<f32, 1, _>(flow.log_prob(x).unwrap());
    for i in 0..6 {
        let expected = base[i] + f64::from(dets[i]);
        assert!((f64::from(got[i]) - expected).abs() < 1e-4, "{} vs {expected}", got[i]);
    }
}

#[test]
fn real_nvp_trains_by_maximum_likelihood_and_samples() {
    let device = test_device().autodiff();
    let mut rng = seeded_rng(5);
    let data = gaussian_noise([16, 2], &mut rng, &device).unwrap().mul_scalar(0.5).add_scalar(1.0);
    let flow = init_seeded(&device, &mut rng, |d| RealNvpConfig::new(2, 2, 8).init(d)).unwrap();
    let before = host::<f32, 1, _>(flow.nll(data.clone()).unwrap())[0];
    let mut trainer =
        Trainer::new(&short_run(3), flow, AdamWConfig::new().init(), rng, &()).unwrap();
    let report = trainer.step(|flow: &Flow, _, _| flow.nll(data.clone())).unwrap();
    assert_eq!(report.step, 1);
    assert!((report.loss - before).abs() < 1e-5, "{} vs {before}", report.loss);
    trainer.fit(|flow: &Flow, _, _| flow.nll(data.clone())).unwrap();
    let losses = trainer.history().losses().to_vec();
    assert_eq!(losses.len(), 3);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let after = host::<f32, 1, _>(trainer.model().nll(data).unwrap())[0];
    assert!(after < before, "three steps of lr 1e-2 did not lower the NLL: {before} → {after}");
    let flow = trainer.inference_model();
    let samples =
        Sample::sample(&flow, 4, &Condition::none(), &mut seeded_rng(0), &test_device()).unwrap();
    assert_eq!(samples.samples.dims(), [4, 2]);
    assert_eq!(samples.nfe, 1);
    assert!(host::<f32, 2, _>(samples.samples).iter().all(|v| v.is_finite()));
}

#[test]
fn real_nvp_survives_a_save_load_round_trip() {
    let device = test_device();
    let build =
        |seed| init_seeded(&device, &mut seeded_rng(seed), |d| RealNvpConfig::new(2, 2, 8).init(d));
    let (flow, other) = (build(1).unwrap(), build(2).unwrap());
    let x = gaussian_noise([4, 2], &mut seeded_rng(3), &device).unwrap();
    let reference = flow.log_prob(x.clone()).unwrap();
    assert!(max_abs_diff(reference.clone(), other.log_prob(x.clone()).unwrap()) > 1e-4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real_nvp.bpk");
    flow.save_file(&path).unwrap();
    let loaded = other.load_file(&path);
    assert_eq!(max_abs_diff(reference, loaded.log_prob(x).unwrap()), 0.0);
}

#[test]
fn glow_samples_images_and_inverts_them() {
    let device = test_device();
    let glow =
        init_seeded(&device, &mut seeded_rng(3), |d| GlowConfig::new(1, 4, 4, 2, 1, 8).init(d))
            .unwrap();
    // Squeeze to [4, 2, 2], factor out half, squeeze again: the latents keep all 16 numbers.
    assert_eq!(glow.latent_shapes(), vec![[2, 2, 2], [8, 1, 1]]);
    assert_eq!(glow.dims_per_item(), 16);
    let samples =
        Sample::sample(&glow, 3, &Condition::none(), &mut seeded_rng(1), &device).unwrap();
    assert_eq!(samples.samples.dims(), [3, 1, 4, 4]);
    assert_eq!(samples.nfe, 1);
    let x = samples.samples;
    let (latents, log_det) = glow.forward(x.clone()).unwrap();
    assert_eq!(latents.len(), 2);
    let (back, inverse_log_det) = glow.inverse(latents).unwrap();
    assert!(max_abs_diff(back, x.clone()) < 1e-4);
    assert!(max_abs_diff(log_det, inverse_log_det.neg()) < 1e-3);
    let value = glow.log_density(x.clone(), &Condition::none(), &mut seeded_rng(0)).unwrap();
    assert_eq!(value.kind, DensityKind::Exact);
    assert_eq!(host::<f32, 1, _>(value.nats), host::<f32, 1, _>(glow.log_prob(x).unwrap()));
}

#[test]
fn flow_matching_with_the_exact_field_lands_on_the_data_point() {
    let device = test_device();
    let m = 0.75;
    // The exact field carries every noise sample in a straight line to m; Euler and the
    // midpoint rule integrate straight lines exactly and never evaluate at t = 1.
    for (solver, nfe) in [(OdeSolver::Euler { steps: 3 }, 3), (OdeSolver::Midpoint { steps: 2 }, 4)]
    {
        let model =
            FlowMatchingModel::new(single_point_field::<2>(m), solver.clone(), &[3]).unwrap();
        assert_eq!(model.solver(), &solver);
        let out = model.sample(4, &Condition::none(), &mut seeded_rng(8), &device).unwrap();
        assert_eq!(out.samples.dims(), [4, 3]);
        assert_eq!(out.nfe, nfe, "{solver:?}");
        let err = max_abs_diff(out.samples, Tensor::<2>::full([4, 3], m, &device));
        assert!(err < 1e-4, "{solver:?}: max error {err}");
    }
    // The same verb on images.
    let model = FlowMatchingModel::new(
        single_point_field::<4>(m),
        OdeSolver::Euler { steps: 2 },
        &[1, 2, 2],
    )
    .unwrap();
    let out =
        Sample::<4>::sample(&model, 2, &Condition::none(), &mut seeded_rng(8), &device).unwrap();
    assert_eq!((out.samples.dims(), out.nfe), ([2, 1, 2, 2], 2));
    assert!(max_abs_diff(out.samples, Tensor::<4>::full([2, 1, 2, 2], m, &device)) < 1e-4);
}

#[test]
fn the_flow_matching_loss_matches_its_closed_forms() {
    let device = test_device();
    let loss = FlowMatchingLossConfig::conditional(0.0).init().unwrap();
    // L = (1/N) Σ ½‖v − u‖² = ½ (1 + 4 + 9 + 16) / 2.
    let target = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
    let got = host::<f32, 1, _>(loss.loss(target.zeros_like(), target).unwrap());
    assert!((got[0] - 7.5).abs() < 1e-6, "{got:?}");
    // The exact field has zero loss; the zero field pays ½ E‖m − x₀‖².
    let m = 1.0;
    let data = Tensor::<2>::full([8, 2], m, &device);
    let exact = single_point_field::<2>(m);
    let got = host::<f32, 1, _>(
        loss.training_loss(&exact, data.clone(), &Condition::none(), &mut seeded_rng(3)).unwrap(),
    );
    assert!(got[0].abs() < 1e-6, "exact field loss {got:?}");
    let via_trait = host::<f32, 1, _>(
        TrainingObjective::<2>::training_loss(
            &loss,
            &exact,
            data.clone(),
            &Condition::none(),
            &mut seeded_rng(3),
        )
        .unwrap(),
    );
    assert_eq!(got, via_trait);
    let zero = |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(x.zeros_like());
    let blind = host::<f32, 1, _>(
        loss.training_loss(&zero, data, &Condition::none(), &mut seeded_rng(3)).unwrap(),
    );
    assert!(blind[0] > 0.5, "zero field loss {blind:?}");
}

#[test]
fn a_vector_field_trains_one_flow_matching_step_then_samples() {
    let device = test_device().autodiff();
    let mut rng = seeded_rng(13);
    let data = gaussian_noise([8, 2], &mut rng, &device).unwrap().mul_scalar(0.3).add_scalar(1.0);
    let field = init_seeded(&device, &mut rng, |d| {
        MlpVectorFieldConfig::new(2).with_hidden(vec![16]).init(d)
    })
    .unwrap();
    let loss = FlowMatchingLossConfig::conditional(0.0).init().unwrap();
    let before = host::<f32, 1, _>(
        loss.training_loss(&field, data.clone(), &Condition::none(), &mut seeded_rng(77)).unwrap(),
    )[0];
    let mut trainer =
        Trainer::new(&short_run(2), field, AdamWConfig::new().init(), seeded_rng(77), &()).unwrap();
    let report = loss.train_step(&mut trainer, &data, &Condition::none()).unwrap();
    assert_eq!(report.step, 1);
    assert!((report.loss - before).abs() < 1e-5, "{} vs {before}", report.loss);
    loss.fit(&mut trainer, |_, _| Ok((data.clone(), Condition::none()))).unwrap();
    assert!(trainer.is_finished());
    assert_eq!(trainer.history().len(), 2);
    let model =
        FlowMatchingModel::new(trainer.inference_model(), OdeSolver::Euler { steps: 2 }, &[2])
            .unwrap();
    let out = model.sample(5, &Condition::none(), &mut seeded_rng(0), &test_device()).unwrap();
    assert_eq!((out.samples.dims(), out.nfe), ([5, 2], 2));
    assert!(host::<f32, 2, _>(out.samples).iter().all(|v| v.is_finite()));
}

#[test]
fn a_continuous_flow_of_a_linear_field_has_closed_forms() {
    let device = test_device();
    let a = 0.5;
    let field = linear_field::<2>(a);
    // Euler with two steps multiplies by (1 + a/2)² = 1.5625.
    let euler = ContinuousFlowConfig::new().with_solver(OdeSolver::Euler { steps: 2 });
    let flow = ContinuousFlow::new(VjpField::new(&field), euler, vec![2]).unwrap();
    let out =
        Sample::<2>::sample(&flow, 4, &Condition::none(), &mut seeded_rng(6), &device).unwrap();
    assert_eq!((out.samples.dims(), out.nfe), ([4, 2], 2));
    let z = gaussian_noise([4, 2], &mut seeded_rng(6), &device).unwrap();
    assert!(max_abs_diff(out.samples, z.mul_scalar(1.5625)) < 1e-5);
    // The exact divergence is a·d, so log p(x) = log N(e^{−a} x; 0, I) − a d.
    let rk4 = ContinuousFlowConfig::new().with_solver(OdeSolver::Rk4 { steps: 4 });
    let flow = ContinuousFlow::new(VjpField::new(&field), rk4, vec![2]).unwrap();
    let x = Tensor::<2>::from_floats([[0.5, -1.0], [1.5, 0.2]], &device);
    let value = flow.log_density(x.clone(), &Condition::none(), &mut seeded_rng(0)).unwrap();
    assert_eq!(value.kind, DensityKind::Exact);
    let shrunk = host::<f32, 2, _>(x.mul_scalar((-f64::from(a)).exp()));
    let expected: Vec<f64> =
        standard_normal_log_prob(&shrunk, 2).into_iter().map(|l| l - 2.0 * f64::from(a)).collect();
    for (g, e) in host::<f32, 1, _>(value.nats).iter().zip(&expected) {
        assert!((f64::from(*g) - e).abs() < 1e-4, "{g} vs {e}");
    }
    // A trainable MLP field samples through the same verb.
    let mlp = init_seeded(&device, &mut seeded_rng(1), |d| {
        MlpVectorFieldConfig::new(2).with_hidden(vec![8]).init(d)
    })
    .unwrap();
    let flow = ContinuousFlow::new(
        mlp,
        ContinuousFlowConfig::new().with_solver(OdeSolver::Heun { steps: 2 }),
        vec![2],
    )
    .unwrap();
    let out =
        Sample::<2>::sample(&flow, 3, &Condition::none(), &mut seeded_rng(0), &device).unwrap();
    assert_eq!((out.samples.dims(), out.nfe), ([3, 2], 4));
}

#[test]
fn bad_flow_inputs_are_typed_errors() {
    let device = test_device();
    assert_error!(
        Flow::new(0, vec![], None).unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "dim"
    );
    assert_error!(
        RealNvpConfig::new(2, 0, 8).init(&device).unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "layers"
    );
    assert_error!(
        RealNvpConfig::new(2, 1, 8).with_scale_clamp(0.0).init(&device).unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "scale_clamp"
    );
    assert_error!(
        ActNormConfig::new(2).with_scale(0.0).init(&device).unwrap_err(),
        FlowError::NonInvertible { .. },
        "ActNorm"
    );
    let flow = RealNvpConfig::new(2, 1, 8).init(&device).unwrap();
    assert_error!(
        flow.log_prob(Tensor::zeros([3, 3], &device)).unwrap_err(),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "flow input"
    );
    assert_error!(
        flow.log_prob(Tensor::from_floats([[0.0, f32::NAN]], &device)).unwrap_err(),
        FlowError::Core(CoreError::NonFinite { .. }),
        "flow input"
    );
    assert_error!(
        flow.inverse(Tensor::zeros([0, 2], &device)).unwrap_err(),
        FlowError::Core(CoreError::Empty { .. }),
        "flow latent"
    );
    // Discrete flows are unconditional.
    let labelled = Condition::none().with_class(Tensor::<1, Int>::zeros([2], &device));
    assert_error!(
        Sample::sample(&flow, 2, &labelled, &mut seeded_rng(0), &device).unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "condition"
    );
    assert_error!(
        GlowConfig::new(1, 6, 8, 2, 1, 8).init(&device).unwrap_err(),
        FlowError::IndivisibleSize { size: 6, factor: 4, .. },
        "image height = 6"
    );
    assert_error!(
        GlowConfig::new(1, 4, 4, 1, 0, 8).init(&device).unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "steps"
    );
    let glow = GlowConfig::new(1, 4, 4, 1, 1, 8).init(&device).unwrap();
    assert_error!(
        glow.log_prob(Tensor::zeros([1, 1, 8, 8], &device)).unwrap_err(),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "Glow input"
    );
}

#[test]
fn bad_flow_matching_and_continuous_inputs_are_typed_errors() {
    let device = test_device();
    let field = single_point_field::<2>(0.0);
    assert_error!(
        FlowMatchingModel::new(&field, OdeSolver::Euler { steps: 0 }, &[2]).err().unwrap(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "steps"
    );
    for shape in [&[][..], &[2, 0][..]] {
        assert_error!(
            FlowMatchingModel::new(&field, OdeSolver::Euler { steps: 2 }, shape).err().unwrap(),
            FlowError::Core(CoreError::InvalidConfig { .. }),
            "sample_shape"
        );
    }
    // A vector shape for rank-4 samples.
    let images = single_point_field::<4>(0.0);
    let model = FlowMatchingModel::new(&images, OdeSolver::Euler { steps: 2 }, &[2]).unwrap();
    assert_error!(
        model.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        FlowError::Core(CoreError::InvalidRank { expected: 2, got: 4, .. }),
        "sample_shape"
    );
    let guided = FlowMatchingModel::new(&field, OdeSolver::Euler { steps: 2 }, &[2])
        .unwrap()
        .with_guidance(GuidanceConfig::new().with_scale(2.0));
    assert_error!(
        guided.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        FlowError::Core(CoreError::GuidanceWithoutCondition { .. }),
        "guidance scale 2"
    );
    assert_error!(
        FlowMatchingLossConfig::conditional(-1.0).init().unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "sigma"
    );
    assert_error!(
        FlowMatchingLossConfig::target(2.0).init().unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "sigma_min"
    );
    assert_error!(
        FlowMatchingLossConfig::conditional(0.0).with_condition_drop_prob(2.0).init().unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "condition_drop_prob"
    );
    let loss = FlowMatchingLossConfig::conditional(0.0).init().unwrap();
    assert_error!(
        loss.loss(Tensor::<2>::zeros([2, 3], &device), Tensor::zeros([2, 2], &device)).unwrap_err(),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "predicted velocity"
    );
    let nan = Tensor::<2>::from_floats([[0.0, f32::NAN]], &device);
    assert_error!(
        loss.training_loss(&field, nan, &Condition::none(), &mut seeded_rng(0)).unwrap_err(),
        FlowError::Core(CoreError::NonFinite { .. }),
        "data batch x1"
    );
    let labels = Condition::none().with_class(Tensor::<1, Int>::zeros([3], &device));
    assert_error!(
        loss.training_loss(&field, Tensor::zeros([2, 2], &device), &labels, &mut seeded_rng(0))
            .unwrap_err(),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "condition"
    );
    // Continuous flows.
    let linear = linear_field::<2>(1.0);
    let config = || ContinuousFlowConfig::new().with_solver(OdeSolver::Euler { steps: 2 });
    assert_error!(
        ContinuousFlow::new(VjpField::new(&linear), config(), vec![]).err().unwrap(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "item_shape"
    );
    assert_error!(
        ContinuousFlow::new(
            VjpField::new(&linear),
            ContinuousFlowConfig::new().with_solver(OdeSolver::Rk4 { steps: 0 }),
            vec![2]
        )
        .err()
        .unwrap(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "steps"
    );
    let images = linear_field::<4>(1.0);
    let flow = ContinuousFlow::new(VjpField::new(&images), config(), vec![2]).unwrap();
    assert_error!(
        Sample::<4>::sample(&flow, 1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err(),
        FlowError::Core(CoreError::InvalidRank { expected: 2, got: 4, .. }),
        "item_shape"
    );
    assert_error!(
        MlpVectorFieldConfig::new(0).init(&device).unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "dim"
    );
    assert_error!(
        MlpVectorFieldConfig::new(2).with_hidden(vec![4, 0]).init(&device).unwrap_err(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "hidden"
    );
}

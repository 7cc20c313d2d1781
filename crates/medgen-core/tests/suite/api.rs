//! The public API of `medgen-core`, used as a dependent crate would use it: the seeded
//! generator and its captured state, seeded module initialisation, conditions, classifier-free
//! guidance, the ODE integrators (against closed-form solutions of `x' = -x` and `x' = t`),
//! Gaussian and simplex noise, the input checks, device-name parsing and read-back, and the
//! typed error each bad input produces (variant and the offending argument in the message).

use medgen_core::burn::nn::{Linear, LinearConfig};
use medgen_core::burn::tensor::{Int, Tensor, TensorData};
use medgen_core::check::{
    ensure_batch, ensure_finite, ensure_finite_values, ensure_non_empty, ensure_shape,
};
use medgen_core::noise::{SimplexNoiseConfig, gaussian_like, gaussian_noise, simplex_noise};
use medgen_core::ode::{Dopri5Config, FixedStepMethod, OdeSolver, TimeGrid};
use medgen_core::{
    ClassifierFreeGuidance, Condition, CoreError, DeviceChoice, GuidanceConfig, RngState,
    TimeConditionedNetwork, init_seeded, read_values, seeded_rng,
};
use medgen_testing::assert_error;
use medgen_testing::{host, max_abs_diff, test_device};

fn noise_values(seed_rng: &mut medgen_core::SeededRng, n: usize) -> Vec<f32> {
    host(gaussian_noise([n], seed_rng, &test_device()).unwrap())
}

#[test]
fn captured_rng_state_continues_the_stream() {
    let mut rng = seeded_rng(42);
    let first = noise_values(&mut rng, 7);
    let state = RngState::capture(&rng);
    let mut restored = state.restore().unwrap();
    let expected = noise_values(&mut rng, 5);
    let got = noise_values(&mut restored, 5);
    assert_eq!(expected, got, "the restored generator must continue the stream");
    assert_ne!(first[..5], expected[..], "the stream must move on between draws");
    // Capturing the restored generator gives back the same state after the same draws.
    assert_eq!(RngState::capture(&rng), RngState::capture(&restored));
    // The same seed gives the same stream, another seed another one.
    assert_eq!(noise_values(&mut seeded_rng(42), 7), first);
    assert_ne!(noise_values(&mut seeded_rng(43), 7), first);
}

#[test]
fn corrupt_rng_states_are_invalid_config_naming_rng_state() {
    let good = RngState::capture(&seeded_rng(1));
    let bad_key = RngState { key_hex: "zz".repeat(32), ..good.clone() };
    assert_error!(bad_key.restore().unwrap_err(), CoreError::InvalidConfig { .. }, "rng_state");
    let short_key = RngState { key_hex: "ab".into(), ..good.clone() };
    assert_error!(short_key.restore().unwrap_err(), CoreError::InvalidConfig { .. }, "rng_state");
    let bad_position = RngState { word_pos: "twelve".into(), ..good };
    assert_error!(
        bad_position.restore().unwrap_err(),
        CoreError::InvalidConfig { .. },
        "word position"
    );
}

fn seeded_linear(seed: u64) -> (Linear, RngState) {
    let device = test_device();
    let mut rng = seeded_rng(seed);
    let linear =
        init_seeded(&device, &mut rng, |d| Ok::<_, CoreError>(LinearConfig::new(3, 2).init(d)))
            .unwrap();
    (linear, RngState::capture(&rng))
}

#[test]
fn init_seeded_is_a_function_of_the_generator() {
    let (a, state_a) = seeded_linear(7);
    let (b, _) = seeded_linear(7);
    let (c, _) = seeded_linear(8);
    let weights = |l: &Linear| host::<f32, 2, _>(l.weight.val());
    assert_eq!(a.weight.val().dims(), [3, 2]);
    assert_eq!(weights(&a), weights(&b));
    assert_ne!(weights(&a), weights(&c));
    // Exactly one u64 (two 32-bit ChaCha words) is taken from the caller's generator.
    assert_eq!(state_a.word_pos, "2");
    // Errors of the initialiser come back unchanged.
    let failed: Result<Linear, CoreError> = init_seeded(&test_device(), &mut seeded_rng(0), |_| {
        Err(CoreError::config("width", "must be positive"))
    });
    assert_error!(failed.unwrap_err(), CoreError::InvalidConfig { .. }, "width");
}

#[test]
fn conditions_report_batch_sizes_and_drop_parts() {
    let device = test_device();
    let labels = Tensor::<1, Int>::from_ints([0, 2, 1], &device);
    let cond = Condition::<4>::none().with_class(labels);
    assert!(Condition::<4>::none().is_empty());
    assert!(!cond.is_empty() && cond.has_droppable_part());
    assert_eq!(cond.batch_size().unwrap(), Some(3));

    // p = 1 drops every item, p = 0 none.
    let dropped = cond.drop_randomly(3, 1.0, &mut seeded_rng(0), &device).unwrap();
    assert_eq!(host::<f32, 1, _>(dropped.keep.unwrap()), vec![0.0; 3]);
    let kept = cond.drop_randomly(3, 0.0, &mut seeded_rng(0), &device).unwrap();
    assert_eq!(host::<f32, 1, _>(kept.keep.unwrap()), vec![1.0; 3]);

    // The conditional and null halves concatenate to 2N items with keep = [1, 1, 1, 0, 0, 0].
    let both = cond.cat(&cond.to_null(3, &device)).unwrap();
    assert_eq!(both.batch_size().unwrap(), Some(6));
    assert_eq!(host::<f32, 1, _>(both.keep.unwrap()), vec![1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(host::<i64, 1, _>(both.class.unwrap()), vec![0, 2, 1, 0, 2, 1]);

    let picked = cond.select(Tensor::<1, Int>::from_ints([2, 2], &device));
    assert_eq!(host::<i64, 1, _>(picked.class.unwrap()), vec![1, 1]);
}

#[test]
fn bad_conditions_are_typed_errors() {
    let device = test_device();
    let cond = Condition::<4>::none()
        .with_class(Tensor::zeros([3], &device))
        .with_embedding(Tensor::zeros([4, 2], &device));
    assert_error!(cond.batch_size().unwrap_err(), CoreError::ShapeMismatch { .. }, "condition");
    let labelled = Condition::<4>::none().with_class(Tensor::zeros([2], &device));
    assert_error!(
        labelled.drop_randomly(2, 1.5, &mut seeded_rng(0), &device).unwrap_err(),
        CoreError::InvalidConfig { .. },
        "p_drop"
    );
    assert_error!(
        labelled.cat(&Condition::none()).unwrap_err(),
        CoreError::InvalidConfig { .. },
        "class"
    );
}

/// `y(x, t, c) = x + keep · (class + 1) + t`, so `y_c − y_∅ = class + 1`.
fn oracle(x: Tensor<2>, t: Tensor<1>, c: &Condition<2>) -> medgen_core::Result<Tensor<2>> {
    let n = x.dims()[0];
    let class = c.class.clone().expect("class labels").float().add_scalar(1.0);
    let keep = c.keep.clone().unwrap_or_else(|| Tensor::ones([n], &x.device()));
    let shift = class.mul(keep).add(t).reshape([n as i64, 1]);
    Ok(x.add(shift))
}

#[test]
fn classifier_free_guidance_matches_its_formula() {
    let device = test_device();
    let x = Tensor::<2>::from_floats([[0.5, 0.0], [1.0, 2.0]], &device);
    let t = Tensor::<1>::from_floats([0.25, 0.0], &device);
    let cond = Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 2], &device));
    let w = 3.0;
    let guided = ClassifierFreeGuidance::new(&oracle, GuidanceConfig::new().with_scale(w))
        .unwrap()
        .evaluate(x.clone(), t.clone(), &cond)
        .unwrap();
    // ŷ = y_∅ + w (y_c − y_∅) = x + t + w (class + 1).
    let expected = Tensor::<2>::from_floats([[3.75, 3.25], [10.0, 11.0]], &device);
    assert!(max_abs_diff(guided, expected) < 1e-6);

    // w = 1 is the plain conditional network.
    let plain = ClassifierFreeGuidance::new(&oracle, GuidanceConfig::new()).unwrap();
    assert!(!plain.guidance().is_active());
    let y = plain.evaluate(x.clone(), t.clone(), &cond).unwrap();
    assert!(max_abs_diff(y, oracle(x.clone(), t, &cond).unwrap()) < 1e-6);

    // The rescale φ = 1 gives the guided output the conditional output's per-item std.
    let cond_out = Tensor::<4>::from_data(
        TensorData::new(vec![1.0f32, -1.0, 2.0, 0.0], [1, 1, 2, 2]),
        &device,
    );
    let uncond = Tensor::<4>::zeros([1, 1, 2, 2], &device);
    let rescaled =
        GuidanceConfig::new().with_scale(4.0).with_rescale(1.0).combine(cond_out, uncond).unwrap();
    // guided = 4 · cond, std ratio 1/4: the rescaled output is cond again.
    for (got, want) in host::<f32, 4, _>(rescaled).into_iter().zip([1.0, -1.0, 2.0, 0.0]) {
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
}

#[test]
fn bad_guidance_is_a_typed_error() {
    let device = test_device();
    let none = Condition::<2>::none();
    assert_error!(
        GuidanceConfig::new().with_scale(-1.0).validate(&none).unwrap_err(),
        CoreError::InvalidConfig { .. },
        "guidance.scale"
    );
    let refused = |config: GuidanceConfig| match ClassifierFreeGuidance::new(&oracle, config) {
        Ok(_) => panic!("invalid guidance accepted"),
        Err(err) => err,
    };
    assert_error!(
        refused(GuidanceConfig::new().with_scale(f64::NAN)),
        CoreError::InvalidConfig { .. },
        "guidance.scale"
    );
    assert_error!(
        refused(GuidanceConfig::new().with_rescale(1.5)),
        CoreError::InvalidConfig { .. },
        "guidance.rescale"
    );
    let guided =
        ClassifierFreeGuidance::new(&oracle, GuidanceConfig::new().with_scale(2.0)).unwrap();
    let err = guided
        .evaluate(Tensor::zeros([2, 2], &device), Tensor::zeros([2], &device), &none)
        .unwrap_err();
    assert_error!(err, CoreError::GuidanceWithoutCondition { .. }, "guidance scale 2");
}

/// `x' = -x` from `x(0) = x0`: one RK stage polynomial `R(z)` per step.
fn decay_solution(solver: &OdeSolver) -> (Vec<f32>, usize) {
    let x0 = Tensor::<1>::from_floats([1.0, 2.0, -4.0], &test_device());
    let solution = solver.solve(|_t, x: Tensor<1>| Ok(x.neg()), x0, 0.0, 1.0).unwrap();
    (host(solution.state), solution.nfe)
}

#[test]
fn fixed_step_solvers_match_exp_minus_t() {
    let h = -0.1f64;
    let exact = (-1.0f64).exp();
    let euler = 1.0 + h;
    let second = euler + h * h / 2.0;
    let fourth = second + h.powi(3) / 6.0 + h.powi(4) / 24.0;
    for (solver, nfe, amplification, accuracy) in [
        (OdeSolver::Euler { steps: 10 }, 10, euler, 0.06),
        (OdeSolver::Heun { steps: 10 }, 20, second, 2e-3),
        (OdeSolver::Midpoint { steps: 10 }, 20, second, 2e-3),
        (OdeSolver::Rk4 { steps: 10 }, 40, fourth, 1e-5),
    ] {
        let (state, got_nfe) = decay_solution(&solver);
        assert_eq!(got_nfe, nfe, "{solver:?}");
        for (g, x0) in state.iter().zip([1.0f64, 2.0, -4.0]) {
            let g = f64::from(*g);
            // Ten steps multiply by R(h)^10 exactly, up to f32 round-off.
            assert!((g / (x0 * amplification.powi(10)) - 1.0).abs() < 1e-5, "{solver:?}");
            assert!((g / (x0 * exact) - 1.0).abs() < accuracy, "{solver:?}: {g}");
        }
    }
}

#[test]
fn integration_runs_backwards_and_is_exact_on_polynomials() {
    let device = test_device();
    // Backwards from x(1) = e^{-1} to t = 0 recovers x(0) = 1.
    let x1 = Tensor::<1>::from_floats([(-1.0f32).exp()], &device);
    let back = OdeSolver::Rk4 { steps: 10 }.solve(|_t, x: Tensor<1>| Ok(x.neg()), x1, 1.0, 0.0);
    let back = host::<f32, 1, _>(back.unwrap().state);
    assert!((back[0] - 1.0).abs() < 1e-5, "{back:?}");
    // x' = t: x(1) = x(0) + 1/2, which RK4 integrates exactly even with one step.
    let x0 = Tensor::<2>::from_floats([[1.0, -1.0]], &device);
    let solution = OdeSolver::Rk4 { steps: 1 }
        .solve(|t, x: Tensor<2>| Ok(x.zeros_like().add_scalar(t)), x0.clone(), 0.0, 1.0)
        .unwrap();
    assert_eq!(host::<f32, 2, _>(solution.state), vec![1.5, -0.5]);
    // A non-uniform grid through FixedStepMethod with a trajectory at every grid time.
    let grid = TimeGrid::explicit(vec![0.0, 0.25, 1.0]).unwrap();
    let solution = FixedStepMethod::Heun
        .integrate(|t, x: Tensor<2>| Ok(x.zeros_like().add_scalar(2.0 * t)), x0, &grid, true)
        .unwrap();
    assert_eq!(solution.nfe, 4);
    let trajectory = solution.trajectory.unwrap();
    assert_eq!(trajectory.len(), 3);
    for (t, x) in trajectory {
        // x(t) = x(0) + t² (Heun is exact for a right-hand side linear in t).
        let got = host::<f32, 2, _>(x);
        let t2 = (t * t) as f32;
        assert!((got[0] - (1.0 + t2)).abs() < 1e-6 && (got[1] - (t2 - 1.0)).abs() < 1e-6);
    }
}

#[test]
fn dopri5_meets_its_tolerance_and_counts_evaluations() {
    let solver = OdeSolver::Dopri5(Dopri5Config::new(1e-6, 1e-8));
    let x0 = Tensor::<1>::from_floats([1.0], &test_device());
    let solution =
        solver.solve_with_trajectory(|_t, x: Tensor<1>| Ok(x.neg()), x0, 0.0, 2.0).unwrap();
    assert!(solution.accepted_steps > 0);
    // FSAL: one evaluation at t0, one for the automatic first step, six per attempted step.
    let attempts = solution.accepted_steps + solution.rejected_steps;
    assert_eq!(solution.nfe, 2 + 6 * attempts);
    assert_eq!(solution.t, 2.0);
    let trajectory = solution.trajectory.unwrap();
    assert_eq!(trajectory.len(), solution.accepted_steps + 1);
    for (t, x) in trajectory {
        let got = f64::from(x.into_scalar::<f32>());
        assert!((got - (-t).exp()).abs() < 1e-5, "t = {t}: {got}");
    }
}

#[test]
fn bad_ode_inputs_are_typed_errors() {
    let device = test_device();
    let x0 = || Tensor::<1>::from_floats([1.0, 2.0], &device);
    type Rhs = medgen_core::Result<Tensor<1>>;
    let decay = |_t: f64, x: Tensor<1>| -> Rhs { Ok(x.neg()) };
    let solve = |solver: OdeSolver, x: Tensor<1>| solver.solve(decay, x, 0.0, 1.0).unwrap_err();

    assert_error!(
        solve(OdeSolver::Rk4 { steps: 0 }, x0()),
        CoreError::InvalidConfig { .. },
        "steps"
    );
    assert_error!(
        OdeSolver::Euler { steps: 0 }.validate().unwrap_err(),
        CoreError::InvalidConfig { .. },
        "steps"
    );
    assert_error!(
        solve(OdeSolver::Dopri5(Dopri5Config::new(-1.0, 1e-6)), x0()),
        CoreError::InvalidConfig { .. },
        "rtol"
    );
    assert_error!(
        solve(OdeSolver::Dopri5(Dopri5Config::new(1e-5, 1e-6).with_safety(2.0)), x0()),
        CoreError::InvalidConfig { .. },
        "safety"
    );
    let empty = OdeSolver::Heun { steps: 4 }.solve(decay, x0(), 0.5, 0.5).unwrap_err();
    assert_error!(empty, CoreError::InvalidConfig { .. }, "t0, t1");
    assert_error!(
        TimeGrid::explicit(vec![0.0, 0.5, 0.4]).unwrap_err(),
        CoreError::InvalidConfig { .. },
        "times"
    );
    let nan = Tensor::<1>::from_floats([1.0, f32::NAN], &device);
    assert_error!(
        solve(OdeSolver::Euler { steps: 2 }, nan),
        CoreError::NonFinite { .. },
        "ODE initial state"
    );
    let reshaping = |_t: f64, x: Tensor<1>| -> Rhs { Ok(Tensor::cat(vec![x.clone(), x], 0)) };
    let err = OdeSolver::Euler { steps: 2 }.solve(reshaping, x0(), 0.0, 1.0).unwrap_err();
    assert_error!(err, CoreError::ShapeMismatch { .. }, "ODE right-hand side");
    // x' = x² from x(0) = 2 blows up at t = 1/2.
    let blow_up = |_t: f64, x: Tensor<1>| -> Rhs { Ok(x.clone().mul(x)) };
    let err = OdeSolver::Euler { steps: 40 }
        .solve(blow_up, Tensor::from_floats([2.0], &device), 0.0, 4.0)
        .unwrap_err();
    assert_error!(err, CoreError::NonFinite { .. }, "ODE state");
    let tight = Dopri5Config::new(1e-10, 1e-12).with_max_steps(2);
    let err = OdeSolver::Dopri5(tight).solve(decay, x0(), 0.0, 50.0).unwrap_err();
    assert!(matches!(err, CoreError::OdeMaxSteps { max_steps: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("2 steps"), "{err}");
    // The caller's own errors come back unchanged.
    let failing =
        |_t: f64, _x: Tensor<1>| -> Rhs { Err(CoreError::config("velocity", "network failed")) };
    assert_error!(
        OdeSolver::Rk4 { steps: 3 }.solve(failing, x0(), 0.0, 1.0).unwrap_err(),
        CoreError::InvalidConfig { .. },
        "velocity"
    );
}

#[test]
fn gaussian_noise_is_seeded_and_standard_normal() {
    let device = test_device();
    let a = gaussian_noise([2, 1, 32, 32], &mut seeded_rng(11), &device).unwrap();
    assert_eq!(a.dims(), [2, 1, 32, 32]);
    let b = gaussian_like(&a, &mut seeded_rng(11)).unwrap();
    assert_eq!(max_abs_diff(a.clone(), b), 0.0);
    let x: Vec<f64> = host::<f32, 4, _>(a).into_iter().map(f64::from).collect();
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    // Five standard errors: sd(mean) = 1/√n, sd(variance) ≈ √(2/n).
    assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {var}");
}

#[test]
fn simplex_noise_fields_are_standardised() {
    let device = test_device();
    let config = SimplexNoiseConfig::new().with_frequency(0.125).with_octaves(3);
    let noise = simplex_noise([2, 1, 16, 16], &config, &mut seeded_rng(5), &device).unwrap();
    let values = host::<f32, 4, _>(noise);
    for field in values.chunks(256) {
        let n = field.len() as f64;
        let mean = field.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = field.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-5, "mean {mean}");
        assert!((var - 1.0).abs() < 1e-4, "variance {var}");
    }
    let again = simplex_noise([2, 1, 16, 16], &config, &mut seeded_rng(5), &device).unwrap();
    assert_eq!(host::<f32, 4, _>(again), values);
}

#[test]
fn bad_noise_requests_are_typed_errors() {
    let device = test_device();
    assert_error!(
        gaussian_noise([2, 0, 4], &mut seeded_rng(0), &device).unwrap_err(),
        CoreError::Empty { .. },
        "Gaussian noise shape"
    );
    assert_error!(
        gaussian_noise([usize::MAX, 4], &mut seeded_rng(0), &device).unwrap_err(),
        CoreError::InvalidConfig { .. },
        "Gaussian noise shape"
    );
    let config = SimplexNoiseConfig::new().with_octaves(0);
    assert_error!(
        simplex_noise([1, 1, 4, 4], &config, &mut seeded_rng(0), &device).unwrap_err(),
        CoreError::InvalidConfig { .. },
        "octaves"
    );
    let config = SimplexNoiseConfig::new();
    assert_error!(
        simplex_noise([4, 4], &config, &mut seeded_rng(0), &device).unwrap_err(),
        CoreError::InvalidRank { expected: 4, got: 2, .. },
        "simplex noise shape"
    );
}

#[test]
fn input_checks_name_the_input() {
    let device = test_device();
    let ok = Tensor::<2>::from_floats([[1.0, -2.0], [3.0, 1e30]], &device);
    assert!(ensure_finite(&ok, "ok").is_ok());
    let inf = Tensor::<2>::from_floats([[1.0, f32::NEG_INFINITY], [0.0, 0.0]], &device);
    assert_error!(
        ensure_finite(&inf, "scores").unwrap_err(),
        CoreError::NonFinite { .. },
        "scores"
    );
    assert_error!(
        ensure_finite_values(&[0.0, f32::NAN], "weights").unwrap_err(),
        CoreError::NonFinite { .. },
        "weights"
    );
    assert_error!(
        ensure_shape(&[2, 3], &[2, 4], "mask").unwrap_err(),
        CoreError::ShapeMismatch { .. },
        "mask"
    );
    assert!(ensure_shape(&[2, 4], &[2, 4], "mask").is_ok());
    assert_error!(
        ensure_non_empty(&[0, 1, 4, 4], "batch").unwrap_err(),
        CoreError::Empty { .. },
        "batch"
    );
    let matrix = Tensor::<2>::zeros([2, 2], &device);
    assert_error!(
        ensure_batch(&matrix, "images").unwrap_err(),
        CoreError::InvalidRank { expected: 4, got: 2, .. },
        "images"
    );
    assert!(ensure_batch(&Tensor::<4>::zeros([1, 1, 2, 2], &device), "images").is_ok());
}

#[test]
fn device_names_parse_and_unknown_names_are_device_errors() {
    assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
    assert_eq!(" flex ".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
    assert_eq!("lavapipe".parse::<DeviceChoice>().unwrap(), DeviceChoice::WgpuSoftware);
    assert!("gpu".parse::<DeviceChoice>().unwrap().is_wgpu());
    assert!(!DeviceChoice::Ndarray.is_wgpu());
    assert_error!("tpu".parse::<DeviceChoice>().unwrap_err(), CoreError::Device { .. }, "tpu");
    assert_eq!(
        DeviceChoice::from_env("MEDGEN_CORE_API_TEST_UNSET_VARIABLE").unwrap(),
        DeviceChoice::Cpu
    );
    // The CPU device exists, or the error names the missing Cargo feature.
    if let Err(err) = DeviceChoice::Cpu.device() {
        assert_error!(err, CoreError::Device { .. }, "flex");
    }
}

#[test]
fn values_read_back_in_row_major_order() {
    let device = test_device();
    let x = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.5]], &device);
    assert_eq!(read_values::<f64, 2, _>(x.clone(), "x").unwrap(), vec![1.0, 2.0, 3.0, 4.5]);
    assert_eq!(host::<f32, 2, _>(x.transpose()), vec![1.0, 3.0, 2.0, 4.5]);
    let labels = Tensor::<1, Int>::from_ints([3, -1], &device);
    assert_eq!(read_values::<i64, 1, _>(labels, "labels").unwrap(), vec![3, -1]);
}

#[test]
fn closures_are_time_conditioned_networks() {
    let device = test_device();
    let scale = |x: Tensor<2>, t: Tensor<1>, _c: &Condition<2>| {
        let n = x.dims()[0];
        Ok(x.mul(t.reshape([n as i64, 1])))
    };
    let x = Tensor::<2>::ones([2, 3], &device);
    let y = scale.evaluate(x, Tensor::from_floats([2.0, -1.0], &device), &Condition::none());
    assert_eq!(host::<f32, 2, _>(y.unwrap()), vec![2.0, 2.0, 2.0, -1.0, -1.0, -1.0]);
}

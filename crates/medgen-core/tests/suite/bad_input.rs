//! Bad inputs to the public API of `medgen-core`, beyond those of `tests/suite/api.rs`: conditions
//! with NaN probabilities, mismatched batch sizes and parts on one side only, corrupt RNG
//! states, simplex-noise settings that overflow the lattice, empty noise shapes, adaptive and
//! fixed-step ODE settings and bounds that cannot work, right-hand sides that return NaN, ±∞ or
//! the wrong shape, classifier-free guidance whose network drops items, and the batch checks.
//! Each case asserts the exact `CoreError` variant and that the message names the argument.

use medgen_core::burn::tensor::{Int, Tensor};
use medgen_core::check::{batch_shape, ensure_batch};
use medgen_core::noise::{SimplexNoiseConfig, gaussian_like, simplex_noise};
use medgen_core::ode::{Dopri5Config, FixedStepMethod, OdeSolver, TimeGrid};
use medgen_core::{
    ClassifierFreeGuidance, Condition, CoreError, GuidanceConfig, RngState, TimeConditionedNetwork,
    seeded_rng,
};
use medgen_testing::{assert_err, test_device};

type Rhs = medgen_core::Result<Tensor<1>>;

/// `x' = -x`, the right-hand side of the well-posed cases.
fn decay(_t: f64, x: Tensor<1>) -> Rhs {
    Ok(x.neg())
}

fn x0() -> Tensor<1> {
    Tensor::from_floats([1.0, -2.0], &test_device())
}

/// Condition dropout needs a probability in `[0, 1]`; NaN and negative values are refused.
#[test]
fn condition_dropout_rejects_nan_and_negative_probabilities() {
    let device = test_device();
    let cond = Condition::<4>::none().with_class(Tensor::<1, Int>::from_ints([0, 1], &device));
    assert_err!(
        cond.drop_randomly(2, f64::NAN, &mut seeded_rng(0), &device),
        CoreError::InvalidConfig { .. },
        "p_drop"
    );
    assert_err!(
        cond.dropped_for_guidance(2, -0.25, &mut seeded_rng(0), &device).map(|_| ()),
        CoreError::InvalidConfig { .. },
        "p_drop"
    );
}

/// A keep mask of another length than the labels, or an embedding present on one side of a
/// concatenation only, are typed errors.
#[test]
fn inconsistent_conditions_are_typed_errors() {
    let device = test_device();
    let labels = Tensor::<1, Int>::from_ints([0, 1, 2], &device);
    let keep_mismatch = Condition::<4> {
        keep: Some(Tensor::ones([2], &device)),
        ..Condition::none().with_class(labels.clone())
    };
    assert_err!(keep_mismatch.batch_size(), CoreError::ShapeMismatch { .. }, "condition");
    let with_embedding = Condition::<4>::none()
        .with_class(labels.clone())
        .with_embedding(Tensor::zeros([3, 2], &device));
    let class_only = Condition::<4>::none().with_class(labels);
    assert_err!(with_embedding.cat(&class_only), CoreError::InvalidConfig { .. }, "embedding");
}

/// An RNG state whose key is 64 bytes but not hexadecimal ASCII, or whose word position is
/// negative, cannot be restored.
#[test]
fn corrupt_rng_states_are_refused() {
    let good = RngState::capture(&seeded_rng(3));
    let non_ascii = RngState { key_hex: "é".repeat(32), ..good.clone() };
    assert_eq!(non_ascii.key_hex.len(), 64, "the key has the right byte length");
    assert_err!(non_ascii.restore(), CoreError::InvalidConfig { .. }, "rng_state");
    let negative = RngState { word_pos: "-1".into(), ..good };
    assert_err!(negative.restore(), CoreError::InvalidConfig { .. }, "word position");
}

/// Simplex settings that are NaN or infinite, or whose octaves reach lattice coordinates an
/// `f64` cannot resolve (or an `i64` cannot hold), are refused before any noise is drawn.
#[test]
fn simplex_noise_settings_that_overflow_are_refused() {
    let device = test_device();
    let draw = |config: SimplexNoiseConfig| {
        simplex_noise([1, 1, 4, 4], &config, &mut seeded_rng(0), &device)
    };
    assert_err!(
        draw(SimplexNoiseConfig::new().with_persistence(f64::NAN)),
        CoreError::InvalidConfig { .. },
        "persistence"
    );
    assert_err!(
        draw(SimplexNoiseConfig::new().with_lacunarity(f64::INFINITY)),
        CoreError::InvalidConfig { .. },
        "lacunarity"
    );
    // 1e20^31 overflows: the finest octave would sample at infinite coordinates (NaN noise).
    assert_err!(
        draw(SimplexNoiseConfig::new().with_lacunarity(1e20).with_octaves(32)),
        CoreError::InvalidConfig { .. },
        "lacunarity"
    );
    // 1e19 cycles per pixel puts pixel 3 beyond the integer lattice.
    assert_err!(
        draw(SimplexNoiseConfig::new().with_frequency(1e19).with_octaves(1)),
        CoreError::InvalidConfig { .. },
        "frequency"
    );
    // A subnormal frequency has an infinite lattice period to draw offsets from.
    assert_err!(
        draw(SimplexNoiseConfig::new().with_frequency(1e-320)),
        CoreError::InvalidConfig { .. },
        "frequency"
    );
}

/// Zero-sized batches and volumes are refused by the noise generators.
#[test]
fn empty_noise_shapes_are_refused() {
    let device = test_device();
    let config = SimplexNoiseConfig::new();
    assert_err!(
        simplex_noise([1, 1, 2, 0, 2], &config, &mut seeded_rng(0), &device),
        CoreError::Empty { .. },
        "simplex noise shape"
    );
    let empty_batch = Tensor::<2>::zeros([0, 3], &device);
    assert_err!(
        gaussian_like(&empty_batch, &mut seeded_rng(0)),
        CoreError::Empty { .. },
        "Gaussian noise shape"
    );
}

/// Adaptive-step settings outside their ranges name the field.
#[test]
fn bad_dopri5_settings_name_the_field() {
    let solve = |config: Dopri5Config| config.integrate(decay, x0(), 0.0, 1.0, false);
    assert_err!(
        solve(Dopri5Config::new(1e-5, f64::INFINITY)),
        CoreError::InvalidConfig { .. },
        "atol"
    );
    assert_err!(
        solve(Dopri5Config::new(1e-5, 1e-6).with_first_step(Some(-0.1))),
        CoreError::InvalidConfig { .. },
        "first_step"
    );
    assert_err!(
        solve(Dopri5Config::new(1e-5, 1e-6).with_min_factor(1.0)),
        CoreError::InvalidConfig { .. },
        "min_factor"
    );
    assert_err!(
        solve(Dopri5Config::new(1e-5, 1e-6).with_max_factor(1.0)),
        CoreError::InvalidConfig { .. },
        "max_factor"
    );
    assert_err!(
        solve(Dopri5Config::new(1e-5, 1e-6).with_pi_beta(f64::NAN)),
        CoreError::InvalidConfig { .. },
        "pi_beta"
    );
}

/// Infinite or NaN integration bounds, NaN grid times and an empty initial state are refused.
#[test]
fn bad_bounds_grids_and_initial_states_are_refused() {
    assert_err!(
        OdeSolver::Rk4 { steps: 4 }.solve(decay, x0(), 0.0, f64::INFINITY),
        CoreError::InvalidConfig { .. },
        "t0, t1"
    );
    assert_err!(
        OdeSolver::Dopri5(Dopri5Config::new(1e-5, 1e-6)).solve(decay, x0(), f64::NAN, 1.0),
        CoreError::InvalidConfig { .. },
        "t0, t1"
    );
    assert_err!(TimeGrid::explicit(vec![0.0, f64::NAN]), CoreError::InvalidConfig { .. }, "times");
    let empty = Tensor::<1>::zeros([0], &test_device());
    assert_err!(
        OdeSolver::Euler { steps: 2 }.solve(decay, empty, 0.0, 1.0),
        CoreError::Empty { .. },
        "ODE initial state"
    );
    let grid = TimeGrid::explicit(vec![1.0, 0.5, 0.0]).unwrap();
    let infinite = Tensor::<1>::from_floats([f32::INFINITY, 0.0], &test_device());
    assert_err!(
        FixedStepMethod::Midpoint.integrate(decay, infinite, &grid, false),
        CoreError::NonFinite { .. },
        "ODE initial state"
    );
}

/// Right-hand sides (network outputs) that return ±∞, NaN or the wrong shape stop the
/// integration with a typed error instead of a non-finite state or a panic.
#[test]
fn misbehaving_right_hand_sides_are_typed_errors() {
    let infinite = |_t: f64, x: Tensor<1>| -> Rhs { Ok(x.mul_scalar(f32::INFINITY)) };
    assert_err!(
        FixedStepMethod::Heun.integrate(
            infinite,
            x0(),
            &TimeGrid::uniform(0.0, 1.0, 3).unwrap(),
            true
        ),
        CoreError::NonFinite { .. },
        "ODE state"
    );
    let nan = |_t: f64, x: Tensor<1>| -> Rhs { Ok(x.mul_scalar(f32::NAN)) };
    assert_err!(
        OdeSolver::Dopri5(Dopri5Config::new(1e-4, 1e-6)).solve(nan, x0(), 0.0, 1.0),
        CoreError::NonFinite { .. },
        "ODE right-hand side"
    );
    let truncating = |_t: f64, x: Tensor<1>| -> Rhs { Ok(x.narrow(0, 0, 1)) };
    assert_err!(
        OdeSolver::Dopri5(Dopri5Config::new(1e-4, 1e-6)).solve(truncating, x0(), 0.0, 1.0),
        CoreError::ShapeMismatch { .. },
        "ODE right-hand side"
    );
}

/// A NaN rescale is refused, and a network that returns `N` instead of `2N` items for the
/// doubled guided batch is a shape error naming the guided output.
#[test]
fn guidance_rejects_nan_rescale_and_dropped_items() {
    let device = test_device();
    type Out = medgen_core::Result<Tensor<2>>;
    let first_half = |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| -> Out {
        let n = x.dims()[0] / 2;
        Ok(x.narrow(0, 0, n))
    };
    assert_err!(
        ClassifierFreeGuidance::new(&first_half, GuidanceConfig::new().with_rescale(f64::NAN)),
        CoreError::InvalidConfig { .. },
        "guidance.rescale"
    );
    let guided =
        ClassifierFreeGuidance::new(&first_half, GuidanceConfig::new().with_scale(3.0)).unwrap();
    let cond = Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 1], &device));
    let x = Tensor::<2>::zeros([2, 3], &device);
    let t = Tensor::<1>::zeros([2], &device);
    assert_err!(
        guided.evaluate(x, t, &cond),
        CoreError::ShapeMismatch { .. },
        "guided network output"
    );
}

/// A zero-sized batch and an item shape of the wrong rank are refused by the batch checks.
#[test]
fn batch_checks_reject_empty_batches_and_wrong_ranks() {
    let empty = Tensor::<4>::zeros([0, 1, 2, 2], &test_device());
    assert_err!(ensure_batch(&empty, "images"), CoreError::Empty { .. }, "images");
    assert_err!(
        batch_shape::<4>(2, &[1, 8], "sample_shape"),
        CoreError::InvalidRank { expected: 3, got: 4, .. },
        "sample_shape"
    );
    assert_err!(
        batch_shape::<4>(2, &[1, 0, 8], "sample_shape"),
        CoreError::Empty { .. },
        "sample_shape"
    );
}

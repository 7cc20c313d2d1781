//! Bad inputs to the public API of `medgen-flow`, beyond those of `tests/suite/api.rs`: assignments
//! longer than the cost matrix or naming columns outside it (and out-of-range look-ups, which
//! give `None`), cost matrices and transport plans of the wrong size, with NaN/±∞ or all-zero
//! entries, Sinkhorn settings that cannot converge, path times outside `[0, 1]` or of the wrong
//! count and noisy paths without noise, conditions of another batch size and empty initial
//! states for integration and likelihoods, velocity networks that return NaN or the wrong
//! shape, source batches that do not match the data, 8-bit images outside `[0, 256)`, singular
//! or mis-sized 1×1 convolution weights and base distributions, odd image sizes for squeezes
//! and splits, Glow latents of the wrong count and ActNorm initialisation from one value per
//! channel. Each case asserts the exact error variant and that the message names the argument.

use medgen_core::burn::tensor::{Int, Tensor};
use medgen_core::ode::OdeSolver;
use medgen_core::{Condition, CoreError, Sample, seeded_rng};
use medgen_flow::FlowError;
use medgen_flow::continuous::{ContinuousFlowConfig, DivergenceMethod, VjpField, cnf_log_density};
use medgen_flow::discrete::{
    ActNormConfig, DiagonalGaussian, FlowLayer, GlowConfig, InvConv1x1, Squeeze, dequantize,
    split_channels,
};
use medgen_flow::matching::{
    CostMatrix, FlowMatchingLossConfig, FlowMatchingModel, ProbabilityPath, SinkhornConfig,
    TransportPlan, assignment_cost, flow_log_likelihood, integrate_flow, linear_sum_assignment,
};
use medgen_testing::{assert_err, test_device};

type Out<const D: usize> = medgen_core::Result<Tensor<D>>;

/// The field `v(x, t) = −x` (well-posed everywhere).
fn decay(x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>) -> Out<2> {
    Ok(x.neg())
}

/// A 2 × 2 cost matrix.
fn square_cost() -> CostMatrix {
    CostMatrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap()
}

/// Two class labels: a condition for a batch of two.
fn two_labels() -> Condition<2> {
    Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 1], &test_device()))
}

/// An assignment with more entries than the cost matrix has rows, or naming a column beyond
/// it, is refused by `assignment_cost` (it used to index out of bounds); look-ups outside the
/// cost matrix or the plan give `None`; a tall matrix has no assignment.
#[test]
fn assignments_and_look_ups_outside_the_matrix_are_refused() {
    let cost = square_cost();
    assert_err!(
        assignment_cost(&cost, &[0, 1, 0]),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "assignment"
    );
    assert_err!(
        assignment_cost(&cost, &[0, 2]),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "assignment"
    );
    assert_eq!(cost.get(1, 1), Some(4.0));
    assert_eq!(cost.get(2, 0), None);
    assert_eq!(cost.get(0, 2), None);
    let plan = TransportPlan::from_assignment(2, &[1, 0]).unwrap();
    assert_eq!(plan.get(0, 1), Some(0.5));
    assert_eq!(plan.get(2, 0), None);
    assert_eq!(plan.get(0, 2), None);
    let tall = CostMatrix::new(3, 2, vec![0.0; 6]).unwrap();
    assert_err!(
        linear_sum_assignment(&tall),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "cost matrix"
    );
}

/// Cost matrices with the wrong number of entries or an infinite entry, all-zero plans, plans
/// from assignments naming a missing column and the cost of a plan against a matrix of
/// another size are typed errors.
#[test]
fn misfitting_cost_matrices_and_plans_are_refused() {
    assert_err!(
        CostMatrix::new(2, 2, vec![1.0; 3]),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "cost matrix values"
    );
    assert_err!(
        CostMatrix::new(1, 2, vec![0.0, f64::INFINITY]),
        FlowError::Core(CoreError::NonFinite { .. }),
        "cost matrix"
    );
    assert_err!(
        TransportPlan::new(1, 2, vec![0.0, 0.0]),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "transport plan"
    );
    assert_err!(
        TransportPlan::from_assignment(2, &[0, 2]),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "assignment"
    );
    let plan = TransportPlan::from_assignment(3, &[0, 1, 2]).unwrap();
    assert_err!(
        plan.cost(&square_cost()),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "cost matrix"
    );
}

/// A NaN regularisation and a negative tolerance are refused by Sinkhorn, directly and through
/// the loss configuration that embeds it.
#[test]
fn sinkhorn_settings_that_cannot_work_are_refused() {
    assert_err!(
        SinkhornConfig::new(f64::NAN).plan(&square_cost()),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "epsilon"
    );
    assert_err!(
        SinkhornConfig::new(0.1).with_tolerance(-1.0).plan(&square_cost()),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "tolerance"
    );
    assert_err!(
        FlowMatchingLossConfig::schrodinger_bridge(0.0).init(),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "sigma"
    );
}

/// A time outside `[0, 1]` (or NaN), one time too few, a noisy path without its noise and a
/// noise sample of another shape are refused by the probability path.
#[test]
fn path_samples_reject_bad_times_and_noise() {
    let device = test_device();
    let x = || Tensor::<2>::zeros([2, 3], &device);
    let straight = ProbabilityPath::Linear { sigma: 0.0 };
    assert_err!(
        straight.sample(x(), x(), None, &[0.5, 1.5]),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "t"
    );
    assert_err!(
        straight.sample(x(), x(), None, &[f64::NAN, 0.5]),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "t"
    );
    assert_err!(
        straight.sample(x(), x(), None, &[0.5]),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "times"
    );
    let noisy = ProbabilityPath::Linear { sigma: 0.5 };
    assert_err!(
        noisy.sample(x(), x(), None, &[0.5, 0.5]),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "noise"
    );
    assert_err!(
        noisy.sample(x(), x(), Some(Tensor::zeros([2, 2], &device)), &[0.5, 0.5]),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "path noise"
    );
}

/// Integration refuses a condition for another batch size and an empty initial state, and a
/// velocity network that returns NaN stops the sampler with a typed error.
#[test]
fn integration_rejects_bad_conditions_states_and_nan_fields() {
    let device = test_device();
    let euler = OdeSolver::Euler { steps: 2 };
    let three = Tensor::<2>::zeros([3, 2], &device);
    assert_err!(
        integrate_flow(&decay, three, &two_labels(), &euler, (0.0, 1.0)),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "condition"
    );
    let empty = Tensor::<2>::zeros([0, 2], &device);
    assert_err!(
        integrate_flow(&decay, empty, &Condition::none(), &euler, (0.0, 1.0)),
        FlowError::Core(CoreError::Empty { .. }),
        "initial state"
    );
    let nan_field =
        |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| -> Out<2> { Ok(x.mul_scalar(f32::NAN)) };
    let model = FlowMatchingModel::new(nan_field, euler, &[2]).unwrap();
    assert_err!(
        model.sample(2, &Condition::none(), &mut seeded_rng(0), &device),
        FlowError::Core(CoreError::NonFinite { .. }),
        "ODE state"
    );
}

/// A source batch of another shape, or holding ±∞, is refused by the loss on explicit pairs.
#[test]
fn training_on_explicit_pairs_rejects_bad_sources() {
    let device = test_device();
    let loss = FlowMatchingLossConfig::exact_optimal_transport(0.0).init().unwrap();
    let x1 = || Tensor::<2>::zeros([2, 2], &device);
    let none = Condition::none();
    assert_err!(
        loss.training_loss_pairs(
            &decay,
            Tensor::zeros([2, 3], &device),
            x1(),
            &none,
            &mut seeded_rng(0)
        ),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "source batch x0"
    );
    let infinite = Tensor::<2>::from_floats([[0.0, f32::INFINITY], [0.0, 0.0]], &device);
    assert_err!(
        loss.training_loss_pairs(&decay, infinite, x1(), &none, &mut seeded_rng(0)),
        FlowError::Core(CoreError::NonFinite { .. }),
        "source batch x0"
    );
}

/// The flow-matching likelihood refuses a condition of another batch size and zero
/// Hutchinson probes; a network whose output drops an axis is a shape error, not a panic in
/// the divergence.
#[test]
fn likelihoods_reject_bad_conditions_probes_and_network_outputs() {
    let device = test_device();
    let x = || Tensor::<2>::zeros([3, 2], &device);
    let config = ContinuousFlowConfig::new().with_solver(OdeSolver::Euler { steps: 1 });
    assert_err!(
        flow_log_likelihood(&decay, x(), &two_labels(), &config, &mut seeded_rng(0)),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "condition"
    );
    let no_probes = config.clone().with_divergence(DivergenceMethod::hutchinson(0));
    assert_err!(
        flow_log_likelihood(&decay, x(), &Condition::none(), &no_probes, &mut seeded_rng(0)),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "probes"
    );
    let truncating =
        |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| -> Out<2> { Ok(x.narrow(1, 0, 1)) };
    assert_err!(
        cnf_log_density(
            &VjpField::new(&truncating),
            x(),
            &Condition::none(),
            &config,
            &mut seeded_rng(0)
        ),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "network output"
    );
}

/// 8-bit dequantisation refuses values of 256 and above or below 0.
#[test]
fn dequantisation_rejects_values_outside_eight_bits() {
    let device = test_device();
    let high = Tensor::<4>::full([1, 1, 2, 2], 256.0, &device);
    assert_err!(
        dequantize(high, &mut seeded_rng(0)),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "dequantisation input"
    );
    let negative = Tensor::<2>::from_floats([[-1.0, 3.0]], &device);
    assert_err!(
        dequantize(negative, &mut seeded_rng(0)),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "dequantisation input"
    );
}

/// A singular or mis-sized 1×1 convolution weight and a base distribution with a zero or
/// mis-sized standard deviation are refused.
#[test]
fn singular_weights_and_degenerate_bases_are_refused() {
    let device = test_device();
    assert_err!(
        InvConv1x1::from_weight(&[1.0, 2.0, 2.0, 4.0], 2, &device),
        FlowError::NonInvertible { .. },
        "1x1 convolution weight"
    );
    assert_err!(
        InvConv1x1::from_weight(&[1.0, 0.0, 0.0], 2, &device),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "weight"
    );
    assert_err!(
        DiagonalGaussian::from_parts(&[0.0, 0.0], &[1.0, 0.0], &device),
        FlowError::NonInvertible { .. },
        "diagonal Gaussian"
    );
    assert_err!(
        DiagonalGaussian::from_parts(&[0.0, 0.0], &[1.0], &device),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "std"
    );
}

/// An odd image height cannot be squeezed, a single channel cannot be split, Glow's inverse
/// needs one latent per level, and ActNorm cannot initialise from one value per channel.
#[test]
fn image_layers_reject_odd_sizes_wrong_latents_and_tiny_batches() {
    let device = test_device();
    assert_err!(
        Squeeze.forward(Tensor::<4>::zeros([1, 1, 3, 2], &device)),
        FlowError::IndivisibleSize { size: 3, factor: 2, .. },
        "squeeze input height"
    );
    assert_err!(
        split_channels(Tensor::<4>::zeros([1, 1, 2, 2], &device)),
        FlowError::IndivisibleSize { size: 1, factor: 2, .. },
        "channels to split"
    );
    let glow = GlowConfig::new(1, 4, 4, 1, 1, 4).init(&device).unwrap();
    let latent = || Tensor::<4>::zeros([1, 4, 2, 2], &device);
    assert_err!(
        glow.inverse(vec![latent(), latent()]),
        FlowError::Core(CoreError::ShapeMismatch { .. }),
        "Glow latents"
    );
    let act_norm = ActNormConfig::new(2).init(&device).unwrap();
    assert_err!(
        act_norm.initialize(Tensor::<2>::zeros([1, 2], &device)),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "ActNorm initialisation batch"
    );
}

/// Bits per dimension of zero dimensions (a NaN or infinite quotient), and merging channel
/// halves of different batch or spatial sizes (a panic inside Burn's `cat`), are refused.
#[test]
fn bits_per_dim_and_channel_merges_check_their_sizes() {
    let device = test_device();
    assert_err!(
        medgen_flow::discrete::bits_per_dim(Tensor::zeros([2], &device), 0),
        FlowError::Core(CoreError::InvalidConfig { .. }),
        "dims_per_item"
    );
    let kept = Tensor::<4>::zeros([2, 1, 4, 4], &device);
    for factored in [[1, 1, 4, 4], [2, 1, 2, 4], [2, 3, 4, 2]] {
        assert_err!(
            medgen_flow::discrete::merge_channels(kept.clone(), Tensor::zeros(factored, &device)),
            FlowError::Core(CoreError::ShapeMismatch { .. }),
            "factored"
        );
    }
    let merged = medgen_flow::discrete::merge_channels(kept, Tensor::zeros([2, 3, 4, 4], &device));
    assert_eq!(merged.unwrap().dims(), [2, 4, 4, 4]);
}

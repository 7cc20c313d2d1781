//! Sampling a flow-matching model by integrating its velocity field.

use burn::tensor::{Device, Tensor};
use medgen_core::noise::gaussian_noise;
use medgen_core::ode::OdeSolver;
use medgen_core::{Condition, TimeConditionedNetwork};
use rand::Rng;

use crate::error::Result;

/// The result of integrating a flow: the final state and the cost of getting there.
#[derive(Clone, Debug)]
pub struct FlowSample<const D: usize> {
    /// The state at the end time, `[N, …]`.
    pub sample: Tensor<D>,
    /// The number of network evaluations (NFE) the solver used.
    pub nfe: usize,
    /// Accepted steps (all steps for fixed-step solvers).
    pub accepted_steps: usize,
    /// Rejected steps (adaptive solvers only).
    pub rejected_steps: usize,
}

/// The ODE right-hand side `f(t, x) = v_θ(x, t·1_N, c)` of a time-conditioned network
/// (flow time `t ∈ [0, 1]`, broadcast to one time per item), for any medgen-core ODE solver.
pub fn velocity_ode<'a, const D: usize, N>(
    network: &'a N,
    condition: &'a Condition<D>,
) -> impl FnMut(f64, Tensor<D>) -> medgen_core::Result<Tensor<D>> + 'a
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    move |t, x: Tensor<D>| {
        let times = Tensor::<1>::full([x.dims()[0]], t, &x.device());
        network.evaluate(x, times, condition)
    }
}

/// Integrates `dx/dt = v_θ(x, t, c)` from `x(t₀) = x_start` to `t₁` with `solver` (Euler,
/// Midpoint, Heun, RK4 or Dopri5) and reports the NFE. Sampling is `t₀ = 0` (noise) to
/// `t₁ = 1` (data); `t₀ > t₁` integrates backwards (data to noise).
///
/// # Errors
/// [`CoreError::Empty`] for an empty batch, [`CoreError::ShapeMismatch`] for a condition of
/// another batch size, the solver's errors (invalid settings, NaN/Inf states) and the
/// network's.
pub fn integrate_flow<const D: usize, N>(
    network: &N,
    x_start: Tensor<D>,
    condition: &Condition<D>,
    solver: &OdeSolver,
    (t0, t1): (f64, f64),
) -> Result<FlowSample<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    let dims = x_start.dims();
    medgen_core::check::ensure_non_empty(&dims, "initial state")?;
    condition.ensure_batch_size(dims[0])?;
    solver.validate()?;
    let solution = solver.solve(velocity_ode(network, condition), x_start, t0, t1)?;
    Ok(FlowSample {
        sample: solution.state,
        nfe: solution.nfe,
        accepted_steps: solution.accepted_steps,
        rejected_steps: solution.rejected_steps,
    })
}

/// Draws `x₀ ~ N(0, I)` of `shape` from `rng` and integrates it from `t = 0` to `t = 1`
/// ([`integrate_flow`]): samples of a flow-matching model trained from Gaussian noise. Wrap
/// the network in [`ClassifierFreeGuidance`](super::ClassifierFreeGuidance) to guide it.
pub fn sample_flow<const D: usize, N, R>(
    network: &N,
    shape: [usize; D],
    condition: &Condition<D>,
    solver: &OdeSolver,
    rng: &mut R,
    device: &Device,
) -> Result<FlowSample<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
    R: Rng + ?Sized,
{
    let x0 = gaussian_noise(shape, rng, device)?;
    integrate_flow(network, x0, condition, solver, (0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::ode::Dopri5Config;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn euler_on_a_straight_path_transports_a_point_exactly() {
        let device = test_device();
        let x0 = Tensor::<2>::from_floats([[0.5, -1.0, 2.0]], &device);
        let x1 = Tensor::<2>::from_floats([[2.0, 3.0, -0.25]], &device);
        let velocity = x1.clone().sub(x0.clone());
        let oracle = |_x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(velocity.clone());
        for steps in [1, 2, 4, 8, 32] {
            let out = integrate_flow(
                &oracle,
                x0.clone(),
                &Condition::none(),
                &OdeSolver::Euler { steps },
                (0.0, 1.0),
            )
            .unwrap();
            assert_eq!(out.nfe, steps);
            for (a, b) in values(out.sample).iter().zip(values(x1.clone())) {
                assert!((a - b).abs() < 1e-5, "{steps} steps: {a} vs {b}");
            }
        }
    }

    #[test]
    fn marginal_oracle_on_volumes_reaches_the_condition_image() {
        // u_t(x | x₁) = (x₁ − x)/(1 − t) carries any x₀ to x₁ along straight lines; Euler's
        // last step lands exactly. Checks rank-5 tensors, image conditions and Dopri5.
        let device = test_device();
        let mut rng = seeded_rng(8);
        let target = gaussian_noise([2, 1, 2, 2, 2], &mut rng, &device).unwrap();
        let condition = Condition::none().with_image(target.clone());
        let oracle = |x: Tensor<5>, t: Tensor<1>, c: &Condition<5>| {
            let image = c.image.clone().expect("image condition");
            let denominator = t.neg().add_scalar(1.0).reshape([-1, 1, 1, 1, 1]);
            Ok(image.sub(x).div(denominator))
        };
        let out = sample_flow(
            &oracle,
            [2, 1, 2, 2, 2],
            &condition,
            &OdeSolver::Euler { steps: 3 },
            &mut rng,
            &device,
        )
        .unwrap();
        assert_eq!(out.nfe, 3);
        for (a, b) in values(out.sample).iter().zip(values(target.clone())) {
            assert!((a - b).abs() < 1e-5);
        }
        let constant = |x: Tensor<5>, _t: Tensor<1>, _c: &Condition<5>| Ok(x.ones_like());
        let start = target.zeros_like();
        let adaptive = OdeSolver::Dopri5(Dopri5Config::new(1e-5, 1e-7));
        let out =
            integrate_flow(&constant, start, &Condition::none(), &adaptive, (0.0, 1.0)).unwrap();
        assert!(out.nfe >= 6);
        assert!(values(out.sample).iter().all(|v| (v - 1.0).abs() < 1e-5));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let device = test_device();
        let identity = |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(x);
        let x = Tensor::<2>::zeros([2, 2], &device);
        let labels =
            Condition::none().with_class(burn::tensor::Tensor::from_ints([0, 1, 2], &device));
        let euler = OdeSolver::Euler { steps: 2 };
        assert!(integrate_flow(&identity, x.clone(), &labels, &euler, (0.0, 1.0)).is_err());
        let zero_steps = OdeSolver::Euler { steps: 0 };
        assert!(
            integrate_flow(&identity, x.clone(), &Condition::none(), &zero_steps, (0.0, 1.0))
                .is_err()
        );
        let nan = Tensor::<2>::from_floats([[f32::NAN, 0.0]], &device);
        assert!(integrate_flow(&identity, nan, &Condition::none(), &euler, (0.0, 1.0)).is_err());
    }
}

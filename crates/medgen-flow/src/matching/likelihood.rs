//! The exact log-likelihood of a trained flow-matching model.

use burn::tensor::Tensor;
use medgen_core::{Condition, SeededRng, TimeConditionedNetwork};

use crate::continuous::{CnfLogDensity, ContinuousFlowConfig, VjpField, cnf_log_density};
use crate::error::Result;

/// `log p_θ(x)` of the flow `dx/dt = v_θ(x, t, c)` that a flow-matching model defines from a
/// standard-normal source at `t = 0` to the data at `t = 1`, by the instantaneous change of
/// variables (FFJORD):
///
/// ```text
/// log p_θ(x) = log N(z; 0, I) − ∫₀¹ ∇·v_θ(x(t), t, c) dt,   x(1) = x,  z = x(0),
/// ```
///
/// integrated backwards from `t = 1` to `t = 0` with `config.solver`, the divergence computed
/// with one vector–Jacobian product per probe and step ([`VjpField`]): exact
/// ([`DivergenceMethod::Exact`](crate::continuous::DivergenceMethod::Exact), one product per
/// element, for low dimension) or Hutchinson's unbiased estimate (probes drawn once from
/// `rng`). This is [`cnf_log_density`] on the network; wrap a conditional network in
/// [`ClassifierFreeGuidance`](super::ClassifierFreeGuidance) to evaluate the guided flow.
///
/// Only valid for models trained from Gaussian noise (`x₀ ~ N(0, I)`) on paths that end at
/// the data (`σ_t → 0` at `t = 1`, e.g. I-CFM/OT-CFM with `σ = 0`). Shapes: `x: [N, …]`;
/// returns per-item `[N]` log-densities in nats with the latent and the NFE.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] for a condition of another batch size, and the errors of
/// [`cnf_log_density`] (empty or non-finite `x`, invalid solver or probe settings, solver and
/// network failures).
pub fn flow_log_likelihood<const D: usize, N>(
    network: &N,
    x: Tensor<D>,
    condition: &Condition<D>,
    config: &ContinuousFlowConfig,
    rng: &mut SeededRng,
) -> Result<CnfLogDensity<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    let dims = x.dims();
    medgen_core::check::ensure_non_empty(&dims, "x")?;
    condition.ensure_batch_size(dims[0])?;
    cnf_log_density(&VjpField::new(network), x, condition, config, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continuous::DivergenceMethod;
    use medgen_core::ode::OdeSolver;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn linear_field_gives_the_closed_form_density() {
        // v(x, t) = a x maps z ~ N(0, I) to x = e^a z ~ N(0, e^{2a} I):
        // log p(x) = −½ e^{−2a} ‖x‖² − d a − (d/2) log 2π.
        let a = 0.7f64;
        let field = move |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.mul_scalar(a));
        let device = test_device();
        let xs = [[[[0.5f32, -1.0], [2.0, 0.25]]], [[[0.0, 1.5], [-0.5, -2.0]]]];
        let x = Tensor::<4>::from_floats(xs, &device);
        let config = ContinuousFlowConfig::new()
            .with_solver(OdeSolver::Rk4 { steps: 8 })
            .with_divergence(DivergenceMethod::Exact);
        let density =
            flow_log_likelihood(&field, x, &Condition::none(), &config, &mut seeded_rng(0))
                .unwrap();
        let got = density.log_prob.try_into_vec_as::<f32>().unwrap();
        let d = 4.0;
        for (item, value) in xs.iter().zip(got) {
            let norm: f64 = item[0].iter().flatten().map(|v| f64::from(*v).powi(2)).sum();
            let expected = -0.5 * (-2.0 * a).exp() * norm
                - d * a
                - 0.5 * d * (2.0 * std::f64::consts::PI).ln();
            assert!((f64::from(value) - expected).abs() < 1e-3, "{value} vs {expected}");
        }
    }

    #[test]
    fn condition_of_another_batch_size_is_rejected() {
        let device = test_device();
        let field = |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(x);
        let labels = Condition::none().with_class(Tensor::from_ints([0, 1, 2], &device));
        let x = Tensor::<2>::zeros([2, 2], &device);
        let config = ContinuousFlowConfig::new();
        assert!(flow_log_likelihood(&field, x, &labels, &config, &mut seeded_rng(0)).is_err());
    }
}

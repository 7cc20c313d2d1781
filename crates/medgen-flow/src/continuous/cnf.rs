//! Continuous normalizing flows: transport by `dx/dt = f(x, t)` and the log-density by the
//! instantaneous change of variables, integrated with medgen-core's ODE solvers.

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use medgen_core::check::{ensure_finite, ensure_non_empty};
use medgen_core::noise::gaussian_noise;
use medgen_core::ode::{Dopri5Config, OdeSolution, OdeSolver};
use medgen_core::{
    Condition, CoreError, DensityKind, LogDensity, LogDensityValue, Sample, Samples, SeededRng,
    TimeConditionedNetwork,
};

use super::divergence::{DivergenceField, DivergenceMethod};
use super::standard_normal::standard_normal_log_prob;
use crate::error::{FlowError, Result};

/// Configuration of a continuous normalizing flow: the ODE solver and the divergence method.
#[derive(Config, Debug)]
pub struct ContinuousFlowConfig {
    /// The integrator of the (augmented) ODE over `t ∈ [0, 1]`; the default is Dopri5 with
    /// `rtol = atol = 1e-5` (FFJORD's evaluation tolerances).
    #[config(default = "OdeSolver::Dopri5(Dopri5Config::new(1e-5, 1e-5))")]
    pub solver: OdeSolver,
    /// How `∇·f` is computed.
    #[config(default = "DivergenceMethod::Exact")]
    pub divergence: DivergenceMethod,
}

impl ContinuousFlowConfig {
    /// Checks the solver settings and the probe count.
    pub fn validate(&self) -> Result<()> {
        self.solver.validate()?;
        self.divergence.validate()
    }
}

/// The result of [`cnf_log_density`] for a batch `x: [N, ...]`.
#[derive(Clone, Debug)]
pub struct CnfLogDensity<const D: usize> {
    /// `log p(x) = log p₀(z) − ∫₀¹ ∇·f(x(t), t) dt`, `[N]`, in nats.
    pub log_prob: Tensor<1>,
    /// `log p₀(z)` of the latent under the standard normal, `[N]`.
    pub base_log_prob: Tensor<1>,
    /// `−∫₀¹ ∇·f(x(t), t) dt`, `[N]` (the log-determinant of the flow map `z ↦ x`, negated).
    pub delta_log_prob: Tensor<1>,
    /// The latent `z = x(0)`, with `x`'s shape.
    pub latent: Tensor<D>,
    /// Evaluations of the augmented right-hand side.
    pub nfe: usize,
    /// [`DensityKind::Exact`] (up to solver error) with the exact divergence,
    /// [`DensityKind::Estimate`] (unbiased) with Hutchinson's.
    pub kind: DensityKind,
}

/// The time tensor `[n]` filled with `t`.
fn time_tensor(t: f64, n: usize, device: &Device) -> Tensor<1> {
    Tensor::full([n], t, device)
}

/// Integrates `dx/dt = f(x, t, c)` from `x(t0) = x` to `t1` with `solver`: sampling is
/// `t0 = 0 → t1 = 1` (noise to data), encoding `1 → 0`. Returns the state with NFE and step
/// counts.
///
/// # Errors
/// [`CoreError::Empty`]/[`CoreError::NonFinite`] for an empty or non-finite `x`, invalid
/// solver settings, and the solver's and network's errors.
pub fn cnf_transport<const D: usize, N: TimeConditionedNetwork<D> + ?Sized>(
    network: &N,
    x: Tensor<D>,
    condition: &Condition<D>,
    solver: &OdeSolver,
    t0: f64,
    t1: f64,
) -> Result<OdeSolution<D>> {
    ensure_non_empty(&x.dims(), "x")?;
    ensure_finite(&x, "x")?;
    let n = x.dims()[0];
    let device = x.device();
    let velocity =
        |t: f64, x: Tensor<D>| network.evaluate(x, time_tensor(t, n, &device), condition);
    Ok(solver.solve(velocity, x, t0, t1)?)
}

/// The log-density of a continuous normalizing flow with base `p₀ = N(0, I)` at `t = 0` and
/// data at `t = 1` (the convention of flow matching), by the instantaneous change of
/// variables `d log p(x(t))/dt = −∇·f(x(t), t)`.
///
/// The augmented state `[x, ℓ]` (flattened to `[N, M + 1]`, `M` elements per item) is
/// integrated backwards from `t = 1`, `x(1) = x`, `ℓ(1) = 0`, to `t = 0` with
/// `dx/dt = f(x, t, c)`, `dℓ/dt = ∇·f(x, t, c)`, giving `z = x(0)` and
/// `ℓ(0) = −∫₀¹ ∇·f dt`, so
///
/// `log p(x) = log p₀(z) + ℓ(0) = log N(z; 0, I) − ∫₀¹ ∇·f(x(t), t) dt`.
///
/// Hutchinson probes are drawn once from `rng` and held fixed along the trajectory. The
/// result is differentiable with respect to the field's parameters when its divergence is
/// (as [`MlpVectorField`](super::MlpVectorField)'s is; [`VjpField`](super::VjpField)'s is
/// not), which is how [`cnf_nll_loss`] trains.
///
/// # Errors
/// Invalid configuration (zero probes, bad solver settings), an empty or non-finite `x`,
/// shape mismatches between `x` and the field, the solver's errors (non-finite state, step
/// limit) and the field's.
pub fn cnf_log_density<const D: usize, F: DivergenceField<D> + ?Sized>(
    field: &F,
    x: Tensor<D>,
    condition: &Condition<D>,
    config: &ContinuousFlowConfig,
    rng: &mut SeededRng,
) -> Result<CnfLogDensity<D>> {
    config.validate()?;
    let dims = x.dims();
    ensure_non_empty(&dims, "x")?;
    ensure_finite(&x, "x")?;
    let device = x.device();
    let probes = config.divergence.draw_probes(dims, rng, &device)?;
    let n = dims[0];
    let m = dims.iter().skip(1).product::<usize>();
    let augmented = |t: f64, state: Tensor<2>| -> Result<Tensor<2>> {
        let x_t = state.narrow(1, 0, m).reshape(dims);
        let out = field.velocity_divergence(x_t, time_tensor(t, n, &device), condition, &probes)?;
        Ok(Tensor::cat(vec![out.velocity.reshape([n, m]), out.divergence.reshape([n, 1])], 1))
    };
    let start = Tensor::cat(vec![x.reshape([n, m]), Tensor::zeros([n, 1], &device)], 1);
    let solution = config.solver.try_solve::<FlowError, _, 2>(augmented, start, 1.0, 0.0)?;
    let latent = solution.state.clone().narrow(1, 0, m).reshape(dims);
    let delta_log_prob = solution.state.narrow(1, m, 1).reshape([n]);
    let base_log_prob = standard_normal_log_prob(latent.clone());
    Ok(CnfLogDensity {
        log_prob: base_log_prob.clone().add(delta_log_prob.clone()),
        base_log_prob,
        delta_log_prob,
        latent,
        nfe: solution.nfe,
        kind: if probes.is_exact() { DensityKind::Exact } else { DensityKind::Estimate },
    })
}

/// The maximum-likelihood loss of a continuous flow, `L(θ) = −(1/N) Σ_i log p_θ(x_i)` (nats,
/// a `[1]` tensor), through [`cnf_log_density`]. With an [`MlpVectorField`](super::MlpVectorField)
/// on an autodiff device it is differentiable with respect to `θ` (discretise-then-optimise:
/// gradients flow through the solver's stages), so it plugs into
/// `medgen_train::Trainer::step` or plain optimiser steps.
pub fn cnf_nll_loss<const D: usize, F: DivergenceField<D> + ?Sized>(
    field: &F,
    x: Tensor<D>,
    condition: &Condition<D>,
    config: &ContinuousFlowConfig,
    rng: &mut SeededRng,
) -> Result<Tensor<1>> {
    Ok(cnf_log_density(field, x, condition, config, rng)?.log_prob.mean().neg())
}

/// A continuous normalizing flow: a vector field `F` with its configuration and the shape of
/// one item (e.g. `[2]` for 2D points, `[1, 28, 28]` for images), implementing medgen-core's
/// [`Sample`] (`z ~ N(0, I)` transported from `t = 0` to `1`) and [`LogDensity`]
/// ([`cnf_log_density`]).
#[derive(Clone, Debug)]
pub struct ContinuousFlow<F> {
    /// The vector field (an [`MlpVectorField`](super::MlpVectorField), or any network wrapped
    /// in a [`VjpField`](super::VjpField)).
    pub field: F,
    /// Solver and divergence settings.
    pub config: ContinuousFlowConfig,
    /// The shape of one item, without the batch axis.
    pub item_shape: Vec<usize>,
}

impl<F> ContinuousFlow<F> {
    /// A flow of `field` over items of shape `item_shape`; fails on an invalid `config` or an
    /// empty item shape.
    pub fn new(field: F, config: ContinuousFlowConfig, item_shape: Vec<usize>) -> Result<Self> {
        config.validate()?;
        ensure_non_empty(&item_shape, "item_shape")?;
        if item_shape.is_empty() {
            return Err(CoreError::config("item_shape", "needs at least one axis").into());
        }
        Ok(Self { field, config, item_shape })
    }
}

impl<const D: usize, F: DivergenceField<D>> Sample<D> for ContinuousFlow<F> {
    type Error = FlowError;

    /// `z ~ N(0, I)` carried from `t = 0` to `t = 1` by the configured ODE solver; `nfe` is
    /// the solver's.
    fn sample(
        &self,
        n: usize,
        condition: &Condition<D>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Samples<D>> {
        let shape = medgen_core::check::batch_shape(n, &self.item_shape, "item_shape")?;
        let z = gaussian_noise(shape, rng, device)?;
        let solution = cnf_transport(&self.field, z, condition, &self.config.solver, 0.0, 1.0)?;
        Ok(Samples { samples: solution.state, nfe: solution.nfe })
    }
}

impl<const D: usize, F: DivergenceField<D>> LogDensity<D> for ContinuousFlow<F> {
    type Error = FlowError;

    fn log_density(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> Result<LogDensityValue> {
        let density = cnf_log_density(&self.field, x, condition, &self.config, rng)?;
        Ok(LogDensityValue { nats: density.log_prob, kind: density.kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continuous::divergence::{ProbeDistribution, Probes};
    use crate::continuous::mlp_field::{MlpVectorField, MlpVectorFieldConfig};
    use crate::continuous::vjp::VjpField;
    use burn::optim::{AdamConfig, GradientsParams};
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;
    use medgen_testing::testing_on_wgpu;

    /// `A` of the linear field `f(x) = A x` (applied to row vectors as `x Aᵀ`).
    const A: [[f64; 2]; 2] = [[0.3, -0.8], [0.5, -0.2]];

    /// `e^{sM}` for a 2 × 2 matrix by scaling and squaring a 20-term Taylor series (f64).
    fn expm(m: [[f64; 2]; 2], s: f64) -> [[f64; 2]; 2] {
        let mul = |a: [[f64; 2]; 2], b: [[f64; 2]; 2]| {
            let mut c = [[0.0; 2]; 2];
            for i in 0..2 {
                for j in 0..2 {
                    c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
                }
            }
            c
        };
        let scaled = m.map(|row| row.map(|v| v * s / 1024.0));
        let mut result = [[1.0, 0.0], [0.0, 1.0]];
        let mut term = result;
        for k in 1..20 {
            term = mul(term, scaled).map(|row| row.map(|v| v / k as f64));
            for i in 0..2 {
                for j in 0..2 {
                    result[i][j] += term[i][j];
                }
            }
        }
        for _ in 0..10 {
            result = mul(result, result);
        }
        result
    }

    fn linear_field(
        x: Tensor<2>,
        _t: Tensor<1>,
        _c: &Condition<2>,
    ) -> medgen_core::Result<Tensor<2>> {
        let a_t = Tensor::<2>::from_floats(
            [[A[0][0] as f32, A[1][0] as f32], [A[0][1] as f32, A[1][1] as f32]],
            &x.device(),
        );
        Ok(x.matmul(a_t))
    }

    #[test]
    fn linear_field_log_density_matches_closed_form() {
        // x(1) = e^{A} z, so z = e^{−A} x and log p(x) = log N(e^{−A} x; 0, I) − tr A.
        let device = test_device();
        let points = [[0.5f64, -1.0], [2.0, 0.3], [-1.5, 1.5]];
        let x = Tensor::<2>::from_floats(points.map(|p| p.map(|v| v as f32)), &device);
        let inverse = expm(A, -1.0);
        let trace = A[0][0] + A[1][1];
        let field = VjpField::new(&linear_field);
        for solver in
            [OdeSolver::Rk4 { steps: 16 }, OdeSolver::Dopri5(Dopri5Config::new(1e-6, 1e-7))]
        {
            let config = ContinuousFlowConfig::new().with_solver(solver.clone());
            let density =
                cnf_log_density(&field, x.clone(), &Condition::none(), &config, &mut seeded_rng(0))
                    .unwrap();
            assert_eq!(density.kind, DensityKind::Exact);
            assert!(density.nfe > 0);
            let got = density.log_prob.try_into_vec_as::<f32>().unwrap();
            let z = density.latent.clone().try_into_vec_as::<f32>().unwrap();
            for (i, p) in points.iter().enumerate() {
                let zi = [
                    inverse[0][0] * p[0] + inverse[0][1] * p[1],
                    inverse[1][0] * p[0] + inverse[1][1] * p[1],
                ];
                let expected = -0.5 * (zi[0] * zi[0] + zi[1] * zi[1])
                    - (2.0 * std::f64::consts::PI).ln()
                    - trace;
                assert!((f64::from(z[2 * i]) - zi[0]).abs() < 1e-4, "{solver:?}");
                assert!(
                    (f64::from(got[i]) - expected).abs() < 1e-4,
                    "{solver:?}: {} vs {expected}",
                    got[i]
                );
            }
            // Sampling transports the latent back to the data.
            let back =
                cnf_transport(&linear_field, density.latent, &Condition::none(), &solver, 0.0, 1.0)
                    .unwrap();
            let back = back.state.try_into_vec_as::<f32>().unwrap();
            for (b, p) in back.iter().zip(points.as_flattened()) {
                assert!((f64::from(*b) - p).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn image_rank_log_density_through_vjp() {
        // f(x) = a x on [N, C, H, W]: z = e^{−a} x and log p(x) = log N(z; 0, I) − a M, with
        // M = C H W; Rademacher probes give εᵀ(aI)ε = a M exactly.
        let device = test_device();
        let a = 0.7f32;
        let scale = move |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.mul_scalar(a));
        let x = Tensor::<4>::from_floats(
            [[[[0.5, -1.0], [2.0, 0.0]]], [[[1.0, 1.0], [-0.5, 0.25]]]],
            &device,
        );
        let config = ContinuousFlowConfig::new()
            .with_solver(OdeSolver::Rk4 { steps: 10 })
            .with_divergence(DivergenceMethod::hutchinson(2));
        let field = VjpField::new(&scale);
        let density =
            cnf_log_density(&field, x.clone(), &Condition::none(), &config, &mut seeded_rng(2))
                .unwrap();
        assert_eq!(density.kind, DensityKind::Estimate);
        let z = x.mul_scalar((-a).exp());
        let expected = standard_normal_log_prob(z).sub_scalar(4.0 * a);
        let got = density.log_prob.try_into_vec_as::<f32>().unwrap();
        for (g, e) in got.iter().zip(expected.try_into_vec_as::<f32>().unwrap()) {
            assert!((g - e).abs() < 1e-4, "{g} vs {e}");
        }
    }

    #[test]
    fn hutchinson_estimate_is_unbiased() {
        // Copies of one point, one probe each: independent estimates of tr J.
        let device = test_device();
        let net = MlpVectorFieldConfig::new(3).with_hidden(vec![16]).init(&device).unwrap();
        let copies = if testing_on_wgpu() { 1500 } else { 4000 };
        let x = Tensor::<2>::from_floats([[0.4, -0.3, 1.1]], &device).expand([copies, 3]);
        let t = Tensor::<1>::full([copies], 0.5, &device);
        let none = Condition::none();
        let exact = net
            .velocity_divergence(
                x.clone().narrow(0, 0, 1),
                t.clone().narrow(0, 0, 1),
                &none,
                &Probes::Basis,
            )
            .unwrap()
            .divergence
            .into_scalar::<f32>();
        let mut rng = seeded_rng(11);
        for distribution in [ProbeDistribution::Rademacher, ProbeDistribution::Gaussian] {
            let probes = DivergenceMethod::Hutchinson { probes: 1, distribution }
                .draw_probes([copies, 3], &mut rng, &device)
                .unwrap();
            let estimates = net
                .velocity_divergence(x.clone(), t.clone(), &none, &probes)
                .unwrap()
                .divergence
                .try_into_vec_as::<f32>()
                .unwrap();
            let mean = estimates.iter().map(|&v| f64::from(v)).sum::<f64>() / copies as f64;
            let var = estimates.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>()
                / (copies - 1) as f64;
            let se = (var / copies as f64).sqrt();
            assert!(var > 0.0, "{distribution:?}: the estimates must vary");
            assert!(
                (mean - f64::from(exact)).abs() < 3.0 * se,
                "{distribution:?}: mean {mean} vs exact {exact} (se {se})"
            );
        }
    }

    #[test]
    fn maximum_likelihood_training_decreases_the_loss() {
        let device = test_device().autodiff();
        let mut rng = seeded_rng(3);
        let mut net: MlpVectorField =
            MlpVectorFieldConfig::new(2).with_hidden(vec![16, 16]).init(&device).unwrap();
        // Data far from the N(0, I) base: N((2, −1), 0.3² I).
        let data = gaussian_noise([64, 2], &mut rng, &device)
            .unwrap()
            .mul_scalar(0.3)
            .add(Tensor::<2>::from_floats([[2.0, -1.0]], &device));
        let config = ContinuousFlowConfig::new().with_solver(OdeSolver::Rk4 { steps: 4 });
        let mut optimizer = AdamConfig::new().init();
        // Software Vulkan is ~65× slower than the CPU: fewer steps there, same direction.
        let steps = if testing_on_wgpu() { 6 } else { 25 };
        let mut losses = Vec::new();
        for _ in 0..steps {
            let loss =
                cnf_nll_loss(&net, data.clone(), &Condition::none(), &config, &mut rng).unwrap();
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(2e-2, net, grads);
        }
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        let margin = if testing_on_wgpu() { 0.05 } else { 0.5 };
        assert!(last < first - margin, "loss {first} -> {last}: {losses:?}");
        // Hutchinson's estimator trains too (its loss is an unbiased estimate).
        let hutchinson = config.with_divergence(DivergenceMethod::hutchinson(1));
        let loss = cnf_nll_loss(&net, data, &Condition::none(), &hutchinson, &mut rng).unwrap();
        assert!(net.layers[0].weight.val().grad(&loss.backward()).is_some());
    }

    #[test]
    fn flow_traits_and_bad_inputs() {
        let device = test_device();
        let net = MlpVectorFieldConfig::new(2).with_hidden(vec![8]).init(&device).unwrap();
        let config = ContinuousFlowConfig::new().with_solver(OdeSolver::Heun { steps: 4 });
        let flow = ContinuousFlow::new(net, config.clone(), vec![2]).unwrap();
        let mut rng = seeded_rng(5);
        let drawn = Sample::<2>::sample(&flow, 5, &Condition::none(), &mut rng, &device).unwrap();
        assert_eq!(drawn.nfe, 4 * 2);
        let x = drawn.samples;
        assert_eq!(x.dims(), [5, 2]);
        let value = flow.log_density(x, &Condition::none(), &mut rng).unwrap();
        assert_eq!(value.nats.dims(), [5]);
        assert_eq!(value.kind, DensityKind::Exact);
        // Zero probes, NaN and wrong dimension are typed errors.
        let zero = config.clone().with_divergence(DivergenceMethod::hutchinson(0));
        let ok = Tensor::<2>::zeros([3, 2], &device);
        let none = Condition::none();
        assert!(matches!(
            cnf_log_density(&flow.field, ok, &none, &zero, &mut rng),
            Err(crate::FlowError::Core(CoreError::InvalidConfig { .. }))
        ));
        let nan = Tensor::<2>::from_floats([[f32::NAN, 0.0]], &device);
        assert!(matches!(
            cnf_log_density(&flow.field, nan.clone(), &none, &config, &mut rng),
            Err(crate::FlowError::Core(CoreError::NonFinite { .. }))
        ));
        assert!(matches!(
            cnf_transport(&flow.field, nan, &none, &config.solver, 0.0, 1.0),
            Err(crate::FlowError::Core(CoreError::NonFinite { .. }))
        ));
        let wide = Tensor::<2>::zeros([3, 4], &device);
        assert!(matches!(
            cnf_log_density(&flow.field, wide, &none, &config, &mut rng),
            Err(crate::FlowError::Core(CoreError::ShapeMismatch { .. }))
        ));
    }
}

//! The divergence of any time-conditioned network by reverse-mode autodiff on its input:
//! one vector–Jacobian product per probe (for likelihood *evaluation*).

use burn::tensor::{Tensor, TensorData};
use medgen_core::check::{ensure_finite, ensure_non_empty, ensure_shape};
use medgen_core::{Condition, CoreError, TimeConditionedNetwork};

use super::divergence::{DivergenceField, Probes, VelocityDivergence};
use crate::error::Result;

/// The velocity `f(x, t, c)` and its divergence `∇·f = tr(∂f/∂x)` per item, for any
/// [`TimeConditionedNetwork`] of any rank `D` (a 2D MLP `[N, d]`, a U-Net on images
/// `[N, C, H, W]` or volumes `[N, C, D, H, W]`), by vector–Jacobian products on the input.
///
/// For each probe `v` (see [`Probes`]) it runs one forward pass at a fresh leaf
/// `x̃ = x` with `requires_grad`, and one backward pass of `s = Σ f(x̃, t, c) ⊙ v`, which gives
/// `∂s/∂x̃ = vᵀJ` (`J = ∂f/∂x`, block-diagonal over the batch since items are independent);
/// then `vᵀJv = Σ_{non-batch axes} (vᵀJ) ⊙ v`. The divergence is
///
/// - `Σ_{i=1}^{M} e_iᵀ J e_i` (exact, `M` = elements per item, `M` backward passes) for
///   [`Probes::Basis`], or
/// - `(1/K) Σ_k ε_kᵀ J ε_k` (Hutchinson, `K` backward passes) for [`Probes::Sampled`].
///
/// This needs only first-order autodiff, so it works for any trained network, but the result
/// is not differentiable with respect to the network's parameters (use
/// [`MlpVectorField`](super::MlpVectorField)'s forward-mode divergence to *train* a CNF).
///
/// Device handling: `x`, `t` and the condition are moved to the autodiff context of their
/// device (`Tensor::autodiff`), so the network may live on a plain device (after
/// `Module::valid`) or on an autodiff one; parameters on a plain device are constants. The
/// results are detached and returned on `x`'s own context (autodiff or not). The network must
/// treat batch items independently (no batch statistics), as every medgen network does.
///
/// Shapes: `x: [N, ...]`, `t: [N]`, probes of `x`'s shape; returns the velocity `[N, ...]` and
/// the divergence `[N]`.
///
/// # Errors
/// [`CoreError::Empty`] for an empty `x`, [`CoreError::ShapeMismatch`] if `t` is not `[N]`,
/// a probe does not have `x`'s shape or the network changes the shape,
/// [`CoreError::NonFinite`] if `x` holds NaN/Inf, and any error of the network.
pub fn vjp_divergence<const D: usize, N: TimeConditionedNetwork<D> + ?Sized>(
    network: &N,
    x: Tensor<D>,
    t: Tensor<1>,
    condition: &Condition<D>,
    probes: &Probes<D>,
) -> Result<VelocityDivergence<D>> {
    let dims = x.dims();
    ensure_non_empty(&dims, "x")?;
    ensure_shape(&t.dims(), &[dims[0]], "t")?;
    ensure_finite(&x, "x")?;
    probes.check_shape(dims)?;
    let tracked = x.is_autodiff();
    let device = x.device();
    let x = x.detach().autodiff();
    let t = t.detach().autodiff();
    let condition = autodiff_condition(condition);
    let unit_vectors;
    let (vectors, scale): (&[Tensor<D>], f64) = match probes {
        Probes::Basis => {
            unit_vectors = basis_vectors(dims, &device);
            (&unit_vectors, 1.0)
        }
        Probes::Sampled(sampled) => (sampled, 1.0 / sampled.len() as f64),
    };
    let mut velocity = None;
    let mut divergence: Option<Tensor<1>> = None;
    for v in vectors {
        let leaf = x.clone().require_grad();
        let f = network.evaluate(leaf.clone(), t.clone(), &condition)?;
        ensure_shape(&f.dims(), &dims, "network output")?;
        let v = v.clone().inner();
        let grads = f.clone().mul(v.clone().autodiff()).sum().backward();
        let vjp = leaf.grad(&grads).ok_or_else(|| {
            CoreError::config(
                "network",
                "its output does not depend on its input x (no gradient reached x)",
            )
        })?;
        let term = per_item_sum(vjp.inner().mul(v));
        divergence = Some(match divergence {
            Some(sum) => sum.add(term),
            None => term,
        });
        if velocity.is_none() {
            velocity = Some(f.inner());
        }
    }
    let (Some(velocity), Some(divergence)) = (velocity, divergence) else {
        return Err(CoreError::config("probes", "at least one probe vector is needed").into());
    };
    let divergence = divergence.mul_scalar(scale);
    Ok(if tracked {
        VelocityDivergence { velocity: velocity.autodiff(), divergence: divergence.autodiff() }
    } else {
        VelocityDivergence { velocity, divergence }
    })
}

/// `Σ` over every axis but the batch axis: `[N, ...] → [N]`.
pub(crate) fn per_item_sum<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let n = x.dims()[0];
    x.reshape([n as i64, -1]).sum_dim(1).reshape([n])
}

/// The `M` unit vectors `e_i` of one item (`M` = elements per item), each repeated over the
/// batch, as tensors of shape `dims`.
fn basis_vectors<const D: usize>(
    dims: [usize; D],
    device: &burn::tensor::Device,
) -> Vec<Tensor<D>> {
    let n = dims[0];
    let m = dims.iter().skip(1).product::<usize>();
    (0..m)
        .map(|i| {
            let mut row = vec![0.0f32; m];
            row[i] = 1.0;
            Tensor::<2>::from_data(TensorData::new(row, [1, m]), device)
                .expand([n, m])
                .reshape(dims)
        })
        .collect()
}

/// The condition with its float parts on the autodiff context (constants for the backward).
fn autodiff_condition<const D: usize>(condition: &Condition<D>) -> Condition<D> {
    Condition {
        class: condition.class.clone().map(Tensor::autodiff),
        image: condition.image.clone().map(|c| c.detach().autodiff()),
        embedding: condition.embedding.clone().map(|c| c.detach().autodiff()),
        context: condition.context.clone().map(|c| c.detach().autodiff()),
        context_mask: condition.context_mask.clone().map(Tensor::autodiff),
        control: condition.control.clone().map(|c| c.detach().autodiff()),
        keep: condition.keep.clone().map(|c| c.detach().autodiff()),
    }
}

/// Any [`TimeConditionedNetwork`] as a [`DivergenceField`] through [`vjp_divergence`]: the
/// way to evaluate the exact (or Hutchinson) log-likelihood of a trained flow-matching model,
/// a diffusion model's probability-flow ODE or any other vector field: pass
/// `&VjpField::new(&network)` to [`cnf_log_density`](super::cnf_log_density) (see the
/// [module example](super)).
#[derive(Debug)]
pub struct VjpField<'a, N: ?Sized> {
    network: &'a N,
}

impl<'a, N: ?Sized> VjpField<'a, N> {
    /// Wraps `network`.
    pub fn new(network: &'a N) -> Self {
        Self { network }
    }
}

impl<const D: usize, N: TimeConditionedNetwork<D> + ?Sized> TimeConditionedNetwork<D>
    for VjpField<'_, N>
{
    fn evaluate(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> medgen_core::Result<Tensor<D>> {
        self.network.evaluate(x_t, t, condition)
    }
}

impl<const D: usize, N: TimeConditionedNetwork<D> + ?Sized> DivergenceField<D> for VjpField<'_, N> {
    fn velocity_divergence(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
        probes: &Probes<D>,
    ) -> Result<VelocityDivergence<D>> {
        vjp_divergence(self.network, x, t, condition, probes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continuous::divergence::DivergenceMethod;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    /// `f(x) = tanh(x) · s + x A` on `[N, 2]`: `tr J = s Σ_i (1 − tanh²(x_i)) + tr A`.
    fn oracle(x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>) -> medgen_core::Result<Tensor<2>> {
        let a = Tensor::<2>::from_floats([[0.5, 2.0], [-1.0, -0.25]], &x.device());
        Ok(x.clone().tanh().mul_scalar(3.0).add(x.matmul(a)))
    }

    #[test]
    fn exact_vjp_divergence_matches_closed_form_and_rank_4_works() {
        let device = test_device();
        let xs = [[0.3f32, -1.2], [2.0, 0.1], [-0.7, 0.0]];
        let x = Tensor::<2>::from_floats(xs, &device);
        let t = Tensor::<1>::zeros([3], &device);
        let out = vjp_divergence(&oracle, x, t, &Condition::none(), &Probes::Basis).unwrap();
        let got = out.divergence.try_into_vec_as::<f32>().unwrap();
        for (g, x) in got.iter().zip(xs) {
            let expected: f32 =
                x.iter().map(|v| 3.0 * (1.0 - v.tanh().powi(2))).sum::<f32>() + 0.25;
            assert!((g - expected).abs() < 1e-4, "{g} vs {expected}");
        }
        // Rank 4, f(x) = x²: div = Σ 2x.
        let square = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.clone().mul(x));
        let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, -1.0]]]], &device);
        let t = Tensor::<1>::zeros([1], &device);
        let probes = DivergenceMethod::hutchinson(3)
            .draw_probes([1, 1, 2, 2], &mut seeded_rng(1), &device)
            .unwrap();
        // Rademacher probes: εᵀ diag(2x) ε = Σ 2x exactly, whatever the signs.
        let out = vjp_divergence(&square, x, t, &Condition::none(), &probes).unwrap();
        assert!((out.divergence.into_scalar::<f32>() - 10.0).abs() < 1e-4);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let t = Tensor::<1>::zeros([2], &device);
        let nan = Tensor::<2>::from_floats([[f32::NAN, 0.0], [0.0, 0.0]], &device);
        assert!(matches!(
            vjp_divergence(&oracle, nan, t.clone(), &Condition::none(), &Probes::Basis),
            Err(crate::FlowError::Core(CoreError::NonFinite { .. }))
        ));
        let x = Tensor::<2>::zeros([2, 2], &device);
        let wrong = Probes::Sampled(vec![Tensor::<2>::ones([2, 3], &device)]);
        assert!(matches!(
            vjp_divergence(&oracle, x.clone(), t, &Condition::none(), &wrong),
            Err(crate::FlowError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let short_t = Tensor::<1>::zeros([5], &device);
        assert!(matches!(
            vjp_divergence(&oracle, x, short_t, &Condition::none(), &Probes::Basis),
            Err(crate::FlowError::Core(CoreError::ShapeMismatch { .. }))
        ));
    }
}

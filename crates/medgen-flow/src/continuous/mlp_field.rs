//! A time-conditioned MLP vector field on `ℝ^d` with forward-mode tangent propagation, so
//! that its exact or Hutchinson divergence is differentiable by Burn's first-order autodiff.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::{Device, Tensor};
use medgen_core::check::{ensure_non_empty, ensure_shape};
use medgen_core::{Condition, CoreError, TimeConditionedNetwork};

use super::divergence::{DivergenceField, Probes, VelocityDivergence};
use crate::error::Result;

/// The hidden-layer nonlinearity `σ` of an [`MlpVectorField`]; smooth, so that the field and
/// its divergence are differentiable.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum MlpActivation {
    /// `σ(u) = tanh(u)`, `σ'(u) = 1 − tanh²(u)`.
    Tanh,
    /// `σ(u) = ln(1 + eᵘ)`, `σ'(u) = 1 / (1 + e⁻ᵘ)`.
    Softplus,
}

impl MlpActivation {
    /// `(σ(u), σ'(u))`, element-wise.
    fn value_and_slope(self, u: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        match self {
            Self::Tanh => {
                let a = u.tanh();
                let slope = a.clone().square().neg().add_scalar(1.0);
                (a, slope)
            }
            Self::Softplus => (softplus(u.clone(), 1.0), sigmoid(u)),
        }
    }
}

/// Configuration of an [`MlpVectorField`].
#[derive(Config, Debug)]
pub struct MlpVectorFieldConfig {
    /// The data dimension `d` (input and output width), at least 1.
    pub dim: usize,
    /// The widths of the hidden layers (at least one layer, all positive).
    #[config(default = "vec![64, 64, 64]")]
    pub hidden: Vec<usize>,
    /// The hidden nonlinearity.
    #[config(default = "MlpActivation::Tanh")]
    pub activation: MlpActivation,
}

impl MlpVectorFieldConfig {
    /// Builds the field on `device`; fails on `dim = 0`, no hidden layer or a zero width.
    pub fn init(&self, device: &Device) -> Result<MlpVectorField> {
        if self.dim == 0 {
            return Err(CoreError::config("dim", "must be at least 1").into());
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(CoreError::config(
                "hidden",
                format!("needs at least one layer, all widths positive; got {:?}", self.hidden),
            )
            .into());
        }
        let mut widths = vec![self.dim + 1];
        widths.extend(&self.hidden);
        widths.push(self.dim);
        let layers =
            widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        Ok(MlpVectorField { layers, activation: self.activation, dim: self.dim })
    }
}

/// A time-dependent vector field `f_θ : ℝ^d × [0, 1] → ℝ^d` (torchcfm's 2D `MLP` design):
///
/// `h₀ = [x, t]`, `h_ℓ = σ(W_ℓ h_{ℓ−1} + b_ℓ)` for the hidden layers, `f = W_L h_{L−1} + b_L`.
///
/// Besides the value it propagates tangents (forward-mode, a Jacobian–vector product):
/// `ḣ₀ = [ẋ, 0]`, `ḣ_ℓ = σ'(W_ℓ h_{ℓ−1} + b_ℓ) ⊙ (W_ℓ ḣ_{ℓ−1})`, `ḟ = W_L ḣ_{L−1}`, so
/// `ḟ = J ẋ` with `J = ∂f/∂x`. These are ordinary tensor operations, so a divergence built
/// from them ([`DivergenceField`]: `Σ_i e_iᵀ J e_i` or `εᵀ J ε`) is differentiable with respect
/// to `θ` by Burn's first-order autodiff: that is what maximum-likelihood CNF training needs,
/// since Burn has no second-order autodiff.
///
/// Shapes: `x: [N, d]`, `t: [N]`, tangents `[K, N, d]`. It is unconditional: a non-empty
/// [`Condition`] is an error.
#[derive(Module, Debug)]
pub struct MlpVectorField {
    /// The affine layers `(d + 1) → h₁ → … → d`.
    pub layers: Vec<Linear>,
    /// The hidden nonlinearity.
    #[module(skip)]
    pub activation: MlpActivation,
    /// The data dimension `d`.
    pub dim: usize,
}

impl MlpVectorField {
    /// Checks `x: [N, d]` (non-empty) and `t: [N]`.
    fn check_inputs(&self, x: &Tensor<2>, t: &Tensor<1>) -> medgen_core::Result<()> {
        let [n, d] = x.dims();
        ensure_non_empty(&[n, d], "x")?;
        if d != self.dim {
            return Err(CoreError::shape("x", format!("[N, {}]", self.dim), &[n, d]));
        }
        ensure_shape(&t.dims(), &[n], "t")?;
        Ok(())
    }

    /// `f(x, t)` and, if given, the tangents `J ẋ_k` for tangents `ẋ: [K, N, d]`
    /// (unchecked shapes).
    fn propagate(
        &self,
        x: Tensor<2>,
        t: Tensor<1>,
        tangents: Option<Tensor<3>>,
    ) -> (Tensor<2>, Option<Tensor<3>>) {
        let n = x.dims()[0];
        let mut h = Tensor::cat(vec![x, t.reshape([n, 1])], 1);
        let mut tangent = tangents;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let pre = layer.forward(h);
            // The time input has zero tangent: only the first `d` rows of W₁ act on ẋ.
            let weight = layer.weight.val();
            let weight = if i == 0 { weight.narrow(0, 0, self.dim) } else { weight };
            tangent = tangent.map(|v| v.matmul(weight.unsqueeze_dim::<3>(0)));
            if i == last {
                h = pre;
            } else {
                let (value, slope) = self.activation.value_and_slope(pre);
                tangent = tangent.map(|v| v.mul(slope.unsqueeze_dim::<3>(0)));
                h = value;
            }
        }
        (h, tangent)
    }

    /// `f(x, t)` for `x: [N, d]`, `t: [N]`; returns `[N, d]`.
    pub fn forward(&self, x: Tensor<2>, t: Tensor<1>) -> Result<Tensor<2>> {
        self.check_inputs(&x, &t)?;
        Ok(self.propagate(x, t, None).0)
    }

    /// The value and the Jacobian–vector products: for `x: [N, d]`, `t: [N]` and tangents
    /// `v: [K, N, d]`, returns `(f(x, t), J(x, t) v_k)` with shapes `[N, d]` and `[K, N, d]`
    /// (`J` is applied per item).
    pub fn jvp(
        &self,
        x: Tensor<2>,
        t: Tensor<1>,
        tangents: Tensor<3>,
    ) -> Result<(Tensor<2>, Tensor<3>)> {
        self.check_inputs(&x, &t)?;
        let [k, n, d] = tangents.dims();
        ensure_non_empty(&[k], "tangents")?;
        ensure_shape(&[n, d], &x.dims(), "tangents (per probe)")?;
        let (f, jv) = self.propagate(x, t, Some(tangents));
        let jv = jv.ok_or_else(|| CoreError::config("tangents", "were not propagated"))?;
        Ok((f, jv))
    }

    /// The tangents for `probes` on a batch of `n` items and the factor the quadratic forms
    /// are averaged with: the unit vectors `[d, N, d]` (factor 1) or the stacked samples
    /// `[K, N, d]` (factor `1/K`).
    fn tangents(&self, probes: &Probes<2>, n: usize, device: &Device) -> (Tensor<3>, f64) {
        match probes {
            Probes::Basis => {
                let eye = Tensor::<2>::eye(self.dim, device).unsqueeze_dim::<3>(1);
                (eye.expand([self.dim, n, self.dim]), 1.0)
            }
            Probes::Sampled(samples) => {
                (Tensor::stack::<3>(samples.clone(), 0), 1.0 / samples.len() as f64)
            }
        }
    }
}

impl DivergenceField<2> for MlpVectorField {
    /// `f(x, t)` and `Σ_k v_kᵀ J v_k` (times `1/K` for sampled probes) from one forward pass
    /// with `K` tangents (`K = d` for the exact divergence); differentiable with respect to
    /// the parameters.
    fn velocity_divergence(
        &self,
        x: Tensor<2>,
        t: Tensor<1>,
        condition: &Condition<2>,
        probes: &Probes<2>,
    ) -> Result<VelocityDivergence<2>> {
        ensure_unconditional(condition)?;
        probes.check_shape(x.dims())?;
        let n = x.dims()[0];
        let (tangents, scale) = self.tangents(probes, n, &x.device());
        let (velocity, jv) = self.jvp(x, t, tangents.clone())?;
        let divergence = jv.mul(tangents).sum_dim(2).sum_dim(0).reshape([n]).mul_scalar(scale);
        Ok(VelocityDivergence { velocity, divergence })
    }
}

impl TimeConditionedNetwork<2> for MlpVectorField {
    fn evaluate(
        &self,
        x_t: Tensor<2>,
        t: Tensor<1>,
        condition: &Condition<2>,
    ) -> medgen_core::Result<Tensor<2>> {
        ensure_unconditional(condition)?;
        self.check_inputs(&x_t, &t)?;
        Ok(self.propagate(x_t, t, None).0)
    }
}

/// Fails unless `condition` is empty (the MLP field has no conditioning input).
fn ensure_unconditional(condition: &Condition<2>) -> medgen_core::Result<()> {
    if condition.is_empty() {
        Ok(())
    } else {
        Err(CoreError::config("condition", "MlpVectorField is unconditional"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continuous::divergence::DivergenceMethod;
    use crate::continuous::vjp::vjp_divergence;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn field(activation: MlpActivation, device: &Device) -> MlpVectorField {
        MlpVectorFieldConfig::new(3)
            .with_hidden(vec![8, 8])
            .with_activation(activation)
            .init(device)
            .unwrap()
    }

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn jvp_equals_central_finite_differences() {
        let device = test_device();
        for activation in [MlpActivation::Tanh, MlpActivation::Softplus] {
            let net = field(activation, &device);
            let x = Tensor::<2>::from_floats([[0.2, -0.5, 1.0], [1.5, 0.3, -0.8]], &device);
            let t = Tensor::<1>::from_floats([0.3, 0.9], &device);
            let v = Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]], &device);
            let (_, jv) = net.jvp(x.clone(), t.clone(), v.clone().unsqueeze_dim(0)).unwrap();
            let h = 1e-2;
            let plus = net.forward(x.clone().add(v.clone().mul_scalar(h)), t.clone()).unwrap();
            let minus = net.forward(x.sub(v.mul_scalar(h)), t).unwrap();
            let fd = values(plus.sub(minus).div_scalar(2.0 * h));
            for (a, b) in values(jv).iter().zip(&fd) {
                assert!((a - b).abs() < 1e-3, "{activation:?}: jvp {a} vs fd {b}");
            }
        }
    }

    #[test]
    fn exact_jvp_divergence_equals_vjp_divergence() {
        let device = test_device();
        let net = field(MlpActivation::Tanh, &device);
        let x = Tensor::<2>::from_floats([[0.2, -0.5, 1.0], [1.5, 0.3, -0.8]], &device);
        let t = Tensor::<1>::from_floats([0.1, 0.7], &device);
        let none = Condition::none();
        let jvp = net.velocity_divergence(x.clone(), t.clone(), &none, &Probes::Basis).unwrap();
        let vjp = vjp_divergence(&net, x.clone(), t.clone(), &none, &Probes::Basis).unwrap();
        for (a, b) in values(jvp.divergence).iter().zip(values(vjp.divergence)) {
            assert!((a - b).abs() < 1e-4, "jvp {a} vs vjp {b}");
        }
        // The same probes give the same Hutchinson estimate both ways.
        let probes = DivergenceMethod::hutchinson(2)
            .draw_probes([2, 3], &mut seeded_rng(4), &device)
            .unwrap();
        let a = net.velocity_divergence(x.clone(), t.clone(), &none, &probes);
        let b = vjp_divergence(&net, x, t, &none, &probes);
        for (a, b) in values(a.unwrap().divergence).iter().zip(values(b.unwrap().divergence)) {
            assert!((a - b).abs() < 1e-4, "jvp {a} vs vjp {b}");
        }
    }

    #[test]
    fn bad_configs_and_inputs_are_typed_errors() {
        let device = test_device();
        assert!(MlpVectorFieldConfig::new(0).init(&device).is_err());
        assert!(MlpVectorFieldConfig::new(2).with_hidden(vec![]).init(&device).is_err());
        let net = field(MlpActivation::Tanh, &device);
        let t = Tensor::<1>::zeros([2], &device);
        let wrong_dim = Tensor::<2>::zeros([2, 2], &device);
        assert!(matches!(
            net.forward(wrong_dim, t.clone()),
            Err(crate::FlowError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let x = Tensor::<2>::zeros([2, 3], &device);
        let conditioned = Condition::none().with_embedding(Tensor::zeros([2, 1], &device));
        assert!(net.evaluate(x, t, &conditioned).is_err());
    }
}

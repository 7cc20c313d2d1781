//! A normalizing flow on vectors: a base distribution and a stack of invertible layers.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::check::ensure_finite;
use medgen_core::noise::gaussian_noise;
use rand::Rng;

use super::diagonal_gaussian::DiagonalGaussian;
use super::layer::{FlowLayer, ensure_event_shape};
use super::vector_layer::VectorLayer;
use crate::continuous::standard_normal_log_prob;
use crate::error::Result;
use medgen_core::CoreError;

/// A normalizing flow `z = f(x) = f_K ∘ … ∘ f_1(x)` on `[N, d]` vectors with exact density
///
/// ```text
/// log p(x) = log p_Z(f(x)) + Σ_k log |det ∂f_k/∂h_{k−1}|
/// ```
///
/// and sampling `x = f⁻¹(z)`, `z ~ p_Z`. The base `p_Z` is `N(0, I)` or a learnable
/// [`DiagonalGaussian`]. Build one with [`RealNvpConfig`](super::RealNvpConfig),
/// [`SplineFlowConfig`](super::SplineFlowConfig), [`MafConfig`](super::MafConfig) or
/// [`Flow::new`] from any [`VectorLayer`]s.
#[derive(Module, Debug)]
pub struct Flow {
    /// The layers `f_1 … f_K`, applied in order from data to base.
    pub layers: Vec<VectorLayer>,
    /// The base distribution (`None`: standard normal).
    pub base: Option<DiagonalGaussian>,
    /// The dimension `d`.
    pub dim: usize,
}

impl Flow {
    /// A flow of dimension `d` from its layers (data → base order) and base.
    ///
    /// # Errors
    /// `d = 0` or a base of another dimension.
    pub fn new(
        dim: usize,
        layers: Vec<VectorLayer>,
        base: Option<DiagonalGaussian>,
    ) -> Result<Self> {
        if dim == 0 {
            return Err(CoreError::config("dim", "must be positive").into());
        }
        if let Some(base) = &base
            && base.dim() != dim
        {
            return Err(
                CoreError::shape("base distribution", format!("[{dim}]"), &[base.dim()]).into()
            );
        }
        Ok(Self { layers, base, dim })
    }

    fn check(&self, x: &Tensor<2>, what: &str) -> Result<()> {
        ensure_event_shape(x, &[self.dim], what)
    }

    /// `z = f(x)` and `Σ_k log|det J_k|` per item (`[N, d]` → `[N, d]`, `[N]`).
    ///
    /// # Errors
    /// A shape other than `[N, d]`.
    pub fn forward(&self, x: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        self.check(&x, "flow input")?;
        let n = x.dims()[0];
        let mut total = Tensor::zeros([n], &x.device());
        let mut h = x;
        for layer in &self.layers {
            let (next, log_det) = layer.forward(h)?;
            h = next;
            total = total.add(log_det);
        }
        Ok((h, total))
    }

    /// `x = f⁻¹(z)` and `log|det ∂f⁻¹/∂z|` per item.
    ///
    /// # Errors
    /// A shape other than `[N, d]`.
    pub fn inverse(&self, z: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        self.check(&z, "flow latent")?;
        let n = z.dims()[0];
        let mut total = Tensor::zeros([n], &z.device());
        let mut h = z;
        for layer in self.layers.iter().rev() {
            let (next, log_det) = layer.inverse(h)?;
            h = next;
            total = total.add(log_det);
        }
        Ok((h, total))
    }

    /// `log p_Z(z)` per item.
    ///
    /// # Errors
    /// A shape other than `[N, d]`.
    pub fn base_log_prob(&self, z: Tensor<2>) -> Result<Tensor<1>> {
        self.check(&z, "flow latent")?;
        match &self.base {
            Some(base) => base.log_prob(z),
            None => Ok(standard_normal_log_prob(z)),
        }
    }

    /// The exact `log p(x)` in nats per item: `[N, d]` → `[N]`. Differentiable, so
    /// `−mean(log p)` trains the flow by maximum likelihood on an autodiff device.
    ///
    /// Reads one scalar back to the host to reject NaN/Inf input.
    ///
    /// # Errors
    /// A shape other than `[N, d]` with `N ≥ 1`, or non-finite values.
    pub fn log_prob(&self, x: Tensor<2>) -> Result<Tensor<1>> {
        self.check(&x, "flow input")?;
        ensure_finite(&x, "flow input")?;
        let (z, log_det) = self.forward(x)?;
        Ok(self.base_log_prob(z)?.add(log_det))
    }

    /// The maximum-likelihood loss `−(1/N) Σ_i log p(x_i)`, `[1]`.
    ///
    /// # Errors
    /// As [`log_prob`](Self::log_prob).
    pub fn nll(&self, x: Tensor<2>) -> Result<Tensor<1>> {
        Ok(self.log_prob(x)?.mean().neg())
    }

    /// Draws `n` samples `x = f⁻¹(z)`, `z ~ p_Z` (drawn on the host from `rng`): `[n, d]`.
    ///
    /// # Errors
    /// `n = 0`.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        n: usize,
        rng: &mut R,
        device: &Device,
    ) -> Result<Tensor<2>> {
        let z = match &self.base {
            Some(base) => base.sample(n, rng, device)?,
            None => gaussian_noise([n, self.dim], rng, device)?,
        };
        Ok(self.inverse(z)?.0)
    }

    /// Data-dependent initialisation: runs `x` through the layers in order and initialises
    /// every [`ActNorm`](super::ActNorm) from the activations it receives (zero mean, unit
    /// variance on this batch). Call once, before training.
    ///
    /// # Errors
    /// As [`log_prob`](Self::log_prob), or a batch with a single item.
    pub fn initialize(self, x: Tensor<2>) -> Result<Self> {
        self.check(&x, "flow initialisation batch")?;
        ensure_finite(&x, "flow initialisation batch")?;
        let mut h = x.detach();
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in self.layers {
            let layer = match layer {
                VectorLayer::ActNorm(norm) => VectorLayer::ActNorm(norm.initialize(h.clone())?),
                other => other,
            };
            h = layer.forward(h)?.0.detach();
            layers.push(layer);
        }
        Ok(Self { layers, ..self })
    }
}

impl FlowLayer<2> for Flow {
    fn forward(&self, x: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        Flow::forward(self, x)
    }

    fn inverse(&self, z: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        Flow::inverse(self, z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, host, test_input};
    use crate::discrete::{
        ActNormConfig, AffineCouplingConfig, InvConv1x1Config, MafConfig,
        MaskedAutoregressiveConfig, RealNvpConfig, SplineCouplingConfig, SplineFlowConfig,
    };
    use crate::error::FlowError;
    use burn::tensor::TensorData;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;
    use medgen_testing::testing_on_wgpu;

    /// A 2D flow with one layer of every vector kind, random initialisation.
    fn mixed_flow(device: &Device) -> Flow {
        let layers: Vec<VectorLayer> = vec![
            ActNormConfig::new(2).with_scale(1.3).init(device).unwrap().into(),
            AffineCouplingConfig::new(2, 8).with_scale_clamp(1.0).init(device).unwrap().into(),
            InvConv1x1Config::new(2).with_init_std(0.5).init(device).unwrap().into(),
            SplineCouplingConfig::new(2, 8).with_flip(true).init(device).unwrap().into(),
            MaskedAutoregressiveConfig::new(2, 8)
                .with_scale_clamp(1.0)
                .init(device)
                .unwrap()
                .into(),
        ];
        Flow::new(2, layers, None).unwrap()
    }

    #[test]
    fn whole_models_are_exact() {
        let device = autodiff_device();
        let x = test_input([3, 2], &device);
        check_layer(&mixed_flow(&device), x, 1e-4);
        let x4 = test_input([3, 4], &device);
        check_layer(&RealNvpConfig::new(4, 3, 8).init(&device).unwrap(), x4.clone(), 1e-4);
        check_layer(&SplineFlowConfig::new(4, 2, 8).init(&device).unwrap(), x4.clone(), 1e-4);
        check_layer(&MafConfig::new(4, 2, 8).init(&device).unwrap(), x4, 1e-4);
    }

    #[test]
    fn density_integrates_to_one() {
        let device = test_device();
        let flow = medgen_core::init_seeded(&device, &mut seeded_rng(5), |d| {
            Ok::<_, crate::FlowError>(mixed_flow(d))
        })
        .unwrap();
        let (points, half_width) = if testing_on_wgpu() { (160, 8.0) } else { (400, 8.0) };
        let h = 2.0 * half_width / points as f64;
        let coords: Vec<f32> = (0..points * points)
            .flat_map(|k| {
                let (i, j) = (k / points, k % points);
                [
                    (-half_width + (i as f64 + 0.5) * h) as f32,
                    (-half_width + (j as f64 + 0.5) * h) as f32,
                ]
            })
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(coords, [points * points, 2]), &device);
        let density = host(flow.log_prob(x).unwrap().exp());
        let mass: f64 = density.iter().sum::<f64>() * h * h;
        assert!((mass - 1.0).abs() < 1e-2, "∫ p = {mass}");
    }

    #[test]
    fn sampling_is_seeded_and_inverts_the_density_map() {
        let device = test_device();
        let flow = mixed_flow(&device);
        let a = host(flow.sample(16, &mut seeded_rng(3), &device).unwrap());
        let b = host(flow.sample(16, &mut seeded_rng(3), &device).unwrap());
        let c = host(flow.sample(16, &mut seeded_rng(4), &device).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let z = medgen_core::noise::gaussian_noise([16, 2], &mut seeded_rng(3), &device).unwrap();
        let back = host(
            flow.forward(Tensor::from_data(
                TensorData::new(a.iter().map(|&v| v as f32).collect::<Vec<_>>(), [16, 2]),
                &device,
            ))
            .unwrap()
            .0,
        );
        for (u, v) in back.iter().zip(host(z)) {
            assert!((u - v).abs() < 1e-4, "{u} vs {v}");
        }
    }

    #[test]
    fn initialization_standardises_each_act_norm_input() {
        let device = test_device();
        let flow = RealNvpConfig::new(2, 2, 8).init(&device).unwrap();
        let x = test_input([32, 2], &device).mul_scalar(4.0).add_scalar(3.0);
        let flow = flow.initialize(x.clone()).unwrap();
        let VectorLayer::ActNorm(first) = &flow.layers[0] else {
            panic!("RealNVP starts with ActNorm")
        };
        let y = host(FlowLayer::<2>::forward(first, x).unwrap().0);
        let mean = y.iter().step_by(2).sum::<f64>() / 32.0;
        assert!(mean.abs() < 1e-4, "{mean}");
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let flow = RealNvpConfig::new(2, 2, 8).init(&device).unwrap();
        let nan = Tensor::<2>::from_floats([[0.0, f32::NAN]], &device);
        assert!(matches!(flow.log_prob(nan), Err(FlowError::Core(CoreError::NonFinite { .. }))));
        assert!(matches!(
            flow.log_prob(Tensor::zeros([4, 3], &device)),
            Err(FlowError::Core(CoreError::ShapeMismatch { .. }))
        ));
        assert!(flow.sample(0, &mut seeded_rng(0), &device).is_err());
        assert!(RealNvpConfig::new(2, 0, 8).init(&device).is_err());
        let base = crate::discrete::DiagonalGaussianConfig::new(3).init(&device).unwrap();
        assert!(Flow::new(2, Vec::new(), Some(base)).is_err());
    }
}

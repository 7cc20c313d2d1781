//! Activation normalisation (Glow, Kingma & Dhariwal 2018) with data-dependent initialisation.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use medgen_core::check::ensure_finite;

use super::layer::{FlowLayer, ensure_event_shape};
use crate::error::{FlowError, Result};

/// Configuration of an [`ActNorm`] layer.
#[derive(Config, Debug)]
pub struct ActNormConfig {
    /// Channels `C` (features `d` for vectors).
    pub channels: usize,
    /// Initial scale `σ` of every channel before data-dependent initialisation; must be finite
    /// and positive (a zero scale is not invertible).
    #[config(default = 1.0)]
    pub scale: f64,
}

/// Per-channel affine normalisation `y = (x + b) ⊙ exp(s)` (broadcast over every axis but
/// axis 1), with `log|det J| = S · Σ_c s_c`, `S` the number of spatial positions (1 for
/// vectors).
///
/// Shapes: `[N, C]` or `[N, C, H, W]` in and out; log-determinants `[N]`.
///
/// [`initialize`](Self::initialize) sets `b = −mean`, `s = −log(std + 10⁻⁶)` per channel from
/// a batch, so that the layer's output on that batch has zero mean and unit variance.
#[derive(Module, Debug)]
pub struct ActNorm {
    /// The bias `b`, `[C]`.
    pub bias: Param<Tensor<1>>,
    /// The log-scale `s`, `[C]`.
    pub log_scale: Param<Tensor<1>>,
}

impl ActNormConfig {
    /// Builds the layer with `b = 0`, `s = log σ`.
    ///
    /// # Errors
    /// [`FlowError::NonInvertible`] if `σ` is zero, negative or not finite; a config error
    /// if `C = 0`.
    pub fn init(&self, device: &Device) -> Result<ActNorm> {
        if self.channels == 0 {
            return Err(medgen_core::CoreError::config("channels", "must be positive").into());
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(FlowError::NonInvertible {
                what: "ActNorm".into(),
                reason: format!("scale must be positive and finite, got {}", self.scale),
            });
        }
        let c = self.channels;
        Ok(ActNorm {
            bias: Param::from_tensor(Tensor::zeros([c], device)),
            log_scale: Param::from_tensor(Tensor::full([c], self.scale.ln(), device)),
        })
    }
}

/// A trainable parameter holding `value` under the id of `old` (so that optimiser state and
/// records keep referring to the same parameter).
fn keep_id(old: &Param<Tensor<1>>, value: Tensor<1>) -> Param<Tensor<1>> {
    let mut param = Param::from_tensor(value);
    param.id = old.id;
    param
}

/// `[C] → [1, C, 1, …]` so that it broadcasts over a rank-`D` batch.
fn per_channel<const D: usize>(v: Tensor<1>) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[1] = v.dims()[0];
    v.reshape(shape)
}

impl ActNorm {
    /// The channel count `C`.
    pub fn channels(&self) -> usize {
        self.bias.dims()[0]
    }

    fn check<const D: usize>(&self, x: &Tensor<D>) -> Result<()> {
        let dims = x.dims();
        let mut event = dims[1..].to_vec();
        event[0] = self.channels();
        ensure_event_shape(x, &event, "ActNorm input")
    }

    /// Data-dependent initialisation from a batch `x` (`[N, C, …]`): `b_c = −mean_c(x)`,
    /// `s_c = −log(std_c(x) + 10⁻⁶)` over every axis but the channel axis. Reads nothing back
    /// to the host except the finiteness check.
    ///
    /// # Errors
    /// A shape that does not match `C`, a batch with a single value per channel, or
    /// non-finite values.
    pub fn initialize<const D: usize>(self, x: Tensor<D>) -> Result<Self> {
        self.check(&x)?;
        ensure_finite(&x, "ActNorm initialisation batch")?;
        let dims = x.dims();
        let c = dims[1];
        let count = dims.iter().product::<usize>() / c;
        if count < 2 {
            return Err(medgen_core::CoreError::config(
                "ActNorm initialisation batch",
                "needs at least two values per channel",
            )
            .into());
        }
        let mut order: [usize; D] = std::array::from_fn(|i| i);
        order.swap(0, 1);
        let flat = x.detach().permute(order).reshape([c, count]);
        let mean = flat.clone().mean_dim(1);
        let std = flat.sub(mean.clone()).square().mean_dim(1).sqrt();
        let device = self.bias.device();
        let bias = mean.reshape([c]).neg();
        let log_scale = std.reshape([c]).add_scalar(1e-6).log().neg();
        Ok(Self {
            bias: keep_id(&self.bias, bias.to_device(&device)),
            log_scale: keep_id(&self.log_scale, log_scale.to_device(&device)),
        })
    }

    fn log_det<const D: usize>(&self, dims: [usize; D]) -> Tensor<1> {
        let spatial: usize = dims[2..].iter().product();
        self.log_scale.val().sum().mul_scalar(spatial as f64).expand([dims[0]])
    }
}

impl<const D: usize> FlowLayer<D> for ActNorm {
    fn forward(&self, x: Tensor<D>) -> Result<(Tensor<D>, Tensor<1>)> {
        self.check(&x)?;
        let dims = x.dims();
        let y =
            x.add(per_channel(self.bias.val())).mul(per_channel::<D>(self.log_scale.val()).exp());
        Ok((y, self.log_det(dims)))
    }

    fn inverse(&self, y: Tensor<D>) -> Result<(Tensor<D>, Tensor<1>)> {
        self.check(&y)?;
        let dims = y.dims();
        let x = y
            .mul(per_channel::<D>(self.log_scale.val()).neg().exp())
            .sub(per_channel(self.bias.val()));
        Ok((x, self.log_det(dims).neg()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, host, test_input};

    #[test]
    fn data_init_standardises_and_the_layer_is_exact() {
        let device = autodiff_device();
        let x = test_input([6, 3], &device).mul_scalar(3.0).add_scalar(1.0);
        let norm = ActNormConfig::new(3).init(&device).unwrap().initialize(x.clone()).unwrap();
        let y = host(FlowLayer::<2>::forward(&norm, x.clone()).unwrap().0);
        for c in 0..3 {
            let col: Vec<f64> = (0..6).map(|i| y[i * 3 + c]).collect();
            let mean = col.iter().sum::<f64>() / 6.0;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "{mean} {var}");
        }
        check_layer::<2, _>(&norm, x, 1e-4);

        let images = test_input([2, 2, 3, 3], &device);
        let norm = ActNormConfig::new(2).init(&device).unwrap().initialize(images.clone()).unwrap();
        check_layer::<4, _>(&norm, images, 1e-4);
    }

    #[test]
    fn zero_scale_and_bad_batches_are_typed_errors() {
        let device = autodiff_device();
        assert!(matches!(
            ActNormConfig::new(2).with_scale(0.0).init(&device),
            Err(FlowError::NonInvertible { .. })
        ));
        let norm = ActNormConfig::new(2).init(&device).unwrap();
        let nan = Tensor::<2>::from_floats([[f32::NAN, 1.0], [0.0, 2.0]], &device);
        assert!(norm.clone().initialize(nan).is_err());
        assert!(FlowLayer::<2>::forward(&norm, Tensor::zeros([2, 3], &device)).is_err());
    }
}

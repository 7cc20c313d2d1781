//! Embedding of the (diffusion or flow) time: sinusoidal features followed by an MLP.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Device;
use burn::tensor::activation::silu;
use burn::tensor::{Int, Tensor};

use medgen_core::error::{CoreError, Result};

/// Configuration of a [`SinusoidalEmbedding`].
#[derive(Config, Debug)]
pub struct SinusoidalEmbeddingConfig {
    /// Output width `dim` (even, at least 2).
    pub dim: usize,
    /// Longest period `P` of the features (10 000 in DDPM and its descendants).
    #[config(default = 10000.0)]
    pub max_period: f64,
}

/// Sinusoidal time features (Vaswani et al. 2017, as used by DDPM / guided-diffusion and by
/// diffusers' `get_timestep_embedding(.., flip_sin_to_cos=True, downscale_freq_shift=0)`):
///
/// with `h = dim / 2` and `f_i = exp(−ln(P) · i / h)` for `i = 0..h` (the denominator is `h`,
/// not `h − 1`),
///
/// `emb(t) = [cos(t·f_0), …, cos(t·f_{h−1}), sin(t·f_0), …, sin(t·f_{h−1})]` (cosines first).
///
/// Input `t`: `[N]` (any real times, in the sampler's units); output `[N, dim]`.
#[derive(Module, Debug)]
pub struct SinusoidalEmbedding {
    /// Output width (even).
    pub dim: usize,
    /// Longest period `P`.
    pub max_period: f64,
}

impl SinusoidalEmbeddingConfig {
    /// Builds the embedding; fails unless `dim` is even and positive and `max_period > 1` is
    /// finite.
    pub fn init(&self) -> Result<SinusoidalEmbedding> {
        if self.dim < 2 || !self.dim.is_multiple_of(2) {
            return Err(CoreError::config(
                "dim",
                format!("must be even and at least 2, got {}", self.dim),
            ));
        }
        if !(self.max_period.is_finite() && self.max_period > 1.0) {
            return Err(CoreError::config(
                "max_period",
                format!("must be finite and > 1, got {}", self.max_period),
            ));
        }
        Ok(SinusoidalEmbedding { dim: self.dim, max_period: self.max_period })
    }
}

impl SinusoidalEmbedding {
    /// Embeds `t` (`[N]`) into `[N, dim]`; computed on `t`'s device.
    pub fn forward(&self, t: Tensor<1>) -> Tensor<2> {
        let half = self.dim / 2;
        let device = t.device();
        let freqs = Tensor::<1, Int>::arange(0..half as i64, &device)
            .float()
            .mul_scalar(-self.max_period.ln() / half as f64)
            .exp()
            .unsqueeze_dim::<2>(0);
        let args = t.unsqueeze_dim::<2>(1).mul(freqs);
        Tensor::cat(vec![args.clone().cos(), args.sin()], 1)
    }
}

/// Configuration of a [`TimeEmbedding`].
#[derive(Config, Debug)]
pub struct TimeEmbeddingConfig {
    /// Width of the sinusoidal features (the U-Net uses its base channel count).
    pub frequency_dim: usize,
    /// Width of the embedding (the U-Net uses 4 × its base channel count).
    pub embed_dim: usize,
    /// Longest period of the sinusoidal features.
    #[config(default = 10000.0)]
    pub max_period: f64,
}

/// The time embedding of DDPM-style U-Nets:
///
/// `e(t) = W₂ · SiLU(W₁ · emb(t) + b₁) + b₂`, with `emb` the [`SinusoidalEmbedding`] of width
/// `frequency_dim`, `W₁ : frequency_dim → embed_dim` and `W₂ : embed_dim → embed_dim`.
///
/// Input `t`: `[N]`; output `[N, embed_dim]`.
#[derive(Module, Debug)]
pub struct TimeEmbedding {
    /// The sinusoidal features.
    pub sinusoidal: SinusoidalEmbedding,
    /// First layer, `frequency_dim → embed_dim`.
    pub linear_in: Linear,
    /// Second layer, `embed_dim → embed_dim`.
    pub linear_out: Linear,
}

impl TimeEmbeddingConfig {
    /// Builds the embedding on `device`; fails on a bad sinusoidal width or period, or a zero
    /// `embed_dim`.
    pub fn init(&self, device: &Device) -> Result<TimeEmbedding> {
        if self.embed_dim == 0 {
            return Err(CoreError::config("embed_dim", "must be positive"));
        }
        let sinusoidal = SinusoidalEmbeddingConfig::new(self.frequency_dim)
            .with_max_period(self.max_period)
            .init()?;
        Ok(TimeEmbedding {
            sinusoidal,
            linear_in: LinearConfig::new(self.frequency_dim, self.embed_dim).init(device),
            linear_out: LinearConfig::new(self.embed_dim, self.embed_dim).init(device),
        })
    }
}

impl TimeEmbedding {
    /// Embeds `t` (`[N]`) into `[N, embed_dim]`.
    pub fn forward(&self, t: Tensor<1>) -> Tensor<2> {
        let h = self.linear_in.forward(self.sinusoidal.forward(t));
        self.linear_out.forward(silu(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    /// Compares with the closed form computed on the host in f64.
    #[test]
    fn sinusoidal_matches_closed_form() {
        let device = test_device();
        let times = [0.0f32, 1.0, 17.5, 999.0];
        let dim = 8;
        let emb = SinusoidalEmbeddingConfig::new(dim)
            .init()
            .unwrap()
            .forward(Tensor::from_floats(times, &device));
        assert_eq!(emb.dims(), [4, dim]);
        let got = emb.into_data().try_to_vec::<f32>().unwrap();
        let half = dim / 2;
        for (n, &t) in times.iter().enumerate() {
            for i in 0..half {
                let f = (-(10000f64).ln() * i as f64 / half as f64).exp();
                let arg = t as f64 * f;
                let (c, s) = (got[n * dim + i], got[n * dim + half + i]);
                assert!((c as f64 - arg.cos()).abs() < 2e-3, "cos t={t} i={i}");
                assert!((s as f64 - arg.sin()).abs() < 2e-3, "sin t={t} i={i}");
            }
        }
    }

    #[test]
    fn mlp_has_expected_shape_and_size() {
        let device = test_device();
        let embed = TimeEmbeddingConfig::new(32, 128).init(&device).unwrap();
        // Linear(32, 128) + Linear(128, 128), with biases.
        assert_eq!(embed.num_params(), 32 * 128 + 128 + 128 * 128 + 128);
        let out = embed.forward(Tensor::from_floats([0.0, 5.0, 10.0], &device));
        assert_eq!(out.dims(), [3, 128]);
    }

    #[test]
    fn bad_widths_are_rejected() {
        assert!(SinusoidalEmbeddingConfig::new(7).init().is_err());
        assert!(SinusoidalEmbeddingConfig::new(0).init().is_err());
        assert!(SinusoidalEmbeddingConfig::new(8).with_max_period(f64::NAN).init().is_err());
        assert!(TimeEmbeddingConfig::new(8, 0).init(&test_device()).is_err());
    }
}

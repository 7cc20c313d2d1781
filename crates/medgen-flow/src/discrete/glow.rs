//! Glow: a multi-scale flow on images (Kingma & Dhariwal 2018; multi-scale architecture of
//! RealNVP).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;
use medgen_core::check::ensure_finite;
use medgen_core::noise::gaussian_noise;
use rand::Rng;

use super::dequantize::{bits_per_dim, dequantize};
use super::glow_step::{GlowStep, GlowStepConfig};
use super::layer::{FlowLayer, ensure_event_shape};
use super::mask::ImageMask;
use super::squeeze::{Squeeze, merge_channels, split_channels};
use crate::continuous::standard_normal_log_prob;
use crate::error::{FlowError, Result};

/// Configuration of a [`Glow`] model on `[N, C, H, W]` images.
#[derive(Config, Debug)]
pub struct GlowConfig {
    /// Image channels `C`.
    pub channels: usize,
    /// Image height `H` (divisible by `2^levels`).
    pub height: usize,
    /// Image width `W` (divisible by `2^levels`).
    pub width: usize,
    /// Number of scales `L ≥ 1`.
    pub levels: usize,
    /// Steps of flow per scale `K ≥ 1`.
    pub steps: usize,
    /// Hidden channels of the coupling networks.
    pub hidden: usize,
    /// Coupling mask (flipped from step to step).
    #[config(default = "ImageMask::Channel")]
    pub mask: ImageMask,
    /// Soft clamp of the coupling log-scales.
    #[config(default = 2.0)]
    pub scale_clamp: f64,
}

/// The multi-scale Glow architecture. Each of the `L` levels squeezes (`[c, h, w] →
/// [4c, h/2, w/2]`), applies `K` [`GlowStep`]s, and, except the last, factors out half of the
/// channels `z_l` to the standard normal base:
///
/// ```text
/// log p(x) = Σ_l log N(z_l; 0, I) + log N(z_L; 0, I) + Σ_steps log|det J|
/// ```
///
/// Input `x` `[N, C, H, W]` in the flow's space (e.g. [`dequantize`]d to `[−½, ½)`); latents
/// `z_l` `[N, 2^{l+1} C, H/2^{l+1}, W/2^{l+1}]` for `l < L − 1` and
/// `z_L` `[N, 2^{L+1} C, H/2^L, W/2^L]`.
#[derive(Module, Debug)]
pub struct Glow {
    /// `levels[l][k]`: step `k` of level `l`.
    pub levels: Vec<Vec<GlowStep>>,
    /// Image channels `C`.
    pub channels: usize,
    /// Image height `H`.
    pub height: usize,
    /// Image width `W`.
    pub width: usize,
}

impl GlowConfig {
    /// Builds the model.
    ///
    /// # Errors
    /// [`FlowError::IndivisibleSize`] if `H` or `W` is not divisible by `2^L`; config errors
    /// for zero sizes.
    pub fn init(&self, device: &Device) -> Result<Glow> {
        for (name, value) in [
            ("channels", self.channels),
            ("levels", self.levels),
            ("steps", self.steps),
            ("hidden", self.hidden),
        ] {
            if value == 0 {
                return Err(CoreError::config(name, "must be positive").into());
            }
        }
        let factor = 1usize.checked_shl(self.levels as u32).unwrap_or(0);
        for (what, size) in [("image height", self.height), ("image width", self.width)] {
            if factor == 0 || size == 0 || !size.is_multiple_of(factor) {
                return Err(FlowError::IndivisibleSize { what: what.into(), size, factor });
            }
        }
        let (mut c, mut h, mut w) = (self.channels, self.height, self.width);
        let mut levels = Vec::with_capacity(self.levels);
        for level in 0..self.levels {
            (c, h, w) = (4 * c, h / 2, w / 2);
            let steps = (0..self.steps)
                .map(|k| {
                    GlowStepConfig::new(c, h, w, self.hidden)
                        .with_mask(self.mask)
                        .with_flip(k % 2 == 1)
                        .with_scale_clamp(self.scale_clamp)
                        .init(device)
                })
                .collect::<Result<Vec<_>>>()?;
            levels.push(steps);
            if level + 1 < self.levels {
                c -= c / 2;
            }
        }
        Ok(Glow { levels, channels: self.channels, height: self.height, width: self.width })
    }
}

/// Latents of a [`Glow`] forward pass: the factored-out `z_l` in level order, then `z_L`.
pub type GlowLatents = Vec<Tensor<4>>;

impl Glow {
    /// Values per item `D = C·H·W`.
    pub fn dims_per_item(&self) -> usize {
        self.channels * self.height * self.width
    }

    fn check(&self, x: &Tensor<4>, what: &str) -> Result<()> {
        ensure_event_shape(x, &[self.channels, self.height, self.width], what)
    }

    /// The per-item shapes `[c, h, w]` of the latents, in [`GlowLatents`] order.
    pub fn latent_shapes(&self) -> Vec<[usize; 3]> {
        let (mut c, mut h, mut w) = (self.channels, self.height, self.width);
        let mut shapes = Vec::with_capacity(self.levels.len());
        for level in 0..self.levels.len() {
            (c, h, w) = (4 * c, h / 2, w / 2);
            if level + 1 < self.levels.len() {
                shapes.push([c / 2, h, w]);
                c -= c / 2;
            }
        }
        shapes.push([c, h, w]);
        shapes
    }

    /// `x ↦ (latents, Σ log|det J|)`.
    ///
    /// # Errors
    /// A shape other than `[N, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Result<(GlowLatents, Tensor<1>)> {
        self.check(&x, "Glow input")?;
        let n = x.dims()[0];
        let mut total = Tensor::zeros([n], &x.device());
        let mut latents = Vec::with_capacity(self.levels.len());
        let mut h = x;
        for (level, steps) in self.levels.iter().enumerate() {
            h = Squeeze.forward(h)?.0;
            for step in steps {
                let (next, log_det) = step.forward(h)?;
                h = next;
                total = total.add(log_det);
            }
            if level + 1 < self.levels.len() {
                let (kept, factored) = split_channels(h)?;
                latents.push(factored);
                h = kept;
            }
        }
        latents.push(h);
        Ok((latents, total))
    }

    /// `latents ↦ (x, log|det ∂x/∂latents|)`, the inverse of [`forward`](Self::forward).
    ///
    /// # Errors
    /// A wrong number of latents or latent shapes.
    pub fn inverse(&self, mut latents: GlowLatents) -> Result<(Tensor<4>, Tensor<1>)> {
        let shapes = self.latent_shapes();
        if latents.len() != shapes.len() {
            return Err(CoreError::shape(
                "Glow latents",
                format!("{} tensors", shapes.len()),
                &[latents.len()],
            )
            .into());
        }
        for (z, shape) in latents.iter().zip(&shapes) {
            ensure_event_shape(z, shape, "Glow latent")?;
        }
        let n = latents[0].dims()[0];
        let mut total = Tensor::zeros([n], &latents[0].device());
        let mut h = latents.pop().expect("at least one latent");
        for (level, steps) in self.levels.iter().enumerate().rev() {
            if level + 1 < self.levels.len() {
                let factored = latents.pop().expect("one latent per split");
                h = merge_channels(h, factored)?;
            }
            for step in steps.iter().rev() {
                let (next, log_det) = step.inverse(h)?;
                h = next;
                total = total.add(log_det);
            }
            h = Squeeze.inverse(h)?.0;
        }
        Ok((h, total))
    }

    /// The exact `log p(x)` per item in nats, `[N, C, H, W]` → `[N]`; differentiable.
    /// Reads one scalar to the host to reject NaN/Inf.
    ///
    /// # Errors
    /// A wrong shape or non-finite values.
    pub fn log_prob(&self, x: Tensor<4>) -> Result<Tensor<1>> {
        self.check(&x, "Glow input")?;
        ensure_finite(&x, "Glow input")?;
        let (latents, log_det) = self.forward(x)?;
        Ok(latents.into_iter().fold(log_det, |acc, z| acc.add(standard_normal_log_prob(z))))
    }

    /// `−(1/N) Σ log p(x_i)`, `[1]`.
    ///
    /// # Errors
    /// As [`log_prob`](Self::log_prob).
    pub fn nll(&self, x: Tensor<4>) -> Result<Tensor<1>> {
        Ok(self.log_prob(x)?.mean().neg())
    }

    /// Bits per dimension of 8-bit images `x ∈ [0, 256)` `[N, C, H, W]`: dequantises with
    /// one uniform draw per value from `rng` ([`dequantize`]) and returns
    /// `−(log p(y) − D ln 256) / (D ln 2)` per item, `[N]`.
    ///
    /// # Errors
    /// As [`dequantize`] and [`log_prob`](Self::log_prob).
    pub fn bits_per_dim<R: Rng + ?Sized>(&self, x: Tensor<4>, rng: &mut R) -> Result<Tensor<1>> {
        self.check(&x, "Glow input")?;
        let y = dequantize(x, rng)?;
        bits_per_dim(self.log_prob(y)?, self.dims_per_item())
    }

    /// Draws `n` images: every latent from `N(0, I)` on the host (in [`GlowLatents`] order,
    /// last first), then [`inverse`](Self::inverse). Returns `[n, C, H, W]`.
    ///
    /// # Errors
    /// `n = 0`.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        n: usize,
        rng: &mut R,
        device: &Device,
    ) -> Result<Tensor<4>> {
        let latents = self
            .latent_shapes()
            .into_iter()
            .rev()
            .map(|[c, h, w]| gaussian_noise([n, c, h, w], rng, device))
            .collect::<medgen_core::Result<Vec<_>>>()?
            .into_iter()
            .rev()
            .collect();
        Ok(self.inverse(latents)?.0)
    }

    /// Data-dependent initialisation of every ActNorm from the activations of `x`.
    ///
    /// # Errors
    /// A wrong shape or non-finite values.
    pub fn initialize(self, x: Tensor<4>) -> Result<Self> {
        self.check(&x, "Glow initialisation batch")?;
        ensure_finite(&x, "Glow initialisation batch")?;
        let count = self.levels.len();
        let mut h = x.detach();
        let mut levels = Vec::with_capacity(count);
        for (level, steps) in self.levels.into_iter().enumerate() {
            h = Squeeze.forward(h)?.0;
            let mut done = Vec::with_capacity(steps.len());
            for step in steps {
                let step = step.initialize(h.clone())?;
                h = step.forward(h)?.0.detach();
                done.push(step);
            }
            levels.push(done);
            if level + 1 < count {
                h = split_channels(h)?.0;
            }
        }
        Ok(Self { levels, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{
        autodiff_device, host, jacobians, log_abs_det, test_input,
    };
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn flatten(latents: GlowLatents) -> Tensor<2> {
        let n = latents[0].dims()[0];
        Tensor::cat(latents.into_iter().map(|z| z.reshape([n as i64, -1])).collect(), 1)
    }

    #[test]
    fn glow_is_exact_and_invertible() {
        let device = autodiff_device();
        let x = test_input([2, 1, 4, 4], &device).mul_scalar(0.3);
        let glow =
            GlowConfig::new(1, 4, 4, 2, 2, 8).init(&device).unwrap().initialize(x.clone()).unwrap();
        assert_eq!(glow.latent_shapes(), vec![[2, 2, 2], [8, 1, 1]]);
        let (latents, log_det) = glow.forward(x.clone()).unwrap();
        let (back, inv_log_det) = glow.inverse(latents).unwrap();
        for (a, b) in host(x.clone()).iter().zip(host(back)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let (fwd, inv) = (host(log_det), host(inv_log_det));
        let jac = jacobians(|h| flatten(glow.forward(h).unwrap().0).reshape([2, 1, 4, 4]), &x);
        for item in 0..2 {
            assert!((fwd[item] + inv[item]).abs() < 1e-4);
            let brute = log_abs_det(jac[item].clone(), 16);
            assert!((brute - fwd[item]).abs() < 1e-4, "{} vs {brute}", fwd[item]);
        }
    }

    #[test]
    fn bits_per_dim_follow_the_dequantised_density() {
        let device = test_device();
        let glow = GlowConfig::new(1, 4, 4, 1, 1, 4)
            .with_mask(ImageMask::Checkerboard)
            .init(&device)
            .unwrap();
        let x = test_input([2, 1, 4, 4], &device).abs().mul_scalar(100.0).floor();
        let bpd = host(glow.bits_per_dim(x.clone(), &mut seeded_rng(9)).unwrap());
        let y = dequantize(x, &mut seeded_rng(9)).unwrap();
        let lp = host(glow.log_prob(y).unwrap());
        for (b, l) in bpd.iter().zip(lp) {
            let expected = -(l - 16.0 * 256f64.ln()) / (16.0 * std::f64::consts::LN_2);
            assert!((b - expected).abs() < 1e-4, "{b} vs {expected}");
        }
        let samples = glow.sample(3, &mut seeded_rng(2), &device).unwrap();
        assert_eq!(samples.dims(), [3, 1, 4, 4]);
        assert_eq!(host(samples), host(glow.sample(3, &mut seeded_rng(2), &device).unwrap()));
    }

    #[test]
    fn bad_configurations_and_inputs_are_typed_errors() {
        let device = test_device();
        assert!(matches!(
            GlowConfig::new(1, 6, 8, 2, 1, 4).init(&device),
            Err(FlowError::IndivisibleSize { size: 6, factor: 4, .. })
        ));
        let glow = GlowConfig::new(1, 4, 4, 1, 1, 4).init(&device).unwrap();
        assert!(glow.log_prob(Tensor::zeros([1, 2, 4, 4], &device)).is_err());
        let nan = Tensor::<4>::full([1, 1, 4, 4], f32::NAN, &device);
        assert!(glow.log_prob(nan).is_err());
        let out_of_range = Tensor::<4>::full([1, 1, 4, 4], 256.0, &device);
        assert!(glow.bits_per_dim(out_of_range, &mut seeded_rng(0)).is_err());
    }
}

//! A small time-conditioned classifier of noisy images `p_φ(y | x_t, t)`, its training loss on
//! images noised by the forward process, and its input gradient `∇_x log p_φ(y | x_t, t)` for
//! classifier guidance (Dhariwal & Nichol, 2021).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, silu};
use burn::tensor::{Device, Int, Tensor, TensorData};
use medgen_core::CoreError;
use medgen_core::noise::gaussian_like;
use medgen_nn::{
    Downsample, DownsampleConfig, ResBlock, ResBlockConfig, SpatialConv, SpatialConvConfig,
    TimeEmbedding, TimeEmbeddingConfig,
};
use rand::{Rng, RngExt};

use crate::error::{DiffusionError, Result};
use crate::schedule::NoiseSchedule;

/// Configuration of a [`NoisyClassifier`].
#[derive(Config, Debug, PartialEq)]
pub struct NoisyClassifierConfig {
    /// Number of spatial axes: 2 (`[N, C, H, W]`) or 3 (`[N, C, D, H, W]`).
    pub spatial_dims: usize,
    /// Input channels `C`.
    pub in_channels: usize,
    /// Number of classes `K ≥ 2`.
    pub num_classes: usize,
    /// Width `w` of the first level; level `i` has `w · 2^i` channels.
    #[config(default = 32)]
    pub channels: usize,
    /// Number of resolution levels `L ≥ 1` (one residual block each, a stride-2 downsampling
    /// between levels).
    #[config(default = 2)]
    pub levels: usize,
    /// Groups of every group norm (must divide `channels`).
    #[config(default = 8)]
    pub groups: usize,
}

/// A time-conditioned convolutional classifier:
///
/// ```text
/// e = TimeEmbedding(t)                                   [N, 4w]
/// h = Conv3x3(x)                                         [N, w, *S]
/// h = ResBlock_i(h, e), then Downsample (except last)    level i = 0 … L−1
/// logits = Linear(mean_spatial(SiLU(GN(h))))             [N, K]
/// ```
///
/// with adaptive-group-norm residual blocks of medgen-core's U-Net. Input `x` `[N, C, *S]`
/// (2 or 3 spatial axes), times `t` `[N]` (diffusion timesteps); output logits `[N, K]`.
#[derive(Module, Debug)]
pub struct NoisyClassifier {
    /// The time embedding `t ↦ e`.
    pub time_embedding: TimeEmbedding,
    /// The input convolution `C → w`.
    pub conv_in: SpatialConv,
    /// One residual block per level.
    pub blocks: Vec<ResBlock>,
    /// Downsampling between levels (`L − 1` of them).
    pub downsamples: Vec<Downsample>,
    /// The output group norm.
    pub norm_out: GroupNorm,
    /// The linear head `w · 2^{L−1} → K`.
    pub head: Linear,
    /// Number of spatial axes.
    pub spatial_dims: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Number of classes.
    pub num_classes: usize,
}

impl NoisyClassifierConfig {
    /// Builds the classifier on `device` (an autodiff device to train it).
    ///
    /// Fails with `InvalidConfig` for `spatial_dims ∉ {2, 3}`, zero channels or levels, fewer
    /// than two classes, or a group count that does not divide `channels`.
    pub fn init(&self, device: &Device) -> Result<NoisyClassifier> {
        if self.in_channels == 0 || self.channels == 0 || self.levels == 0 {
            return Err(DiffusionError::config("in_channels/channels/levels", "must be positive"));
        }
        if self.num_classes < 2 {
            return Err(DiffusionError::config(
                "num_classes",
                format!("need at least 2 classes, got {}", self.num_classes),
            ));
        }
        if self.groups == 0 || !self.channels.is_multiple_of(self.groups) {
            return Err(DiffusionError::config(
                "groups",
                format!("{} groups must divide {} channels", self.groups, self.channels),
            ));
        }
        let emb_dim = 4 * self.channels;
        let frequency_dim = self.channels + self.channels % 2;
        let width = |level: usize| self.channels << level;
        let mut blocks = Vec::with_capacity(self.levels);
        let mut downsamples = Vec::new();
        for level in 0..self.levels {
            let c_in = width(level.saturating_sub(1));
            blocks.push(
                ResBlockConfig::new(self.spatial_dims, c_in, width(level), emb_dim)
                    .with_groups(self.groups)
                    .init(device)?,
            );
            if level + 1 < self.levels {
                downsamples
                    .push(DownsampleConfig::new(self.spatial_dims, width(level)).init(device)?);
            }
        }
        let last = width(self.levels - 1);
        Ok(NoisyClassifier {
            time_embedding: TimeEmbeddingConfig::new(frequency_dim, emb_dim).init(device)?,
            conv_in: SpatialConvConfig::new(self.spatial_dims, [self.in_channels, self.channels])
                .init(device)?,
            blocks,
            downsamples,
            norm_out: GroupNormConfig::new(self.groups, last).init(device),
            head: LinearConfig::new(last, self.num_classes).init(device),
            spatial_dims: self.spatial_dims,
            in_channels: self.in_channels,
            num_classes: self.num_classes,
        })
    }
}

impl NoisyClassifier {
    /// The logits `[N, K]` of `x` `[N, C, *S]` at times `t` `[N]`.
    ///
    /// Errors: a rank or channel count that does not fit the classifier, an empty batch, or `t`
    /// without one time per item.
    pub fn forward<const D: usize>(&self, x: Tensor<D>, t: Tensor<1>) -> Result<Tensor<2>> {
        self.check_input(&x, &t)?;
        let emb = self.time_embedding.forward(t);
        let mut h = self.conv_in.forward(x);
        for (level, block) in self.blocks.iter().enumerate() {
            h = block.forward(h, emb.clone());
            if let Some(down) = self.downsamples.get(level) {
                h = down.forward(h);
            }
        }
        let h = silu(self.norm_out.forward(h));
        let [batch, channels] = [h.dims()[0], h.dims()[1]];
        let pooled =
            h.reshape([batch as i32, channels as i32, -1]).mean_dim(2).reshape([batch, channels]);
        Ok(self.head.forward(pooled))
    }

    /// `log p_φ(y_n | x_n, t_n)` for each item, `[N]`, from the log-softmax of the logits;
    /// `labels` `[N]` in `0..K`.
    ///
    /// Fails with [`CoreError::ShapeMismatch`] unless `labels` is `[N]` and with
    /// `InvalidConfig` naming `labels` for a label outside `0..K` (read back once), besides
    /// the input checks of [`Self::forward`].
    pub fn log_prob<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        labels: Tensor<1, Int>,
    ) -> Result<Tensor<1>> {
        self.check_labels(&labels, x.dims()[0])?;
        self.log_prob_of_checked_labels(x, t, labels)
    }

    /// [`Self::log_prob`] for labels already checked by [`Self::check_labels`].
    fn log_prob_of_checked_labels<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        labels: Tensor<1, Int>,
    ) -> Result<Tensor<1>> {
        let batch = x.dims()[0];
        let log_probs = log_softmax(self.forward(x, t)?, 1);
        Ok(log_probs.gather(1, labels.reshape([batch, 1])).reshape([batch]))
    }

    /// Checks that `labels` holds one class per item, each in `0..K` (reads the smallest and
    /// largest label back to the host once).
    fn check_labels(&self, labels: &Tensor<1, Int>, batch: usize) -> Result<()> {
        medgen_core::check::ensure_shape(&labels.dims(), &[batch], "class labels")?;
        if batch == 0 {
            return Ok(());
        }
        let (min, max) =
            (labels.clone().min().into_scalar::<i64>(), labels.clone().max().into_scalar::<i64>());
        if min < 0 || max >= self.num_classes as i64 {
            return Err(DiffusionError::config(
                "labels",
                format!("must lie in 0..{}, got [{min}, {max}]", self.num_classes),
            ));
        }
        Ok(())
    }

    /// The classifier-guidance gradient `∇_x Σ_n log p_φ(y_n | x_n, t_n)`, which for
    /// independent items is each item's `∇_{x_n} log p_φ(y_n | x_n, t_n)`; shaped like `x`.
    ///
    /// The input is detached, moved onto the autodiff variant of its device and marked
    /// `require_grad`; one backward pass gives `x.grad`. The classifier may live on an autodiff
    /// device (while training) or a plain one (its parameters are then constants). The
    /// gradient is returned on `x`'s device; nothing is read back to the host.
    ///
    /// Errors: those of [`NoisyClassifier::log_prob`], and
    /// [`DiffusionError::ClassifierGradient`] if autodiff yields no gradient for the input.
    pub fn log_prob_gradient<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        labels: Tensor<1, Int>,
    ) -> Result<Tensor<D>> {
        let was_autodiff = x.is_autodiff();
        let input = x.detach().autodiff().require_grad();
        let total = self.log_prob(input.clone(), t, labels)?.sum();
        let grads = total.backward();
        let gradient = input.grad(&grads).ok_or_else(|| DiffusionError::ClassifierGradient {
            reason: "the backward pass produced no gradient for the input".into(),
        })?;
        Ok(if was_autodiff { gradient.autodiff() } else { gradient })
    }

    /// The training loss on clean images `x₀` `[N, C, *S]` with labels `[N]`: each item gets a
    /// timestep `t_n ~ U{0, …, T−1}` (drawn from `rng`) and is noised by the forward process of
    /// `schedule`, `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`; the loss is the cross-entropy
    /// `−(1/N) Σ_n log p_φ(y_n | x_{t_n}, t_n)` (a `[1]` tensor to call `backward` on).
    ///
    /// Reads the largest label back once to check it (`InvalidConfig` unless every label is
    /// in `0..K`).
    pub fn loss<const D: usize, R: Rng + ?Sized>(
        &self,
        schedule: &NoiseSchedule,
        x0: Tensor<D>,
        labels: Tensor<1, Int>,
        rng: &mut R,
    ) -> Result<Tensor<1>> {
        let batch = x0.dims()[0];
        medgen_core::check::ensure_non_empty(&x0.dims(), "x0")?;
        self.check_labels(&labels, batch)?;
        let total = schedule.num_train_timesteps();
        let timesteps: Vec<usize> = (0..batch).map(|_| rng.random_range(0..total)).collect();
        let noise = gaussian_like(&x0, rng)?;
        let x_t = schedule.add_noise(x0, noise, &timesteps)?;
        let times: Vec<f32> = timesteps.iter().map(|&t| t as f32).collect();
        let t = Tensor::<1>::from_data(TensorData::new(times, [batch]), &x_t.device());
        Ok(self.log_prob_of_checked_labels(x_t, t, labels)?.mean().neg())
    }

    fn check_input<const D: usize>(&self, x: &Tensor<D>, t: &Tensor<1>) -> Result<()> {
        let dims = x.dims();
        if D != self.spatial_dims + 2 {
            return Err(CoreError::InvalidRank {
                what: "classifier input".into(),
                expected: self.spatial_dims + 2,
                got: D,
            }
            .into());
        }
        medgen_core::check::ensure_non_empty(&dims, "classifier input")?;
        if dims[1] != self.in_channels {
            return Err(CoreError::shape(
                "classifier input channels",
                format!("{}", self.in_channels),
                &[dims[1]],
            )
            .into());
        }
        medgen_core::check::ensure_shape(&t.dims(), &[dims[0]], "classifier times")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    pub(crate) fn tiny(device: &Device) -> NoisyClassifier {
        NoisyClassifierConfig::new(2, 1, 3)
            .with_channels(4)
            .with_levels(2)
            .with_groups(2)
            .init(device)
            .unwrap()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let device = test_device().autodiff();
        let classifier = tiny(&device);
        let mut rng = seeded_rng(5);
        let x = medgen_core::noise::gaussian_noise([1, 1, 4, 4], &mut rng, &test_device()).unwrap();
        let t = Tensor::<1>::from_floats([37.0], &test_device());
        let labels = Tensor::<1, Int>::from_ints([2], &test_device());
        let gradient = classifier.log_prob_gradient(x.clone(), t.clone(), labels.clone()).unwrap();
        assert!(!gradient.is_autodiff());
        let gradient = gradient.into_data().try_to_vec::<f32>().unwrap();
        let base = x.clone().into_data().try_to_vec::<f32>().unwrap();
        let h = 1e-2f32;
        let log_p = |values: Vec<f32>| {
            let x = Tensor::<4>::from_data(TensorData::new(values, [1, 1, 4, 4]), &test_device());
            f64::from(
                classifier.log_prob(x, t.clone(), labels.clone()).unwrap().into_scalar::<f32>(),
            )
        };
        let mut largest = 0.0f64;
        for i in [0, 5, 10, 15] {
            let (mut plus, mut minus) = (base.clone(), base.clone());
            plus[i] += h;
            minus[i] -= h;
            let numeric = (log_p(plus) - log_p(minus)) / (2.0 * f64::from(h));
            let analytic = f64::from(gradient[i]);
            largest = largest.max(analytic.abs());
            assert!(
                (numeric - analytic).abs() < 2e-4 + 0.01 * analytic.abs(),
                "pixel {i}: finite difference {numeric} vs autodiff {analytic}"
            );
        }
        assert!(largest > 1e-4, "the gradient should not vanish: {largest}");
    }

    #[test]
    fn shapes_loss_and_errors() {
        let device = test_device().autodiff();
        let classifier = tiny(&device);
        let x = Tensor::<4>::zeros([2, 1, 4, 4], &device);
        let t = Tensor::<1>::from_floats([0.0, 5.0], &device);
        assert_eq!(classifier.forward(x.clone(), t.clone()).unwrap().dims(), [2, 3]);
        assert!(classifier.forward(Tensor::<4>::zeros([2, 2, 4, 4], &device), t.clone()).is_err());
        assert!(classifier.forward(Tensor::<5>::zeros([2, 1, 4, 4, 4], &device), t).is_err());
        let volume = NoisyClassifierConfig::new(3, 1, 2)
            .with_channels(2)
            .with_groups(1)
            .init(&device)
            .unwrap();
        let logits = volume
            .forward(
                Tensor::<5>::zeros([1, 1, 4, 4, 4], &device),
                Tensor::from_floats([3.0], &device),
            )
            .unwrap();
        assert_eq!(logits.dims(), [1, 2]);
        let schedule = crate::schedule::ScheduleConfig::new().init().unwrap();
        let labels = Tensor::<1, Int>::from_ints([0, 2], &device);
        let loss = classifier.loss(&schedule, x.clone(), labels, &mut seeded_rng(0)).unwrap();
        let value = loss.clone().into_scalar::<f32>();
        assert!(value.is_finite() && value > 0.0);
        // The loss trains the classifier: it has gradients for the parameters.
        let grads = loss.backward();
        assert!(classifier.head.weight.val().grad(&grads).is_some());
        let bad = Tensor::<1, Int>::from_ints([0, 3], &device);
        assert!(classifier.loss(&schedule, x, bad, &mut seeded_rng(0)).is_err());
        for config in [
            NoisyClassifierConfig::new(2, 1, 1),
            NoisyClassifierConfig::new(4, 1, 2),
            NoisyClassifierConfig::new(2, 1, 2).with_channels(6).with_groups(4),
            NoisyClassifierConfig::new(2, 1, 2).with_levels(0),
        ] {
            assert!(config.init(&device).is_err(), "{config:?}");
        }
    }
}

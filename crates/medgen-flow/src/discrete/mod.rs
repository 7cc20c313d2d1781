//! Discrete normalizing flows with exact log-likelihoods (normflows/zuko-style).
//!
//! A flow is a stack of invertible layers `z = f_K ∘ … ∘ f_1(x)` from data to a base
//! distribution, with
//!
//! ```text
//! log p(x) = log p_Z(f(x)) + Σ_k log |det ∂f_k/∂h_{k−1}|,      sampling: x = f⁻¹(z), z ~ p_Z
//! ```
//!
//! Every layer implements [`FlowLayer`]: `forward(x) → (y, log|det J|)` and
//! `inverse(y) → (x, log|det J⁻¹|)`, per batch item (`[N]`), on vectors `[N, d]`
//! (`FlowLayer<2>`) or images `[N, C, H, W]` (`FlowLayer<4>`).
//!
//! # Layers
//! | layer | shapes | log-determinant |
//! |---|---|---|
//! | [`AffineCoupling`] (RealNVP, half/alternating masks, MLP conditioner) | `[N, d]` | `Σ (1−m)·c·tanh(ŝ/c)` |
//! | [`AffineCoupling2d`] (checkerboard/channel masks, conv conditioner) | `[N, C, H, W]` | same |
//! | [`SplineCoupling`] (rational-quadratic spline, `K` bins, identity tails beyond `±B`) | `[N, d]` | `Σ (1−m) log RQS'(x)` |
//! | [`MaskedAutoregressive`] (MAF on a [`Made`]; inverse sequential, `d` passes) | `[N, d]` | `−Σ α` |
//! | [`ActNorm`] (data-dependent init via `initialize`) | both | `H·W·Σ s` |
//! | [`InvConv1x1`] (LU: `W = P L (U + diag(sign·exp(log_s)))`) | both | `H·W·Σ log_s` |
//! | [`Squeeze`] (space-to-depth; odd sizes are an error) | `[N, C, H, W]` | `0` |
//!
//! # Models
//! - [`Flow`]: a [`DiagonalGaussian`] or standard-normal base plus any [`VectorLayer`]s;
//!   built by the presets [`RealNvpConfig`], [`SplineFlowConfig`] and [`MafConfig`] or by
//!   [`Flow::new`]. Methods: `log_prob`, `nll`, `sample(n, rng, device)`, `forward`,
//!   `inverse`, `initialize` (data-dependent ActNorm).
//! - [`Glow`] ([`GlowConfig`]): the multi-scale image flow (squeeze → `K` × [`GlowStep`] →
//!   split, the factored-out halves going to the base), with `log_prob`,
//!   `bits_per_dim` for 8-bit images ([`dequantize`]: `y = (x + u)/256 − ½`, and
//!   `bpd = −(log p(y) − D ln 256)/(D ln 2)`), and `sample`.
//! - Both implement medgen-core's [`Sample`](medgen_core::Sample) and
//!   [`LogDensity`](medgen_core::LogDensity) (exact, unconditional).
//!
//! # Training
//! `log_prob` is differentiable: on an autodiff device `model.nll(x)` (`−mean log p(x)`) is
//! the loss to hand to [`medgen_train::Trainer`], which adds the learning-rate schedule,
//! clipping, EMA, checkpoints and the divergence guard every family shares.
//!
//! ```no_run
//! use burn::optim::AdamWConfig;
//! use burn::tensor::Device;
//! use medgen_core::{Sample, init_seeded, seeded_rng, Condition};
//! use medgen_flow::discrete::{Flow, SplineFlowConfig};
//! use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};
//!
//! # fn demo(data: burn::tensor::Tensor<2>) -> medgen_flow::Result<()> {
//! let device = Device::default().autodiff();
//! let mut rng = seeded_rng(0);
//! // Two moons: 2D data in about [−1, 2] × [−0.5, 1].
//! let flow = init_seeded(&device, &mut rng, |d| {
//!     SplineFlowConfig::new(2, 4, 64).with_tail_bound(4.0).init(d)
//! })?;
//! let config = TrainerConfig::new(WarmupCosineConfig::new(1e-3, 1000));
//! let mut trainer = Trainer::new(&config, flow, AdamWConfig::new().init(), rng, &())?;
//! trainer.fit(|flow: &Flow, _step, _rng| flow.nll(data.clone()))?;
//! let flow = trainer.into_model();
//! let held_out_nll = flow.nll(data)?; // nats per sample, [1]
//! let drawn = Sample::sample(&flow, 512, &Condition::none(), &mut seeded_rng(1), &device)?;
//! assert_eq!(drawn.samples.dims(), [512, 2]);
//! # Ok(()) }
//! ```

mod act_norm;
mod affine_coupling;
mod affine_coupling_2d;
mod conv_net;
mod dequantize;
mod diagonal_gaussian;
mod flow;
mod generative;
mod glow;
mod glow_step;
mod inv_conv;
mod layer;
mod made;
mod maf;
mod maf_flow;
mod mask;
mod real_nvp;
mod spline;
mod spline_coupling;
mod spline_flow;
mod squeeze;
mod stacked_flow;
#[cfg(test)]
mod training;
mod vector_layer;

#[cfg(test)]
mod jacobian_check;

pub use act_norm::{ActNorm, ActNormConfig};
pub use affine_coupling::{AffineCoupling, AffineCouplingConfig};
pub use affine_coupling_2d::{AffineCoupling2d, AffineCoupling2dConfig};
pub use conv_net::{ConvNet, ConvNetConfig};
pub use dequantize::{LEVELS, bits_per_dim, dequantize};
pub use diagonal_gaussian::{DiagonalGaussian, DiagonalGaussianConfig};
pub use flow::Flow;
pub use glow::{Glow, GlowConfig, GlowLatents};
pub use glow_step::{GlowStep, GlowStepConfig};
pub use inv_conv::{InvConv1x1, InvConv1x1Config};
pub use layer::{FlowLayer, sum_per_item};
pub use made::{Made, MadeConfig, MaskedLinear};
pub use maf::{MaskedAutoregressive, MaskedAutoregressiveConfig};
pub use maf_flow::MafConfig;
pub use mask::{ImageMask, VectorMask};
pub use medgen_nn::{Mlp, MlpConfig};
pub use real_nvp::RealNvpConfig;
pub use spline::{RqSpline, RqSplineParams};
pub use spline_coupling::{SplineCoupling, SplineCouplingConfig};
pub use spline_flow::SplineFlowConfig;
pub use squeeze::{Squeeze, merge_channels, split_channels};
pub use vector_layer::VectorLayer;

//! Unsupervised anomaly detection with models of healthy anatomy (AnoDDPM and relatives).
//!
//! A model trained on healthy images only turns a test image `x` into a per-pixel anomaly
//! map `a`; pooling `a` gives an image score. The methods share one object-safe trait,
//! [`AnomalyDetector`], so they can be compared in one table:
//!
//! | detector | map |
//! |---|---|
//! | [`PartialDiffusionDetector`] | `|x − x̂|` after noising to `t_λ` (Gaussian or simplex) and denoising |
//! | [`PatchDetector`] | the same per overlapping patch, reconstructed from healthy context |
//! | [`CombinedDetector`] | the mean over several detectors (e.g. several `t_λ`) |
//! | [`LikelihoodDetector`] | per-pixel DDPM variational-bound terms (bits) |
//! | [`ReconstructionDetector`] | `|x − D(E(x))|` of any [`Autoencoder`](medgen_core::Autoencoder) (AE/VAE baseline) |
//!
//! [`evaluate_anomaly_maps`] scores maps against lesion masks: pixel AUROC/AUPRC, best Dice,
//! image AUROC and per-lesion-size results.

pub mod detector;
pub mod evaluation;
pub mod likelihood;
pub mod map;
pub mod multiscale;
pub mod partial_diffusion;
pub mod reconstruction;

pub use detector::{AnomalyDetector, AnomalyMaps};
pub use evaluation::{
    AnomalyEvaluation, AnomalyEvaluationConfig, SizeBinResult, evaluate_anomaly_maps, evaluate_host,
};
pub use likelihood::LikelihoodDetector;
pub use map::{ScorePooling, check_smoothing, image_scores, residual_map, smooth_maps};
pub use multiscale::{CombinedDetector, PatchConfig, PatchDetector};
pub use partial_diffusion::{PartialDiffusionConfig, PartialDiffusionDetector};
pub use reconstruction::ReconstructionDetector;

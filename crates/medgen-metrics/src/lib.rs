//! # medgen-metrics
//!
//! The numbers medgen models are judged by, computed as the peer libraries compute them so
//! that results compare number for number:
//!
//! - distribution metrics: the [`frechet_distance`] behind FID (pytorch-fid), [`kid()`]
//!   (torchmetrics/clean-fid), [`inception_score()`], on features from any
//!   [`FeatureExtractor`], such as pytorch-fid's [`InceptionV3`] (standard weight file
//!   loaded from a local path through burn-store's PyTorch reader);
//! - image quality: [`ssim`] (scikit-image), [`ms_ssim`], [`psnr`], [`mse`], [`mae`];
//! - detection: [`auroc`], [`average_precision`], [`roc_curve`],
//!   [`precision_recall_curve`] (scikit-learn), [`best_dice_threshold`];
//! - segmentation: [`dice`], [`iou`], [`surface_distances`] (Hausdorff distance, HD95,
//!   ASSD), [`generalized_energy_distance`], [`uncertainty_maps`];
//! - fidelity and diversity: [`prdc`] (precision, recall, density, coverage),
//!   [`nearest_neighbour_distances`], and [`SampleQuality`] (PRDC, Fréchet distance and a
//!   diversity ratio in one call, for spotting mode collapse).
//!
//! Everything runs on the host in `f64` (dense linear algebra through `faer`, on its global
//! rayon pool); the tensor entry points ([`ssim_batch`], [`psnr_batch`], [`fid`], ...) read
//! their inputs back once, except [`uncertainty_maps_tensor`], which stays on the device.
//! Every function validates its input and returns a typed [`MetricsError`]; none panics on
//! user input.
//!
//! ```
//! use medgen_metrics::{SsimConfig, auroc, dice, psnr, ssim};
//! let a: Vec<f64> = (0..16 * 16).map(|i| (i % 16) as f64 / 16.0).collect();
//! let b: Vec<f64> = a.iter().map(|v| v * 0.9).collect();
//! let s = ssim(&a, &b, &[16, 16], &SsimConfig::uniform(1.0)).unwrap();
//! assert!(s > 0.9 && s < 1.0);
//! assert!(psnr(&a, &b, 1.0).unwrap() > 20.0);
//! assert_eq!(auroc(&[false, true, true], &[0.1, 0.2, 0.9]).unwrap(), 1.0);
//! assert_eq!(dice(&[true, true, false], &[true, false, false]).unwrap(), 2.0 / 3.0);
//! ```

pub mod detection;
pub mod error;
pub mod extractor;
pub mod features;
pub mod fidelity;
pub mod frechet;
pub mod gaussian;
pub mod image;
pub mod inception;
pub mod inception_score;
pub mod kid;
pub mod sample_quality;
pub mod segmentation;
pub mod summary;

#[cfg(test)]
mod test_fixtures;

pub use detection::{
    DiceThreshold, PrecisionRecallCurve, RocCurve, auroc, average_precision, best_dice_threshold,
    precision_recall_curve, roc_curve,
};
pub use error::{MetricsError, Result};
pub use extractor::{FeatureExtractor, extract_features, fid, kid_with_extractor};
pub use features::{FeatureMatrix, features_to_host};
pub use fidelity::{NearestNeighbours, Prdc, nearest_neighbour_distances, prdc};
pub use frechet::{
    FrechetDistance, FrechetOptions, frechet_distance, frechet_distance_from_features,
};
pub use gaussian::GaussianStats;
pub use image::{
    MS_SSIM_WEIGHTS, SsimConfig, SsimWindow, mae, mae_batch, ms_ssim, ms_ssim_batch, mse,
    mse_batch, psnr, psnr_batch, ssim, ssim_batch,
};
pub use inception::{InceptionV3, InceptionV3Config};
pub use inception_score::{inception_score, inception_score_tensor};
pub use kid::{KidConfig, kid};
pub use sample_quality::SampleQuality;
pub use segmentation::{
    EnergyDistance, SurfaceDistanceConfig, SurfaceDistances, UncertaintyMaps, dice, dice_batch,
    generalized_energy_distance, iou, iou_batch, sample_diversity, surface_distances,
    surface_distances_batch, uncertainty_maps, uncertainty_maps_tensor,
};
pub use summary::MeanStd;

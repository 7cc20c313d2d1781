//! # medgen-apps
//!
//! What generative models do for medical imaging, end to end, on top of the families:
//!
//! | module | application |
//! |---|---|
//! | [`anomaly`] | unsupervised anomaly detection with models of healthy anatomy: AnoDDPM partial diffusion with Gaussian or simplex noise, patch-level and multi-level variants, variational-bound maps, autoencoder baselines, and their evaluation (pixel AUROC/AUPRC, best Dice, image AUROC, per lesion size) |
//! | [`counterfactual`] | weakly supervised lesion localisation: DDIM-encode under the patient's label, decode as healthy with classifier-free guidance, difference map |
//! | [`privacy`] | two-stage sampling with a nearest-neighbour privacy filter calibrated on held-out real images |
//! | [`augmentation`] | augmentation studies: a downstream classifier trained on real plus 0–10× synthetic images |
//! | [`trilemma`] | the quality / speed / likelihood trilemma measured across families |
//! | [`features`] | fixed feature maps (pixels, pooled pixels) for privacy filtering and the trilemma |
//! | [`recipe`] | a small, complete DDPM training recipe the examples share |
//!
//! Every random draw takes the caller's seeded generator; bad input (wrong image shape, NaN
//! pixels, `t_λ` outside the schedule, an empty training set, a percentile outside
//! `[0, 100]`) is an [`AppsError`] naming the argument.

pub mod anomaly;
pub mod augmentation;
pub mod counterfactual;
pub mod error;
pub mod features;
pub mod images;
pub mod privacy;
pub mod recipe;
pub mod trilemma;

pub use error::{AppsError, Result};

//! Segmentation metrics: overlap (Dice, IoU), surface distances (Hausdorff, HD95, ASSD),
//! stochastic segmentation (generalised energy distance, sample diversity) and pixel-wise
//! uncertainty maps of sample ensembles.

mod batch;
mod overlap;
mod stochastic;
mod surface;
mod uncertainty;

pub use batch::{dice_batch, iou_batch, surface_distances_batch};
pub use overlap::{dice, iou};
pub use stochastic::{EnergyDistance, generalized_energy_distance, sample_diversity};
pub use surface::{SurfaceDistanceConfig, SurfaceDistances, surface_distances};
pub use uncertainty::{UncertaintyMaps, uncertainty_maps, uncertainty_maps_tensor};

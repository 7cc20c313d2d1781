//! What a first program needs, in one import: `use medgen::prelude::*;`.
//!
//! Burn's device, tensor and optimiser types; medgen-core's condition, seeded generator,
//! seeded initialisation, guidance and the `Sample` verb; the U-Net; the phantom data set;
//! the trainer and its configuration; PNG grids; and the diffusion and flow-matching models.

pub use burn::module::Module;
pub use burn::optim::AdamWConfig;
pub use burn::tensor::{Device, Int, Tensor};

#[cfg(feature = "core")]
pub use medgen_core::{
    Condition, CoreError, DeviceChoice, GuidanceConfig, LogDensity, Sample, Samples, SeededRng,
    TimeConditionedNetwork, init_seeded, seeded_rng,
};
#[cfg(feature = "data")]
pub use medgen_data::{PhantomConfig, PhantomTensors};
#[cfg(feature = "diffusion")]
pub use medgen_diffusion::{
    DenoisingLossConfig, DiffusionPipeline, ScheduleConfig, Scheduler, SchedulerConfig,
};
#[cfg(feature = "flow")]
pub use medgen_flow::matching::{FlowMatchingLossConfig, FlowMatchingModel};
#[cfg(feature = "nn")]
pub use medgen_nn::{UNet, UNetConfig};
#[cfg(feature = "train")]
pub use medgen_train::viz::save_image_grid;
#[cfg(feature = "train")]
pub use medgen_train::{
    EmaConfig, Trainer, TrainerConfig, TrainingObjective, TrainingProgress, WarmupCosineConfig,
};

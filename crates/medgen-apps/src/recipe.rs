//! A complete, small DDPM training recipe shared by the applications' examples and tests:
//! a U-Net noise predictor (ε-prediction, min-SNR-5 weighting, optional class conditioning
//! with condition dropout for classifier-free guidance, Gaussian or simplex noise) trained
//! with AdamW, warm-up + cosine learning rate, clipping and an EMA by medgen-train's
//! [`Trainer`]. Seeded: the same seed gives the same network.

use burn::config::Config;
use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::{Int, Tensor};
use medgen_core::noise::NoiseKind;
use medgen_core::{Condition, init_seeded, seeded_rng};
use medgen_diffusion::{
    DdimSchedulerConfig, DdpmSchedulerConfig, DenoisingLossConfig, ScheduleConfig,
};
use medgen_nn::{UNet, UNetConfig};
use medgen_train::{
    EmaConfig, Trainer, TrainerConfig, TrainingObjective, TrainingProgress, WarmupCosineConfig,
};

use crate::error::{AppsError, Result};

/// The recipe's settings.
#[derive(Config, Debug, PartialEq)]
pub struct DiffusionRecipe {
    /// Image channels.
    #[config(default = 1)]
    pub channels: usize,
    /// U-Net base width (a multiple of 8).
    #[config(default = 16)]
    pub base_channels: usize,
    /// Channel multipliers of the U-Net levels.
    #[config(default = "vec![1, 2, 2]")]
    pub channel_mults: Vec<usize>,
    /// Optimiser steps.
    #[config(default = 1000)]
    pub steps: usize,
    /// Mini-batch size (drawn with replacement).
    #[config(default = 16)]
    pub batch: usize,
    /// Peak learning rate.
    #[config(default = 2e-3)]
    pub learning_rate: f64,
    /// Class-conditional with this many classes (`None`: unconditional).
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// Probability of dropping the class for classifier-free guidance (conditional only).
    #[config(default = 0.1)]
    pub condition_drop_prob: f64,
    /// The forward-process noise.
    #[config(default = "NoiseKind::Gaussian")]
    pub noise: NoiseKind,
    /// EMA decay of the weights used for inference.
    #[config(default = 0.995)]
    pub ema_decay: f64,
}

impl DiffusionRecipe {
    /// The U-Net of the recipe (no attention: the images are small).
    pub fn unet(&self) -> UNetConfig {
        UNetConfig::new(self.channels, self.channels)
            .with_base_channels(self.base_channels)
            .with_channel_mults(self.channel_mults.clone())
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_middle_attention(false)
            .with_groups(8)
            .with_num_classes(self.num_classes)
    }

    /// The DDPM scheduler of the recipe's schedule (diffusers' defaults: 1000 linear steps).
    pub fn ddpm(&self) -> DdpmSchedulerConfig {
        DdpmSchedulerConfig::new()
    }

    /// The DDIM scheduler of the same schedule, without sample clipping (for inversion).
    pub fn ddim(&self) -> DdimSchedulerConfig {
        DdimSchedulerConfig::new().with_clip_sample(false)
    }

    /// Trains the network on `images` (`[N, C, H, W]` in `[−1, 1]`, on an autodiff device),
    /// with `classes` (one per image) for a conditional recipe, from `seed`, showing progress
    /// under `label`; returns the EMA weights for inference (off the autodiff graph: inputs go
    /// on the plain device).
    ///
    /// # Errors
    /// A configuration error naming `classes` when they are missing for a conditional recipe
    /// (or given for an unconditional one), invalid settings, and training errors (a
    /// diverging loss names its step).
    pub fn train(
        &self,
        images: &Tensor<4>,
        classes: Option<&Tensor<1, Int>>,
        seed: u64,
        label: &str,
    ) -> Result<UNet> {
        if classes.is_some() != self.num_classes.is_some() {
            return Err(AppsError::config(
                "classes",
                "give classes exactly when the recipe has num_classes",
            ));
        }
        let device = images.device();
        let mut rng = seeded_rng(seed);
        let unet = self.unet();
        let model = init_seeded(&device, &mut rng, |d| unet.init(d))?;
        let loss = DenoisingLossConfig::new()
            .with_min_snr_gamma(Some(5.0))
            .with_condition_drop_prob(if self.num_classes.is_some() {
                self.condition_drop_prob
            } else {
                0.0
            })
            .with_noise(self.noise.clone());
        let trainer_config = TrainerConfig::new(
            WarmupCosineConfig::new(self.learning_rate, self.steps)
                .with_warmup_steps((self.steps / 10).clamp(1, 200))
                .with_min_lr(self.learning_rate / 20.0),
        )
        .with_max_grad_norm(Some(1.0))
        .with_ema(Some(EmaConfig::new().with_decay(self.ema_decay)));
        let optimizer = AdamWConfig::new().with_weight_decay(0.0).init();
        let mut trainer = Trainer::new(&trainer_config, model, optimizer, rng, &(self, seed))?
            .with_progress(TrainingProgress::new(label, self.steps));
        let loss = loss.init(ScheduleConfig::new().init()?)?;
        let n = images.dims()[0];
        loss.fit(&mut trainer, |_step, rng| {
            let picks = random_indices(n, self.batch, rng, &device);
            let x = images.clone().select(0, picks.clone());
            let condition = match classes {
                Some(c) => Condition::none().with_class(c.clone().select(0, picks)),
                None => Condition::none(),
            };
            Ok((x, condition))
        })?;
        Ok(trainer.inference_model().valid())
    }
}

/// `batch` indices drawn uniformly from `0..n` with replacement, as an `[batch]` tensor.
fn random_indices(
    n: usize,
    batch: usize,
    rng: &mut medgen_core::SeededRng,
    device: &burn::tensor::Device,
) -> Tensor<1, Int> {
    use rand::RngExt;
    let picks: Vec<i64> = (0..batch).map(|_| rng.random_range(0..n) as i64).collect();
    Tensor::from_data(burn::tensor::TensorData::new(picks, [batch]), device)
}

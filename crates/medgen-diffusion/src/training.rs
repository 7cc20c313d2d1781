//! Training a denoising network: the weighted denoising loss for each prediction type, with
//! optional min-SNR-γ weighting and classifier-free-guidance condition dropout, driven by
//! medgen-train's family-agnostic [`Trainer`](medgen_train::Trainer).
//!
//! For a clean batch `x₀` (`[N, C, ...]`, 2D or 3D), one training loss draws, from the
//! caller's generator and in this order, timesteps `t_n ~ U{0, …, T−1}`, noise
//! `ε ~ N(0, I)` (or standardised simplex noise, [`NoiseKind`]) and (with `condition_drop_prob = p > 0`) which items lose their
//! class/embedding condition, then computes
//!
//! ```text
//! x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε,     y = f_θ(x_t, t, c)
//! L = (1/N) Σ_n w(t_n) · mean_{pixels} (y_n − target_n)²
//! ```
//!
//! with `target = ε`, `v = √ᾱ_t ε − √(1−ᾱ_t) x₀` or `x₀` (the [`PredictionType`]) and
//! `w ≡ 1`, or with min-SNR-γ weighting (Hang et al., 2023; `SNR_t = ᾱ_t / (1−ᾱ_t)`):
//!
//! | prediction | `w(t)`                  |
//! |------------|-------------------------|
//! | ε          | `min(SNR_t, γ) / SNR_t` |
//! | v          | `min(SNR_t, γ) / (SNR_t + 1)` |
//! | x₀         | `min(SNR_t, γ)`         |
//!
//! These weights make the three parametrisations optimise the same x₀-space objective
//! `min(SNR, γ) ‖x̂₀ − x₀‖²`. For ε at `SNR_t = 0` (zero-terminal-SNR schedules) the weight
//! takes its limit 1.

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::noise::NoiseKind;
use medgen_core::{Condition, SeededRng, TimeConditionedNetwork};
use medgen_train::TrainingObjective;
use rand::{Rng, RngExt};

use crate::error::{DiffusionError, Result};
use crate::prediction::PredictionType;
use crate::schedule::NoiseSchedule;
use crate::scheduler::ensure_same_shape;

/// The parameters of the denoising loss.
#[derive(Config, Debug, PartialEq)]
pub struct DenoisingLossConfig {
    /// What the network predicts, hence the regression target (`ε`, `v` or `x₀`).
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// Min-SNR-γ weighting with this `γ > 0` (5 in the paper); `None` weighs every timestep 1.
    #[config(default = "None")]
    pub min_snr_gamma: Option<f64>,
    /// Classifier-free-guidance training: each item's class/embedding condition is replaced
    /// by the learned null condition with this probability `p ∈ [0, 1]` (0.1 is common).
    #[config(default = 0.0)]
    pub condition_drop_prob: f64,
    /// The noise `ε` of the forward process: Gaussian (DDPM), or standardised multi-octave
    /// simplex noise as AnoDDPM trains with (rank-4/5 data only).
    #[config(default = "NoiseKind::Gaussian")]
    pub noise: NoiseKind,
}

impl DenoisingLossConfig {
    /// Checks `γ > 0` (finite), `p ∈ [0, 1]` and the noise settings.
    pub fn validate(&self) -> Result<()> {
        self.noise.validate()?;
        if let Some(gamma) = self.min_snr_gamma
            && !(gamma.is_finite() && gamma > 0.0)
        {
            return Err(DiffusionError::config(
                "min_snr_gamma",
                format!("must be positive and finite, got {gamma}"),
            ));
        }
        if !(0.0..=1.0).contains(&self.condition_drop_prob) {
            return Err(DiffusionError::config(
                "condition_drop_prob",
                format!("must lie in [0, 1], got {}", self.condition_drop_prob),
            ));
        }
        Ok(())
    }

    /// Validates the configuration and binds it to the noise schedule of the model.
    pub fn init(&self, schedule: NoiseSchedule) -> Result<DenoisingLoss> {
        self.validate()?;
        Ok(DenoisingLoss { config: self.clone(), schedule })
    }
}

/// The denoising loss of one noise schedule (see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct DenoisingLoss {
    config: DenoisingLossConfig,
    schedule: NoiseSchedule,
}

impl DenoisingLoss {
    /// The configuration.
    pub fn config(&self) -> &DenoisingLossConfig {
        &self.config
    }

    /// The noise schedule.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// The loss weight `w(t)` of timestep `t` (table in the [module documentation](self));
    /// 1 without min-SNR weighting. Fails with [`DiffusionError::TimestepOutOfRange`].
    pub fn weight(&self, t: usize) -> Result<f64> {
        let alpha = self.schedule.alpha_cumprod(t)?;
        let Some(gamma) = self.config.min_snr_gamma else {
            return Ok(1.0);
        };
        let snr = alpha / (1.0 - alpha);
        let clipped = snr.min(gamma);
        Ok(match self.config.prediction_type {
            PredictionType::Epsilon if snr <= gamma => 1.0,
            PredictionType::Epsilon => gamma / snr,
            PredictionType::VPrediction => clipped / (snr + 1.0),
            PredictionType::Sample => clipped,
        })
    }

    /// `batch` timesteps drawn independently and uniformly from `0..T`.
    pub fn sample_timesteps<R: Rng + ?Sized>(&self, batch: usize, rng: &mut R) -> Vec<usize> {
        let steps = self.schedule.num_train_timesteps();
        (0..batch).map(|_| rng.random_range(0..steps)).collect()
    }

    /// The regression target for clean samples `x₀` and noise `ε` (`[N, C, ...]`, same shape)
    /// at one timestep per item: `ε`, `v_n = √ᾱ_{t_n} ε_n − √(1−ᾱ_{t_n}) x₀_n`, or `x₀`.
    pub fn target<const D: usize>(
        &self,
        x0: Tensor<D>,
        noise: Tensor<D>,
        timesteps: &[usize],
    ) -> Result<Tensor<D>> {
        match self.config.prediction_type {
            PredictionType::Epsilon => Ok(noise),
            PredictionType::VPrediction => self.schedule.get_velocity(x0, noise, timesteps),
            PredictionType::Sample => Ok(x0),
        }
    }

    /// `L = (1/N) Σ_n w(t_n) · mean_{pixels}(y_n − target_n)²` for a network output `y`,
    /// clean samples `x₀` and noise `ε` (all `[N, C, ...]`, any rank) and one timestep per
    /// item; returns a `[1]` tensor on `y`'s device (differentiable through `y`).
    ///
    /// Errors: [`DiffusionError::ModelOutputShape`] for an output not shaped like `x₀`,
    /// [`CoreError::ShapeMismatch`] naming `noise` or `timesteps` (one per item), and
    /// timesteps out of range.
    pub fn loss<const D: usize>(
        &self,
        model_output: Tensor<D>,
        x0: Tensor<D>,
        noise: Tensor<D>,
        timesteps: &[usize],
    ) -> Result<Tensor<1>> {
        ensure_same_shape(&model_output, &x0)?;
        let batch = x0.dims()[0];
        medgen_core::check::ensure_shape(&noise.dims(), &x0.dims(), "noise")?;
        medgen_core::check::ensure_shape(&[timesteps.len()], &[batch], "timesteps")?;
        let weights = timesteps
            .iter()
            .map(|&t| self.weight(t).map(|w| w as f32))
            .collect::<Result<Vec<f32>>>()?;
        let target = self.target(x0, noise, timesteps)?;
        let device = model_output.device();
        let per_item = model_output
            .sub(target)
            .square()
            .reshape([batch as i32, -1])
            .mean_dim(1)
            .reshape([batch]);
        let weights = Tensor::<1>::from_data(TensorData::new(weights, [batch]), &device);
        Ok(per_item.mul(weights).mean())
    }

    /// One training loss of `network` on clean samples `x₀` (`[N, C, ...]`, on the network's
    /// device) with condition `condition` (batch `N` or empty): draws `t`, `ε` and the
    /// condition dropout from `rng` (see the [module documentation](self)), evaluates the
    /// network at `x_t` with the timesteps as a float `[N]` tensor, and returns
    /// [`DenoisingLoss::loss`].
    ///
    /// Errors: an empty batch, a condition of another batch size, and the network's errors.
    pub fn training_loss<const D: usize, N, R>(
        &self,
        network: &N,
        x0: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut R,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
        R: Rng + ?Sized,
    {
        let batch = training_batch_size(&x0, condition)?;
        let device = x0.device();
        let timesteps = self.sample_timesteps(batch, rng);
        let noise = self.config.noise.sample_like(&x0, rng)?;
        let x_t = self.schedule.add_noise(x0.clone(), noise.clone(), &timesteps)?;
        let condition = condition.clone().dropped_for_guidance(
            batch,
            self.config.condition_drop_prob,
            rng,
            &device,
        )?;
        let times = time_tensor(timesteps.iter().map(|&t| t as f64), &device);
        let output = network.evaluate(x_t, times, &condition)?;
        self.loss(output, x0, noise, &timesteps)
    }
}

/// The batch size `N` of clean samples `x₀` (`[N, C, ...]`), checked non-empty, with a
/// condition of `N` entries or none; the check every training loss starts with.
pub(crate) fn training_batch_size<const D: usize>(
    x0: &Tensor<D>,
    condition: &Condition<D>,
) -> Result<usize> {
    let dims = x0.dims();
    medgen_core::check::ensure_non_empty(&dims, "training batch")?;
    let batch = dims[0];
    condition.ensure_batch_size(batch)?;
    Ok(batch)
}

/// The network's time input: one (possibly fractional) time per item, `[N]` on `device`.
pub(crate) fn time_tensor(times: impl ExactSizeIterator<Item = f64>, device: &Device) -> Tensor<1> {
    let n = times.len();
    let values: Vec<f32> = times.map(|t| t as f32).collect();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

impl<const D: usize> TrainingObjective<D> for DenoisingLoss {
    type Error = DiffusionError;

    /// [`DenoisingLoss::training_loss`] with the trainer's generator.
    fn training_loss<N>(
        &self,
        network: &N,
        x0: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D>,
    {
        DenoisingLoss::training_loss(self, network, x0, condition, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;
    use burn::module::Module;
    use burn::optim::AdamWConfig;
    use burn::tensor::{Device, Int};
    use medgen_core::CoreError;
    use medgen_core::noise::gaussian_like;
    use medgen_core::seeded_rng;
    use medgen_nn::{UNet, UNetConfig};
    use medgen_testing::test_device;
    use medgen_train::{
        Checkpoint, EmaConfig, Trainer, TrainerConfig, WarmupCosineConfig, checkpoint_file_name,
    };

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    fn loss_of(prediction_type: PredictionType, gamma: Option<f64>) -> DenoisingLoss {
        DenoisingLossConfig::new()
            .with_prediction_type(prediction_type)
            .with_min_snr_gamma(gamma)
            .init(ScheduleConfig::new().with_num_train_timesteps(10).init().unwrap())
            .unwrap()
    }

    /// The loss of each prediction type, with and without min-SNR, against a host computation
    /// on a 2-item batch of 1×1×2 images.
    #[test]
    fn loss_equals_hand_computation() {
        let device = test_device();
        let x0 = [[0.5f32, -1.0], [1.0, 0.25]];
        let eps = [[1.0f32, 0.5], [-0.5, 2.0]];
        let out = [[0.2f32, 0.1], [0.3, -0.4]];
        let t = [2usize, 9];
        let tensor = |v: [[f32; 2]; 2]| Tensor::<4>::from_floats([[[v[0]]], [[v[1]]]], &device);
        let kinds = [PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample];
        for kind in kinds {
            for gamma in [None, Some(0.5)] {
                let loss = loss_of(kind, gamma);
                let got = loss
                    .loss(tensor(out), tensor(x0), tensor(eps), &t)
                    .unwrap()
                    .into_scalar::<f32>();
                let mut expected = 0.0f64;
                for n in 0..2 {
                    let a = loss.schedule().alphas_cumprod()[t[n]];
                    let snr = a / (1.0 - a);
                    let w = match (gamma, kind) {
                        (None, _) => 1.0,
                        (Some(g), PredictionType::Epsilon) => snr.min(g) / snr,
                        (Some(g), PredictionType::VPrediction) => snr.min(g) / (snr + 1.0),
                        (Some(g), PredictionType::Sample) => snr.min(g),
                    };
                    let mut mse = 0.0;
                    for i in 0..2 {
                        let (x, e) = (f64::from(x0[n][i]), f64::from(eps[n][i]));
                        let target = match kind {
                            PredictionType::Epsilon => e,
                            PredictionType::VPrediction => a.sqrt() * e - (1.0 - a).sqrt() * x,
                            PredictionType::Sample => x,
                        };
                        mse += (f64::from(out[n][i]) - target).powi(2) / 2.0;
                    }
                    expected += w * mse / 2.0;
                }
                assert!(
                    (f64::from(got) - expected).abs() < 1e-5 * expected.max(1.0),
                    "{kind:?} γ={gamma:?}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn min_snr_weights_and_zero_terminal_snr() {
        let schedule = ScheduleConfig::new()
            .with_num_train_timesteps(10)
            .with_rescale_betas_zero_snr(true)
            .init()
            .unwrap();
        let eps = DenoisingLossConfig::new()
            .with_min_snr_gamma(Some(5.0))
            .init(schedule.clone())
            .unwrap();
        // SNR = 0 at the last step: ε's weight is its limit 1, never NaN.
        assert_eq!(eps.weight(9).unwrap(), 1.0);
        let a = schedule.alphas_cumprod()[0];
        let snr = a / (1.0 - a);
        assert!(snr > 5.0);
        assert!((eps.weight(0).unwrap() - 5.0 / snr).abs() < 1e-12);
        assert!(matches!(
            eps.weight(10),
            Err(DiffusionError::TimestepOutOfRange { timestep: 10, .. })
        ));
        for bad in [
            DenoisingLossConfig::new().with_min_snr_gamma(Some(0.0)),
            DenoisingLossConfig::new().with_condition_drop_prob(1.5),
        ] {
            assert!(bad.init(schedule.clone()).is_err());
        }
    }

    /// 3D volumes, uniform timesteps and the condition dropout through one oracle network
    /// that records what it was given.
    #[test]
    fn training_loss_on_volumes_draws_from_the_callers_rng() {
        let device = test_device();
        let loss = DenoisingLossConfig::new()
            .with_condition_drop_prob(0.5)
            .init(ScheduleConfig::new().init().unwrap())
            .unwrap();
        let x0 = Tensor::<5>::ones([8, 1, 2, 2, 2], &device);
        let classes = Tensor::<1, Int>::from_ints([1, 1, 1, 1, 1, 1, 1, 1], &device);
        let condition = Condition::none().with_class(classes);
        let seen = std::cell::RefCell::new(None);
        let network = |x: Tensor<5>, t: Tensor<1>, c: &Condition<5>| {
            *seen.borrow_mut() = Some((values(t), values(c.keep.clone().unwrap())));
            Ok(x.zeros_like())
        };
        let value = loss
            .training_loss(&network, x0.clone(), &condition, &mut seeded_rng(1))
            .unwrap()
            .into_scalar::<f32>();
        let (times, keep) = seen.borrow_mut().take().unwrap();
        // The same draws on the host: timesteps, then the noise, then the dropout mask.
        let mut rng = seeded_rng(1);
        let expected_t = loss.sample_timesteps(8, &mut rng);
        let noise = gaussian_like(&x0, &mut rng).unwrap();
        let expected_keep: Vec<f32> =
            (0..8).map(|_| if rng.random_bool(0.5) { 0.0 } else { 1.0 }).collect();
        let expected_times: Vec<f32> = expected_t.iter().map(|&t| t as f32).collect();
        assert_eq!(times, expected_times);
        assert_eq!(keep, expected_keep);
        assert!(keep.contains(&0.0) && keep.contains(&1.0));
        // A zero prediction of ε: the loss is mean(ε²).
        let mean_square = noise.square().mean().into_scalar::<f32>();
        assert!((value - mean_square).abs() < 1e-6);
        // A condition of the wrong batch size is refused.
        let three = Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 1, 2], &device));
        assert!(loss.training_loss(&network, x0, &three, &mut seeded_rng(1)).is_err());
    }

    fn tiny_unet(device: &Device) -> UNet {
        let config = UNetConfig::new(1, 1)
            .with_base_channels(8)
            .with_channel_mults(vec![1, 2])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_middle_attention(false)
            .with_groups(4);
        medgen_core::init_seeded(device, &mut seeded_rng(3), |d| config.init(d)).unwrap()
    }

    fn trainer_config(steps: usize) -> TrainerConfig {
        TrainerConfig::new(WarmupCosineConfig::new(3e-3, steps).with_warmup_steps(2))
            .with_max_grad_norm(Some(1.0))
            .with_ema(Some(EmaConfig::new().with_decay(0.9)))
            .with_checkpoint_every(2)
    }

    fn unet_trainer(device: &Device, steps: usize) -> Trainer<UNet> {
        let model = tiny_unet(device);
        Trainer::new(
            &trainer_config(steps),
            model,
            AdamWConfig::new().init(),
            seeded_rng(4),
            &"tiny",
        )
        .unwrap()
    }

    /// A fixed batch: a bright square on a dark background, `[4, 1, 8, 8]` in [-1, 1].
    fn square_batch(device: &Device) -> Tensor<4> {
        let mut v = vec![-1.0f32; 4 * 64];
        for (i, value) in v.iter_mut().enumerate() {
            let (y, x) = ((i % 64) / 8, i % 8);
            if (2..6).contains(&y) && (2..6).contains(&x) {
                *value = 1.0;
            }
        }
        Tensor::from_data(TensorData::new(v, [4, 1, 8, 8]), device)
    }

    #[test]
    fn training_a_tiny_unet_lowers_the_loss() {
        let device = test_device().autodiff();
        let steps = if medgen_testing::testing_on_wgpu() { 12 } else { 40 };
        let loss = DenoisingLossConfig::new()
            .with_min_snr_gamma(Some(5.0))
            .init(ScheduleConfig::new().init().unwrap())
            .unwrap();
        let x0 = square_batch(&device);
        let mut trainer = unet_trainer(&device, steps);
        // A fixed evaluation draw (same timesteps and noise before and after training).
        let eval = |model: &UNet| {
            let model = model.valid();
            let x0 = x0.clone().inner();
            let mut total = 0.0;
            for seed in 0..4 {
                let l = loss
                    .training_loss(&model, x0.clone(), &Condition::none(), &mut seeded_rng(seed))
                    .unwrap();
                total += l.into_scalar::<f32>();
            }
            total
        };
        let before = eval(trainer.model());
        loss.fit(&mut trainer, |_, _| Ok((x0.clone(), Condition::none()))).unwrap();
        let after = eval(trainer.model());
        assert!(after < 0.7 * before, "loss {before} -> {after}");
        assert_eq!(trainer.history().len(), steps);
    }

    #[test]
    fn resumed_unet_training_repeats_the_losses_and_nan_names_the_step() {
        let device = test_device().autodiff();
        // A private scratch folder (the crate has no tempfile dependency).
        let dir = std::env::temp_dir().join(format!("medgen-training-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let loss = loss_of(PredictionType::VPrediction, None);
        let x0 = square_batch(&device);
        let data = |_: usize, _: &mut SeededRng| Ok((x0.clone(), Condition::none()));
        let mut full = unet_trainer(&device, 4).with_checkpoints(&dir).unwrap();
        loss.fit(&mut full, data).unwrap();
        let ckpt = Checkpoint::read(dir.join(checkpoint_file_name(2))).unwrap();
        let mut resumed = Trainer::resume(
            &trainer_config(4),
            tiny_unet(&device),
            AdamWConfig::new().init(),
            &ckpt,
            &"tiny",
        )
        .unwrap();
        loss.fit(&mut resumed, data).unwrap();
        assert_eq!(resumed.history().losses(), full.history().losses());
        std::fs::remove_dir_all(&dir).unwrap();

        // A network that returns NaN stops the run at its first step.
        let mut run = unet_trainer(&device, 4);
        let nan = Tensor::<4>::full([4, 1, 8, 8], f32::NAN, &device);
        let err = loss.train_step(&mut run, &nan, &Condition::none()).unwrap_err();
        assert!(matches!(err, DiffusionError::Core(CoreError::Diverged { step: 0, .. })), "{err}");
    }
}

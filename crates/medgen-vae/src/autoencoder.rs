//! Deterministic autoencoders and denoising autoencoders (Vincent et al. 2008).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::{Autoencoder, SeededRng};

use crate::backbone::{BackboneConfig, Coder};
use crate::corruption::Corruption;

/// Configuration of an [`Ae`]: the encoder/decoder architecture and, for a denoising
/// autoencoder, the input corruption.
#[derive(Config, Debug)]
pub struct AeConfig {
    /// Encoder/decoder architecture (vectors, images or volumes).
    pub backbone: BackboneConfig,
    /// Input corruption of a denoising autoencoder (`None`: a plain autoencoder).
    #[config(default = "None")]
    pub corruption: Option<Corruption>,
}

/// An autoencoder `z = E(x)`, `x̂ = D(z)` trained on the squared error
/// `L = mean ‖x − D(E(x̃))‖²` with `x̃ = x` (plain) or `x̃ ~ C(x̃ | x)` (denoising, see
/// [`Corruption`]). Shapes: data `[N, C, *n]` (or `[N, C]`), latents
/// `[N, latent_channels, *n/f]` (see [`BackboneConfig`]).
#[derive(Module, Debug)]
pub struct Ae {
    /// The encoder `E`.
    pub encoder: Coder,
    /// The decoder `D`.
    pub decoder: Coder,
    /// The architecture (for input checks).
    #[module(skip)]
    pub backbone: BackboneConfig,
    /// The corruption of a denoising autoencoder.
    #[module(skip)]
    pub corruption: Option<Corruption>,
}

impl AeConfig {
    /// Builds the model on `device`; fails on an invalid backbone or corruption.
    pub fn init(&self, device: &Device) -> crate::Result<Ae> {
        if let Some(c) = &self.corruption {
            c.validate()?;
        }
        let b = &self.backbone;
        Ok(Ae {
            encoder: b.encoder(0, b.latent_channels, device)?,
            decoder: b.decoder(0, b.data_channels, device)?,
            backbone: b.clone(),
            corruption: self.corruption.clone(),
        })
    }
}

impl Ae {
    /// Reconstructs `x`: `D(E(x))`, no corruption.
    pub fn reconstruct<const D: usize>(&self, x: Tensor<D>) -> crate::Result<Tensor<D>> {
        let z = self.encode(x)?;
        self.decode(z)
    }

    /// The training loss `mean ‖x − D(E(x̃))‖²` (mean over all elements), `[1]`, with the
    /// corruption drawn from `rng` for a denoising autoencoder. NaN in `x` gives a NaN loss,
    /// which [`medgen_train::Trainer`] reports as `Diverged`.
    pub fn loss<const D: usize>(
        &self,
        x: Tensor<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<1>> {
        let input = match &self.corruption {
            Some(c) => c.apply(x.clone(), rng)?,
            None => x.clone(),
        };
        let x_hat = self.reconstruct(input)?;
        Ok(x_hat.sub(x).square().mean())
    }
}

impl<const D: usize> Autoencoder<D, D> for Ae {
    type Error = crate::error::VaeError;

    /// `z = E(x)`: `[N, C, *n] → [N, latent_channels, *n/f]`; checks the shape first.
    fn encode(&self, x: Tensor<D>) -> crate::Result<Tensor<D>> {
        self.backbone.check_data(&x)?;
        Ok(self.encoder.forward(x))
    }

    /// `x̂ = D(z)`: `[N, latent_channels, *m] → [N, C, *m·f]`; checks the shape first.
    fn decode(&self, z: Tensor<D>) -> crate::Result<Tensor<D>> {
        self.backbone.check_latent(&z)?;
        Ok(self.decoder.forward(z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::AdamConfig;
    use medgen_core::seeded_rng;
    use medgen_data::PhantomConfig;
    use medgen_testing::test_device;
    use medgen_testing::testing_on_wgpu;
    use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};

    /// Mean squared reconstruction error on held-out phantoms.
    fn held_out_mse(model: &Ae, x: &Tensor<4>) -> f32 {
        let m = model.clone().valid();
        let x = x.clone().inner();
        m.reconstruct(x.clone()).unwrap().sub(x).square().mean().into_scalar::<f32>()
    }

    /// Training a small denoising AE on 16x16 phantoms lowers the held-out error.
    #[test]
    fn training_lowers_held_out_reconstruction_error() {
        let device = test_device().autodiff();
        let steps = if testing_on_wgpu() { 10 } else { 60 };
        let mut rng = seeded_rng(0);
        let phantoms = PhantomConfig::new(16);
        let train = phantoms.generate_batch(64, &mut rng).unwrap();
        let test = phantoms.generate_batch(16, &mut rng).unwrap();
        let train = train.to_tensors::<4>(&device).unwrap().images;
        let test = test.to_tensors::<4>(&device).unwrap().images;
        let config = AeConfig::new(BackboneConfig::new(2, 1, 4).with_hidden(vec![8, 16]))
            .with_corruption(Some(Corruption::Gaussian { std: 0.1 }));
        let model = config.init(&device).unwrap();
        let before = held_out_mse(&model, &test);
        let trainer_config = TrainerConfig::new(WarmupCosineConfig::new(3e-3, steps));
        let mut trainer =
            Trainer::new(&trainer_config, model, AdamConfig::new().init(), seeded_rng(1), &())
                .unwrap();
        trainer
            .fit(|m: &Ae, step, rng| {
                let start = (step * 16) % 64;
                m.loss(train.clone().slice(start..start + 16), rng)
            })
            .unwrap();
        let after = held_out_mse(trainer.model(), &test);
        // The software-Vulkan run only checks that training runs (10 steps).
        if !testing_on_wgpu() {
            assert!(after < 0.6 * before, "held-out MSE {before} -> {after}");
        }
    }

    #[test]
    fn vector_autoencoder_and_bad_inputs() {
        let device = test_device();
        let model =
            AeConfig::new(BackboneConfig::new(0, 5, 2).with_hidden(vec![8])).init(&device).unwrap();
        let z = model.encode(Tensor::<2>::zeros([3, 5], &device)).unwrap();
        assert_eq!(z.dims(), [3, 2]);
        assert_eq!(model.decode(z).unwrap().dims(), [3, 5]);
        assert!(model.encode(Tensor::<2>::zeros([3, 4], &device)).is_err());
        assert!(model.encode(Tensor::<4>::zeros([3, 5, 2, 2], &device)).is_err());
        assert!(AeConfig::new(BackboneConfig::new(0, 5, 0)).init(&device).is_err());
    }
}

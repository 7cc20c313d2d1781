//! AutoencoderKL-style training (Esser et al. 2021; Rombach et al. 2022; MONAI's
//! `AutoencoderKL` recipe): L1 reconstruction, a small KL term and a PatchGAN adversarial
//! loss for sharp reconstructions.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::{Condition, CoreError, SeededRng};
use medgen_gan::loss::GanLoss;
use medgen_gan::nets::PatchGan;

use crate::vae::Vae;

/// Configuration of the [`PatchAdversarial`] objective.
#[derive(Config, Debug)]
pub struct PatchAdversarialConfig {
    /// The adversarial game on patch logits.
    #[config(default = "GanLoss::Hinge")]
    pub gan_loss: GanLoss,
    /// Weight `λ_adv` of the adversarial term (MONAI: 0.01).
    #[config(default = 0.01)]
    pub adversarial_weight: f64,
    /// Weight `β` of the KL term (MONAI: 1e-6).
    #[config(default = 1e-6)]
    pub kl_weight: f64,
}

/// The two objectives, minimised in alternation:
///
/// - autoencoder: `mean |x − x̂| + β · mean_n KL_n + λ_adv · L_G(ℓ(x̂))`, with
///   `x̂ = E[x | z]`, `z ~ q(z | x)` (reparameterised, from `rng`);
/// - discriminator: `L_D(ℓ(x), ℓ(sg(x̂)))`,
///
/// where `ℓ` are the PatchGAN logits flattened to `[N, P]` and `L_G`, `L_D` the [`GanLoss`].
#[derive(Clone, Debug)]
pub struct PatchAdversarial {
    config: PatchAdversarialConfig,
}

impl PatchAdversarialConfig {
    /// Checks the weights (finite, non-negative) and the GAN loss.
    pub fn init(&self) -> crate::Result<PatchAdversarial> {
        self.gan_loss.validate()?;
        let ok = |w: f64| w.is_finite() && w >= 0.0;
        if !ok(self.adversarial_weight) || !ok(self.kl_weight) {
            return Err(CoreError::config(
                "adversarial_weight/kl_weight",
                format!(
                    "must be finite and non-negative, got {} and {}",
                    self.adversarial_weight, self.kl_weight
                ),
            )
            .into());
        }
        Ok(PatchAdversarial { config: self.clone() })
    }
}

/// Flattens a logit map `[N, 1, ...]` to `[N, P]`.
fn flat_logits<const D: usize>(map: Tensor<D>) -> Tensor<2> {
    let n = map.dims()[0];
    map.reshape([n as i32, -1])
}

impl PatchAdversarial {
    /// The configuration.
    pub fn config(&self) -> &PatchAdversarialConfig {
        &self.config
    }

    /// A reparameterised reconstruction `x̂` and the batch-mean KL.
    fn reconstruct<const D: usize>(
        &self,
        vae: &Vae,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<(Tensor<D>, Tensor<1>)> {
        let pass = vae.pass(x, condition, rng)?;
        let x_hat = vae.likelihood.mean(pass.decoder_output)?;
        Ok((x_hat, pass.posterior.kl_standard_normal().mean()))
    }

    /// The autoencoder's objective (see [`PatchAdversarial`]), `[1]`.
    pub fn autoencoder_loss<const D: usize>(
        &self,
        vae: &Vae,
        discriminator: &PatchGan,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<1>> {
        let (x_hat, kl) = self.reconstruct(vae, x.clone(), condition, rng)?;
        let l1 = x_hat.clone().sub(x).abs().mean();
        let logits = flat_logits(discriminator.logit_map(x_hat, None)?);
        let adversarial = self.config.gan_loss.generator_loss(logits)?;
        Ok(l1
            .add(kl.mul_scalar(self.config.kl_weight))
            .add(adversarial.mul_scalar(self.config.adversarial_weight)))
    }

    /// The discriminator's objective (see [`PatchAdversarial`]), `[1]`.
    pub fn discriminator_loss<const D: usize>(
        &self,
        vae: &Vae,
        discriminator: &PatchGan,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<1>> {
        let (x_hat, _) = self.reconstruct(vae, x.clone(), condition, rng)?;
        let real = flat_logits(discriminator.logit_map(x, None)?);
        let fake = flat_logits(discriminator.logit_map(x_hat.detach(), None)?);
        Ok(self.config.gan_loss.discriminator_loss(real, fake)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::BackboneConfig;
    use crate::vae::VaeConfig;
    use burn::optim::{AdamConfig, GradientsParams};
    use medgen_core::noise::gaussian_noise;
    use medgen_core::seeded_rng;
    use medgen_gan::nets::PatchGanConfig;
    use medgen_testing::test_device;

    fn value(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    /// Without the adversarial and KL terms the objective is the L1 error of a
    /// reparameterised reconstruction; one discriminator step lowers the discriminator loss
    /// on the same batch.
    #[test]
    fn objectives_and_one_discriminator_step() {
        let device = test_device().autodiff();
        let vae = VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4, 8]))
            .init(&device)
            .unwrap();
        let disc = PatchGanConfig::new(2, 1)
            .with_base_channels(8)
            .with_num_layers(2)
            .init(&device)
            .unwrap();
        let x = gaussian_noise([4, 1, 16, 16], &mut seeded_rng(0), &device).unwrap();
        let none = Condition::none();
        let plain = PatchAdversarialConfig::new()
            .with_adversarial_weight(0.0)
            .with_kl_weight(0.0)
            .init()
            .unwrap();
        let got = value(
            plain.autoencoder_loss(&vae, &disc, x.clone(), &none, &mut seeded_rng(1)).unwrap(),
        );
        let pass = vae.pass(x.clone(), &none, &mut seeded_rng(1)).unwrap();
        let expected = value(pass.decoder_output.sub(x.clone()).abs().mean());
        assert!((got - expected).abs() < 1e-5);

        let objective = PatchAdversarialConfig::new().init().unwrap();
        let loss = |d: &PatchGan| {
            objective.discriminator_loss(&vae, d, x.clone(), &none, &mut seeded_rng(2)).unwrap()
        };
        let before = loss(&disc);
        let before_value = value(before.clone());
        let grads = GradientsParams::from_grads(before.backward(), &disc);
        let mut optim = AdamConfig::new().init();
        let disc = optim.step(1e-3, disc, grads);
        assert!(value(loss(&disc)) < before_value);
        let total = objective.autoencoder_loss(&vae, &disc, x, &none, &mut seeded_rng(3)).unwrap();
        assert!(value(total).is_finite());
    }
}

//! Adversarial autoencoders (Makhzani et al. 2016): a discriminator on the latent code makes
//! the aggregate posterior `q(z) = E_x[δ(z − E(x))]` match the prior `p(z) = N(0, I)`.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use medgen_core::{Autoencoder, CoreError, SeededRng};
use medgen_gan::loss::GanLoss;

use crate::autoencoder::Ae;
use crate::latent_discriminator::LatentDiscriminator;

/// Configuration of the [`AdversarialAe`] objective.
#[derive(Config, Debug)]
pub struct AdversarialAeConfig {
    /// The adversarial game (medgen-gan's losses on logits).
    #[config(default = "GanLoss::NonSaturating")]
    pub gan_loss: GanLoss,
    /// The weight `λ` of the encoder's adversarial term.
    #[config(default = 0.1)]
    pub adversarial_weight: f64,
}

/// The two objectives of an adversarial autoencoder, minimised in alternation (one optimiser
/// each):
///
/// - autoencoder: `mean ‖x − D(E(x̃))‖² + λ · L_G(ℓ(E(x)))` (reconstruction as [`Ae::loss`],
///   the encoder fools the discriminator);
/// - discriminator: `L_D(ℓ(z_p), ℓ(sg(E(x))))` with prior samples `z_p ~ N(0, I)` as "real"
///   and the detached codes as "fake",
///
/// where `L_G`, `L_D` are the [`GanLoss`] generator and discriminator losses and `ℓ` the
/// [`LatentDiscriminator`] logits.
#[derive(Clone, Debug)]
pub struct AdversarialAe {
    config: AdversarialAeConfig,
}

impl AdversarialAeConfig {
    /// Checks `λ ≥ 0` finite and the GAN loss, then builds the objective.
    pub fn init(&self) -> crate::Result<AdversarialAe> {
        self.gan_loss.validate()?;
        if !(self.adversarial_weight.is_finite() && self.adversarial_weight >= 0.0) {
            return Err(CoreError::config(
                "adversarial_weight",
                format!("must be finite and non-negative, got {}", self.adversarial_weight),
            )
            .into());
        }
        Ok(AdversarialAe { config: self.clone() })
    }
}

impl AdversarialAe {
    /// The configuration.
    pub fn config(&self) -> &AdversarialAeConfig {
        &self.config
    }

    /// The autoencoder's objective (see [`AdversarialAe`]), `[1]`; corruption noise (for a
    /// denoising AAE) from `rng`.
    pub fn autoencoder_loss<const D: usize>(
        &self,
        ae: &Ae,
        discriminator: &LatentDiscriminator,
        x: Tensor<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<1>> {
        let reconstruction = ae.loss(x.clone(), rng)?;
        let logits = discriminator.forward(ae.encode(x)?)?;
        let adversarial = self.config.gan_loss.generator_loss(logits)?;
        Ok(reconstruction.add(adversarial.mul_scalar(self.config.adversarial_weight)))
    }

    /// The discriminator's objective (see [`AdversarialAe`]), `[1]`; prior samples from `rng`.
    pub fn discriminator_loss<const D: usize>(
        &self,
        ae: &Ae,
        discriminator: &LatentDiscriminator,
        x: Tensor<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<1>> {
        let codes = ae.encode(x)?.detach();
        let prior = gaussian_like(&codes, rng)?;
        let real = discriminator.forward(prior)?;
        let fake = discriminator.forward(codes)?;
        Ok(self.config.gan_loss.discriminator_loss(real, fake)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoencoder::AeConfig;
    use crate::backbone::BackboneConfig;
    use crate::latent_discriminator::LatentDiscriminatorConfig;
    use burn::module::Module;
    use burn::optim::AdamConfig;
    use medgen_core::noise::gaussian_noise;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;
    use medgen_testing::testing_on_wgpu;
    use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};

    fn value(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    /// The objectives equal their definitions evaluated by hand with the same random draws.
    #[test]
    fn objectives_match_their_definitions() {
        let device = test_device();
        let ae =
            AeConfig::new(BackboneConfig::new(0, 3, 2).with_hidden(vec![8])).init(&device).unwrap();
        let disc = LatentDiscriminatorConfig::new(2).init(&device).unwrap();
        let x = gaussian_noise([5, 3], &mut seeded_rng(0), &device).unwrap();
        let aae = AdversarialAeConfig::new().with_adversarial_weight(0.5).init().unwrap();
        let gan = GanLoss::NonSaturating;
        let got = value(aae.autoencoder_loss(&ae, &disc, x.clone(), &mut seeded_rng(1)).unwrap());
        let codes = ae.encode(x.clone()).unwrap();
        let expected = value(ae.loss(x.clone(), &mut seeded_rng(1)).unwrap())
            + 0.5 * value(gan.generator_loss(disc.forward(codes.clone()).unwrap()).unwrap());
        assert!((got - expected).abs() < 1e-5);
        let got = value(aae.discriminator_loss(&ae, &disc, x, &mut seeded_rng(2)).unwrap());
        let prior = gaussian_like(&codes, &mut seeded_rng(2)).unwrap();
        let expected = value(
            gan.discriminator_loss(disc.forward(prior).unwrap(), disc.forward(codes).unwrap())
                .unwrap(),
        );
        assert!((got - expected).abs() < 1e-5);
        assert!(disc.forward(Tensor::<2>::zeros([2, 3], &device)).is_err());
        assert!(AdversarialAeConfig::new().with_adversarial_weight(f64::NAN).init().is_err());
    }

    /// Mean and standard deviation of all code elements.
    fn code_moments(ae: &Ae, x: &Tensor<2>) -> (f64, f64) {
        let v: Vec<f64> = ae
            .clone()
            .valid()
            .encode(x.clone())
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (mean, (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt())
    }

    /// Trains an AAE with adversarial weight `weight` for `steps` alternating steps on
    /// inputs of scale 4 around 3 and returns the moments of its codes.
    fn train_codes(weight: f64, steps: usize) -> (f64, f64) {
        let device = test_device().autodiff();
        let x = gaussian_noise([256, 4], &mut seeded_rng(7), &device)
            .unwrap()
            .mul_scalar(4.0)
            .add_scalar(3.0);
        let mut init_rng = seeded_rng(11);
        let ae = medgen_core::init_seeded(&device, &mut init_rng, |d| {
            AeConfig::new(BackboneConfig::new(0, 4, 2).with_hidden(vec![16])).init(d)
        })
        .unwrap();
        let disc = medgen_core::init_seeded(&device, &mut init_rng, |d| {
            LatentDiscriminatorConfig::new(2).with_hidden(vec![32]).init(d)
        })
        .unwrap();
        let config = TrainerConfig::new(WarmupCosineConfig::new(3e-3, steps));
        let mut ae_trainer =
            Trainer::new(&config, ae, AdamConfig::new().init(), seeded_rng(1), &()).unwrap();
        let mut d_trainer = Trainer::new(
            &config,
            disc,
            AdamConfig::new().with_beta_1(0.5).init(),
            seeded_rng(2),
            &(),
        )
        .unwrap();
        let aae = AdversarialAeConfig::new().with_adversarial_weight(weight).init().unwrap();
        for _ in 0..steps {
            d_trainer
                .step(|d: &LatentDiscriminator, _, rng| {
                    aae.discriminator_loss(ae_trainer.model(), d, x.clone(), rng)
                })
                .unwrap();
            let d = d_trainer.model();
            ae_trainer.step(|ae: &Ae, _, rng| aae.autoencoder_loss(ae, d, x.clone(), rng)).unwrap();
        }
        code_moments(ae_trainer.model(), &x.inner())
    }

    /// The latent discriminator pulls the codes towards N(0, 1): the distance
    /// `mean² + (std − 1)²` of the code moments from the prior's is less than half that of
    /// the same autoencoder trained without it (weight 0).
    #[test]
    fn adversarial_training_moves_codes_towards_the_prior() {
        let steps = if testing_on_wgpu() { 10 } else { 300 };
        let distance = |(m, s): (f64, f64)| m * m + (s - 1.0) * (s - 1.0);
        let plain = train_codes(0.0, steps);
        let adversarial = train_codes(10.0, steps);
        if !testing_on_wgpu() {
            assert!(
                distance(adversarial) < 0.5 * distance(plain),
                "codes: plain {plain:?}, adversarial {adversarial:?}"
            );
        }
    }
}

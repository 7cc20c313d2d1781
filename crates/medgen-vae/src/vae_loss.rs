//! The VAE training objective: negative ELBO with β weighting, KL warm-up and free bits.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::{Condition, CoreError, SeededRng};

use crate::vae::Vae;

/// Configuration of a [`VaeLoss`].
#[derive(Config, Debug, PartialEq)]
pub struct VaeLossConfig {
    /// The KL weight `β` (β-VAE, Higgins et al. 2017; `1` gives the ELBO).
    #[config(default = 1.0)]
    pub beta: f64,
    /// KL warm-up: `β_k = β · min(1, k / warmup_steps)` at step `k` (`0`: no warm-up).
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// Free bits `λ` in nats per latent element (Kingma et al. 2016): the KL of each latent
    /// element, averaged over the batch, counts at least `λ` (`0`: off).
    #[config(default = 0.0)]
    pub free_bits: f64,
}

/// The β-VAE loss (see [`VaeLoss::loss`]).
#[derive(Clone, Debug)]
pub struct VaeLoss {
    config: VaeLossConfig,
}

/// The loss and its parts (batch means, `[1]` each).
#[derive(Clone, Debug)]
pub struct VaeLossOutput {
    /// The value to minimise.
    pub loss: Tensor<1>,
    /// `mean_n log p(x_n | z_n)`.
    pub log_likelihood: Tensor<1>,
    /// `mean_n KL[q(z | x_n) ‖ p(z)]` (without β or free bits).
    pub kl: Tensor<1>,
}

impl VaeLossConfig {
    /// Checks `β ≥ 0` and `λ ≥ 0` (finite), then builds the loss.
    pub fn init(&self) -> crate::Result<VaeLoss> {
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !non_negative(self.beta) || !non_negative(self.free_bits) {
            return Err(CoreError::config(
                "beta/free_bits",
                format!(
                    "must be finite and non-negative, got {} and {}",
                    self.beta, self.free_bits
                ),
            )
            .into());
        }
        Ok(VaeLoss { config: self.clone() })
    }
}

impl VaeLoss {
    /// The configuration.
    pub fn config(&self) -> &VaeLossConfig {
        &self.config
    }

    /// The KL weight at training step `k`: `β · min(1, k / warmup_steps)`.
    pub fn beta_at(&self, step: usize) -> f64 {
        let c = &self.config;
        if c.warmup_steps == 0 {
            c.beta
        } else {
            c.beta * (step as f64 / c.warmup_steps as f64).min(1.0)
        }
    }

    /// `L = −mean_n log p(x_n | z_n) + β_k · R`, `z_n ~ q(z | x_n, c_n)` from `rng`, with
    /// `R = mean_n KL_n` or, with free bits, `R = Σ_j max(λ, mean_n KL_{n,j})` over latent
    /// elements `j`. NaN in `x` gives a NaN loss, which
    /// [`medgen_train::Trainer`] reports as `Diverged`.
    pub fn loss<const D: usize>(
        &self,
        vae: &Vae,
        x: Tensor<D>,
        condition: &Condition<D>,
        step: usize,
        rng: &mut SeededRng,
    ) -> crate::Result<VaeLossOutput> {
        let pass = vae.pass(x, condition, rng)?;
        let kl_elements = pass.posterior.kl_standard_normal_elementwise();
        let n = kl_elements.dims()[0];
        let kl_per_unit = kl_elements.reshape([n as i32, -1]).mean_dim(0);
        let kl = kl_per_unit.clone().sum();
        let regulariser = if self.config.free_bits > 0.0 {
            kl_per_unit.clamp_min(self.config.free_bits).sum()
        } else {
            kl.clone()
        };
        let log_likelihood = pass.log_likelihood.mean();
        let loss = log_likelihood.clone().neg().add(regulariser.mul_scalar(self.beta_at(step)));
        Ok(VaeLossOutput { loss, log_likelihood, kl })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::BackboneConfig;
    use crate::likelihood::Likelihood;
    use crate::vae::VaeConfig;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn value(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    /// Warm-up ramps β linearly; with free bits λ above every unit's KL the regulariser is
    /// exactly `λ · units`; with β = 1 the loss is the negative (analytic-KL) ELBO.
    #[test]
    fn beta_warmup_and_free_bits() {
        let device = test_device();
        let vae = VaeConfig::new(BackboneConfig::new(0, 3, 2).with_hidden(vec![4]))
            .with_likelihood(Likelihood::Laplace { scale: 0.5 })
            .init(&device)
            .unwrap();
        let x = Tensor::<2>::from_floats([[0.1, 0.2, -0.3], [1.0, 0.0, 0.5]], &device);
        let none = Condition::none();
        let warm = VaeLossConfig::new().with_beta(2.0).with_warmup_steps(10).init().unwrap();
        assert_eq!((warm.beta_at(0), warm.beta_at(5), warm.beta_at(50)), (0.0, 1.0, 2.0));
        let plain = VaeLossConfig::new().init().unwrap();
        let out = plain.loss(&vae, x.clone(), &none, 0, &mut seeded_rng(4)).unwrap();
        let (ll, kl) = (value(out.log_likelihood), value(out.kl));
        assert!((value(out.loss) - (kl - ll)).abs() < 1e-4);
        let elbo = vae.elbo(x.clone(), &none, &mut seeded_rng(4)).unwrap();
        assert!((value(elbo.mean()) - (ll - kl)).abs() < 1e-4);
        let free = VaeLossConfig::new().with_free_bits(50.0).init().unwrap();
        let out = free.loss(&vae, x, &none, 0, &mut seeded_rng(4)).unwrap();
        assert!((value(out.loss) - (100.0 - ll)).abs() < 1e-3);
        assert!(VaeLossConfig::new().with_beta(-1.0).init().is_err());
    }
}

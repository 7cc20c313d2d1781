//! A latent-code generator as a sampler: `z ~ N(0, I)` drawn from the caller's generator and
//! mapped through `G`. It implements medgen-core's [`Sample`], the sampling verb every family
//! shares.

use burn::tensor::Device;
use medgen_core::noise::gaussian_noise;
use medgen_core::{Condition, CoreError, Sample, Samples, SeededRng};

use crate::error::{GanError, Result};
use crate::network::Generator;

/// `x = G(z | c)` with `z ~ N(0, I_d)`, `d = latent_dim`.
#[derive(Clone, Debug)]
pub struct GanSampler<G> {
    generator: G,
    latent_dim: usize,
}

impl<G> GanSampler<G> {
    /// Wraps `generator`, which takes latent codes `[N, latent_dim]`.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `latent_dim` when it is zero.
    pub fn new(generator: G, latent_dim: usize) -> Result<Self> {
        if latent_dim == 0 {
            return Err(CoreError::config("latent_dim", "must be at least 1").into());
        }
        Ok(Self { generator, latent_dim })
    }

    /// The generator.
    pub fn generator(&self) -> &G {
        &self.generator
    }

    /// The width `d` of the latent codes.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }
}

impl<const D: usize, G: Generator<2, D>> Sample<D> for GanSampler<G> {
    type Error = GanError;

    /// Draws `z` (`[n, d]`) from `rng` and returns `G(z | c)`: one generator pass
    /// (`nfe = 1`).
    fn sample(
        &self,
        n: usize,
        condition: &Condition<D>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Samples<D>> {
        let z = gaussian_noise([n, self.latent_dim], rng, device)?;
        Ok(Samples { samples: self.generator.generate(z, condition)?, nfe: 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::DcganGeneratorConfig;
    use medgen_core::{init_seeded, seeded_rng};
    use medgen_testing::test_device;

    #[test]
    fn a_dcgan_generator_samples_images_reproducibly() {
        let device = test_device();
        let generator = init_seeded(&device, &mut seeded_rng(0), |d| {
            DcganGeneratorConfig::new(2, 8, 1, 8)
                .with_num_upsamplings(2)
                .with_base_channels(8)
                .init(d)
        })
        .unwrap();
        let sampler = GanSampler::new(generator, 8).unwrap();
        let draw = |seed| {
            Sample::<4>::sample(&sampler, 3, &Condition::none(), &mut seeded_rng(seed), &device)
                .unwrap()
        };
        let (a, b) = (draw(4), draw(4));
        assert_eq!(a.nfe, 1);
        assert_eq!(a.samples.dims(), [3, 1, 8, 8]);
        assert_eq!(
            a.samples.try_into_vec_as::<f32>().unwrap(),
            b.samples.try_into_vec_as::<f32>().unwrap()
        );
        assert!(GanSampler::new(sampler.generator().clone(), 0).is_err());
    }
}

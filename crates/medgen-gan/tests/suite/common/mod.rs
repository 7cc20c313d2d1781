//! The small networks shared by the API and bad-input suites of `medgen-gan`.

use medgen_gan::{DcganDiscriminatorConfig, DcganGeneratorConfig};

/// The latent size of the test generators.
pub(crate) const LATENT: usize = 4;

/// A DCGAN generator from `LATENT` codes to 1 × 8 × 8 images, 4 base channels.
pub(crate) fn generator_config() -> DcganGeneratorConfig {
    DcganGeneratorConfig::new(2, LATENT, 1, 8).with_num_upsamplings(2).with_base_channels(4)
}

/// A DCGAN discriminator of 1 × 8 × 8 images, 4 base channels, no spectral normalisation.
pub(crate) fn discriminator_config() -> DcganDiscriminatorConfig {
    DcganDiscriminatorConfig::new(2, 1, 8)
        .with_num_downsamplings(2)
        .with_base_channels(4)
        .with_spectral_norm(None)
}

//! The discriminator of an adversarial autoencoder: an MLP on flattened latent codes.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;

use medgen_nn::{Mlp, MlpConfig};

/// Configuration of a [`LatentDiscriminator`] for codes with `latent_size` elements per item.
#[derive(Config, Debug)]
pub struct LatentDiscriminatorConfig {
    /// Elements per code (`latent_channels · Π latent spatial sizes`).
    pub latent_size: usize,
    /// Hidden widths of the MLP.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
}

/// `ℓ = MLP(flatten(z))`: `[N, ...] → [N, 1]` logits of "drawn from the prior".
#[derive(Module, Debug)]
pub struct LatentDiscriminator {
    /// The MLP `latent_size → hidden… → 1`.
    pub mlp: Mlp,
}

impl LatentDiscriminatorConfig {
    /// Builds the network; fails on zero sizes.
    pub fn init(&self, device: &Device) -> crate::Result<LatentDiscriminator> {
        if self.latent_size == 0 {
            return Err(CoreError::config("latent_size", "must be positive").into());
        }
        let mut dims = vec![self.latent_size];
        dims.extend(&self.hidden);
        dims.push(1);
        Ok(LatentDiscriminator { mlp: MlpConfig::new(dims).init(device)? })
    }
}

impl LatentDiscriminator {
    /// The logits `[N, 1]` of codes `z` `[N, ...]`.
    ///
    /// Errors: a code whose element count differs from `latent_size`.
    pub fn forward<const D: usize>(&self, z: Tensor<D>) -> crate::Result<Tensor<2>> {
        let dims = z.dims();
        let size: usize = dims[1..].iter().product();
        let expected = self.mlp.layers[0].weight.val().dims()[0];
        if size != expected || dims[0] == 0 {
            return Err(CoreError::shape(
                "latent code",
                format!("[N, ...] with {expected} elements per item"),
                &dims,
            )
            .into());
        }
        Ok(self.mlp.forward(z.reshape([dims[0], size])))
    }
}

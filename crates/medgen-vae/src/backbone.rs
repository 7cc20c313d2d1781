//! The shape of an autoencoder's encoder and decoder: convolutional (2D or 3D) or MLP, from
//! one configuration, with the input checks every model runs on entry.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;

use crate::conv_stack::ConvStack;

use medgen_nn::{Mlp, MlpConfig};

/// Architecture shared by all autoencoders of this crate.
///
/// - `spatial_dims = 0`: vectors `x ∈ ℝ^C` (`[N, C]`), latents `[N, latent_channels]`,
///   MLP encoder `C → hidden… → out` and mirrored decoder (an empty `hidden` gives affine
///   maps, as in probabilistic PCA).
/// - `spatial_dims = 2 | 3`: images `[N, C, H, W]` / volumes `[N, C, D, H, W]`, latents
///   `[N, latent_channels, *n / f]` with downsampling factor `f = 2^{len(hidden) − 1}`
///   (see [`ConvStack`]); every spatial size must be a multiple of `f`.
#[derive(Config, Debug)]
pub struct BackboneConfig {
    /// 0 (vectors, MLP), 2 (images) or 3 (volumes).
    pub spatial_dims: usize,
    /// Data channels `C` (the vector length when `spatial_dims = 0`).
    pub data_channels: usize,
    /// Latent channels (the latent vector length when `spatial_dims = 0`).
    pub latent_channels: usize,
    /// Hidden widths: MLP layer widths, or convolution channels per resolution level.
    #[config(default = "vec![32, 64]")]
    pub hidden: Vec<usize>,
}

/// An encoder or a decoder built from a [`BackboneConfig`]; `forward` maps `[N, C_in, …]` to
/// `[N, C_out, …]`.
#[derive(Module, Debug)]
pub enum Coder {
    /// A convolutional stack (2D or 3D).
    Conv(ConvStack),
    /// An MLP on vectors.
    Mlp(Mlp),
}

impl Coder {
    /// Applies the network. The rank `D` must be 2 for an MLP and `spatial_dims + 2` for a
    /// convolutional stack, which the models check with [`BackboneConfig::check_data`] first.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Conv(stack) => stack.forward(x),
            Self::Mlp(mlp) => {
                let shape = x.shape();
                let y = mlp.forward(x.reshape(shape));
                let out = y.shape();
                y.reshape(out)
            }
        }
    }
}

impl BackboneConfig {
    /// Checks the configuration: `spatial_dims ∈ {0, 2, 3}`, positive channels and widths, and
    /// at least one width for a convolutional backbone.
    pub fn validate(&self) -> crate::Result<()> {
        if ![0, 2, 3].contains(&self.spatial_dims) {
            return Err(CoreError::config(
                "spatial_dims",
                format!("must be 0 (vectors), 2 or 3, got {}", self.spatial_dims),
            )
            .into());
        }
        if self.data_channels == 0 || self.latent_channels == 0 {
            return Err(CoreError::config(
                "data_channels/latent_channels",
                format!(
                    "must be positive, got {} and {}",
                    self.data_channels, self.latent_channels
                ),
            )
            .into());
        }
        if self.hidden.contains(&0) || (self.spatial_dims > 0 && self.hidden.is_empty()) {
            return Err(CoreError::config(
                "hidden",
                format!(
                    "needs positive widths (at least one for convolutions), got {:?}",
                    self.hidden
                ),
            )
            .into());
        }
        Ok(())
    }

    /// The spatial downsampling factor `f` from data to latents (`1` for vectors).
    pub fn downsampling(&self) -> usize {
        if self.spatial_dims == 0 { 1 } else { 1 << self.hidden.len().saturating_sub(1) }
    }

    /// The tensor rank of data and latents: 2 for vectors, `spatial_dims + 2` otherwise.
    pub fn rank(&self) -> usize {
        if self.spatial_dims == 0 { 2 } else { self.spatial_dims + 2 }
    }

    /// An encoder `data_channels + extra_in → out_channels`.
    pub fn encoder(
        &self,
        extra_in: usize,
        out_channels: usize,
        device: &Device,
    ) -> crate::Result<Coder> {
        self.validate()?;
        self.build(self.data_channels + extra_in, out_channels, false, device)
    }

    /// A decoder `latent_channels + extra_in → out_channels`.
    pub fn decoder(
        &self,
        extra_in: usize,
        out_channels: usize,
        device: &Device,
    ) -> crate::Result<Coder> {
        self.validate()?;
        self.build(self.latent_channels + extra_in, out_channels, true, device)
    }

    fn build(
        &self,
        input: usize,
        output: usize,
        decoder: bool,
        device: &Device,
    ) -> crate::Result<Coder> {
        if self.spatial_dims == 0 {
            let mut dims = vec![input];
            if decoder {
                dims.extend(self.hidden.iter().rev());
            } else {
                dims.extend(&self.hidden);
            }
            dims.push(output);
            return Ok(Coder::Mlp(MlpConfig::new(dims).init(device)?));
        }
        let build = if decoder { ConvStack::decoder } else { ConvStack::encoder };
        Ok(Coder::Conv(build(self.spatial_dims, input, &self.hidden, output, device)?))
    }

    /// Checks a data batch `x`: rank, channel count `data_channels`, a non-empty batch and
    /// spatial sizes that are positive multiples of [`Self::downsampling`].
    pub fn check_data<const D: usize>(&self, x: &Tensor<D>) -> crate::Result<()> {
        self.check(&x.dims(), self.data_channels, self.downsampling(), "data")
    }

    /// Checks a latent batch `z`: rank, `latent_channels` channels, non-empty sizes.
    pub fn check_latent<const D: usize>(&self, z: &Tensor<D>) -> crate::Result<()> {
        self.check(&z.dims(), self.latent_channels, 1, "latent")
    }

    fn check(
        &self,
        dims: &[usize],
        channels: usize,
        multiple: usize,
        what: &str,
    ) -> crate::Result<()> {
        let rank = self.rank();
        if dims.len() != rank {
            return Err(CoreError::InvalidRank {
                what: what.into(),
                expected: rank,
                got: dims.len(),
            }
            .into());
        }
        if dims[0] == 0 || dims[1] != channels {
            return Err(CoreError::shape(
                what,
                format!("a non-empty batch with {channels} channels"),
                dims,
            )
            .into());
        }
        if dims[2..].iter().any(|&n| n == 0 || !n.is_multiple_of(multiple)) {
            return Err(CoreError::shape(
                what,
                format!("spatial sizes that are positive multiples of {multiple}"),
                dims,
            )
            .into());
        }
        Ok(())
    }

    /// The latent shape for a data shape that passed [`Self::check_data`].
    pub fn latent_dims<const D: usize>(&self, data_dims: [usize; D]) -> [usize; D] {
        let f = self.downsampling();
        let mut dims = data_dims;
        dims[1] = self.latent_channels;
        for n in &mut dims[2..] {
            *n /= f;
        }
        dims
    }

    /// The data shape decoded from a latent shape.
    pub fn data_dims<const D: usize>(&self, latent_dims: [usize; D]) -> [usize; D] {
        let f = self.downsampling();
        let mut dims = latent_dims;
        dims[1] = self.data_channels;
        for n in &mut dims[2..] {
            *n *= f;
        }
        dims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VaeError;
    use medgen_testing::test_device;

    #[test]
    fn conv_backbones_map_shapes_in_2d_and_3d() {
        let device = test_device();
        let config = BackboneConfig::new(2, 1, 3).with_hidden(vec![4, 8, 8]);
        assert_eq!(config.downsampling(), 4);
        let enc = config.encoder(0, 6, &device).unwrap();
        let dec = config.decoder(2, 1, &device).unwrap();
        let z = enc.forward(Tensor::<4>::zeros([2, 1, 8, 12], &device));
        assert_eq!(z.dims(), [2, 6, 2, 3]);
        assert_eq!(config.latent_dims([2, 1, 8, 12]), [2, 3, 2, 3]);
        let x = dec.forward(Tensor::<4>::zeros([2, 5, 2, 3], &device));
        assert_eq!(x.dims(), [2, 1, 8, 12]);

        let config = BackboneConfig::new(3, 2, 1).with_hidden(vec![4, 4]);
        let z = config
            .encoder(0, 1, &device)
            .unwrap()
            .forward(Tensor::<5>::zeros([1, 2, 4, 2, 6], &device));
        assert_eq!(z.dims(), [1, 1, 2, 1, 3]);
        let x = config.decoder(0, 2, &device).unwrap().forward(z);
        assert_eq!(x.dims(), [1, 2, 4, 2, 6]);
    }

    #[test]
    fn bad_shapes_and_configs_are_typed_errors() {
        let device = test_device();
        let config = BackboneConfig::new(2, 1, 3).with_hidden(vec![4, 8]);
        // 7 is not a multiple of the downsampling factor 2.
        let odd = Tensor::<4>::zeros([1, 1, 8, 7], &device);
        assert!(matches!(
            config.check_data(&odd),
            Err(VaeError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let wrong_rank = Tensor::<2>::zeros([1, 1], &device);
        assert!(config.check_data(&wrong_rank).is_err());
        assert!(config.check_data(&Tensor::<4>::zeros([1, 2, 8, 8], &device)).is_err());
        for bad in [
            BackboneConfig::new(2, 1, 0),
            BackboneConfig::new(1, 1, 2),
            BackboneConfig::new(2, 1, 2).with_hidden(vec![]),
        ] {
            assert!(matches!(
                bad.encoder(0, 2, &device),
                Err(VaeError::Core(CoreError::InvalidConfig { .. }))
            ));
        }
    }
}

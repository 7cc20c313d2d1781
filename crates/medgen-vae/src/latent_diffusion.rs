//! Latent diffusion (Rombach et al. 2022): a diffusion model trained on the scaled latents of
//! a trained autoencoder, sampled in latent space and decoded.
//!
//! ```text
//! z = s · E(x)                           (encode_dataset, then LatentScale::estimate → s)
//! train ε_θ(z_t, t, c) on z              (medgen_diffusion::DenoisingLoss with CFG dropout)
//! ẑ ~ sampler(ε_θ, guidance w)           (medgen_diffusion::sample)
//! x̂ = D(ẑ / s)                           (latent_diffusion_sample)
//! ```

use burn::tensor::{Device, Tensor};
use medgen_core::check::{ensure_finite, ensure_non_empty};
use medgen_core::noise::gaussian_noise;
use medgen_core::{Autoencoder, Condition, CoreError, SeededRng, TimeConditionedNetwork};
use medgen_diffusion::{GuidanceConfig, Scheduler, sample};

/// The latent scale factor `s = 1 / std(z)` (Stable Diffusion's `scale_factor`, MONAI's
/// `LatentDiffusionInferer(scale_factor=…)`), so that the scaled latents `s z` have unit
/// variance like the diffusion prior.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatentScale {
    /// The factor `s > 0`.
    pub factor: f64,
}

impl LatentScale {
    /// Estimates `s = 1 / std(z)` over all elements of `latents` (`std` with the `1/M`
    /// normaliser over `M` elements). Reads two scalars back to the host.
    ///
    /// Errors: empty or non-finite latents, or a zero standard deviation.
    pub fn estimate<const D: usize>(latents: &Tensor<D>) -> crate::Result<Self> {
        ensure_non_empty(&latents.dims(), "latents")?;
        ensure_finite(latents, "latents")?;
        let mean = latents.clone().mean();
        let var =
            latents.clone().sub(mean.reshape([1; D])).square().mean().into_scalar::<f32>() as f64;
        if var <= 0.0 {
            return Err(
                CoreError::config("latents", "have zero variance: cannot scale them").into()
            );
        }
        Ok(Self { factor: 1.0 / var.sqrt() })
    }

    /// `s · z`.
    pub fn scale<const D: usize>(&self, z: Tensor<D>) -> Tensor<D> {
        z.mul_scalar(self.factor)
    }

    /// `z / s`.
    pub fn unscale<const D: usize>(&self, z: Tensor<D>) -> Tensor<D> {
        z.div_scalar(self.factor)
    }
}

/// Encodes `images` `[N, ...]` in chunks of `batch_size` with `autoencoder` (for a VAE, the
/// posterior mean) and concatenates the codes, `[N, ...latent]`.
///
/// Errors: `batch_size = 0`, an empty data set, and the autoencoder's errors.
pub fn encode_dataset<const D: usize, A>(
    autoencoder: &A,
    images: &Tensor<D>,
    batch_size: usize,
) -> crate::Result<Tensor<D>>
where
    A: Autoencoder<D, D> + ?Sized,
    crate::VaeError: From<A::Error>,
{
    let n = images.dims()[0];
    if batch_size == 0 || n == 0 {
        return Err(CoreError::config(
            "batch_size",
            format!("needs a positive batch size and data, got {batch_size} and {n} items"),
        )
        .into());
    }
    let mut codes = Vec::with_capacity(n.div_ceil(batch_size));
    for start in (0..n).step_by(batch_size) {
        let end = (start + batch_size).min(n);
        codes.push(autoencoder.encode(images.clone().slice(start..end))?);
    }
    Ok(Tensor::cat(codes, 0))
}

/// Samples latents of shape `latent_shape` with `network` and `scheduler` (initial noise
/// `σ_T · ε` from `rng`, guidance as configured), then decodes `x̂ = D(ẑ / s)`.
///
/// Errors: those of the sampler (timesteps not set, guidance without a condition, shapes) and
/// of the decoder.
#[allow(clippy::too_many_arguments)]
pub fn latent_diffusion_sample<const D: usize, A, N, S>(
    autoencoder: &A,
    network: &N,
    scheduler: &mut S,
    scale: LatentScale,
    latent_shape: [usize; D],
    condition: &Condition<D>,
    guidance: &GuidanceConfig,
    rng: &mut SeededRng,
    device: &Device,
) -> crate::Result<Tensor<D>>
where
    A: Autoencoder<D, D> + ?Sized,
    crate::VaeError: From<A::Error>,
    N: TimeConditionedNetwork<D> + ?Sized,
    S: Scheduler<D> + ?Sized,
{
    let z_t = gaussian_noise(latent_shape, rng, device)?.mul_scalar(scheduler.init_noise_sigma());
    let latents = sample(network, scheduler, z_t, condition, guidance, rng)?.sample;
    Ok(autoencoder.decode(scale.unscale(latents))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoencoder::AeConfig;
    use crate::backbone::BackboneConfig;
    use medgen_core::seeded_rng;
    use medgen_diffusion::DdimSchedulerConfig;
    use medgen_nn::UNetConfig;
    use medgen_testing::test_device;

    #[test]
    fn scale_factor_is_the_inverse_std() {
        let device = test_device();
        let z = Tensor::<2>::from_floats([[1.0, 3.0], [5.0, 7.0]], &device);
        // mean 4, variance (9 + 1 + 1 + 9) / 4 = 5.
        let s = LatentScale::estimate(&z).unwrap();
        assert!((s.factor - 1.0 / 5f64.sqrt()).abs() < 1e-6);
        assert!(LatentScale::estimate(&Tensor::<2>::ones([2, 2], &device)).is_err());
        let nan = Tensor::<2>::from_floats([[f32::NAN]], &device);
        assert!(LatentScale::estimate(&nan).is_err());
    }

    /// Encode a 2D data set in chunks, then sample and decode through an untrained U-Net:
    /// the shapes of the whole pipeline (chunked encoding equals encoding at once).
    #[test]
    fn encode_sample_decode_shapes() {
        let device = test_device();
        let ae = AeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4, 4]))
            .init(&device)
            .unwrap();
        let mut rng = seeded_rng(0);
        let x = gaussian_noise([5, 1, 8, 8], &mut rng, &device).unwrap();
        let chunked = encode_dataset(&ae, &x, 2).unwrap();
        let whole = ae.encode(x.clone()).unwrap();
        let diff = chunked.sub(whole.clone()).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5);
        assert!(encode_dataset(&ae, &x, 0).is_err());
        let unet = UNetConfig::new(2, 2)
            .with_base_channels(8)
            .with_channel_mults(vec![1])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_middle_attention(false)
            .with_groups(4)
            .with_embedding_dim(Some(1))
            .init(&device)
            .unwrap();
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        scheduler.set_timesteps(2).unwrap();
        let cond = Condition::none().with_embedding(Tensor::<2>::zeros([3, 1], &device));
        let out = latent_diffusion_sample(
            &ae,
            &unet,
            &mut scheduler,
            LatentScale::estimate(&whole).unwrap(),
            [3, 2, 4, 4],
            &cond,
            &GuidanceConfig::new().with_scale(2.0),
            &mut rng,
            &device,
        )
        .unwrap();
        assert_eq!(out.dims(), [3, 1, 8, 8]);
    }

    /// The same pipeline on volumes: a 3D VAE's posterior means as latents, a 3D U-Net, and
    /// decoded samples of the data's shape.
    #[test]
    fn volume_pipeline_shapes() {
        let device = test_device();
        let vae = crate::vae::VaeConfig::new(BackboneConfig::new(3, 1, 2).with_hidden(vec![4, 4]))
            .init(&device)
            .unwrap();
        let mut rng = seeded_rng(1);
        let x = gaussian_noise([3, 1, 4, 4, 4], &mut rng, &device).unwrap();
        let latents = encode_dataset(&vae, &x, 2).unwrap();
        assert_eq!(latents.dims(), [3, 2, 2, 2, 2]);
        let unet = UNetConfig::new(2, 2)
            .with_spatial_dims(3)
            .with_base_channels(8)
            .with_channel_mults(vec![1])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_middle_attention(false)
            .with_groups(4)
            .init(&device)
            .unwrap();
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        scheduler.set_timesteps(2).unwrap();
        let out = latent_diffusion_sample(
            &vae,
            &unet,
            &mut scheduler,
            LatentScale::estimate(&latents).unwrap(),
            [2, 2, 2, 2, 2],
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut rng,
            &device,
        )
        .unwrap();
        assert_eq!(out.dims(), [2, 1, 4, 4, 4]);
    }
}

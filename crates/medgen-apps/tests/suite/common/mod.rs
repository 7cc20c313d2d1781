//! Fixtures shared by the medgen-apps test suites: oracle networks and small phantom sets.

use burn::tensor::{Device, Tensor};
use medgen_core::{Condition, CoreError, seeded_rng};
use medgen_data::PhantomConfig;
use medgen_diffusion::NoiseSchedule;

/// An oracle noise predictor that knows the clean image `x0` behind every noisy input:
/// `ε̂ = (x_t − √ᾱ_t x₀) / √(1−ᾱ_t)`, so its `x̂₀` is `x0` exactly.
pub(crate) fn oracle(
    x0: Tensor<4>,
    schedule: NoiseSchedule,
) -> impl Fn(Tensor<4>, Tensor<1>, &Condition<4>) -> Result<Tensor<4>, CoreError> {
    move |x_t: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
        let step = t.narrow(0, 0, 1).into_scalar::<f32>() as usize;
        let alpha = schedule.alphas_cumprod()[step];
        Ok(x_t.sub(x0.clone().mul_scalar(alpha.sqrt())).div_scalar((1.0 - alpha).sqrt()))
    }
}

/// `n` 2D phantoms of `size`², with or without lesions, and their lesion masks (`[n, 1, H, W]`).
pub(crate) fn phantoms(
    n: usize,
    size: usize,
    lesions: bool,
    seed: u64,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let config = PhantomConfig::new(size).with_lesion_probability(if lesions { 1.0 } else { 0.0 });
    let batch = config.generate_batch(n, &mut seeded_rng(seed)).unwrap();
    let tensors = batch.to_tensors::<4>(device).unwrap();
    (tensors.images, tensors.lesion_masks)
}

//! Paired image-to-image data from the synthetic brain phantoms (medgen downloads nothing):
//!
//! - **low-dose denoising** ([`low_dose_pairs`]): the clean phantom is the target and a
//!   simulated low-dose acquisition of it the input, with either a photon-count model or
//!   spatially correlated Gaussian noise ([`LowDoseNoise`]);
//! - **cross-modality synthesis** ([`contrast_pairs`]): the phantom (T1-like: CSF dark, white
//!   matter bright) is the input and a second contrast of the same anatomy, rendered from the
//!   tissue labels with other intensities ([`TissueContrast`], T2-like by default: CSF
//!   bright, white matter dark), the target.
//!
//! Both work on 2D (`[N, 1, H, W]`) and 3D (`[N, 1, D, H, W]`) phantom batches; every random
//! draw comes from the caller's generator, so the same seed gives the same pairs.

use crate::{PhantomBatch, tissue};
use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::CoreError;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Poisson, StandardNormal};

use medgen_core::Result;

/// The simulated low-dose acquisition of a clean image `x ∈ [0, 1]`.
#[derive(Config, Debug, PartialEq)]
pub enum LowDoseNoise {
    /// A transmission (photon-count) model without a sinogram: each pixel's intensity is read
    /// as an attenuation line integral `μ = μ_max · x`; the detector counts
    /// `k ~ Poisson(I₀ · exp(−μ))` photons, and the low-dose image is the log-transformed
    /// estimate `x̂ = clamp(−ln(max(k, ½) / I₀) / μ_max, 0, 1)`. Its variance
    /// `≈ exp(μ) / (I₀ μ_max²)` grows with the attenuation, as in low-dose CT; fewer photons
    /// `I₀` mean more noise.
    Poisson {
        /// Incident photons per pixel `I₀ > 0` (e.g. 1e5 full dose, a few hundred low dose).
        incident_photons: f64,
        /// The attenuation `μ_max > 0` of an intensity-1 pixel.
        max_attenuation: f64,
    },
    /// Additive stationary noise `x̂ = clamp(x + σ · (k_ℓ ∗ ε) / ‖k_ℓ‖₂, 0, 1)`, white
    /// Gaussian `ε` smoothed by a normalised Gaussian kernel `k_ℓ` of standard deviation
    /// `ℓ` pixels along every axis, rescaled so that each pixel's noise has standard deviation
    /// exactly `σ` (the streaky, correlated texture of reconstructed low-dose CT).
    CorrelatedGaussian {
        /// The per-pixel noise standard deviation `σ ≥ 0`.
        sigma: f64,
        /// The correlation length `ℓ ≥ 0` in pixels (0: white noise).
        correlation_length: f64,
    },
}

impl LowDoseNoise {
    /// A low-dose photon-count model: `I₀ = 250`, `μ_max = 3`.
    pub fn low_dose_ct() -> Self {
        Self::Poisson { incident_photons: 250.0, max_attenuation: 3.0 }
    }

    /// Checks that the parameters are finite and in range.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(CoreError::config(name, format!("must be positive and finite, got {v}")))
            }
        };
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(CoreError::config(name, format!("must be finite and ≥ 0, got {v}")))
            }
        };
        match *self {
            Self::Poisson { incident_photons, max_attenuation } => {
                positive("incident_photons", incident_photons)?;
                positive("max_attenuation", max_attenuation)?;
            }
            Self::CorrelatedGaussian { sigma, correlation_length } => {
                non_negative("sigma", sigma)?;
                non_negative("correlation_length", correlation_length)?;
            }
        }
        Ok(())
    }

    /// The low-dose version of `images` (values in `[0, 1]`, C-order, spatial size
    /// `spatial` per item), drawing from `rng`.
    fn apply<R: Rng + ?Sized>(&self, images: &[f32], spatial: &[usize], rng: &mut R) -> Vec<f32> {
        match *self {
            Self::Poisson { incident_photons, max_attenuation } => images
                .iter()
                .map(|&x| {
                    let expected = incident_photons * (-max_attenuation * f64::from(x)).exp();
                    let counts = Poisson::new(expected).map_or(0.0, |p| p.sample(rng));
                    let mu = -(counts.max(0.5) / incident_photons).ln();
                    (mu / max_attenuation).clamp(0.0, 1.0) as f32
                })
                .collect(),
            Self::CorrelatedGaussian { sigma, correlation_length } => {
                let item = spatial.iter().product::<usize>();
                let mut out = Vec::with_capacity(images.len());
                for image in images.chunks(item) {
                    let noise = correlated_noise(spatial, correlation_length, rng);
                    out.extend(
                        image
                            .iter()
                            .zip(noise)
                            .map(|(&x, e)| (f64::from(x) + sigma * e).clamp(0.0, 1.0) as f32),
                    );
                }
                out
            }
        }
    }
}

/// Per-tissue intensities in `[0, 1]` of a second contrast, rendered from a phantom's labels
/// (see [`tissue`]). The default is T2-like: fluid bright, white matter darker than grey.
#[derive(Config, Debug, PartialEq)]
pub struct TissueContrast {
    /// Background (air).
    #[config(default = 0.0)]
    pub background: f32,
    /// Skull / scalp ring.
    #[config(default = 0.3)]
    pub skull: f32,
    /// Cerebrospinal fluid.
    #[config(default = 0.92)]
    pub csf: f32,
    /// Grey matter.
    #[config(default = 0.6)]
    pub grey: f32,
    /// White matter.
    #[config(default = 0.4)]
    pub white: f32,
    /// Ventricles.
    #[config(default = 0.98)]
    pub ventricle: f32,
    /// Lesions (hyper-intense in T2 whatever their T1 contrast).
    #[config(default = 0.8)]
    pub lesion: f32,
    /// Standard deviation `≥ 0`, in pixels, of a Gaussian blur giving the hard label edges a
    /// partial-volume look.
    #[config(default = 0.6)]
    pub edge_blur: f64,
    /// Standard deviation in `[0, 1]` of white Gaussian noise added to the target.
    #[config(default = 0.0)]
    pub noise_std: f64,
}

impl TissueContrast {
    /// Checks that every intensity lies in `[0, 1]`, the blur is finite and `≥ 0` and the
    /// noise in `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in self.named_intensities() {
            if !(0.0..=1.0).contains(&v) {
                return Err(CoreError::config(name, format!("must lie in [0, 1], got {v}")));
            }
        }
        if !(self.edge_blur.is_finite() && self.edge_blur >= 0.0) {
            return Err(CoreError::config(
                "edge_blur",
                format!("must be finite and ≥ 0, got {}", self.edge_blur),
            ));
        }
        if !(0.0..=1.0).contains(&self.noise_std) {
            return Err(CoreError::config(
                "noise_std",
                format!("must lie in [0, 1], got {}", self.noise_std),
            ));
        }
        Ok(())
    }

    fn named_intensities(&self) -> [(&'static str, f32); tissue::COUNT] {
        [
            ("background", self.background),
            ("skull", self.skull),
            ("csf", self.csf),
            ("grey", self.grey),
            ("white", self.white),
            ("ventricle", self.ventricle),
            ("lesion", self.lesion),
        ]
    }

    /// The intensity of tissue `label` (labels beyond [`tissue::LESION`] render as
    /// background).
    pub fn intensity(&self, label: u8) -> f32 {
        self.named_intensities().get(usize::from(label)).map_or(self.background, |(_, v)| *v)
    }
}

/// `N` image pairs on the host: `source` (the network input) and `target`, both
/// `[N, 1, spatial...]` in `[0, 1]`, C-order.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedImages {
    /// The spatial size, `[H, W]` or `[D, H, W]`.
    pub spatial: Vec<usize>,
    /// Input images.
    pub source: Vec<f32>,
    /// Target images.
    pub target: Vec<f32>,
}

impl PairedImages {
    /// The number of pairs `N`.
    pub fn len(&self) -> usize {
        let item = self.spatial.iter().product::<usize>();
        self.source.len().checked_div(item).unwrap_or(0)
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Uploads `(source, target)` mapped to `[-1, 1]` (`2x − 1`), each `[N, 1, spatial...]`;
    /// `D` must be `spatial.len() + 2`.
    ///
    /// # Errors
    /// [`CoreError::InvalidRank`] for another `D`.
    pub fn to_tensors<const D: usize>(&self, device: &Device) -> Result<(Tensor<D>, Tensor<D>)> {
        if D != self.spatial.len() + 2 {
            return Err(CoreError::InvalidRank {
                what: "paired images".into(),
                expected: self.spatial.len() + 2,
                got: D,
            });
        }
        let mut shape = vec![self.len(), 1];
        shape.extend_from_slice(&self.spatial);
        let upload = |values: &[f32]| {
            let mapped: Vec<f32> = values.iter().map(|v| 2.0 * v - 1.0).collect();
            Tensor::<D>::from_data(TensorData::new(mapped, shape.clone()), device)
        };
        Ok((upload(&self.source), upload(&self.target)))
    }
}

/// Low-dose denoising pairs: `target` the phantoms of `batch`, `source` their low-dose
/// version under `noise` (use phantoms generated with `noise_std = 0` for noise-free
/// targets).
///
/// # Errors
/// [`CoreError::InvalidConfig`] for invalid noise parameters, [`CoreError::Empty`] for an
/// empty batch, [`CoreError::ShapeMismatch`] or [`CoreError::InvalidRank`] for a
/// hand-built batch whose buffers do not fit its 2D or 3D `spatial` shape.
pub fn low_dose_pairs<R: Rng + ?Sized>(
    batch: &PhantomBatch,
    noise: &LowDoseNoise,
    rng: &mut R,
) -> Result<PairedImages> {
    noise.validate()?;
    ensure_items(batch)?;
    Ok(PairedImages {
        spatial: batch.spatial.clone(),
        source: noise.apply(&batch.images, &batch.spatial, rng),
        target: batch.images.clone(),
    })
}

/// Cross-modality pairs: `source` the phantoms of `batch` (T1-like), `target` the same
/// anatomy rendered from its labels with `contrast`, blurred by `contrast.edge_blur` pixels
/// and with `contrast.noise_std` white noise, clamped to `[0, 1]`.
///
/// # Errors
/// [`CoreError::InvalidConfig`] for an invalid contrast, [`CoreError::Empty`] for an empty
/// batch, [`CoreError::ShapeMismatch`] or [`CoreError::InvalidRank`] for a
/// hand-built batch whose buffers do not fit its 2D or 3D `spatial` shape.
pub fn contrast_pairs<R: Rng + ?Sized>(
    batch: &PhantomBatch,
    contrast: &TissueContrast,
    rng: &mut R,
) -> Result<PairedImages> {
    contrast.validate()?;
    ensure_items(batch)?;
    let item = batch.item_len();
    let kernel = gaussian_kernel(contrast.edge_blur);
    let mut target = Vec::with_capacity(batch.labels.len());
    for labels in batch.labels.chunks(item) {
        let mut image: Vec<f64> =
            labels.iter().map(|&l| f64::from(contrast.intensity(l))).collect();
        for axis in 0..batch.spatial.len() {
            image = blur_axis(&image, &batch.spatial, axis, &kernel, Edge::Clamp).0;
        }
        target.extend(image.into_iter().map(|v| {
            let noise = contrast.noise_std * rng.sample::<f64, _>(StandardNormal);
            (v + noise).clamp(0.0, 1.0) as f32
        }));
    }
    Ok(PairedImages { spatial: batch.spatial.clone(), source: batch.images.clone(), target })
}

fn ensure_items(batch: &PhantomBatch) -> Result<()> {
    if batch.is_empty() || batch.item_len() == 0 {
        return Err(CoreError::Empty { what: "phantom batch".into() });
    }
    batch.check_layout()
}

/// The normalised Gaussian kernel `k_i ∝ exp(−i² / (2 s²))`, `|i| ≤ ⌈3 s⌉`; `[1]` for `s = 0`.
fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    if sigma <= 0.0 {
        return vec![1.0];
    }
    let radius = (3.0 * sigma).ceil() as i64;
    let weights: Vec<f64> =
        (-radius..=radius).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// What [`blur_axis`] does at the ends of an axis.
#[derive(Clone, Copy)]
enum Edge {
    /// Repeat the border value (same-size output).
    Clamp,
    /// Keep only the positions where the kernel fits (the axis shrinks by `len(kernel) − 1`).
    Valid,
}

/// Convolves a C-order array of shape `shape` with the odd-length `kernel` along `axis`;
/// returns the values and their new shape.
fn blur_axis(
    values: &[f64],
    shape: &[usize],
    axis: usize,
    kernel: &[f64],
    edge: Edge,
) -> (Vec<f64>, Vec<usize>) {
    let radius = kernel.len() / 2;
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let out_len = match edge {
        Edge::Clamp => len,
        Edge::Valid => len + 1 - kernel.len(),
    };
    let mut out = Vec::with_capacity(outer * out_len * inner);
    for o in 0..outer {
        for i in 0..out_len {
            for j in 0..inner {
                let value = kernel
                    .iter()
                    .enumerate()
                    .map(|(t, w)| {
                        let source = match edge {
                            Edge::Clamp => (i + t).saturating_sub(radius).min(len - 1),
                            Edge::Valid => i + t,
                        };
                        w * values[(o * len + source) * inner + j]
                    })
                    .sum::<f64>();
                out.push(value);
            }
        }
    }
    let mut new_shape = shape.to_vec();
    new_shape[axis] = out_len;
    (out, new_shape)
}

/// Stationary Gaussian noise of unit variance with a Gaussian autocorrelation of length `ℓ`
/// on the grid `spatial`: white noise on a grid padded by the kernel radius, blurred with
/// "valid" edges along each axis and divided by `‖k‖₂^{#axes}`, the factor by which the blur
/// shrinks its standard deviation.
fn correlated_noise<R: Rng + ?Sized>(spatial: &[usize], length: f64, rng: &mut R) -> Vec<f64> {
    let kernel = gaussian_kernel(length);
    let pad = kernel.len() - 1;
    let mut shape: Vec<usize> = spatial.iter().map(|s| s + pad).collect();
    let count: usize = shape.iter().product();
    let mut field: Vec<f64> = (0..count).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    for axis in 0..spatial.len() {
        (field, shape) = blur_axis(&field, &shape, axis, &kernel, Edge::Valid);
    }
    let norm = kernel.iter().map(|w| w * w).sum::<f64>().sqrt();
    let scale = norm.powi(spatial.len() as i32).recip();
    field.into_iter().map(|v| v * scale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PhantomConfig;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn phantoms(n: usize) -> PhantomBatch {
        PhantomConfig::new(24).with_noise_std(0.0).generate_batch(n, &mut seeded_rng(4)).unwrap()
    }

    #[test]
    fn poisson_noise_has_the_photon_count_variance_and_is_seeded() {
        // A flat image at x = 0.5: Var(x̂) ≈ exp(μ) / (I₀ μ_max²) by the delta method.
        let (i0, mu_max, x) = (1000.0, 2.0, 0.5f64);
        let batch = PhantomBatch {
            spatial: vec![64, 64],
            images: vec![x as f32; 64 * 64],
            labels: vec![0; 64 * 64],
            covariates: phantoms(1).covariates,
        };
        let noise = LowDoseNoise::Poisson { incident_photons: i0, max_attenuation: mu_max };
        let pairs = low_dose_pairs(&batch, &noise, &mut seeded_rng(1)).unwrap();
        let n = pairs.source.len() as f64;
        let mean = pairs.source.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var =
            pairs.source.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let expected = (mu_max * x).exp() / (i0 * mu_max * mu_max);
        assert!((mean - x).abs() < 0.005, "mean {mean}");
        assert!((var / expected - 1.0).abs() < 0.1, "var {var} vs {expected}");
        assert_eq!(pairs.target, batch.images);
        let again = low_dose_pairs(&batch, &noise, &mut seeded_rng(1)).unwrap();
        assert_eq!(again, pairs);
    }

    #[test]
    fn correlated_noise_has_the_requested_std_and_correlation() {
        let mut rng = seeded_rng(2);
        let (h, w, length) = (48usize, 48usize, 2.0);
        let mut values = Vec::new();
        for _ in 0..8 {
            values.extend(correlated_noise(&[h, w], length, &mut rng));
        }
        let n = values.len() as f64;
        let var = values.iter().map(|v| v * v).sum::<f64>() / n;
        assert!((var - 1.0).abs() < 0.1, "variance {var}");
        // Neighbour correlation of a Gaussian-blurred field: exp(−1 / (4 ℓ²)) along an axis.
        let lag1: f64 =
            values.chunks(w).flat_map(|row| row.windows(2).map(|p| p[0] * p[1])).sum::<f64>()
                / (values.len() / w * (w - 1)) as f64;
        let expected = (-1.0 / (4.0 * length * length)).exp();
        assert!((lag1 / var - expected).abs() < 0.05, "{} vs {expected}", lag1 / var);
    }

    #[test]
    fn contrast_pairs_render_the_second_contrast_from_labels() {
        let batch = phantoms(2);
        let contrast = TissueContrast::new().with_edge_blur(0.0);
        let pairs = contrast_pairs(&batch, &contrast, &mut seeded_rng(0)).unwrap();
        assert_eq!(pairs.source, batch.images);
        for (t, &l) in pairs.target.iter().zip(&batch.labels) {
            assert_eq!(*t, contrast.intensity(l));
        }
        // T1: CSF darker than white matter; the T2-like target inverts that.
        let mean_of = |values: &[f32], label: u8| {
            let picked: Vec<f32> = values
                .iter()
                .zip(&batch.labels)
                .filter(|&(_, &l)| l == label)
                .map(|(v, _)| *v)
                .collect();
            picked.iter().sum::<f32>() / picked.len() as f32
        };
        assert!(mean_of(&pairs.source, tissue::CSF) < mean_of(&pairs.source, tissue::WHITE));
        assert!(mean_of(&pairs.target, tissue::CSF) > mean_of(&pairs.target, tissue::WHITE));
        let (source, target) = pairs.to_tensors::<4>(&test_device()).unwrap();
        assert_eq!(source.dims(), [2, 1, 24, 24]);
        assert_eq!(target.dims(), [2, 1, 24, 24]);
        assert!(pairs.to_tensors::<5>(&test_device()).is_err());
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let batch = phantoms(1);
        let mut rng = seeded_rng(0);
        let bad = LowDoseNoise::Poisson { incident_photons: 0.0, max_attenuation: 1.0 };
        assert!(low_dose_pairs(&batch, &bad, &mut rng).is_err());
        let bad = LowDoseNoise::CorrelatedGaussian { sigma: f64::NAN, correlation_length: 1.0 };
        assert!(low_dose_pairs(&batch, &bad, &mut rng).is_err());
        let bad = TissueContrast::new().with_csf(1.5);
        assert!(contrast_pairs(&batch, &bad, &mut rng).is_err());
        let empty = PhantomBatch {
            spatial: vec![4, 4],
            images: vec![],
            labels: vec![],
            covariates: vec![],
        };
        assert!(low_dose_pairs(&empty, &LowDoseNoise::low_dose_ct(), &mut rng).is_err());
    }
}

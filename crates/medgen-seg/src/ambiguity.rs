//! Ambiguous annotations (several plausible masks per image) and the measurements that
//! relate a segmenter's uncertainty to its errors.

use burn::prelude::*;
use medgen_core::CoreError;
use medgen_data::{PhantomBatch, PhantomConfig};
use rand::Rng;

use super::dataset::SegmentationDataset;
use crate::error::Result;
use medgen_sdf::{SdfConfig, signed_distance};

/// 2D phantoms with `A` simulated lesion annotations each (medgen-core's
/// [`PhantomBatch::lesion_annotations`]: each annotator draws the boundary a few pixels
/// outside or inside the true one), as host buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct AmbiguousPhantoms {
    /// Images `[N, 1, H, W]`, intensities mapped from `[0, 1]` to `[−1, 1]` (`2v − 1`).
    pub images: Vec<f32>,
    /// The true lesion masks `[N, H, W]`.
    pub truth: Vec<bool>,
    /// The annotations `[N, A, H, W]`.
    pub annotations: Vec<bool>,
    /// `A`.
    pub annotators: usize,
    /// `[H, W]`.
    pub spatial: Vec<usize>,
}

impl AmbiguousPhantoms {
    /// Generates `n` 2D phantoms from `config` and `annotators` annotations of each, with
    /// boundary offsets up to `max_offset` pixels, all from `rng`.
    ///
    /// # Errors
    /// Invalid phantom settings, `n = 0`, `annotators = 0` or `max_offset > 8`.
    pub fn generate<R: Rng + ?Sized>(
        config: &PhantomConfig,
        n: usize,
        annotators: usize,
        max_offset: u32,
        rng: &mut R,
    ) -> Result<Self> {
        let batch = config.generate_batch(n, rng)?;
        Self::from_batch(&batch, annotators, max_offset, rng)
    }

    /// Annotates an existing 2D phantom batch (see [`AmbiguousPhantoms::generate`]).
    pub fn from_batch<R: Rng + ?Sized>(
        batch: &PhantomBatch,
        annotators: usize,
        max_offset: u32,
        rng: &mut R,
    ) -> Result<Self> {
        if batch.spatial.len() != 2 {
            return Err(CoreError::shape("phantoms", "2D", &batch.spatial).into());
        }
        let annotations = batch.lesion_annotations(annotators, max_offset, rng)?;
        Ok(Self {
            images: batch.images.iter().map(|v| 2.0 * v - 1.0).collect(),
            truth: batch.lesion_masks().into_iter().map(|m| m == 1).collect(),
            annotations: annotations.masks.into_iter().map(|m| m == 1).collect(),
            annotators,
            spatial: batch.spatial.clone(),
        })
    }

    fn item_len(&self) -> usize {
        self.spatial.iter().product()
    }

    /// The number of images `N`.
    pub fn len(&self) -> usize {
        self.truth.len() / self.item_len().max(1)
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `i` (`[1, H, W]`).
    ///
    /// # Panics
    /// Panics if `i ≥ len()` (an index out of range, as for a slice).
    #[track_caller]
    pub fn image(&self, i: usize) -> &[f32] {
        self.check_index(i);
        let len = self.item_len();
        &self.images[i * len..(i + 1) * len]
    }

    /// The true mask of image `i`.
    ///
    /// # Panics
    /// Panics if `i ≥ len()` (an index out of range, as for a slice).
    #[track_caller]
    pub fn truth(&self, i: usize) -> &[bool] {
        self.check_index(i);
        let len = self.item_len();
        &self.truth[i * len..(i + 1) * len]
    }

    #[track_caller]
    fn check_index(&self, i: usize) {
        assert!(i < self.len(), "image index {i} out of range for {} images", self.len());
    }

    /// The `A` annotations of image `i`.
    ///
    /// # Panics
    /// Panics if `i ≥ len()` (an index out of range, as for a slice).
    #[track_caller]
    pub fn annotations(&self, i: usize) -> Vec<&[bool]> {
        self.check_index(i);
        let len = self.item_len();
        (0..self.annotators)
            .map(|a| {
                &self.annotations
                    [(i * self.annotators + a) * len..(i * self.annotators + a + 1) * len]
            })
            .collect()
    }

    /// The images `[N, 1, H, W]` as a tensor on `device`.
    pub fn images_tensor(&self, device: &Device) -> Tensor<4> {
        let [h, w] = [self.spatial[0], self.spatial[1]];
        Tensor::from_data(TensorData::new(self.images.clone(), [self.len(), 1, h, w]), device)
    }

    /// A training set with one item per (image, annotation) pair, `N·A` items, so that a
    /// generative segmenter learns the distribution of the annotators' masks.
    pub fn training_set(&self, config: &SdfConfig) -> Result<SegmentationDataset> {
        let mut images = Vec::with_capacity(self.images.len() * self.annotators);
        for i in 0..self.len() {
            for _ in 0..self.annotators {
                images.extend_from_slice(self.image(i));
            }
        }
        SegmentationDataset::new(images, 1, self.annotations.clone(), 1, &self.spatial, config)
    }
}

/// The Pearson correlation between a pixelwise uncertainty `u` and the error indicator `e`
/// (1 where a prediction is wrong), i.e. the point-biserial correlation
/// `r = Σ (u − ū)(e − ē) / √(Σ (u − ū)² Σ (e − ē)²)`: positive when errors sit where the
/// model is uncertain.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] for different lengths, [`CoreError::Empty`] for no pixels,
/// [`CoreError::NonFinite`] for NaN/Inf uncertainties, and [`CoreError::InvalidConfig`] when
/// either input is constant (the correlation is undefined).
pub fn uncertainty_error_correlation(uncertainty: &[f64], error: &[bool]) -> Result<f64> {
    if uncertainty.len() != error.len() {
        return Err(
            CoreError::shape("error", format!("[{}]", uncertainty.len()), &[error.len()]).into()
        );
    }
    if uncertainty.is_empty() {
        return Err(CoreError::Empty { what: "uncertainty".into() }.into());
    }
    if uncertainty.iter().any(|u| !u.is_finite()) {
        return Err(CoreError::NonFinite { what: "uncertainty".into() }.into());
    }
    let n = uncertainty.len() as f64;
    let mu = uncertainty.iter().sum::<f64>() / n;
    let me = error.iter().filter(|&&e| e).count() as f64 / n;
    let (mut cov, mut vu, mut ve) = (0.0, 0.0, 0.0);
    for (&u, &e) in uncertainty.iter().zip(error) {
        let (du, de) = (u - mu, f64::from(u8::from(e)) - me);
        cov += du * de;
        vu += du * du;
        ve += de * de;
    }
    if vu == 0.0 || ve == 0.0 {
        return Err(CoreError::config(
            "uncertainty/error",
            "the correlation of a constant is undefined",
        )
        .into());
    }
    Ok(cov / (vu * ve).sqrt())
}

/// Mean uncertainty near the reference boundary and away from it, from
/// [`boundary_uncertainty`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundaryUncertainty {
    /// Mean uncertainty of the pixels within the band.
    pub near: f64,
    /// Mean uncertainty of the other pixels.
    pub far: f64,
    /// Pixels within the band.
    pub near_pixels: usize,
    /// Other pixels.
    pub far_pixels: usize,
}

/// Splits the pixels of `shape` by their distance to the boundary of `reference`: a pixel is
/// *near* when its unsigned distance `|sdf|` (pixel centres; the pixels on either side of the
/// boundary have `|sdf| = 1`) is at most `band` pixels, and returns the mean of `uncertainty`
/// over both groups (a group without pixels has mean 0). An empty or full reference has no
/// boundary: every pixel is far.
///
/// # Errors
/// Shape mismatches, NaN/Inf uncertainties, and a `band` that is NaN or negative.
pub fn boundary_uncertainty(
    uncertainty: &[f64],
    reference: &[bool],
    shape: &[usize],
    band: f64,
) -> Result<BoundaryUncertainty> {
    if band.is_nan() || band < 0.0 {
        return Err(CoreError::config("band", format!("must be >= 0, got {band}")).into());
    }
    if uncertainty.len() != reference.len() {
        return Err(CoreError::shape(
            "uncertainty",
            format!("[{}]", reference.len()),
            &[uncertainty.len()],
        )
        .into());
    }
    if uncertainty.iter().any(|u| !u.is_finite()) {
        return Err(CoreError::NonFinite { what: "uncertainty".into() }.into());
    }
    let sdf = signed_distance(reference, shape, &SdfConfig::new())?;
    let (mut near, mut far, mut n_near, mut n_far) = (0.0, 0.0, 0, 0);
    for (&u, d) in uncertainty.iter().zip(sdf) {
        if d.abs() <= band {
            near += u;
            n_near += 1;
        } else {
            far += u;
            n_far += 1;
        }
    }
    let mean = |s: f64, n: usize| if n == 0 { 0.0 } else { s / n as f64 };
    Ok(BoundaryUncertainty {
        near: mean(near, n_near),
        far: mean(far, n_far),
        near_pixels: n_near,
        far_pixels: n_far,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;

    #[test]
    fn correlation_and_boundary_split_match_hand_computations() {
        // u = (0, 1, 2, 3), e = (0, 0, 1, 1): ū = 1.5, ē = 0.5, cov = 2, var_u = 5, var_e = 1.
        let r = uncertainty_error_correlation(&[0.0, 1.0, 2.0, 3.0], &[false, false, true, true])
            .unwrap();
        assert!((r - 2.0 / 5f64.sqrt()).abs() < 1e-12);
        assert!(uncertainty_error_correlation(&[1.0, 1.0], &[true, false]).is_err());
        assert!(uncertainty_error_correlation(&[1.0], &[true, false]).is_err());
        // A 1 × 6 strip, reference on pixels 2..4: pixels 1..=4 touch the boundary (|sdf| = 1).
        let reference = [false, false, true, true, false, false];
        let u = [0.0, 1.0, 1.0, 1.0, 1.0, 0.0];
        let b = boundary_uncertainty(&u, &reference, &[1, 6], 1.0).unwrap();
        assert_eq!((b.near, b.far, b.near_pixels, b.far_pixels), (1.0, 0.0, 4, 2));
        assert!(boundary_uncertainty(&u, &reference, &[1, 6], f64::NAN).is_err());
        let none = boundary_uncertainty(&u, &[false; 6], &[1, 6], 1.0).unwrap();
        assert_eq!(none.near_pixels, 0);
    }

    #[test]
    fn ambiguous_phantoms_pair_each_image_with_each_annotation() {
        let config = PhantomConfig::new(16)
            .with_lesion_probability(1.0)
            .with_lesion_radius_min(0.2)
            .with_lesion_radius_max(0.25);
        let data = AmbiguousPhantoms::generate(&config, 2, 3, 1, &mut seeded_rng(5)).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data.annotations(1).len(), 3);
        assert!(data.images.iter().all(|v| (-1.0..=1.0).contains(v)));
        let set = data.training_set(&SdfConfig::truncated_normalized(3.0)).unwrap();
        assert_eq!(set.len(), 6);
        assert_eq!(set.mask(4).unwrap(), data.annotations(1)[1]);
        assert_eq!(set.image(4).unwrap(), data.image(1));
    }
}

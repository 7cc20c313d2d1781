//! Multi-scale and patch-level detection for small focal lesions: several noise levels
//! combined, and partial diffusion restricted to overlapping patches reconstructed from their
//! surroundings.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};
use medgen_core::{SeededRng, TimeConditionedNetwork};

use super::detector::{AnomalyDetector, AnomalyMaps};
use super::map::{residual_map, smooth_maps};
use super::partial_diffusion::PartialDiffusionDetector;
use crate::error::{AppsError, Result};

/// The mean of several detectors' maps, `a = (1/K) Σ_k a_k`: e.g. partial diffusion at several
/// `t_λ`, where a low level keeps fine anatomy and a high level removes large lesions.
pub struct CombinedDetector<const D: usize> {
    name: String,
    detectors: Vec<Box<dyn AnomalyDetector<D>>>,
}

impl<const D: usize> CombinedDetector<D> {
    /// Combines `detectors` (at least one, all for the same item shape) under `name`.
    ///
    /// # Errors
    /// A configuration error naming `detectors` for an empty list or differing item shapes.
    pub fn new(
        name: impl Into<String>,
        detectors: Vec<Box<dyn AnomalyDetector<D>>>,
    ) -> Result<Self> {
        let Some(first) = detectors.first() else {
            return Err(AppsError::config("detectors", "at least one detector is needed"));
        };
        if detectors.iter().any(|d| d.item_shape() != first.item_shape()) {
            return Err(AppsError::config(
                "detectors",
                "all detectors must take the same item shape",
            ));
        }
        Ok(Self { name: name.into(), detectors })
    }
}

impl<const D: usize> AnomalyDetector<D> for CombinedDetector<D> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn item_shape(&self) -> &[usize] {
        self.detectors[0].item_shape()
    }

    fn detect(&self, images: Tensor<D>, rng: &mut SeededRng) -> Result<AnomalyMaps<D>> {
        let mut total: Option<Tensor<D>> = None;
        let mut nfe = 0;
        for detector in &self.detectors {
            let maps = detector.detect(images.clone(), rng)?;
            nfe += maps.nfe;
            total = Some(match total {
                Some(sum) => sum.add(maps.maps),
                None => maps.maps,
            });
        }
        let maps = total.map(|sum| sum.div_scalar(self.detectors.len() as f64));
        let maps =
            maps.ok_or_else(|| AppsError::config("detectors", "at least one detector is needed"))?;
        Ok(AnomalyMaps { maps, reconstructions: None, nfe })
    }
}

/// The patch grid of [`PatchDetector`]: square (cubic) patches of `size` pixels every
/// `stride` pixels along each spatial axis, the last patch flush with the border.
#[derive(Config, Debug, PartialEq)]
pub struct PatchConfig {
    /// Patch side in pixels, `≥ 1` and at most the image side.
    pub size: usize,
    /// Distance between patch origins, in `1..=size` (`< size` overlaps).
    pub stride: usize,
}

impl PatchConfig {
    /// The patch origins along one axis of length `len`: `0, s, 2s, …` and `len − size`.
    ///
    /// # Errors
    /// Configuration errors naming `size` or `stride`.
    pub fn origins(&self, len: usize) -> Result<Vec<usize>> {
        if self.size == 0 || self.size > len {
            return Err(AppsError::config(
                "size",
                format!("must lie in 1..={len} (the image side), got {}", self.size),
            ));
        }
        if self.stride == 0 || self.stride > self.size {
            return Err(AppsError::config(
                "stride",
                format!("must lie in 1..={} (the patch size), got {}", self.size, self.stride),
            ));
        }
        let mut origins: Vec<usize> = (0..=len - self.size).step_by(self.stride).collect();
        if origins.last() != Some(&(len - self.size)) {
            origins.push(len - self.size);
        }
        Ok(origins)
    }
}

/// Patch-level partial diffusion (after Behrendt et al., 2023): for each patch of a grid, the
/// patch is noised to `t_λ` and reconstructed while the rest of the image is held at the
/// forward process of the original ([`PartialDiffusionDetector::reconstruct`] with a known
/// region), so the model sees healthy context around the region it restores. The map of each
/// patch is its residual `mean_c |x − x̂|` inside the patch; overlapping patches are averaged.
/// Costs one reverse process per patch.
pub struct PatchDetector<N> {
    inner: PartialDiffusionDetector<N>,
    patches: PatchConfig,
}

impl<N> PatchDetector<N> {
    /// Patch-level detection with `inner`'s network and settings on the grid `patches`.
    ///
    /// # Errors
    /// Configuration errors for a patch grid that does not fit the item shape.
    pub fn new(inner: PartialDiffusionDetector<N>, patches: PatchConfig) -> Result<Self> {
        for &side in inner.item_shape_slice().iter().skip(1) {
            patches.origins(side)?;
        }
        Ok(Self { inner, patches })
    }
}

impl<N: TimeConditionedNetwork<D>, const D: usize> AnomalyDetector<D> for PatchDetector<N> {
    fn name(&self) -> String {
        let config = self.inner.config();
        format!(
            "ddpm-{} t={} patches {}/{}",
            config.noise.name(),
            config.t_lambda,
            self.patches.size,
            self.patches.stride
        )
    }

    fn item_shape(&self) -> &[usize] {
        self.inner.item_shape_slice()
    }

    fn detect(&self, images: Tensor<D>, rng: &mut SeededRng) -> Result<AnomalyMaps<D>> {
        let dims = images.dims();
        let spatial = &dims[2..];
        let axes: Vec<Vec<usize>> =
            spatial.iter().map(|&len| self.patches.origins(len)).collect::<Result<_>>()?;
        let field: usize = spatial.iter().product();
        let device = images.device();
        let mut sum = Tensor::<D>::zeros(map_shape(&dims), &device);
        let mut counts = vec![0.0f32; field];
        let mut nfe = 0;
        for origin in grid(&axes) {
            let inside = patch_indicator(spatial, &origin, self.patches.size);
            for (count, &i) in counts.iter_mut().zip(&inside) {
                *count += i;
            }
            let mut mask_shape = [1; D];
            mask_shape[2..].copy_from_slice(spatial);
            let inside = Tensor::<D>::from_data(TensorData::new(inside, mask_shape), &device);
            let known = inside.clone().neg().add_scalar(1.0);
            let (reconstruction, used) =
                self.inner.reconstruct(images.clone(), Some(&known), rng)?;
            nfe += used;
            sum = sum.add(residual_map(images.clone(), reconstruction)?.mul(inside));
        }
        let mut count_shape = [1; D];
        count_shape[2..].copy_from_slice(spatial);
        let counts = Tensor::<D>::from_data(TensorData::new(counts, count_shape), &device);
        let maps = sum.div(counts.clamp_min(1.0));
        let maps = smooth_maps(maps, self.inner.config().smoothing_sigma)?;
        Ok(AnomalyMaps { maps, reconstructions: None, nfe })
    }
}

/// `[N, 1, spatial...]` for a batch shape `[N, C, spatial...]`.
fn map_shape<const D: usize>(dims: &[usize; D]) -> [usize; D] {
    let mut shape = *dims;
    shape[1] = 1;
    shape
}

/// Every combination of one origin per axis.
fn grid(axes: &[Vec<usize>]) -> Vec<Vec<usize>> {
    axes.iter().fold(vec![Vec::new()], |acc, origins| {
        acc.iter()
            .flat_map(|prefix| {
                origins.iter().map(move |&o| {
                    let mut next = prefix.clone();
                    next.push(o);
                    next
                })
            })
            .collect()
    })
}

/// 1 inside the cube `[origin, origin + size)` of a row-major field, 0 elsewhere.
fn patch_indicator(spatial: &[usize], origin: &[usize], size: usize) -> Vec<f32> {
    let field: usize = spatial.iter().product();
    (0..field)
        .map(|flat| {
            let mut rest = flat;
            let mut inside = true;
            for axis in (0..spatial.len()).rev() {
                let coordinate = rest % spatial[axis];
                rest /= spatial[axis];
                inside &= coordinate >= origin[axis] && coordinate < origin[axis] + size;
            }
            f32::from(u8::from(inside))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_grids_cover_the_image_and_reject_bad_sizes() {
        let config = PatchConfig::new(16, 8);
        assert_eq!(config.origins(32).unwrap(), vec![0, 8, 16]);
        assert_eq!(config.origins(36).unwrap(), vec![0, 8, 16, 20]);
        assert!(PatchConfig::new(40, 8).origins(32).is_err());
        assert!(PatchConfig::new(16, 0).origins(32).is_err());
        assert!(PatchConfig::new(16, 17).origins(32).is_err());
        assert_eq!(grid(&[vec![0, 2], vec![1]]), vec![vec![0, 1], vec![2, 1]]);
        let inside = patch_indicator(&[3, 4], &[1, 2], 2);
        let expected = [0., 0., 0., 0., 0., 0., 1., 1., 0., 0., 1., 1.];
        assert_eq!(inside, expected);
    }
}

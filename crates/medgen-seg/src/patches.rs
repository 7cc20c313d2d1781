//! Patch-based processing of large (3D) volumes, as in PatchDDM: random patches with
//! positional-encoding channels for training, and whole-volume inference by overlapping
//! patches whose outputs are blended with weights that fall off towards the patch border.

use burn::config::Config;
use burn::prelude::*;
use medgen_core::CoreError;
use rand::{Rng, RngExt};

use crate::error::Result;

/// The weight `w(i)` of voxel `i ∈ 0..P` along one axis of a patch of side `P`; a voxel's
/// weight is the product over axes. Every weight is positive, so every covered voxel gets a
/// well-defined blend.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum PatchBlend {
    /// `w(i) = 1`: the plain average of overlapping patches.
    Constant,
    /// `w(i) = min(i + 1, P − i)`: a tent, highest in the centre.
    Linear,
    /// `w(i) = exp(−(i − (P − 1)/2)² / (2σ²))` with `σ = P / 8` (MONAI's `sigma_scale`
    /// 0.125).
    Gaussian,
}

impl PatchBlend {
    /// `w(i)` for a side of `p` voxels; `0` outside the patch (`i ≥ p`).
    pub fn weight(self, i: usize, p: usize) -> f64 {
        if i >= p {
            return 0.0;
        }
        match self {
            Self::Constant => 1.0,
            Self::Linear => (i + 1).min(p - i) as f64,
            Self::Gaussian => {
                let sigma = p as f64 / 8.0;
                let d = i as f64 - (p as f64 - 1.0) / 2.0;
                (-(d * d) / (2.0 * sigma * sigma)).exp().max(1e-12)
            }
        }
    }
}

/// How a volume is cut into patches.
#[derive(Config, Debug, PartialEq)]
pub struct PatchConfig {
    /// The patch side per spatial axis (`S` values, each ≥ 1).
    pub patch_size: Vec<usize>,
    /// The step between the origins of neighbouring inference patches per axis, in
    /// `1..=patch_size` (`None`: half the patch, i.e. 50 % overlap).
    #[config(default = "None")]
    pub stride: Option<Vec<usize>>,
    /// How overlapping outputs are blended.
    #[config(default = "PatchBlend::Gaussian")]
    pub blend: PatchBlend,
}

impl PatchConfig {
    /// Checks the configuration against a volume of spatial size `volume` and returns the
    /// per-axis stride.
    fn checked_stride(&self, volume: &[usize]) -> Result<Vec<usize>> {
        let s = volume.len();
        if self.patch_size.len() != s {
            return Err(CoreError::config(
                "patch_size",
                format!("needs {s} sides (one per spatial axis), got {}", self.patch_size.len()),
            )
            .into());
        }
        if let Some((p, v)) = self.patch_size.iter().zip(volume).find(|(p, v)| **p == 0 || p > v) {
            return Err(CoreError::config(
                "patch_size",
                format!("each side must lie in 1..=volume side, got {p} for a side of {v}"),
            )
            .into());
        }
        let stride = match &self.stride {
            None => self.patch_size.iter().map(|p| (p / 2).max(1)).collect(),
            Some(stride) => stride.clone(),
        };
        if stride.len() != s || stride.iter().zip(&self.patch_size).any(|(t, p)| *t == 0 || t > p) {
            return Err(CoreError::config(
                "stride",
                format!("needs {s} steps in 1..=patch side, got {stride:?}"),
            )
            .into());
        }
        Ok(stride)
    }

    /// The origins of the inference patches of a volume with spatial size `volume`: along
    /// each axis `0, t, 2t, …` and finally `V − P`, so that every voxel is covered; the
    /// Cartesian product over axes, the last axis fastest.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for sizes of the wrong length, a patch larger than the
    /// volume, or a stride outside `1..=P`.
    pub fn origins(&self, volume: &[usize]) -> Result<Vec<Vec<usize>>> {
        let stride = self.checked_stride(volume)?;
        let axes: Vec<Vec<usize>> = volume
            .iter()
            .zip(&self.patch_size)
            .zip(&stride)
            .map(|((&v, &p), &t)| {
                let mut starts: Vec<usize> = (0..=v - p).step_by(t).collect();
                if starts.last() != Some(&(v - p)) {
                    starts.push(v - p);
                }
                starts
            })
            .collect();
        let mut out = vec![Vec::new()];
        for starts in &axes {
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    starts.iter().map(move |&s| {
                        let mut o = prefix.clone();
                        o.push(s);
                        o
                    })
                })
                .collect();
        }
        Ok(out)
    }

    /// `count` origins drawn uniformly from `rng` (each axis independently in
    /// `0..=V − P`), for training on random patches.
    pub fn random_origins<R: Rng + ?Sized>(
        &self,
        volume: &[usize],
        count: usize,
        rng: &mut R,
    ) -> Result<Vec<Vec<usize>>> {
        self.checked_stride(volume)?;
        Ok((0..count)
            .map(|_| {
                volume
                    .iter()
                    .zip(&self.patch_size)
                    .map(|(&v, &p)| rng.random_range(0..=v - p))
                    .collect()
            })
            .collect())
    }
}

/// The patch of `volume` (`[N, C, *spatial]`) at `origin` with sides `size`:
/// `[N, C, *size]`.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] when the patch does not fit inside the volume.
pub fn crop<const D: usize>(
    volume: Tensor<D>,
    origin: &[usize],
    size: &[usize],
) -> Result<Tensor<D>> {
    let dims = volume.dims();
    let fits = origin.len() == D - 2
        && size.len() == D - 2
        && origin.iter().zip(size).zip(&dims[2..]).all(|((o, s), v)| o + s <= *v);
    if !fits {
        return Err(CoreError::shape(
            "patch",
            format!("origin {origin:?} + size {size:?} inside {:?}", &dims[2..]),
            &dims,
        )
        .into());
    }
    Ok(origin.iter().zip(size).enumerate().fold(volume, |t, (a, (&o, &s))| t.narrow(a + 2, o, s)))
}

/// Patches of a batch, one origin per item: item `n` of `volume` (`[N, C, *spatial]`) cropped
/// at `origins[n]`, giving `[N, C, *size]`.
pub fn crop_per_item<const D: usize>(
    volume: Tensor<D>,
    origins: &[Vec<usize>],
    size: &[usize],
) -> Result<Tensor<D>> {
    let n = volume.dims()[0];
    if origins.len() != n {
        return Err(CoreError::shape(
            "patch origins",
            format!("one per item ({n})"),
            &[origins.len()],
        )
        .into());
    }
    let patches = origins
        .iter()
        .enumerate()
        .map(|(i, o)| crop(volume.clone().narrow(0, i, 1), o, size))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(patches, 0))
}

/// Positional-encoding channels of patches: for each origin, `S` channels (one per spatial
/// axis `a`) holding the normalised coordinate of each voxel centre in the whole volume,
/// `c_a = (2 (o_a + i_a) + 1) / V_a − 1 ∈ (−1, 1)`. Shape `[origins.len(), S, *size]`.
pub fn positional_channels<const D: usize>(
    origins: &[Vec<usize>],
    size: &[usize],
    volume: &[usize],
    device: &Device,
) -> Result<Tensor<D>> {
    let s = D - 2;
    if size.len() != s || volume.len() != s || origins.iter().any(|o| o.len() != s) {
        return Err(
            CoreError::shape("positional channels", format!("{s} spatial axes"), size).into()
        );
    }
    let len: usize = size.iter().product();
    let mut values = Vec::with_capacity(origins.len() * s * len);
    for origin in origins {
        for a in 0..s {
            for_each_index(size, |index| {
                let c = (2 * (origin[a] + index[a]) + 1) as f32 / volume[a] as f32 - 1.0;
                values.push(c);
            });
        }
    }
    let mut shape = [0; D];
    shape[0] = origins.len();
    shape[1] = s;
    shape[2..].copy_from_slice(size);
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Calls `f` with every multi-index of an array of sides `size`, in row-major order.
fn for_each_index(size: &[usize], mut f: impl FnMut(&[usize])) {
    if size.contains(&0) {
        return;
    }
    let mut index = vec![0; size.len()];
    loop {
        f(&index);
        let mut axis = size.len();
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            if index[axis] < size[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
}

/// Accumulates overlapping patch outputs into a whole volume,
/// `y(x) = Σ_p w_p(x) y_p(x) / Σ_p w_p(x)` with the [`PatchBlend`] weights.
///
/// The sums run on the host in `f64` (each added patch is read back once: blending is a
/// scatter-add that the algorithm needs in one place); a voxel whose patches all hold the
/// same value `v` therefore comes out as exactly `v`.
#[derive(Clone, Debug)]
pub struct PatchStitcher {
    dims: Vec<usize>,
    patch: Vec<usize>,
    weights: Vec<f64>,
    sums: Vec<f64>,
    total: Vec<f64>,
}

impl PatchStitcher {
    /// A stitcher for outputs `[N, C, *volume]` from patches of sides `patch`.
    pub fn new(
        batch: usize,
        channels: usize,
        volume: &[usize],
        patch: &[usize],
        blend: PatchBlend,
    ) -> Result<Self> {
        let mut dims = vec![batch, channels];
        dims.extend_from_slice(volume);
        medgen_core::check::ensure_non_empty(&dims, "stitched volume")?;
        if patch.len() != volume.len() || patch.iter().zip(volume).any(|(p, v)| *p == 0 || p > v) {
            return Err(
                CoreError::shape("patch size", format!("sides in 1..={volume:?}"), patch).into()
            );
        }
        let mut weights = Vec::with_capacity(patch.iter().product());
        for_each_index(patch, |index| {
            weights.push(index.iter().zip(patch).map(|(&i, &p)| blend.weight(i, p)).product());
        });
        let spatial: usize = volume.iter().product();
        Ok(Self {
            sums: vec![0.0; batch * channels * spatial],
            total: vec![0.0; spatial],
            dims,
            patch: patch.to_vec(),
            weights,
        })
    }

    /// Adds the outputs `patches` (`[N, C, *patch]`) of the patch at `origin`.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] naming the patch output or origin when it does not fit
    /// the stitcher, [`CoreError::NonFinite`] naming the patch output when it holds NaN or
    /// ±Inf (nothing is added then).
    pub fn add<const D: usize>(&mut self, origin: &[usize], patches: Tensor<D>) -> Result<()> {
        let mut expected = self.dims.clone();
        expected[2..].copy_from_slice(&self.patch);
        if patches.dims()[..] != expected[..] {
            return Err(
                CoreError::shape("patch output", format!("{expected:?}"), &patches.dims()).into()
            );
        }
        let volume = &self.dims[2..];
        if origin.len() != volume.len()
            || origin.iter().zip(&self.patch).zip(volume).any(|((o, p), v)| o + p > *v)
        {
            return Err(
                CoreError::shape("patch origin", format!("inside {volume:?}"), origin).into()
            );
        }
        let values = medgen_core::read_values::<f32, D, _>(patches, "patch output")?;
        medgen_core::check::ensure_finite_values(&values, "patch output")?;
        let spatial: usize = volume.iter().product();
        let patch_len = self.weights.len();
        let mut targets = Vec::with_capacity(patch_len);
        for_each_index(&self.patch, |index| {
            let flat =
                index.iter().zip(origin).zip(volume).fold(0, |acc, ((i, o), v)| acc * v + i + o);
            targets.push(flat);
        });
        for (&t, &w) in targets.iter().zip(&self.weights) {
            self.total[t] += w;
        }
        for (item, chunk) in values.chunks(patch_len).enumerate() {
            let base = item * spatial;
            for ((&t, &w), &v) in targets.iter().zip(&self.weights).zip(chunk) {
                self.sums[base + t] += w * f64::from(v);
            }
        }
        Ok(())
    }

    /// The blended volume `[N, C, *volume]` on `device`.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] if some voxel was covered by no patch.
    pub fn finish<const D: usize>(self, device: &Device) -> Result<Tensor<D>> {
        if self.total.contains(&0.0) {
            return Err(CoreError::config("patches", "some voxels are covered by no patch").into());
        }
        let spatial = self.total.len();
        let values: Vec<f32> = self
            .sums
            .iter()
            .enumerate()
            .map(|(i, s)| (s / self.total[i % spatial]) as f32)
            .collect();
        let mut shape = [0; D];
        if self.dims.len() != D {
            return Err(CoreError::InvalidRank {
                what: "stitched volume".into(),
                expected: self.dims.len(),
                got: D,
            }
            .into());
        }
        shape.copy_from_slice(&self.dims);
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }
}

/// Whole-volume inference by overlapping patches: for every origin of
/// [`PatchConfig::origins`], the patch of `volume` (`[N, C, *spatial]`) with its
/// [positional channels](positional_channels) appended (`[N, C + S, *patch]`) goes through
/// `model`, which returns `[N, C_out, *patch]`; the outputs are blended by a
/// [`PatchStitcher`] into `[N, C_out, *spatial]`.
///
/// # Errors
/// An empty volume, an invalid patch layout, `model`'s errors, and a model output of the
/// wrong shape or holding NaN/±Inf ([`PatchStitcher::add`]).
pub fn predict_by_patches<const D: usize, F>(
    volume: Tensor<D>,
    config: &PatchConfig,
    out_channels: usize,
    mut model: F,
) -> Result<Tensor<D>>
where
    F: FnMut(Tensor<D>) -> Result<Tensor<D>>,
{
    let dims = volume.dims();
    medgen_core::check::ensure_non_empty(&dims, "volume")?;
    let spatial = &dims[2..];
    let device = volume.device();
    let mut stitcher =
        PatchStitcher::new(dims[0], out_channels, spatial, &config.patch_size, config.blend)?;
    for origin in config.origins(spatial)? {
        let patch = crop(volume.clone(), &origin, &config.patch_size)?;
        let position = positional_channels::<D>(
            std::slice::from_ref(&origin),
            &config.patch_size,
            spatial,
            &device,
        )?
        .repeat_dim(0, dims[0]);
        stitcher.add(&origin, model(Tensor::cat(vec![patch, position], 1))?)?;
    }
    stitcher.finish(&device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn origins_cover_the_volume_and_crops_match_indexing() {
        let config = PatchConfig::new(vec![3, 4]).with_stride(Some(vec![2, 3]));
        let origins = config.origins(&[7, 9]).unwrap();
        // Rows: 0, 2, 4 (= 7 − 3); columns: 0, 3, 5 (= 9 − 4).
        assert_eq!(origins.len(), 9);
        assert_eq!(origins[0], vec![0, 0]);
        assert_eq!(origins[8], vec![4, 5]);
        let device = test_device();
        let values: Vec<f32> = (0..2 * 7 * 9).map(|i| i as f32).collect();
        let volume = Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 1, 7, 9]), &device);
        let patch = crop(volume, &[2, 3], &[3, 4]).unwrap();
        let got = patch.try_into_vec_as::<f32>().unwrap();
        for n in 0..2 {
            for y in 0..3 {
                for x in 0..4 {
                    assert_eq!(got[(n * 3 + y) * 4 + x], values[n * 63 + (2 + y) * 9 + 3 + x]);
                }
            }
        }
        assert!(config.origins(&[2, 9]).is_err());
        assert!(PatchConfig::new(vec![3]).origins(&[7, 9]).is_err());
        assert!(config.clone().with_stride(Some(vec![0, 1])).origins(&[7, 9]).is_err());
    }

    #[test]
    fn stitching_an_identity_model_reproduces_the_volume_exactly() {
        let device = test_device();
        let dims = [2, 1, 6, 7, 5];
        let n: usize = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 / 7.3 - 3.0).collect();
        let volume = Tensor::<5>::from_data(TensorData::new(values.clone(), dims), &device);
        for blend in [PatchBlend::Constant, PatchBlend::Linear, PatchBlend::Gaussian] {
            let config = PatchConfig::new(vec![4, 4, 3]).with_blend(blend);
            let mut calls = 0;
            let out = predict_by_patches(volume.clone(), &config, 1, |patch: Tensor<5>| {
                calls += 1;
                assert_eq!(patch.dims(), [2, 4, 4, 4, 3]);
                Ok(patch.narrow(1, 0, 1))
            })
            .unwrap();
            assert_eq!(calls, 3 * 3 * 2);
            assert_eq!(out.try_into_vec_as::<f32>().unwrap(), values, "{blend:?}");
        }
    }

    #[test]
    fn blending_weights_and_positional_channels_match_closed_forms() {
        // Two patches of side 4 over a side of 6 overlap on voxels 2 and 3; a linear blend
        // of the constants 0 and 1 gives w_b / (w_a + w_b) there.
        let device = test_device();
        let mut stitcher = PatchStitcher::new(1, 1, &[1, 6], &[1, 4], PatchBlend::Linear).unwrap();
        stitcher.add(&[0, 0], Tensor::<4>::zeros([1, 1, 1, 4], &device)).unwrap();
        stitcher.add(&[0, 2], Tensor::<4>::ones([1, 1, 1, 4], &device)).unwrap();
        let out = stitcher.finish::<4>(&device).unwrap().try_into_vec_as::<f32>().unwrap();
        // Voxel 2: w_a = min(3, 2) = 2, w_b = min(1, 4) = 1; voxel 3: w_a = 1, w_b = 2.
        assert_eq!(out, vec![0.0, 0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0, 1.0]);
        let pos = positional_channels::<4>(&[vec![1, 2]], &[2, 2], &[4, 8], &device).unwrap();
        let pos = pos.try_into_vec_as::<f32>().unwrap();
        // Rows 1, 2 of 4 → (2·1 + 1)/4 − 1 = −0.25, 0.25; columns 2, 3 of 8 → −0.375, −0.125.
        assert_eq!(pos, vec![-0.25, -0.25, 0.25, 0.25, -0.375, -0.125, -0.375, -0.125]);
        let r =
            PatchConfig::new(vec![2, 3]).random_origins(&[4, 3], 50, &mut seeded_rng(1)).unwrap();
        assert!(r.iter().all(|o| o[0] <= 2 && o[1] == 0));
        assert!(r.iter().any(|o| o[0] == 2) && r.iter().any(|o| o[0] == 0));
        let uncovered = PatchStitcher::new(1, 1, &[1, 6], &[1, 4], PatchBlend::Linear).unwrap();
        assert!(uncovered.finish::<4>(&device).is_err());
    }
}

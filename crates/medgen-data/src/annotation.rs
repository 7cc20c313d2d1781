//! Several plausible lesion annotations per phantom, for ambiguous-segmentation tasks.
//!
//! Each of `A` simulated annotators has a tendency `b_a`, drawn uniformly from
//! `-max_offset..=max_offset`; on each image they draw the boundary at
//! `m = clamp(b_a + e, -max_offset, max_offset)` pixels from the true one, with a per-image
//! jitter `e` uniform in `{-1, 0, 1}`. A positive `m` dilates the true lesion mask by a
//! Euclidean ball of radius `m`, a negative one erodes it (small lesions may then vanish, as
//! they do for real annotators), and `m = 0` keeps it.

use burn::prelude::*;
use rand::{Rng, RngExt};

use super::host_tensor::float_tensor;
use super::phantom_batch::PhantomBatch;
use medgen_core::error::{CoreError, Result};

/// `A` lesion annotations per phantom.
#[derive(Clone, Debug, PartialEq)]
pub struct LesionAnnotations {
    /// Masks `[N, A, spatial...]` (C-order, 0/1).
    pub masks: Vec<u8>,
    /// The boundary offset `m` (pixels; > 0 dilated, < 0 eroded) per `[N, A]`.
    pub offsets: Vec<i32>,
    /// `[N, A, spatial...]`.
    pub shape: Vec<usize>,
}

impl LesionAnnotations {
    /// The masks as a float tensor `[N, A, H, W]` (`D = 4`) or `[N, A, D, H, W]` (`D = 5`).
    pub fn to_tensor<const D: usize>(&self, device: &Device) -> Result<Tensor<D>> {
        let values = self.masks.iter().map(|&m| f32::from(m)).collect();
        float_tensor(values, &self.shape, device, "lesion annotations")
    }
}

impl PhantomBatch {
    /// Simulates `annotators` lesion annotations per phantom (see the [module docs](self)).
    ///
    /// Fails with [`CoreError::InvalidConfig`] for `annotators == 0` or `max_offset > 8`, and
    /// with [`CoreError::InvalidRank`], [`CoreError::Empty`] or [`CoreError::ShapeMismatch`]
    /// for a hand-built batch whose buffers do not fit its 2D or 3D `spatial` shape.
    pub fn lesion_annotations<R: Rng + ?Sized>(
        &self,
        annotators: usize,
        max_offset: u32,
        rng: &mut R,
    ) -> Result<LesionAnnotations> {
        if annotators == 0 {
            return Err(CoreError::config("annotators", "must be at least 1"));
        }
        if max_offset > 8 {
            return Err(CoreError::config(
                "max_offset",
                format!("must be at most 8 pixels, got {max_offset}"),
            ));
        }
        self.check_layout()?;
        let max = max_offset as i32;
        let tendencies: Vec<i32> = (0..annotators).map(|_| rng.random_range(-max..=max)).collect();
        let dims = match *self.spatial {
            [h, w] => [1, h, w],
            [d, h, w] => [d, h, w],
            _ => unreachable!("phantoms are 2D or 3D"),
        };
        let planar = self.spatial.len() == 2;
        let mut masks = Vec::with_capacity(self.len() * annotators * self.item_len());
        let mut offsets = Vec::with_capacity(self.len() * annotators);
        for i in 0..self.len() {
            let truth = self.lesion_mask(i);
            for &b in &tendencies {
                let m = (b + rng.random_range(-1..=1)).clamp(-max, max);
                offsets.push(m);
                masks.extend(morph(&truth, dims, m, planar));
            }
        }
        let mut shape = vec![self.len(), annotators];
        shape.extend_from_slice(&self.spatial);
        Ok(LesionAnnotations { masks, offsets, shape })
    }
}

/// Dilates (`m > 0`) or erodes (`m < 0`) a binary `mask` of `dims = [D, H, W]` by the
/// Euclidean ball of radius `|m|` (a disc in the plane when `planar`). Erosion treats pixels
/// outside the grid as background.
pub(crate) fn morph(mask: &[u8], dims: [usize; 3], m: i32, planar: bool) -> Vec<u8> {
    if m == 0 {
        return mask.to_vec();
    }
    let r = m.abs();
    let rz = if planar { 0 } else { r };
    let ball: Vec<[i32; 3]> = (-rz..=rz)
        .flat_map(|a| (-r..=r).flat_map(move |b| (-r..=r).map(move |c| [a, b, c])))
        .filter(|o| o.iter().map(|v| v * v).sum::<i32>() <= r * r)
        .collect();
    let [d, h, w] = dims.map(|v| v as i32);
    let at = |z: i32, y: i32, x: i32| -> Option<u8> {
        ((0..d).contains(&z) && (0..h).contains(&y) && (0..w).contains(&x))
            .then(|| mask[((z * h + y) * w + x) as usize])
    };
    let dilate = m > 0;
    let mut out = Vec::with_capacity(mask.len());
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let hit = |o: &[i32; 3]| at(z + o[0], y + o[1], x + o[2]) == Some(1);
                let value = if dilate { ball.iter().any(hit) } else { ball.iter().all(hit) };
                out.push(u8::from(value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom_config::PhantomConfig;
    use medgen_core::rng::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn morphology_of_a_square_matches_closed_forms() {
        // A 3x3 square in a 9x9 grid.
        let mut mask = vec![0u8; 81];
        for y in 3..6 {
            for x in 3..6 {
                mask[y * 9 + x] = 1;
            }
        }
        let count = |v: &[u8]| v.iter().filter(|&&m| m == 1).count();
        // Dilation by the radius-1 cross: 9 + 4 * 3 = 21 pixels.
        assert_eq!(count(&morph(&mask, [1, 9, 9], 1, true)), 21);
        // Erosion by the cross leaves the centre pixel only.
        let eroded = morph(&mask, [1, 9, 9], -1, true);
        assert_eq!(count(&eroded), 1);
        assert_eq!(eroded[4 * 9 + 4], 1);
        assert_eq!(morph(&mask, [1, 9, 9], 0, true), mask);
        // Erosion followed by dilation is contained in the original (opening).
        let opened = morph(&eroded, [1, 9, 9], 1, true);
        assert!(opened.iter().zip(&mask).all(|(o, m)| o <= m));
    }

    #[test]
    fn annotations_bracket_the_true_mask() {
        let cfg = PhantomConfig::new(32)
            .with_lesion_probability(1.0)
            .with_lesion_radius_min(0.15)
            .with_lesion_radius_max(0.2);
        let batch = cfg.generate_batch(2, &mut seeded_rng(9)).unwrap();
        let ann = batch.lesion_annotations(4, 2, &mut seeded_rng(1)).unwrap();
        assert_eq!(ann.shape, vec![2, 4, 32, 32]);
        assert_eq!(ann.offsets.len(), 8);
        let px = 32 * 32;
        for i in 0..2 {
            let truth = batch.lesion_mask(i);
            for a in 0..4 {
                let m = ann.offsets[i * 4 + a];
                assert!((-2..=2).contains(&m));
                let mask = &ann.masks[(i * 4 + a) * px..(i * 4 + a + 1) * px];
                // Dilations contain the truth, erosions are contained in it.
                for (x, t) in mask.iter().zip(&truth) {
                    if m >= 0 {
                        assert!(x >= t);
                    } else {
                        assert!(x <= t);
                    }
                }
            }
        }
        let again = batch.lesion_annotations(4, 2, &mut seeded_rng(1)).unwrap();
        assert_eq!(ann, again);
        assert_eq!(ann.to_tensor::<4>(&test_device()).unwrap().dims(), [2, 4, 32, 32]);
        assert!(batch.lesion_annotations(0, 2, &mut seeded_rng(1)).is_err());
    }
}

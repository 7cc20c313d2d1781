//! Seeded geometric augmentation applied identically to an image and its masks: flips and a
//! small in-plane rotation.

use burn::config::Config;
use medgen_core::CoreError;
use rand::{Rng, RngExt};

use crate::error::Result;

/// How augmented images are resampled (masks are always resampled by nearest neighbour, so
/// that they stay binary).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ImageInterpolation {
    /// The value of the nearest source pixel (the same pixel the mask takes).
    Nearest,
    /// Bilinear interpolation of the four surrounding source pixels.
    Bilinear,
}

/// What [`AugmentConfig::draw`] may do to a training item.
///
/// With `c = ((H − 1)/2, (W − 1)/2)` the centre of an `H × W` plane, an output pixel `o`
/// takes its value from the source point `s = F(R(−θ)(o − c)) + c`, where `R(−θ)` rotates by
/// `−θ`, `θ ~ U[−max_rotation_degrees, max_rotation_degrees]`, and `F` mirrors the column
/// (horizontal flip) and/or the row (vertical flip) offset, each with probability 1/2 when
/// enabled. Source points outside the plane give background (`false`) in masks and the
/// nearest edge pixel in images. Every plane of a volume (`[D, H, W]`) and every channel gets
/// the same transform.
#[derive(Config, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Mirror the columns with probability 1/2.
    #[config(default = true)]
    pub flip_horizontal: bool,
    /// Mirror the rows with probability 1/2.
    #[config(default = true)]
    pub flip_vertical: bool,
    /// Largest rotation angle in degrees, in `[0, 180]` (0: no rotation).
    #[config(default = 10.0)]
    pub max_rotation_degrees: f64,
    /// How images are resampled.
    #[config(default = "ImageInterpolation::Bilinear")]
    pub image_interpolation: ImageInterpolation,
}

impl AugmentConfig {
    /// Checks `max_rotation_degrees ∈ [0, 180]`.
    pub fn validate(&self) -> Result<()> {
        let a = self.max_rotation_degrees;
        if a.is_finite() && (0.0..=180.0).contains(&a) {
            Ok(())
        } else {
            Err(CoreError::config("max_rotation_degrees", format!("must lie in [0, 180], got {a}"))
                .into())
        }
    }

    /// Draws one transform from `rng`, in this order: horizontal flip, vertical flip, angle
    /// (a draw is made only for an enabled option).
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Augmentation> {
        self.validate()?;
        let flip_h = self.flip_horizontal && rng.random_bool(0.5);
        let flip_v = self.flip_vertical && rng.random_bool(0.5);
        let a = self.max_rotation_degrees;
        let degrees = if a > 0.0 { rng.random_range(-a..=a) } else { 0.0 };
        Ok(Augmentation {
            flip_h,
            flip_v,
            radians: degrees.to_radians(),
            interpolation: self.image_interpolation,
        })
    }
}

/// One drawn transform (see [`AugmentConfig`]); apply it with [`Augmentation::apply_mask`]
/// and [`Augmentation::apply_image`] to keep image and masks aligned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Whether the columns are mirrored.
    pub flip_h: bool,
    /// Whether the rows are mirrored.
    pub flip_v: bool,
    /// The rotation angle `θ` in radians.
    pub radians: f64,
    /// How images are resampled.
    pub interpolation: ImageInterpolation,
}

impl Augmentation {
    /// The transform that changes nothing.
    pub fn identity() -> Self {
        Self {
            flip_h: false,
            flip_v: false,
            radians: 0.0,
            interpolation: ImageInterpolation::Nearest,
        }
    }

    /// Whether the transform maps the pixel grid onto itself (flips only): then it commutes
    /// with the signed distance transform, so a cached SDF can be transformed instead of
    /// recomputed.
    pub fn is_grid_symmetry(&self) -> bool {
        self.radians == 0.0
    }

    /// The source point `(row, column)` of output pixel `(y, x)` of an `h × w` plane.
    fn source(&self, y: usize, x: usize, h: usize, w: usize) -> (f64, f64) {
        let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
        let (dy, dx) = (y as f64 - cy, x as f64 - cx);
        let (sin, cos) = (-self.radians).sin_cos();
        let (mut ry, mut rx) =
            if self.radians == 0.0 { (dy, dx) } else { (sin * dx + cos * dy, cos * dx - sin * dy) };
        if self.flip_h {
            rx = -rx;
        }
        if self.flip_v {
            ry = -ry;
        }
        (ry + cy, rx + cx)
    }

    /// The nearest source pixel of `(y, x)`, or `None` outside the plane.
    fn nearest(&self, y: usize, x: usize, h: usize, w: usize) -> Option<usize> {
        let (sy, sx) = self.source(y, x, h, w);
        let (ry, rx) = (sy.round(), sx.round());
        let inside = (0.0..h as f64).contains(&ry) && (0.0..w as f64).contains(&rx);
        inside.then(|| ry as usize * w + rx as usize)
    }

    /// Transforms masks made of `h × w` planes (`values.len()` a multiple of `h · w`: any
    /// number of channels and slices), by nearest neighbour; outside is background.
    pub fn apply_mask(&self, values: &[bool], h: usize, w: usize) -> Result<Vec<bool>> {
        self.map_planes(values, h, w, |plane, y, x| {
            self.nearest(y, x, h, w).is_some_and(|i| plane[i])
        })
    }

    /// Transforms values that must move exactly like a mask (e.g. a cached SDF under a
    /// [grid symmetry](Augmentation::is_grid_symmetry)) by nearest neighbour; outside takes
    /// `outside`.
    pub fn apply_nearest(
        &self,
        values: &[f32],
        h: usize,
        w: usize,
        outside: f32,
    ) -> Result<Vec<f32>> {
        self.map_planes(values, h, w, |plane, y, x| {
            self.nearest(y, x, h, w).map_or(outside, |i| plane[i])
        })
    }

    /// Transforms images made of `h × w` planes with [`Augmentation::interpolation`]; source
    /// points outside the plane take the nearest edge value.
    pub fn apply_image(&self, values: &[f32], h: usize, w: usize) -> Result<Vec<f32>> {
        self.map_planes(values, h, w, |plane, y, x| {
            let (sy, sx) = self.source(y, x, h, w);
            let sy = sy.clamp(0.0, h as f64 - 1.0);
            let sx = sx.clamp(0.0, w as f64 - 1.0);
            match self.interpolation {
                ImageInterpolation::Nearest => plane[sy.round() as usize * w + sx.round() as usize],
                ImageInterpolation::Bilinear => bilinear(plane, w, sy, sx),
            }
        })
    }

    /// Applies `f(plane, y, x)` to every output pixel of every plane.
    fn map_planes<T: Copy>(
        &self,
        values: &[T],
        h: usize,
        w: usize,
        f: impl Fn(&[T], usize, usize) -> T,
    ) -> Result<Vec<T>> {
        let plane = h * w;
        if plane == 0 || !values.len().is_multiple_of(plane) {
            return Err(CoreError::shape(
                "augmented values",
                format!("a multiple of {h} × {w} values"),
                &[values.len()],
            )
            .into());
        }
        let mut out = Vec::with_capacity(values.len());
        for p in values.chunks(plane) {
            for y in 0..h {
                for x in 0..w {
                    out.push(f(p, y, x));
                }
            }
        }
        Ok(out)
    }
}

/// Bilinear interpolation of `plane` (width `w`) at an in-range point `(sy, sx)`.
fn bilinear(plane: &[f32], w: usize, sy: f64, sx: f64) -> f32 {
    let h = plane.len() / w;
    let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
    let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
    let at = |y: usize, x: usize| f64::from(plane[y * w + x]);
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
    let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
    (top * (1.0 - fy) + bottom * fy) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;

    fn grid(h: usize, w: usize) -> Vec<f32> {
        (0..h * w).map(|i| i as f32).collect()
    }

    #[test]
    fn flips_and_quarter_turns_match_index_formulas() {
        let (h, w) = (3, 4);
        let v = grid(h, w);
        let flip = |fh, fv| Augmentation { flip_h: fh, flip_v: fv, ..Augmentation::identity() };
        assert_eq!(Augmentation::identity().apply_image(&v, h, w).unwrap(), v);
        let fh = flip(true, false).apply_image(&v, h, w).unwrap();
        let fv = flip(false, true).apply_image(&v, h, w).unwrap();
        for y in 0..h {
            for x in 0..w {
                assert_eq!(fh[y * w + x], v[y * w + (w - 1 - x)]);
                assert_eq!(fv[y * w + x], v[(h - 1 - y) * w + x]);
            }
        }
        // A half turn of a square equals both flips.
        let sq = grid(5, 5);
        let half = Augmentation { radians: std::f64::consts::PI, ..Augmentation::identity() };
        assert_eq!(
            half.apply_image(&sq, 5, 5).unwrap(),
            flip(true, true).apply_image(&sq, 5, 5).unwrap()
        );
    }

    #[test]
    fn image_and_mask_move_together() {
        let (h, w) = (12, 10);
        let mask: Vec<bool> =
            (0..h * w).map(|i| (3..8).contains(&(i / w)) && (2..6).contains(&(i % w))).collect();
        let image: Vec<f32> = mask.iter().map(|&m| f32::from(u8::from(m))).collect();
        let config = AugmentConfig::new()
            .with_max_rotation_degrees(25.0)
            .with_image_interpolation(ImageInterpolation::Nearest);
        let mut rng = seeded_rng(4);
        for _ in 0..20 {
            let aug = config.draw(&mut rng).unwrap();
            let m = aug.apply_mask(&mask, h, w).unwrap();
            let i = aug.apply_image(&image, h, w).unwrap();
            // The object is away from the border, so edge clamping never reaches it.
            let from_image: Vec<bool> = i.iter().map(|&v| v == 1.0).collect();
            assert_eq!(m, from_image, "{aug:?}");
            assert!(m.iter().any(|&b| b));
        }
        let same = config.draw(&mut seeded_rng(9)).unwrap();
        assert_eq!(same, config.draw(&mut seeded_rng(9)).unwrap());
    }

    #[test]
    fn bilinear_is_exact_on_affine_images_and_bad_input_is_an_error() {
        let (h, w) = (9, 9);
        let ramp: Vec<f32> = (0..h * w).map(|i| (i % w) as f32 * 0.5 + (i / w) as f32).collect();
        let aug = Augmentation {
            radians: 0.1,
            interpolation: ImageInterpolation::Bilinear,
            ..Augmentation::identity()
        };
        let out = aug.apply_image(&ramp, h, w).unwrap();
        // Centre pixel is fixed by a rotation about the centre.
        assert!((out[4 * w + 4] - ramp[4 * w + 4]).abs() < 1e-5);
        // A pixel next to the centre: the affine ramp at its rotated source point.
        let (sy, sx) = aug.source(4, 5, h, w);
        assert!((f64::from(out[4 * w + 5]) - (sx * 0.5 + sy)).abs() < 1e-5);
        assert!(aug.apply_image(&ramp[..10], h, w).is_err());
        let bad = AugmentConfig::new().with_max_rotation_degrees(f64::NAN);
        assert!(bad.draw(&mut seeded_rng(0)).is_err());
    }
}

//! The random 3D anatomy behind the 2D and 3D phantoms.
//!
//! A subject is drawn once from the RNG as a set of nested, perturbed ellipsoids in
//! head-centred coordinates; 2D phantoms evaluate it on the plane `z = 0` and 3D phantoms on a
//! voxel grid, so a centre slice of a 3D phantom looks like a 2D phantom of the same draw.

use rand::{Rng, RngExt};

use super::phantom_config::PhantomConfig;

/// Tissue labels of the phantoms' label maps.
pub mod tissue {
    /// Outside the head.
    pub const BACKGROUND: u8 = 0;
    /// Skull (bright ring).
    pub const SKULL: u8 = 1;
    /// Cerebrospinal fluid between skull and cortex.
    pub const CSF: u8 = 2;
    /// Grey matter (cortex).
    pub const GREY: u8 = 3;
    /// White matter.
    pub const WHITE: u8 = 4;
    /// The two lateral ventricles (dark).
    pub const VENTRICLE: u8 = 5;
    /// Lesions (inside white matter only).
    pub const LESION: u8 = 6;
    /// The number of labels.
    pub const COUNT: usize = 7;
}

/// An ellipsoid in head-local unit coordinates (the head is the unit ball there).
#[derive(Clone, Copy, Debug)]
struct Ellipsoid {
    center: [f32; 3],
    inv_semi: [f32; 3],
}

impl Ellipsoid {
    /// `sum_k ((q_k - c_k) / a_k)^2`, below 1 inside.
    fn level(&self, q: [f32; 3]) -> f32 {
        (0..3).map(|k| ((q[k] - self.center[k]) * self.inv_semi[k]).powi(2)).sum()
    }
}

/// Radial perturbation `1 + sum_k a_k cos(k phi + theta_k)` of a boundary, as a function of
/// the azimuth `phi` in the axial plane.
#[derive(Clone, Debug)]
struct Wobble {
    /// `(k, a_k cos theta_k, a_k sin theta_k)`.
    terms: Vec<(usize, f32, f32)>,
    max_k: usize,
}

impl Wobble {
    fn draw<R: Rng + ?Sized>(rng: &mut R, harmonics: &[usize], amplitude: (f32, f32)) -> Self {
        let terms = harmonics
            .iter()
            .map(|&k| {
                let a = rng.random_range(amplitude.0..=amplitude.1);
                let theta = rng.random_range(0.0..std::f32::consts::TAU);
                (k, a * theta.cos(), a * theta.sin())
            })
            .collect();
        Self { terms, max_k: harmonics.iter().copied().max().unwrap_or(0) }
    }

    /// `1 + sum_k a_k cos(k phi + theta_k)` with `(cos phi, sin phi) = (c, s)`, using
    /// `cos(k phi + theta) = cos(k phi) cos(theta) - sin(k phi) sin(theta)` and powers of
    /// `e^{i phi}` instead of trigonometric calls.
    fn factor(&self, c: f32, s: f32) -> f32 {
        let (mut re, mut im) = (1.0f32, 0.0f32);
        let mut total = 1.0;
        let mut next = 0;
        for k in 1..=self.max_k {
            (re, im) = (re * c - im * s, re * s + im * c);
            while next < self.terms.len() && self.terms[next].0 == k {
                let (_, ac, as_) = self.terms[next];
                total += ac * re - as_ * im;
                next += 1;
            }
        }
        total
    }
}

/// One lesion: an ellipsoid and its signed intensity change.
#[derive(Clone, Copy, Debug)]
struct Lesion {
    shape: Ellipsoid,
    delta: f32,
}

/// Mean tissue intensities (before bias and noise).
#[derive(Clone, Copy, Debug)]
struct Intensities {
    skull: f32,
    csf: f32,
    grey: f32,
    white: f32,
    ventricle: f32,
}

/// One drawn subject.
#[derive(Clone, Debug)]
pub(crate) struct Anatomy {
    /// Head centre in image coordinates (`[-1, 1]` per axis, order `x, y, z`).
    center: [f32; 3],
    /// Head semi-axes in image coordinates.
    semi: [f32; 3],
    /// In-plane rotation (cos, sin).
    rotation: (f32, f32),
    outline: Wobble,
    gyri: Wobble,
    /// Inner radii (head-local unit radius) of skull, CSF and grey matter shells.
    skull_inner: f32,
    csf_inner: f32,
    grey_inner: f32,
    ventricles: [Ellipsoid; 2],
    lesions: Vec<Lesion>,
    intensities: Intensities,
    /// Bias coefficients of `x, y, z, x y, x^2 - y^2`.
    bias: [f32; 5],
    bias_strength: f32,
    /// The age covariate in `[0, 1]`.
    pub age: f32,
    /// The sex covariate: 0 female, 1 male (the male head is larger by the configuration's
    /// `sex_head_difference`).
    pub sex: u8,
    /// Lesion polarity class: 1 hypo-intense, 2 hyper-intense (used when lesions are visible).
    pub lesion_class: u8,
}

/// Label and noise-free intensity at one point.
pub(crate) struct Sample {
    pub label: u8,
    pub intensity: f32,
}

impl Anatomy {
    /// Draws a subject. The sequence of draws does not depend on whether the phantom is 2D or
    /// 3D; `planar` only pins lesion centres to `z = 0` so that 2D lesions are visible.
    pub(crate) fn draw<R: Rng + ?Sized>(cfg: &PhantomConfig, planar: bool, rng: &mut R) -> Self {
        let mut u = |lo: f32, hi: f32| rng.random_range(lo..=hi);
        let age = u(0.0, 1.0);
        let center = [u(-0.04, 0.04), u(-0.04, 0.04), 0.0];
        let semi = [u(0.70, 0.78), u(0.84, 0.92), u(0.78, 0.86)];
        let angle = u(-0.12, 0.12);
        let skull_inner = 1.0 - u(0.08, 0.11);
        let csf_inner = skull_inner - u(0.04, 0.07) - 0.03 * age;
        let grey_inner = csf_inner - u(0.13, 0.18);
        let jitter = |u: &mut dyn FnMut(f32, f32) -> f32, v: f32| v + u(-0.03, 0.03);
        let intensities = Intensities {
            skull: jitter(&mut u, 0.9),
            csf: jitter(&mut u, 0.22),
            grey: jitter(&mut u, 0.5),
            white: jitter(&mut u, 0.72),
            ventricle: jitter(&mut u, 0.12),
        };
        // Lateral ventricles: grow with age in every direction.
        let spread = 0.10 + 0.06 * age + u(-0.01, 0.01);
        let half = [
            0.05 + 0.07 * age + u(-0.01, 0.01),
            0.18 + 0.12 * age + u(-0.02, 0.02),
            0.12 + 0.08 * age + u(-0.02, 0.02),
        ];
        let dy = u(-0.1, -0.02);
        let ventricle = |sign: f32| Ellipsoid {
            center: [sign * spread, dy, 0.0],
            inv_semi: half.map(|h| 1.0 / h),
        };
        let ventricles = [ventricle(-1.0), ventricle(1.0)];
        let bias = [u(-1.0, 1.0), u(-1.0, 1.0), u(-1.0, 1.0), u(-1.0, 1.0), u(-1.0, 1.0)];
        let outline = Wobble::draw(rng, &[2, 3, 4], (0.0, 0.02));
        let gyri = Wobble::draw(rng, &[6, 8, 11], (0.01, 0.03));

        let has_lesions = rng.random_bool(cfg.lesion_probability);
        let lesion_class = if rng.random_bool(0.5) { 1 } else { 2 };
        let mut lesions = Vec::new();
        if has_lesions {
            let count = rng.random_range(1..=cfg.max_lesions);
            let sign = if lesion_class == 1 { -1.0 } else { 1.0 };
            for _ in 0..count {
                let radius = rng.random_range(cfg.lesion_radius_min..=cfg.lesion_radius_max) as f32;
                let inv_semi = [0, 1, 2].map(|_| 1.0 / (radius * rng.random_range(0.7f32..=1.3)));
                let contrast =
                    rng.random_range(cfg.lesion_contrast_min..=cfg.lesion_contrast_max) as f32;
                // Rejection sampling of a centre deep in white matter, outside the ventricles.
                let mut center = [0.0, 0.0, 0.0];
                for _ in 0..32 {
                    let c = [
                        rng.random_range(-1.0f32..=1.0),
                        rng.random_range(-1.0f32..=1.0),
                        rng.random_range(-1.0f32..=1.0),
                    ];
                    let c = [c[0] * grey_inner, c[1] * grey_inner, c[2] * grey_inner * 0.8];
                    let c = if planar { [c[0], c[1], 0.0] } else { c };
                    let r2: f32 = c.iter().map(|v| v * v).sum();
                    let deep = r2.sqrt() < 0.85 * grey_inner;
                    let clear = ventricles.iter().all(|v| v.level(c) > 1.5);
                    center = c;
                    if deep && clear {
                        break;
                    }
                }
                lesions
                    .push(Lesion { shape: Ellipsoid { center, inv_semi }, delta: sign * contrast });
            }
        }
        // The sex bit is read off a fine digit of the rotation draw rather than drawn anew, so
        // that the generator's sequence (and every other attribute of every subject) is the
        // same as before the covariate existed: `⌊10⁴ θ⌋ mod 2` is a fair coin independent of
        // the coarse angle.
        let sex = u8::from((angle * 1e4).floor().rem_euclid(2.0) >= 1.0);
        let half_difference = 0.5 * cfg.sex_head_difference as f32;
        let scale = if sex == 1 { 1.0 + half_difference } else { 1.0 - half_difference };
        let semi = semi.map(|a| a * scale);
        Self {
            center,
            semi,
            rotation: (angle.cos(), angle.sin()),
            outline,
            gyri,
            skull_inner,
            csf_inner,
            grey_inner,
            ventricles,
            lesions,
            intensities,
            bias,
            bias_strength: cfg.bias_strength as f32,
            age,
            sex,
            lesion_class,
        }
    }

    /// Label and intensity at image coordinates `p = (x, y, z)` in `[-1, 1]^3`.
    pub(crate) fn sample(&self, p: [f32; 3]) -> Sample {
        let (c, s) = self.rotation;
        let dx = p[0] - self.center[0];
        let dy = p[1] - self.center[1];
        let q = [
            (c * dx + s * dy) / self.semi[0],
            (-s * dx + c * dy) / self.semi[1],
            (p[2] - self.center[2]) / self.semi[2],
        ];
        let rho = (q[0] * q[0] + q[1] * q[1]).sqrt();
        let (cp, sp) = if rho > 1e-6 { (q[0] / rho, q[1] / rho) } else { (1.0, 0.0) };
        let r = (rho * rho + q[2] * q[2]).sqrt() / self.outline.factor(cp, sp);
        let i = &self.intensities;
        let (label, intensity) = if r > 1.0 {
            (tissue::BACKGROUND, 0.0)
        } else if r > self.skull_inner {
            (tissue::SKULL, i.skull)
        } else if r > self.csf_inner {
            (tissue::CSF, i.csf)
        } else if r * self.gyri.factor(cp, sp) > self.grey_inner {
            (tissue::GREY, i.grey)
        } else if self.ventricles.iter().any(|v| v.level(q) <= 1.0) {
            (tissue::VENTRICLE, i.ventricle)
        } else if let Some(lesion) = self.lesions.iter().find(|l| l.shape.level(q) <= 1.0) {
            (tissue::LESION, i.white + lesion.delta)
        } else {
            (tissue::WHITE, i.white)
        };
        Sample { label, intensity }
    }

    /// The multiplicative bias `1 + s (c . [x, y, z, x y, x^2 - y^2]) / 5` at `p`, which lies
    /// in `[1 - s, 1 + s]` on `[-1, 1]^3`.
    pub(crate) fn bias(&self, p: [f32; 3]) -> f32 {
        let [x, y, z] = p;
        let basis = [x, y, z, x * y, 0.5 * (x * x - y * y)];
        let field: f32 = self.bias.iter().zip(basis).map(|(c, b)| c * b).sum();
        1.0 + self.bias_strength * field / 5.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::rng::seeded_rng;

    #[test]
    fn wobble_matches_trigonometric_formula() {
        let w = Wobble::draw(&mut seeded_rng(2), &[2, 5], (0.1, 0.2));
        for phi in [0.0f32, 0.7, 2.0, -1.3] {
            let direct: f32 = 1.0
                + w.terms
                    .iter()
                    .map(|&(k, ac, as_)| ac * (k as f32 * phi).cos() - as_ * (k as f32 * phi).sin())
                    .sum::<f32>();
            assert!((w.factor(phi.cos(), phi.sin()) - direct).abs() < 1e-5);
        }
    }

    #[test]
    fn tissues_are_nested_from_the_centre_outwards() {
        let cfg = PhantomConfig::new(32).with_lesion_probability(0.0);
        let a = Anatomy::draw(&cfg, true, &mut seeded_rng(7));
        assert_eq!(a.sample([0.99, 0.99, 0.0]).label, tissue::BACKGROUND);
        // Walk from the centre along +y: labels never go back inwards once outside.
        let order = |l: u8| match l {
            tissue::VENTRICLE | tissue::WHITE => 0,
            tissue::GREY => 1,
            tissue::CSF => 2,
            tissue::SKULL => 3,
            _ => 4,
        };
        let mut last = 0;
        for step in 0..100 {
            let y = step as f32 / 100.0;
            let l = order(a.sample([a.center[0], a.center[1] + y, 0.0]).label);
            assert!(l >= last, "label order broke at y = {y}");
            last = l;
        }
        assert_eq!(last, 4);
        for p in [[0.3f32, -0.5, 0.2], [-0.9, 0.9, -0.9]] {
            let b = a.bias(p);
            assert!((b - 1.0).abs() <= cfg.bias_strength as f32 + 1e-6);
        }
    }
}

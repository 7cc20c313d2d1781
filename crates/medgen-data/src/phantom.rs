//! The synthetic brain phantom: medgen's embedded default data set (nothing is downloaded).
//!
//! # Model
//! Each subject is drawn from a seeded RNG as nested, slightly perturbed ellipsoids in
//! image coordinates `[-1, 1]^3` (`x` along the width, `y` along the height, `z` along the depth):
//! a head outline, a bright skull ring, CSF, grey matter with a gyral boundary and white matter;
//! two dark lateral ventricles near the centre whose size grows linearly with an `age`
//! covariate in `[0, 1]` (the CSF shell also widens with age); a `sex` covariate (0 female,
//! 1 male) that scales the head by `1 ± e/2` (`e = sex_head_difference`, 0 by default); a measured
//! brain volume (the fraction of pixels inside the brain); and, with probability `lesion_probability`, `1..=max_lesions`
//! ellipsoidal lesions inside white matter, all hypo-intense (class 1) or all hyper-intense
//! (class 2) with a random contrast. The intensity is `clamp(I(p) · b(p) + σ ε, 0, 1)` with
//! T1-like tissue means `I` (skull 0.9, CSF 0.22, grey 0.5, white 0.72, ventricles 0.12, each
//! jittered by ±0.03 per subject), a smooth bias field `b(p) ∈ [1 - s, 1 + s]` and Gaussian
//! noise `ε ~ N(0, 1)`.
//!
//! 2D phantoms are the plane `z = 0` of the same model (pixel centres
//! `x_j = (2 j + 1) / W - 1`), with lesion centres pinned to that plane; 3D phantoms sample
//! voxel centres `z_k = (2 k + 1) / D - 1`, so for odd `D` the centre slice of a lesion-free,
//! noise-free 3D phantom equals the 2D phantom of the same seed exactly.
//!
//! # Labels
//! The label map uses [`tissue`]: 0 background, 1 skull, 2 CSF, 3 grey matter, 4 white
//! matter, 5 ventricles, 6 lesion. The lesion mask is `label == 6` (a subset of white matter
//! by construction) and the ventricle mask is `label == 5`.
//!
//! Generation is a pure function of `(config, rng)`: the same seed gives the same phantoms.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::anatomy::Anatomy;
pub use super::anatomy::tissue;
use super::phantom_batch::{PhantomBatch, PhantomCovariates};
use super::phantom_config::PhantomConfig;
use medgen_core::error::{CoreError, Result};

/// The number of pathology classes: 0 no lesion, 1 hypo-intense lesions, 2 hyper-intense
/// lesions.
pub const PHANTOM_CLASSES: usize = 3;

impl PhantomConfig {
    /// Generates `n` 2D phantoms of size `H × W` (see the [module docs](self)).
    ///
    /// Fails with [`CoreError::InvalidConfig`] for an invalid configuration and
    /// [`CoreError::Empty`] for `n == 0`.
    pub fn generate_batch<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<PhantomBatch> {
        let (h, w) = self.image_size();
        self.generate(n, &[h, w], rng)
    }

    /// Generates `n` 3D phantom volumes of size `D × H × W` (see the [module docs](self)).
    ///
    /// Fails like [`Self::generate_batch`].
    pub fn generate_volume_batch<R: Rng + ?Sized>(
        &self,
        n: usize,
        rng: &mut R,
    ) -> Result<PhantomBatch> {
        let (d, h, w) = self.volume_size();
        self.generate(n, &[d, h, w], rng)
    }

    fn generate<R: Rng + ?Sized>(
        &self,
        n: usize,
        spatial: &[usize],
        rng: &mut R,
    ) -> Result<PhantomBatch> {
        self.validate()?;
        if n == 0 {
            return Err(CoreError::Empty { what: "phantom batch (n = 0)".into() });
        }
        let planar = spatial.len() == 2;
        let (d, h, w) = match *spatial {
            [h, w] => (1, h, w),
            [d, h, w] => (d, h, w),
            _ => unreachable!("generate is called with 2 or 3 spatial dimensions"),
        };
        let voxels = d * h * w;
        let mut batch = PhantomBatch {
            spatial: spatial.to_vec(),
            images: Vec::with_capacity(n * voxels),
            labels: Vec::with_capacity(n * voxels),
            covariates: Vec::with_capacity(n),
        };
        let coord = |i: usize, size: usize| (2 * i + 1) as f32 / size as f32 - 1.0;
        let sigma = self.noise_std as f32;
        for _ in 0..n {
            let anatomy = Anatomy::draw(self, planar, rng);
            let mut counts = [0usize; tissue::COUNT];
            for k in 0..d {
                let z = if planar { 0.0 } else { coord(k, d) };
                for i in 0..h {
                    let y = coord(i, h);
                    for j in 0..w {
                        let p = [coord(j, w), y, z];
                        let sample = anatomy.sample(p);
                        let noise = if sigma > 0.0 {
                            sigma * rng.sample::<f32, _>(StandardNormal)
                        } else {
                            0.0
                        };
                        let value = sample.intensity * anatomy.bias(p) + noise;
                        batch.images.push(value.clamp(0.0, 1.0));
                        batch.labels.push(sample.label);
                        counts[usize::from(sample.label)] += 1;
                    }
                }
            }
            let brain: usize = counts[usize::from(tissue::CSF)..].iter().sum();
            let fraction = |label: u8| counts[usize::from(label)] as f32 / brain.max(1) as f32;
            let lesion_fraction = fraction(tissue::LESION);
            batch.covariates.push(PhantomCovariates {
                age: anatomy.age,
                class: if lesion_fraction > 0.0 { anatomy.lesion_class } else { 0 },
                ventricle_fraction: fraction(tissue::VENTRICLE),
                lesion_fraction,
                sex: anatomy.sex,
                brain_fraction: brain as f32 / counts.iter().sum::<usize>().max(1) as f32,
            });
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::rng::seeded_rng;

    fn count(labels: &[u8], label: u8) -> usize {
        labels.iter().filter(|&&l| l == label).count()
    }

    #[test]
    fn same_seed_same_phantoms_and_values_in_range() {
        let cfg = PhantomConfig::new(24).with_width(Some(20));
        let a = cfg.generate_batch(3, &mut seeded_rng(11)).unwrap();
        let b = cfg.generate_batch(3, &mut seeded_rng(11)).unwrap();
        let c = cfg.generate_batch(3, &mut seeded_rng(12)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.images, c.images);
        assert_eq!(a.shape(), vec![3, 1, 24, 20]);
        assert!(a.images.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(a.labels.iter().all(|&l| usize::from(l) < tissue::COUNT));
    }

    #[test]
    fn tissue_areas_are_anatomically_plausible() {
        let cfg = PhantomConfig::new(64).with_lesion_probability(0.0);
        let batch = cfg.generate_batch(4, &mut seeded_rng(5)).unwrap();
        for i in 0..batch.len() {
            let labels = batch.label_map(i);
            let total = labels.len() as f32;
            let frac = |l| count(labels, l) as f32 / total;
            // Head ellipse with semi-axes ~0.74 x 0.88 of the half-field: area ~ pi ab / 4.
            let head = 1.0 - frac(tissue::BACKGROUND);
            assert!((0.40..0.62).contains(&head), "head {head}");
            assert!((0.04..0.20).contains(&frac(tissue::SKULL)));
            assert!((0.02..0.15).contains(&frac(tissue::CSF)));
            assert!((0.06..0.30).contains(&frac(tissue::GREY)));
            assert!((0.05..0.30).contains(&frac(tissue::WHITE)));
            assert!(frac(tissue::VENTRICLE) > 0.002);
            assert_eq!(count(labels, tissue::LESION), 0);
            assert_eq!(batch.covariates[i].class, 0);
            // Tissue means: skull brighter than white matter, brighter than ventricles.
            let mean = |l: u8| {
                let (s, n) = labels
                    .iter()
                    .zip(batch.image(i))
                    .filter(|(x, _)| **x == l)
                    .fold((0.0, 0), |(s, n), (_, v)| (s + v, n + 1));
                s / n as f32
            };
            assert!(mean(tissue::SKULL) > mean(tissue::WHITE));
            assert!(mean(tissue::WHITE) > mean(tissue::GREY));
            assert!(mean(tissue::GREY) > mean(tissue::VENTRICLE));
        }
    }

    #[test]
    fn male_heads_are_larger_and_brains_shrink_with_age() {
        let cfg =
            PhantomConfig::new(48).with_lesion_probability(0.0).with_sex_head_difference(0.08);
        let batch = cfg.generate_batch(48, &mut seeded_rng(4)).unwrap();
        let neutral = PhantomConfig::new(48)
            .with_lesion_probability(0.0)
            .generate_batch(48, &mut seeded_rng(4))
            .unwrap();
        // The sex bit costs no draw: the sex-neutral data set is the same subjects.
        for (a, b) in neutral.covariates.iter().zip(&batch.covariates) {
            assert_eq!((a.age, a.sex), (b.age, b.sex));
        }
        let covariates = &batch.covariates;
        let males = covariates.iter().filter(|c| c.sex == 1).count();
        assert!((12..=36).contains(&males), "{males} males of 48");
        let mean = |sex: u8| {
            let group: Vec<f32> =
                covariates.iter().filter(|c| c.sex == sex).map(|c| c.brain_fraction).collect();
            group.iter().sum::<f32>() / group.len() as f32
        };
        // Area ratio (1.04/0.96)² ≈ 1.17 minus the age effect's noise.
        assert!(mean(1) > 1.1 * mean(0), "male {} female {}", mean(1), mean(0));
        // Within one sex, older subjects have less brain.
        let female: Vec<(f32, f32)> =
            covariates.iter().filter(|c| c.sex == 0).map(|c| (c.age, c.brain_fraction)).collect();
        let n = female.len() as f32;
        let (ma, mb) = (
            female.iter().map(|p| p.0).sum::<f32>() / n,
            female.iter().map(|p| p.1).sum::<f32>() / n,
        );
        let cov: f32 = female.iter().map(|p| (p.0 - ma) * (p.1 - mb)).sum();
        assert!(cov < 0.0, "age and brain volume should be anti-correlated: {cov}");
        assert!(covariates.iter().all(|c| (0.2..0.8).contains(&c.brain_fraction)));
        assert_eq!(covariates[0].vector()[3], f32::from(covariates[0].sex));
    }

    #[test]
    fn ventricles_grow_with_age() {
        let cfg = PhantomConfig::new(48).with_lesion_probability(0.0);
        let batch = cfg.generate_batch(24, &mut seeded_rng(3)).unwrap();
        let mut pairs: Vec<(f32, f32)> =
            batch.covariates.iter().map(|c| (c.age, c.ventricle_fraction)).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = pairs.len() as f32;
        let mean_age = pairs.iter().map(|p| p.0).sum::<f32>() / n;
        let mean_v = pairs.iter().map(|p| p.1).sum::<f32>() / n;
        let cov: f32 = pairs.iter().map(|p| (p.0 - mean_age) * (p.1 - mean_v)).sum();
        let var_a: f32 = pairs.iter().map(|p| (p.0 - mean_age).powi(2)).sum();
        let var_v: f32 = pairs.iter().map(|p| (p.1 - mean_v).powi(2)).sum();
        let corr = cov / (var_a * var_v).sqrt();
        assert!(corr > 0.8, "age-ventricle correlation {corr}");
        let young: f32 = pairs[..6].iter().map(|p| p.1).sum();
        let old: f32 = pairs[18..].iter().map(|p| p.1).sum();
        assert!(old > 1.5 * young, "old {old} young {young}");
    }

    #[test]
    fn lesions_lie_in_white_matter_and_set_the_class() {
        let cfg = PhantomConfig::new(48)
            .with_lesion_probability(1.0)
            .with_noise_std(0.0)
            .with_bias_strength(0.0);
        let batch = cfg.generate_batch(8, &mut seeded_rng(21)).unwrap();
        let mut with_lesions = 0;
        for i in 0..batch.len() {
            let labels = batch.label_map(i);
            let lesion = batch.lesion_mask(i);
            let cov = batch.covariates[i];
            let lesion_pixels = lesion.iter().filter(|&&m| m == 1).count();
            if lesion_pixels > 0 {
                with_lesions += 1;
                assert!(cov.class == 1 || cov.class == 2);
                // Every lesion pixel differs from white matter by the lesion's contrast sign.
                let white = labels
                    .iter()
                    .zip(batch.image(i))
                    .find(|(l, _)| **l == tissue::WHITE)
                    .map(|(_, v)| *v)
                    .unwrap();
                for (m, v) in lesion.iter().zip(batch.image(i)) {
                    if *m == 1 {
                        let expected_sign = if cov.class == 1 { -1.0 } else { 1.0 };
                        assert!((v - white) * expected_sign > 0.1);
                    }
                }
            } else {
                assert_eq!(cov.class, 0);
            }
            // Lesion pixels are surrounded by brain tissue, never skull or background.
            let w = 48;
            for (idx, &m) in lesion.iter().enumerate() {
                if m == 1 {
                    for nb in [idx - 1, idx + 1, idx - w, idx + w] {
                        assert!(labels[nb] >= tissue::GREY, "lesion touches {}", labels[nb]);
                    }
                }
            }
        }
        assert!(with_lesions >= 6, "{with_lesions} of 8 subjects show lesions");
        let healthy =
            cfg.with_lesion_probability(0.0).generate_batch(4, &mut seeded_rng(1)).unwrap();
        assert!(healthy.labels.iter().all(|&l| l != tissue::LESION));
    }

    #[test]
    fn centre_slice_of_a_volume_is_the_2d_phantom() {
        let cfg = PhantomConfig::new(16)
            .with_depth(Some(9))
            .with_lesion_probability(0.0)
            .with_noise_std(0.0);
        let flat = cfg.generate_batch(2, &mut seeded_rng(8)).unwrap();
        let vol = cfg.generate_volume_batch(2, &mut seeded_rng(8)).unwrap();
        assert_eq!(vol.shape(), vec![2, 1, 9, 16, 16]);
        for i in 0..2 {
            let centre = &vol.image(i)[4 * 256..5 * 256];
            assert_eq!(centre, flat.image(i));
            let labels = &vol.label_map(i)[4 * 256..5 * 256];
            assert_eq!(labels, flat.label_map(i));
            // The top and bottom slices hold less brain than the centre.
            let brain = |s: &[u8]| s.iter().filter(|&&l| l >= tissue::CSF).count();
            assert!(brain(&vol.label_map(i)[..256]) < brain(labels));
        }
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        assert!(matches!(
            PhantomConfig::new(16).generate_batch(0, &mut seeded_rng(0)),
            Err(CoreError::Empty { .. })
        ));
        assert!(matches!(
            PhantomConfig::new(16).with_noise_std(-1.0).generate_batch(1, &mut seeded_rng(0)),
            Err(CoreError::InvalidConfig { .. })
        ));
    }
}

//! Multi-octave (fractal) simplex noise fields, as AnoDDPM (Wyatt et al., CVPR-W 2022) uses
//! instead of Gaussian noise for anomaly detection.

use std::num::NonZeroUsize;

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use rand::{Rng, RngExt};

use super::buffer::{noise_buffer, upload};
use super::simplex::SimplexLattice;
use crate::error::{CoreError, Result};

/// Lattice hashes repeat every 256 cells per axis; random field offsets are drawn within that
/// range (`256 / frequency` pixels along each axis).
const LATTICE_PERIOD: f64 = 256.0;

/// The most octaves a configuration may ask for (beyond this the finest octave is far below a
/// pixel for any sensible frequency).
pub const MAX_OCTAVES: usize = 32;

/// The largest lattice coordinate an octave may reach: beyond `2^52` an `f64` no longer
/// resolves a lattice cell (and soon the integer lattice index no longer fits an `i64`).
const MAX_COORDINATE: f64 = 4_503_599_627_370_496.0;

/// Below this many noise points per thread, filling a field is not split across threads.
const POINTS_PER_THREAD: usize = 1 << 14;

/// Settings of fractal simplex noise: the sum of `octaves` layers of simplex noise, layer `o`
/// at spatial frequency `frequency · lacunarity^o` with amplitude `persistence^o`:
///
/// `n(p) = Σ_{o=0}^{octaves-1} persistence^o · simplex(frequency · lacunarity^o · p) / Σ_o persistence^o`
///
/// where `p` is a position in pixels (voxels) and `simplex` is [`SimplexLattice`] noise
/// (so `n` lies in `[-1, 1]`).
///
/// `frequency` is in lattice cells per pixel, so features are about `1 / frequency` pixels
/// across. AnoDDPM's `frequency` argument is a wavelength in pixels that it halves every
/// octave: its defaults (`octave = 6, persistence = 0.8, frequency = 64`) correspond to
/// `frequency = 1/64, octaves = 6, persistence = 0.8, lacunarity = 2` here (the defaults).
#[derive(Config, Debug, PartialEq)]
pub struct SimplexNoiseConfig {
    /// Spatial frequency of the first octave, in lattice cells per pixel; `> 0`.
    #[config(default = 0.015625)]
    pub frequency: f64,
    /// Number of octaves, in `1..=32`.
    #[config(default = 6)]
    pub octaves: usize,
    /// Amplitude ratio between successive octaves, in `(0, 1]`.
    #[config(default = 0.8)]
    pub persistence: f64,
    /// Frequency ratio between successive octaves, finite and `>= 1`.
    #[config(default = 2.0)]
    pub lacunarity: f64,
}

impl SimplexNoiseConfig {
    /// Checks every setting's range, and that `256 / frequency` and the finest octave's
    /// lattice coordinates stay finite and below `2^52`.
    pub fn validate(&self) -> Result<()> {
        if !(self.frequency.is_finite() && self.frequency > 0.0) {
            return Err(CoreError::config(
                "frequency",
                format!("must be positive and finite, got {}", self.frequency),
            ));
        }
        if !(1..=MAX_OCTAVES).contains(&self.octaves) {
            return Err(CoreError::config(
                "octaves",
                format!("must lie in 1..={MAX_OCTAVES}, got {}", self.octaves),
            ));
        }
        if !(self.persistence > 0.0 && self.persistence <= 1.0) {
            return Err(CoreError::config(
                "persistence",
                format!("must lie in (0, 1], got {}", self.persistence),
            ));
        }
        if !(self.lacunarity.is_finite() && self.lacunarity >= 1.0) {
            return Err(CoreError::config(
                "lacunarity",
                format!("must be finite and at least 1, got {}", self.lacunarity),
            ));
        }
        // Field offsets are drawn from [0, 256 / frequency) pixels.
        if !(LATTICE_PERIOD / self.frequency).is_finite() {
            return Err(CoreError::config(
                "frequency",
                format!(
                    "{} is too small: the lattice period 256 / frequency overflows",
                    self.frequency
                ),
            ));
        }
        let spread = self.octave_spread();
        let reach = spread * LATTICE_PERIOD;
        if reach.is_nan() || reach > MAX_COORDINATE {
            return Err(CoreError::config(
                "lacunarity",
                format!(
                    "lacunarity^(octaves - 1) = {spread:e} puts the finest octave beyond lattice \
                     coordinate 2^52"
                ),
            ));
        }
        Ok(())
    }

    /// `lacunarity^(octaves − 1)`, the frequency ratio of the finest to the first octave.
    fn octave_spread(&self) -> f64 {
        self.lacunarity.powi(i32::try_from(self.octaves).unwrap_or(i32::MAX) - 1)
    }

    /// Checks that the finest octave of a field `side` pixels across stays below lattice
    /// coordinate `2^52`: pixel `x` plus an offset below `256 / frequency` reaches
    /// `side · frequency · spread + 256 · spread`.
    fn check_extent(&self, side: usize) -> Result<()> {
        let spread = self.octave_spread();
        let reach = side as f64 * self.frequency * spread + LATTICE_PERIOD * spread;
        if reach <= MAX_COORDINATE {
            Ok(())
        } else {
            Err(CoreError::config(
                "frequency",
                format!(
                    "{} with {} octaves reaches lattice coordinate {reach:e} on a side of {side} \
                     pixels, beyond 2^52",
                    self.frequency, self.octaves
                ),
            ))
        }
    }

    /// The fractal sum `n(p)` for a layer `noise(s)` that evaluates the simplex noise at the
    /// position scaled by `s`.
    fn fractal(&self, noise: impl Fn(f64) -> f64) -> f64 {
        let (mut sum, mut total_amplitude) = (0.0, 0.0);
        let (mut amplitude, mut frequency) = (1.0, self.frequency);
        for _ in 0..self.octaves {
            sum += amplitude * noise(frequency);
            total_amplitude += amplitude;
            amplitude *= self.persistence;
            frequency *= self.lacunarity;
        }
        sum / total_amplitude
    }

    /// The fractal noise `n(x, y)` of `lattice` at pixel position `(x, y)`, in `[-1, 1]`.
    pub fn fractal_2d(&self, lattice: &SimplexLattice, x: f64, y: f64) -> f64 {
        self.fractal(|s| lattice.noise_2d(s * x, s * y))
    }

    /// The fractal noise `n(x, y, z)` of `lattice` at voxel position `(x, y, z)`, in `[-1, 1]`.
    pub fn fractal_3d(&self, lattice: &SimplexLattice, x: f64, y: f64, z: f64) -> f64 {
        self.fractal(|s| lattice.noise_3d(s * x, s * y, s * z))
    }
}

/// Draws fractal simplex noise of shape `[N, C, H, W]` (`D = 4`, 2D noise) or
/// `[N, C, D, H, W]` (`D = 5`, 3D noise) on `device`.
///
/// Each of the `N · C` fields (one per item and channel) is independent: it gets its own
/// permutation table and a random offset within the lattice period, both drawn from `rng`.
/// Each field is then **standardised to zero mean and unit variance** over its pixels
/// (`(n - mean) / std`, population statistics), so it can replace `N(0, 1)` noise in a
/// diffusion model; a field with no variation (e.g. a single pixel) becomes all zeros.
///
/// Computed on the host (in parallel over rows, with identical results for any thread count)
/// and uploaded once, so a seed gives the same noise on every device; a 64×64×64 volume with
/// six octaves takes a fraction of a second.
///
/// # Errors
/// [`CoreError::InvalidConfig`] for invalid settings or a shape too large to allocate,
/// [`CoreError::InvalidRank`] unless `D` is 4 or 5, [`CoreError::Empty`] if a dimension is 0.
pub fn simplex_noise<const D: usize>(
    shape: [usize; D],
    config: &SimplexNoiseConfig,
    rng: &mut (impl Rng + ?Sized),
    device: &Device,
) -> Result<Tensor<D>> {
    config.validate()?;
    if D != 4 && D != 5 {
        return Err(CoreError::InvalidRank {
            what: "simplex noise shape ([N, C, H, W] or [N, C, D, H, W])".into(),
            expected: if D < 4 { 4 } else { 5 },
            got: D,
        });
    }
    let mut values = noise_buffer(&shape, "simplex noise shape")?;
    let spatial = &shape[2..];
    config.check_extent(spatial.iter().copied().max().unwrap_or(1))?;
    let field_len: usize = spatial.iter().product();
    let width = spatial[spatial.len() - 1];
    let height = spatial[spatial.len() - 2];
    let fields: Vec<(SimplexLattice, [f64; 3])> = (0..shape[0] * shape[1])
        .map(|_| {
            let lattice = SimplexLattice::new(rng);
            let period = LATTICE_PERIOD / config.frequency;
            let offset = std::array::from_fn(|_| rng.random_range(0.0..period));
            (lattice, offset)
        })
        .collect();
    let rows_per_field = field_len / width;
    fill_rows(&mut values, width, config.octaves, |row, out| {
        let (lattice, offset) = &fields[row / rows_per_field];
        let within = row % rows_per_field;
        let y = (within % height) as f64 + offset[1];
        let z = (within / height) as f64 + offset[2];
        for (x, value) in out.iter_mut().enumerate() {
            let x = x as f64 + offset[0];
            let noise = if D == 4 {
                config.fractal_2d(lattice, x, y)
            } else {
                config.fractal_3d(lattice, x, y, z)
            };
            *value = noise as f32;
        }
    });
    for field in values.chunks_mut(field_len) {
        standardise(field);
    }
    Ok(upload(values, shape, device))
}

/// [`simplex_noise`] with the shape and device of `tensor` (rank 4 or 5).
pub fn simplex_like<const D: usize>(
    tensor: &Tensor<D>,
    config: &SimplexNoiseConfig,
    rng: &mut (impl Rng + ?Sized),
) -> Result<Tensor<D>> {
    simplex_noise(tensor.dims(), config, rng, &tensor.device())
}

/// Calls `fill(row_index, row)` for every `row_len`-long row of `values`, spread over the
/// available cores when the work (`values.len() · octaves` noise evaluations) is large.
fn fill_rows(
    values: &mut [f32],
    row_len: usize,
    octaves: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) {
    let rows = values.len() / row_len;
    let work = values.len().saturating_mul(octaves);
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(work.div_ceil(POINTS_PER_THREAD))
        .clamp(1, rows);
    let rows_per_thread = rows.div_ceil(threads);
    let fill_chunk = |first_row: usize, chunk: &mut [f32]| {
        for (r, row) in chunk.chunks_mut(row_len).enumerate() {
            fill(first_row + r, row);
        }
    };
    if threads == 1 {
        fill_chunk(0, values);
        return;
    }
    std::thread::scope(|scope| {
        for (i, chunk) in values.chunks_mut(rows_per_thread * row_len).enumerate() {
            let fill_chunk = &fill_chunk;
            scope.spawn(move || fill_chunk(i * rows_per_thread, chunk));
        }
    });
}

/// Rescales `field` in place to zero mean and unit (population) variance; a constant field
/// becomes all zeros.
fn standardise(field: &mut [f32]) {
    let n = field.len() as f64;
    let mean = field.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = field.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let std = variance.sqrt();
    let inverse = if std > 1e-12 { 1.0 / std } else { 0.0 };
    for v in field {
        *v = ((f64::from(*v) - mean) * inverse) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded_rng;
    use medgen_testing::test_device;

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.try_into_vec_as::<f32>().unwrap().into_iter().map(f64::from).collect()
    }

    fn mean_and_variance(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
    }

    /// The correlation of horizontally adjacent pixels, averaged over the fields of a
    /// `[N, C, H, W]` tensor.
    fn lag_one_correlation(v: &[f64], height: usize, width: usize) -> f64 {
        let fields: Vec<&[f64]> = v.chunks(height * width).collect();
        let per_field = fields.iter().map(|field| {
            let (mean, var) = mean_and_variance(field);
            let covariance: f64 = field
                .chunks(width)
                .flat_map(|row| row.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)))
                .sum::<f64>()
                / (height * (width - 1)) as f64;
            covariance / var
        });
        per_field.sum::<f64>() / fields.len() as f64
    }

    #[test]
    fn deterministic_per_seed_and_fields_differ() {
        let device = test_device();
        let config = SimplexNoiseConfig::new();
        let a = values(simplex_noise([2, 2, 8, 8], &config, &mut seeded_rng(5), &device).unwrap());
        let b = values(simplex_noise([2, 2, 8, 8], &config, &mut seeded_rng(5), &device).unwrap());
        let c = values(simplex_noise([2, 2, 8, 8], &config, &mut seeded_rng(6), &device).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let fields: Vec<&[f64]> = a.chunks(64).collect();
        for i in 0..fields.len() {
            for j in i + 1..fields.len() {
                assert_ne!(fields[i], fields[j]);
            }
        }
    }

    #[test]
    fn every_field_is_standardised_in_2d_and_3d() {
        let device = test_device();
        let config = SimplexNoiseConfig::new().with_frequency(0.1).with_octaves(3);
        let two =
            values(simplex_noise([2, 3, 12, 10], &config, &mut seeded_rng(1), &device).unwrap());
        let three =
            values(simplex_noise([1, 2, 6, 5, 4], &config, &mut seeded_rng(1), &device).unwrap());
        assert_eq!((two.len(), three.len()), (6 * 120, 2 * 120));
        for v in [two, three] {
            for field in v.chunks(120) {
                let (mean, var) = mean_and_variance(field);
                assert!(mean.abs() < 1e-5, "mean {mean}");
                assert!((var - 1.0).abs() < 1e-4, "variance {var}");
            }
        }
        // A single voxel has no variation and standardises to zero.
        let single = simplex_noise([1, 1, 1, 1, 1], &config, &mut seeded_rng(1), &device).unwrap();
        assert_eq!(values(single), vec![0.0]);
    }

    #[test]
    fn higher_frequency_decorrelates_neighbours() {
        let device = test_device();
        let correlation = |frequency: f64| {
            let config = SimplexNoiseConfig::new().with_frequency(frequency).with_octaves(1);
            let v = simplex_noise([2, 1, 24, 24], &config, &mut seeded_rng(9), &device).unwrap();
            lag_one_correlation(&values(v), 24, 24)
        };
        let (smooth, medium, rough) =
            (correlation(1.0 / 16.0), correlation(0.25), correlation(1.0));
        assert!(smooth > 0.9, "{smooth}");
        assert!(smooth > medium && medium > rough, "{smooth} {medium} {rough}");
        assert!(rough < 0.5, "{rough}");
    }

    #[test]
    fn fractal_sum_is_the_weighted_octave_mean() {
        let lattice = SimplexLattice::new(&mut seeded_rng(2));
        let config = SimplexNoiseConfig::new()
            .with_frequency(0.3)
            .with_octaves(3)
            .with_persistence(0.5)
            .with_lacunarity(3.0);
        let (x, y, z) = (1.3, -2.7, 0.4);
        let layer = |s: f64| lattice.noise_3d(s * x, s * y, s * z);
        let expected = (layer(0.3) + 0.5 * layer(0.9) + 0.25 * layer(2.7)) / 1.75;
        assert!((config.fractal_3d(&lattice, x, y, z) - expected).abs() < 1e-12);
        let expected_2d = (lattice.noise_2d(0.3 * x, 0.3 * y)
            + 0.5 * lattice.noise_2d(0.9 * x, 0.9 * y)
            + 0.25 * lattice.noise_2d(2.7 * x, 2.7 * y))
            / 1.75;
        assert!((config.fractal_2d(&lattice, x, y) - expected_2d).abs() < 1e-12);
    }

    #[test]
    fn bad_settings_and_shapes_are_errors() {
        let device = test_device();
        let base = SimplexNoiseConfig::new();
        let bad = [
            base.clone().with_frequency(0.0),
            base.clone().with_frequency(-1.0),
            base.clone().with_frequency(f64::NAN),
            base.clone().with_octaves(0),
            base.clone().with_octaves(MAX_OCTAVES + 1),
            base.clone().with_persistence(0.0),
            base.clone().with_persistence(1.5),
            base.clone().with_lacunarity(0.5),
        ];
        for config in bad {
            assert!(
                matches!(
                    simplex_noise([1, 1, 4, 4], &config, &mut seeded_rng(0), &device),
                    Err(CoreError::InvalidConfig { .. })
                ),
                "{config:?}"
            );
        }
        assert!(matches!(
            simplex_noise([4, 4, 4], &base, &mut seeded_rng(0), &device),
            Err(CoreError::InvalidRank { .. })
        ));
        assert!(matches!(
            simplex_noise([1, 1, 0, 4], &base, &mut seeded_rng(0), &device),
            Err(CoreError::Empty { .. })
        ));
        let template = Tensor::<5>::zeros([1, 1, 2, 3, 4], &device);
        let like = simplex_like(&template, &base, &mut seeded_rng(0)).unwrap();
        assert_eq!(like.dims(), [1, 1, 2, 3, 4]);
    }

    #[test]
    fn parallel_fill_matches_serial_evaluation() {
        // Large enough to be split across threads; compare a few voxels with a direct
        // evaluation that replays the generator.
        let config = SimplexNoiseConfig::new().with_frequency(0.05).with_octaves(2);
        let shape = [1, 1, 16, 32, 32];
        let v = values(simplex_noise(shape, &config, &mut seeded_rng(7), &test_device()).unwrap());
        let mut rng = seeded_rng(7);
        let lattice = SimplexLattice::new(&mut rng);
        let period = LATTICE_PERIOD / config.frequency;
        let offset: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.0..period));
        let raw: Vec<f64> = (0..16 * 32 * 32)
            .map(|i| {
                let (z, y, x) = (i / 1024, (i / 32) % 32, i % 32);
                config.fractal_3d(
                    &lattice,
                    x as f64 + offset[0],
                    y as f64 + offset[1],
                    z as f64 + offset[2],
                )
            })
            .collect();
        let (mean, var) = mean_and_variance(&raw);
        for i in [0, 31, 1000, 8191, 16383] {
            let expected = (raw[i] - mean) / var.sqrt();
            assert!((v[i] - expected).abs() < 1e-4, "voxel {i}: {} vs {expected}", v[i]);
        }
    }
}

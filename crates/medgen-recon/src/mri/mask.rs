//! k-space sampling masks with fastMRI's conventions.
//!
//! A Cartesian scan measures whole lines of k-space: the readout direction (rows, `H`) is
//! always fully sampled and the phase-encoding direction (columns, `W`, fastMRI's last axis)
//! is undersampled. An acceleration `R` keeps about `W / R` columns, always including a fully
//! sampled centre block of `round(W · f)` columns (centre fraction `f`: fastMRI uses
//! `f = 0.08` at 4× and `f = 0.04` at 8×).

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, RngExt};

use crate::error::{ReconError, Result};

/// A binary k-space sampling mask over the last two spatial axes `[H, W]` (row-major),
/// broadcast over the batch, the complex channels and any leading spatial axis.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingMask {
    height: usize,
    width: usize,
    values: Vec<bool>,
}

impl SamplingMask {
    /// A mask from row-major values `[H, W]`.
    ///
    /// # Errors
    /// `InvalidConfig` naming `mask` when the value count is not `H · W`, a side is zero, or
    /// nothing is sampled.
    pub fn new(height: usize, width: usize, values: Vec<bool>) -> Result<Self> {
        if height == 0 || width == 0 || values.len() != height * width {
            return Err(ReconError::config(
                "mask",
                format!("expected {height}×{width} values, got {}", values.len()),
            ));
        }
        if !values.iter().any(|&v| v) {
            return Err(ReconError::config("mask", "samples nothing: no k-space line is kept"));
        }
        Ok(Self { height, width, values })
    }

    /// A mask that keeps the columns where `columns[c]` is true, on every row.
    ///
    /// # Errors
    /// As [`SamplingMask::new`] (naming `mask` when no column is kept).
    pub fn from_columns(height: usize, columns: &[bool]) -> Result<Self> {
        let values = (0..height).flat_map(|_| columns.iter().copied()).collect();
        Self::new(height, columns.len(), values)
    }

    /// The fully sampled mask.
    ///
    /// # Errors
    /// `InvalidConfig` naming `mask` for a zero side.
    pub fn full(height: usize, width: usize) -> Result<Self> {
        Self::new(height, width, vec![true; height * width])
    }

    /// `[H, W]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.height, self.width]
    }

    /// The row-major values.
    pub fn values(&self) -> &[bool] {
        &self.values
    }

    /// The fraction of k-space sampled, `|M| / (H W)`.
    pub fn sampled_fraction(&self) -> f64 {
        self.values.iter().filter(|&&v| v).count() as f64 / self.values.len() as f64
    }

    /// The effective acceleration `H W / |M|`.
    pub fn acceleration(&self) -> f64 {
        1.0 / self.sampled_fraction()
    }

    /// The mask as a `[H, W]` tensor of zeros and ones on `device`.
    pub fn to_tensor(&self, device: &Device) -> Tensor<2> {
        let values: Vec<f32> = self.values.iter().map(|&v| if v { 1.0 } else { 0.0 }).collect();
        Tensor::from_data(TensorData::new(values, [self.height, self.width]), device)
    }
}

/// How the phase-encoding columns (or, for radial masks, the 2D points) are chosen.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MaskKind {
    /// fastMRI's `RandomMaskFunc`: the centre block, then every other column independently
    /// with probability `p = (W/R − N_c) / (W − N_c)`, `N_c = round(W f)`.
    Random {
        /// The acceleration `R ≥ 1`.
        acceleration: f64,
        /// The fully sampled centre fraction `f ∈ [0, 1)`.
        center_fraction: f64,
    },
    /// fastMRI's `EquispacedMaskFunc`: the centre block, then columns `round(o + k a)` at the
    /// adjusted spacing `a = R (N_c − W) / (N_c R − W)` (so that `W / R` columns are kept in
    /// all), from a random offset `o ∈ {0, …, round(a) − 1}`.
    Equispaced {
        /// The acceleration `R ≥ 1`.
        acceleration: f64,
        /// The fully sampled centre fraction `f ∈ [0, 1)`.
        center_fraction: f64,
    },
    /// Variable density (Lustig et al., 2007): the centre block, then column `c` with
    /// probability `p_c = min(1, s · (1 − |c − W/2| / (W/2))^power)`, the scale `s` solved by
    /// bisection so that `W / R` columns are expected in all: low frequencies, which carry
    /// most of the energy, are sampled more densely.
    VariableDensity {
        /// The acceleration `R ≥ 1`.
        acceleration: f64,
        /// The fully sampled centre fraction `f ∈ [0, 1)`.
        center_fraction: f64,
        /// The polynomial decay `power > 0` of the density (2 is a common choice).
        power: f64,
    },
    /// Radial-like: `spokes` lines through the k-space centre at golden-angle increments
    /// (111.25°) from a random start, rasterised onto the Cartesian grid (each spoke marks the
    /// nearest grid point at unit steps along its length).
    Radial {
        /// The number of spokes, `≥ 1`.
        spokes: usize,
    },
}

impl MaskKind {
    /// Draws a `[height, width]` mask from `rng`.
    ///
    /// # Errors
    /// `InvalidConfig` naming `acceleration` (below 1 or not finite), `center_fraction`
    /// (outside `[0, 1)`, or so large that the centre alone exceeds `W / R` columns), `power`
    /// or `spokes`, and a zero side.
    pub fn sample(&self, height: usize, width: usize, rng: &mut dyn Rng) -> Result<SamplingMask> {
        if height == 0 || width == 0 {
            return Err(ReconError::config(
                "mask shape",
                format!("sides must be positive, got {height}×{width}"),
            ));
        }
        match *self {
            Self::Random { acceleration, center_fraction } => {
                let (centre, low) = centre_block(width, acceleration, center_fraction)?;
                let probability =
                    (width as f64 / acceleration - low as f64) / (width - low).max(1) as f64;
                let columns = (0..width)
                    .map(|c| centre[c] || rng.random::<f64>() < probability)
                    .collect::<Vec<_>>();
                SamplingMask::from_columns(height, &columns)
            }
            Self::Equispaced { acceleration, center_fraction } => {
                let (mut columns, low) = centre_block(width, acceleration, center_fraction)?;
                let denominator = low as f64 * acceleration - width as f64;
                // With the centre alone holding W/R columns there is nothing left to add.
                if denominator < -1e-9 {
                    let adjusted = acceleration * (low as f64 - width as f64) / denominator;
                    let offset = rng.random_range(0..(adjusted.round() as usize).max(1));
                    for c in equispaced_columns(width, offset, adjusted) {
                        columns[c] = true;
                    }
                }
                SamplingMask::from_columns(height, &columns)
            }
            Self::VariableDensity { acceleration, center_fraction, power } => {
                if !(power.is_finite() && power > 0.0) {
                    return Err(ReconError::config(
                        "power",
                        format!("must be positive and finite, got {power}"),
                    ));
                }
                let (centre, low) = centre_block(width, acceleration, center_fraction)?;
                let probabilities = variable_density(width, &centre, low, acceleration, power);
                let columns = (0..width)
                    .map(|c| centre[c] || rng.random::<f64>() < probabilities[c])
                    .collect::<Vec<_>>();
                SamplingMask::from_columns(height, &columns)
            }
            Self::Radial { spokes } => {
                if spokes == 0 {
                    return Err(ReconError::config("spokes", "must be at least 1"));
                }
                let start = rng.random::<f64>() * std::f64::consts::PI;
                Ok(radial(height, width, spokes, start))
            }
        }
    }
}

/// The centre block of `round(W f)` columns starting at `⌊(W − N_c + 1)/2⌋` (fastMRI), after
/// validating `acceleration` and `center_fraction`; returns the column flags and `N_c`.
fn centre_block(
    width: usize,
    acceleration: f64,
    center_fraction: f64,
) -> Result<(Vec<bool>, usize)> {
    if !(acceleration.is_finite() && acceleration >= 1.0) {
        return Err(ReconError::config(
            "acceleration",
            format!("must be finite and at least 1, got {acceleration}"),
        ));
    }
    if !(center_fraction.is_finite() && (0.0..1.0).contains(&center_fraction)) {
        return Err(ReconError::config(
            "center_fraction",
            format!("must lie in [0, 1), got {center_fraction}"),
        ));
    }
    let low = (width as f64 * center_fraction).round() as usize;
    if low as f64 > width as f64 / acceleration {
        return Err(ReconError::config(
            "center_fraction",
            format!(
                "the centre block of {low} columns exceeds the {:.1} columns that acceleration \
                 {acceleration} keeps",
                width as f64 / acceleration
            ),
        ));
    }
    let pad = (width - low).div_ceil(2);
    let columns = (0..width).map(|c| c >= pad && c < pad + low).collect();
    Ok((columns, low))
}

/// fastMRI's equispaced columns `round(offset + k a)` for `offset + k a < W − 1`.
fn equispaced_columns(width: usize, offset: usize, spacing: f64) -> Vec<usize> {
    let mut columns = Vec::new();
    let mut k = 0usize;
    loop {
        let position = offset as f64 + k as f64 * spacing;
        if position >= (width - 1) as f64 {
            return columns;
        }
        columns.push((position.round_ties_even() as usize).min(width - 1));
        k += 1;
    }
}

/// Per-column probabilities of the variable-density mask (1 inside the centre block).
fn variable_density(
    width: usize,
    centre: &[bool],
    low: usize,
    acceleration: f64,
    power: f64,
) -> Vec<f64> {
    let half = width as f64 / 2.0;
    let profile: Vec<f64> =
        (0..width).map(|c| (1.0 - ((c as f64 - half).abs() / half)).max(0.0).powf(power)).collect();
    let target = width as f64 / acceleration - low as f64;
    let expected = |scale: f64| -> f64 {
        (0..width).filter(|&c| !centre[c]).map(|c| (scale * profile[c]).min(1.0)).sum()
    };
    let (mut lo, mut hi) = (0.0, 1.0);
    while expected(hi) < target && hi < 1e12 {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if expected(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (0..width).map(|c| if centre[c] { 1.0 } else { (hi * profile[c]).min(1.0) }).collect()
}

/// Golden-angle spokes through the centre `(⌊H/2⌋, ⌊W/2⌋)`, rasterised at unit steps.
fn radial(height: usize, width: usize, spokes: usize, start: f64) -> SamplingMask {
    const GOLDEN_ANGLE: f64 = 111.246_117_975_f64 * std::f64::consts::PI / 180.0;
    let (cy, cx) = ((height / 2) as f64, (width / 2) as f64);
    let reach = (height.max(width) as f64) * std::f64::consts::SQRT_2 / 2.0 + 1.0;
    let mut values = vec![false; height * width];
    for s in 0..spokes {
        let angle = start + s as f64 * GOLDEN_ANGLE;
        let (dy, dx) = (angle.sin(), angle.cos());
        let steps = (2.0 * reach) as usize * 2;
        for k in 0..=steps {
            let r = -reach + k as f64 * 0.5;
            let (y, x) = ((cy + r * dy).round(), (cx + r * dx).round());
            if y >= 0.0 && x >= 0.0 && (y as usize) < height && (x as usize) < width {
                values[y as usize * width + x as usize] = true;
            }
        }
    }
    SamplingMask { height, width, values }
}

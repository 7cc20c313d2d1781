//! Seeded 2D toy densities for flows (the FFJORD / torchcfm benchmarks): two moons, eight
//! Gaussians and a checkerboard, as `[N, 2]` point clouds.

use std::f64::consts::PI;
use std::str::FromStr;

use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::check::ensure_non_empty;
use medgen_core::{CoreError, SeededRng};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The noise of torchcfm's two moons (`make_moons(n, noise=0.2)`).
pub const TWO_MOONS_NOISE: f64 = 0.2;

/// A 2D toy density to sample from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToyDensity {
    /// Two interleaved half circles (scikit-learn's `make_moons`, mapped by `x ↦ 3x − 1` as in
    /// torchcfm): the outer moon `(cos θ, sin θ)`, the inner moon `(1 − cos θ, ½ − sin θ)`,
    /// `θ ~ U[0, π]` (a uniform draw rather than `make_moons`' evenly spaced angles), each
    /// point's moon chosen with probability ½, plus `N(0, noise² I)` before the mapping.
    /// torchcfm uses `noise = 0.2` ([`TWO_MOONS_NOISE`], what `"two-moons".parse()` gives).
    ///
    /// The noise sets how much a flow can gain over a single Gaussian: the density's entropy
    /// is about `ln(2π) + ½ ln(2πe σ²)` (two unit half circles of total length `2π`, blurred
    /// across by `σ = noise`) plus `2 ln 3` for the mapping, while the fitted Gaussian's
    /// held-out NLL stays near `1.9…2.0 + 2 ln 3`; the gap is ≈ 0.35 nats at `noise = 0.2`,
    /// ≈ 1.0 at `0.1` and ≈ 1.6 at `0.05`.
    TwoMoons {
        /// The standard deviation of the Gaussian noise (before the `3x − 1` mapping), `≥ 0`.
        noise: f64,
    },
    /// An equal mixture of eight Gaussians with means `5 (cos(kπ/4), sin(kπ/4))`, `k = 0..8`,
    /// and covariance `√0.1 · I` (torchcfm's `sample_8gaussians`).
    EightGaussians,
    /// FFJORD's checkerboard: `x₁ ~ U[−2, 2)`, `x₂ = u − 2b + (⌊x₁⌋ mod 2)` with `u ~ U[0, 1)`,
    /// `b ~ Bernoulli(½)`, and the point `2 (x₁, x₂)`: uniform on 8 of the 16 squares of
    /// `[−4, 4)²`.
    Checkerboard,
}

impl ToyDensity {
    /// Every toy density, in a fixed order.
    pub const ALL: [ToyDensity; 3] =
        [Self::TwoMoons { noise: TWO_MOONS_NOISE }, Self::EightGaussians, Self::Checkerboard];

    /// The short name (`two-moons`, `eight-gaussians`, `checkerboard`) that [`FromStr`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::TwoMoons { .. } => "two-moons",
            Self::EightGaussians => "eight-gaussians",
            Self::Checkerboard => "checkerboard",
        }
    }

    /// One point `(x, y)` drawn from `rng`.
    fn draw(self, rng: &mut SeededRng) -> [f32; 2] {
        let mut normal = || -> f64 { StandardNormal.sample(rng) };
        let point = match self {
            Self::TwoMoons { noise } => {
                let (noise_x, noise_y) = (normal() * noise, normal() * noise);
                let theta = rng.random_range(0.0..PI);
                let (x, y) = if rng.random_bool(0.5) {
                    (theta.cos(), theta.sin())
                } else {
                    (1.0 - theta.cos(), 0.5 - theta.sin())
                };
                [3.0 * (x + noise_x) - 1.0, 3.0 * (y + noise_y) - 1.0]
            }
            Self::EightGaussians => {
                let std = 0.1f64.sqrt().sqrt();
                let (noise_x, noise_y) = (normal() * std, normal() * std);
                let angle = rng.random_range(0..8) as f64 * PI / 4.0;
                [5.0 * angle.cos() + noise_x, 5.0 * angle.sin() + noise_y]
            }
            Self::Checkerboard => {
                let x1: f64 = rng.random_range(-2.0..2.0);
                let u: f64 = rng.random();
                let b = if rng.random_bool(0.5) { 2.0 } else { 0.0 };
                let x2 = u - b + x1.floor().rem_euclid(2.0);
                [2.0 * x1, 2.0 * x2]
            }
        };
        point.map(|v| v as f32)
    }

    /// Draws `n` points `[n, 2]` from `rng` on the host and uploads them to `device`; the
    /// same seed gives the same points on every backend.
    ///
    /// # Errors
    /// [`CoreError::Empty`] for `n = 0`, [`CoreError::InvalidConfig`] for a negative or
    /// non-finite two-moons noise.
    pub fn sample(self, n: usize, rng: &mut SeededRng, device: &Device) -> Result<Tensor<2>> {
        ensure_non_empty(&[n], "toy data set size")?;
        if let Self::TwoMoons { noise } = self
            && !(noise.is_finite() && noise >= 0.0)
        {
            return Err(CoreError::config(
                "noise",
                format!("must be finite and non-negative, got {noise}"),
            )
            .into());
        }
        let values: Vec<f32> = (0..n).flat_map(|_| self.draw(rng)).collect();
        Ok(Tensor::from_data(TensorData::new(values, [n, 2]), device))
    }
}

impl FromStr for ToyDensity {
    type Err = CoreError;

    fn from_str(name: &str) -> std::result::Result<Self, Self::Err> {
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        match name.as_str() {
            "two-moons" | "moons" => Ok(Self::TwoMoons { noise: TWO_MOONS_NOISE }),
            "eight-gaussians" | "8gaussians" | "8-gaussians" => Ok(Self::EightGaussians),
            "checkerboard" => Ok(Self::Checkerboard),
            other => Err(CoreError::config(
                "toy density",
                format!("unknown `{other}`; expected two-moons, eight-gaussians or checkerboard"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn points(density: ToyDensity, n: usize, seed: u64) -> Vec<[f32; 2]> {
        density
            .sample(n, &mut seeded_rng(seed), &test_device())
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap()
            .chunks(2)
            .map(|c| [c[0], c[1]])
            .collect()
    }

    #[test]
    fn samplers_are_seeded_and_have_the_documented_moments() {
        for density in ToyDensity::ALL {
            assert_eq!(points(density, 50, 1), points(density, 50, 1));
            assert_ne!(points(density, 50, 1), points(density, 50, 2));
            assert_eq!(density.name().parse::<ToyDensity>().unwrap(), density);
        }
        let n = 4000;
        let mean = |p: &[[f32; 2]], i: usize| p.iter().map(|q| q[i] as f64).sum::<f64>() / n as f64;
        // Eight Gaussians: mean 0, E‖x‖² = 25 + 2√0.1.
        let p = points(ToyDensity::EightGaussians, n, 3);
        let second = p.iter().map(|q| (q[0] * q[0] + q[1] * q[1]) as f64).sum::<f64>() / n as f64;
        assert!(mean(&p, 0).abs() < 0.2 && mean(&p, 1).abs() < 0.2);
        assert!((second - 25.0 - 2.0 * 0.1f64.sqrt()).abs() < 0.5, "{second}");
        // Checkerboard: in [−4, 4)², only the 2 × 2 squares with ⌊x/2⌋ + ⌊y/2⌋ even.
        let p = points(ToyDensity::Checkerboard, n, 4);
        for q in &p {
            assert!(q.iter().all(|v| (-4.0..4.0).contains(v)), "{q:?}");
            let parity = ((q[0] / 2.0).floor() + (q[1] / 2.0).floor()).rem_euclid(2.0);
            assert_eq!(parity, 0.0, "{q:?}");
        }
        // Two moons: mean of the noiseless moons is (½, ¼), i.e. (0.5, −0.25) after 3x − 1.
        let p = points(ToyDensity::ALL[0], n, 5);
        assert!((mean(&p, 0) - 0.5).abs() < 0.1, "{}", mean(&p, 0));
        assert!((mean(&p, 1) + 0.25).abs() < 0.1, "{}", mean(&p, 1));
    }

    #[test]
    fn bad_requests_are_errors() {
        let device = test_device();
        let moons = ToyDensity::ALL[0];
        assert!(moons.sample(0, &mut seeded_rng(0), &device).is_err());
        let bad = ToyDensity::TwoMoons { noise: f64::NAN };
        assert!(bad.sample(3, &mut seeded_rng(0), &device).is_err());
        assert!("spiral".parse::<ToyDensity>().is_err());
    }
}

//! Input corruptions of a denoising autoencoder, drawn from the caller's generator.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};
use medgen_core::noise::gaussian_like;
use medgen_core::{CoreError, SeededRng};
use rand::RngExt;

/// How a denoising autoencoder corrupts its input `x` into `x̃` before encoding; the loss
/// compares the reconstruction of `x̃` with the clean `x`.
#[derive(Config, Debug, PartialEq)]
pub enum Corruption {
    /// Additive Gaussian noise: `x̃ = x + σ ε`, `ε ~ N(0, I)`.
    Gaussian {
        /// The noise standard deviation `σ > 0`.
        std: f64,
    },
    /// Masking noise: each element is set to `fill` with probability `p`, independently:
    /// `x̃ = m ⊙ x + (1 − m) · fill`, `m ~ Bernoulli(1 − p)`.
    Masking {
        /// The drop probability `p ∈ [0, 1]`.
        p: f64,
        /// The value written into dropped elements (e.g. `-1` for images in `[-1, 1]`).
        fill: f64,
    },
    /// Salt-and-pepper noise: each element becomes `low` with probability `p/2`, `high` with
    /// probability `p/2`, and is kept otherwise.
    SaltAndPepper {
        /// The total corruption probability `p ∈ [0, 1]`.
        p: f64,
        /// The "pepper" value (e.g. `-1`).
        low: f64,
        /// The "salt" value (e.g. `1`).
        high: f64,
    },
}

impl Corruption {
    /// Checks the parameters: `σ > 0` finite, probabilities in `[0, 1]`, finite fill values.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |name: &str, reason: String| Err(CoreError::config(name, reason).into());
        match *self {
            Self::Gaussian { std } if !(std.is_finite() && std > 0.0) => {
                bad("corruption.std", format!("must be positive and finite, got {std}"))
            }
            Self::Masking { p, fill } if !(0.0..=1.0).contains(&p) || !fill.is_finite() => bad(
                "corruption.p/fill",
                format!("p must lie in [0, 1] and fill be finite, got {p} and {fill}"),
            ),
            Self::SaltAndPepper { p, low, high }
                if !(0.0..=1.0).contains(&p) || !low.is_finite() || !high.is_finite() =>
            {
                bad(
                    "corruption.p/low/high",
                    format!(
                        "p must lie in [0, 1] and the values be finite, got {p}, {low}, {high}"
                    ),
                )
            }
            _ => Ok(()),
        }
    }

    /// Corrupts `x` (any shape `[N, ...]`), drawing every random number from `rng` on the
    /// host (so the same seed gives the same corruption on every backend).
    pub fn apply<const D: usize>(
        &self,
        x: Tensor<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<D>> {
        self.validate()?;
        match *self {
            Self::Gaussian { std } => {
                let noise = gaussian_like(&x, rng)?;
                Ok(x.add(noise.mul_scalar(std)))
            }
            Self::Masking { p, fill } => {
                // keep[i] = 1 with probability 1 − p; x̃ = keep·x + (1 − keep)·fill.
                let keep = bernoulli_mask(&x, rng, |u| if u < p { 0.0 } else { 1.0 });
                Ok(blend(x, keep, None, fill))
            }
            Self::SaltAndPepper { p, low, high } => {
                // code: 1 keep, 0 pepper (u < p/2), 2 salt (p/2 ≤ u < p).
                let code = bernoulli_mask(&x, rng, |u| {
                    if u < p / 2.0 {
                        0.0
                    } else if u < p {
                        2.0
                    } else {
                        1.0
                    }
                });
                let keep = code.clone().equal_elem(1.0).float();
                let salt = code.equal_elem(2.0).float();
                Ok(blend(x, keep, Some((salt, high)), low))
            }
        }
    }
}

/// A tensor shaped like `x` whose entries are `code(u)` for independent `u ~ U[0, 1)`.
fn bernoulli_mask<const D: usize>(
    x: &Tensor<D>,
    rng: &mut SeededRng,
    code: impl Fn(f64) -> f32,
) -> Tensor<D> {
    let dims = x.dims();
    let count: usize = dims.iter().product();
    let values: Vec<f32> = (0..count).map(|_| code(rng.random::<f64>())).collect();
    Tensor::from_data(TensorData::new(values, dims), &x.device())
}

/// `keep·x + salt·high + (1 − keep − salt)·low` (with `salt = 0` when absent).
fn blend<const D: usize>(
    x: Tensor<D>,
    keep: Tensor<D>,
    salt: Option<(Tensor<D>, f64)>,
    low: f64,
) -> Tensor<D> {
    let mut rest = keep.clone().neg().add_scalar(1.0);
    let mut out = x.mul(keep);
    if let Some((salt, high)) = salt {
        rest = rest.sub(salt.clone());
        out = out.add(salt.mul_scalar(high));
    }
    out.add(rest.mul_scalar(low))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn masking_drops_the_requested_fraction() {
        let x = Tensor::<2>::ones([100, 100], &test_device());
        let y = values(
            Corruption::Masking { p: 0.3, fill: -1.0 }.apply(x, &mut seeded_rng(1)).unwrap(),
        );
        let dropped = y.iter().filter(|&&v| v == -1.0).count() as f64 / 1e4;
        assert!(y.iter().all(|&v| v == 1.0 || v == -1.0));
        assert!((dropped - 0.3).abs() < 0.02, "dropped {dropped}");
    }

    #[test]
    fn salt_and_pepper_splits_evenly() {
        let x = Tensor::<2>::zeros([100, 100], &test_device());
        let c = Corruption::SaltAndPepper { p: 0.4, low: -1.0, high: 1.0 };
        let y = values(c.apply(x.clone(), &mut seeded_rng(2)).unwrap());
        let salt = y.iter().filter(|&&v| v == 1.0).count() as f64 / 1e4;
        let pepper = y.iter().filter(|&&v| v == -1.0).count() as f64 / 1e4;
        assert!((salt - 0.2).abs() < 0.02 && (pepper - 0.2).abs() < 0.02);
        // Seeded: the same generator state gives the same corruption.
        assert_eq!(y, values(c.apply(x, &mut seeded_rng(2)).unwrap()));
    }

    #[test]
    fn gaussian_noise_has_the_requested_std() {
        let x = Tensor::<2>::ones([100, 100], &test_device());
        let y = values(Corruption::Gaussian { std: 0.5 }.apply(x, &mut seeded_rng(3)).unwrap());
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / 1e4;
        let var = y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 1e4;
        assert!((mean - 1.0).abs() < 0.02 && (var.sqrt() - 0.5).abs() < 0.02);
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        for c in [
            Corruption::Gaussian { std: 0.0 },
            Corruption::Masking { p: 1.5, fill: 0.0 },
            Corruption::SaltAndPepper { p: 0.1, low: f64::NAN, high: 1.0 },
        ] {
            assert!(c.validate().is_err());
        }
    }
}

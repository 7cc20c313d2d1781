//! Keeping the predicted clean sample `x̂₀` in range: static clipping and dynamic thresholding.

use burn::tensor::Tensor;

use crate::error::{DiffusionError, Result};

/// How a scheduler limits `x̂₀` before using it (diffusers' `clip_sample`,
/// `clip_sample_range`, `thresholding`, `dynamic_thresholding_ratio` and `sample_max_value`;
/// thresholding takes precedence over clipping, as in diffusers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SampleLimit {
    /// `x̂₀` is used as predicted.
    Unlimited,
    /// `x̂₀ ← clamp(x̂₀, −range, range)`.
    Clip {
        /// The bound `r > 0`.
        range: f64,
    },
    /// Dynamic thresholding (Saharia et al., 2022, Imagen): per batch item,
    /// `s = clamp(quantile(|x̂₀|, ratio), 1, max_value)` and `x̂₀ ← clamp(x̂₀, −s, s) / s`.
    DynamicThreshold {
        /// The quantile of `|x̂₀|`, in `(0, 1]`.
        ratio: f64,
        /// The largest threshold `s`, at least 1.
        max_value: f64,
    },
}

impl SampleLimit {
    /// Builds the limit from diffusers' scheduler options, validating them.
    ///
    /// Fails with an `InvalidConfig` error for a non-positive or non-finite `clip_sample_range`
    /// (when clipping), a `dynamic_thresholding_ratio` outside `(0, 1]` or a `sample_max_value`
    /// below 1 (when thresholding).
    pub fn from_options(
        clip_sample: bool,
        clip_sample_range: f64,
        thresholding: bool,
        dynamic_thresholding_ratio: f64,
        sample_max_value: f64,
    ) -> Result<Self> {
        if thresholding {
            if !(dynamic_thresholding_ratio > 0.0 && dynamic_thresholding_ratio <= 1.0) {
                return Err(DiffusionError::config(
                    "dynamic_thresholding_ratio",
                    format!("must lie in (0, 1], got {dynamic_thresholding_ratio}"),
                ));
            }
            if !(sample_max_value.is_finite() && sample_max_value >= 1.0) {
                return Err(DiffusionError::config(
                    "sample_max_value",
                    format!("must be finite and at least 1, got {sample_max_value}"),
                ));
            }
            Ok(Self::DynamicThreshold {
                ratio: dynamic_thresholding_ratio,
                max_value: sample_max_value,
            })
        } else if clip_sample {
            if !(clip_sample_range.is_finite() && clip_sample_range > 0.0) {
                return Err(DiffusionError::config(
                    "clip_sample_range",
                    format!("must be finite and positive, got {clip_sample_range}"),
                ));
            }
            Ok(Self::Clip { range: clip_sample_range })
        } else {
            Ok(Self::Unlimited)
        }
    }

    /// Applies the limit to `x0` (`[N, ...]`, any rank; the result has the same shape).
    pub fn apply<const D: usize>(&self, x0: Tensor<D>) -> Tensor<D> {
        match *self {
            Self::Unlimited => x0,
            Self::Clip { range } => x0.clamp(-range, range),
            Self::DynamicThreshold { ratio, max_value } => dynamic_threshold(x0, ratio, max_value),
        }
    }
}

/// Dynamic thresholding of `x0` (`[N, ...]`): with `s_n` the `ratio`-quantile of `|x0[n]|`
/// (linear interpolation between order statistics, as `torch.quantile`) clamped to
/// `[1, max_value]`, returns `clamp(x0[n], −s_n, s_n) / s_n` for every item `n`. Runs on the
/// device (a sort per item); the quantile's position depends only on the shape.
pub fn dynamic_threshold<const D: usize>(x0: Tensor<D>, ratio: f64, max_value: f64) -> Tensor<D> {
    let dims = x0.dims();
    let n = dims[0];
    let m: usize = dims[1..].iter().product();
    if n == 0 || m == 0 {
        return x0;
    }
    let flat: Tensor<2> = x0.reshape([n, m]);
    let sorted = flat.clone().abs().sort(1);
    let position = ratio * (m - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(m - 1);
    let frac = position - below as f64;
    let low = sorted.clone().narrow(1, below, 1);
    let high = sorted.narrow(1, above, 1);
    let threshold =
        low.clone().add(high.sub(low).mul_scalar(frac)).clamp(1.0, max_value).expand([n, m]);
    flat.max_pair(threshold.clone().neg()).min_pair(threshold.clone()).div(threshold).reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    #[test]
    fn clipping_bounds_the_sample() {
        let device = test_device();
        let x = Tensor::<4>::from_floats([[[[-3.0, 0.5], [2.0, -0.2]]]], &device);
        let limit = SampleLimit::from_options(true, 1.0, false, 0.995, 1.0).unwrap();
        let got = limit.apply(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, vec![-1.0, 0.5, 1.0, -0.2]);
    }

    #[test]
    fn dynamic_threshold_matches_a_host_quantile() {
        let device = test_device();
        // Item 0: |x| = 0..=9 over 10 elements; item 1: small values (threshold clamps to 1).
        let mut values: Vec<f32> =
            (0..10).map(|i| if i % 2 == 0 { i as f32 } else { -(i as f32) }).collect();
        values.extend((0..10).map(|i| 0.05 * i as f32));
        let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 1, 2, 5]), &device);
        let got = dynamic_threshold(x, 0.8, 5.0).into_data().try_to_vec::<f32>().unwrap();
        // quantile(0..=9, 0.8) = 7.2, below max_value 5 -> s = 5.
        for (g, v) in got[..10].iter().zip(&values[..10]) {
            assert!((g - v.clamp(-5.0, 5.0) / 5.0).abs() < 1e-6);
        }
        for (g, v) in got[10..].iter().zip(&values[10..]) {
            assert!((g - v).abs() < 1e-6);
        }
        let wide = Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 1, 2, 5]), &device);
        let got = dynamic_threshold(wide, 0.5, 100.0).into_data().try_to_vec::<f32>().unwrap();
        // quantile(0..=9, 0.5) = 4.5.
        assert!((got[9] - (-1.0)).abs() < 1e-6);
        assert!((got[3] - (-3.0 / 4.5)).abs() < 1e-6);
    }

    #[test]
    fn thresholding_wins_and_options_are_validated() {
        let limit = SampleLimit::from_options(true, 1.0, true, 0.9, 2.0).unwrap();
        assert!(matches!(limit, SampleLimit::DynamicThreshold { .. }));
        assert!(SampleLimit::from_options(true, 0.0, false, 0.9, 2.0).is_err());
        assert!(SampleLimit::from_options(false, 1.0, true, 1.5, 2.0).is_err());
        assert!(SampleLimit::from_options(false, 1.0, true, 0.9, 0.5).is_err());
        assert_eq!(
            SampleLimit::from_options(false, 1.0, false, 0.9, 2.0).unwrap(),
            SampleLimit::Unlimited
        );
    }
}

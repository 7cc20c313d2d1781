//! Mapping raw intensities to the model range [-1, 1] and back.
//!
//! Every loader maps what it reads with an [`IntensityMapping`] and returns it next to the data,
//! so that generated samples can be mapped back to the units of the source (e.g. 0..255 for
//! MedMNIST, Hounsfield units for CT).

use burn::prelude::*;

use medgen_core::error::{CoreError, Result};
use medgen_core::stats::percentile_sorted;

/// How the range `[low, high]` of an [`IntensityMapping`] is chosen from the data.
#[derive(Config, Debug, PartialEq)]
pub enum IntensityRange {
    /// The full range of the stored integer type (e.g. `[0, 255]` for `u8`, `[0, 65535]` for
    /// 16-bit PNG); for floating-point data this falls back to [`IntensityRange::MinMax`].
    /// Loaders resolve it; [`IntensityMapping::fit`] treats it as `MinMax`.
    DtypeRange,
    /// `low = min(x)`, `high = max(x)` over the whole data set.
    MinMax,
    /// `low` and `high` are the `lower` and `upper` percentiles (in `[0, 100]`, `lower < upper`)
    /// of the data, with linear interpolation between order statistics (NumPy's default);
    /// values outside are clipped to [-1, 1] after mapping.
    Percentile {
        /// Lower percentile in `[0, 100]`.
        lower: f64,
        /// Upper percentile in `[0, 100]`.
        upper: f64,
    },
    /// A fixed, user-given window (e.g. a CT window); values outside are clipped.
    Fixed {
        /// Value mapped to -1.
        low: f64,
        /// Value mapped to +1 (must be `>= low`).
        high: f64,
    },
}

/// An affine map of `[low, high]` onto `[-1, 1]`:
///
/// `y = 2 (x - low) / (high - low) - 1`, and its inverse `x = (y + 1) / 2 · (high - low) + low`.
///
/// When `clip` is set, forward outputs are clamped to `[-1, 1]` (percentile and fixed windows).
/// A constant input (`high == low`) maps every value to `y = 0`, and the inverse maps any `y`
/// back to `low`, which is the constant itself; this keeps constant images finite.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntensityMapping {
    /// The raw value mapped to -1.
    pub low: f32,
    /// The raw value mapped to +1.
    pub high: f32,
    /// Whether forward outputs are clamped to `[-1, 1]`.
    pub clip: bool,
}

impl IntensityMapping {
    /// A mapping of the window `[low, high]`, without clipping.
    ///
    /// Fails with [`CoreError::InvalidConfig`] if a bound is not finite or `high < low`.
    pub fn new(low: f32, high: f32) -> Result<Self> {
        if !low.is_finite() || !high.is_finite() {
            return Err(CoreError::config(
                "intensity window",
                format!("bounds must be finite, got [{low}, {high}]"),
            ));
        }
        if high < low {
            return Err(CoreError::config(
                "intensity window",
                format!("high ({high}) must be >= low ({low})"),
            ));
        }
        Ok(Self { low, high, clip: false })
    }

    /// The identity-like mapping of `[0, 1]` onto `[-1, 1]` used by the phantoms.
    pub fn unit() -> Self {
        Self { low: 0.0, high: 1.0, clip: false }
    }

    /// Chooses the window from `values` according to `range`.
    ///
    /// Fails with [`CoreError::Empty`] for no values, [`CoreError::NonFinite`] (naming `what`)
    /// if a value is NaN or infinite, and [`CoreError::InvalidConfig`] for bad percentiles or
    /// a reversed fixed window.
    pub fn fit(values: &[f32], range: &IntensityRange, what: &str) -> Result<Self> {
        if values.is_empty() {
            return Err(CoreError::Empty { what: what.into() });
        }
        medgen_core::check::ensure_finite_values(values, what)?;
        match *range {
            IntensityRange::DtypeRange | IntensityRange::MinMax => {
                let (low, high) =
                    values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                Self::new(low, high)
            }
            IntensityRange::Percentile { lower, upper } => {
                if !(0.0..=100.0).contains(&lower) || !(0.0..=100.0).contains(&upper) {
                    return Err(CoreError::config(
                        "percentile",
                        format!("bounds must lie in [0, 100], got ({lower}, {upper})"),
                    ));
                }
                if lower >= upper {
                    return Err(CoreError::config(
                        "percentile",
                        format!("lower ({lower}) must be < upper ({upper})"),
                    ));
                }
                let mut sorted = values.to_vec();
                sorted.sort_unstable_by(f32::total_cmp);
                let low = percentile_sorted(&sorted, lower) as f32;
                let high = percentile_sorted(&sorted, upper) as f32;
                Ok(Self { clip: true, ..Self::new(low, high)? })
            }
            IntensityRange::Fixed { low, high } => {
                Ok(Self { clip: true, ..Self::new(low as f32, high as f32)? })
            }
        }
    }

    /// `high - low`, the width of the window.
    pub fn width(&self) -> f32 {
        self.high - self.low
    }

    /// Maps one raw value: `y = 2 (x - low) / (high - low) - 1` (0 for a constant window).
    pub fn forward_value(&self, x: f32) -> f32 {
        let width = self.width();
        if width <= 0.0 {
            return 0.0;
        }
        let y = 2.0 * (x - self.low) / width - 1.0;
        if self.clip { y.clamp(-1.0, 1.0) } else { y }
    }

    /// Maps one model value back: `x = (y + 1) / 2 · (high - low) + low`.
    pub fn inverse_value(&self, y: f32) -> f32 {
        (y + 1.0) * 0.5 * self.width() + self.low
    }

    /// Maps raw values in place; fails with [`CoreError::NonFinite`] (naming `what`) on NaN/Inf.
    pub fn forward_in_place(&self, values: &mut [f32], what: &str) -> Result<()> {
        medgen_core::check::ensure_finite_values(values, what)?;
        values.iter_mut().for_each(|v| *v = self.forward_value(*v));
        Ok(())
    }

    /// Maps model values back to raw values in place (no check: outputs of models are mapped).
    pub fn inverse_in_place(&self, values: &mut [f32]) {
        values.iter_mut().for_each(|v| *v = self.inverse_value(*v));
    }

    /// [`Self::forward_value`] on a tensor of any shape, on its device. It does not read the
    /// tensor back, so it does not check finiteness: call [`medgen_core::check::ensure_finite`] at
    /// the boundary where the tensor enters.
    pub fn forward_tensor<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let width = self.width();
        if width <= 0.0 {
            return x.zeros_like();
        }
        let y = x.sub_scalar(self.low).mul_scalar(2.0 / width).sub_scalar(1.0);
        if self.clip { y.clamp(-1.0, 1.0) } else { y }
    }

    /// [`Self::inverse_value`] on a tensor of any shape, on its device.
    pub fn inverse_tensor<const D: usize>(&self, y: Tensor<D>) -> Tensor<D> {
        y.add_scalar(1.0).mul_scalar(0.5 * self.width()).add_scalar(self.low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn min_max_maps_ends_to_minus_one_and_one() {
        let values = [2.0, 4.0, 6.0, 10.0];
        let m = IntensityMapping::fit(&values, &IntensityRange::MinMax, "v").unwrap();
        assert_eq!((m.low, m.high), (2.0, 10.0));
        assert_eq!(m.forward_value(2.0), -1.0);
        assert_eq!(m.forward_value(10.0), 1.0);
        assert_eq!(m.forward_value(6.0), 0.0);
        assert_eq!(m.forward_value(4.0), -0.5);
        for v in values {
            assert!((m.inverse_value(m.forward_value(v)) - v).abs() < 1e-6);
        }
    }

    #[test]
    fn percentile_matches_numpy_linear_interpolation() {
        // numpy.percentile([1..=10], [10, 90]) = [1.9, 9.1]
        let values: Vec<f32> = (1..=10).rev().map(|v| v as f32).collect();
        let range = IntensityRange::Percentile { lower: 10.0, upper: 90.0 };
        let m = IntensityMapping::fit(&values, &range, "v").unwrap();
        assert!((m.low - 1.9).abs() < 1e-6 && (m.high - 9.1).abs() < 1e-6);
        assert!(m.clip);
        assert_eq!(m.forward_value(0.0), -1.0);
        assert_eq!(m.forward_value(100.0), 1.0);
    }

    #[test]
    fn constant_data_maps_to_zero_and_back_to_the_constant() {
        let m = IntensityMapping::fit(&[3.5; 4], &IntensityRange::MinMax, "v").unwrap();
        assert_eq!(m.forward_value(3.5), 0.0);
        assert_eq!(m.inverse_value(0.0), 3.5);
        assert_eq!(m.inverse_value(0.7), 3.5);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let nan = IntensityMapping::fit(&[1.0, f32::NAN], &IntensityRange::MinMax, "img");
        assert!(matches!(nan, Err(CoreError::NonFinite { .. })));
        let empty = IntensityMapping::fit(&[], &IntensityRange::MinMax, "img");
        assert!(matches!(empty, Err(CoreError::Empty { .. })));
        let reversed = IntensityRange::Fixed { low: 2.0, high: 1.0 };
        assert!(IntensityMapping::fit(&[1.0], &reversed, "img").is_err());
        let bad_pct = IntensityRange::Percentile { lower: 50.0, upper: 50.0 };
        assert!(IntensityMapping::fit(&[1.0], &bad_pct, "img").is_err());
        let mut values = [1.0, f32::INFINITY];
        assert!(IntensityMapping::unit().forward_in_place(&mut values, "img").is_err());
    }

    #[test]
    fn tensor_mapping_matches_scalar_mapping() {
        let device = test_device();
        let m = IntensityMapping::new(-100.0, 300.0).unwrap();
        let raw = [-100.0f32, 0.0, 100.0, 300.0];
        let x = Tensor::<1>::from_floats(raw, &device);
        let y = m.forward_tensor(x);
        let got: Vec<f32> = y.clone().try_into_vec_as().unwrap();
        for (g, r) in got.iter().zip(raw) {
            assert!((g - m.forward_value(r)).abs() < 1e-6);
        }
        let back: Vec<f32> = m.inverse_tensor(y).try_into_vec_as().unwrap();
        for (b, r) in back.iter().zip(raw) {
            assert!((b - r).abs() < 1e-3);
        }
    }
}

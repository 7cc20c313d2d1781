//! Fixed colours for integer label maps (tissue classes, masks, lesions).

use burn::tensor::{Int, Tensor, TensorData};

use super::canvas::Rgb;
use medgen_core::error::{CoreError, Result};

/// The colour of background (label 0).
pub const BACKGROUND_COLOR: Rgb = [0, 0, 0];
/// The colour of negative labels (e.g. an "ignore" index of −1).
pub const NEGATIVE_LABEL_COLOR: Rgb = [255, 255, 255];
/// The colours of labels 1, 2, …, 10 (the "tab10" qualitative palette); label `l > 10` takes
/// the colour of `1 + (l − 1) mod 10`.
pub const LABEL_PALETTE: [Rgb; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// The colour of label `label`: black for 0, white for negative labels, else
/// [`LABEL_PALETTE`] (cycled).
pub fn label_color(label: i64) -> Rgb {
    match label {
        0 => BACKGROUND_COLOR,
        l if l < 0 => NEGATIVE_LABEL_COLOR,
        l => LABEL_PALETTE[((l - 1) % LABEL_PALETTE.len() as i64) as usize],
    }
}

/// Colours a batch of label maps `[N, 1, H, W]` with [`label_color`], giving images
/// `[N, 3, H, W]` with values in `[0, 1]` (so they sit in a grid with value range `(0, 1)`).
///
/// Reads the labels back to the host and uploads the colours (a visualisation helper, not
/// meant for training loops).
pub fn label_map_to_rgb(labels: Tensor<4, Int>) -> Result<Tensor<4>> {
    let [n, c, h, w] = labels.dims();
    if c != 1 {
        return Err(CoreError::shape("labels", "[N, 1, H, W]", &[n, c, h, w]));
    }
    let device = labels.device();
    let values = read_labels(labels)?;
    let plane = h * w;
    let mut rgb = vec![0.0f32; 3 * values.len()];
    for (i, &label) in values.iter().enumerate() {
        let (item, pixel) = (i / plane, i % plane);
        for (channel, &byte) in label_color(label).iter().enumerate() {
            rgb[(3 * item + channel) * plane + pixel] = f32::from(byte) / 255.0;
        }
    }
    Ok(Tensor::from_data(TensorData::new(rgb, [n, 3, h, w]), &device))
}

/// Colours scalar maps `[N, 1, H, W]` (anomaly maps, uncertainty, differences) with the "hot"
/// colour map, giving images `[N, 3, H, W]` in `[0, 1]`: with `v = clamp((m − lo)/(hi − lo), 0, 1)`,
///
/// `r = clamp(3v, 0, 1)`, `g = clamp(3v − 1, 0, 1)`, `b = clamp(3v − 2, 0, 1)`
///
/// (black → red → yellow → white). Runs on the maps' device.
///
/// # Errors
/// A shape error unless the maps have one channel, and [`CoreError::InvalidConfig`] naming
/// `value_range` unless `lo < hi` (both finite).
pub fn heat_map_to_rgb(maps: Tensor<4>, value_range: (f32, f32)) -> Result<Tensor<4>> {
    let [n, c, h, w] = maps.dims();
    if c != 1 {
        return Err(CoreError::shape("maps", "[N, 1, H, W]", &[n, c, h, w]));
    }
    let (lo, hi) = value_range;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(CoreError::config(
            "value_range",
            format!("need finite lo < hi, got ({lo}, {hi})"),
        ));
    }
    let v = maps.sub_scalar(lo).div_scalar(hi - lo).clamp(0.0, 1.0).mul_scalar(3.0);
    let channel = |offset: f32| v.clone().sub_scalar(offset).clamp(0.0, 1.0);
    Ok(Tensor::cat(vec![channel(0.0), channel(1.0), channel(2.0)], 1))
}

/// Reads integer labels of any rank back to the host as `i64`.
pub(crate) fn read_labels<const D: usize>(labels: Tensor<D, Int>) -> Result<Vec<i64>> {
    medgen_core::read_values::<i64, D, _>(labels, "labels")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_colours_run_black_red_yellow_white() {
        let device = burn::tensor::Device::default();
        let maps = Tensor::<4>::from_floats([[[[0.0, 1.0, 2.0, 3.0]]]], &device);
        let rgb = heat_map_to_rgb(maps.clone(), (0.0, 3.0)).unwrap();
        let values = rgb.try_into_vec_as::<f32>().unwrap();
        assert_eq!(values, vec![0., 1., 1., 1., 0., 0., 1., 1., 0., 0., 0., 1.]);
        assert!(heat_map_to_rgb(maps.clone(), (1.0, 1.0)).is_err());
        assert!(heat_map_to_rgb(maps.repeat_dim(1, 2), (0.0, 1.0)).is_err());
    }
    use medgen_testing::test_device;

    #[test]
    fn palette_is_fixed_and_cycles() {
        assert_eq!(label_color(0), [0, 0, 0]);
        assert_eq!(label_color(-1), [255, 255, 255]);
        assert_eq!(label_color(1), [31, 119, 180]);
        assert_eq!(label_color(11), label_color(1));
        assert_ne!(label_color(2), label_color(3));
    }

    #[test]
    fn label_maps_become_rgb_tensors() {
        let device = test_device();
        let labels = Tensor::<4, Int>::from_ints([[[[0, 1], [2, -1]]]], &device);
        let rgb = label_map_to_rgb(labels).unwrap();
        assert_eq!(rgb.dims(), [1, 3, 2, 2]);
        let v = rgb.try_into_vec_as::<f32>().unwrap();
        // Red channel of the four pixels, then green, then blue.
        let expected_red = [0.0, 31.0 / 255.0, 255.0 / 255.0, 1.0];
        for (got, want) in v[..4].iter().zip(expected_red) {
            assert!((got - want).abs() < 1e-6, "{v:?}");
        }
        assert!((v[4 + 2] - 127.0 / 255.0).abs() < 1e-6);
        let two_channels = Tensor::<4, Int>::zeros([1, 2, 2, 2], &device);
        assert!(matches!(label_map_to_rgb(two_channels), Err(CoreError::ShapeMismatch { .. })));
    }
}

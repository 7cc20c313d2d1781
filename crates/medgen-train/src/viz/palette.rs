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

/// Reads integer labels of any rank back to the host as `i64`.
pub(crate) fn read_labels<const D: usize>(labels: Tensor<D, Int>) -> Result<Vec<i64>> {
    medgen_core::read_values::<i64, D, _>(labels, "labels")
}

#[cfg(test)]
mod tests {
    use super::*;
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

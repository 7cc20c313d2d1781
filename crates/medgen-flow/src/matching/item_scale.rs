//! Per-item scalars broadcast over a batch tensor of any rank.

use burn::tensor::{Device, Tensor, TensorData};

/// Uploads one scalar per batch item (`values.len() = N`) as a tensor of shape
/// `[N, 1, …, 1]` (rank `D`), which broadcasts against a batch `[N, C, …]`.
pub(crate) fn item_scale<const D: usize>(values: &[f64], device: &Device) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[0] = values.len();
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::<D>::from_data(TensorData::new(values, shape), device)
}

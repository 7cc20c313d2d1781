//! The host-side cost matrix of minibatch optimal transport.

use burn::tensor::Tensor;
use medgen_core::CoreError;

use crate::error::Result;

/// A dense `rows × cols` cost matrix in `f64`, row-major: `C_ij` is the cost of moving source
/// item `i` to target item `j`.
#[derive(Clone, Debug, PartialEq)]
pub struct CostMatrix {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
}

impl CostMatrix {
    /// Wraps `values` (row-major, `rows · cols` finite entries).
    ///
    /// # Errors
    /// [`CoreError::Empty`] for zero rows or columns, [`CoreError::ShapeMismatch`] if
    /// `values.len() ≠ rows · cols`, [`CoreError::NonFinite`] for NaN/Inf entries.
    pub fn new(rows: usize, cols: usize, values: Vec<f64>) -> Result<Self> {
        medgen_core::check::ensure_non_empty(&[rows, cols], "cost matrix")?;
        if values.len() != rows * cols {
            return Err(CoreError::shape(
                "cost matrix values",
                format!("{rows} × {cols} = {} entries", rows * cols),
                &[values.len()],
            )
            .into());
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::NonFinite { what: "cost matrix".into() }.into());
        }
        Ok(Self { rows, cols, values })
    }

    /// The squared Euclidean costs `C_ij = ‖x₀ᵢ − x₁ⱼ‖²` between the items of two batches
    /// `x₀` (`[N₀, …]`) and `x₁` (`[N₁, …]`) whose items have one shape (each item flattened,
    /// as torchcfm's `torch.cdist(x0, x1) ** 2`), computed in `f64`.
    ///
    /// Reads both batches back to the host: minibatch optimal transport is a host algorithm.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] if the item shapes differ, [`CoreError::Empty`] for an
    /// empty batch, [`CoreError::NonFinite`] for NaN/Inf entries, [`CoreError::Device`] if a
    /// tensor cannot be read.
    pub fn squared_euclidean<const D: usize>(x0: &Tensor<D>, x1: &Tensor<D>) -> Result<Self> {
        let (d0, d1) = (x0.dims(), x1.dims());
        medgen_core::check::ensure_non_empty(&d0, "source batch x0")?;
        medgen_core::check::ensure_non_empty(&d1, "target batch x1")?;
        if d0[1..] != d1[1..] {
            return Err(CoreError::shape(
                "target batch x1",
                format!("items of the source's shape {:?}", &d0[1..]),
                &d1,
            )
            .into());
        }
        let (rows, cols) = (d0[0], d1[0]);
        let a = host_values(x0, "source batch x0")?;
        let b = host_values(x1, "target batch x1")?;
        let width = a.len() / rows;
        let mut values = Vec::with_capacity(rows * cols);
        for row in a.chunks_exact(width) {
            for col in b.chunks_exact(width) {
                values.push(
                    row.iter().zip(col).map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2)).sum(),
                );
            }
        }
        Self::new(rows, cols, values)
    }

    /// The number of source items (rows).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of target items (columns).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `C_ij` for in-range indices (the crate's loops run over `0..rows × 0..cols`).
    pub(crate) fn at(&self, i: usize, j: usize) -> f64 {
        self.values[i * self.cols + j]
    }

    /// `C_ij`, or `None` outside the `rows × cols` matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        (i < self.rows && j < self.cols).then(|| self.values[i * self.cols + j])
    }

    /// The row-major entries.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The largest entry (≥ 0 for distances).
    pub fn max(&self) -> f64 {
        self.values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Reads `tensor` to the host as `f32`, failing on NaN/Inf.
fn host_values<const D: usize>(tensor: &Tensor<D>, what: &str) -> Result<Vec<f32>> {
    let values = medgen_core::read_values::<f32, D, _>(tensor.clone(), what)?;
    medgen_core::check::ensure_finite_values(&values, what)?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn squared_euclidean_matches_hand_computation() {
        let device = test_device();
        let x0 = Tensor::<3>::from_floats([[[0.0, 0.0]], [[1.0, 2.0]]], &device);
        let x1 = Tensor::<3>::from_floats([[[3.0, 4.0]], [[1.0, 0.0]], [[0.0, 2.0]]], &device);
        let cost = CostMatrix::squared_euclidean(&x0, &x1).unwrap();
        assert_eq!((cost.rows(), cost.cols()), (2, 3));
        assert_eq!(cost.values(), &[25.0, 1.0, 4.0, 8.0, 4.0, 1.0]);
        assert_eq!(cost.max(), 25.0);
    }

    #[test]
    fn bad_batches_are_typed_errors() {
        let device = test_device();
        let x0 = Tensor::<2>::zeros([2, 3], &device);
        let wrong = Tensor::<2>::zeros([2, 4], &device);
        assert!(matches!(
            CostMatrix::squared_euclidean(&x0, &wrong),
            Err(crate::FlowError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let nan = Tensor::<2>::from_floats([[0.0, f32::NAN, 0.0]], &device);
        assert!(matches!(
            CostMatrix::squared_euclidean(&x0, &nan),
            Err(crate::FlowError::Core(CoreError::NonFinite { .. }))
        ));
        let empty = Tensor::<2>::zeros([0, 3], &device);
        assert!(CostMatrix::squared_euclidean(&empty, &x0).is_err());
        assert!(CostMatrix::new(1, 2, vec![1.0, f64::NAN]).is_err());
        assert!(CostMatrix::new(1, 2, vec![1.0]).is_err());
    }
}

//! A validated, borrowed view of a feature matrix on the host.

use burn::tensor::Tensor;
use medgen_core::CoreError;

use crate::error::Result;

/// A row-major `rows × cols` matrix of finite `f64` values: one row per sample (an image's
/// feature vector, a logit vector), one column per feature.
///
/// Built by [`FeatureMatrix::new`], which checks the size, emptiness and finiteness once, so
/// that the metrics working on it never see bad input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureMatrix<'a> {
    data: &'a [f64],
    rows: usize,
    cols: usize,
}

impl<'a> FeatureMatrix<'a> {
    /// Wraps `data` (row-major, `rows · cols` values) as a matrix named `what` in errors.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] if `data.len() != rows · cols`, [`CoreError::Empty`] if
    /// `rows` or `cols` is 0, [`CoreError::NonFinite`] if a value is NaN or ±∞.
    pub fn new(data: &'a [f64], rows: usize, cols: usize, what: &str) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(CoreError::shape(
                what,
                format!("{rows} × {cols} = rows · cols values"),
                &[data.len()],
            )
            .into());
        }
        if rows == 0 || cols == 0 {
            return Err(CoreError::Empty { what: format!("{what} ({rows} × {cols})") }.into());
        }
        if !data.iter().all(|v| v.is_finite()) {
            return Err(CoreError::NonFinite { what: what.into() }.into());
        }
        Ok(Self { data, rows, cols })
    }

    /// The number of samples (rows).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of features (columns).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major values.
    pub fn data(&self) -> &'a [f64] {
        self.data
    }

    /// Row `i` (`0 <= i < rows`).
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The matrix as a `faer` matrix (copied).
    pub(crate) fn to_faer(self) -> faer::Mat<f64> {
        faer::Mat::from_fn(self.rows, self.cols, |i, j| self.data[i * self.cols + j])
    }

    /// Fails with [`CoreError::ShapeMismatch`] unless `other` has as many columns as `self`.
    pub(crate) fn ensure_same_cols(&self, other: &FeatureMatrix<'_>, what: &str) -> Result<()> {
        if self.cols == other.cols {
            Ok(())
        } else {
            Err(CoreError::shape(what, format!("[_, {}]", self.cols), &[other.rows, other.cols])
                .into())
        }
    }
}

/// Reads a `[N, d]` feature tensor back to the host as row-major `f64` values (a
/// synchronisation point), returning the values and `(N, d)`.
///
/// # Errors
/// [`CoreError::Device`] if the tensor cannot be read back from its device.
pub fn features_to_host(features: Tensor<2>) -> Result<(Vec<f64>, usize, usize)> {
    let [rows, cols] = features.dims();
    Ok((tensor_to_host(features)?, rows, cols))
}

/// Reads any float tensor back to the host as row-major `f64` values.
pub(crate) fn tensor_to_host<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f64>> {
    Ok(medgen_core::read_values::<f64, D, _>(tensor, "tensor")?)
}

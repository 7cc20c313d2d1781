//! A fixed sparse matrix applied on the device by gathers, for the CT projector, its adjoint
//! and the back-projection of filtered back-projection.
//!
//! Burn has no sparse tensors; a scatter-add would be non-deterministic on GPUs. So each
//! matrix is stored in ELLPACK form, rows padded to the longest row with zero weights:
//! `(A x)_i = Σ_k w[i, k] · x[j[i, k]]` is one `select` of the flattened input, one multiply
//! and one sum, differentiable by autodiff and bit-for-bit deterministic on every device.
//! The transpose is built on the host from the same triplets, so `Aᵀ` is the exact adjoint.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// A `rows × cols` sparse matrix in ELLPACK form on a device.
#[derive(Clone, Debug)]
pub(crate) struct EllMatrix {
    rows: usize,
    cols: usize,
    width: usize,
    /// Column index of each stored entry, `[rows · width]`.
    indices: Tensor<1, Int>,
    /// Weight of each stored entry, `[1, rows · width]` (zero for padding).
    weights: Tensor<2>,
    /// The same entries as `(row, col, weight)` triplets, kept to build the transpose.
    triplets: Vec<(u32, u32, f64)>,
}

impl EllMatrix {
    /// Builds the matrix from `(row, col, weight)` triplets (duplicates are summed, exact
    /// zeros dropped) and uploads it to `device`.
    ///
    /// # Panics
    /// If a triplet lies outside `rows × cols` (the callers in this crate build the triplets
    /// from the shapes themselves, so this is a programming error).
    #[track_caller]
    pub(crate) fn from_triplets(
        rows: usize,
        cols: usize,
        mut triplets: Vec<(u32, u32, f64)>,
        device: &Device,
    ) -> Self {
        triplets.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut merged: Vec<(u32, u32, f64)> = Vec::with_capacity(triplets.len());
        for (r, c, w) in triplets {
            assert!((r as usize) < rows && (c as usize) < cols, "triplet outside the matrix");
            match merged.last_mut() {
                Some(last) if last.0 == r && last.1 == c => last.2 += w,
                _ => merged.push((r, c, w)),
            }
        }
        merged.retain(|&(_, _, w)| w != 0.0);
        let mut counts = vec![0usize; rows];
        for &(r, _, _) in &merged {
            counts[r as usize] += 1;
        }
        let width = counts.iter().copied().max().unwrap_or(0).max(1);
        let mut indices = vec![0i64; rows * width];
        let mut weights = vec![0f32; rows * width];
        let mut fill = vec![0usize; rows];
        for &(r, c, w) in &merged {
            let slot = r as usize * width + fill[r as usize];
            indices[slot] = i64::from(c);
            weights[slot] = w as f32;
            fill[r as usize] += 1;
        }
        Self {
            rows,
            cols,
            width,
            indices: Tensor::from_data(TensorData::new(indices, [rows * width]), device),
            weights: Tensor::from_data(TensorData::new(weights, [1, rows * width]), device),
            triplets: merged,
        }
    }

    /// The transpose `Aᵀ` (`cols × rows`), built from the same entries.
    pub(crate) fn transpose(&self, device: &Device) -> Self {
        let swapped = self.triplets.iter().map(|&(r, c, w)| (c, r, w)).collect();
        Self::from_triplets(self.cols, self.rows, swapped, device)
    }

    /// `y = A x` for every row of `x` (`[B, cols]` → `[B, rows]`).
    pub(crate) fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let batch = x.dims()[0];
        let picked = x.select(1, self.indices.clone()).mul(self.weights.clone());
        picked.reshape([batch, self.rows, self.width]).sum_dim(2).reshape([batch, self.rows])
    }
}

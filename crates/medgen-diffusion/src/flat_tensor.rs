//! A tensor of any rank kept between solver steps: the multistep schedulers implement
//! [`Scheduler<D>`](crate::Scheduler) for every rank `D`, so their memory cannot name `D`.

use burn::tensor::Tensor;

use crate::error::{DiffusionError, Result};

/// A tensor flattened to rank 1, with its shape to restore it.
#[derive(Clone, Debug)]
pub(crate) struct FlatTensor {
    flat: Tensor<1>,
    dims: Vec<usize>,
}

impl FlatTensor {
    /// Flattens `tensor` (a reshape: no copy on the device).
    pub(crate) fn new<const D: usize>(tensor: Tensor<D>) -> Self {
        let dims = tensor.dims().to_vec();
        Self { flat: tensor.flatten(0, D - 1), dims }
    }

    /// The tensor at its original shape; an `InvalidConfig` error naming `sample` if the
    /// caller changed the rank or shape between steps.
    pub(crate) fn restore<const D: usize>(&self, like: &[usize]) -> Result<Tensor<D>> {
        if self.dims != like {
            return Err(DiffusionError::config(
                "sample",
                format!(
                    "the sample shape changed between solver steps: {:?} then {like:?}",
                    self.dims
                ),
            ));
        }
        let dims: [usize; D] = self.dims.clone().try_into().map_err(|_| {
            DiffusionError::config("sample", "the rank changed between solver steps")
        })?;
        Ok(self.flat.clone().reshape(dims))
    }
}

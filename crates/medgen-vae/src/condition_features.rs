//! Conditioning of autoencoders on a class label and/or a covariate vector, as extra input
//! channels of the encoder and decoder (a conditional VAE, Sohn et al. 2015).

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::{Condition, CoreError};

/// Which parts of a [`Condition`] a model takes: a class label in `0..num_classes` (one-hot
/// encoded) and/or a covariate vector of width `embedding_dim`.
#[derive(Config, Debug, PartialEq)]
pub struct ConditionSpec {
    /// Number of classes (`None`: no class input).
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// Width of the covariate vector `[N, E]` (`None`: no vector input).
    #[config(default = "None")]
    pub embedding_dim: Option<usize>,
}

impl ConditionSpec {
    /// Checks that widths are positive.
    pub fn validate(&self) -> crate::Result<()> {
        if self.num_classes == Some(0) || self.embedding_dim == Some(0) {
            return Err(CoreError::config(
                "num_classes/embedding_dim",
                "must be positive when present",
            )
            .into());
        }
        Ok(())
    }

    /// The width `F = num_classes + embedding_dim` of the feature vector.
    pub fn width(&self) -> usize {
        self.num_classes.unwrap_or(0) + self.embedding_dim.unwrap_or(0)
    }

    /// The features `c = [onehot(class), covariates] ∈ ℝ^F` of each item, `[batch, F]`, or
    /// `None` when the model is unconditional. A `keep` mask multiplies them (0 gives the
    /// all-zero "null" condition).
    ///
    /// Errors: a part the model needs is missing, a part it does not take is given, or a
    /// part has the wrong batch size or width.
    pub fn features<const D: usize>(
        &self,
        condition: &Condition<D>,
        batch: usize,
    ) -> crate::Result<Option<Tensor<2>>> {
        let mut parts = Vec::new();
        match (self.num_classes, &condition.class) {
            (Some(k), Some(class)) => {
                check_batch(&class.dims(), batch, None, "condition.class")?;
                parts.push(class.clone().one_hot::<2>(k).float());
            }
            (None, None) => {}
            (Some(_), None) => return Err(missing("condition.class")),
            (None, Some(_)) => return Err(unexpected("condition.class")),
        }
        match (self.embedding_dim, &condition.embedding) {
            (Some(e), Some(v)) => {
                check_batch(&v.dims(), batch, Some(e), "condition.embedding")?;
                parts.push(v.clone());
            }
            (None, None) => {}
            (Some(_), None) => return Err(missing("condition.embedding")),
            (None, Some(_)) => return Err(unexpected("condition.embedding")),
        }
        if parts.is_empty() {
            return Ok(None);
        }
        let mut features = Tensor::cat(parts, 1);
        if let Some(keep) = &condition.keep {
            check_batch(&keep.dims(), batch, None, "condition.keep")?;
            features = features.mul(keep.clone().unsqueeze_dim::<2>(1));
        }
        Ok(Some(features))
    }
}

/// Appends features `[N, F]` to `x` `[N, C, *spatial]` as `F` constant channels (broadcast
/// over the spatial axes): `[N, C + F, *spatial]`. Returns `x` unchanged for `None`.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] naming `x` for a rank below 2 and `features` for another
/// batch size than `x`'s.
pub fn append_channels<const D: usize>(
    x: Tensor<D>,
    features: Option<&Tensor<2>>,
) -> crate::Result<Tensor<D>> {
    let Some(features) = features else { return Ok(x) };
    let dims = x.dims();
    if D < 2 {
        return Err(CoreError::shape("x", "[N, C, ...]", &dims).into());
    }
    check_batch(&features.dims(), dims[0], None, "features")?;
    let mut shape = [1; D];
    shape[0] = dims[0];
    shape[1] = features.dims()[1];
    let mut full = shape;
    full[2..].copy_from_slice(&dims[2..]);
    let planes = features.clone().reshape(shape).expand(full);
    Ok(Tensor::cat(vec![x, planes], 1))
}

fn check_batch(
    dims: &[usize],
    batch: usize,
    width: Option<usize>,
    what: &str,
) -> crate::Result<()> {
    if dims[0] != batch || width.is_some_and(|w| dims[1] != w) {
        let expected = match width {
            Some(w) => format!("[{batch}, {w}]"),
            None => format!("[{batch}]"),
        };
        return Err(CoreError::shape(what, expected, dims).into());
    }
    Ok(())
}

fn missing(what: &str) -> crate::error::VaeError {
    CoreError::config(what, "the model is conditional on it, but it is missing").into()
}

fn unexpected(what: &str) -> crate::error::VaeError {
    CoreError::config(what, "given to a model that does not take it").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Int, TensorData};
    use medgen_testing::test_device;

    #[test]
    fn features_are_one_hot_then_covariates_and_broadcast() {
        let device = test_device();
        let spec = ConditionSpec::new().with_num_classes(Some(3)).with_embedding_dim(Some(1));
        let cond = Condition::<4>::none()
            .with_class(Tensor::<1, Int>::from_data(TensorData::new(vec![2, 0], [2]), &device))
            .with_embedding(Tensor::from_floats([[0.5], [-1.0]], &device));
        let f = spec.features(&cond, 2).unwrap().unwrap();
        assert_eq!(
            f.clone().into_data().try_to_vec::<f32>().unwrap(),
            vec![0., 0., 1., 0.5, 1., 0., 0., -1.0]
        );
        let x = append_channels(Tensor::<4>::zeros([2, 1, 2, 2], &device), Some(&f)).unwrap();
        assert_eq!(x.dims(), [2, 5, 2, 2]);
        let v = x.into_data().try_to_vec::<f32>().unwrap();
        // Item 1, channel 4 (the covariate) is -1 everywhere.
        assert_eq!(&v[36..40], &[-1.0; 4]);
        assert!(spec.features(&Condition::<4>::none(), 2).is_err());
        assert!(ConditionSpec::new().features(&cond, 2).is_err());
    }
}

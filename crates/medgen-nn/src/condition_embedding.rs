//! Embedding of class labels and conditioning vectors, with the learned null condition of
//! classifier-free guidance.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use medgen_core::condition::Condition;
use medgen_core::error::{CoreError, Result};

/// Configuration of a [`ConditionEmbedding`].
#[derive(Config, Debug)]
pub struct ConditionEmbeddingConfig {
    /// Width `E` of the produced embedding (the U-Net's time-embedding width).
    pub emb_dim: usize,
    /// Number of classes `K` of a class-conditional model, if any.
    pub num_classes: Option<usize>,
    /// Width `E_c` of a conditioning vector (covariates), if any.
    pub embedding_dim: Option<usize>,
}

/// Maps the class and vector parts of a [`Condition`] to one `[N, E]` embedding that the U-Net
/// adds to its time embedding:
///
/// ```text
/// c_class = keep · T[y] + (1 − keep) · T[K]          T: [K + 1, E], row K = learned null
/// c_vec   = keep · (W e + b) + (1 − keep) · ν        ν: [E], learned null vector
/// c       = c_class + c_vec                           (each part only if configured)
/// ```
///
/// `keep` `[N]` is [`Condition::keep`] (1 keeps the condition, 0 selects the null; absent means
/// all ones). Table rows start as `N(0, 1)` draws (like `nn.Embedding`), `ν` as zeros; `W`, `b`
/// as Burn's linear layer.
#[derive(Module, Debug)]
pub struct ConditionEmbedding {
    /// Class table `[K + 1, E]`; its last row is the null class.
    pub class_table: Option<Param<Tensor<2>>>,
    /// Projection of the conditioning vector, `E_c → E`.
    pub vector_proj: Option<Linear>,
    /// Null embedding `[E]` replacing the projected vector where `keep = 0`.
    pub vector_null: Option<Param<Tensor<1>>>,
}

impl ConditionEmbeddingConfig {
    /// Builds the embedding on `device`; fails on a zero `emb_dim`, `num_classes` or
    /// `embedding_dim`.
    pub fn init(&self, device: &Device) -> Result<ConditionEmbedding> {
        let e = self.emb_dim;
        if e == 0 {
            return Err(CoreError::config("emb_dim", "must be positive"));
        }
        if self.num_classes == Some(0) {
            return Err(CoreError::config("num_classes", "must be positive when set"));
        }
        if self.embedding_dim == Some(0) {
            return Err(CoreError::config("embedding_dim", "must be positive when set"));
        }
        let normal = Initializer::Normal { mean: 0.0, std: 1.0 };
        Ok(ConditionEmbedding {
            class_table: self.num_classes.map(|k| normal.init([k + 1, e], device)),
            vector_proj: self.embedding_dim.map(|e_c| LinearConfig::new(e_c, e).init(device)),
            vector_null: self.embedding_dim.map(|_| Initializer::Zeros.init([e], device)),
        })
    }
}

impl ConditionEmbedding {
    /// The number of classes `K`, if class-conditional.
    pub fn num_classes(&self) -> Option<usize> {
        self.class_table.as_ref().map(|t| t.lazy_shape()[0] - 1)
    }

    /// The width `E_c` of the conditioning vector, if any.
    pub fn embedding_dim(&self) -> Option<usize> {
        self.vector_proj.as_ref().map(|l| l.weight.lazy_shape()[0])
    }

    /// Embeds the class and vector parts of `condition` for a batch of `batch` items:
    /// `[N, E]`, or `None` when the module has neither part.
    ///
    /// Fails with a typed error when a configured part is missing, an unconfigured part is
    /// given, or a part's shape is not `[N]` (labels, keep) or `[N, E_c]` (vector). Labels are
    /// clamped to `0..K` on the device (checking their range would read them back to the
    /// host); callers pass labels in range.
    pub fn forward<const D: usize>(
        &self,
        condition: &Condition<D>,
        batch: usize,
    ) -> Result<Option<Tensor<2>>> {
        let keep = match &condition.keep {
            Some(keep) => {
                ensure_dims(&keep.dims(), &[batch], "condition.keep", "[N]")?;
                Some(keep.clone().unsqueeze_dim::<2>(1))
            }
            None => None,
        };
        let class = match (&self.class_table, &condition.class) {
            (Some(table), Some(labels)) => {
                ensure_dims(&labels.dims(), &[batch], "condition.class", "[N]")?;
                let table = table.val();
                let k = table.dims()[0] - 1;
                let rows = table.clone().select(0, labels.clone().clamp(0, k as i64 - 1));
                Some(mix_with_null(rows, table.narrow(0, k, 1), keep.as_ref()))
            }
            (table, labels) => {
                check_presence(table.is_some(), labels.is_some(), "class", "num_classes")?;
                None
            }
        };
        let vector = match (&self.vector_proj, &self.vector_null, &condition.embedding) {
            (Some(proj), Some(null), Some(e)) => {
                let e_c = proj.weight.dims()[0];
                ensure_dims(&e.dims(), &[batch, e_c], "condition.embedding", "[N, E_c]")?;
                let null = null.val().unsqueeze_dim::<2>(0);
                Some(mix_with_null(proj.forward(e.clone()), null, keep.as_ref()))
            }
            (proj, _, e) => {
                check_presence(proj.is_some(), e.is_some(), "embedding", "embedding_dim")?;
                None
            }
        };
        Ok(match (class, vector) {
            (Some(a), Some(b)) => Some(a.add(b)),
            (a, b) => a.or(b),
        })
    }
}

/// `keep · value + (1 − keep) · null`, written as `null + keep · (value − null)`; `keep` is
/// `[N, 1]`, `value` `[N, E]`, `null` `[1, E]`.
fn mix_with_null(value: Tensor<2>, null: Tensor<2>, keep: Option<&Tensor<2>>) -> Tensor<2> {
    match keep {
        Some(keep) => value.sub(null.clone()).mul(keep.clone()).add(null),
        None => value,
    }
}

fn ensure_dims(got: &[usize], expected: &[usize], what: &str, symbolic: &str) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(CoreError::shape(what, format!("{symbolic} = {expected:?}"), got))
    }
}

/// Errors unless a condition part is given exactly when the network was built for it.
fn check_presence(configured: bool, given: bool, part: &str, field: &str) -> Result<()> {
    match (configured, given) {
        (true, false) => Err(CoreError::config(
            format!("condition.{part}"),
            format!(
                "the network was built with `{field}` and needs this part \
                 (use Condition::to_null for the unconditional branch)"
            ),
        )),
        (false, true) => Err(CoreError::config(
            format!("condition.{part}"),
            format!("the network was built without `{field}`"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Int;
    use medgen_testing::test_device;

    fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
        a.sub(b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn keep_mixes_label_rows_with_the_null_row() {
        let device = test_device();
        let module =
            ConditionEmbeddingConfig::new(4).with_num_classes(Some(3)).init(&device).unwrap();
        let table = module.class_table.as_ref().unwrap().val();
        let labels = Tensor::<1, Int>::from_ints([2, 0, 1], &device);
        let keep = Tensor::<1>::from_floats([1.0, 0.0, 0.25], &device);
        let cond = Condition::<4>::none().with_class(labels);
        let cond = Condition { keep: Some(keep), ..cond };
        let got = module.forward(&cond, 3).unwrap().unwrap();

        let row = |i: usize| table.clone().narrow(0, i, 1);
        let expected = Tensor::cat(
            vec![row(2), row(3), row(1).mul_scalar(0.25).add(row(3).mul_scalar(0.75))],
            0,
        );
        assert!(max_abs_diff(got, expected) < 1e-6);
        assert_eq!(module.num_classes(), Some(3));
    }

    #[test]
    fn vector_part_is_projected_and_nulled() {
        let device = test_device();
        let module =
            ConditionEmbeddingConfig::new(4).with_embedding_dim(Some(2)).init(&device).unwrap();
        assert_eq!(module.embedding_dim(), Some(2));
        let e = Tensor::<2>::from_floats([[1.0, -2.0], [0.5, 3.0]], &device);
        let cond = Condition::<4>::none().with_embedding(e.clone());
        let kept = module.forward(&cond, 2).unwrap().unwrap();
        let projected = module.vector_proj.as_ref().unwrap().forward(e);
        assert!(max_abs_diff(kept, projected) < 1e-6);

        let nulled = module.forward(&cond.to_null(2, &device), 2).unwrap().unwrap();
        let null = module.vector_null.as_ref().unwrap().val().unsqueeze_dim::<2>(0);
        assert!(max_abs_diff(nulled, null.expand([2, 4])) < 1e-6);
    }

    #[test]
    fn missing_extra_or_misshapen_parts_are_errors() {
        let device = test_device();
        let class_only =
            ConditionEmbeddingConfig::new(4).with_num_classes(Some(3)).init(&device).unwrap();
        let none = Condition::<4>::none();
        assert!(class_only.forward(&none, 2).is_err());
        let labels = Condition::<4>::none().with_class(Tensor::from_ints([0, 1], &device));
        assert!(class_only.forward(&labels, 3).is_err());
        let extra = labels.clone().with_embedding(Tensor::zeros([2, 2], &device));
        assert!(class_only.forward(&extra, 2).is_err());

        let empty = ConditionEmbeddingConfig::new(4).init(&device).unwrap();
        assert!(empty.forward(&none, 2).unwrap().is_none());
        assert!(empty.forward(&labels, 2).is_err());

        assert!(ConditionEmbeddingConfig::new(4).with_num_classes(Some(0)).init(&device).is_err());
    }
}

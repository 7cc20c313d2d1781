//! The auxiliary-classifier (AC-GAN) class loss.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};
use medgen_core::check::ensure_non_empty;

use crate::error::Result;
use crate::nets::check_class_labels;

/// The class cross-entropy of an auxiliary-classifier GAN (Odena et al. 2017):
///
/// `L_cls = −E_n[log softmax(c_n)_{y_n}] = E_n[logsumexp(c_n) − c_{n, y_n}]`
///
/// for class logits `c` of shape `[N, K]` (the `class_logits` of a
/// [`crate::DiscriminatorOutput`]) and labels `y` of shape `[N]` in `0..K`; a scalar tensor
/// `[1]`. The discriminator minimises it on real and fake data, the generator on its samples
/// (with the labels it was conditioned on). `log_softmax` subtracts the row maximum first, so
/// the value is finite for logits of any magnitude.
///
/// Fails with [`medgen_core::CoreError::Empty`] for an empty batch or `K = 0`,
/// [`medgen_core::CoreError::ShapeMismatch`] unless `labels` is `[N]`, and
/// [`crate::GanError::LabelOutOfRange`] for a label outside `0..K` (checked on the host: two
/// scalars are read back).
pub fn auxiliary_classifier_loss(
    class_logits: Tensor<2>,
    labels: Tensor<1, Int>,
) -> Result<Tensor<1>> {
    let [n, k] = class_logits.dims();
    ensure_non_empty(&[n, k], "class logits")?;
    check_class_labels(&labels, n, k, "class labels")?;
    let log_probs = log_softmax(class_logits, 1);
    let picked = log_probs.gather(1, labels.unsqueeze_dim::<2>(1));
    Ok(picked.mean().neg())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GanError;
    use medgen_testing::test_device;

    /// Logits {0, ln 2, ln 3} with label 2: p = 3 / 6, loss ln 2. Logits {1, 1, 1} with label
    /// 0: loss ln 3. Mean (ln 2 + ln 3) / 2.
    #[test]
    fn cross_entropy_matches_hand_computation() {
        let device = test_device();
        let logits =
            Tensor::<2>::from_floats([[0.0, 2f32.ln(), 3f32.ln()], [1.0, 1.0, 1.0]], &device);
        let labels = Tensor::<1, Int>::from_ints([2, 0], &device);
        let loss = auxiliary_classifier_loss(logits, labels).unwrap().into_scalar::<f32>();
        let expected = (2f32.ln() + 3f32.ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn extreme_logits_and_bad_labels() {
        let device = test_device();
        let logits = Tensor::<2>::from_floats([[100.0, -100.0], [-100.0, 100.0]], &device);
        let loss =
            auxiliary_classifier_loss(logits.clone(), Tensor::<1, Int>::from_ints([1, 1], &device))
                .unwrap()
                .into_scalar::<f32>();
        assert!((loss - 100.0).abs() < 1e-3, "{loss}");
        let out_of_range =
            auxiliary_classifier_loss(logits.clone(), Tensor::<1, Int>::from_ints([0, 2], &device));
        assert!(matches!(
            out_of_range,
            Err(GanError::LabelOutOfRange { label: 2, num_classes: 2, .. })
        ));
        let negative =
            auxiliary_classifier_loss(logits, Tensor::<1, Int>::from_ints([-1, 0], &device));
        assert!(matches!(negative, Err(GanError::LabelOutOfRange { label: -1, .. })));
        let empty = auxiliary_classifier_loss(
            Tensor::<2>::zeros([0, 2], &device),
            Tensor::<1, Int>::zeros([0], &device),
        );
        assert!(empty.is_err());
    }
}

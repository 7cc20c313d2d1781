//! The auxiliary-classifier discriminator (Odena et al. 2017), 2D or 3D.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::Condition;

use super::class_labels::check_class_labels;
use super::dcgan_discriminator::{DcganDiscriminator, DcganDiscriminatorConfig};
use super::disc_linear::DiscriminatorLinear;
use super::rank::check_positive;
use crate::error::{GanError, Result};
use crate::network::{Discriminator, DiscriminatorOutput};

/// Configuration of an [`AcganDiscriminator`].
#[derive(Config, Debug)]
pub struct AcganDiscriminatorConfig {
    /// The trunk `φ` and real/fake head `ψ`.
    pub base: DcganDiscriminatorConfig,
    /// Number of classes `K` the auxiliary head predicts.
    pub num_classes: usize,
}

/// AC-GAN discriminator: one trunk, two heads,
///
/// ```text
/// ℓ(x) = ψ(φ(x))          [N, 1]   real vs fake
/// c(x) = W_c φ(x) + b_c   [N, K]   class logits (trained with crate::auxiliary_classifier_loss)
/// ```
///
/// The class head is spectrally normalised when the base is.
#[derive(Module, Debug)]
pub struct AcganDiscriminator {
    /// `φ` and `ψ`.
    pub base: DcganDiscriminator,
    /// The class head `ℝ^F → ℝ^K`.
    pub class_head: DiscriminatorLinear,
    /// Number of classes `K`.
    pub num_classes: usize,
}

impl AcganDiscriminatorConfig {
    /// Builds the discriminator; fails on `num_classes = 0` or an invalid base configuration.
    pub fn init(&self, device: &Device) -> Result<AcganDiscriminator> {
        check_positive(self.num_classes, "num_classes")?;
        let base = self.base.init(device)?;
        let class_head = DiscriminatorLinear::init(
            base.feature_dim,
            self.num_classes,
            self.base.spectral_norm.as_ref(),
            device,
        )?;
        Ok(AcganDiscriminator { base, class_head, num_classes: self.num_classes })
    }
}

impl<const D: usize> Discriminator<D> for AcganDiscriminator {
    /// Real/fake logits `[N, 1]` and class logits `[N, K]`. The discriminator does not see
    /// labels: `condition.class`, if given (the labels the loss will use), is only checked
    /// against `0..K`; image and embedding parts are rejected.
    fn discriminate(&self, x: Tensor<D>, condition: &Condition<D>) -> Result<DiscriminatorOutput> {
        if condition.image.is_some() || condition.embedding.is_some() {
            return Err(GanError::ConditionMismatch {
                network: "AcganDiscriminator",
                reason: "only class labels may accompany the input".into(),
            });
        }
        if let Some(labels) = &condition.class {
            check_class_labels(labels, x.dims()[0], self.num_classes, "condition.class")?;
        }
        let phi = self.base.features(x)?;
        Ok(DiscriminatorOutput {
            logits: self.base.head.forward(phi.clone()),
            class_logits: Some(self.class_head.forward(phi)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Int;
    use medgen_testing::test_device;

    #[test]
    fn two_heads_in_2d_and_3d_and_label_errors() {
        let device = test_device();
        for spatial_dims in [2, 3] {
            let base = DcganDiscriminatorConfig::new(spatial_dims, 1, 8)
                .with_num_downsamplings(2)
                .with_base_channels(2);
            let d = AcganDiscriminatorConfig::new(base, 4).init(&device).unwrap();
            let labels =
                Condition::<5>::none().with_class(Tensor::<1, Int>::from_ints([3, 0], &device));
            let out = if spatial_dims == 2 {
                d.discriminate(Tensor::<4>::ones([2, 1, 8, 8], &device), &Condition::none())
                    .unwrap()
            } else {
                d.discriminate(Tensor::<5>::ones([2, 1, 8, 8, 8], &device), &labels).unwrap()
            };
            assert_eq!(out.logits.dims(), [2, 1]);
            assert_eq!(out.class_logits.unwrap().dims(), [2, 4]);
        }
        let base =
            DcganDiscriminatorConfig::new(2, 1, 8).with_num_downsamplings(2).with_base_channels(2);
        let d = AcganDiscriminatorConfig::new(base, 4).init(&device).unwrap();
        let x = Tensor::<4>::ones([2, 1, 8, 8], &device);
        let bad = Condition::none().with_class(Tensor::<1, Int>::from_ints([4, 0], &device));
        assert!(matches!(d.discriminate(x.clone(), &bad), Err(GanError::LabelOutOfRange { .. })));
        let image = Condition::none().with_image(x.clone());
        assert!(matches!(d.discriminate(x, &image), Err(GanError::ConditionMismatch { .. })));
    }
}

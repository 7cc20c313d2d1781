//! The projection discriminator (Miyato & Koyama 2018), 2D or 3D.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use super::class_labels::check_class_labels;
use super::condition_use::check_parts;
use super::dcgan_discriminator::{DcganDiscriminator, DcganDiscriminatorConfig};
use super::rank::check_positive;
use crate::error::{GanError, Result};
use crate::network::{Discriminator, DiscriminatorOutput};
use crate::spectral_norm::SpectralNorm;
use medgen_core::Condition;

/// Configuration of a [`ProjectionDiscriminator`].
#[derive(Config, Debug)]
pub struct ProjectionDiscriminatorConfig {
    /// The trunk `φ` and unconditional head `ψ` (spectral normalisation applies to the class
    /// embedding too).
    pub base: DcganDiscriminatorConfig,
    /// Number of classes `K`.
    pub num_classes: usize,
}

/// Class-conditional discriminator by projection:
///
/// `ℓ(x, y) = ψ(φ(x)) + ⟨V_y, φ(x)⟩`
///
/// with `φ(x)` `[N, F]` and `ψ` the features and head of a [`DcganDiscriminator`], and
/// `V ∈ ℝ^{K×F}` a learned class embedding (initialised `N(0, 1/F)`, spectrally normalised
/// as a matrix when the base is). The inner product is the log-density-ratio term
/// `log q(y|x)/p(y|x)` of Miyato & Koyama's derivation; `ψ` models the marginal.
#[derive(Module, Debug)]
pub struct ProjectionDiscriminator {
    /// `φ` and `ψ`.
    pub base: DcganDiscriminator,
    /// Class embedding `V` `[K, F]`.
    pub embedding: Param<Tensor<2>>,
    /// Spectral normalisation of `V`, if the base is spectrally normalised.
    pub embedding_norm: Option<SpectralNorm>,
}

impl ProjectionDiscriminatorConfig {
    /// Builds the discriminator; fails on `num_classes = 0` or an invalid base configuration.
    pub fn init(&self, device: &Device) -> Result<ProjectionDiscriminator> {
        check_positive(self.num_classes, "num_classes")?;
        let base = self.base.init(device)?;
        let f = base.feature_dim;
        let embedding = Initializer::Normal { mean: 0.0, std: 1.0 / (f as f64).sqrt() }
            .init([self.num_classes, f], device);
        let embedding_norm = self
            .base
            .spectral_norm
            .as_ref()
            .map(|sn| sn.init(self.num_classes, device))
            .transpose()?;
        Ok(ProjectionDiscriminator { base, embedding, embedding_norm })
    }
}

impl ProjectionDiscriminator {
    /// The number of classes `K`.
    pub fn num_classes(&self) -> usize {
        self.embedding.dims()[0]
    }

    /// `V` as used in the forward pass (divided by `σ̂(V)` when spectrally normalised).
    pub fn effective_embedding(&self) -> Tensor<2> {
        match &self.embedding_norm {
            Some(sn) => sn.normalize_weight(self.embedding.val()),
            None => self.embedding.val(),
        }
    }

    /// `ℓ(x, y)` `[N, 1]` for images `[N, C, s, …]` and labels `[N]` in `0..K`.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        labels: &burn::tensor::Tensor<1, burn::tensor::Int>,
    ) -> Result<Tensor<2>> {
        let n = x.dims()[0];
        check_class_labels(labels, n, self.num_classes(), "condition.class")?;
        let phi = self.base.features(x)?;
        let projected =
            self.effective_embedding().select(0, labels.clone()).mul(phi.clone()).sum_dim(1);
        Ok(self.base.head.forward(phi).add(projected))
    }
}

impl<const D: usize> Discriminator<D> for ProjectionDiscriminator {
    /// Needs `condition.class`; see [`ProjectionDiscriminator::forward`].
    fn discriminate(&self, x: Tensor<D>, condition: &Condition<D>) -> Result<DiscriminatorOutput> {
        check_parts(condition, "ProjectionDiscriminator", true, false)?;
        let labels = condition.class.as_ref().ok_or(GanError::ConditionMismatch {
            network: "ProjectionDiscriminator",
            reason: "needs class labels".into(),
        })?;
        Ok(DiscriminatorOutput { logits: self.forward(x, labels)?, class_logits: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Int, TensorData};
    use medgen_testing::test_device;

    fn config(spatial_dims: usize) -> ProjectionDiscriminatorConfig {
        let base = DcganDiscriminatorConfig::new(spatial_dims, 1, 8)
            .with_num_downsamplings(2)
            .with_base_channels(2)
            .with_spectral_norm(None);
        ProjectionDiscriminatorConfig::new(base, 3)
    }

    /// With `V_k = 0.1 (k + 1) · 1`, `ℓ(x, y) = ψ(φ(x)) + 0.1 (y + 1) Σ_f φ_f(x)`: checked
    /// against `ψ(φ)` and `φ` computed separately.
    #[test]
    fn logit_is_psi_plus_projection_on_known_weights() {
        let device = test_device();
        let mut d = config(2).init(&device).unwrap();
        let f = d.base.feature_dim;
        let v: Vec<f32> = (0..3).flat_map(|k| vec![0.1 * (k + 1) as f32; f]).collect();
        d.embedding = Param::from_tensor(Tensor::from_data(TensorData::new(v, [3, f]), &device));
        let values: Vec<f32> = (0..128).map(|i| ((i as f32) * 0.7).sin()).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [2, 1, 8, 8]), &device);
        let labels = Tensor::<1, Int>::from_ints([0, 2], &device);
        let cond = Condition::none().with_class(labels);
        let logits = d.discriminate(x.clone(), &cond).unwrap().logits;
        let logits = logits.into_data().try_to_vec::<f32>().unwrap();
        let phi = d.base.features(x).unwrap();
        let psi = d.base.head.forward(phi.clone()).into_data().try_to_vec::<f32>().unwrap();
        let sums = phi.sum_dim(1).into_data().try_to_vec::<f32>().unwrap();
        for (i, y) in [0usize, 2].into_iter().enumerate() {
            let expected = psi[i] + 0.1 * (y + 1) as f32 * sums[i];
            assert!((logits[i] - expected).abs() < 1e-4, "{} vs {expected}", logits[i]);
        }
    }

    #[test]
    fn shapes_in_3d_spectral_and_label_errors() {
        let device = test_device().autodiff();
        let mut c = config(3);
        c.base.spectral_norm = Some(crate::SpectralNormConfig::new());
        let d = c.init(&device).unwrap();
        assert!(d.embedding_norm.is_some());
        let x = Tensor::<5>::ones([2, 1, 8, 8, 8], &device);
        let cond = Condition::none().with_class(Tensor::<1, Int>::from_ints([1, 2], &device));
        assert_eq!(d.discriminate(x.clone(), &cond).unwrap().logits.dims(), [2, 1]);
        let bad = Condition::none().with_class(Tensor::<1, Int>::from_ints([1, 5], &device));
        assert!(matches!(
            d.discriminate(x.clone(), &bad),
            Err(GanError::LabelOutOfRange { label: 5, .. })
        ));
        assert!(matches!(
            d.discriminate(x, &Condition::none()),
            Err(GanError::ConditionMismatch { .. })
        ));
    }
}

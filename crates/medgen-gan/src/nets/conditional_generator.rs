//! A class- and/or covariate-conditional DCGAN generator (Mirza & Osindero 2014).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};
use medgen_core::check::ensure_shape;
use medgen_core::{Condition, CoreError};

use super::class_labels::check_class_labels;
use super::condition_use::check_parts;
use super::dcgan_generator::{DcganGenerator, DcganGeneratorConfig};
use super::rank::check_positive;
use crate::error::Result;
use crate::network::Generator;

/// Configuration of a [`ConditionalGenerator`]: a DCGAN generator whose `latent_dim` is the
/// noise width `d`, plus the conditioning inputs (at least one of classes and covariates).
#[derive(Config, Debug)]
pub struct ConditionalGeneratorConfig {
    /// The generator (its `latent_dim` is the width of the noise `z`).
    pub generator: DcganGeneratorConfig,
    /// Number of classes `K` of class labels in `condition.class`, if class-conditional.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// Width `E` of the learned class embedding.
    #[config(default = 16)]
    pub class_embed_dim: usize,
    /// Width `C` of a covariate vector in `condition.embedding` (e.g. age, sex), if any.
    #[config(default = "None")]
    pub covariate_dim: Option<usize>,
}

/// Conditional generator: `x̂ = G([z, T[y], c])`, a [`DcganGenerator`] whose input is the
/// noise `z` `[N, d]` concatenated with the class embedding `T[y]` `[N, E]` (`T ∈ ℝ^{K×E}`
/// learned, initialised `N(0, 1)`) and the covariates `c` `[N, C]`, each when configured.
#[derive(Module, Debug)]
pub struct ConditionalGenerator {
    /// Class embedding table `T` `[K, E]`, if class-conditional.
    pub class_embedding: Option<Param<Tensor<2>>>,
    /// The generator on the concatenated input `[N, d + E + C]`.
    pub generator: DcganGenerator,
    /// Noise width `d`.
    pub noise_dim: usize,
    /// Covariate width `C`, if any.
    pub covariate_dim: Option<usize>,
}

impl ConditionalGeneratorConfig {
    /// Builds the generator; fails with [`CoreError::InvalidConfig`] if neither classes nor
    /// covariates are configured, on zero sizes, or on an invalid generator configuration.
    pub fn init(&self, device: &Device) -> Result<ConditionalGenerator> {
        if self.num_classes.is_none() && self.covariate_dim.is_none() {
            return Err(CoreError::config(
                "num_classes/covariate_dim",
                "a conditional generator needs classes, covariates or both",
            )
            .into());
        }
        for (value, name) in
            [(self.num_classes, "num_classes"), (self.covariate_dim, "covariate_dim")]
        {
            if let Some(v) = value {
                check_positive(v, name)?;
            }
        }
        check_positive(self.generator.latent_dim, "generator.latent_dim")?;
        let class_width = if self.num_classes.is_some() {
            check_positive(self.class_embed_dim, "class_embed_dim")?;
            self.class_embed_dim
        } else {
            0
        };
        let input_dim = self.generator.latent_dim + class_width + self.covariate_dim.unwrap_or(0);
        let normal = Initializer::Normal { mean: 0.0, std: 1.0 };
        let mut generator = self.generator.clone();
        generator.latent_dim = input_dim;
        Ok(ConditionalGenerator {
            class_embedding: self
                .num_classes
                .map(|k| normal.init([k, self.class_embed_dim], device)),
            generator: generator.init(device)?,
            noise_dim: self.generator.latent_dim,
            covariate_dim: self.covariate_dim,
        })
    }
}

impl ConditionalGenerator {
    /// The number of classes `K`, if class-conditional.
    pub fn num_classes(&self) -> Option<usize> {
        self.class_embedding.as_ref().map(|t| t.dims()[0])
    }

    /// `x̂ = G([z, T[y], c])` for noise `z` `[N, d]`.
    ///
    /// Fails with [`crate::GanError::ConditionMismatch`] when a configured part of
    /// `condition` is missing or an unconfigured one is present, with
    /// [`crate::GanError::LabelOutOfRange`] for labels outside `0..K`, and with shape errors
    /// for `z` not `[N, d]` or covariates not `[N, C]`.
    pub fn forward<const D: usize>(
        &self,
        z: Tensor<2>,
        condition: &Condition<D>,
    ) -> Result<Tensor<D>> {
        check_parts(
            condition,
            "ConditionalGenerator",
            self.class_embedding.is_some(),
            self.covariate_dim.is_some(),
        )?;
        let n = z.dims()[0];
        ensure_shape(&z.dims(), &[n, self.noise_dim], "latent code")?;
        let mut parts = vec![z];
        if let (Some(table), Some(labels)) = (&self.class_embedding, &condition.class) {
            let k = table.dims()[0];
            check_class_labels(labels, n, k, "condition.class")?;
            parts.push(table.val().select(0, labels.clone()));
        }
        if let (Some(c), Some(covariates)) = (self.covariate_dim, &condition.embedding) {
            ensure_shape(&covariates.dims(), &[n, c], "condition.embedding")?;
            parts.push(covariates.clone());
        }
        self.generator.forward(Tensor::cat(parts, 1))
    }
}

impl<const D: usize> Generator<2, D> for ConditionalGenerator {
    /// See [`ConditionalGenerator::forward`].
    fn generate(&self, input: Tensor<2>, condition: &Condition<D>) -> Result<Tensor<D>> {
        self.forward(input, condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GanError;
    use burn::tensor::Int;
    use medgen_testing::test_device;

    fn config(spatial_dims: usize) -> ConditionalGeneratorConfig {
        let generator = DcganGeneratorConfig::new(spatial_dims, 3, 1, 8)
            .with_num_upsamplings(2)
            .with_base_channels(2);
        ConditionalGeneratorConfig::new(generator)
            .with_num_classes(Some(3))
            .with_class_embed_dim(4)
            .with_covariate_dim(Some(2))
    }

    #[test]
    fn class_and_covariates_are_concatenated_to_z() {
        let device = test_device();
        let g = config(2).init(&device).unwrap();
        assert_eq!(g.generator.latent_dim, 3 + 4 + 2);
        let z = Tensor::<2>::ones([2, 3], &device);
        let cond = |labels: [i32; 2]| {
            Condition::<4>::none()
                .with_class(Tensor::<1, Int>::from_ints(labels, &device))
                .with_embedding(Tensor::<2>::zeros([2, 2], &device))
        };
        let a = g.generate(z.clone(), &cond([0, 0])).unwrap();
        let b = g.generate(z.clone(), &cond([0, 2])).unwrap();
        assert_eq!(a.dims(), [2, 1, 8, 8]);
        let first_item = a.clone().narrow(0, 0, 1).sub(b.clone().narrow(0, 0, 1)).abs().max();
        let second_item = a.narrow(0, 1, 1).sub(b.narrow(0, 1, 1)).abs().max();
        assert_eq!(first_item.into_scalar::<f32>(), 0.0);
        assert!(second_item.into_scalar::<f32>() > 0.0, "the label must change the sample");
        let g3 = config(3).init(&device).unwrap();
        let cond3 = Condition::<5>::none()
            .with_class(Tensor::<1, Int>::from_ints([1, 2], &device))
            .with_embedding(Tensor::<2>::zeros([2, 2], &device));
        assert_eq!(g3.generate(z, &cond3).unwrap().dims(), [2, 1, 8, 8, 8]);
    }

    #[test]
    fn labels_out_of_range_and_missing_parts_are_typed_errors() {
        let device = test_device();
        let g = config(2).init(&device).unwrap();
        let z = Tensor::<2>::ones([2, 3], &device);
        let covariates = Tensor::<2>::zeros([2, 2], &device);
        let out_of_range = Condition::<4>::none()
            .with_class(Tensor::<1, Int>::from_ints([0, 3], &device))
            .with_embedding(covariates.clone());
        assert!(matches!(
            g.generate(z.clone(), &out_of_range),
            Err(GanError::LabelOutOfRange { label: 3, num_classes: 3, .. })
        ));
        let no_covariates =
            Condition::<4>::none().with_class(Tensor::<1, Int>::from_ints([0, 1], &device));
        assert!(matches!(
            g.generate(z.clone(), &no_covariates),
            Err(GanError::ConditionMismatch { .. })
        ));
        let wrong_width = Condition::<4>::none()
            .with_class(Tensor::<1, Int>::from_ints([0, 1], &device))
            .with_embedding(Tensor::<2>::zeros([2, 5], &device));
        assert!(g.generate(z, &wrong_width).is_err());
        let generator = DcganGeneratorConfig::new(2, 3, 1, 8);
        assert!(ConditionalGeneratorConfig::new(generator).init(&device).is_err());
    }
}

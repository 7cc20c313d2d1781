//! One batch of adversarial training.

use burn::tensor::Tensor;
use medgen_core::Condition;
use medgen_core::check::ensure_non_empty;

use crate::error::Result;
use medgen_core::CoreError;

/// What the training loop draws for each discriminator update: real data, the generator's
/// input and the conditions of the two networks.
///
/// - unconditional GAN: `real [N, C, ...]`, `input = z [N, d]` (`I = 2`), no condition
///   ([`GanBatch::new`]);
/// - conditional GAN (projection discriminator): `condition.class = y [N]` for both networks
///   ([`GanBatch::with_condition`]);
/// - AC-GAN: `y` for the generator only ([`GanBatch::with_generator_condition`]); the
///   discriminator predicts it, and the auxiliary class loss uses the generator's labels for
///   the real and the generated items alike (draw `y` as the labels of `real`);
/// - pix2pix: `real` the target image, `input` the source image (`I = D`), and the source as
///   `condition.image` of the discriminator only ([`GanBatch::with_discriminator_condition`]),
///   so that it judges (source, output) pairs.
#[derive(Clone, Debug)]
pub struct GanBatch<const I: usize, const D: usize> {
    /// Real samples `[N, C, spatial...]`.
    pub real: Tensor<D>,
    /// The generator input `[N, ...]` (a latent code or a source image).
    pub input: Tensor<I>,
    /// The condition of the generator.
    pub generator_condition: Condition<D>,
    /// The condition of the discriminator (on real and generated samples alike).
    pub discriminator_condition: Condition<D>,
}

impl<const I: usize, const D: usize> GanBatch<I, D> {
    /// An unconditional batch.
    pub fn new(real: Tensor<D>, input: Tensor<I>) -> Self {
        Self {
            real,
            input,
            generator_condition: Condition::none(),
            discriminator_condition: Condition::none(),
        }
    }

    /// The same batch with `condition` for both networks.
    pub fn with_condition(mut self, condition: Condition<D>) -> Self {
        self.generator_condition = condition.clone();
        self.discriminator_condition = condition;
        self
    }

    /// The same batch with `condition` for the generator only.
    pub fn with_generator_condition(mut self, condition: Condition<D>) -> Self {
        self.generator_condition = condition;
        self
    }

    /// The same batch with `condition` for the discriminator only.
    pub fn with_discriminator_condition(mut self, condition: Condition<D>) -> Self {
        self.discriminator_condition = condition;
        self
    }

    /// The batch size `N`, after checking that `real`, `input` and every condition part
    /// agree on it and that it is not zero.
    ///
    /// # Errors
    /// [`CoreError::Empty`] for `N = 0`, [`CoreError::ShapeMismatch`] for differing sizes.
    pub fn batch_size(&self) -> Result<usize> {
        ensure_non_empty(&self.real.dims(), "real batch")?;
        let n = self.real.dims()[0];
        if self.input.dims()[0] != n {
            return Err(CoreError::shape(
                "generator input",
                format!("batch size {n}"),
                &self.input.dims(),
            )
            .into());
        }
        for (what, condition) in [
            ("generator condition", &self.generator_condition),
            ("discriminator condition", &self.discriminator_condition),
        ] {
            if let Some(c) = condition.batch_size()?
                && c != n
            {
                return Err(CoreError::shape(what, format!("batch size {n}"), &[c]).into());
            }
        }
        Ok(n)
    }
}

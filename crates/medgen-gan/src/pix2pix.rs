//! Paired image-to-image translation (pix2pix, Isola et al. 2017) on the training loop of
//! [`crate::train`]: a generator `G: x_source ↦ ŷ` (a U-Net), a conditional discriminator
//! that judges `(x_source, y)` pairs (a PatchGAN, the source concatenated on channels as
//! `condition.image`), and the objective
//!
//! ```text
//! L_D = loss.D(D(y | x), D(G(x) | x))
//! L_G = loss.G(D(G(x) | x)) + λ · E|G(x) − y|          (λ = 100 in the paper)
//! ```
//!
//! The L1 term pins the low frequencies to the target; the adversarial term restores the
//! texture an L1 (median) estimate blurs away. Uses for medical images: low-dose → full-dose
//! denoising and cross-modality synthesis, with paired data from
//! `medgen_data::paired_phantoms`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use medgen_core::check::ensure_shape;
use medgen_core::{Condition, CoreError, SeededRng};
use rand::RngExt;
use serde::Serialize;

use crate::error::Result;
use crate::loss::GanLoss;
use crate::network::{Discriminator, Generator};
use crate::train::{GanBatch, GanTrainer, GanTrainerConfig};

/// Hyper-parameters of pix2pix training.
#[derive(Config, Debug, PartialEq)]
pub struct Pix2PixConfig {
    /// The loop's settings (defaults: Adam lr 2e-4 for both networks, β₁ = 0.5, as in the
    /// paper).
    pub trainer: GanTrainerConfig,
    /// Weight `λ ≥ 0` of the L1 reconstruction term.
    #[config(default = 100.0)]
    pub lambda_l1: f64,
    /// The adversarial loss (the paper's: non-saturating cross-entropy; least squares is a
    /// common, more stable choice).
    #[config(default = "GanLoss::NonSaturating")]
    pub loss: GanLoss,
    /// Pairs per batch (≥ 1).
    #[config(default = 8)]
    pub batch_size: usize,
}

impl Pix2PixConfig {
    /// Checks `λ`, the batch size, the loss and the trainer configuration.
    pub fn validate(&self) -> Result<()> {
        if !(self.lambda_l1.is_finite() && self.lambda_l1 >= 0.0) {
            return Err(CoreError::config(
                "lambda_l1",
                format!("must be finite and ≥ 0, got {}", self.lambda_l1),
            )
            .into());
        }
        if self.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1").into());
        }
        self.loss.validate()?;
        self.trainer.validate()
    }

    /// A [`GanTrainer`] for `generator` and `discriminator` with this loss and the term
    /// `λ · mean|ŷ − y|` added to the generator loss.
    ///
    /// # Errors
    /// Those of [`Pix2PixConfig::validate`] and [`GanTrainer::new`].
    pub fn trainer<G, Dn, C, const D: usize>(
        &self,
        generator: G,
        discriminator: Dn,
        rng: SeededRng,
        run_config: &C,
    ) -> Result<GanTrainer<G, Dn, D, D>>
    where
        G: Module + Generator<D, D>,
        Dn: Module + Discriminator<D>,
        C: Serialize + ?Sized,
    {
        self.validate()?;
        let trainer =
            GanTrainer::new(&self.trainer, generator, discriminator, self.loss, rng, run_config)?;
        Ok(trainer.with_generator_regularizer(l1_term(self.lambda_l1)))
    }
}

/// The generator term `λ · mean|ŷ − y|` (`y` the batch's real target), scalar `[1]`.
pub fn l1_term<const D: usize>(
    lambda: f64,
) -> impl FnMut(&Tensor<D>, &GanBatch<D, D>) -> Result<Tensor<1>> + 'static {
    move |fake, batch| Ok(fake.clone().sub(batch.real.clone()).abs().mean().mul_scalar(lambda))
}

/// The pix2pix batch of `source → target` pairs (`[N, C, ...]` each): the generator reads
/// `source` and the discriminator sees it as `condition.image`.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] unless both have the same batch size and spatial size.
pub fn pix2pix_batch<const D: usize>(
    source: Tensor<D>,
    target: Tensor<D>,
) -> Result<GanBatch<D, D>> {
    let (s, t) = (source.dims(), target.dims());
    if s[0] != t[0] || s[2..] != t[2..] {
        return Err(CoreError::shape(
            "target",
            format!("batch and spatial size of the source {s:?}"),
            &t,
        )
        .into());
    }
    let condition = Condition::none().with_image(source.clone());
    Ok(GanBatch::new(target, source).with_discriminator_condition(condition))
}

/// A set of `N` aligned `source → target` pairs on a device, from which training batches
/// are drawn with replacement.
#[derive(Clone, Debug)]
pub struct PairedSet<const D: usize> {
    source: Tensor<D>,
    target: Tensor<D>,
}

impl<const D: usize> PairedSet<D> {
    /// Wraps `source` and `target` (`[N, C, ...]`, same `N` and spatial size).
    ///
    /// # Errors
    /// [`CoreError::Empty`] for `N = 0` and the errors of [`pix2pix_batch`].
    pub fn new(source: Tensor<D>, target: Tensor<D>) -> Result<Self> {
        medgen_core::check::ensure_batch(&source, "source images")?;
        pix2pix_batch(source.clone(), target.clone())?;
        Ok(Self { source, target })
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.source.dims()[0]
    }

    /// Whether the set is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A batch of `size` pairs drawn uniformly with replacement from `rng`, on `device`.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for `size = 0`.
    pub fn sample(
        &self,
        size: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<GanBatch<D, D>> {
        if size == 0 {
            return Err(CoreError::config("batch size", "must be at least 1").into());
        }
        let n = self.len() as i64;
        let indices: Vec<i64> = (0..size).map(|_| rng.random_range(0..n)).collect();
        let indices = Tensor::<1, Int>::from_data(TensorData::new(indices, [size]), device);
        let pick = |t: &Tensor<D>| t.clone().to_device(device).select(0, indices.clone());
        pix2pix_batch(pick(&self.source), pick(&self.target))
    }
}

/// `ŷ = G(source)` without the generator's condition, shape checked against the source's
/// batch and spatial size.
///
/// # Errors
/// The generator's errors and [`CoreError::ShapeMismatch`].
pub fn translate<G: Generator<D, D>, const D: usize>(
    generator: &G,
    source: Tensor<D>,
) -> Result<Tensor<D>> {
    let dims = source.dims();
    let out = generator.generate(source, &Condition::none())?;
    let got = out.dims();
    let mut expected = got;
    expected[0] = dims[0];
    expected[2..].copy_from_slice(&dims[2..]);
    ensure_shape(&got, &expected, "translated images")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    use crate::network::DiscriminatorOutput;

    /// A one-convolution "translator" `ŷ = w ∗ x + b`.
    #[derive(Module, Debug)]
    struct Translator {
        conv: Conv2d,
    }

    impl Generator<4, 4> for Translator {
        fn generate(&self, input: Tensor<4>, condition: &Condition<4>) -> Result<Tensor<4>> {
            assert!(condition.is_empty(), "pix2pix's generator gets no condition");
            Ok(self.conv.forward(input))
        }
    }

    /// A 1×1-convolution patch critic of the (source, image) pair.
    #[derive(Module, Debug)]
    struct PairCritic {
        conv: Conv2d,
    }

    impl Discriminator<4> for PairCritic {
        fn discriminate(
            &self,
            x: Tensor<4>,
            condition: &Condition<4>,
        ) -> Result<DiscriminatorOutput> {
            let source = condition.image.clone().expect("the source image");
            let logits = self.conv.forward(Tensor::cat(vec![x, source], 1));
            let [n, _, h, w] = logits.dims();
            Ok(DiscriminatorOutput { logits: logits.reshape([n, h * w]), class_logits: None })
        }
    }

    #[test]
    fn pix2pix_learns_a_contrast_inversion_and_the_l1_term_is_exact() {
        let device = test_device().autodiff();
        let mut rng = seeded_rng(0);
        let source = Tensor::<4>::from_data(
            TensorData::new(
                (0..4 * 64).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>(),
                [4, 1, 8, 8],
            ),
            &device,
        );
        let target = source.clone().neg().mul_scalar(0.5).add_scalar(0.1);
        let set = PairedSet::new(source.clone(), target.clone()).unwrap();
        // λ·L1 on a known pair: |(−0.5x + 0.1) − x| averaged, times λ = 2.
        let batch = pix2pix_batch(source.clone(), target.clone()).unwrap();
        let expected = source.clone().mul_scalar(1.5).sub_scalar(0.1).abs().mean().mul_scalar(2.0);
        let got = l1_term(2.0)(&source, &batch).unwrap();
        assert!((got.into_scalar::<f32>() - expected.into_scalar::<f32>()).abs() < 1e-6);

        if medgen_testing::testing_on_wgpu() {
            return; // 150 sequential updates: slow on a software Vulkan device.
        }
        let config = Pix2PixConfig::new(
            GanTrainerConfig::new(150).with_lr_generator(2e-2).with_lr_discriminator(2e-3),
        )
        .with_lambda_l1(10.0)
        .with_batch_size(4);
        let translator = Translator {
            conv: Conv2dConfig::new([1, 1], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(&device),
        };
        let critic = PairCritic { conv: Conv2dConfig::new([2, 1], [1, 1]).init(&device) };
        let mut trainer = config.trainer(translator, critic, seeded_rng(1), &"test").unwrap();
        let dev = device.clone();
        let before = translate(trainer.generator(), source.clone()).unwrap();
        let l1 = |y: Tensor<4>| y.sub(target.clone()).abs().mean().into_scalar::<f32>();
        let start = l1(before);
        trainer.fit(|_, rng| set.sample(config.batch_size, rng, &dev), |_, _| Ok(())).unwrap();
        let after = l1(translate(&trainer.inference_generator(), source.inner()).unwrap());
        assert!(after < 0.25 * start, "L1 to the target {start} → {after}");
    }

    #[test]
    fn mismatched_pairs_and_bad_configs_are_rejected() {
        let device = test_device();
        let a = Tensor::<4>::zeros([2, 1, 8, 8], &device);
        assert!(pix2pix_batch(a.clone(), Tensor::zeros([3, 1, 8, 8], &device)).is_err());
        assert!(pix2pix_batch(a.clone(), Tensor::zeros([2, 1, 8, 4], &device)).is_err());
        assert!(
            PairedSet::new(
                Tensor::<4>::zeros([0, 1, 8, 8], &device),
                Tensor::zeros([0, 1, 8, 8], &device)
            )
            .is_err()
        );
        let set = PairedSet::new(a.clone(), a).unwrap();
        assert!(set.sample(0, &mut seeded_rng(0), &device).is_err());
        let config = Pix2PixConfig::new(GanTrainerConfig::new(1));
        assert!(config.clone().with_lambda_l1(-1.0).validate().is_err());
        assert!(config.with_batch_size(0).validate().is_err());
    }
}

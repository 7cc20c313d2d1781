//! What a conditional model is conditioned on.
//!
//! A [`Condition`] bundles the kinds of conditioning medgen supports, any of which may be
//! absent: class labels, an image concatenated to the input on the channel axis, an embedding
//! vector (e.g. covariates such as age), a token sequence attended to by cross-attention (the
//! *context*, with an optional key-padding mask), and a ControlNet *control* image. A per-item
//! `keep` mask switches the class, embedding and context parts to the network's learned *null*
//! condition, which is what classifier-free guidance trains and samples with:
//!
//! `ε̂ = ε_θ(x, ∅) + w · (ε_θ(x, c) − ε_θ(x, ∅))`.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use rand::{Rng, RngExt};

use crate::error::{CoreError, Result};

/// The conditioning inputs of a batch of `N` items with `D`-rank tensors.
#[derive(Clone, Debug, Default)]
pub struct Condition<const D: usize> {
    /// Class labels `[N]`, in `0..num_classes`.
    pub class: Option<Tensor<1, Int>>,
    /// An image `[N, C_cond, ...]` with the sample's spatial size, concatenated on channels.
    pub image: Option<Tensor<D>>,
    /// An embedding `[N, E]` (covariates or any learned representation).
    pub embedding: Option<Tensor<2>>,
    /// A context `[N, L, E]`: `L` tokens of width `E` per item (e.g. the encoded report or
    /// another contrast's patches) that cross-attention blocks attend to. `E` must be the
    /// network's `cross_attention_dim`.
    pub context: Option<Tensor<3>>,
    /// Key-padding mask of the context, `[N, L]`: `true` = the token is attended to, `false` =
    /// it is padding and has no effect. `None` attends to every token. An item whose tokens are
    /// all masked out is given the learned null context (as if `keep` were 0).
    pub context_mask: Option<Tensor<2, Bool>>,
    /// A ControlNet control image ("hint") `[N, C_hint, *spatial']` (a mask, a label map or a
    /// second contrast), read by a ControlNet, never by the base network. Like `image`, it is
    /// part of the input and not dropped by classifier-free guidance.
    pub control: Option<Tensor<D>>,
    /// Per-item mask `[N]`: 1 keeps the class/embedding/context condition, 0 replaces it by the
    /// null condition. `None` keeps every item's condition.
    pub keep: Option<Tensor<1>>,
}

impl<const D: usize> Condition<D> {
    /// No conditioning at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Conditions on class labels `[N]`.
    pub fn with_class(mut self, labels: Tensor<1, Int>) -> Self {
        self.class = Some(labels);
        self
    }

    /// Conditions on an image concatenated to the input on the channel axis.
    pub fn with_image(mut self, image: Tensor<D>) -> Self {
        self.image = Some(image);
        self
    }

    /// Conditions on an embedding vector per item, `[N, E]`.
    pub fn with_embedding(mut self, embedding: Tensor<2>) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// Conditions on a context `[N, L, E]` for cross-attention (every token attended to until
    /// [`Self::with_context_mask`] says otherwise).
    pub fn with_context(mut self, context: Tensor<3>) -> Self {
        self.context = Some(context);
        self
    }

    /// Sets the key-padding mask `[N, L]` of the context: `true` attends to a token, `false`
    /// ignores it.
    pub fn with_context_mask(mut self, mask: Tensor<2, Bool>) -> Self {
        self.context_mask = Some(mask);
        self
    }

    /// Gives a ControlNet its control image `[N, C_hint, *spatial']`.
    pub fn with_control(mut self, control: Tensor<D>) -> Self {
        self.control = Some(control);
        self
    }

    /// Whether a class, embedding or context part is present (what classifier-free guidance
    /// drops).
    pub fn has_droppable_part(&self) -> bool {
        self.class.is_some() || self.embedding.is_some() || self.context.is_some()
    }

    /// Whether no conditioning input is present.
    pub fn is_empty(&self) -> bool {
        self.class.is_none()
            && self.image.is_none()
            && self.embedding.is_none()
            && self.context.is_none()
            && self.control.is_none()
    }

    /// Checks the context part against a network whose cross-attention expects tokens of width
    /// `cross_attention_dim` and a batch of `batch` items, returning the number of tokens `L`
    /// (`None` when no context is given).
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] naming `condition.context` unless its shape is
    /// `[batch, L, cross_attention_dim]` with `L ≥ 1`, and naming `condition.context_mask`
    /// unless the mask is `[batch, L]`; [`CoreError::InvalidConfig`] naming
    /// `condition.context_mask` for a mask without a context.
    pub fn check_context(&self, cross_attention_dim: usize, batch: usize) -> Result<Option<usize>> {
        let Some(context) = &self.context else {
            if self.context_mask.is_some() {
                return Err(CoreError::config(
                    "condition.context_mask",
                    "a context mask was given without a context",
                ));
            }
            return Ok(None);
        };
        let [n, tokens, width] = context.dims();
        if n != batch || tokens == 0 || width != cross_attention_dim {
            return Err(CoreError::shape(
                "condition.context",
                format!("[N, L, E] = [{batch}, L ≥ 1, {cross_attention_dim}]"),
                &[n, tokens, width],
            ));
        }
        if let Some(mask) = &self.context_mask
            && mask.dims() != [batch, tokens]
        {
            return Err(CoreError::shape(
                "condition.context_mask",
                format!("[N, L] = [{batch}, {tokens}]"),
                &mask.dims(),
            ));
        }
        Ok(Some(tokens))
    }

    /// The batch size implied by the present parts, if any (checked for consistency).
    pub fn batch_size(&self) -> Result<Option<usize>> {
        let sizes = [
            self.class.as_ref().map(|t| t.dims()[0]),
            self.image.as_ref().map(|t| t.dims()[0]),
            self.embedding.as_ref().map(|t| t.dims()[0]),
            self.context.as_ref().map(|t| t.dims()[0]),
            self.context_mask.as_ref().map(|t| t.dims()[0]),
            self.control.as_ref().map(|t| t.dims()[0]),
            self.keep.as_ref().map(|t| t.dims()[0]),
        ];
        let mut found: Option<usize> = None;
        for size in sizes.into_iter().flatten() {
            match found {
                Some(n) if n != size => {
                    return Err(CoreError::shape(
                        "condition",
                        format!("the same batch size {n} in every part"),
                        &[size],
                    ));
                }
                _ => found = Some(size),
            }
        }
        Ok(found)
    }

    /// Checks that the condition fits a batch of `batch` items: every present part has
    /// `batch` entries along its first axis (an empty condition fits any batch).
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] naming `condition` when the parts disagree with each other
    /// or with `batch`.
    pub fn ensure_batch_size(&self, batch: usize) -> Result<()> {
        match self.batch_size()? {
            Some(items) if items != batch => Err(CoreError::shape(
                "condition",
                format!("one entry per item of the batch ({batch})"),
                &[items],
            )),
            _ => Ok(()),
        }
    }

    /// The same condition with every item switched to the null condition (the unconditional
    /// branch of classifier-free guidance). An image or control condition is kept: it is part
    /// of the input, not of the guidance; the context is kept too, and the network replaces it
    /// by its learned null context where `keep = 0`.
    pub fn to_null(&self, batch: usize, device: &Device) -> Self {
        Self { keep: Some(Tensor::zeros([batch], device)), ..self.clone() }
    }

    /// Drops the class/embedding/context condition of each item independently with probability
    /// `p_drop` (classifier-free-guidance training), drawing from `rng`.
    pub fn drop_randomly<R: Rng + ?Sized>(
        &self,
        batch: usize,
        p_drop: f64,
        rng: &mut R,
        device: &Device,
    ) -> Result<Self> {
        check_p_drop(p_drop)?;
        let mask: Vec<f32> =
            (0..batch).map(|_| if rng.random_bool(p_drop) { 0.0 } else { 1.0 }).collect();
        let mut keep = Tensor::<1>::from_data(TensorData::new(mask, [batch]), device);
        if let Some(previous) = &self.keep {
            keep = keep.mul(previous.clone());
        }
        Ok(Self { keep: Some(keep), ..self.clone() })
    }

    /// Condition dropout for classifier-free-guidance training, as the diffusion and
    /// flow-matching losses apply it: with `p_drop > 0` and a class or embedding part to drop,
    /// [`Self::drop_randomly`]; otherwise the condition unchanged, and nothing is drawn from
    /// `rng` (so turning dropout off does not shift the random stream of a run).
    ///
    /// # Errors
    /// As [`Self::drop_randomly`].
    pub fn dropped_for_guidance<R: Rng + ?Sized>(
        self,
        batch: usize,
        p_drop: f64,
        rng: &mut R,
        device: &Device,
    ) -> Result<Self> {
        check_p_drop(p_drop)?;
        if p_drop > 0.0 && self.has_droppable_part() {
            self.drop_randomly(batch, p_drop, rng, device)
        } else {
            Ok(self)
        }
    }

    /// Selects items `indices` of every part (used to split or repeat a batch).
    pub fn select(&self, indices: Tensor<1, Int>) -> Self {
        Self {
            class: self.class.clone().map(|t| t.select(0, indices.clone())),
            image: self.image.clone().map(|t| t.select(0, indices.clone())),
            embedding: self.embedding.clone().map(|t| t.select(0, indices.clone())),
            context: self.context.clone().map(|t| t.select(0, indices.clone())),
            context_mask: self.context_mask.clone().map(|t| t.select(0, indices.clone())),
            control: self.control.clone().map(|t| t.select(0, indices.clone())),
            keep: self.keep.clone().map(|t| t.select(0, indices.clone())),
        }
    }

    /// Concatenates two conditions along the batch axis (e.g. the conditional and null halves
    /// of one guided network call). Parts must be present in both or in neither, except the
    /// context mask: a side without one attends to all of its tokens. Contexts must have the
    /// same number of tokens.
    pub fn cat(&self, other: &Self) -> Result<Self> {
        fn join<const R: usize, K>(
            a: &Option<Tensor<R, K>>,
            b: &Option<Tensor<R, K>>,
            part: &str,
        ) -> Result<Option<Tensor<R, K>>>
        where
            K: burn::tensor::kind::Basic,
        {
            match (a, b) {
                (Some(a), Some(b)) => Ok(Some(Tensor::cat(vec![a.clone(), b.clone()], 0))),
                (None, None) => Ok(None),
                _ => Err(CoreError::config(
                    "condition",
                    format!("cannot concatenate: `{part}` present on one side only"),
                )),
            }
        }
        let keep = match (&self.keep, &other.keep) {
            (None, None) => None,
            (a, b) => {
                let n_a = self.batch_size()?.unwrap_or(0);
                let n_b = other.batch_size()?.unwrap_or(0);
                let device = a.as_ref().or(b.as_ref()).map(|t| t.device()).unwrap();
                let a = a.clone().unwrap_or_else(|| Tensor::ones([n_a], &device));
                let b = b.clone().unwrap_or_else(|| Tensor::ones([n_b], &device));
                Some(Tensor::cat(vec![a, b], 0))
            }
        };
        if let (Some(a), Some(b)) = (&self.context, &other.context)
            && a.dims()[1..] != b.dims()[1..]
        {
            return Err(CoreError::shape(
                "condition.context",
                format!("[N, L, E] with the other side's L, E = {:?}", &a.dims()[1..]),
                &b.dims(),
            ));
        }
        let context_mask = match (&self.context_mask, &other.context_mask) {
            (None, None) => None,
            (a, b) => {
                let all = |c: &Self| {
                    c.context.as_ref().map(|t| {
                        let [n, l, _] = t.dims();
                        Tensor::<2>::ones([n, l], &t.device()).bool()
                    })
                };
                match (a.clone().or_else(|| all(self)), b.clone().or_else(|| all(other))) {
                    (Some(a), Some(b)) => Some(Tensor::cat(vec![a, b], 0)),
                    _ => {
                        return Err(CoreError::config(
                            "condition.context_mask",
                            "cannot concatenate: a context mask without a context",
                        ));
                    }
                }
            }
        };
        Ok(Self {
            class: join(&self.class, &other.class, "class")?,
            image: join(&self.image, &other.image, "image")?,
            embedding: join(&self.embedding, &other.embedding, "embedding")?,
            context: join(&self.context, &other.context, "context")?,
            context_mask,
            control: join(&self.control, &other.control, "control")?,
            keep,
        })
    }
}

/// Checks a dropout probability: `p_drop ∈ [0, 1]` (NaN is refused).
fn check_p_drop(p_drop: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p_drop) {
        Ok(())
    } else {
        Err(CoreError::config("p_drop", format!("must lie in [0, 1], got {p_drop}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn random_drop_rate_matches_probability() {
        let device = test_device();
        let labels = Tensor::<1, Int>::zeros([2000], &device);
        let cond = Condition::<4>::none().with_class(labels);
        let dropped = cond.drop_randomly(2000, 0.25, &mut seeded_rng(3), &device).unwrap();
        let kept = dropped.keep.unwrap().sum().into_scalar::<f32>();
        let rate = 1.0 - kept / 2000.0;
        assert!((rate - 0.25).abs() < 0.03, "drop rate {rate}");
    }

    #[test]
    fn inconsistent_batch_sizes_are_reported() {
        let device = test_device();
        let cond = Condition::<4>::none()
            .with_class(Tensor::zeros([3], &device))
            .with_embedding(Tensor::zeros([4, 2], &device));
        assert!(cond.batch_size().is_err());
        assert!(cond.ensure_batch_size(3).is_err());
        assert!(cond.drop_randomly(3, 1.5, &mut seeded_rng(0), &device).is_err());
    }

    #[test]
    fn a_condition_fits_only_its_own_batch_size() {
        let device = test_device();
        let cond = Condition::<4>::none().with_class(Tensor::zeros([3], &device));
        cond.ensure_batch_size(3).unwrap();
        let err = cond.ensure_batch_size(4).unwrap_err();
        assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err}");
        assert!(err.to_string().contains("condition"), "{err}");
        Condition::<4>::none().ensure_batch_size(7).unwrap();
    }

    #[test]
    fn cat_joins_conditional_and_null_halves() {
        let device = test_device();
        let cond = Condition::<4>::none().with_class(Tensor::from_ints([1, 2], &device));
        let both = cond.cat(&cond.to_null(2, &device)).unwrap();
        assert_eq!(both.batch_size().unwrap(), Some(4));
        let keep = both.keep.unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(keep, vec![1.0, 1.0, 0.0, 0.0]);
        let missing = Condition::<4>::none();
        assert!(cond.cat(&missing).is_err());
    }

    #[test]
    fn context_parts_are_checked_joined_and_selected() {
        let device = test_device();
        let context = Tensor::<3>::zeros([2, 3, 4], &device);
        let cond = Condition::<4>::none().with_context(context.clone());
        assert!(cond.has_droppable_part() && !cond.is_empty());
        assert_eq!(cond.check_context(4, 2).unwrap(), Some(3));
        assert!(matches!(cond.check_context(5, 2), Err(CoreError::ShapeMismatch { .. })));
        assert!(matches!(cond.check_context(4, 3), Err(CoreError::ShapeMismatch { .. })));
        let mask = Tensor::<2>::from_floats([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], &device).bool();
        let masked = cond.clone().with_context_mask(mask);
        assert_eq!(masked.check_context(4, 2).unwrap(), Some(3));
        let bad = cond.clone().with_context_mask(Tensor::<2>::ones([2, 2], &device).bool());
        let err = bad.check_context(4, 2).unwrap_err();
        assert!(err.to_string().contains("condition.context_mask"), "{err}");
        let orphan =
            Condition::<4>::none().with_context_mask(Tensor::<2>::ones([2, 2], &device).bool());
        assert!(orphan.check_context(4, 2).is_err());

        // One side masked, the other not: the unmasked side attends to all of its tokens.
        let both = masked.cat(&cond.to_null(2, &device)).unwrap();
        assert_eq!(both.context.as_ref().unwrap().dims(), [4, 3, 4]);
        let joined = both.context_mask.unwrap().float().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(joined, vec![1., 0., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.]);
        let longer = Condition::<4>::none().with_context(Tensor::zeros([2, 5, 4], &device));
        assert!(cond.cat(&longer).is_err());
        let picked = masked.select(Tensor::from_ints([1], &device));
        assert_eq!(picked.batch_size().unwrap(), Some(1));
        assert_eq!(picked.context_mask.unwrap().dims(), [1, 3]);

        let control = Condition::<4>::none().with_control(Tensor::zeros([3, 1, 4, 4], &device));
        assert!(!control.is_empty() && !control.has_droppable_part());
        assert!(
            cond.clone().with_control(Tensor::zeros([3, 1, 4, 4], &device)).batch_size().is_err()
        );
    }
}

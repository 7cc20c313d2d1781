//! A small text encoder for structured reports ("large lesion, left, hyperintense"): a fixed
//! vocabulary, token and position embeddings and a few pre-norm transformer layers, producing
//! the context tokens `[N, L, E]` a cross-attention U-Net attends to (the role CLIP's or T5's
//! text encoder plays in Stable Diffusion, and a radiology-report encoder in RoentGen).
//!
//! For token ids `w_1 … w_L` with key-padding mask `m` (`true` = a real token):
//!
//! ```text
//! h⁰_i = T[w_i] + P[i]
//! hˡ   = h + SelfAttn(LN₁(h); keys where m) ,   h = hˡ⁻¹
//! hˡ  ← hˡ + FF(LN₂(hˡ))                              (GEGLU, width 4E)
//! out  = LN(h^K)                                       [N, L, E]
//! ```
//!
//! Padding positions never influence real ones (they are masked out of every attention), so a
//! report encodes to the same tokens whatever it is padded to. Tokenisation is deliberately
//! simple and deterministic: lower-case, split on anything that is not a letter or digit,
//! unknown words map to `<unk>`; no download, no learned merges.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::cross_attention::{CrossAttention, CrossAttentionConfig};
use super::feed_forward::{FeedForward, FeedForwardConfig};
use medgen_core::error::{CoreError, Result};

/// The id of the padding token.
pub const PAD_TOKEN: usize = 0;
/// The id of the unknown-word token.
pub const UNK_TOKEN: usize = 1;

/// A fixed vocabulary: ids 0 (`<pad>`) and 1 (`<unk>`) are reserved, word `k` of the list
/// has id `k + 2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportVocabulary {
    words: Vec<String>,
}

impl ReportVocabulary {
    /// The vocabulary of `words` (lower-cased).
    ///
    /// # Errors
    /// `InvalidConfig` naming `words` for an empty list, a duplicate, or a word that the
    /// tokeniser would split (anything but letters and digits).
    pub fn new<S: AsRef<str>>(words: &[S]) -> Result<Self> {
        let words: Vec<String> = words.iter().map(|w| w.as_ref().to_lowercase()).collect();
        if words.is_empty() {
            return Err(CoreError::config("words", "the vocabulary is empty"));
        }
        for (i, word) in words.iter().enumerate() {
            if word.is_empty() || !word.chars().all(char::is_alphanumeric) {
                return Err(CoreError::config(
                    "words",
                    format!("`{word}` is not a single token (letters and digits only)"),
                ));
            }
            if words[..i].contains(word) {
                return Err(CoreError::config("words", format!("`{word}` appears twice")));
            }
        }
        Ok(Self { words })
    }

    /// The number of ids, the reserved ones included.
    pub fn size(&self) -> usize {
        self.words.len() + 2
    }

    /// The id of `word` (`UNK_TOKEN` if it is not in the vocabulary).
    pub fn id(&self, word: &str) -> usize {
        let word = word.to_lowercase();
        self.words.iter().position(|w| *w == word).map_or(UNK_TOKEN, |k| k + 2)
    }

    /// The tokens of `report`: lower-cased words split on every other character.
    pub fn tokenize(&self, report: &str) -> Vec<usize> {
        report
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| self.id(w))
            .collect()
    }

    /// Token ids `[N, max_len]` (padded with `PAD_TOKEN`) and the mask `[N, max_len]`
    /// (`true` on real tokens) of `reports`.
    ///
    /// # Errors
    /// `InvalidConfig` naming `reports` for an empty batch, an empty report, or a report longer
    /// than `max_len` tokens.
    pub fn encode_batch<S: AsRef<str>>(
        &self,
        reports: &[S],
        max_len: usize,
        device: &Device,
    ) -> Result<(Tensor<2, Int>, Tensor<2, Bool>)> {
        if reports.is_empty() {
            return Err(CoreError::config("reports", "the batch is empty"));
        }
        let n = reports.len();
        let mut ids = Vec::with_capacity(n * max_len);
        let mut mask = Vec::with_capacity(n * max_len);
        for report in reports {
            let tokens = self.tokenize(report.as_ref());
            if tokens.is_empty() || tokens.len() > max_len {
                return Err(CoreError::config(
                    "reports",
                    format!(
                        "`{}` has {} tokens; expected 1..={max_len}",
                        report.as_ref(),
                        tokens.len()
                    ),
                ));
            }
            for i in 0..max_len {
                ids.push(tokens.get(i).map_or(PAD_TOKEN as i64, |&t| t as i64));
                mask.push(i < tokens.len());
            }
        }
        Ok((
            Tensor::from_data(TensorData::new(ids, [n, max_len]), device),
            Tensor::from_data(TensorData::new(mask, [n, max_len]), device),
        ))
    }
}

/// Configuration of a [`ReportEncoder`].
#[derive(Config, Debug)]
pub struct ReportEncoderConfig {
    /// Number of token ids (`ReportVocabulary::size`).
    pub vocab_size: usize,
    /// Longest report, in tokens.
    pub max_len: usize,
    /// Width `E` of the output tokens (the U-Net's `cross_attention_dim`).
    pub dim: usize,
    /// Number of transformer layers `K`.
    #[config(default = 2)]
    pub num_layers: usize,
    /// Attention heads (must divide `dim`).
    #[config(default = 4)]
    pub num_heads: usize,
}

/// One pre-norm encoder layer: self-attention and a GEGLU feed-forward, each residual.
#[derive(Module, Debug)]
pub struct ReportEncoderLayer {
    norm_attention: LayerNorm,
    attention: CrossAttention,
    norm_ff: LayerNorm,
    ff: FeedForward,
}

/// The report encoder of the [module docs](self).
#[derive(Module, Debug)]
pub struct ReportEncoder {
    token: Embedding,
    position: Embedding,
    layers: Vec<ReportEncoderLayer>,
    norm: LayerNorm,
    vocab_size: usize,
    max_len: usize,
}

impl ReportEncoderConfig {
    /// Builds the encoder on `device` (parameters from the device's generator: wrap in
    /// `medgen_core::init_seeded` for a seeded initialisation).
    ///
    /// # Errors
    /// `InvalidConfig` naming the field for a zero size, or `num_heads` not dividing `dim`.
    pub fn init(&self, device: &Device) -> Result<ReportEncoder> {
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("max_len", self.max_len),
            ("dim", self.dim),
            ("num_heads", self.num_heads),
        ] {
            if value == 0 {
                return Err(CoreError::config(name, "must be positive"));
            }
        }
        if !self.dim.is_multiple_of(self.num_heads) {
            return Err(CoreError::config(
                "num_heads",
                format!("{} heads do not divide the width {}", self.num_heads, self.dim),
            ));
        }
        let layers = (0..self.num_layers)
            .map(|_| {
                Ok(ReportEncoderLayer {
                    norm_attention: LayerNormConfig::new(self.dim).init(device),
                    attention: CrossAttentionConfig::new(self.dim, self.dim / self.num_heads)
                        .with_num_heads(self.num_heads)
                        .init(device)?,
                    norm_ff: LayerNormConfig::new(self.dim).init(device),
                    ff: FeedForwardConfig::new(self.dim).init(device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ReportEncoder {
            token: EmbeddingConfig::new(self.vocab_size, self.dim).init(device),
            position: EmbeddingConfig::new(self.max_len, self.dim).init(device),
            layers,
            norm: LayerNormConfig::new(self.dim).init(device),
            vocab_size: self.vocab_size,
            max_len: self.max_len,
        })
    }
}

impl ReportEncoder {
    /// The context tokens `[N, L, E]` of token ids `[N, L]` with key-padding mask `[N, L]`
    /// (`true` = real token), as in the [module docs](self).
    ///
    /// # Errors
    /// `ShapeMismatch` naming `mask` when it is not shaped like the ids, `InvalidConfig`
    /// naming `ids` for `L` above `max_len`, an empty batch, or an id outside the vocabulary.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Bool>) -> Result<Tensor<3>> {
        let [n, l] = ids.dims();
        medgen_core::check::ensure_shape(&mask.dims(), &[n, l], "mask")?;
        if n == 0 || l == 0 || l > self.max_len {
            return Err(CoreError::config(
                "ids",
                format!("expected [N ≥ 1, 1..={}] token ids, got [{n}, {l}]", self.max_len),
            ));
        }
        let max_id = ids.clone().max().into_scalar::<i64>();
        let min_id = ids.clone().min().into_scalar::<i64>();
        if min_id < 0 || max_id >= self.vocab_size as i64 {
            return Err(CoreError::config(
                "ids",
                format!("token ids must lie in 0..{}, got {min_id}..={max_id}", self.vocab_size),
            ));
        }
        let device = ids.device();
        let positions =
            Tensor::<1, Int>::arange(0..l as i64, &device).reshape([1, l]).repeat_dim(0, n);
        let mut h = self.token.forward(ids).add(self.position.forward(positions));
        for layer in &self.layers {
            let attended = layer.attention.forward(
                layer.norm_attention.forward(h.clone()),
                None,
                Some(mask.clone()),
            );
            h = h.add(attended);
            h = h.clone().add(layer.ff.forward(layer.norm_ff.forward(h)));
        }
        Ok(self.norm.forward(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::{init_seeded, seeded_rng};
    use medgen_testing::test_device;

    fn vocabulary() -> ReportVocabulary {
        ReportVocabulary::new(&["small", "large", "lesion", "left", "right"]).unwrap()
    }

    #[test]
    fn reports_tokenise_with_unknown_words_and_padding() {
        let vocab = vocabulary();
        assert_eq!(vocab.size(), 7);
        assert_eq!(vocab.tokenize("Large lesion, LEFT; odd"), vec![3, 4, 5, UNK_TOKEN]);
        let device = test_device();
        let (ids, mask) =
            vocab.encode_batch(&["small lesion", "large lesion left"], 4, &device).unwrap();
        assert_eq!(
            ids.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
            vec![2, 4, 0, 0, 3, 4, 5, 0]
        );
        // Read back as integers: backends store booleans differently (u8, u32).
        assert_eq!(
            mask.int().into_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
            vec![1, 1, 0, 0, 1, 1, 1, 0]
        );
        assert!(vocab.encode_batch(&["large lesion left right small"], 4, &device).is_err());
        assert!(vocab.encode_batch(&[", ;"], 4, &device).is_err());
        assert!(ReportVocabulary::new(&["two words"]).is_err());
        assert!(ReportVocabulary::new(&["a", "A"]).is_err());
    }

    #[test]
    fn padding_never_changes_the_real_tokens_and_words_matter() {
        let device = test_device();
        let vocab = vocabulary();
        let encoder = init_seeded(&device, &mut seeded_rng(0), |d| {
            ReportEncoderConfig::new(vocab.size(), 6, 8).init(d)
        })
        .unwrap();
        let encode = |report: &str, len: usize| {
            let (ids, mask) = vocab.encode_batch(&[report], len, &device).unwrap();
            encoder.forward(ids, mask).unwrap()
        };
        let short = encode("large lesion left", 3);
        let padded = encode("large lesion left", 6).slice([0..1, 0..3, 0..8]);
        let diff = short.clone().sub(padded).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "padding changed the tokens by {diff}");
        let right = encode("large lesion right", 3);
        let change = short.sub(right).abs().max().into_scalar::<f32>();
        assert!(change > 1e-3, "the side word did not change the encoding");
    }

    #[test]
    fn bad_ids_and_shapes_are_typed_errors() {
        let device = test_device();
        let encoder = ReportEncoderConfig::new(7, 4, 8).init(&device).unwrap();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 9], [1, 2]), &device);
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(vec![true, true], [1, 2]), &device);
        let err = encoder.forward(ids.clone(), mask.clone()).unwrap_err();
        assert!(err.to_string().contains("ids"), "{err}");
        let long = Tensor::<2, Int>::zeros([1, 5], &device);
        assert!(encoder.forward(long, Tensor::<2, Bool>::full([1, 5], true, &device)).is_err());
        let wrong_mask = Tensor::<2, Bool>::full([1, 3], true, &device);
        let err = encoder.forward(ids, wrong_mask).unwrap_err();
        assert!(err.to_string().contains("mask"), "{err}");
        assert!(ReportEncoderConfig::new(7, 4, 6).with_num_heads(4).init(&device).is_err());
    }
}

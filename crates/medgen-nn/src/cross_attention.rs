//! Multi-head (cross-)attention between token sequences, with a key-padding mask.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Tensor};

use medgen_core::error::{CoreError, Result};

/// The logit given to masked-out keys: far enough below any real logit that its softmax weight
/// is exactly zero in `f32`, finite so that no `∞ − ∞` can arise.
const MASKED_LOGIT: f32 = -1.0e30;

/// Configuration of a [`CrossAttention`].
#[derive(Config, Debug)]
pub struct CrossAttentionConfig {
    /// Width `C` of the query tokens.
    pub query_dim: usize,
    /// Width `E` of the context tokens; `None` makes the block self-attention (`E = C`, the
    /// context is the input itself).
    pub context_dim: Option<usize>,
    /// Number of heads `H`.
    #[config(default = 1)]
    pub num_heads: usize,
    /// Channels per head `d` (the inner width is `H · d`).
    pub head_dim: usize,
}

/// Multi-head attention of query tokens to context tokens, diffusers' `Attention` (MONAI's
/// `CrossAttention`): bias-free query, key and value projections, a biased output projection,
///
/// ```text
/// q = x W_q,  k = c W_k,  v = c W_v                         per head h: [L_q, d], [L, d], [L, d]
/// a_h = softmax_j(q_h k_hᵀ / √d + m) v_h                    m_j = 0 if mask_j else −∞
/// y = [a_1, …, a_H] W_o + b_o
/// ```
///
/// with `c = x` for self-attention. Shapes: `x` `[N, L_q, C]`, `c` `[N, L, E]`, mask `[N, L]`
/// (`true` = attend; every item needs at least one attended key), `y` `[N, L_q, C]`.
#[derive(Module, Debug)]
pub struct CrossAttention {
    /// Query projection `C → H·d`, no bias.
    pub to_q: Linear,
    /// Key projection `E → H·d`, no bias.
    pub to_k: Linear,
    /// Value projection `E → H·d`, no bias.
    pub to_v: Linear,
    /// Output projection `H·d → C`.
    pub to_out: Linear,
    /// Number of heads `H`.
    pub num_heads: usize,
}

impl CrossAttentionConfig {
    /// Builds the block on `device`; fails on a zero width, head count or head width.
    pub fn init(&self, device: &Device) -> Result<CrossAttention> {
        let c = self.query_dim;
        let e = self.context_dim.unwrap_or(c);
        if c == 0 || e == 0 {
            return Err(CoreError::config("query_dim/context_dim", "must be positive"));
        }
        if self.num_heads == 0 || self.head_dim == 0 {
            return Err(CoreError::config(
                "num_heads/head_dim",
                format!("must be positive (got {} and {})", self.num_heads, self.head_dim),
            ));
        }
        let inner = self.num_heads * self.head_dim;
        let projection = |d_in: usize| LinearConfig::new(d_in, inner).with_bias(false).init(device);
        Ok(CrossAttention {
            to_q: projection(c),
            to_k: projection(e),
            to_v: projection(e),
            to_out: LinearConfig::new(inner, c).init(device),
            num_heads: self.num_heads,
        })
    }
}

impl CrossAttention {
    /// The context width `E` the keys and values are projected from.
    pub fn context_dim(&self) -> usize {
        self.to_k.weight.lazy_shape()[0]
    }

    /// Attends `x` `[N, L_q, C]` to `context` `[N, L, E]` (to `x` itself when `None`), ignoring
    /// the keys where `mask` `[N, L]` is `false`; returns `[N, L_q, C]`.
    ///
    /// # Panics
    /// On shapes that do not fit the block (the U-Net checks its inputs on entry).
    pub fn forward(
        &self,
        x: Tensor<3>,
        context: Option<Tensor<3>>,
        mask: Option<Tensor<2, Bool>>,
    ) -> Tensor<3> {
        let [n, l_q, _] = x.dims();
        let context = context.unwrap_or_else(|| x.clone());
        let l = context.dims()[1];
        let heads = self.num_heads;
        let inner = self.to_q.weight.dims()[1];
        let d = inner / heads;

        let split = |t: Tensor<3>, len: usize| {
            t.reshape([n, len, heads, d]).swap_dims(1, 2).reshape([n * heads, len, d])
        };
        // Scaling q (L_q·d values) is cheaper than scaling the L_q·L logits.
        let q = split(self.to_q.forward(x), l_q).mul_scalar(1.0 / (d as f64).sqrt());
        let k = split(self.to_k.forward(context.clone()), l);
        let v = split(self.to_v.forward(context), l);

        let mut logits = q.matmul(k.swap_dims(1, 2)); // [N·H, L_q, L]
        if let Some(mask) = mask {
            let ignored = mask
                .bool_not()
                .reshape([n, 1, 1, l])
                .expand([n, heads, l_q, l])
                .reshape([n * heads, l_q, l]);
            logits = logits.mask_fill(ignored, MASKED_LOGIT);
        }
        let out = softmax(logits, 2).matmul(v); // [N·H, L_q, d]
        let out = out.reshape([n, heads, l_q, d]).swap_dims(1, 2).reshape([n, l_q, inner]);
        self.to_out.forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::{Distribution, TensorData};
    use medgen_testing::test_device;

    fn host(t: Tensor<3>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn set(linear: &mut Linear, rows: Vec<f32>, shape: [usize; 2]) {
        let device = linear.weight.val().device();
        linear.weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(rows, shape), &device));
    }

    /// One head, `C = E = d = 2`, identity projections and a zero output bias: the output is
    /// `softmax(x cᵀ / √2) c`, computed here by hand for one query and two context tokens.
    #[test]
    fn matches_a_hand_computed_softmax() {
        let device = test_device();
        let mut attn =
            CrossAttentionConfig::new(2, 2).with_context_dim(Some(2)).init(&device).unwrap();
        for linear in [&mut attn.to_q, &mut attn.to_k, &mut attn.to_v, &mut attn.to_out] {
            set(linear, vec![1.0, 0.0, 0.0, 1.0], [2, 2]);
        }
        attn.to_out.bias =
            attn.to_out.bias.take().map(|b| Param::from_tensor(b.val().zeros_like()));
        let x = Tensor::<3>::from_floats([[[1.0, 2.0]]], &device);
        let c = Tensor::<3>::from_floats([[[1.0, 0.0], [0.0, 1.0]]], &device);
        let y = host(attn.forward(x.clone(), Some(c.clone()), None));
        // logits = [1, 2] / √2; weights = softmax; y = w_0 · [1, 0] + w_1 · [0, 1].
        let (z0, z1) = (1.0f64 / 2f64.sqrt(), 2.0f64 / 2f64.sqrt());
        let w0 = z0.exp() / (z0.exp() + z1.exp());
        let expected = [w0, 1.0 - w0];
        for (got, want) in y.iter().zip(expected) {
            assert!((*got as f64 - want).abs() < 1e-6, "{y:?} vs {expected:?}");
        }
        // Masking out the second token leaves all the weight on the first.
        let mask = Tensor::<2>::from_floats([[1.0, 0.0]], &device).bool();
        let y = host(attn.forward(x, Some(c), Some(mask)));
        assert!((y[0] - 1.0).abs() < 1e-6 && y[1].abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn masked_tokens_have_no_effect_and_heads_split_the_width() {
        let device = test_device();
        let attn = CrossAttentionConfig::new(4, 2)
            .with_context_dim(Some(3))
            .with_num_heads(2)
            .init(&device)
            .unwrap();
        assert_eq!(attn.context_dim(), 3);
        let normal =
            |dims: [usize; 3]| Tensor::<3>::random(dims, Distribution::Normal(0.0, 1.0), &device);
        let x = normal([2, 5, 4]);
        let c = normal([2, 3, 3]);
        let mask = Tensor::<2>::from_floats([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]], &device).bool();
        let y = attn.forward(x.clone(), Some(c.clone()), Some(mask.clone()));
        assert_eq!(y.dims(), [2, 5, 4]);
        // Change only the masked tokens: the output stays the same.
        let keep = mask.clone().float().unsqueeze_dim::<3>(2);
        let changed =
            c.clone().mul(keep.clone()).add(normal([2, 3, 3]).mul(keep.neg().add_scalar(1.0)));
        let y2 = attn.forward(x.clone(), Some(changed), Some(mask));
        assert!(y.clone().sub(y2).abs().max().into_scalar::<f32>() < 1e-6);
        // Changing an attended token changes it.
        let y3 = attn.forward(x.clone(), Some(c.add_scalar(1.0)), None);
        assert!(y.sub(y3).abs().max().into_scalar::<f32>() > 1e-4);
        // Self-attention.
        let own = CrossAttentionConfig::new(4, 4).init(&device).unwrap();
        assert_eq!(own.forward(x, None, None).dims(), [2, 5, 4]);
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = test_device();
        for config in [
            CrossAttentionConfig::new(0, 2),
            CrossAttentionConfig::new(2, 0),
            CrossAttentionConfig::new(2, 2).with_num_heads(0),
            CrossAttentionConfig::new(2, 2).with_context_dim(Some(0)),
        ] {
            assert!(matches!(config.init(&device), Err(CoreError::InvalidConfig { .. })));
        }
    }
}

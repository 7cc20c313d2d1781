//! Multi-head self-attention over the spatial positions of a feature map.

use burn::config::Config;
use burn::module::Module;
use burn::nn::GroupNorm;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use super::group_norm::group_norm_config;
use super::spatial_conv::{SpatialConv, SpatialConvConfig};
use medgen_core::error::{CoreError, Result};

/// Configuration of an [`AttentionBlock`].
#[derive(Config, Debug)]
pub struct AttentionBlockConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels `C` of the feature map.
    pub channels: usize,
    /// Number of heads `H` (must divide `C`).
    #[config(default = 1)]
    pub num_heads: usize,
    /// Groups of the group norm (must divide `C`).
    #[config(default = 32)]
    pub groups: usize,
}

/// Residual multi-head self-attention over the `L = ∏ spatial` positions (the DDPM /
/// guided-diffusion `AttentionBlock`):
///
/// ```text
/// [q, k, v] = Conv1x1(GN(x))                          per head: [d, L] each, d = C / H
/// a_h       = v_h · softmax_j(q_hᵀ k_h / √d)ᵀ        [d, L]
/// y         = x + Conv1x1([a_1; …; a_H])
/// ```
///
/// The `3C` channels of the qkv convolution are laid out head by head, each head holding its
/// `q`, `k` and `v` rows in that order (guided-diffusion's "legacy" order), so splitting the
/// heads is a reshape that moves no memory. Attention runs as two batched matmuls over
/// `[N·H, ·, L]` tensors.
///
/// Shapes: `x` and `y` `[N, C, *spatial]` with 2 or 3 spatial axes.
#[derive(Module, Debug)]
pub struct AttentionBlock {
    /// Group norm over `C` channels.
    pub norm: GroupNorm,
    /// 1x1 convolution `C → 3C` giving queries, keys and values.
    pub qkv: SpatialConv,
    /// 1x1 output convolution `C → C`.
    pub proj_out: SpatialConv,
    /// Number of heads.
    pub num_heads: usize,
}

impl AttentionBlockConfig {
    /// Builds the block on `device`; fails unless `num_heads` and `groups` divide `channels`
    /// and `spatial_dims ∈ {2, 3}`.
    pub fn init(&self, device: &Device) -> Result<AttentionBlock> {
        let c = self.channels;
        if self.num_heads == 0 || !c.is_multiple_of(self.num_heads) {
            return Err(CoreError::config(
                "num_heads",
                format!("{} heads must divide {c} channels", self.num_heads),
            ));
        }
        let pointwise = |c_out: usize| {
            SpatialConvConfig::new(self.spatial_dims, [c, c_out])
                .with_kernel_size(1)
                .with_padding(0)
                .init(device)
        };
        Ok(AttentionBlock {
            norm: group_norm_config(self.groups, c)?.init(device),
            qkv: pointwise(3 * c)?,
            proj_out: pointwise(c)?,
            num_heads: self.num_heads,
        })
    }
}

impl AttentionBlock {
    /// Applies the block to `x` `[N, C, *spatial]`, returning the same shape.
    ///
    /// # Panics
    /// On shapes that do not fit the block (checked on entry by the U-Net).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let shape = x.shape();
        let dims = shape.as_slice();
        let (batch, channels) = (dims[0], dims[1]);
        let positions: usize = dims[2..].iter().product();
        let heads = self.num_heads;
        let d = channels / heads;

        let qkv = self.qkv.forward(self.norm.forward(x.clone())).reshape([
            batch * heads,
            3 * d,
            positions,
        ]);
        // Scaling q (d·L values) is cheaper than scaling the L·L logits.
        let q = qkv.clone().narrow(1, 0, d).mul_scalar(1.0 / (d as f64).sqrt());
        let k = qkv.clone().narrow(1, d, d);
        let v = qkv.narrow(1, 2 * d, d);

        // weights[b, i, j] = softmax_j(q_i · k_j): [N·H, L, L]
        let weights = softmax(q.swap_dims(1, 2).matmul(k), 2);
        // out[b, c, i] = Σ_j v[b, c, j] · weights[b, i, j]: [N·H, d, L]
        let out = v.matmul(weights.swap_dims(1, 2)).reshape(shape);
        x.add(self.proj_out.forward(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::Distribution;
    use medgen_testing::test_device;

    /// Replaces the weights of a 1x1 convolution (2D) by `w` `[C_out, C_in]` and zeroes its bias.
    fn set_pointwise(conv: &mut SpatialConv, w: Tensor<2>) {
        if let SpatialConv::Conv2d(c) = conv {
            let [o, i] = w.dims();
            c.weight = Param::from_tensor(w.reshape([o, i, 1, 1]));
            c.bias = c.bias.as_ref().map(|b| Param::from_tensor(b.val().zeros_like()));
        }
    }

    /// Computes the block by hand with explicit loops on the host and compares (two heads, so
    /// the head layout of the qkv channels is exercised too).
    #[test]
    fn matches_a_direct_computation() {
        let device = test_device();
        let (n, c, h, w, heads) = (2, 4, 2, 3, 2);
        let mut block = AttentionBlockConfig::new(2, c)
            .with_num_heads(heads)
            .with_groups(2)
            .init(&device)
            .unwrap();
        let eye = Tensor::<2>::eye(c, &device);
        set_pointwise(&mut block.proj_out, eye);
        let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let y = block.forward(x.clone());
        assert_eq!(y.dims(), [n, c, h, w]);

        let qkv = block
            .qkv
            .forward(block.norm.forward(x.clone()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let xs = x.into_data().try_to_vec::<f32>().unwrap();
        let ys = y.into_data().try_to_vec::<f32>().unwrap();
        let l = h * w;
        let d = c / heads;
        let at = |b: usize, ch: usize, p: usize| qkv[(b * 3 * c + ch) * l + p] as f64;
        for b in 0..n {
            for head in 0..heads {
                let base = head * 3 * d;
                for i in 0..l {
                    let logits: Vec<f64> = (0..l)
                        .map(|j| {
                            (0..d).map(|e| at(b, base + e, i) * at(b, base + d + e, j)).sum::<f64>()
                                / (d as f64).sqrt()
                        })
                        .collect();
                    let max = logits.iter().cloned().fold(f64::MIN, f64::max);
                    let exps: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
                    let total: f64 = exps.iter().sum();
                    for e in 0..d {
                        let a: f64 =
                            (0..l).map(|j| at(b, base + 2 * d + e, j) * exps[j] / total).sum();
                        let idx = (b * c + head * d + e) * l + i;
                        let expected = xs[idx] as f64 + a;
                        assert!(
                            (ys[idx] as f64 - expected).abs() < 1e-4,
                            "b={b} head={head} e={e} i={i}: {} vs {expected}",
                            ys[idx]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn works_on_volumes_and_counts_parameters() {
        let device = test_device();
        let block = AttentionBlockConfig::new(3, 8).with_groups(4).init(&device).unwrap();
        // GN 2·8, qkv 8·24+24, out 8·8+8.
        assert_eq!(block.num_params(), 16 + 216 + 72);
        let y = block.forward(Tensor::<5>::ones([1, 8, 2, 2, 3], &device));
        assert_eq!(y.dims(), [1, 8, 2, 2, 3]);
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = test_device();
        for config in [
            AttentionBlockConfig::new(2, 8).with_num_heads(3).with_groups(4),
            AttentionBlockConfig::new(2, 8).with_num_heads(0).with_groups(4),
            AttentionBlockConfig::new(2, 8).with_groups(3),
        ] {
            assert!(matches!(config.init(&device), Err(CoreError::InvalidConfig { .. })));
        }
    }
}

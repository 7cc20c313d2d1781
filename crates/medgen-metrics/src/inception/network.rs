//! [`InceptionV3`]: pytorch-fid's FID Inception network, and its configuration.
// The layer fields carry the names of PyTorch's state dict (`Conv2d_1a_3x3`, `Mixed_5b`, ...)
// so that the pytorch-fid weight file loads without a key remapping.
#![allow(non_snake_case)]

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::{adaptive_avg_pool2d, interpolate};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;

use super::basic_conv::BasicConv2d;
use super::inception_a::InceptionA;
use super::inception_b::InceptionB;
use super::inception_c::InceptionC;
use super::inception_d::InceptionD;
use super::inception_e::InceptionE;
use super::pooling::max_pool_3x3_stride2;
use crate::error::Result;
use crate::extractor::FeatureExtractor;

/// The feature dimensions pytorch-fid offers, one per output block: 64 (first max pooling),
/// 192 (second max pooling), 768 (input of the auxiliary classifier), 2048 (final average
/// pooling, the standard FID features).
pub const FID_FEATURE_DIMS: [usize; 4] = [64, 192, 768, 2048];

/// The input resolution of the FID Inception network.
pub const FID_INPUT_SIZE: usize = 299;

/// The smallest input side the network accepts: two stride-2 convolutions/poolings and
/// three 3 × 3 stride-2 reductions leave 1 × 1 at 75 × 75.
pub const MIN_INPUT_SIZE: usize = 75;

/// The number of classes of the TensorFlow Inception graph (1000 ImageNet classes + 8 unused).
pub const FID_NUM_CLASSES: usize = 1008;

/// Configuration of [`InceptionV3`], with pytorch-fid's `InceptionV3` options.
#[derive(Config, Debug, PartialEq)]
pub struct InceptionV3Config {
    /// The feature dimension `d ∈ {64, 192, 768, 2048}` ([`FID_FEATURE_DIMS`]), which
    /// selects the output block; 2048 (the default) gives the standard FID.
    #[config(default = 2048)]
    pub feature_dim: usize,
    /// Bilinearly resize inputs to `input_size × input_size` (`align_corners = False`, as
    /// pytorch-fid) before the network. Without it inputs must be at least
    /// [`MIN_INPUT_SIZE`] on each side.
    #[config(default = true)]
    pub resize_input: bool,
    /// The side the inputs are resized to: 299 ([`FID_INPUT_SIZE`]) for FID values that
    /// compare with pytorch-fid; other sizes (≥ [`MIN_INPUT_SIZE`]) give features of a
    /// different, non-standard metric.
    #[config(default = 299)]
    pub input_size: usize,
    /// Map inputs from `[0, 1]` to `[−1, 1]` (`x ↦ 2x − 1`) as the weights expect.
    #[config(default = true)]
    pub normalize_input: bool,
}

impl InceptionV3Config {
    /// Checks `feature_dim ∈ {64, 192, 768, 2048}` and `input_size ≥ 75`.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        if !FID_FEATURE_DIMS.contains(&self.feature_dim) {
            return Err(CoreError::config(
                "feature_dim",
                format!("must be one of {FID_FEATURE_DIMS:?}, got {}", self.feature_dim),
            )
            .into());
        }
        if self.input_size < MIN_INPUT_SIZE {
            return Err(CoreError::config(
                "input_size",
                format!("must be at least {MIN_INPUT_SIZE}, got {}", self.input_size),
            )
            .into());
        }
        Ok(())
    }

    /// A randomly initialised network (Burn's default initialisers) on `device`; load the
    /// FID weights with [`InceptionV3::load_pytorch_weights`] or
    /// [`InceptionV3Config::init_pretrained`].
    ///
    /// # Errors
    /// Those of [`InceptionV3Config::validate`].
    pub fn init(&self, device: &Device) -> Result<InceptionV3> {
        self.validate()?;
        Ok(InceptionV3 {
            Conv2d_1a_3x3: BasicConv2d::new([3, 32], [3, 3], 2, [0, 0], device),
            Conv2d_2a_3x3: BasicConv2d::square([32, 32], 3, device),
            Conv2d_2b_3x3: BasicConv2d::new([32, 64], [3, 3], 1, [1, 1], device),
            Conv2d_3b_1x1: BasicConv2d::square([64, 80], 1, device),
            Conv2d_4a_3x3: BasicConv2d::square([80, 192], 3, device),
            Mixed_5b: InceptionA::new(192, 32, device),
            Mixed_5c: InceptionA::new(256, 64, device),
            Mixed_5d: InceptionA::new(288, 64, device),
            Mixed_6a: InceptionB::new(288, device),
            Mixed_6b: InceptionC::new(768, 128, device),
            Mixed_6c: InceptionC::new(768, 160, device),
            Mixed_6d: InceptionC::new(768, 160, device),
            Mixed_6e: InceptionC::new(768, 192, device),
            Mixed_7a: InceptionD::new(768, device),
            Mixed_7b: InceptionE::new(1280, false, device),
            Mixed_7c: InceptionE::new(2048, true, device),
            fc: LinearConfig::new(2048, FID_NUM_CLASSES).init(device),
            feature_dim: self.feature_dim,
            resize_input: self.resize_input,
            input_size: self.input_size,
            normalize_input: self.normalize_input,
        })
    }
}

/// pytorch-fid's InceptionV3 (`fid_inception_v3`, TensorFlow's 2015-12-05 Inception graph
/// ported to PyTorch): the network whose pool features define FID.
///
/// `images [N, C, H, W]` with `C ∈ {1, 3}` (one channel is repeated to RGB) and values in
/// `[0, 1]` are resized to 299 × 299 (bilinear), mapped to `[−1, 1]` and run through four
/// blocks; the features of dimension `d` are the spatial mean of the output of block
/// `k(d)`:
///
/// - block 0 (`d = 64`): `Conv2d_1a_3x3` (stride 2), `Conv2d_2a_3x3`, `Conv2d_2b_3x3`, 3 × 3
///   stride-2 max pooling → `[N, 64, 73, 73]`;
/// - block 1 (`d = 192`): `Conv2d_3b_1x1`, `Conv2d_4a_3x3`, max pooling → `[N, 192, 35, 35]`;
/// - block 2 (`d = 768`): `Mixed_5b`–`Mixed_5d` ([`InceptionA`]), `Mixed_6a`
///   ([`InceptionB`]), `Mixed_6b`–`Mixed_6e` ([`InceptionC`]) → `[N, 768, 17, 17]`;
/// - block 3 (`d = 2048`): `Mixed_7a` ([`InceptionD`]), `Mixed_7b`/`Mixed_7c`
///   ([`InceptionE`]), global average pooling → `[N, 2048, 1, 1]`.
///
/// `fc` (`2048 → 1008`) maps the 2048 pool features to the logits of the Inception Score.
/// Parameter paths equal the keys of `pt_inception-2015-12-05-6726825d.pth`
/// (`Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch1x1.bn.running_var`, `fc.weight`, ...;
/// Burn's batch-norm `gamma`/`beta` are PyTorch's `weight`/`bias`).
///
/// Batch normalisation uses the running statistics (evaluation) except for inputs on an
/// autodiff device with the module in training mode: call [`Module::valid`] on a network
/// held on an autodiff device before extracting features.
#[derive(Module, Debug)]
pub struct InceptionV3 {
    Conv2d_1a_3x3: BasicConv2d,
    Conv2d_2a_3x3: BasicConv2d,
    Conv2d_2b_3x3: BasicConv2d,
    Conv2d_3b_1x1: BasicConv2d,
    Conv2d_4a_3x3: BasicConv2d,
    Mixed_5b: InceptionA,
    Mixed_5c: InceptionA,
    Mixed_5d: InceptionA,
    Mixed_6a: InceptionB,
    Mixed_6b: InceptionC,
    Mixed_6c: InceptionC,
    Mixed_6d: InceptionC,
    Mixed_6e: InceptionC,
    Mixed_7a: InceptionD,
    Mixed_7b: InceptionE,
    Mixed_7c: InceptionE,
    fc: Linear,
    feature_dim: usize,
    resize_input: bool,
    input_size: usize,
    normalize_input: bool,
}

impl InceptionV3 {
    /// The output block of feature dimension `d` (0 for 64, ..., 3 for 2048).
    fn block_of(feature_dim: usize) -> usize {
        FID_FEATURE_DIMS
            .iter()
            .position(|&d| d == feature_dim)
            .unwrap_or(FID_FEATURE_DIMS.len() - 1)
    }

    /// The configured feature dimension `d`.
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Checks, resizes and normalises a batch: `[N, C, H, W]` (`C ∈ {1, 3}`, values in
    /// `[0, 1]`) → `[N, 3, S, S]` with `S` the input size (or the input's own size without
    /// resizing), values `2x − 1` when normalising.
    ///
    /// # Errors
    /// [`CoreError::Empty`] for an empty batch, [`CoreError::ShapeMismatch`] for a channel
    /// count other than 1 or 3, or (without resizing) a side below [`MIN_INPUT_SIZE`].
    pub fn preprocess(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<4>> {
        let [n, c, h, w] = images.dims();
        if n == 0 || h == 0 || w == 0 {
            return Err(CoreError::Empty { what: format!("Inception input {:?}", images.dims()) });
        }
        if c != 1 && c != 3 {
            return Err(CoreError::shape("Inception input", "[N, 1 or 3, H, W]", &images.dims()));
        }
        let x = if c == 1 { images.repeat_dim(1, 3) } else { images };
        let size = self.input_size;
        let x = if self.resize_input && (h != size || w != size) {
            interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_align_corners(false)
                    .with_output_size([size, size]),
            )
        } else {
            x
        };
        let [_, _, h, w] = x.dims();
        if h < MIN_INPUT_SIZE || w < MIN_INPUT_SIZE {
            return Err(CoreError::shape(
                "Inception input (without resizing)",
                format!("[N, C, >= {MIN_INPUT_SIZE}, >= {MIN_INPUT_SIZE}]"),
                &x.dims(),
            ));
        }
        Ok(if self.normalize_input { x.mul_scalar(2.0).sub_scalar(1.0) } else { x })
    }

    /// The outputs of blocks `0..=last` (see [`InceptionV3`]) for a preprocessed batch
    /// `[N, 3, H, W]`; block 3 ends with the global average pooling (`[N, 2048, 1, 1]`).
    pub fn forward_blocks(&self, x: Tensor<4>, last: usize) -> Vec<Tensor<4>> {
        let mut outputs = Vec::with_capacity(last + 1);
        let x = [&self.Conv2d_1a_3x3, &self.Conv2d_2a_3x3, &self.Conv2d_2b_3x3]
            .iter()
            .fold(x, |h, unit| unit.forward(h));
        outputs.push(max_pool_3x3_stride2(x));
        if last == 0 {
            return outputs;
        }
        let x = self.Conv2d_4a_3x3.forward(self.Conv2d_3b_1x1.forward(outputs[0].clone()));
        outputs.push(max_pool_3x3_stride2(x));
        if last == 1 {
            return outputs;
        }
        let mut x = outputs[1].clone();
        for block in [&self.Mixed_5b, &self.Mixed_5c, &self.Mixed_5d] {
            x = block.forward(x);
        }
        x = self.Mixed_6a.forward(x);
        for block in [&self.Mixed_6b, &self.Mixed_6c, &self.Mixed_6d, &self.Mixed_6e] {
            x = block.forward(x);
        }
        outputs.push(x.clone());
        if last == 2 {
            return outputs;
        }
        x = self.Mixed_7a.forward(x);
        x = self.Mixed_7c.forward(self.Mixed_7b.forward(x));
        outputs.push(adaptive_avg_pool2d(x, [1, 1]));
        outputs
    }

    /// The `d`-dimensional FID features of `images [N, C, H, W]` (values in `[0, 1]`):
    /// `f_c = (1/(H'W')) Σ_{i,j} B_k(x)_{c,i,j}`, the spatial mean of the output of block
    /// `k(d)` (pytorch-fid pools the 64/192/768 maps the same way) → `[N, d]`.
    ///
    /// # Errors
    /// Those of [`InceptionV3::preprocess`].
    pub fn features(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        let x = self.preprocess(images)?;
        let last = Self::block_of(self.feature_dim);
        let block = self.forward_blocks(x, last).swap_remove(last);
        let [n, c, _, _] = block.dims();
        Ok(adaptive_avg_pool2d(block, [1, 1]).reshape([n, c]))
    }

    /// The class logits `z = W f + b` (`[N, 1008]`) of `images [N, C, H, W]` from the 2048
    /// pool features `f`, as torchvision's `Inception3.forward` in evaluation mode (dropout
    /// off): the input of [`inception_score()`](crate::inception_score()). Independent of the
    /// configured feature dimension.
    ///
    /// # Errors
    /// Those of [`InceptionV3::preprocess`].
    pub fn logits(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        let x = self.preprocess(images)?;
        let pooled = self.forward_blocks(x, 3).swap_remove(3);
        let [n, c, _, _] = pooled.dims();
        Ok(self.fc.forward(pooled.reshape([n, c])))
    }
}

impl FeatureExtractor for InceptionV3 {
    fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// [`InceptionV3::features`].
    fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        self.features(images)
    }
}

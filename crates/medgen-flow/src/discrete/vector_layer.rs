//! The layers a vector flow can stack, as one module type.

use burn::module::Module;
use burn::tensor::Tensor;

use super::act_norm::ActNorm;
use super::affine_coupling::AffineCoupling;
use super::inv_conv::InvConv1x1;
use super::layer::FlowLayer;
use super::maf::MaskedAutoregressive;
use super::spline_coupling::SplineCoupling;
use crate::error::Result;

/// One layer of a [`Flow`](super::Flow) on `[N, d]` vectors.
// The variants differ in size, but a flow holds a handful of them once, and Burn's `Module`
// derive has no `Box` support, so boxing is neither needed nor possible.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum VectorLayer {
    /// RealNVP affine coupling.
    Affine(AffineCoupling),
    /// Rational-quadratic spline coupling.
    Spline(SplineCoupling),
    /// Activation normalisation.
    ActNorm(ActNorm),
    /// LU-parameterised invertible linear map.
    Linear(InvConv1x1),
    /// Masked autoregressive (MAF) layer.
    Autoregressive(MaskedAutoregressive),
}

impl VectorLayer {
    fn as_layer(&self) -> &dyn FlowLayer<2> {
        match self {
            Self::Affine(layer) => layer,
            Self::Spline(layer) => layer,
            Self::ActNorm(layer) => layer,
            Self::Linear(layer) => layer,
            Self::Autoregressive(layer) => layer,
        }
    }
}

impl FlowLayer<2> for VectorLayer {
    fn forward(&self, x: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        self.as_layer().forward(x)
    }

    fn inverse(&self, y: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        self.as_layer().inverse(y)
    }
}

macro_rules! vector_layer_from {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for VectorLayer {
            fn from(layer: $ty) -> Self {
                Self::$variant(layer)
            }
        }
    )*};
}

vector_layer_from!(
    Affine(AffineCoupling),
    Spline(SplineCoupling),
    ActNorm(ActNorm),
    Linear(InvConv1x1),
    Autoregressive(MaskedAutoregressive)
);

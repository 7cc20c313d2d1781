//! The linear measurement model `y = A x (+ noise)` every reconstruction sampler takes.

use burn::tensor::Tensor;
use medgen_core::CoreError;

use crate::complex::format_shape;
use crate::error::Result;

/// A linear forward model `A` from images `[N, C, *S]` to measurements `[N, C_y, *S_y]`, with
/// its adjoint `Aᴴ` (`⟨A x, y⟩ = ⟨x, Aᴴ y⟩` in the real inner product of the stored channels)
/// and the classical reconstruction a sampler is compared with.
///
/// Object-safe: samplers take `&dyn MeasurementOperator<D>`, so MRI, CT or a user's own
/// operator plug into the same data-consistency steps.
pub trait MeasurementOperator<const D: usize> {
    /// A short name for messages and tables ("k-space", "parallel-beam CT").
    fn name(&self) -> &'static str;

    /// The image shape without the batch axis, `[C, *S]`.
    fn image_shape(&self) -> Vec<usize>;

    /// The measurement shape without the batch axis, `[C_y, *S_y]`.
    fn measurement_shape(&self) -> Vec<usize>;

    /// `A x` for images `x` `[N, C, *S]` (differentiable: only tensor operations).
    ///
    /// # Errors
    /// A shape error naming `image` for any other shape.
    fn forward(&self, x: Tensor<D>) -> Result<Tensor<D>>;

    /// `Aᴴ y` for measurements `y` `[N, C_y, *S_y]`.
    ///
    /// # Errors
    /// A shape error naming `measurement` for any other shape.
    fn adjoint(&self, y: Tensor<D>) -> Result<Tensor<D>>;

    /// The classical reconstruction from `y`: the zero-filled inverse FFT for k-space,
    /// filtered back-projection for CT.
    ///
    /// # Errors
    /// As [`MeasurementOperator::adjoint`].
    fn baseline(&self, y: Tensor<D>) -> Result<Tensor<D>>;

    /// `‖A‖²`, the largest eigenvalue of `AᴴA` (1 for a masked unitary transform): gradient
    /// data-consistency steps are scaled by its inverse so that a weight of 1 never overshoots.
    fn norm_squared(&self) -> f64;
}

/// Fails with a shape error naming `what` unless `x` is `[N ≥ 1, *per_item]`.
pub(crate) fn check_batch_shape<const D: usize>(
    x: &Tensor<D>,
    per_item: &[usize],
    what: &str,
) -> Result<()> {
    let dims = x.dims();
    if dims[0] == 0 || dims.len() != per_item.len() + 1 || dims[1..] != *per_item {
        let mut expected = vec![1];
        expected.extend_from_slice(per_item);
        return Err(CoreError::ShapeMismatch {
            what: what.to_string(),
            expected: format_shape(&expected),
            got: dims.to_vec(),
        }
        .into());
    }
    Ok(())
}

/// Checks a measurement before a reconstruction: its shape (naming `measurement`) and that
/// every value is finite (a `NonFinite` error naming `measurement`; reads the tensor back).
///
/// # Errors
/// As described.
pub fn check_measurement<const D: usize>(
    operator: &dyn MeasurementOperator<D>,
    y: &Tensor<D>,
) -> Result<()> {
    check_batch_shape(y, &operator.measurement_shape(), "measurement")?;
    medgen_core::check::ensure_finite(y, "measurement")?;
    Ok(())
}

/// The largest eigenvalue of `AᴴA` by `iterations` power iterations from the all-ones image
/// (deterministic; `AᴴA` of a projector with non-negative weights has a non-negative leading
/// eigenvector, so the start is never orthogonal to it): `v ← AᴴA v / ‖AᴴA v‖`,
/// `λ ≈ ‖AᴴA v‖` for unit `v`.
pub(crate) fn power_iteration<const D: usize>(
    forward: impl Fn(Tensor<D>) -> Tensor<D>,
    adjoint: impl Fn(Tensor<D>) -> Tensor<D>,
    start: Tensor<D>,
    iterations: usize,
) -> f64 {
    let norm =
        |t: &Tensor<D>| f64::from(t.clone().powi_scalar(2).sum().sqrt().into_scalar::<f32>());
    let mut v = start.clone().div_scalar(norm(&start).max(1e-30));
    let mut lambda = 0.0;
    for _ in 0..iterations {
        let w = adjoint(forward(v));
        lambda = norm(&w);
        v = w.div_scalar(lambda.max(1e-30));
    }
    lambda
}

/// The affine map between a prior's intensities and the physical quantity an operator
/// measures, `x_phys = scale · x + offset`: diffusion priors train on `[−1, 1]`, while CT
/// measures attenuation, which is zero in air (and the projector assumes zero outside the
/// field of view). Reconstruction stays linear in `x`:
///
/// `A (scale · x + offset) = y  ⇔  A x = (y − offset · A 1) / scale`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntensityMap {
    /// The factor `scale ≠ 0`.
    pub scale: f64,
    /// The offset.
    pub offset: f64,
}

impl IntensityMap {
    /// `[−1, 1] → [0, 1]`: `x_phys = (x + 1)/2`.
    pub const UNIT_RANGE: Self = Self { scale: 0.5, offset: 0.5 };

    /// `scale · x + offset`.
    pub fn to_physical<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x.mul_scalar(self.scale).add_scalar(self.offset)
    }

    /// `(x_phys − offset) / scale`.
    pub fn to_prior<const D: usize>(&self, x_phys: Tensor<D>) -> Tensor<D> {
        x_phys.sub_scalar(self.offset).div_scalar(self.scale)
    }

    /// The measurement of the prior-scale image, `(y − offset · A 1) / scale`, for a
    /// measurement `y` of the physical image (`[N, …]`).
    ///
    /// # Errors
    /// `InvalidConfig` naming `scale` when it is zero or not finite (or `offset` not finite),
    /// and the operator's shape errors.
    pub fn prior_measurement<const D: usize>(
        &self,
        operator: &dyn MeasurementOperator<D>,
        y: Tensor<D>,
    ) -> Result<Tensor<D>> {
        if !(self.scale.is_finite() && self.scale != 0.0 && self.offset.is_finite()) {
            return Err(crate::error::ReconError::config(
                "scale",
                format!("the map needs a finite non-zero scale and a finite offset, got {self:?}"),
            ));
        }
        let mut shape = [1usize; D];
        shape[0] = y.dims()[0];
        for (slot, value) in shape[1..].iter_mut().zip(operator.image_shape()) {
            *slot = value;
        }
        let ones = Tensor::<D>::ones(shape, &y.device());
        let offset_measurement = operator.forward(ones)?.mul_scalar(self.offset);
        Ok(y.sub(offset_measurement).div_scalar(self.scale))
    }
}

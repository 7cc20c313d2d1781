//! The parallel-beam Radon transform as a sparse matrix, with its exact adjoint.

use burn::tensor::{Device, Tensor};

use crate::ct::fbp::{FbpFilter, FilteredBackProjection};
use crate::error::{ReconError, Result};
use crate::operator::{MeasurementOperator, check_batch_shape, power_iteration};
use crate::sparse::EllMatrix;

/// `views` angles evenly spaced over `[0°, 180°)`: `θ_v = 180° · v / V`.
pub fn evenly_spaced_angles(views: usize) -> Vec<f64> {
    (0..views).map(|v| 180.0 * v as f64 / views as f64).collect()
}

/// The parallel-beam projector `A`: `(A x)[v, s] = Σ_r (R_{θ_v} x)[r, s]`, the column sums
/// of the image rotated by `θ_v` with bilinear interpolation (scikit-image's `radon` with
/// `circle=True`: output pixel `(r, c)` reads input position
/// `x = cos θ · c + sin θ · r − m (cos θ + sin θ − 1)`,
/// `y = −sin θ · c + cos θ · r − m (cos θ − sin θ − 1)`, `m = ⌊S/2⌋`, zero outside).
///
/// `A` is stored as a sparse matrix, and `Aᴴ = Aᵀ` (the matched back-projection) is built
/// from the same entries, so `⟨A x, y⟩ = ⟨x, Aᵀ y⟩` holds to rounding. The classical
/// reconstruction ([`MeasurementOperator::baseline`]) is filtered back-projection with the
/// projector's filter ([`FilteredBackProjection`]).
#[derive(Clone, Debug)]
pub struct ParallelBeamProjector {
    size: usize,
    angles: Vec<f64>,
    forward: EllMatrix,
    adjoint: EllMatrix,
    fbp: FilteredBackProjection,
    norm_squared: f64,
}

impl ParallelBeamProjector {
    /// The projector of `size × size` images at `angles_degrees`, with the `filter` for its
    /// filtered back-projection, on `device`.
    ///
    /// # Errors
    /// `InvalidConfig` naming `size` (below 2) or `angles_degrees` (empty or not finite).
    pub fn new(
        size: usize,
        angles_degrees: &[f64],
        filter: FbpFilter,
        device: &Device,
    ) -> Result<Self> {
        check_geometry(size, angles_degrees)?;
        let views = angles_degrees.len();
        let mut triplets = Vec::with_capacity(views * size * size * 4);
        let centre = (size / 2) as f64;
        for (v, angle) in angles_degrees.iter().enumerate() {
            let (sin, cos) = angle.to_radians().sin_cos();
            for r in 0..size {
                for c in 0..size {
                    let (rf, cf) = (r as f64, c as f64);
                    let x = cos * cf + sin * rf - centre * (cos + sin - 1.0);
                    let y = -sin * cf + cos * rf - centre * (cos - sin - 1.0);
                    let row = (v * size + c) as u32;
                    bilinear_taps(x, y, size, |pixel, weight| {
                        triplets.push((row, pixel as u32, weight));
                    });
                }
            }
        }
        let forward = EllMatrix::from_triplets(views * size, size * size, triplets, device);
        let adjoint = forward.transpose(device);
        let fbp = FilteredBackProjection::new(size, angles_degrees, filter, device)?;
        let mut projector = Self {
            size,
            angles: angles_degrees.to_vec(),
            forward,
            adjoint,
            fbp,
            norm_squared: 1.0,
        };
        let start = Tensor::<4>::ones([1, 1, size, size], device);
        projector.norm_squared = power_iteration(
            |x| MeasurementOperator::<4>::forward(&projector, x).expect("shape is the projector's"),
            |y| MeasurementOperator::<4>::adjoint(&projector, y).expect("shape is the projector's"),
            start,
            30,
        );
        Ok(projector)
    }

    /// The image side `S`.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The projection angles in degrees.
    pub fn angles(&self) -> &[f64] {
        &self.angles
    }

    /// The number of views `V`.
    pub fn views(&self) -> usize {
        self.angles.len()
    }

    /// The filtered back-projection of this geometry.
    pub fn fbp(&self) -> &FilteredBackProjection {
        &self.fbp
    }
}

/// Checks the image side and the angles.
pub(crate) fn check_geometry(size: usize, angles_degrees: &[f64]) -> Result<()> {
    if size < 2 {
        return Err(ReconError::config("size", format!("must be at least 2, got {size}")));
    }
    if angles_degrees.is_empty() || angles_degrees.iter().any(|a| !a.is_finite()) {
        return Err(ReconError::config("angles_degrees", "needs at least one angle, all finite"));
    }
    Ok(())
}

/// Calls `tap(pixel, weight)` for the (up to four) in-image neighbours of position
/// `(x = column, y = row)` with bilinear weights; neighbours outside the image read zero.
fn bilinear_taps(x: f64, y: f64, size: usize, mut tap: impl FnMut(usize, f64)) {
    let (r0, c0) = (y.floor(), x.floor());
    let (dr, dc) = (y - r0, x - c0);
    for (dy, wy) in [(0.0, 1.0 - dr), (1.0, dr)] {
        for (dx, wx) in [(0.0, 1.0 - dc), (1.0, dc)] {
            let (r, c) = (r0 + dy, c0 + dx);
            let weight = wy * wx;
            if weight != 0.0 && r >= 0.0 && c >= 0.0 && r < size as f64 && c < size as f64 {
                tap(r as usize * size + c as usize, weight);
            }
        }
    }
}

impl MeasurementOperator<4> for ParallelBeamProjector {
    fn name(&self) -> &'static str {
        "parallel-beam CT"
    }

    fn image_shape(&self) -> Vec<usize> {
        vec![1, self.size, self.size]
    }

    fn measurement_shape(&self) -> Vec<usize> {
        vec![1, self.views(), self.size]
    }

    fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        check_batch_shape(&x, &[1, self.size, self.size], "image")?;
        let batch = x.dims()[0];
        let flat = x.reshape([batch, self.size * self.size]);
        Ok(self.forward.apply(flat).reshape([batch, 1, self.views(), self.size]))
    }

    fn adjoint(&self, y: Tensor<4>) -> Result<Tensor<4>> {
        check_batch_shape(&y, &[1, self.views(), self.size], "measurement")?;
        let batch = y.dims()[0];
        let flat = y.reshape([batch, self.views() * self.size]);
        Ok(self.adjoint.apply(flat).reshape([batch, 1, self.size, self.size]))
    }

    fn baseline(&self, y: Tensor<4>) -> Result<Tensor<4>> {
        self.fbp.reconstruct(y)
    }

    fn norm_squared(&self) -> f64 {
        self.norm_squared
    }
}

//! The invertible 1×1 convolution of Glow, LU-parameterised.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::CoreError;

use super::layer::{FlowLayer, ensure_event_shape};
use crate::error::{FlowError, Result};

/// Configuration of an [`InvConv1x1`].
#[derive(Config, Debug)]
pub struct InvConv1x1Config {
    /// Channels `C` (features `d` for vectors).
    pub channels: usize,
    /// `P` reverses the channel order (`true`) or is the identity (`false`).
    #[config(default = true)]
    pub reverse: bool,
    /// Standard deviation of the random initial off-diagonal entries of `L` and `U` (0 gives
    /// `W = P`).
    #[config(default = 0.1)]
    pub init_std: f64,
}

/// An invertible channel-mixing map, the same matrix at every pixel:
///
/// ```text
/// W = P · L · (U + diag(sign ⊙ exp(log_s)))
/// y_{:, i, j} = W x_{:, i, j}          log|det J| = H · W_img · Σ_c log_s_c
/// ```
///
/// with `P` a fixed permutation, `L` unit lower triangular (trained strictly-lower part), `U`
/// strictly upper triangular (trained) and `sign` fixed. On vectors `[N, d]` it is an
/// LU-parameterised invertible linear map `y = W x` (`H · W_img = 1`). `W` is invertible for
/// every parameter value.
///
/// Shapes: `[N, C, H, W]` or `[N, C]`; log-determinants `[N]`. The inverse reads the `C × C`
/// matrix back to the host once per call to invert it in f64 (sampling only; `forward`, used
/// for likelihood training, stays on the device).
#[derive(Module, Debug)]
pub struct InvConv1x1 {
    /// The strictly-lower part of `L` (the diagonal and upper part are ignored), `[C, C]`.
    pub lower: Param<Tensor<2>>,
    /// The strictly-upper part of `U` (the diagonal and lower part are ignored), `[C, C]`.
    pub upper: Param<Tensor<2>>,
    /// `log |s_c|`, `[C]`.
    pub log_s: Param<Tensor<1>>,
    /// The permutation matrix `P`, `[C, C]` (fixed).
    pub permutation: Tensor<2>,
    /// `sign(s_c) ∈ {−1, 1}`, `[C]` (fixed).
    pub sign: Tensor<1>,
}

/// A row-major `C × C` matrix of f64 values.
fn upload(values: &[f64], shape: [usize; 2], device: &Device) -> Tensor<2> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

impl InvConv1x1Config {
    /// Builds the layer with `log_s = 0`, `sign = 1` and random `L`, `U` entries drawn from
    /// Burn's device generator (build it through `medgen_core::init_seeded` to draw them from
    /// your seeded generator).
    ///
    /// # Errors
    /// `C = 0`, or a negative or non-finite `init_std`.
    pub fn init(&self, device: &Device) -> Result<InvConv1x1> {
        let c = self.channels;
        if c == 0 {
            return Err(CoreError::config("channels", "must be positive").into());
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return Err(CoreError::config(
                "init_std",
                format!("must be finite and non-negative, got {}", self.init_std),
            )
            .into());
        }
        let perm: Vec<f64> = (0..c * c)
            .map(|k| {
                let (i, j) = (k / c, k % c);
                let target = if self.reverse { c - 1 - i } else { i };
                if j == target { 1.0 } else { 0.0 }
            })
            .collect();
        let random = |device: &Device| {
            Tensor::<2>::random(
                [c, c],
                burn::tensor::Distribution::Normal(0.0, self.init_std),
                device,
            )
        };
        Ok(InvConv1x1 {
            lower: Param::from_tensor(random(device)),
            upper: Param::from_tensor(random(device)),
            log_s: Param::from_tensor(Tensor::zeros([c], device)),
            permutation: upload(&perm, [c, c], device),
            sign: Tensor::ones([c], device),
        })
    }
}

impl InvConv1x1 {
    /// Builds the layer whose matrix is exactly `weight` (row-major `C × C`), by LU
    /// decomposition with partial pivoting on the host (`weight = P L U`).
    ///
    /// # Errors
    /// [`FlowError::NonInvertible`] if `weight` is singular (a zero pivot) or not finite; a
    /// shape error if `weight.len() ≠ C²`.
    pub fn from_weight(weight: &[f64], channels: usize, device: &Device) -> Result<Self> {
        let c = channels;
        if c == 0 || weight.len() != c * c {
            return Err(CoreError::shape("weight", format!("[{c}, {c}]"), &[weight.len()]).into());
        }
        if weight.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::NonFinite { what: "weight".into() }.into());
        }
        let (perm, lower, upper) = lu_decompose(weight, c)?;
        let diag: Vec<f64> = (0..c).map(|i| upper[i * c + i]).collect();
        let strict_upper: Vec<f64> =
            (0..c * c).map(|k| if k % c > k / c { upper[k] } else { 0.0 }).collect();
        let log_s: Vec<f32> = diag.iter().map(|s| s.abs().ln() as f32).collect();
        let sign: Vec<f32> = diag.iter().map(|s| s.signum() as f32).collect();
        Ok(Self {
            lower: Param::from_tensor(upload(&lower, [c, c], device)),
            upper: Param::from_tensor(upload(&strict_upper, [c, c], device)),
            log_s: Param::from_tensor(Tensor::from_data(TensorData::new(log_s, [c]), device)),
            permutation: upload(&perm, [c, c], device),
            sign: Tensor::from_data(TensorData::new(sign, [c]), device),
        })
    }

    /// The channel count `C`.
    pub fn channels(&self) -> usize {
        self.log_s.dims()[0]
    }

    /// The matrix `W = P L (U + diag(sign ⊙ exp(log_s)))`, `[C, C]`.
    pub fn weight(&self) -> Tensor<2> {
        let c = self.channels();
        let device = self.log_s.device();
        let eye = Tensor::<2>::eye(c, &device);
        let lower = self.lower.val().tril(-1).add(eye.clone());
        let diag = self.sign.clone().mul(self.log_s.val().exp()).reshape([1, c]);
        let upper = self.upper.val().triu(1).add(eye.mul(diag));
        self.permutation.clone().matmul(lower).matmul(upper)
    }

    /// Applies `y = M x` at every pixel: `[N, C, …]` → `[N, C, …]`.
    fn mix<const D: usize>(x: Tensor<D>, matrix: Tensor<2>) -> Tensor<D> {
        let dims = x.dims();
        let c = dims[1];
        let mut order: [usize; D] = std::array::from_fn(|i| i);
        order[1..].rotate_left(1);
        let mut channels_last = dims;
        channels_last[1..].rotate_left(1);
        let rows = x.permute(order).reshape([dims.iter().product::<usize>() / c, c]);
        let mixed = rows.matmul(matrix.transpose()).reshape(channels_last);
        let mut back: [usize; D] = std::array::from_fn(|i| i);
        back[1..].rotate_right(1);
        mixed.permute(back)
    }

    fn log_det<const D: usize>(&self, dims: [usize; D]) -> Tensor<1> {
        let spatial: usize = dims[2..].iter().product();
        self.log_s.val().sum().mul_scalar(spatial as f64).expand([dims[0]])
    }

    fn check<const D: usize>(&self, x: &Tensor<D>) -> Result<()> {
        let mut event = x.dims()[1..].to_vec();
        event[0] = self.channels();
        ensure_event_shape(x, &event, "invertible 1x1 convolution input")
    }
}

/// `A = P L U` with partial pivoting; returns row-major `P`, `L` (unit lower) and `U`.
fn lu_decompose(a: &[f64], c: usize) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let mut u = a.to_vec();
    let mut l = vec![0.0; c * c];
    let mut rows: Vec<usize> = (0..c).collect();
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for col in 0..c {
        let pivot = (col..c)
            .max_by(|&i, &j| u[i * c + col].abs().total_cmp(&u[j * c + col].abs()))
            .unwrap_or(col);
        if u[pivot * c + col].abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            return Err(FlowError::NonInvertible {
                what: "1x1 convolution weight".into(),
                reason: format!("the matrix is singular (zero pivot in column {col})"),
            });
        }
        for k in 0..c {
            u.swap(col * c + k, pivot * c + k);
            l.swap(col * c + k, pivot * c + k);
        }
        rows.swap(col, pivot);
        for row in col + 1..c {
            let factor = u[row * c + col] / u[col * c + col];
            l[row * c + col] = factor;
            for k in col..c {
                u[row * c + k] -= factor * u[col * c + k];
            }
        }
    }
    for i in 0..c {
        l[i * c + i] = 1.0;
    }
    // Row `i` of the pivoted matrix is row `rows[i]` of `A`: A = Pᵀ-applied, so P[rows[i], i] = 1.
    let mut p = vec![0.0; c * c];
    for (i, &r) in rows.iter().enumerate() {
        p[r * c + i] = 1.0;
    }
    Ok((p, l, u))
}

/// The inverse of a row-major `C × C` matrix by Gauss–Jordan elimination in f64.
fn invert(a: &[f64], c: usize) -> Result<Vec<f64>> {
    let mut m = a.to_vec();
    let mut inv: Vec<f64> = (0..c * c).map(|k| if k / c == k % c { 1.0 } else { 0.0 }).collect();
    for col in 0..c {
        let pivot = (col..c)
            .max_by(|&i, &j| m[i * c + col].abs().total_cmp(&m[j * c + col].abs()))
            .unwrap_or(col);
        let p = m[pivot * c + col];
        if !(p.is_finite() && p != 0.0) {
            return Err(FlowError::NonInvertible {
                what: "1x1 convolution weight".into(),
                reason: "the matrix became singular or non-finite".into(),
            });
        }
        for k in 0..c {
            m.swap(col * c + k, pivot * c + k);
            inv.swap(col * c + k, pivot * c + k);
        }
        for k in 0..c {
            m[col * c + k] /= p;
            inv[col * c + k] /= p;
        }
        for row in 0..c {
            if row != col {
                let factor = m[row * c + col];
                for k in 0..c {
                    m[row * c + k] -= factor * m[col * c + k];
                    inv[row * c + k] -= factor * inv[col * c + k];
                }
            }
        }
    }
    Ok(inv)
}

impl<const D: usize> FlowLayer<D> for InvConv1x1 {
    fn forward(&self, x: Tensor<D>) -> Result<(Tensor<D>, Tensor<1>)> {
        self.check(&x)?;
        let dims = x.dims();
        Ok((Self::mix(x, self.weight()), self.log_det(dims)))
    }

    fn inverse(&self, y: Tensor<D>) -> Result<(Tensor<D>, Tensor<1>)> {
        self.check(&y)?;
        let dims = y.dims();
        let c = self.channels();
        let weight: Vec<f64> =
            medgen_core::read_values::<f32, 2, _>(self.weight(), "1x1 convolution weight")?
                .into_iter()
                .map(f64::from)
                .collect();
        let inverse = upload(&invert(&weight, c)?, [c, c], &y.device());
        Ok((Self::mix(y, inverse), self.log_det(dims).neg()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, host, test_input};

    #[test]
    fn vectors_and_images_are_exact() {
        let device = autodiff_device();
        let layer = InvConv1x1Config::new(3).with_init_std(0.5).init(&device).unwrap();
        check_layer::<2, _>(&layer, test_input([4, 3], &device), 1e-4);
        check_layer::<4, _>(&layer, test_input([2, 3, 2, 3], &device), 1e-4);
    }

    #[test]
    fn from_weight_reproduces_the_matrix() {
        let device = autodiff_device();
        let w = [0.0, 2.0, 1.0, -1.0, 0.5, 0.0, 3.0, 0.0, -2.0];
        let layer = InvConv1x1::from_weight(&w, 3, &device).unwrap();
        for (a, b) in host(layer.weight()).iter().zip(&w) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        check_layer::<2, _>(&layer, test_input([2, 3], &device), 1e-4);
    }

    #[test]
    fn singular_weight_is_not_invertible() {
        let device = autodiff_device();
        let singular = [1.0, 2.0, 2.0, 4.0];
        assert!(matches!(
            InvConv1x1::from_weight(&singular, 2, &device),
            Err(FlowError::NonInvertible { .. })
        ));
        assert!(InvConv1x1::from_weight(&[1.0, 0.0, f64::NAN, 1.0], 2, &device).is_err());
        assert!(InvConv1x1::from_weight(&[1.0, 0.0, 0.0], 2, &device).is_err());
    }
}

//! The conditional probability paths of flow matching (torchcfm's conditional flow matchers).

use burn::tensor::Tensor;
use medgen_core::CoreError;
use serde::{Deserialize, Serialize};
use std::f64::consts::FRAC_PI_2;

use super::item_scale::item_scale;
use crate::error::Result;

/// `t(1 − t)` is floored at this value in the Schrödinger-bridge velocity, as torchcfm adds
/// `1e-8` to its denominator, so that `t ∈ {0, 1}` gives a large finite velocity, not ±Inf.
const BRIDGE_VARIANCE_FLOOR: f64 = 1e-8;

/// A conditional probability path between a source sample `x₀` (noise) and a target sample
/// `x₁` (data), with optional Gaussian noise `ε ~ N(0, I)` of the same shape.
///
/// Every path is written as one affine form
///
/// ```text
/// x_t = a(t) x₀ + b(t) x₁ + s(t) ε,        u_t = ∂x_t/∂t = a'(t) x₀ + b'(t) x₁ + s'(t) ε,
/// ```
///
/// whose mean is `μ_t = a(t) x₀ + b(t) x₁` and whose standard deviation is `σ_t = s(t)`:
///
/// | variant | torchcfm class | `μ_t` | `σ_t` | `u_t` |
/// |---|---|---|---|---|
/// | [`Linear`](Self::Linear) | `ConditionalFlowMatcher` (I-CFM; OT-CFM with the OT coupling) | `t x₁ + (1−t) x₀` | `σ` | `x₁ − x₀` |
/// | [`Target`](Self::Target) | `TargetConditionalFlowMatcher` (Lipman et al.'s "FM") | `t x₁` | `1 − (1−σ_min) t` | `x₁ − (1−σ_min) x₀` |
/// | [`VariancePreserving`](Self::VariancePreserving) | `VariancePreservingConditionalFlowMatcher` | `cos(πt/2) x₀ + sin(πt/2) x₁` | `σ` | `π/2 (cos(πt/2) x₁ − sin(πt/2) x₀)` |
/// | [`SchrodingerBridge`](Self::SchrodingerBridge) | `SchrodingerBridgeConditionalFlowMatcher` | `t x₁ + (1−t) x₀` | `σ √(t(1−t))` | `(1−2t)/(2t(1−t)) (x_t − μ_t) + x₁ − x₀` |
///
/// For the target path the source sample `x₀ ~ N(0, I)` *is* the noise: `x_t = t x₁ + σ_t x₀`
/// (torchcfm draws that noise as its `ε`), and the conditional velocity
/// `(x₁ − (1−σ_min) x_t) / (1 − (1−σ_min) t)` simplifies to `x₁ − (1−σ_min) x₀`; no extra
/// `ε` is added. In the Schrödinger-bridge velocity `x_t − μ_t = σ_t ε`, so
/// `u_t = x₁ − x₀ + σ (1−2t) / (2 √(t(1−t))) ε`, with `t(1−t)` floored at `1e-8` as in
/// torchcfm.
///
/// Time runs from `t = 0` (noise) to `t = 1` (data). The tensors may have any rank `D`
/// (`[N, d]` vectors, `[N, C, H, W]` images, `[N, C, D, H, W]` volumes); `t` holds one time per
/// item.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ProbabilityPath {
    /// The straight path of I-CFM / OT-CFM with constant noise `σ ≥ 0`.
    Linear {
        /// The constant standard deviation `σ ≥ 0` around the straight line.
        sigma: f64,
    },
    /// Lipman et al.'s optimal-transport target path, `σ_min ∈ [0, 1]`.
    Target {
        /// The standard deviation `σ_min` left at `t = 1`.
        sigma_min: f64,
    },
    /// The variance-preserving (trigonometric) interpolant with constant noise `σ ≥ 0`.
    VariancePreserving {
        /// The constant standard deviation `σ ≥ 0` around the interpolant.
        sigma: f64,
    },
    /// The Brownian bridge of the Schrödinger-bridge CFM, noise scale `σ > 0`.
    SchrodingerBridge {
        /// The diffusion scale `σ > 0` (`σ_t = σ √(t(1−t))`).
        sigma: f64,
    },
}

impl burn::config::Config for ProbabilityPath {}

/// The coefficients of [`ProbabilityPath`]'s affine form at one time `t`:
/// `x_t = a x₀ + b x₁ + s ε` and `u_t = da x₀ + db x₁ + ds ε`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathCoefficients {
    /// `a(t)`, the weight of the source `x₀`.
    pub a: f64,
    /// `b(t)`, the weight of the target `x₁`.
    pub b: f64,
    /// `s(t) = σ_t`, the weight of the noise `ε`.
    pub s: f64,
    /// `a'(t)`.
    pub da: f64,
    /// `b'(t)`.
    pub db: f64,
    /// `s'(t)`.
    pub ds: f64,
}

/// A point `x_t` on a path and the conditional velocity `u_t` there, both of the batch's
/// shape.
#[derive(Clone, Debug)]
pub struct PathSample<const D: usize> {
    /// The location `x_t = μ_t + σ_t ε`.
    pub x_t: Tensor<D>,
    /// The regression target `u_t(x_t | x₀, x₁)`.
    pub u_t: Tensor<D>,
}

impl Default for ProbabilityPath {
    /// I-CFM without noise (`Linear { sigma: 0 }`), the rectified-flow path.
    fn default() -> Self {
        Self::Linear { sigma: 0.0 }
    }
}

impl ProbabilityPath {
    /// Checks the parameter: `σ ≥ 0` (`σ > 0` for the Schrödinger bridge), `σ_min ∈ [0, 1]`,
    /// finite. Fails with [`CoreError::InvalidConfig`].
    pub fn validate(&self) -> Result<()> {
        let (name, value, ok) = match *self {
            Self::Linear { sigma } | Self::VariancePreserving { sigma } => {
                ("sigma", sigma, sigma >= 0.0)
            }
            Self::Target { sigma_min } => {
                ("sigma_min", sigma_min, (0.0..=1.0).contains(&sigma_min))
            }
            Self::SchrodingerBridge { sigma } => ("sigma", sigma, sigma > 0.0),
        };
        if value.is_finite() && ok {
            Ok(())
        } else {
            let range = match self {
                Self::Target { .. } => "in [0, 1]",
                Self::SchrodingerBridge { .. } => "finite and > 0",
                _ => "finite and >= 0",
            };
            Err(CoreError::config(name, format!("must be {range}, got {value}")).into())
        }
    }

    /// Whether `x_t` depends on an extra noise sample `ε` (`σ_t ≢ 0`).
    pub fn uses_noise(&self) -> bool {
        match *self {
            Self::Linear { sigma } | Self::VariancePreserving { sigma } => sigma > 0.0,
            Self::Target { .. } => false,
            Self::SchrodingerBridge { .. } => true,
        }
    }

    /// The coefficients of the affine form (see the [type documentation](Self)) at time `t`.
    pub fn coefficients(&self, t: f64) -> PathCoefficients {
        match *self {
            Self::Linear { sigma } => {
                PathCoefficients { a: 1.0 - t, b: t, s: sigma, da: -1.0, db: 1.0, ds: 0.0 }
            }
            Self::Target { sigma_min } => PathCoefficients {
                a: 1.0 - (1.0 - sigma_min) * t,
                b: t,
                s: 0.0,
                da: -(1.0 - sigma_min),
                db: 1.0,
                ds: 0.0,
            },
            Self::VariancePreserving { sigma } => {
                let (sin, cos) = (FRAC_PI_2 * t).sin_cos();
                PathCoefficients {
                    a: cos,
                    b: sin,
                    s: sigma,
                    da: -FRAC_PI_2 * sin,
                    db: FRAC_PI_2 * cos,
                    ds: 0.0,
                }
            }
            Self::SchrodingerBridge { sigma } => {
                let variance = (t * (1.0 - t)).max(0.0);
                let floored = variance.max(BRIDGE_VARIANCE_FLOOR);
                PathCoefficients {
                    a: 1.0 - t,
                    b: t,
                    s: sigma * variance.sqrt(),
                    da: -1.0,
                    db: 1.0,
                    ds: sigma * (1.0 - 2.0 * t) / (2.0 * floored.sqrt()),
                }
            }
        }
    }

    /// The mean `μ_t = a(t) x₀ + b(t) x₁` for one time per item (`times.len() = N`).
    ///
    /// # Errors
    /// See [`ProbabilityPath::sample`].
    pub fn mean<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        times: &[f64],
    ) -> Result<Tensor<D>> {
        self.check_inputs(&x0, &x1, None, times)?;
        let coefficients = self.coefficients_of(times);
        Ok(combine(&coefficients, x0, x1, None, |c| (c.a, c.b, c.s)))
    }

    /// The standard deviation `σ_t` at time `t`.
    pub fn std(&self, t: f64) -> f64 {
        self.coefficients(t).s
    }

    /// Samples the location `x_t = μ_t + σ_t ε` and the conditional flow `u_t` for source
    /// `x₀`, target `x₁` and noise `ε` (all `[N, …]` of one shape; `ε` may be `None` for paths
    /// with `σ_t ≡ 0`) at one time per item `times` (`[N]`, in `[0, 1]`) (torchcfm's
    /// `sample_location_and_conditional_flow`, with the noise passed in).
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] for mismatched shapes or a wrong number of times,
    /// [`CoreError::Empty`] for an empty batch, [`CoreError::InvalidConfig`] for an invalid
    /// path, a time outside `[0, 1]`, or a missing `ε` on a noisy path.
    pub fn sample<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        noise: Option<Tensor<D>>,
        times: &[f64],
    ) -> Result<PathSample<D>> {
        self.check_inputs(&x0, &x1, noise.as_ref(), times)?;
        let noise = match noise {
            Some(noise) => Some(noise),
            None if self.uses_noise() => {
                return Err(CoreError::config(
                    "noise",
                    "this path has σ_t > 0 and needs a noise sample ε",
                )
                .into());
            }
            None => None,
        };
        let coefficients = self.coefficients_of(times);
        let x_t =
            combine(&coefficients, x0.clone(), x1.clone(), noise.clone(), |c| (c.a, c.b, c.s));
        let u_t = combine(&coefficients, x0, x1, noise, |c| (c.da, c.db, c.ds));
        Ok(PathSample { x_t, u_t })
    }

    fn coefficients_of(&self, times: &[f64]) -> Vec<PathCoefficients> {
        times.iter().map(|&t| self.coefficients(t)).collect()
    }

    fn check_inputs<const D: usize>(
        &self,
        x0: &Tensor<D>,
        x1: &Tensor<D>,
        noise: Option<&Tensor<D>>,
        times: &[f64],
    ) -> Result<()> {
        self.validate()?;
        let dims = x0.dims();
        medgen_core::check::ensure_non_empty(&dims, "source batch x0")?;
        medgen_core::check::ensure_shape(&x1.dims(), &dims, "target batch x1")?;
        if let Some(noise) = noise {
            medgen_core::check::ensure_shape(&noise.dims(), &dims, "path noise ε")?;
        }
        if times.len() != dims[0] {
            return Err(CoreError::shape(
                "times",
                format!("one time per item ([{}])", dims[0]),
                &[times.len()],
            )
            .into());
        }
        if let Some(t) = times.iter().find(|t| !(0.0..=1.0).contains(*t)) {
            return Err(CoreError::config("t", format!("must lie in [0, 1], got {t}")).into());
        }
        Ok(())
    }
}

/// `Σ` of per-item coefficients `(α, β, γ) = pick(c)` times `x₀`, `x₁` and `ε`.
fn combine<const D: usize>(
    coefficients: &[PathCoefficients],
    x0: Tensor<D>,
    x1: Tensor<D>,
    noise: Option<Tensor<D>>,
    pick: impl Fn(&PathCoefficients) -> (f64, f64, f64),
) -> Tensor<D> {
    let device = x0.device();
    let column = |k: usize| -> Vec<f64> {
        coefficients
            .iter()
            .map(|c| {
                let (alpha, beta, gamma) = pick(c);
                [alpha, beta, gamma][k]
            })
            .collect()
    };
    let mut out =
        x0.mul(item_scale(&column(0), &device)).add(x1.mul(item_scale(&column(1), &device)));
    if let Some(noise) = noise {
        out = out.add(noise.mul(item_scale(&column(2), &device)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::noise::gaussian_noise;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn all_paths() -> [ProbabilityPath; 5] {
        [
            ProbabilityPath::Linear { sigma: 0.0 },
            ProbabilityPath::Linear { sigma: 0.3 },
            ProbabilityPath::Target { sigma_min: 0.05 },
            ProbabilityPath::VariancePreserving { sigma: 0.2 },
            ProbabilityPath::SchrodingerBridge { sigma: 0.5 },
        ]
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    /// `u_t` against the central difference `(x_{t+h} − x_{t−h}) / 2h` with `x₀, x₁, ε` fixed,
    /// on a batch of any rank.
    fn check_velocity_is_time_derivative<const D: usize>(shape: [usize; D]) {
        let device = test_device();
        let mut rng = seeded_rng(2);
        let x0 = gaussian_noise(shape, &mut rng, &device).unwrap();
        let x1 = gaussian_noise(shape, &mut rng, &device).unwrap();
        let noise = gaussian_noise(shape, &mut rng, &device).unwrap();
        let times: Vec<f64> = [0.2, 0.5, 0.7, 0.9].into_iter().cycle().take(shape[0]).collect();
        let h = 1e-2;
        let shifted = |dt: f64| times.iter().map(|t| t + dt).collect::<Vec<_>>();
        for path in all_paths() {
            let at =
                |ts: &[f64]| path.sample(x0.clone(), x1.clone(), Some(noise.clone()), ts).unwrap();
            let u = values(at(&times).u_t);
            let ahead = values(at(&shifted(h)).x_t);
            let behind = values(at(&shifted(-h)).x_t);
            for ((u, a), b) in u.iter().zip(&ahead).zip(&behind) {
                let fd = (a - b) / (2.0 * h as f32);
                assert!((u - fd).abs() < 3e-3 * (1.0 + u.abs()), "{path:?}: u_t {u} vs {fd}");
            }
        }
    }

    #[test]
    fn conditional_velocity_is_the_time_derivative_of_the_path() {
        check_velocity_is_time_derivative([4, 3]);
    }

    #[test]
    fn paths_work_on_volumes() {
        check_velocity_is_time_derivative([2, 1, 2, 2, 2]);
    }

    #[test]
    fn coefficient_derivatives_match_finite_differences() {
        let h = 1e-6;
        for path in all_paths() {
            for t in [0.1, 0.35, 0.5, 0.8] {
                let c = path.coefficients(t);
                let (p, m) = (path.coefficients(t + h), path.coefficients(t - h));
                let fd = |f: fn(&PathCoefficients) -> f64| (f(&p) - f(&m)) / (2.0 * h);
                assert!((c.da - fd(|c| c.a)).abs() < 1e-6, "{path:?} a'");
                assert!((c.db - fd(|c| c.b)).abs() < 1e-6, "{path:?} b'");
                assert!((c.ds - fd(|c| c.s)).abs() < 1e-6, "{path:?} s'");
            }
        }
    }

    #[test]
    fn means_and_standard_deviations_follow_torchcfm() {
        let device = test_device();
        let x0 = Tensor::<2>::from_floats([[1.0, -2.0]], &device);
        let x1 = Tensor::<2>::from_floats([[3.0, 4.0]], &device);
        let t = 0.25;
        let mean = |path: ProbabilityPath| values(path.mean(x0.clone(), x1.clone(), &[t]).unwrap());
        let linear = mean(ProbabilityPath::Linear { sigma: 0.1 });
        assert!((linear[0] - 1.5).abs() < 1e-6 && (linear[1] - -0.5).abs() < 1e-6);
        // Target path: μ_t = t x₁ plus the noise term σ_t x₀.
        let target = ProbabilityPath::Target { sigma_min: 0.1 };
        let sigma_t = 1.0 - 0.9 * t;
        let got = mean(target);
        assert!((got[0] as f64 - (t * 3.0 + sigma_t)).abs() < 1e-6);
        let vp = mean(ProbabilityPath::VariancePreserving { sigma: 0.0 });
        let (s, c) = (std::f64::consts::FRAC_PI_8.sin(), std::f64::consts::FRAC_PI_8.cos());
        assert!((vp[0] as f64 - (c + 3.0 * s)).abs() < 1e-6);
        let bridge = ProbabilityPath::SchrodingerBridge { sigma: 2.0 };
        assert!((bridge.std(t) - 2.0 * (t * (1.0 - t)).sqrt()).abs() < 1e-12);
        assert_eq!(ProbabilityPath::Linear { sigma: 0.3 }.std(0.9), 0.3);
        // Target path at t = 1 leaves σ_min x₀; the bridge at t ∈ {0, 1} stays finite.
        let end = values(target.sample(x0.clone(), x1.clone(), None, &[1.0]).unwrap().x_t);
        assert!((end[0] - 3.1).abs() < 1e-6 && (end[1] - 3.8).abs() < 1e-6);
        let edge = bridge.sample(x0.clone(), x1.clone(), Some(x0.clone()), &[0.0]).unwrap();
        assert!(values(edge.u_t).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        use crate::FlowError;
        let device = test_device();
        let x = Tensor::<2>::zeros([2, 3], &device);
        let linear = ProbabilityPath::Linear { sigma: 0.0 };
        let config_error = |r: Result<PathSample<2>>| {
            matches!(r, Err(FlowError::Core(CoreError::InvalidConfig { .. })))
        };
        for bad in [
            ProbabilityPath::Linear { sigma: -0.1 },
            ProbabilityPath::Target { sigma_min: 1.5 },
            ProbabilityPath::VariancePreserving { sigma: f64::NAN },
            ProbabilityPath::SchrodingerBridge { sigma: 0.0 },
        ] {
            assert!(bad.validate().is_err());
            assert!(config_error(bad.sample(x.clone(), x.clone(), Some(x.clone()), &[0.5, 0.5])));
        }
        assert!(config_error(linear.sample(x.clone(), x.clone(), None, &[0.5, 1.5])));
        assert!(config_error(ProbabilityPath::Linear { sigma: 0.1 }.sample(
            x.clone(),
            x.clone(),
            None,
            &[0.5, 0.5]
        )));
        let other = Tensor::<2>::zeros([2, 4], &device);
        assert!(matches!(
            linear.sample(x.clone(), other, None, &[0.5, 0.5]),
            Err(FlowError::Core(CoreError::ShapeMismatch { .. }))
        ));
        assert!(linear.sample(x.clone(), x.clone(), None, &[0.5]).is_err());
        let empty = Tensor::<2>::zeros([0, 3], &device);
        assert!(matches!(
            linear.sample(empty.clone(), empty, None, &[]),
            Err(FlowError::Core(CoreError::Empty { .. }))
        ));
    }
}

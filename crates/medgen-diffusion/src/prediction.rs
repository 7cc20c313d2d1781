//! What the denoising network predicts, and the conversions between its output, the clean
//! sample `x₀` and the noise `ε`.
//!
//! With `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`, any one of `ε`, `x₀` or the velocity
//! `v = √ᾱ_t ε − √(1−ᾱ_t) x₀` determines the other two given `x_t`.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};

/// The quantity a diffusion network is trained to output (diffusers' `prediction_type`; the
/// serialised names are diffusers' strings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PredictionType {
    /// The noise `ε` (Ho et al., 2020). diffusers: `"epsilon"`.
    #[default]
    #[serde(rename = "epsilon")]
    Epsilon,
    /// The velocity `v = √ᾱ_t ε − √(1−ᾱ_t) x₀` (Salimans & Ho, 2022). diffusers:
    /// `"v_prediction"`.
    #[serde(rename = "v_prediction")]
    VPrediction,
    /// The clean sample `x₀`. diffusers: `"sample"`.
    #[serde(rename = "sample")]
    Sample,
}

/// The clean sample and the noise implied by one model output.
#[derive(Clone, Debug)]
pub struct Denoised<const D: usize> {
    /// The predicted clean sample `x̂₀`, shaped like the sample.
    pub x0: Tensor<D>,
    /// The predicted noise `ε̂`, shaped like the sample.
    pub epsilon: Tensor<D>,
}

impl PredictionType {
    /// The predicted clean sample `x̂₀` from the network output `y` at a sample `x_t` with
    /// cumulative signal `ᾱ_t = alpha_cumprod` (shapes: `y` and `x_t` alike, any rank):
    ///
    /// - epsilon: `x̂₀ = (x_t − √(1−ᾱ_t) y) / √ᾱ_t`
    /// - v: `x̂₀ = √ᾱ_t x_t − √(1−ᾱ_t) y`
    /// - sample: `x̂₀ = y`
    ///
    /// Fails with [`DiffusionError::NoSignalLeft`] for an epsilon prediction at `ᾱ_t = 0`
    /// (`timestep` only names the step in that error).
    pub fn x0<const D: usize>(
        self,
        model_output: Tensor<D>,
        sample: Tensor<D>,
        alpha_cumprod: f64,
        timestep: usize,
    ) -> Result<Tensor<D>> {
        let (signal, noise) = (alpha_cumprod.sqrt(), (1.0 - alpha_cumprod).sqrt());
        Ok(match self {
            Self::Epsilon => {
                if signal == 0.0 {
                    return Err(DiffusionError::NoSignalLeft { timestep });
                }
                sample.sub(model_output.mul_scalar(noise)).div_scalar(signal)
            }
            Self::VPrediction => sample.mul_scalar(signal).sub(model_output.mul_scalar(noise)),
            Self::Sample => model_output,
        })
    }

    /// Both `x̂₀` ([`PredictionType::x0`]) and the noise `ε̂`, as diffusers' DDIM computes them:
    ///
    /// - epsilon: `ε̂ = y`
    /// - v: `ε̂ = √ᾱ_t y + √(1−ᾱ_t) x_t`
    /// - sample: `ε̂ = (x_t − √ᾱ_t x̂₀) / √(1−ᾱ_t)` ([`epsilon_from_x0`])
    ///
    /// Besides the errors of [`PredictionType::x0`], fails with
    /// [`DiffusionError::NoNoiseLeft`] for a sample prediction at `ᾱ_t = 1`.
    pub fn denoise<const D: usize>(
        self,
        model_output: Tensor<D>,
        sample: Tensor<D>,
        alpha_cumprod: f64,
        timestep: usize,
    ) -> Result<Denoised<D>> {
        let x0 = self.x0(model_output.clone(), sample.clone(), alpha_cumprod, timestep)?;
        let epsilon = match self {
            Self::Epsilon => model_output,
            Self::VPrediction => model_output
                .mul_scalar(alpha_cumprod.sqrt())
                .add(sample.mul_scalar((1.0 - alpha_cumprod).sqrt())),
            Self::Sample if alpha_cumprod >= 1.0 => {
                return Err(DiffusionError::NoNoiseLeft { timestep });
            }
            Self::Sample => epsilon_from_x0(sample, x0.clone(), alpha_cumprod),
        };
        Ok(Denoised { x0, epsilon })
    }

    /// The training target for this prediction type, given the clean sample `x₀`, the noise
    /// `ε` and `ᾱ_t`: `ε`, `v = √ᾱ_t ε − √(1−ᾱ_t) x₀`, or `x₀` (any rank, all shapes alike).
    pub fn target<const D: usize>(
        self,
        x0: Tensor<D>,
        noise: Tensor<D>,
        alpha_cumprod: f64,
    ) -> Tensor<D> {
        match self {
            Self::Epsilon => noise,
            Self::VPrediction => velocity(x0, noise, alpha_cumprod),
            Self::Sample => x0,
        }
    }
}

/// The noise implied by a clean-sample estimate: `ε̂ = (x_t − √ᾱ_t x̂₀) / √(1−ᾱ_t)`
/// (shapes alike, any rank; requires `ᾱ_t < 1`, true of every schedule timestep).
pub fn epsilon_from_x0<const D: usize>(
    sample: Tensor<D>,
    x0: Tensor<D>,
    alpha_cumprod: f64,
) -> Tensor<D> {
    sample.sub(x0.mul_scalar(alpha_cumprod.sqrt())).div_scalar((1.0 - alpha_cumprod).sqrt())
}

/// The velocity `v = √ᾱ_t ε − √(1−ᾱ_t) x₀` (diffusers' `get_velocity`; shapes alike).
pub fn velocity<const D: usize>(x0: Tensor<D>, noise: Tensor<D>, alpha_cumprod: f64) -> Tensor<D> {
    noise.mul_scalar(alpha_cumprod.sqrt()).sub(x0.mul_scalar((1.0 - alpha_cumprod).sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use medgen_testing::test_device;

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        a.sub(b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn every_prediction_type_recovers_x0_and_noise() {
        let device = test_device();
        let x0 = Tensor::<4>::random([2, 1, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let noise = Tensor::<4>::random([2, 1, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let abar: f64 = 0.3;
        let xt = x0
            .clone()
            .mul_scalar(abar.sqrt())
            .add(noise.clone().mul_scalar((1.0f64 - abar).sqrt()));
        for kind in [PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample] {
            let output = kind.target(x0.clone(), noise.clone(), abar);
            let got = kind.denoise(output, xt.clone(), abar, 7).unwrap();
            assert!(max_diff(got.x0, x0.clone()) < 1e-5, "{kind:?} x0");
            assert!(max_diff(got.epsilon, noise.clone()) < 1e-5, "{kind:?} eps");
        }
    }

    #[test]
    fn velocity_is_the_rotation_of_signal_and_noise() {
        let device = test_device();
        let x0 = Tensor::<4>::from_floats([[[[1.0, 0.0]]]], &device);
        let noise = Tensor::<4>::from_floats([[[[0.0, 1.0]]]], &device);
        // ᾱ = 1/4: v = ½ ε − (√3/2) x₀.
        let v = velocity(x0, noise, 0.25).into_data().try_to_vec::<f32>().unwrap();
        assert!((v[0] + 3f32.sqrt() / 2.0).abs() < 1e-6);
        assert!((v[1] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn epsilon_prediction_without_signal_is_an_error() {
        let device = test_device();
        let x = Tensor::<4>::ones([1, 1, 2, 2], &device);
        let err = PredictionType::Epsilon.x0(x.clone(), x.clone(), 0.0, 999);
        assert!(matches!(err, Err(DiffusionError::NoSignalLeft { timestep: 999 })));
        let err = PredictionType::Sample.denoise(x.clone(), x, 1.0, 1);
        assert!(matches!(err, Err(DiffusionError::NoNoiseLeft { timestep: 1 })));
    }
}

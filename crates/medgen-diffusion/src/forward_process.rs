//! The forward (noising) process `q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I)` on batches with one
//! timestep per item, and the velocity target.

use burn::tensor::{Tensor, TensorData};

use crate::error::{DiffusionError, Result};
use crate::schedule::NoiseSchedule;

impl NoiseSchedule {
    /// diffusers' `add_noise`: `x_t[n] = √ᾱ_{t_n} x₀[n] + √(1−ᾱ_{t_n}) ε[n]` for a batch
    /// `x₀`, `ε` (`[N, C, ...]`, same shape, any rank) and one timestep per item
    /// (`timesteps.len() = N`). The `2N` coefficients are computed on the host and uploaded
    /// once.
    ///
    /// Errors: [`DiffusionError::TimestepOutOfRange`], and a shape error when `ε` differs from
    /// `x₀` or `timesteps` does not have one entry per item.
    pub fn add_noise<const D: usize>(
        &self,
        original_samples: Tensor<D>,
        noise: Tensor<D>,
        timesteps: &[usize],
    ) -> Result<Tensor<D>> {
        let (signal, sigma) = self.per_item(&original_samples, &noise, timesteps)?;
        Ok(original_samples.mul(signal).add(noise.mul(sigma)))
    }

    /// diffusers' `get_velocity`: `v[n] = √ᾱ_{t_n} ε[n] − √(1−ᾱ_{t_n}) x₀[n]` (same inputs
    /// and errors as [`NoiseSchedule::add_noise`]).
    pub fn get_velocity<const D: usize>(
        &self,
        sample: Tensor<D>,
        noise: Tensor<D>,
        timesteps: &[usize],
    ) -> Result<Tensor<D>> {
        let (signal, sigma) = self.per_item(&sample, &noise, timesteps)?;
        Ok(noise.mul(signal).sub(sample.mul(sigma)))
    }

    /// `√ᾱ_{t_n}` and `√(1−ᾱ_{t_n})` as `[N, 1, …, 1]` tensors that broadcast over an item.
    fn per_item<const D: usize>(
        &self,
        sample: &Tensor<D>,
        noise: &Tensor<D>,
        timesteps: &[usize],
    ) -> Result<(Tensor<D>, Tensor<D>)> {
        let dims = sample.dims();
        if noise.dims() != dims {
            return Err(medgen_core::CoreError::shape(
                "noise",
                format!("the sample's shape {dims:?}"),
                &noise.dims(),
            )
            .into());
        }
        if timesteps.len() != dims[0] {
            return Err(medgen_core::CoreError::shape(
                "timesteps",
                format!("one timestep per batch item ([{}])", dims[0]),
                &[timesteps.len()],
            )
            .into());
        }
        let alphas = timesteps
            .iter()
            .map(|&t| self.alpha_cumprod(t))
            .collect::<Result<Vec<f64>, DiffusionError>>()?;
        let mut shape = [1; D];
        shape[0] = dims[0];
        let upload = |f: fn(f64) -> f64| {
            let values: Vec<f32> = alphas.iter().map(|&a| f(a) as f32).collect();
            Tensor::<D>::from_data(TensorData::new(values, shape), &sample.device())
        };
        Ok((upload(f64::sqrt), upload(|a| (1.0 - a).sqrt())))
    }
}

#[cfg(test)]
mod tests {
    use crate::error::DiffusionError;
    use crate::schedule::ScheduleConfig;
    use burn::tensor::Tensor;
    use medgen_testing::test_device;

    #[test]
    fn add_noise_uses_each_items_timestep() {
        let device = test_device();
        let schedule = ScheduleConfig::new().init().unwrap();
        let x0 = Tensor::<4>::ones([2, 1, 2, 2], &device);
        let noise = Tensor::<4>::ones([2, 1, 2, 2], &device).mul_scalar(2.0);
        let xt = schedule
            .add_noise(x0.clone(), noise.clone(), &[10, 900])
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (item, t) in [(0, 10), (1, 900)] {
            let a = schedule.alphas_cumprod()[t];
            let expected = (a.sqrt() + 2.0 * (1.0 - a).sqrt()) as f32;
            assert!((xt[4 * item] - expected).abs() < 1e-6);
        }
        let v = schedule
            .get_velocity(x0.clone(), noise.clone(), &[10, 900])
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let a = schedule.alphas_cumprod()[900];
        assert!((v[4] - (2.0 * a.sqrt() - (1.0 - a).sqrt()) as f32).abs() < 1e-6);
        assert!(schedule.add_noise(x0.clone(), noise.clone(), &[1]).is_err());
        assert!(matches!(
            schedule.add_noise(x0, noise, &[1, 1000]),
            Err(DiffusionError::TimestepOutOfRange { .. })
        ));
    }
}

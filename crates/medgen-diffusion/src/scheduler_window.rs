//! A scheduler restricted to a contiguous window of its inference timesteps, so that a run can
//! start or stop part of the way: img2img and SDEdit start late, partial DDIM inversion stops
//! early, and anomaly detection denoises from an intermediate level `t_λ`.

use burn::tensor::Tensor;
use rand::Rng;

use crate::error::Result;
use crate::scheduler::{Scheduler, StepOutput, Timestep};

/// The timesteps `t_skip, …, t_{skip+take−1}` of a wrapped scheduler (all of them from `skip`
/// on when `take` is `None`; a window past the end is empty). Every step is the wrapped
/// scheduler's own step, so the previous-timestep rules are unchanged: stepping from the last
/// timestep of a window lands on the level of the wrapped scheduler's next timestep.
pub struct TimestepWindow<'a, S: ?Sized> {
    inner: &'a mut S,
    skip: usize,
    take: Option<usize>,
}

impl<'a, S: ?Sized> TimestepWindow<'a, S> {
    /// Wraps `inner` (its timesteps must be set before the window is sampled with), skipping
    /// its first `skip` timesteps and keeping at most `take` after them.
    pub fn new(inner: &'a mut S, skip: usize, take: Option<usize>) -> Self {
        Self { inner, skip, take }
    }
}

impl<const D: usize, S: Scheduler<D> + ?Sized> Scheduler<D> for TimestepWindow<'_, S> {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        self.inner.set_timesteps(num_inference_steps)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        let all = self.inner.timesteps();
        let start = self.skip.min(all.len());
        let end = self.take.map_or(all.len(), |take| start.saturating_add(take).min(all.len()));
        all[start..end].to_vec()
    }

    fn model_time(&self, timestep: Timestep) -> f64 {
        self.inner.model_time(timestep)
    }

    fn scale_model_input(&self, sample: Tensor<D>, timestep: Timestep) -> Tensor<D> {
        self.inner.scale_model_input(sample, timestep)
    }

    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        self.inner.step(model_output, timestep, sample, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddim::DdimSchedulerConfig;

    #[test]
    fn windows_select_contiguous_timesteps_and_clamp_at_the_end() {
        let mut ddim = DdimSchedulerConfig::new().init().unwrap();
        ddim.set_timesteps(10).unwrap();
        let all: Vec<Timestep> = Scheduler::<4>::timesteps(&ddim);
        let window = |skip, take| {
            Scheduler::<4>::timesteps(&TimestepWindow::new(&mut ddim.clone(), skip, take))
        };
        assert_eq!(window(0, None), all);
        assert_eq!(window(7, None), all[7..].to_vec());
        assert_eq!(window(2, Some(3)), all[2..5].to_vec());
        assert_eq!(window(8, Some(5)), all[8..].to_vec());
        assert!(window(12, Some(1)).is_empty());
    }
}

//! The timesteps a scheduler visits at inference, as diffusers' `set_timesteps` chooses them.

use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};

/// How `n` inference timesteps are spread over the `T` training timesteps (diffusers'
/// `timestep_spacing`; the serialised names are diffusers' strings). Timesteps are listed in
/// decreasing order, the order in which sampling visits them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimestepSpacing {
    /// `t_i = i · ⌊T/n⌋ + steps_offset` for `i = n−1 … 0` (DDIM paper; never reaches `T−1`
    /// without an offset). diffusers: `"leading"`.
    #[default]
    #[serde(rename = "leading")]
    Leading,
    /// `t_i = round(T − i · T/n) − 1` for `i = 0 … n−1` (always starts at `T−1`; Lin et al.,
    /// 2024). diffusers: `"trailing"`.
    #[serde(rename = "trailing")]
    Trailing,
    /// `t_i = round(linspace(0, T−1, n))` reversed (rounding half to even). diffusers:
    /// `"linspace"`.
    #[serde(rename = "linspace")]
    Linspace,
}

/// How the inference timesteps were chosen, which decides the "previous" timestep of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// `set_timesteps(n)`: diffusers' DDIM steps back by the stride `⌊T/n⌋`.
    Spaced {
        /// `⌊T/n⌋`.
        stride: usize,
    },
    /// A user-supplied list, or all `T` training timesteps.
    Listed,
}

/// A decreasing list of inference timesteps in `0..T`, with the rule that gives each one's
/// predecessor in the reverse process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferenceTimesteps {
    timesteps: Vec<usize>,
    origin: Origin,
}

impl InferenceTimesteps {
    /// All training timesteps `T−1, …, 0` (a DDPM scheduler's state before `set_timesteps`).
    pub fn all(num_train_timesteps: usize) -> Self {
        Self { timesteps: (0..num_train_timesteps).rev().collect(), origin: Origin::Listed }
    }

    /// `num_inference_steps` timesteps laid out by `spacing`, exactly as diffusers'
    /// `DDIMScheduler`/`DDPMScheduler.set_timesteps` (`steps_offset` is added for
    /// [`TimestepSpacing::Leading`] only).
    ///
    /// diffusers computes the trailing spacing with `numpy.arange(T, 0, −T/n)`, which for a few
    /// `n` (e.g. 985, 994, 995, 998 with `T = 1000`) yields one extra element that rounds to
    /// timestep −1; that element is dropped here, so exactly `n` timesteps remain.
    ///
    /// Fails with [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`, and with
    /// [`DiffusionError::TimestepOutOfRange`] if the offset pushes a timestep to `T` or beyond.
    pub fn spaced(
        spacing: TimestepSpacing,
        num_train_timesteps: usize,
        num_inference_steps: usize,
        steps_offset: usize,
    ) -> Result<Self> {
        let (t_max, n) = (num_train_timesteps, num_inference_steps);
        if n == 0 || n > t_max {
            return Err(DiffusionError::InvalidStepCount {
                requested: n,
                num_train_timesteps: t_max,
            });
        }
        let timesteps = match spacing {
            TimestepSpacing::Leading => {
                let ratio = t_max / n;
                (0..n).rev().map(|i| i * ratio + steps_offset).collect()
            }
            TimestepSpacing::Trailing => trailing(t_max, n),
            TimestepSpacing::Linspace => linspace(t_max, n),
        };
        let spaced = Self { timesteps, origin: Origin::Spaced { stride: t_max / n } };
        spaced.ensure_in_range(t_max)?;
        Ok(spaced)
    }

    /// A user-supplied list (diffusers' `set_timesteps(timesteps=[...])`): it must be non-empty,
    /// strictly decreasing and below `T`, else [`DiffusionError::InvalidTimesteps`].
    pub fn custom(timesteps: &[usize], num_train_timesteps: usize) -> Result<Self> {
        let invalid = |reason: &str| DiffusionError::InvalidTimesteps {
            timesteps: timesteps.to_vec(),
            reason: reason.into(),
        };
        if timesteps.is_empty() {
            return Err(invalid("the list is empty"));
        }
        if timesteps.windows(2).any(|w| w[1] >= w[0]) {
            return Err(invalid("timesteps must be strictly decreasing"));
        }
        if timesteps[0] >= num_train_timesteps {
            return Err(invalid(&format!(
                "timesteps must be below num_train_timesteps = {num_train_timesteps}"
            )));
        }
        Ok(Self { timesteps: timesteps.to_vec(), origin: Origin::Listed })
    }

    /// The timesteps, in the order sampling visits them (decreasing).
    pub fn as_slice(&self) -> &[usize] {
        &self.timesteps
    }

    /// The number of inference steps.
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    /// Whether there are no timesteps (never true for a constructed value).
    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// The timestep after `t` in this list (`None` after the last one, meaning "x₀").
    ///
    /// Fails with [`DiffusionError::InvalidTimesteps`] if `t` is not in the list
    /// (diffusers' DDPM rule for the previous timestep).
    pub fn next_in_list(&self, t: usize) -> Result<Option<usize>> {
        let index = self.timesteps.iter().position(|&s| s == t).ok_or_else(|| {
            DiffusionError::InvalidTimesteps {
                timesteps: self.timesteps.clone(),
                reason: format!("timestep {t} is not one of the inference timesteps"),
            }
        })?;
        Ok(self.timesteps.get(index + 1).copied())
    }

    /// diffusers' DDIM rule for the previous timestep: `t − ⌊T/n⌋` after `set_timesteps(n)`
    /// (`None` when negative, meaning "x₀"), and the next listed timestep for a custom list.
    pub fn ddim_previous(&self, t: usize) -> Result<Option<usize>> {
        match self.origin {
            Origin::Spaced { stride } => Ok(t.checked_sub(stride)),
            Origin::Listed => self.next_in_list(t),
        }
    }

    fn ensure_in_range(&self, num_train_timesteps: usize) -> Result<()> {
        match self.timesteps.iter().find(|&&t| t >= num_train_timesteps) {
            Some(&timestep) => {
                Err(DiffusionError::TimestepOutOfRange { timestep, num_train_timesteps })
            }
            None => Ok(()),
        }
    }
}

/// `round(numpy.arange(T, 0, −T/n)) − 1`, reproducing numpy's float64 arithmetic: the length
/// is `⌈T / (T/n)⌉` and element `i ≥ 2` is `T + i·δ'` with `δ' = (T − T/n) − T`.
/// Fails with [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`.
pub(crate) fn ensure_step_count(n: usize, num_train_timesteps: usize) -> Result<()> {
    if n == 0 || n > num_train_timesteps {
        return Err(DiffusionError::InvalidStepCount { requested: n, num_train_timesteps });
    }
    Ok(())
}

pub(crate) fn trailing(t_max: usize, n: usize) -> Vec<usize> {
    let start = t_max as f64;
    let delta = -(start / n as f64);
    let length = ((0.0 - start) / delta).ceil() as usize;
    let delta_filled = (start + delta) - start;
    (0..length)
        .map(|i| match i {
            0 => start,
            1 => start + delta,
            _ => start + i as f64 * delta_filled,
        })
        .map(|v| v.round_ties_even() as i64 - 1)
        .filter_map(|t| usize::try_from(t).ok())
        .take(n)
        .collect()
}

/// `round(numpy.linspace(0, T−1, n))` reversed: element `i` is `i · (T−1)/(n−1)` with the last
/// pinned to `T − 1`, rounded half to even.
fn linspace(t_max: usize, n: usize) -> Vec<usize> {
    if n == 1 {
        return vec![0];
    }
    let stop = (t_max - 1) as f64;
    let step = stop / (n - 1) as f64;
    (0..n)
        .rev()
        .map(|i| {
            let v = if i == n - 1 { stop } else { i as f64 * step };
            v.round_ties_even() as usize
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{DiffusersRefs, parse};

    #[test]
    fn spacings_match_diffusers_exactly() {
        let refs = DiffusersRefs::load();
        for (name, expected) in &refs.ddim_timesteps_25 {
            let spacing: TimestepSpacing = parse(name);
            let offset = usize::from(spacing == TimestepSpacing::Leading);
            let got = InferenceTimesteps::spaced(spacing, 1000, 25, offset).unwrap();
            assert_eq!(got.as_slice(), expected.as_slice(), "{name}");
        }
    }

    #[test]
    fn spacings_match_numpy_for_awkward_counts() {
        // Computed with numpy 2.4 as diffusers does.
        let trailing_7 = [999, 856, 713, 570, 428, 285, 142];
        let linspace_7 = [999, 832, 666, 500, 333, 166, 0];
        let got = InferenceTimesteps::spaced(TimestepSpacing::Trailing, 1000, 7, 0).unwrap();
        assert_eq!(got.as_slice(), trailing_7);
        let got = InferenceTimesteps::spaced(TimestepSpacing::Linspace, 1000, 7, 0).unwrap();
        assert_eq!(got.as_slice(), linspace_7);
        for n in [985, 994, 995, 998, 1000] {
            let got = InferenceTimesteps::spaced(TimestepSpacing::Trailing, 1000, n, 0).unwrap();
            assert_eq!(got.len(), n);
            assert_eq!(got.as_slice()[n - 1], 0, "n = {n}");
        }
        let one = InferenceTimesteps::spaced(TimestepSpacing::Linspace, 1000, 1, 0).unwrap();
        assert_eq!(one.as_slice(), [0]);
    }

    #[test]
    fn previous_timestep_rules() {
        let spaced = InferenceTimesteps::spaced(TimestepSpacing::Linspace, 1000, 25, 0).unwrap();
        // diffusers' DDIM steps back by T / n = 40 whatever the spacing.
        assert_eq!(spaced.ddim_previous(999).unwrap(), Some(959));
        assert_eq!(spaced.ddim_previous(0).unwrap(), None);
        assert_eq!(spaced.next_in_list(999).unwrap(), Some(957));
        assert_eq!(spaced.next_in_list(0).unwrap(), None);
        assert!(spaced.next_in_list(998).is_err());
        let custom = InferenceTimesteps::custom(&[900, 500, 20], 1000).unwrap();
        assert_eq!(custom.ddim_previous(500).unwrap(), Some(20));
        assert_eq!(InferenceTimesteps::all(3).as_slice(), [2, 1, 0]);
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        for n in [0, 1001] {
            let err = InferenceTimesteps::spaced(TimestepSpacing::Leading, 1000, n, 0);
            assert!(matches!(
                err,
                Err(DiffusionError::InvalidStepCount { requested, .. }) if requested == n
            ));
        }
        let err = InferenceTimesteps::spaced(TimestepSpacing::Leading, 1000, 1000, 1);
        assert!(matches!(err, Err(DiffusionError::TimestepOutOfRange { timestep: 1000, .. })));
        for list in [&[][..], &[5, 5][..], &[1, 2][..], &[1000, 3][..]] {
            assert!(matches!(
                InferenceTimesteps::custom(list, 1000),
                Err(DiffusionError::InvalidTimesteps { .. })
            ));
        }
    }
}

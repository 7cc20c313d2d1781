//! Time grids for fixed-step integration.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// The times `t_0, t_1, …, t_n` at which a fixed-step integrator evaluates the state; it takes
/// one step per interval `[t_i, t_{i+1}]`.
///
/// The grid may run backwards (`t_n < t_0`) but must be strictly monotone. Validation happens
/// when the grid is used ([`TimeGrid::validate`]), so a deserialised grid is checked too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TimeGrid {
    /// `steps` equal steps from `t0` to `t1`: `t_i = t0 + i (t1 - t0) / steps`, with `t_n = t1`
    /// exactly.
    Uniform {
        /// The initial time.
        t0: f64,
        /// The final time (may be smaller than `t0`).
        t1: f64,
        /// The number of steps `n >= 1`.
        steps: usize,
    },
    /// Explicit times `t_0, …, t_n` (at least two, finite, strictly increasing or strictly
    /// decreasing), e.g. the non-uniform schedules of diffusion samplers.
    Explicit(Vec<f64>),
}

impl TimeGrid {
    /// A validated uniform grid of `steps` steps over `[t0, t1]`.
    pub fn uniform(t0: f64, t1: f64, steps: usize) -> Result<Self> {
        let grid = Self::Uniform { t0, t1, steps };
        grid.validate()?;
        Ok(grid)
    }

    /// A validated grid through the given `times`.
    pub fn explicit(times: Vec<f64>) -> Result<Self> {
        let grid = Self::Explicit(times);
        grid.validate()?;
        Ok(grid)
    }

    /// Checks that the grid has at least one step and finite, strictly monotone times.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Uniform { t0, t1, steps } => {
                if *steps == 0 {
                    return Err(CoreError::config("steps", "must be at least 1"));
                }
                validate_interval(*t0, *t1)
            }
            Self::Explicit(times) => {
                if times.len() < 2 {
                    return Err(CoreError::config(
                        "times",
                        format!("need at least two times, got {}", times.len()),
                    ));
                }
                if let Some(bad) = times.iter().find(|t| !t.is_finite()) {
                    return Err(CoreError::config("times", format!("{bad} is not finite")));
                }
                let forward = times[1] > times[0];
                let monotone =
                    times.windows(2).all(|w| if forward { w[1] > w[0] } else { w[1] < w[0] });
                if monotone {
                    Ok(())
                } else {
                    Err(CoreError::config(
                        "times",
                        "must be strictly increasing or strictly decreasing",
                    ))
                }
            }
        }
    }

    /// The number of steps `n` (one fewer than the number of times).
    pub fn steps(&self) -> usize {
        match self {
            Self::Uniform { steps, .. } => *steps,
            Self::Explicit(times) => times.len().saturating_sub(1),
        }
    }

    /// The time `t_i`, `0 <= i <= n` (the last index gives the final time exactly), or `None`
    /// beyond the grid.
    pub fn time(&self, i: usize) -> Option<f64> {
        match self {
            Self::Uniform { t0, t1, steps } => match i.cmp(steps) {
                std::cmp::Ordering::Greater => None,
                std::cmp::Ordering::Equal => Some(*t1),
                std::cmp::Ordering::Less => Some(t0 + (t1 - t0) * (i as f64 / *steps as f64)),
            },
            Self::Explicit(times) => times.get(i).copied(),
        }
    }

    /// Every time `t_0, …, t_n` of a validated grid.
    ///
    /// # Errors
    /// Those of [`TimeGrid::validate`].
    pub fn times(&self) -> Result<Vec<f64>> {
        self.validate()?;
        Ok((0..=self.steps()).filter_map(|i| self.time(i)).collect())
    }

    /// The initial time `t_0`.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `times` for an explicit grid without times.
    pub fn start(&self) -> Result<f64> {
        self.time(0).ok_or_else(|| CoreError::config("times", "the grid has no times"))
    }

    /// The final time `t_n`.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `times` for an explicit grid without times.
    pub fn end(&self) -> Result<f64> {
        self.time(self.steps()).ok_or_else(|| CoreError::config("times", "the grid has no times"))
    }
}

/// Checks that `t0` and `t1` are finite and distinct (an integration interval of non-zero
/// length, in either direction).
pub(crate) fn validate_interval(t0: f64, t1: f64) -> Result<()> {
    if !t0.is_finite() || !t1.is_finite() {
        return Err(CoreError::config(
            "t0, t1",
            format!("integration bounds must be finite, got [{t0}, {t1}]"),
        ));
    }
    if t0 == t1 {
        return Err(CoreError::config(
            "t0, t1",
            format!("the integration interval [{t0}, {t1}] is empty"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_grid_hits_both_ends_exactly() {
        let grid = TimeGrid::uniform(1.0, 0.1, 3).unwrap();
        assert_eq!(grid.steps(), 3);
        assert_eq!(grid.start().unwrap(), 1.0);
        assert_eq!(grid.end().unwrap(), 0.1);
        assert!((grid.time(1).unwrap() - 0.7).abs() < 1e-15);
        assert!((grid.time(2).unwrap() - 0.4).abs() < 1e-15);
        assert_eq!(grid.time(4), None);
        assert_eq!(grid.times().unwrap().len(), 4);
        let empty = TimeGrid::Explicit(Vec::new());
        assert!(empty.start().is_err() && empty.end().is_err() && empty.times().is_err());
        assert_eq!(empty.time(0), None);
    }

    #[test]
    fn bad_grids_are_config_errors() {
        let is_config = |r: Result<TimeGrid>| matches!(r, Err(CoreError::InvalidConfig { .. }));
        assert!(is_config(TimeGrid::uniform(0.0, 1.0, 0)));
        assert!(is_config(TimeGrid::uniform(0.0, 0.0, 4)));
        assert!(is_config(TimeGrid::uniform(0.0, f64::NAN, 4)));
        assert!(is_config(TimeGrid::explicit(vec![0.0])));
        assert!(is_config(TimeGrid::explicit(vec![0.0, 0.5, 0.4, 1.0])));
        assert!(is_config(TimeGrid::explicit(vec![0.0, 0.5, 0.5])));
        assert!(is_config(TimeGrid::explicit(vec![0.0, f64::INFINITY])));
        assert!(TimeGrid::explicit(vec![1.0, 0.5, 0.0]).is_ok());
    }
}

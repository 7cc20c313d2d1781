//! Exponential moving average (EMA) of a model's weights.
//!
//! Diffusion models and GANs are sampled from an EMA of their weights rather than from the
//! raw weights: θ_ema ← d·θ_ema + (1 − d)·θ after each optimiser step. [`ModelEma`] keeps
//! that average as a second copy of the model, on the model's device and off the autodiff
//! graph, and pairs its parameters with the training model's by [`ParamId`].

use std::collections::HashMap;

use burn::config::Config;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use medgen_core::error::{CoreError, Result};

/// Configuration of an exponential moving average of model weights.
///
/// The `n`-th EMA update (`n = 1, 2, …`, counting only the calls of [`ModelEma::update`] that
/// do update, see `update_every`) uses the decay
///
/// ```text
/// k   = n − update_after − 1
/// d_n = 0                                  if k ≤ 0      (copy the weights)
/// d_n = min(decay, (1 + k) / (10 + k))     if warmup
/// d_n = decay                              otherwise
/// ```
///
/// which is the convention of diffusers' `EMAModel` (`update_after_step`, `use_ema_warmup =
/// false`), so a run can be compared number for number. The warm-up keeps the average from
/// being dominated by the random initial weights: with `decay = 0.9999` the effective decay
/// reaches 0.99 only after about 900 updates.
#[derive(Config, Debug, PartialEq)]
pub struct EmaConfig {
    /// The target decay `d` in `[0, 1]`; 0.9999 is usual for diffusion models.
    #[config(default = 0.9999)]
    pub decay: f64,
    /// Whether to ramp the decay up as `(1 + k) / (10 + k)`.
    #[config(default = true)]
    pub warmup: bool,
    /// Update the average only on every `update_every`-th call of [`ModelEma::update`] (≥ 1).
    #[config(default = 1)]
    pub update_every: usize,
    /// Number of EMA updates (beyond the first) that only copy the weights, as diffusers'
    /// `update_after_step`.
    #[config(default = 0)]
    pub update_after: usize,
}

impl EmaConfig {
    /// Checks that `decay ∈ [0, 1]` and `update_every ≥ 1`.
    pub fn validate(&self) -> Result<()> {
        if !(self.decay.is_finite() && (0.0..=1.0).contains(&self.decay)) {
            return Err(CoreError::config(
                "decay",
                format!("must lie in [0, 1], got {}", self.decay),
            ));
        }
        if self.update_every == 0 {
            return Err(CoreError::config("update_every", "must be at least 1"));
        }
        Ok(())
    }

    /// The decay `d_n` used by the `n`-th EMA update (1-based), see [`EmaConfig`].
    pub fn decay_for_update(&self, n: usize) -> f64 {
        let Some(k) = n.checked_sub(self.update_after + 1).filter(|&k| k > 0) else {
            return 0.0;
        };
        if self.warmup {
            let k = k as f64;
            self.decay.min((1.0 + k) / (10.0 + k))
        } else {
            self.decay
        }
    }

    /// Starts an average of `model`'s weights (a detached copy of `model`, see [`ModelEma`]).
    pub fn init<M: Module>(&self, model: &M) -> Result<ModelEma<M>> {
        ModelEma::resume(self.clone(), model.valid(), EmaState::default())
    }
}

/// The counters of a [`ModelEma`], saved in checkpoints so that the decay schedule resumes
/// where it stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmaState {
    /// Calls of [`ModelEma::update`] so far.
    pub calls: usize,
    /// EMA updates applied so far (`calls / update_every`).
    pub updates: usize,
}

/// An exponential moving average of a model's float parameters.
///
/// The average is a copy of the model made with [`Module::valid`]: its tensors live on the
/// model's (inner, non-autodiff) device, are never tracked by autodiff and never leave the
/// device; its training flags are off, so [`ModelEma::model`] is ready for sampling. Each
/// update runs `θ_ema ← d·θ_ema + (1 − d)·θ` as two scalar multiplications and an addition
/// per parameter, on the device. Integer and boolean parameters are left as they were copied.
#[derive(Debug, Clone)]
pub struct ModelEma<M: Module> {
    config: EmaConfig,
    ema: M,
    shapes: HashMap<ParamId, Vec<usize>>,
    state: EmaState,
}

impl<M: Module> ModelEma<M> {
    /// Rebuilds an average from a saved copy `ema` (e.g. loaded from a checkpoint) and its
    /// counters. `ema` is detached with [`Module::valid`].
    pub fn resume(config: EmaConfig, ema: M, state: EmaState) -> Result<Self> {
        config.validate()?;
        let ema = ema.valid();
        let shapes =
            collect_params(&ema).into_iter().map(|(id, param)| (id, param.shape)).collect();
        Ok(Self { config, ema, shapes, state })
    }

    /// Folds the current weights of `model` into the average; call it after every optimiser
    /// step. Returns whether this call updated the average (see `update_every`).
    ///
    /// Fails with [`CoreError::InvalidConfig`] or [`CoreError::ShapeMismatch`] (and leaves the
    /// average untouched) if `model` does not have the parameters the average was built from.
    pub fn update(&mut self, model: &M) -> Result<bool> {
        let calls = self.state.calls + 1;
        if !calls.is_multiple_of(self.config.update_every) {
            self.state.calls = calls;
            return Ok(false);
        }
        let mut params = collect_params(model);
        self.check_pairing(&params)?;
        self.state.calls = calls;
        let decay = self.config.decay_for_update(self.state.updates + 1);
        let mut blend = Blend { params: &mut params, decay };
        self.ema = self.ema.clone().map(&mut blend);
        self.state.updates += 1;
        Ok(true)
    }

    fn check_pairing(&self, params: &HashMap<ParamId, FlatParam>) -> Result<()> {
        for (id, shape) in &self.shapes {
            match params.get(id) {
                None => {
                    return Err(CoreError::config(
                        "model",
                        format!("has no parameter {id} of the EMA copy (shape {shape:?})"),
                    ));
                }
                Some(param) if &param.shape != shape => {
                    return Err(CoreError::shape(
                        format!("EMA parameter {id}"),
                        format!("{shape:?}"),
                        &param.shape,
                    ));
                }
                Some(_) => {}
            }
        }
        if params.len() != self.shapes.len() {
            return Err(CoreError::config(
                "model",
                format!(
                    "has {} float parameters, the EMA copy {}",
                    params.len(),
                    self.shapes.len()
                ),
            ));
        }
        Ok(())
    }

    /// The averaged model (validation mode, not tracked by autodiff).
    pub fn model(&self) -> &M {
        &self.ema
    }

    /// Consumes the average and returns the averaged model.
    pub fn into_model(self) -> M {
        self.ema
    }

    /// The configuration.
    pub fn config(&self) -> &EmaConfig {
        &self.config
    }

    /// The counters, for checkpoints (see [`ModelEma::resume`]).
    pub fn state(&self) -> EmaState {
        self.state
    }

    /// The decay the next EMA update will use.
    pub fn next_decay(&self) -> f64 {
        self.config.decay_for_update(self.state.updates + 1)
    }
}

/// A parameter flattened to rank 1, so parameters of every rank fit one map.
struct FlatParam {
    shape: Vec<usize>,
    values: Tensor<1>,
}

/// Collects every float parameter of `module`, detached from autodiff, keyed by id.
fn collect_params<M: Module>(module: &M) -> HashMap<ParamId, FlatParam> {
    struct Collect(HashMap<ParamId, FlatParam>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().inner();
            let shape = values.dims().to_vec();
            let values = values.reshape([shape.iter().product::<usize>()]);
            self.0.insert(param.id, FlatParam { shape, values });
        }
    }
    let mut collect = Collect(HashMap::new());
    module.visit(&mut collect);
    collect.0
}

/// Replaces each float parameter θ_ema by `d·θ_ema + (1 − d)·θ`.
struct Blend<'a> {
    params: &'a mut HashMap<ParamId, FlatParam>,
    decay: f64,
}

impl ModuleMapper for Blend<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(source) = self.params.remove(&param.id) else {
            return param;
        };
        let decay = self.decay;
        param.map(|ema| {
            let device = ema.device();
            let theta = source.values.reshape(ema.shape()).to_device(&device);
            if decay == 0.0 {
                theta
            } else {
                ema.mul_scalar(decay).add(theta.mul_scalar(1.0 - decay))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use medgen_testing::test_device;

    #[derive(Module, Debug)]
    struct Tiny {
        w: Param<Tensor<2>>,
        b: Param<Tensor<1>>,
    }

    impl Tiny {
        fn new(device: &Device) -> Self {
            Self {
                w: Param::from_tensor(Tensor::zeros([2, 2], device)),
                b: Param::from_tensor(Tensor::zeros([3], device)),
            }
        }

        /// The same parameters (same ids) holding the constants `w` and `b`.
        fn with_values(&self, w: f32, b: f32) -> Self {
            let device = self.w.val().device();
            Self {
                w: Param::initialized(self.w.id, Tensor::full([2, 2], w, &device)),
                b: Param::initialized(self.b.id, Tensor::full([3], b, &device)),
            }
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn decay_schedule_matches_diffusers() {
        let config = EmaConfig::new().with_decay(0.999);
        assert_eq!(config.decay_for_update(1), 0.0);
        assert!((config.decay_for_update(2) - 2.0 / 11.0).abs() < 1e-12);
        assert!((config.decay_for_update(5) - 5.0 / 14.0).abs() < 1e-12);
        assert_eq!(config.decay_for_update(1_000_000), 0.999);
        let delayed = config.clone().with_update_after(3);
        assert_eq!(delayed.decay_for_update(4), 0.0);
        assert!((delayed.decay_for_update(5) - 2.0 / 11.0).abs() < 1e-12);
        let flat = EmaConfig::new().with_decay(0.5).with_warmup(false);
        assert_eq!(flat.decay_for_update(1), 0.0);
        assert_eq!(flat.decay_for_update(2), 0.5);
    }

    #[test]
    fn average_equals_closed_form() {
        let device = test_device().autodiff();
        let base = Tiny::new(&device);
        let config = EmaConfig::new().with_decay(0.5).with_warmup(false).with_update_every(2);
        let mut ema = config.init(&base).unwrap();
        // Calls 1..=6 with weights w = call number; updates happen on calls 2, 4, 6.
        let mut applied = Vec::new();
        for call in 1..=6 {
            let model = base.with_values(call as f32, -(call as f32));
            applied.push(ema.update(&model).unwrap());
        }
        assert_eq!(applied, [false, true, false, true, false, true]);
        // Update 1 copies w = 2; update 2: 0.5·2 + 0.5·4 = 3; update 3: 0.5·3 + 0.5·6 = 4.5.
        let w = values(ema.model().w.val());
        let b = values(ema.model().b.val());
        assert!(w.iter().all(|&v| (v - 4.5).abs() < 1e-6), "{w:?}");
        assert!(b.iter().all(|&v| (v + 4.5).abs() < 1e-6), "{b:?}");
        assert_eq!(ema.state(), EmaState { calls: 6, updates: 3 });
        let ema_w = ema.model().w.val();
        assert!(!ema_w.is_autodiff() && !ema_w.is_require_grad());
    }

    #[test]
    fn warmup_average_equals_closed_form() {
        let device = test_device();
        let base = Tiny::new(&device);
        let config = EmaConfig::new().with_decay(0.9);
        let mut ema = config.init(&base).unwrap();
        let mut expected = 0.0f64;
        for n in 1..=4 {
            let theta = n as f64 * 1.5;
            ema.update(&base.with_values(theta as f32, 0.0)).unwrap();
            let d = config.decay_for_update(n);
            expected = d * expected + (1.0 - d) * theta;
        }
        let w = values(ema.model().w.val());
        assert!(w.iter().all(|&v| (v as f64 - expected).abs() < 1e-5));
    }

    #[test]
    fn foreign_model_is_rejected_without_changes() {
        let device = test_device();
        let mut ema = EmaConfig::new().init(&Tiny::new(&device)).unwrap();
        let other = Tiny::new(&device).with_values(1.0, 1.0);
        assert!(matches!(ema.update(&other), Err(CoreError::InvalidConfig { .. })));
        assert_eq!(ema.state(), EmaState::default());
        assert!(EmaConfig::new().with_decay(1.5).validate().is_err());
        assert!(EmaConfig::new().with_update_every(0).validate().is_err());
    }
}

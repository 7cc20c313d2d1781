//! A trained flow-matching model ready to sample: the velocity network, the ODE solver, the
//! guidance and the shape of one sample. It implements medgen-core's [`Sample`], the sampling
//! verb every family shares.

use burn::tensor::{Device, Tensor};
use medgen_core::noise::gaussian_noise;
use medgen_core::ode::OdeSolver;
use medgen_core::{
    ClassifierFreeGuidance, Condition, CoreError, GuidanceConfig, Sample, Samples, SeededRng,
    TimeConditionedNetwork,
};

use super::sampling::integrate_flow;
use crate::error::{FlowError, Result};

/// `x₀ ~ N(0, I)` of shape `[n, *sample_shape]` carried from `t = 0` to `t = 1` along
/// `dx/dt = v_θ(x, t, c)` (guided: `v_∅ + w (v_c − v_∅)`) by `solver`.
#[derive(Debug)]
pub struct FlowMatchingModel<N> {
    network: N,
    solver: OdeSolver,
    guidance: GuidanceConfig,
    sample_shape: Vec<usize>,
}

impl<N> FlowMatchingModel<N> {
    /// Packages `network` with `solver` and the shape of one sample (`[C, H, W]`, `[d]` for
    /// vectors); no guidance.
    ///
    /// # Errors
    /// The solver's configuration errors; [`CoreError::InvalidConfig`] naming `sample_shape`
    /// when it is empty or holds a zero.
    pub fn new(network: N, solver: OdeSolver, sample_shape: &[usize]) -> Result<Self> {
        solver.validate()?;
        if sample_shape.is_empty() || sample_shape.contains(&0) {
            return Err(CoreError::config(
                "sample_shape",
                format!("needs positive sizes, got {sample_shape:?}"),
            )
            .into());
        }
        Ok(Self {
            network,
            solver,
            guidance: GuidanceConfig::new(),
            sample_shape: sample_shape.to_vec(),
        })
    }

    /// The same model with classifier-free `guidance`.
    pub fn with_guidance(mut self, guidance: GuidanceConfig) -> Self {
        self.guidance = guidance;
        self
    }

    /// The velocity network.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// The ODE solver.
    pub fn solver(&self) -> &OdeSolver {
        &self.solver
    }
}

impl<const D: usize, N: TimeConditionedNetwork<D>> Sample<D> for FlowMatchingModel<N> {
    type Error = FlowError;

    /// Draws `x₀` from `rng` and integrates it to `t = 1`; `nfe` is the solver's count.
    fn sample(
        &self,
        n: usize,
        condition: &Condition<D>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Samples<D>> {
        let shape = medgen_core::check::batch_shape(n, &self.sample_shape, "sample_shape")?;
        let x0: Tensor<D> = gaussian_noise(shape, rng, device)?;
        let guided = ClassifierFreeGuidance::new(&self.network, self.guidance.clone())?;
        self.guidance.validate(condition)?;
        let out = integrate_flow(&guided, x0, condition, &self.solver, (0.0, 1.0))?;
        Ok(Samples { samples: out.sample, nfe: out.nfe })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn a_constant_field_shifts_the_noise_and_counts_evaluations() {
        let device = test_device();
        // v = 2: x₁ = x₀ + 2 exactly for any solver.
        let field =
            |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(x.ones_like().mul_scalar(2.0));
        let model = FlowMatchingModel::new(field, OdeSolver::Euler { steps: 4 }, &[3]).unwrap();
        let out = model.sample(5, &Condition::none(), &mut seeded_rng(1), &device).unwrap();
        assert_eq!(out.nfe, 4);
        let noise = gaussian_noise([5, 3], &mut seeded_rng(1), &device).unwrap();
        let err = out.samples.sub(noise.add_scalar(2.0)).abs().max().into_scalar::<f32>();
        assert!(err < 1e-5, "{err}");
    }

    #[test]
    fn bad_shapes_and_guidance_are_typed_errors() {
        let device = test_device();
        let field = |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(x);
        let err = FlowMatchingModel::new(field, OdeSolver::Euler { steps: 2 }, &[])
            .err()
            .expect("an empty sample shape is an error");
        assert!(err.to_string().contains("sample_shape"), "{err}");
        assert!(FlowMatchingModel::new(field, OdeSolver::Euler { steps: 0 }, &[2]).is_err());
        let guided = FlowMatchingModel::new(field, OdeSolver::Euler { steps: 2 }, &[2])
            .unwrap()
            .with_guidance(GuidanceConfig::new().with_scale(2.0));
        assert!(matches!(
            guided.sample(2, &Condition::none(), &mut seeded_rng(0), &device),
            Err(FlowError::Core(CoreError::GuidanceWithoutCondition { .. }))
        ));
    }
}

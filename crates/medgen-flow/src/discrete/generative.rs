//! medgen-core's [`Sample`] and [`LogDensity`] capabilities for the discrete flows.

use burn::tensor::{Device, Tensor};
use medgen_core::{
    Condition, CoreError, DensityKind, LogDensity, LogDensityValue, Sample, Samples, SeededRng,
};

use super::flow::Flow;
use super::glow::Glow;
use crate::error::{FlowError, Result};

/// The discrete flows are unconditional: any condition is an error.
fn ensure_unconditional<const D: usize>(condition: &Condition<D>) -> medgen_core::Result<()> {
    if condition.is_empty() {
        Ok(())
    } else {
        Err(CoreError::config("condition", "this flow is unconditional; pass Condition::none()"))
    }
}

impl Sample<2> for Flow {
    type Error = FlowError;

    /// `x = f⁻¹(z)`, `z` from the base distribution: one inverse pass (`nfe = 1`).
    fn sample(
        &self,
        n: usize,
        condition: &Condition<2>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Samples<2>> {
        ensure_unconditional(condition)?;
        Ok(Samples { samples: Flow::sample(self, n, rng, device)?, nfe: 1 })
    }
}

impl LogDensity<2> for Flow {
    type Error = FlowError;

    /// The exact log-density ([`DensityKind::Exact`]); `rng` is unused.
    fn log_density(
        &self,
        x: Tensor<2>,
        condition: &Condition<2>,
        _rng: &mut SeededRng,
    ) -> Result<LogDensityValue> {
        ensure_unconditional(condition)?;
        Ok(LogDensityValue { nats: self.log_prob(x)?, kind: DensityKind::Exact })
    }
}

impl Sample<4> for Glow {
    type Error = FlowError;

    /// `x = f⁻¹(z)`, `z` from the multi-scale base: one inverse pass (`nfe = 1`).
    fn sample(
        &self,
        n: usize,
        condition: &Condition<4>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Samples<4>> {
        ensure_unconditional(condition)?;
        Ok(Samples { samples: Glow::sample(self, n, rng, device)?, nfe: 1 })
    }
}

impl LogDensity<4> for Glow {
    type Error = FlowError;

    /// The exact log-density of `x` in the flow's (continuous) space
    /// ([`DensityKind::Exact`]); `rng` is unused. For 8-bit data use
    /// [`Glow::bits_per_dim`].
    fn log_density(
        &self,
        x: Tensor<4>,
        condition: &Condition<4>,
        _rng: &mut SeededRng,
    ) -> Result<LogDensityValue> {
        ensure_unconditional(condition)?;
        Ok(LogDensityValue { nats: self.log_prob(x)?, kind: DensityKind::Exact })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::RealNvpConfig;
    use crate::discrete::jacobian_check::{host, test_input};
    use burn::tensor::Int;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn traits_agree_with_the_inherent_methods() {
        let device = test_device();
        let flow = RealNvpConfig::new(2, 2, 8).init(&device).unwrap();
        let x = test_input([4, 2], &device);
        let value = flow.log_density(x.clone(), &Condition::none(), &mut seeded_rng(0)).unwrap();
        assert_eq!(value.kind, DensityKind::Exact);
        assert_eq!(host(value.nats), host(flow.log_prob(x.clone()).unwrap()));
        let drawn =
            Sample::sample(&flow, 5, &Condition::none(), &mut seeded_rng(1), &device).unwrap();
        assert_eq!(drawn.nfe, 1);
        assert_eq!(
            host(drawn.samples),
            host(Flow::sample(&flow, 5, &mut seeded_rng(1), &device).unwrap())
        );
        let labelled = Condition::none().with_class(Tensor::<1, Int>::zeros([4], &device));
        assert!(flow.log_density(x, &labelled, &mut seeded_rng(0)).is_err());
    }
}

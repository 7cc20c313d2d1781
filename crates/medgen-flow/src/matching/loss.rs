//! The conditional flow-matching loss and its training step.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use medgen_core::{Condition, CoreError, SeededRng, TimeConditionedNetwork};
use medgen_train::TrainingObjective;
use rand::{Rng, RngExt};

use super::coupling::Coupling;
use super::path::ProbabilityPath;
use super::sinkhorn::SinkhornConfig;
use crate::error::{FlowError, Result};

/// The settings of conditional flow matching (CFM): a [`ProbabilityPath`], a [`Coupling`] of
/// noise and data, and classifier-free-guidance condition dropout.
///
/// One training loss on a data batch `x₁` (`[N, …]`, any rank) draws, from the caller's
/// generator and in this order: the source `x₀ ~ N(0, I)` (unless given), the coupling's
/// pairs, times `tᵢ ~ U[0, 1)`, the path noise `ε ~ N(0, I)` (paths with `σ_t ≢ 0`) and the
/// items whose class/embedding condition is dropped (probability `p`); then
///
/// ```text
/// x_t = a(t) x₀ + b(t) x₁ + σ_t ε,   u_t = a'(t) x₀ + b'(t) x₁ + σ'_t ε
/// L = (1/N) Σᵢ ½ ‖v_θ(x_tᵢ, tᵢ, cᵢ) − u_tᵢ‖²
/// ```
///
/// (the squared norm sums over every element of an item; torchcfm's `mse_loss` is
/// `L / (½ · elements per item)`). The named constructors reproduce torchcfm's matchers.
#[derive(Config, Debug, PartialEq)]
pub struct FlowMatchingLossConfig {
    /// The conditional probability path.
    #[config(default = "ProbabilityPath::default()")]
    pub path: ProbabilityPath,
    /// The coupling of the noise and data batches.
    #[config(default = "Coupling::Independent")]
    pub coupling: Coupling,
    /// Classifier-free-guidance training: each item's class/embedding condition is replaced
    /// by the null condition with this probability `p ∈ [0, 1]`.
    #[config(default = 0.0)]
    pub condition_drop_prob: f64,
}

impl FlowMatchingLossConfig {
    /// I-CFM (torchcfm `ConditionalFlowMatcher(sigma)`): straight path, independent coupling.
    pub fn conditional(sigma: f64) -> Self {
        Self::new().with_path(ProbabilityPath::Linear { sigma })
    }

    /// OT-CFM (torchcfm `ExactOptimalTransportConditionalFlowMatcher(sigma)`): straight path,
    /// exact minibatch optimal-transport coupling.
    pub fn exact_optimal_transport(sigma: f64) -> Self {
        Self::conditional(sigma).with_coupling(Coupling::ExactOptimalTransport)
    }

    /// Lipman et al.'s flow matching (torchcfm `TargetConditionalFlowMatcher(sigma)`).
    pub fn target(sigma_min: f64) -> Self {
        Self::new().with_path(ProbabilityPath::Target { sigma_min })
    }

    /// The variance-preserving interpolant (torchcfm
    /// `VariancePreservingConditionalFlowMatcher(sigma)`), independent coupling.
    pub fn variance_preserving(sigma: f64) -> Self {
        Self::new().with_path(ProbabilityPath::VariancePreserving { sigma })
    }

    /// SB-CFM (torchcfm `SchrodingerBridgeConditionalFlowMatcher(sigma)`): Brownian-bridge
    /// path and Sinkhorn coupling with `ε = 2σ²`.
    pub fn schrodinger_bridge(sigma: f64) -> Self {
        Self::new()
            .with_path(ProbabilityPath::SchrodingerBridge { sigma })
            .with_coupling(Coupling::Sinkhorn(SinkhornConfig::new(2.0 * sigma * sigma)))
    }

    /// Checks the path, the coupling and `p ∈ [0, 1]`.
    pub fn validate(&self) -> Result<()> {
        self.path.validate()?;
        self.coupling.validate()?;
        if !(0.0..=1.0).contains(&self.condition_drop_prob) {
            return Err(CoreError::config(
                "condition_drop_prob",
                format!("must lie in [0, 1], got {}", self.condition_drop_prob),
            )
            .into());
        }
        Ok(())
    }

    /// Validates the settings and builds the loss.
    pub fn init(&self) -> Result<FlowMatchingLoss> {
        self.validate()?;
        Ok(FlowMatchingLoss { config: self.clone() })
    }
}

/// The conditional flow-matching loss (see [`FlowMatchingLossConfig`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowMatchingLoss {
    config: FlowMatchingLossConfig,
}

impl FlowMatchingLoss {
    /// The settings.
    pub fn config(&self) -> &FlowMatchingLossConfig {
        &self.config
    }

    /// `batch` times drawn independently from `U[0, 1)`.
    pub fn sample_times<R: Rng + ?Sized>(&self, batch: usize, rng: &mut R) -> Vec<f64> {
        (0..batch).map(|_| rng.random::<f64>()).collect()
    }

    /// `L = (1/N) Σᵢ ½ ‖predictionᵢ − targetᵢ‖²` over items of any rank (`[N, …]`, same
    /// shape), a `[1]` tensor differentiable through `prediction`.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] for different shapes, [`CoreError::Empty`] for an empty
    /// batch.
    pub fn loss<const D: usize>(
        &self,
        prediction: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<1>> {
        let dims = target.dims();
        medgen_core::check::ensure_non_empty(&dims, "flow-matching target u_t")?;
        medgen_core::check::ensure_shape(&prediction.dims(), &dims, "predicted velocity")?;
        let n = dims[0];
        Ok(prediction
            .sub(target)
            .square()
            .reshape([n as i64, -1])
            .sum_dim(1)
            .mean()
            .mul_scalar(0.5))
    }

    /// One flow-matching loss of `network` on data `x₁` (`[N, …]`, on the network's device)
    /// from Gaussian noise `x₀ ~ N(0, I)` drawn from `rng` (see [`FlowMatchingLossConfig`]).
    ///
    /// # Errors
    /// See [`FlowMatchingLoss::training_loss_pairs`].
    pub fn training_loss<const D: usize, N, R>(
        &self,
        network: &N,
        x1: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut R,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
        R: Rng + ?Sized,
    {
        medgen_core::check::ensure_non_empty(&x1.dims(), "data batch x1")?;
        let x0 = gaussian_like(&x1, rng)?;
        self.training_loss_pairs(network, x0, x1, condition, rng)
    }

    /// One flow-matching loss of `network` from source samples `x₀` to data `x₁` (batches of
    /// one shape `[N, …]`) with `condition` (batch `N`, travelling with `x₁` through the
    /// coupling, or empty); the coupling, times, path noise and condition dropout are drawn
    /// from `rng`. Both batches are checked once for NaN/Inf (one scalar read each).
    ///
    /// # Errors
    /// [`CoreError::Empty`], [`CoreError::ShapeMismatch`] (batches, condition),
    /// [`CoreError::NonFinite`] for NaN/Inf inputs, and the network's errors.
    pub fn training_loss_pairs<const D: usize, N, R>(
        &self,
        network: &N,
        x0: Tensor<D>,
        x1: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut R,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
        R: Rng + ?Sized,
    {
        let dims = x1.dims();
        medgen_core::check::ensure_non_empty(&dims, "data batch x1")?;
        medgen_core::check::ensure_shape(&x0.dims(), &dims, "source batch x0")?;
        let batch = dims[0];
        condition.ensure_batch_size(batch)?;
        medgen_core::check::ensure_finite(&x0, "source batch x0")?;
        medgen_core::check::ensure_finite(&x1, "data batch x1")?;
        let device = x1.device();
        let (x0, x1, pairs) = self.config.coupling.couple(x0, x1, rng)?;
        let condition = if pairs.is_identity() || condition.is_empty() {
            condition.clone()
        } else {
            condition.select(pairs.target_tensor(&device))
        };
        let times = self.sample_times(batch, rng);
        let noise =
            if self.config.path.uses_noise() { Some(gaussian_like(&x1, rng)?) } else { None };
        let condition =
            condition.dropped_for_guidance(batch, self.config.condition_drop_prob, rng, &device)?;
        let path = self.config.path.sample(x0, x1, noise, &times)?;
        let t: Vec<f32> = times.iter().map(|&t| t as f32).collect();
        let t = Tensor::<1>::from_data(burn::tensor::TensorData::new(t, [batch]), &device);
        let prediction = network.evaluate(path.x_t, t, &condition)?;
        self.loss(prediction, path.u_t)
    }
}

impl<const D: usize> TrainingObjective<D> for FlowMatchingLoss {
    type Error = FlowError;

    /// [`FlowMatchingLoss::training_loss`] with the trainer's generator.
    fn training_loss<N>(
        &self,
        network: &N,
        x1: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D>,
    {
        FlowMatchingLoss::training_loss(self, network, x1, condition, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlowError;
    use burn::tensor::Int;
    use medgen_core::noise::gaussian_noise;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;
    use std::cell::Cell;

    type Net<const D: usize> =
        fn(Tensor<D>, Tensor<1>, &Condition<D>) -> medgen_core::Result<Tensor<D>>;

    #[test]
    fn loss_is_half_the_summed_squared_error_averaged_over_items() {
        let device = test_device();
        let loss = FlowMatchingLossConfig::new().init().unwrap();
        let prediction = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], &device);
        let target = Tensor::<2>::from_floats([[1.0, 0.0, 3.0], [1.0, 1.0, 1.0]], &device);
        // Items: ½·4 = 2 and ½·3 = 1.5; mean 1.75.
        let value: f32 = loss.loss(prediction, target).unwrap().into_scalar();
        assert!((value - 1.75).abs() < 1e-6);
    }

    #[test]
    fn oracle_field_on_a_single_pair_has_zero_loss() {
        let device = test_device();
        let x0 = Tensor::<2>::from_floats([[0.5, -1.0]], &device);
        let x1 = Tensor::<2>::from_floats([[2.0, 3.0]], &device);
        let cases = [
            (FlowMatchingLossConfig::conditional(0.0), x1.clone().sub(x0.clone())),
            (FlowMatchingLossConfig::exact_optimal_transport(0.0), x1.clone().sub(x0.clone())),
            (FlowMatchingLossConfig::target(0.1), x1.clone().sub(x0.clone().mul_scalar(0.9))),
        ];
        for (config, velocity) in cases {
            let oracle = |_x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(velocity.clone());
            let loss = config.init().unwrap();
            let value: f32 = loss
                .training_loss_pairs(
                    &oracle,
                    x0.clone(),
                    x1.clone(),
                    &Condition::none(),
                    &mut seeded_rng(1),
                )
                .unwrap()
                .into_scalar();
            assert_eq!(value, 0.0, "{config:?}");
        }
    }

    #[test]
    fn linear_field_loss_matches_the_hand_computation() {
        // v(x, t) = x, x₀ = 0, x₁ = c: x_t = t c, u_t = c, so each item contributes
        // ½ (1 − t)² ‖c‖².
        let device = test_device();
        let c = [[1.0f32, 2.0], [-3.0, 0.5], [0.0, 4.0]];
        let x1 = Tensor::<2>::from_floats(c, &device);
        let x0 = x1.zeros_like();
        let loss = FlowMatchingLossConfig::conditional(0.0).init().unwrap();
        let identity: Net<2> = |x, _t, _c| Ok(x);
        let times = loss.sample_times(3, &mut seeded_rng(11));
        let expected: f64 = times
            .iter()
            .zip(c)
            .map(|(t, ci)| {
                let norm: f64 = ci.iter().map(|v| f64::from(*v).powi(2)).sum();
                0.5 * (1.0 - t).powi(2) * norm
            })
            .sum::<f64>()
            / 3.0;
        let value: f32 = loss
            .training_loss_pairs(&identity, x0, x1, &Condition::none(), &mut seeded_rng(11))
            .unwrap()
            .into_scalar();
        assert!((f64::from(value) - expected).abs() < 1e-5 * (1.0 + expected));
    }

    #[test]
    fn image_condition_travels_with_the_data_through_the_coupling() {
        // With σ = 0, u_t = (x₁ − x_t)/(1 − t): an oracle that reads x₁ from the image
        // condition is exact only if the condition is permuted with x₁.
        let device = test_device();
        let mut rng = seeded_rng(3);
        let x1 = gaussian_noise([6, 1, 2, 2], &mut rng, &device).unwrap().mul_scalar(3.0);
        let x0 = gaussian_noise([6, 1, 2, 2], &mut rng, &device).unwrap();
        let condition = Condition::none().with_image(x1.clone());
        let oracle: Net<4> = |x, t, c| {
            let image = c.image.clone().expect("image condition");
            let denominator = t.neg().add_scalar(1.0).reshape([-1, 1, 1, 1]);
            Ok(image.sub(x).div(denominator))
        };
        let loss = FlowMatchingLossConfig::exact_optimal_transport(0.0).init().unwrap();
        let value: f32 =
            loss.training_loss_pairs(&oracle, x0, x1, &condition, &mut rng).unwrap().into_scalar();
        assert!(value < 1e-6, "loss {value}");
    }

    #[test]
    fn condition_dropout_reaches_the_network() {
        let device = test_device();
        let kept = Cell::new(-1.0f32);
        let network = |x: Tensor<2>, _t: Tensor<1>, c: &Condition<2>| {
            kept.set(c.keep.clone().map_or(2.0, |k| k.sum().into_scalar()));
            Ok(x)
        };
        let labels = Tensor::<1, Int>::from_ints([0, 1, 2, 1], &device);
        let condition = Condition::none().with_class(labels);
        let x1 = Tensor::<2>::ones([4, 2], &device);
        for (p, expected) in [(0.0, 2.0), (1.0, 0.0)] {
            let loss = FlowMatchingLossConfig::conditional(0.1)
                .with_condition_drop_prob(p)
                .init()
                .unwrap();
            loss.training_loss(&network, x1.clone(), &condition, &mut seeded_rng(0)).unwrap();
            assert_eq!(kept.get(), expected, "p = {p}");
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let device = test_device();
        let loss = FlowMatchingLossConfig::conditional(0.0).init().unwrap();
        let identity: Net<2> = |x, _t, _c| Ok(x);
        let mut rng = seeded_rng(0);
        let x = Tensor::<2>::zeros([2, 3], &device);
        let core = |r: Result<Tensor<1>>| match r {
            Err(FlowError::Core(err)) => err,
            other => panic!("expected a core error, got {other:?}"),
        };
        let other = Tensor::<2>::zeros([2, 4], &device);
        assert!(matches!(
            core(loss.training_loss_pairs(
                &identity,
                x.clone(),
                other,
                &Condition::none(),
                &mut rng
            )),
            CoreError::ShapeMismatch { .. }
        ));
        let empty = Tensor::<2>::zeros([0, 3], &device);
        assert!(matches!(
            core(loss.training_loss(&identity, empty, &Condition::none(), &mut rng)),
            CoreError::Empty { .. }
        ));
        let nan = Tensor::<2>::from_floats([[0.0, f32::NAN, 0.0], [0.0; 3]], &device);
        assert!(matches!(
            core(loss.training_loss(&identity, nan, &Condition::none(), &mut rng)),
            CoreError::NonFinite { .. }
        ));
        let labels = Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 1, 2], &device));
        assert!(matches!(
            core(loss.training_loss(&identity, x.clone(), &labels, &mut rng)),
            CoreError::ShapeMismatch { .. }
        ));
        assert!(FlowMatchingLossConfig::conditional(-1.0).init().is_err());
        assert!(FlowMatchingLossConfig::schrodinger_bridge(0.0).init().is_err());
        assert!(FlowMatchingLossConfig::new().with_condition_drop_prob(1.5).init().is_err());
    }

    #[test]
    fn configurations_round_trip_through_json() {
        let config = FlowMatchingLossConfig::schrodinger_bridge(0.5).with_condition_drop_prob(0.1);
        let json = serde_json::to_string(&config).unwrap();
        let back: FlowMatchingLossConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
        assert_eq!(back.coupling, Coupling::Sinkhorn(SinkhornConfig::new(0.5)));
    }
}

//! Flow matching (Lipman et al., 2023; Tong et al., 2024): simulation-free training of a
//! continuous flow `dx/dt = v_θ(x, t, c)` that carries noise (`t = 0`) to data (`t = 1`),
//! with the probability paths and couplings of torchcfm.
//!
//! - [`ProbabilityPath`]: I-CFM's straight path (σ), Lipman's target path (σ_min), the
//!   variance-preserving interpolant and the Schrödinger-bridge path, each giving the location
//!   `x_t` and the conditional velocity `u_t`, on tensors of any rank.
//! - [`Coupling`]: independent, exact minibatch optimal transport ([`linear_sum_assignment`])
//!   and entropic optimal transport ([`SinkhornConfig`], [`TransportPlan`]).
//! - [`FlowMatchingLossConfig`] / [`FlowMatchingLoss`]: `½‖v_θ(x_t, t, c) − u_t‖²`, with
//!   condition dropout for classifier-free guidance and a [`Trainer`](medgen_train::Trainer)
//!   step.
//! - [`sample_flow`] / [`integrate_flow`]: sampling with any medgen-core ODE solver, reporting
//!   the NFE; [`ClassifierFreeGuidance`] guides any network
//!   (`v = v_∅ + w (v_c − v_∅)`).
//! - [`FlowMatchingModel`]: network + solver + guidance + sample shape, medgen-core's
//!   [`Sample`](medgen_core::Sample).
//! - [`flow_log_likelihood`]: the exact (or Hutchinson) log-likelihood of a trained model by
//!   the instantaneous change of variables, through [`crate::continuous`].
//!
//! ```
//! use medgen_core::burn::tensor::{Device, Tensor};
//! use medgen_core::{Condition, seeded_rng};
//! use medgen_flow::matching::{FlowMatchingLossConfig, ProbabilityPath};
//!
//! # fn main() -> medgen_flow::Result<()> {
//! let device = Device::default();
//! let loss = FlowMatchingLossConfig::exact_optimal_transport(0.0).init()?;
//! // A velocity field that ignores its input: v = 0, so L = ½ E‖x₁ − x₀‖².
//! let zero = |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| Ok(x.zeros_like());
//! let x1 = Tensor::<2>::ones([4, 3], &device);
//! let value = loss.training_loss(&zero, x1, &Condition::none(), &mut seeded_rng(0))?;
//! assert!(value.into_scalar::<f32>() > 0.0);
//! # let _ = ProbabilityPath::Target { sigma_min: 1e-4 };
//! # Ok(())
//! # }
//! ```

mod assignment;
mod cost;
mod coupling;
mod item_scale;
mod likelihood;
mod loss;
mod model;
mod path;
mod sampling;
mod sinkhorn;
mod transport_plan;

pub use assignment::{assignment_cost, linear_sum_assignment};
pub use cost::CostMatrix;
pub use coupling::{CoupledIndices, Coupling};
pub use likelihood::flow_log_likelihood;
pub use loss::{FlowMatchingLoss, FlowMatchingLossConfig};
pub use medgen_core::guidance::{ClassifierFreeGuidance, GuidanceConfig};
pub use model::FlowMatchingModel;
pub use path::{PathCoefficients, PathSample, ProbabilityPath};
pub use sampling::{FlowSample, integrate_flow, sample_flow, velocity_ode};
pub use sinkhorn::SinkhornConfig;
pub use transport_plan::TransportPlan;

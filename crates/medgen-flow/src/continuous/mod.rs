//! Continuous normalizing flows (Chen et al. 2018; FFJORD, Grathwohl et al. 2019).
//!
//! A vector field `f_θ(x, t)` transports the base `p₀ = N(0, I)` at `t = 0` to the data at
//! `t = 1` along `dx/dt = f_θ(x, t)`, and the log-density follows from the instantaneous
//! change of variables, `d log p(x(t))/dt = −∇·f_θ(x(t), t)`:
//!
//! `log p(x) = log p₀(z) − ∫₀¹ ∇·f_θ(x(t), t) dt`, `z = x(0)`, `x(1) = x`,
//!
//! integrated as one augmented ODE with medgen-core's solvers ([`cnf_log_density`]).
//!
//! The divergence ([`DivergenceMethod`]) is exact (`Σ_i e_iᵀ J e_i`, low dimension) or
//! Hutchinson's estimate (`εᵀ J ε`, Rademacher or Gaussian probes). Two ways to get `J v`:
//!
//! - **Training** ([`MlpVectorField`], [`cnf_nll_loss`]): Burn has no second-order autodiff,
//!   so the MLP propagates tangents forward (`ḣ = σ'(W h + b) ⊙ (W ḣ)`), a Jacobian–vector
//!   product made of ordinary tensor operations that first-order autodiff differentiates with
//!   respect to `θ`.
//! - **Evaluation** of any [`TimeConditionedNetwork`](medgen_core::TimeConditionedNetwork)
//!   (a flow-matching U-Net, a probability-flow ODE): [`vjp_divergence`] / [`VjpField`], one
//!   vector–Jacobian product per probe per step, on tensors of any rank.
//!
//! ```
//! use medgen_core::burn::tensor::{Device, Tensor};
//! use medgen_core::{Condition, seeded_rng};
//! use medgen_flow::continuous::{
//!     ContinuousFlowConfig, DivergenceMethod, VjpField, cnf_log_density,
//! };
//!
//! # fn main() -> medgen_flow::Result<()> {
//! let device = Device::default();
//! // Any network works through one vector–Jacobian product per probe; here f(x, t) = −x,
//! // so x(1) = e^{−1} z and log p(x) = log N(e·x; 0, I) + 2 in two dimensions.
//! let field = |x: Tensor<2>, _t: Tensor<1>, _c: &Condition<2>| -> medgen_core::Result<_> {
//!     Ok(x.neg())
//! };
//! let config = ContinuousFlowConfig::new().with_divergence(DivergenceMethod::hutchinson(1));
//! let x = Tensor::<2>::zeros([1, 2], &device);
//! let none = Condition::none();
//! let density = cnf_log_density(&VjpField::new(&field), x, &none, &config, &mut seeded_rng(0))?;
//! let expected = 2.0 - (2.0 * std::f32::consts::PI).ln();
//! assert!((density.log_prob.into_scalar::<f32>() - expected).abs() < 1e-3);
//! # Ok(())
//! # }
//! ```
//!
//! For images `[N, C, H, W]` (e.g. a trained flow-matching U-Net), the same call with
//! `VjpField::new(&unet)` and Hutchinson probes gives `log p(x)`; bits per dimension follow
//! from `LogDensityValue::bits_per_dim`.

mod cnf;
mod divergence;
mod mlp_field;
mod standard_normal;
mod vjp;

pub use cnf::{
    CnfLogDensity, ContinuousFlow, ContinuousFlowConfig, cnf_log_density, cnf_nll_loss,
    cnf_transport,
};
pub use divergence::{
    DivergenceField, DivergenceMethod, ProbeDistribution, Probes, VelocityDivergence, draw_probe,
};
pub use mlp_field::{MlpActivation, MlpVectorField, MlpVectorFieldConfig};
pub use standard_normal::standard_normal_log_prob;
pub use vjp::{VjpField, vjp_divergence};

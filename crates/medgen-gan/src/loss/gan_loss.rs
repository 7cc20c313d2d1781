//! The adversarial objectives, on logits.

use burn::tensor::Tensor;
use burn::tensor::activation::{relu, softplus};
use medgen_core::CoreError;
use serde::{Deserialize, Serialize};

use super::logit_shapes::{ensure_logit_pair, ensure_logits};
use crate::error::Result;

/// An adversarial loss: what the discriminator (critic) minimises and what the generator
/// minimises, both on raw logits `ℓ = D(·)` of shape `[N, P]`.
///
/// Expectations `E[·]` are means over all `N · P` entries of a batch (patch logits of a
/// PatchGAN are averaged like items). With `σ` the logistic sigmoid and `softplus(t) =
/// log(1 + eᵗ)`, so that `−log σ(t) = softplus(−t)` and `−log(1 − σ(t)) = softplus(t)`:
///
/// | variant | discriminator loss | generator loss |
/// |---|---|---|
/// | `Minimax` | `E[softplus(−ℓ_r)] + E[softplus(ℓ_f)]` | `E[log(1 − σ(ℓ_f))] = −E[softplus(ℓ_f)]` |
/// | `NonSaturating` | same as `Minimax` | `−E[log σ(ℓ_f)] = E[softplus(−ℓ_f)]` |
/// | `Hinge` | `E[relu(1 − ℓ_r)] + E[relu(1 + ℓ_f)]` | `−E[ℓ_f]` |
/// | `LeastSquares` | `½E[(ℓ_r − b)²] + ½E[(ℓ_f − a)²]` | `½E[(ℓ_f − c)²]` |
/// | `Wasserstein` | `E[ℓ_f] − E[ℓ_r]` | `−E[ℓ_f]` |
///
/// `ℓ_r = D(x)` are the logits of real data, `ℓ_f = D(G(z))` those of generated data.
/// The minimax discriminator loss is the binary cross-entropy `−E[log D(x)] − E[log(1 −
/// D(G(z)))]` with `D = σ(ℓ)`; the minimax generator loss saturates (vanishing gradient) when
/// the discriminator rejects the samples confidently, which the non-saturating loss (Goodfellow
/// et al. 2014) avoids. The Wasserstein critic needs a Lipschitz constraint (spectral
/// normalisation, [`crate::spectral_norm`], or a penalty, [`crate::penalty`]).
/// Least-squares (Mao et al. 2017) uses the raw output, no sigmoid; `a = 0, b = c = 1` is the
/// usual 0-1 coding ([`GanLoss::least_squares`]), `a = −1, b = 1, c = 0` minimises the
/// Pearson χ² divergence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum GanLoss {
    /// The original saturating minimax game.
    Minimax,
    /// Minimax discriminator, non-saturating generator (the usual default).
    #[default]
    NonSaturating,
    /// Hinge loss (Lim & Ye 2017; Miyato et al. 2018).
    Hinge,
    /// Least-squares GAN with target codes `a` (fake), `b` (real) and `c` (what the generator
    /// wants the discriminator to believe).
    LeastSquares {
        /// Target of the discriminator for fake data.
        a: f64,
        /// Target of the discriminator for real data.
        b: f64,
        /// Target of the generator for its samples.
        c: f64,
    },
    /// Wasserstein GAN critic (Arjovsky et al. 2017).
    Wasserstein,
}

impl GanLoss {
    /// The least-squares loss with the 0-1 coding `a = 0, b = 1, c = 1`.
    pub fn least_squares() -> Self {
        Self::LeastSquares { a: 0.0, b: 1.0, c: 1.0 }
    }

    /// Fails with [`CoreError::InvalidConfig`] if a least-squares target is not finite.
    pub fn validate(&self) -> Result<()> {
        if let Self::LeastSquares { a, b, c } = *self
            && ![a, b, c].iter().all(|v| v.is_finite())
        {
            return Err(CoreError::config(
                "GanLoss::LeastSquares",
                format!("targets must be finite (got a = {a}, b = {b}, c = {c})"),
            )
            .into());
        }
        Ok(())
    }

    /// The logit above which the discriminator calls an input real: `0` for the logistic,
    /// hinge and Wasserstein losses (for the latter only the sign of the critic score is used;
    /// its scale is arbitrary), `(a + b) / 2` for least squares. Used for the discriminator
    /// accuracy of the training monitor.
    pub fn decision_threshold(&self) -> f64 {
        match *self {
            Self::LeastSquares { a, b, .. } => 0.5 * (a + b),
            _ => 0.0,
        }
    }

    /// The discriminator (critic) loss from real logits `[N_r, P]` and fake logits `[N_f, P]`
    /// (see the table on [`GanLoss`]); a scalar tensor `[1]`.
    ///
    /// Fails with [`CoreError::Empty`] on an empty batch or patch axis and with
    /// [`CoreError::ShapeMismatch`] when the two patch counts `P` differ.
    pub fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Result<Tensor<1>> {
        self.validate()?;
        ensure_logit_pair(&real, &fake)?;
        Ok(match *self {
            Self::Minimax | Self::NonSaturating => {
                softplus(real.neg(), 1.0).mean().add(softplus(fake, 1.0).mean())
            }
            Self::Hinge => {
                relu(real.neg().add_scalar(1.0)).mean().add(relu(fake.add_scalar(1.0)).mean())
            }
            Self::LeastSquares { a, b, .. } => {
                squared_distance(real, b).add(squared_distance(fake, a)).mul_scalar(0.5)
            }
            Self::Wasserstein => fake.mean().sub(real.mean()),
        })
    }

    /// The generator loss from the logits `[N, P]` of its samples (see the table on
    /// [`GanLoss`]); a scalar tensor `[1]`.
    ///
    /// Fails with [`CoreError::Empty`] on an empty batch or patch axis.
    pub fn generator_loss(&self, fake: Tensor<2>) -> Result<Tensor<1>> {
        self.validate()?;
        ensure_logits(&fake, "fake logits")?;
        Ok(match *self {
            Self::Minimax => softplus(fake, 1.0).mean().neg(),
            Self::NonSaturating => softplus(fake.neg(), 1.0).mean(),
            Self::Hinge | Self::Wasserstein => fake.mean().neg(),
            Self::LeastSquares { c, .. } => squared_distance(fake, c).mul_scalar(0.5),
        })
    }
}

/// `E[(ℓ − target)²]`.
fn squared_distance(logits: Tensor<2>, target: f64) -> Tensor<1> {
    logits.sub_scalar(target).powi_scalar(2).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    const ALL: [GanLoss; 5] = [
        GanLoss::Minimax,
        GanLoss::NonSaturating,
        GanLoss::Hinge,
        GanLoss::LeastSquares { a: 0.0, b: 1.0, c: 1.0 },
        GanLoss::Wasserstein,
    ];

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_scalar::<f32>())
    }

    fn softplus64(t: f64) -> f64 {
        t.max(0.0) + (-t.abs()).exp().ln_1p()
    }

    /// Real logits `[2, 2]` = {2, −1, 0.5, 3}, fake logits `[2, 2]` = {−2, 1, 0, −0.5}; each
    /// expected value is written out from the formula in f64.
    #[test]
    fn losses_equal_their_closed_forms() {
        let device = test_device();
        let r = [2.0, -1.0, 0.5, 3.0];
        let f = [-2.0, 1.0, 0.0, -0.5];
        let real = || Tensor::<2>::from_floats([[2.0, -1.0], [0.5, 3.0]], &device);
        let fake = || Tensor::<2>::from_floats([[-2.0, 1.0], [0.0, -0.5]], &device);
        let mean = |v: &mut dyn Iterator<Item = f64>| v.sum::<f64>() / 4.0;

        // −log σ(r) and −log(1 − σ(f)) via the definitions σ(t) = 1 / (1 + e^{−t}).
        let sig = |t: f64| 1.0 / (1.0 + (-t).exp());
        let bce = mean(&mut r.iter().map(|&t| -sig(t).ln()))
            + mean(&mut f.iter().map(|&t| -(1.0 - sig(t)).ln()));
        let hinge_d = mean(&mut r.iter().map(|&t| (1.0 - t).max(0.0)))
            + mean(&mut f.iter().map(|&t| (1.0 + t).max(0.0)));
        // Hand-computed: relu(1 − r) = {0, 2, 0.5, 0} → 0.625; relu(1 + f) = {0, 2, 1, 0.5} → 0.875.
        assert!((hinge_d - 1.5).abs() < 1e-12);
        let ls_d = 0.5 * mean(&mut r.iter().map(|&t| (t - 1.0) * (t - 1.0)))
            + 0.5 * mean(&mut f.iter().map(|&t| t * t));
        let expected_d = [bce, bce, hinge_d, ls_d, -1.5 / 4.0 - 4.5 / 4.0];
        let expected_g = [
            mean(&mut f.iter().map(|&t| (1.0 - sig(t)).ln())),
            mean(&mut f.iter().map(|&t| -sig(t).ln())),
            1.5 / 4.0,
            0.5 * mean(&mut f.iter().map(|&t| (t - 1.0) * (t - 1.0))),
            1.5 / 4.0,
        ];
        for ((loss, d), g) in ALL.iter().zip(expected_d).zip(expected_g) {
            let got_d = scalar(loss.discriminator_loss(real(), fake()).unwrap());
            let got_g = scalar(loss.generator_loss(fake()).unwrap());
            assert!((got_d - d).abs() < 1e-5, "{loss:?}: D loss {got_d} vs {d}");
            assert!((got_g - g).abs() < 1e-5, "{loss:?}: G loss {got_g} vs {g}");
        }
    }

    /// At logits ±100, `σ` rounds to 0 or 1 in f32, so `log(σ)` would be −∞; the softplus forms
    /// give the exact asymptotes, and their gradients stay finite.
    #[test]
    fn losses_are_stable_at_extreme_logits() {
        let device = test_device().autodiff();
        for loss in ALL {
            let real = Tensor::<2>::from_floats([[100.0], [-100.0]], &device).require_grad();
            let fake = Tensor::<2>::from_floats([[-100.0], [100.0]], &device).require_grad();
            let d = loss.discriminator_loss(real.clone(), fake.clone()).unwrap();
            let g = loss.generator_loss(fake.clone()).unwrap();
            let (d_value, g_value) = (scalar(d.clone()), scalar(g.clone()));
            assert!(d_value.is_finite() && g_value.is_finite(), "{loss:?}");
            for (value, grads, input) in
                [(d_value, d.backward(), &real), (g_value, g.backward(), &fake)]
            {
                let grad = input.grad(&grads).unwrap();
                let grad = grad.into_data().try_to_vec::<f32>().unwrap();
                assert!(grad.iter().all(|v| v.is_finite()), "{loss:?} {value}");
            }
        }
        // Closed forms at ±100: one confident-correct and one confident-wrong item per side.
        let real = Tensor::<2>::from_floats([[100.0], [-100.0]], &device);
        let fake = Tensor::<2>::from_floats([[-100.0], [100.0]], &device);
        let bce = scalar(GanLoss::NonSaturating.discriminator_loss(real, fake.clone()).unwrap());
        let exact = (softplus64(-100.0) + softplus64(100.0)) / 2.0 * 2.0;
        assert!((bce - exact).abs() < 1e-3, "{bce} vs {exact}");
        let ns = scalar(GanLoss::NonSaturating.generator_loss(fake).unwrap());
        assert!((ns - 50.0).abs() < 1e-3, "{ns}");
    }

    #[test]
    fn patch_logits_are_averaged_and_shapes_checked() {
        let device = test_device();
        let real = Tensor::<2>::from_floats([[1.0, 3.0, -1.0]], &device);
        let fake = Tensor::<2>::from_floats([[0.0, 0.0, 3.0], [1.0, 2.0, 0.0]], &device);
        let w = scalar(GanLoss::Wasserstein.discriminator_loss(real.clone(), fake).unwrap());
        assert!((w - (1.0 - 1.0)).abs() < 1e-6, "{w}");
        let bad = Tensor::<2>::zeros([1, 2], &device);
        assert!(matches!(
            GanLoss::Hinge.discriminator_loss(real.clone(), bad),
            Err(crate::GanError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let empty = Tensor::<2>::zeros([0, 3], &device);
        assert!(matches!(
            GanLoss::Hinge.discriminator_loss(real, empty.clone()),
            Err(crate::GanError::Core(CoreError::Empty { .. }))
        ));
        assert!(GanLoss::Minimax.generator_loss(empty).is_err());
        let nan_targets = GanLoss::LeastSquares { a: f64::NAN, b: 1.0, c: 1.0 };
        assert!(nan_targets.generator_loss(Tensor::zeros([1, 1], &device)).is_err());
        assert_eq!(GanLoss::least_squares().decision_threshold(), 0.5);
    }
}

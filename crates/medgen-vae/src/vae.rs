//! The variational autoencoder (Kingma & Welling 2014), optionally conditional (Sohn et al.
//! 2015): Gaussian posterior, reparameterisation, ELBO and the importance-weighted bound
//! (Burda et al. 2016).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::check::ensure_finite;
use medgen_core::noise::gaussian_noise;
use medgen_core::{
    Autoencoder, Condition, CoreError, DensityKind, LogDensity, LogDensityValue, Sample, Samples,
    SeededRng,
};

use crate::backbone::{BackboneConfig, Coder};
use crate::condition_features::{ConditionSpec, append_channels};
use crate::error::VaeError;
use crate::gaussian::{DiagonalGaussian, standard_normal_log_prob};
use crate::likelihood::Likelihood;

/// Configuration of a [`Vae`].
#[derive(Config, Debug)]
pub struct VaeConfig {
    /// Encoder/decoder architecture; the encoder outputs `2 · latent_channels` channels
    /// (`μ` and `log σ²`).
    pub backbone: BackboneConfig,
    /// The decoder likelihood `p(x | z)`.
    #[config(default = "Likelihood::Gaussian { std: 0.1 }")]
    pub likelihood: Likelihood,
    /// Conditioning inputs of a conditional VAE (appended as channels to encoder and decoder
    /// inputs; empty: unconditional).
    #[config(default = "ConditionSpec::new()")]
    pub condition: ConditionSpec,
    /// The spatial size of the data that [`Sample::sample`] draws (empty for vectors).
    #[config(default = "Vec::new()")]
    pub sample_size: Vec<usize>,
}

/// A VAE with prior `p(z) = N(0, I)`, posterior `q(z | x, c) = N(μ(x, c), diag σ²(x, c))`
/// from the encoder and likelihood `p(x | z, c)` from the decoder (see [`Likelihood`]).
///
/// Shapes as [`BackboneConfig`]: data `[N, C, *n]` (or `[N, C]`), latents
/// `[N, latent_channels, *n/f]`; the condition's features `[N, F]` are appended as constant
/// channels to the inputs of both networks.
#[derive(Module, Debug)]
pub struct Vae {
    /// The encoder `[x, c] ↦ [μ, log σ²]`.
    pub encoder: Coder,
    /// The decoder `[z, c] ↦ h` (the likelihood's parameters).
    pub decoder: Coder,
    /// The architecture.
    #[module(skip)]
    pub backbone: BackboneConfig,
    /// The likelihood.
    #[module(skip)]
    pub likelihood: Likelihood,
    /// The conditioning inputs.
    #[module(skip)]
    pub condition: ConditionSpec,
    /// The data spatial size drawn by [`Sample::sample`].
    #[module(skip)]
    pub sample_size: Vec<usize>,
}

/// One stochastic pass through a VAE: the posterior, a reparameterised latent sample and the
/// reconstruction log-likelihood.
#[derive(Clone, Debug)]
pub struct VaePass<const D: usize> {
    /// `q(z | x, c)`.
    pub posterior: DiagonalGaussian<D>,
    /// `z = μ + σ ε`.
    pub z: Tensor<D>,
    /// The decoder output `h = D(z, c)`.
    pub decoder_output: Tensor<D>,
    /// `log p(x | z, c)` per item, `[N]`.
    pub log_likelihood: Tensor<1>,
}

impl VaeConfig {
    /// Builds the model on `device`; fails on an invalid backbone, likelihood, condition or
    /// sample size (its length must be `spatial_dims`, each a multiple of the downsampling).
    pub fn init(&self, device: &Device) -> crate::Result<Vae> {
        self.likelihood.validate()?;
        self.condition.validate()?;
        let b = &self.backbone;
        b.validate()?;
        let f = b.downsampling();
        if !self.sample_size.is_empty()
            && (self.sample_size.len() != b.spatial_dims
                || self.sample_size.iter().any(|&n| n == 0 || !n.is_multiple_of(f)))
        {
            return Err(CoreError::config(
                "sample_size",
                format!(
                    "needs {} positive multiples of {f}, got {:?}",
                    b.spatial_dims, self.sample_size
                ),
            )
            .into());
        }
        let extra = self.condition.width();
        Ok(Vae {
            encoder: b.encoder(extra, 2 * b.latent_channels, device)?,
            decoder: b.decoder(extra, self.likelihood.decoder_channels(b.data_channels), device)?,
            backbone: b.clone(),
            likelihood: self.likelihood.clone(),
            condition: self.condition.clone(),
            sample_size: self.sample_size.clone(),
        })
    }
}

impl Vae {
    /// The condition features `[N, F]` (or `None`) after checking `condition` for batch `n`.
    fn features<const D: usize>(
        &self,
        condition: &Condition<D>,
        n: usize,
    ) -> crate::Result<Option<Tensor<2>>> {
        self.condition.features(condition, n)
    }

    /// The posterior `q(z | x, c)`: `μ, log σ²` of shape `[N, latent_channels, *n/f]`.
    ///
    /// Errors: a misshapen `x` (rank, channels, sizes not multiples of the downsampling) or
    /// condition.
    pub fn posterior<const D: usize>(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
    ) -> crate::Result<DiagonalGaussian<D>> {
        self.backbone.check_data(&x)?;
        let features = self.features(condition, x.dims()[0])?;
        self.posterior_with(x, features.as_ref())
    }

    fn posterior_with<const D: usize>(
        &self,
        x: Tensor<D>,
        features: Option<&Tensor<2>>,
    ) -> crate::Result<DiagonalGaussian<D>> {
        DiagonalGaussian::from_channels(self.encoder.forward(append_channels(x, features)?))
    }

    /// The decoder output `h = D(z, c)` (the likelihood's parameters).
    pub fn decoder_output<const D: usize>(
        &self,
        z: Tensor<D>,
        condition: &Condition<D>,
    ) -> crate::Result<Tensor<D>> {
        self.backbone.check_latent(&z)?;
        let features = self.features(condition, z.dims()[0])?;
        Ok(self.decoder.forward(append_channels(z, features.as_ref())?))
    }

    /// The decoded mean `E[x | z, c]`, data-shaped.
    pub fn decode_mean<const D: usize>(
        &self,
        z: Tensor<D>,
        condition: &Condition<D>,
    ) -> crate::Result<Tensor<D>> {
        self.likelihood.mean(self.decoder_output(z, condition)?)
    }

    /// One reparameterised pass: `z ~ q(z | x, c)` drawn from `rng`, then `log p(x | z, c)`.
    /// Differentiable in the weights (for training, see [`crate::VaeLoss`]).
    pub fn pass<const D: usize>(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<VaePass<D>> {
        self.backbone.check_data(&x)?;
        let features = self.features(condition, x.dims()[0])?;
        let posterior = self.posterior_with(x.clone(), features.as_ref())?;
        let z = posterior.sample(rng)?;
        let decoder_output = self.decoder.forward(append_channels(z.clone(), features.as_ref())?);
        let log_likelihood = self.likelihood.log_prob(decoder_output.clone(), x)?;
        Ok(VaePass { posterior, z, decoder_output, log_likelihood })
    }

    /// The ELBO per item, `[N]` (nats), one latent sample and the analytic KL:
    ///
    /// `ELBO(x) = log p(x | z, c) − KL[q(z | x, c) ‖ N(0, I)]`, `z ~ q(z | x, c)` ≤ `log p(x | c)`.
    ///
    /// Errors: as [`Vae::posterior`], and [`CoreError::NonFinite`] for NaN/Inf in `x` (read
    /// back to the host once: an evaluation entry point).
    pub fn elbo<const D: usize>(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<1>> {
        self.backbone.check_data(&x)?;
        ensure_finite(&x, "VAE input")?;
        let pass = self.pass(x, condition, rng)?;
        Ok(pass.log_likelihood.sub(pass.posterior.kl_standard_normal()))
    }

    /// The importance-weighted bound with `k` samples per item, `[N]` (nats):
    ///
    /// `L_k(x) = log (1/k) Σ_{j=1..k} p(x | z_j, c) p(z_j) / q(z_j | x, c)`, `z_j ~ q(z | x, c)`,
    ///
    /// computed with a stable log-sum-exp. `E[L_1] = ELBO ≤ E[L_k] ≤ E[L_{k+1}] → log p(x | c)`.
    ///
    /// Errors: [`VaeError::NoImportanceSamples`] for `k = 0`, and those of [`Vae::elbo`].
    pub fn iwae<const D: usize>(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
        k: usize,
        rng: &mut SeededRng,
    ) -> crate::Result<Tensor<1>> {
        if k == 0 {
            return Err(VaeError::NoImportanceSamples { k });
        }
        self.backbone.check_data(&x)?;
        ensure_finite(&x, "VAE input")?;
        let n = x.dims()[0];
        let features = self.features(condition, n)?;
        let posterior = self.posterior_with(x.clone(), features.as_ref())?;
        let mut weights = Vec::with_capacity(k);
        for _ in 0..k {
            let z = posterior.sample(rng)?;
            let h = self.decoder.forward(append_channels(z.clone(), features.as_ref())?);
            let log_w = self
                .likelihood
                .log_prob(h, x.clone())?
                .add(standard_normal_log_prob(z.clone()))
                .sub(posterior.log_prob(z));
            weights.push(log_w.reshape([n, 1]));
        }
        let log_w = Tensor::cat(weights, 1);
        let max = log_w.clone().max_dim(1);
        let lse = log_w.sub(max.clone()).exp().sum_dim(1).log().add(max);
        Ok(lse.reshape([n]).sub_scalar((k as f64).ln()))
    }

    /// Draws `n` latents `z ~ N(0, I)` of the shape decoded to data of spatial size
    /// `sample_size` (`[n, latent_channels]` for vectors).
    pub fn sample_prior<const D: usize>(
        &self,
        n: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> crate::Result<Tensor<D>> {
        let b = &self.backbone;
        if D != b.rank() || (b.spatial_dims > 0 && self.sample_size.is_empty()) {
            return Err(CoreError::config(
                "sample_size",
                format!(
                    "sampling rank-{D} tensors needs rank {} and a sample_size for convolutional VAEs",
                    b.rank()
                ),
            )
            .into());
        }
        let mut dims = [0; D];
        dims[0] = n;
        dims[1] = b.latent_channels;
        for (d, &s) in dims[2..].iter_mut().zip(&self.sample_size) {
            *d = s / b.downsampling();
        }
        Ok(gaussian_noise(dims, rng, device)?)
    }
}

impl<const D: usize> Sample<D> for Vae {
    type Error = VaeError;

    /// Ancestral sampling `z ~ N(0, I)`, `x = E[x | z, c]` (the decoded mean, as is usual for
    /// images): one decoder pass (`nfe = 1`).
    fn sample(
        &self,
        n: usize,
        condition: &Condition<D>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> crate::Result<Samples<D>> {
        let z = self.sample_prior(n, rng, device)?;
        Ok(Samples { samples: self.decode_mean(z, condition)?, nfe: 1 })
    }
}

impl<const D: usize> LogDensity<D> for Vae {
    type Error = VaeError;

    /// The single-sample ELBO ([`Vae::elbo`]), a [`DensityKind::LowerBound`].
    fn log_density(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<LogDensityValue> {
        Ok(LogDensityValue { nats: self.elbo(x, condition, rng)?, kind: DensityKind::LowerBound })
    }
}

/// A VAE evaluated by the importance-weighted bound with `k` samples ([`Vae::iwae`]); its
/// [`LogDensity`] is a [`DensityKind::LowerBound`] that tightens as `k` grows.
#[derive(Clone, Copy, Debug)]
pub struct ImportanceWeighted<'a> {
    /// The model.
    pub vae: &'a Vae,
    /// The number of importance samples `k ≥ 1`.
    pub k: usize,
}

impl<const D: usize> LogDensity<D> for ImportanceWeighted<'_> {
    type Error = VaeError;

    fn log_density(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> crate::Result<LogDensityValue> {
        Ok(LogDensityValue {
            nats: self.vae.iwae(x, condition, self.k, rng)?,
            kind: DensityKind::LowerBound,
        })
    }
}

impl<const D: usize> Autoencoder<D, D> for Vae {
    type Error = VaeError;

    /// The posterior mean `μ(x)` (unconditional VAEs; a conditional one uses
    /// [`Vae::posterior`]).
    fn encode(&self, x: Tensor<D>) -> crate::Result<Tensor<D>> {
        Ok(self.posterior(x, &Condition::none())?.mean)
    }

    /// The decoded mean `E[x | z]` (unconditional VAEs; a conditional one uses
    /// [`Vae::decode_mean`]).
    fn decode(&self, z: Tensor<D>) -> crate::Result<Tensor<D>> {
        self.decode_mean(z, &Condition::none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::{Int, TensorData};
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn scalars(t: Tensor<1>) -> Vec<f64> {
        t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
    }

    fn set_linear(coder: &mut Coder, weight: Vec<f32>, shape: [usize; 2], bias: Vec<f32>) {
        let Coder::Mlp(mlp) = coder else { panic!("an MLP coder") };
        let layer = &mut mlp.layers[0];
        let device = layer.weight.val().device();
        layer.weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(weight, shape), &device));
        let n = bias.len();
        layer.bias =
            Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [n]), &device)));
    }

    /// Probabilistic PCA `x = W z + m + σ ε` in 2D with a 1D latent, as a linear VAE whose
    /// weights are set to the closed-form optimum: decoder `(W, m)` and the exact posterior
    /// `q(z | x) = N(M⁻¹Wᵀ(x − m), σ²/M)`, `M = WᵀW + σ²` (Tipping & Bishop 1999).
    /// Returns the VAE, the data and `log p(x) = log N(x; m, WWᵀ + σ² I)` per item.
    fn ppca(encoder_scale: f32) -> (Vae, Tensor<2>, Vec<f64>) {
        let device = test_device();
        let (w, m, sigma) = ([1.5f32, 0.5], [0.3f32, -0.2], 0.5f32);
        let s2 = sigma * sigma;
        let big_m = w[0] * w[0] + w[1] * w[1] + s2;
        let mut vae = VaeConfig::new(BackboneConfig::new(0, 2, 1).with_hidden(vec![]))
            .with_likelihood(Likelihood::Gaussian { std: sigma as f64 })
            .init(&device)
            .unwrap();
        // Decoder Linear 1 → 2 (Burn weights are [d_in, d_out]).
        set_linear(&mut vae.decoder, w.to_vec(), [1, 2], m.to_vec());
        // Encoder Linear 2 → 2: column 0 the posterior mean, column 1 the log-variance.
        let a = [encoder_scale * w[0] / big_m, encoder_scale * w[1] / big_m];
        set_linear(
            &mut vae.encoder,
            vec![a[0], 0.0, a[1], 0.0],
            [2, 2],
            vec![-(a[0] * m[0] + a[1] * m[1]), (s2 / big_m).ln()],
        );
        let points = [[1.0f32, 0.5], [-2.0, -0.4], [0.3, -0.2], [3.0, 1.5]];
        // C = WWᵀ + σ²I and its inverse/determinant by hand.
        let c = [[w[0] * w[0] + s2, w[0] * w[1]], [w[0] * w[1], w[1] * w[1] + s2]];
        let det = (c[0][0] * c[1][1] - c[0][1] * c[1][0]) as f64;
        let log_p = points
            .iter()
            .map(|p| {
                let d = [(p[0] - m[0]) as f64, (p[1] - m[1]) as f64];
                let quad = (c[1][1] as f64 * d[0] * d[0] - 2.0 * c[0][1] as f64 * d[0] * d[1]
                    + c[0][0] as f64 * d[1] * d[1])
                    / det;
                -0.5 * (quad + det.ln() + 2.0 * (2.0 * std::f64::consts::PI).ln())
            })
            .collect();
        let flat: Vec<f32> = points.iter().flatten().copied().collect();
        let x = Tensor::from_data(TensorData::new(flat, [4, 2]), &device);
        (vae, x, log_p)
    }

    /// At the pPCA optimum every importance weight equals p(x), so the IWAE bound is exact for
    /// any k (within 1e-4 nats), and the ELBO (analytic KL) equals log p(x) in expectation:
    /// its mean over 2000 samples per point lies within 4 standard errors (each < 0.05 nats).
    /// A worse encoder lowers it by more than 0.5 nats in total.
    #[test]
    fn linear_vae_recovers_the_ppca_marginal_likelihood() {
        let (vae, x, log_p) = ppca(1.0);
        let mut rng = seeded_rng(0);
        let iwae = scalars(vae.iwae(x.clone(), &Condition::none(), 3, &mut rng).unwrap());
        for (a, b) in iwae.iter().zip(&log_p) {
            assert!((a - b).abs() < 1e-4, "IWAE {a} vs log p(x) {b}");
        }
        let repeats = 2000;
        let xs = x.clone().repeat_dim(0, repeats);
        // Per point: the Monte-Carlo mean of the ELBO and its standard error.
        let mean_elbo = |vae: &Vae, rng: &mut SeededRng| {
            let e = scalars(vae.elbo(xs.clone(), &Condition::none(), rng).unwrap());
            (0..4)
                .map(|i| {
                    let v: Vec<f64> = (0..repeats).map(|r| e[r * 4 + i]).collect();
                    let mean = v.iter().sum::<f64>() / repeats as f64;
                    let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / repeats as f64;
                    (mean, (var / repeats as f64).sqrt())
                })
                .collect::<Vec<_>>()
        };
        for ((mean, se), exact) in mean_elbo(&vae, &mut rng).iter().zip(&log_p) {
            assert!(*se < 0.05, "standard error {se}");
            assert!(
                (mean - exact).abs() < 4.0 * se + 1e-3,
                "ELBO {mean} ± {se} vs log p(x) {exact}"
            );
        }
        let (worse, _, _) = ppca(0.5);
        let elbo_worse = mean_elbo(&worse, &mut rng);
        let gap: f64 = log_p.iter().zip(&elbo_worse).map(|(a, b)| a - b.0).sum();
        assert!(gap > 0.5, "a suboptimal encoder loses {gap} nats");
    }

    /// On a fixed random MLP VAE, averaged over 400 repeats of 4 points:
    /// ELBO ≤ L_1 ≈ ELBO < L_2 < L_8 < L_32 (each bound tighter than the last).
    #[test]
    fn iwae_bound_rises_with_k_above_the_elbo() {
        let device = test_device();
        let vae = medgen_core::init_seeded(&device, &mut seeded_rng(3), |d| {
            VaeConfig::new(BackboneConfig::new(0, 3, 2).with_hidden(vec![8]))
                .with_likelihood(Likelihood::Gaussian { std: 0.3 })
                .init(d)
        })
        .unwrap();
        let x = Tensor::<2>::from_floats(
            [[0.5, -0.2, 1.0], [0.0, 0.3, -0.8], [1.2, 0.1, 0.0], [-0.4, -0.9, 0.2]],
            &device,
        )
        .repeat_dim(0, 400);
        let mut rng = seeded_rng(1);
        let mean = |t: Tensor<1>| t.mean().into_scalar::<f32>() as f64;
        let elbo = mean(vae.elbo(x.clone(), &Condition::none(), &mut rng).unwrap());
        let bounds: Vec<f64> = [1, 2, 8, 32]
            .iter()
            .map(|&k| mean(vae.iwae(x.clone(), &Condition::none(), k, &mut rng).unwrap()))
            .collect();
        assert!((bounds[0] - elbo).abs() < 0.05 * elbo.abs().max(1.0), "{elbo} {bounds:?}");
        for w in bounds.windows(2) {
            assert!(w[1] > w[0], "bounds must rise with k: {bounds:?}");
        }
        assert!(bounds[3] > elbo);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let vae = VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4, 4]))
            .init(&device)
            .unwrap();
        let mut rng = seeded_rng(0);
        let none = Condition::none();
        let x = Tensor::<4>::zeros([2, 1, 4, 4], &device);
        assert!(matches!(
            vae.iwae(x.clone(), &none, 0, &mut rng),
            Err(VaeError::NoImportanceSamples { k: 0 })
        ));
        let nan = x.clone().add_scalar(f32::NAN);
        assert!(matches!(
            vae.elbo(nan, &none, &mut rng),
            Err(VaeError::Core(CoreError::NonFinite { .. }))
        ));
        let odd = Tensor::<4>::zeros([2, 1, 5, 4], &device);
        assert!(matches!(
            vae.elbo(odd, &none, &mut rng),
            Err(VaeError::Core(CoreError::ShapeMismatch { .. }))
        ));
        assert!(matches!(
            VaeConfig::new(BackboneConfig::new(2, 1, 0)).init(&device),
            Err(VaeError::Core(CoreError::InvalidConfig { .. }))
        ));
        assert!(
            VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4, 4]))
                .with_sample_size(vec![5, 4])
                .init(&device)
                .is_err()
        );
        // Sampling a convolutional VAE without a sample size.
        assert!(Sample::<4>::sample(&vae, 1, &none, &mut rng, &device).is_err());
    }

    /// A class-conditional 3D VAE: shapes of posterior, samples and the ELBO; the condition is
    /// required and its batch checked.
    #[test]
    fn conditional_volume_vae_samples_and_bounds() {
        let device = test_device();
        let vae = VaeConfig::new(BackboneConfig::new(3, 1, 2).with_hidden(vec![4, 4]))
            .with_condition(ConditionSpec::new().with_num_classes(Some(3)))
            .with_likelihood(Likelihood::GaussianLearnedVariance { min_log_var: -6.0 })
            .with_sample_size(vec![4, 4, 2])
            .init(&device)
            .unwrap();
        let mut rng = seeded_rng(2);
        let labels = |v: Vec<i32>| {
            let n = v.len();
            Condition::<5>::none()
                .with_class(Tensor::<1, Int>::from_data(TensorData::new(v, [n]), &device))
        };
        let x = vae.sample(3, &labels(vec![0, 1, 2]), &mut rng, &device).unwrap();
        assert_eq!(x.nfe, 1);
        let x = x.samples;
        assert_eq!(x.dims(), [3, 1, 4, 4, 2]);
        let q = vae.posterior(x.clone(), &labels(vec![0, 1, 2])).unwrap();
        assert_eq!(q.mean.dims(), [3, 2, 2, 2, 1]);
        let value = vae.log_density(x.clone(), &labels(vec![2, 2, 2]), &mut rng).unwrap();
        assert_eq!(value.kind, DensityKind::LowerBound);
        assert!(scalars(value.nats).iter().all(|v| v.is_finite()));
        assert!(vae.elbo(x.clone(), &Condition::none(), &mut rng).is_err());
        assert!(vae.elbo(x, &labels(vec![0, 1]), &mut rng).is_err());
    }
}

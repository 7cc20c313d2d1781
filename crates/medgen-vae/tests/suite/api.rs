//! The public API of `medgen-vae`, used as a dependent crate would use it: a linear VAE set to
//! the closed-form optimum of probabilistic PCA (exact importance-weighted bound, encoder,
//! decoder, analytic KL and `Sample` verb against the formulas), the β-VAE loss and its
//! parts, one `Trainer` step of a small convolutional VAE whose reported loss is recomputed
//! from the initial weights, conditional sampling, a save/load round trip, and the typed
//! error every bad input produces (variant, and the offending argument in the message).

use medgen_core::burn::module::{Module, Param};
use medgen_core::burn::nn::Linear;
use medgen_core::burn::optim::AdamWConfig;
use medgen_core::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen_core::noise::gaussian_noise;
use medgen_core::{
    Autoencoder, Condition, CoreError, DensityKind, LogDensity, Sample, init_seeded, seeded_rng,
};
use medgen_testing::assert_error;
use medgen_testing::{host, max_abs_diff, test_device};
use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};
use medgen_vae::{
    BackboneConfig, Coder, ConditionSpec, ImportanceWeighted, Likelihood, Vae, VaeConfig, VaeError,
    VaeLossConfig,
};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// The pPCA model `x = W z + m + σ ε` in 2D with a 1D latent.
const W: [f32; 2] = [1.5, 0.5];
const M: [f32; 2] = [0.3, -0.2];
const SIGMA: f32 = 0.5;

/// `M = WᵀW + σ²`, the posterior precision times σ².
fn big_m() -> f32 {
    W[0] * W[0] + W[1] * W[1] + SIGMA * SIGMA
}

/// Replaces the single affine layer of an MLP coder by `x ↦ x·weight + bias`
/// (`weight: [in, out]`).
fn set_affine(coder: &mut Coder, weight: Vec<f32>, shape: [usize; 2], bias: Vec<f32>) {
    let Coder::Mlp(mlp) = coder else { panic!("a vector backbone has MLP coders") };
    assert_eq!(mlp.layers.len(), 1, "an empty hidden list gives one affine layer");
    let layer: &mut Linear = &mut mlp.layers[0];
    let device = layer.weight.val().device();
    let n = bias.len();
    layer.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight, shape), &device));
    layer.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [n]), &device)));
}

/// A linear VAE at the pPCA optimum (Tipping & Bishop 1999): decoder `z ↦ W z + m`, and the
/// exact posterior `q(z | x) = N(a·(x − m), σ²/M)` with `a = W / M`.
fn ppca_vae(device: &Device) -> Vae {
    let mut vae = VaeConfig::new(BackboneConfig::new(0, 2, 1).with_hidden(vec![]))
        .with_likelihood(Likelihood::Gaussian { std: f64::from(SIGMA) })
        .init(device)
        .unwrap();
    set_affine(&mut vae.decoder, W.to_vec(), [1, 2], M.to_vec());
    let a = [W[0] / big_m(), W[1] / big_m()];
    // Outputs [μ, log σ²]: μ = a·x − a·m, log σ² = log(σ²/M).
    set_affine(
        &mut vae.encoder,
        vec![a[0], 0.0, a[1], 0.0],
        [2, 2],
        vec![-(a[0] * M[0] + a[1] * M[1]), (SIGMA * SIGMA / big_m()).ln()],
    );
    vae
}

const POINTS: [[f32; 2]; 3] = [[1.0, 0.5], [-2.0, -0.4], [3.0, 1.5]];

fn points(device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = POINTS.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [3, 2]), device)
}

/// `log N(x; m, WWᵀ + σ² I)` in f64.
fn ppca_log_marginal(x: [f32; 2]) -> f64 {
    let (w, s2) = (W.map(f64::from), f64::from(SIGMA * SIGMA));
    let c = [[w[0] * w[0] + s2, w[0] * w[1]], [w[0] * w[1], w[1] * w[1] + s2]];
    let det = c[0][0] * c[1][1] - c[0][1] * c[1][0];
    let d = [f64::from(x[0] - M[0]), f64::from(x[1] - M[1])];
    let quad = (c[1][1] * d[0] * d[0] - 2.0 * c[0][1] * d[0] * d[1] + c[0][0] * d[1] * d[1]) / det;
    -0.5 * (quad + det.ln() + 2.0 * LN_2PI)
}

/// A small convolutional VAE on 8 × 8 images: latents `[N, 2, 8, 8]`.
fn conv_vae() -> VaeConfig {
    VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4])).with_sample_size(vec![8, 8])
}

#[test]
fn the_ppca_vae_importance_weighted_bound_is_the_exact_likelihood() {
    let device = test_device();
    let vae = ppca_vae(&device);
    let expected: Vec<f64> = POINTS.iter().map(|&p| ppca_log_marginal(p)).collect();
    // At the optimum every importance weight p(x, z) / q(z | x) equals p(x), for any k.
    for k in [1, 4] {
        let bound = ImportanceWeighted { vae: &vae, k };
        let value = bound
            .log_density(points(&device), &Condition::none(), &mut seeded_rng(k as u64))
            .unwrap();
        assert_eq!(value.kind, DensityKind::LowerBound);
        for (got, e) in host::<f32, 1, _>(value.nats).iter().zip(&expected) {
            assert!((f64::from(*got) - e).abs() < 1e-4, "k = {k}: IWAE {got} vs log p(x) {e}");
        }
    }
    // The ELBO is a lower bound of the same value (equal in expectation only).
    let elbo = vae.log_density(points(&device), &Condition::none(), &mut seeded_rng(0)).unwrap();
    assert_eq!(elbo.kind, DensityKind::LowerBound);
    assert_eq!(host::<f32, 1, _>(elbo.nats).len(), 3);
}

#[test]
fn the_ppca_vae_encodes_decodes_and_samples_by_its_formulas() {
    let device = test_device();
    let vae = ppca_vae(&device);
    // encode = posterior mean a·(x − m), decode = W z + m.
    let mu = host::<f32, 2, _>(vae.encode(points(&device)).unwrap());
    for (p, got) in POINTS.iter().zip(&mu) {
        let expected = (W[0] * (p[0] - M[0]) + W[1] * (p[1] - M[1])) / big_m();
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }
    let z = Tensor::<2>::from_floats([[2.0], [-1.0]], &device);
    let decoded = host::<f32, 2, _>(vae.decode(z).unwrap());
    let expected = [2.0 * W[0] + M[0], 2.0 * W[1] + M[1], -W[0] + M[0], -W[1] + M[1]];
    for (got, e) in decoded.iter().zip(expected) {
        assert!((got - e).abs() < 1e-5, "{got} vs {e}");
    }
    // Sampling decodes prior draws z ~ N(0, 1) taken from the caller's generator: one pass.
    let out = vae.sample(4, &Condition::<2>::none(), &mut seeded_rng(12), &device).unwrap();
    assert_eq!((out.samples.dims(), out.nfe), ([4, 2], 1));
    let z = host::<f32, 2, _>(gaussian_noise([4, 1], &mut seeded_rng(12), &device).unwrap());
    let samples = host::<f32, 2, _>(out.samples);
    for (i, z) in z.iter().enumerate() {
        for j in 0..2 {
            let expected = z * W[j] + M[j];
            assert!(
                (samples[2 * i + j] - expected).abs() < 1e-5,
                "{} vs {expected}",
                samples[2 * i + j]
            );
        }
    }
}

#[test]
fn the_vae_loss_combines_likelihood_and_kl_as_configured() {
    let device = test_device();
    let vae = ppca_vae(&device);
    let none = Condition::none();
    let run = |config: VaeLossConfig, step| {
        let out = config
            .init()
            .unwrap()
            .loss(&vae, points(&device), &none, step, &mut seeded_rng(3))
            .unwrap();
        (
            host::<f32, 1, _>(out.loss)[0],
            host::<f32, 1, _>(out.log_likelihood)[0],
            host::<f32, 1, _>(out.kl)[0],
        )
    };
    let (loss, ll, kl) = run(VaeLossConfig::new(), 0);
    assert!((loss - (kl - ll)).abs() < 1e-4, "β = 1: {loss} vs {kl} − {ll}");
    // The analytic KL of N(μ, s²) from N(0, 1), s² = σ²/M, averaged over the batch.
    let s2 = f64::from(SIGMA * SIGMA / big_m());
    let expected_kl = POINTS
        .iter()
        .map(|p| {
            let mu = f64::from((W[0] * (p[0] - M[0]) + W[1] * (p[1] - M[1])) / big_m());
            0.5 * (mu * mu + s2 - 1.0 - s2.ln())
        })
        .sum::<f64>()
        / 3.0;
    assert!((f64::from(kl) - expected_kl).abs() < 1e-4, "{kl} vs {expected_kl}");
    // β = 0 drops the KL, β = 2 doubles it; the same draws give the same likelihood.
    let (loss0, ll0, _) = run(VaeLossConfig::new().with_beta(0.0), 0);
    assert_eq!(ll0, ll);
    assert!((loss0 + ll).abs() < 1e-5);
    let (loss2, _, _) = run(VaeLossConfig::new().with_beta(2.0), 0);
    assert!((loss2 - (2.0 * kl - ll)).abs() < 1e-4);
    // Warm-up ramps β linearly; free bits above the KL of the single latent unit count λ.
    let warm = VaeLossConfig::new().with_beta(2.0).with_warmup_steps(10).init().unwrap();
    assert_eq!((warm.beta_at(0), warm.beta_at(5), warm.beta_at(20)), (0.0, 1.0, 2.0));
    let (loss_warm, _, _) = run(VaeLossConfig::new().with_beta(2.0).with_warmup_steps(10), 5);
    assert!((loss_warm - (kl - ll)).abs() < 1e-4);
    let (loss_free, _, _) = run(VaeLossConfig::new().with_free_bits(50.0), 0);
    assert!((loss_free - (50.0 - ll)).abs() < 1e-3);
}

#[test]
fn a_conv_vae_trains_one_step_then_samples() {
    let device = test_device().autodiff();
    let mut rng = seeded_rng(31);
    let images = gaussian_noise([4, 1, 8, 8], &mut rng, &device).unwrap().tanh();
    let vae = init_seeded(&device, &mut rng, |d| conv_vae().init(d)).unwrap();
    let loss = VaeLossConfig::new().init().unwrap();
    let none = Condition::none();
    let before = host::<f32, 1, _>(
        loss.loss(&vae, images.clone(), &none, 0, &mut seeded_rng(8)).unwrap().loss,
    )[0];
    let config = TrainerConfig::new(WarmupCosineConfig::new(1e-2, 2).with_warmup_steps(0));
    let mut trainer =
        Trainer::new(&config, vae, AdamWConfig::new().init(), seeded_rng(8), &()).unwrap();
    let objective = |vae: &Vae, step, rng: &mut medgen_core::SeededRng| {
        Ok::<_, VaeError>(loss.loss(vae, images.clone(), &none, step, rng)?.loss)
    };
    let report = trainer.step(objective).unwrap();
    assert_eq!(report.step, 1);
    assert!(
        (report.loss - before).abs() <= 1e-5 * before.abs().max(1.0),
        "{} vs {before}",
        report.loss
    );
    trainer.fit(objective).unwrap();
    assert!(trainer.is_finished());
    assert_eq!(trainer.history().len(), 2);
    let vae = trainer.inference_model();
    let out = vae.sample(2, &Condition::<4>::none(), &mut seeded_rng(0), &test_device()).unwrap();
    assert_eq!((out.samples.dims(), out.nfe), ([2, 1, 8, 8], 1));
    assert!(host::<f32, 4, _>(out.samples).iter().all(|v| v.is_finite()));
    let latents = vae.encode(images.inner()).unwrap();
    assert_eq!(latents.dims(), [4, 2, 8, 8]);
}

#[test]
fn a_conditional_vae_samples_with_class_labels() {
    let device = test_device();
    let vae = init_seeded(&device, &mut seeded_rng(4), |d| {
        VaeConfig::new(BackboneConfig::new(0, 3, 2).with_hidden(vec![8]))
            .with_condition(ConditionSpec::new().with_num_classes(Some(2)))
            .init(d)
    })
    .unwrap();
    let labels = |values: [i64; 3]| {
        Condition::<2>::none().with_class(Tensor::<1, Int>::from_ints(values, &device))
    };
    let a = vae.sample(3, &labels([0, 0, 0]), &mut seeded_rng(1), &device).unwrap();
    let b = vae.sample(3, &labels([1, 1, 1]), &mut seeded_rng(1), &device).unwrap();
    assert_eq!((a.samples.dims(), a.nfe), ([3, 3], 1));
    // Same latent draws, another class: other samples.
    assert!(max_abs_diff(a.samples, b.samples) > 1e-6);
    assert_error!(
        vae.sample(3, &Condition::<2>::none(), &mut seeded_rng(1), &device).unwrap_err(),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "condition.class"
    );
    assert_error!(
        vae.sample(2, &labels([0, 1, 0]), &mut seeded_rng(1), &device).unwrap_err(),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "condition.class"
    );
}

#[test]
fn a_conv_vae_survives_a_save_load_round_trip() {
    let device = test_device();
    let vae = init_seeded(&device, &mut seeded_rng(1), |d| conv_vae().init(d)).unwrap();
    let other = init_seeded(&device, &mut seeded_rng(2), |d| conv_vae().init(d)).unwrap();
    let x = gaussian_noise([2, 1, 8, 8], &mut seeded_rng(3), &device).unwrap();
    let reference = vae.encode(x.clone()).unwrap();
    assert!(max_abs_diff(reference.clone(), other.encode(x.clone()).unwrap()) > 1e-4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vae.bpk");
    vae.save_file(&path).unwrap();
    let loaded = other.load_file(&path);
    assert_eq!(max_abs_diff(reference, loaded.encode(x).unwrap()), 0.0);
}

#[test]
fn bad_configurations_are_typed_errors() {
    let device = test_device();
    let init = |config: VaeConfig| config.init(&device).unwrap_err();
    assert_error!(
        init(VaeConfig::new(BackboneConfig::new(1, 1, 2))),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "spatial_dims"
    );
    assert_error!(
        init(VaeConfig::new(BackboneConfig::new(2, 0, 2))),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "data_channels"
    );
    assert_error!(
        init(VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![]))),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "hidden"
    );
    assert_error!(
        init(
            VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4, 4]))
                .with_sample_size(vec![7, 7])
        ),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "sample_size"
    );
    assert_error!(
        init(conv_vae().with_likelihood(Likelihood::Gaussian { std: 0.0 })),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "likelihood"
    );
    assert_error!(
        init(conv_vae().with_condition(ConditionSpec::new().with_num_classes(Some(0)))),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "num_classes"
    );
    assert_error!(
        VaeLossConfig::new().with_beta(-1.0).init().unwrap_err(),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "beta"
    );
    assert_error!(
        VaeLossConfig::new().with_free_bits(f64::NAN).init().unwrap_err(),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "free_bits"
    );
}

#[test]
fn bad_model_inputs_are_typed_errors() {
    let device = test_device();
    let vae = init_seeded(&device, &mut seeded_rng(1), |d| conv_vae().init(d)).unwrap();
    let none = Condition::none();
    let x = Tensor::<4>::zeros([2, 1, 8, 8], &device);
    assert_error!(
        vae.iwae(x.clone(), &none, 0, &mut seeded_rng(0)).unwrap_err(),
        VaeError::NoImportanceSamples { k: 0 },
        "k = 0"
    );
    assert_error!(
        vae.elbo(Tensor::<4>::zeros([2, 3, 8, 8], &device), &none, &mut seeded_rng(0)).unwrap_err(),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "data"
    );
    assert_error!(
        vae.elbo(
            Tensor::<5>::zeros([2, 1, 8, 8, 8], &device),
            &Condition::none(),
            &mut seeded_rng(0)
        )
        .unwrap_err(),
        VaeError::Core(CoreError::InvalidRank { expected: 4, got: 5, .. }),
        "data"
    );
    let nan = x.clone().add_scalar(f32::NAN);
    assert_error!(
        vae.elbo(nan, &none, &mut seeded_rng(0)).unwrap_err(),
        VaeError::Core(CoreError::NonFinite { .. }),
        "VAE input"
    );
    assert_error!(
        vae.decode(Tensor::<4>::zeros([2, 3, 8, 8], &device)).unwrap_err(),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "latent"
    );
    // The model is unconditional.
    let labelled = Condition::<4>::none().with_class(Tensor::<1, Int>::zeros([2], &device));
    assert_error!(
        vae.elbo(x, &labelled, &mut seeded_rng(0)).unwrap_err(),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "condition.class"
    );
    // A convolutional VAE without a sample size cannot draw samples.
    let unsized_vae = init_seeded(&device, &mut seeded_rng(1), |d| {
        VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4])).init(d)
    })
    .unwrap();
    assert_error!(
        unsized_vae.sample(1, &Condition::<4>::none(), &mut seeded_rng(0), &device).unwrap_err(),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "sample_size"
    );
}

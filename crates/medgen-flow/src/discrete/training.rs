//! Tests of maximum-likelihood training of the discrete flows with the shared
//! [`medgen_train::Trainer`] (loss `model.nll(x) = −mean log p(x)`).

mod tests {
    use crate::discrete::{Flow, RealNvpConfig};
    use burn::optim::AdamWConfig;
    use medgen_core::noise::gaussian_noise;
    use medgen_core::{init_seeded, seeded_rng};
    use medgen_testing::test_device;
    use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};

    #[test]
    fn maximum_likelihood_steps_lower_the_nll() {
        let device = test_device().autodiff();
        let data = gaussian_noise([128, 2], &mut seeded_rng(7), &device)
            .unwrap()
            .mul_scalar(0.3)
            .add_scalar(1.5);
        let flow = init_seeded(&device, &mut seeded_rng(1), |d| {
            RealNvpConfig::new(2, 2, 16).with_act_norm(false).init(d)
        })
        .unwrap();
        // A constant learning rate of 1e-2 for 30 steps (no warm-up, no decay).
        let config = TrainerConfig::new(
            WarmupCosineConfig::new(1e-2, 30).with_warmup_steps(0).with_min_lr(1e-2),
        );
        let mut trainer =
            Trainer::new(&config, flow, AdamWConfig::new().init(), seeded_rng(0), &()).unwrap();
        trainer.fit(|flow: &Flow, _, _| flow.nll(data.clone())).unwrap();
        let losses = trainer.history().losses();
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        // The data is N(1.5, 0.3²): NLL ≈ 2·(0.5 ln 2π + ln 0.3 + 0.5) ≈ 0.43 at the optimum,
        // far above it (≈ 4) at the start.
        assert!(last < first - 1.0, "NLL {first} → {last}");
    }

    #[test]
    fn the_core_trainer_fits_a_flow() {
        let device = test_device().autodiff();
        let data = gaussian_noise([64, 2], &mut seeded_rng(8), &device).unwrap().add_scalar(2.0);
        let flow =
            init_seeded(&device, &mut seeded_rng(2), |d| RealNvpConfig::new(2, 2, 8).init(d))
                .unwrap();
        let flow = flow.initialize(data.clone()).unwrap();
        let before = flow.nll(data.clone()).unwrap().into_scalar::<f32>();
        let config = TrainerConfig::new(WarmupCosineConfig::new(1e-2, 10));
        let mut trainer =
            Trainer::new(&config, flow, AdamWConfig::new().init(), seeded_rng(0), &()).unwrap();
        trainer.fit(|flow: &Flow, _, _| flow.nll(data.clone())).unwrap();
        let after = trainer.into_model().nll(data).unwrap().into_scalar::<f32>();
        assert!(after.is_finite() && after < before, "NLL {before} → {after}");
    }
}

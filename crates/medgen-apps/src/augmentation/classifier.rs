//! Training and scoring the downstream classifier of an augmentation study (a
//! [`LesionClassifier`]) with cross-entropy `−(1/N) Σ_n log p_φ(y_n | x_n)` by medgen-train's
//! [`Trainer`].

use burn::config::Config;
use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, TensorData};
use medgen_core::{SeededRng, init_seeded, seeded_rng};
use medgen_metrics::auroc;
use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};
use rand::RngExt;

use super::network::{LesionClassifier, LesionClassifierConfig};
use crate::error::{AppsError, Result};
use crate::images::host_values;

/// How the downstream classifier is built and trained.
#[derive(Config, Debug, PartialEq)]
pub struct ClassifierTrainingConfig {
    /// The network: 2 spatial axes, the images' channels, the number of classes.
    pub network: LesionClassifierConfig,
    /// Optimiser steps.
    #[config(default = 300)]
    pub steps: usize,
    /// Mini-batch size (drawn with replacement).
    #[config(default = 32)]
    pub batch: usize,
    /// Peak learning rate (AdamW, warm-up and cosine decay).
    #[config(default = 2e-3)]
    pub learning_rate: f64,
}

/// Held-out performance of a classifier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassifierScores {
    /// Fraction of images whose most probable class is the true one.
    pub accuracy: f64,
    /// AUROC of `1 − p(class 0 | x)` against "not class 0" (healthy is class 0).
    pub auroc: f64,
}

/// Trains a classifier on `images` (`[N, C, H, W]`, on an autodiff device) with `labels`
/// (one class per image) from `seed`; returns the trained network for inference (its inputs go
/// on the plain, non-autodiff device).
///
/// # Errors
/// Configuration errors naming `steps`, `batch` or `labels` (count, or a class outside
/// `0..num_classes`), and the network's and trainer's errors (a diverging loss stops with
/// the step).
pub fn train_classifier(
    config: &ClassifierTrainingConfig,
    images: Tensor<4>,
    labels: &[usize],
    seed: u64,
) -> Result<LesionClassifier> {
    let n = images.dims()[0];
    if config.steps == 0 || config.batch == 0 {
        return Err(AppsError::config("steps/batch", "must be at least 1"));
    }
    check_labels(labels, n, config.network.num_classes)?;
    let device = images.device();
    let mut rng = seeded_rng(seed);
    let model = init_seeded(&device, &mut rng, |d| config.network.init(d))?;
    let trainer_config = TrainerConfig::new(
        WarmupCosineConfig::new(config.learning_rate, config.steps)
            .with_warmup_steps((config.steps / 10).max(1)),
    );
    let optimizer = AdamWConfig::new().with_weight_decay(1e-4).init();
    let mut trainer = Trainer::new(&trainer_config, model, optimizer, rng, &(config, n))?;
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    trainer.fit(|model: &LesionClassifier, _step, rng: &mut SeededRng| -> Result<Tensor<1>> {
        let picks: Vec<usize> = (0..config.batch).map(|_| rng.random_range(0..n)).collect();
        let index: Vec<i64> = picks.iter().map(|&i| i as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [config.batch]), &device);
        let x = images.clone().select(0, index);
        let y: Vec<i64> = picks.iter().map(|&i| labels[i]).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [config.batch]), &device);
        Ok(model.log_prob(x, y)?.mean().neg())
    })?;
    Ok(trainer.into_model().valid())
}

/// Accuracy and AUROC (see [`ClassifierScores`]) of `model` on `images` with `labels`,
/// evaluated in batches of 64.
///
/// # Errors
/// A configuration error naming `labels`, an `Undefined` AUROC when the labels hold a single
/// group, and the network's errors.
pub fn evaluate_classifier(
    model: &LesionClassifier,
    images: Tensor<4>,
    labels: &[usize],
) -> Result<ClassifierScores> {
    let n = images.dims()[0];
    check_labels(labels, n, model.num_classes)?;
    let mut probabilities = Vec::with_capacity(n * model.num_classes);
    for start in (0..n).step_by(64) {
        let len = 64.min(n - start);
        let x = images.clone().narrow(0, start, len);
        let logits = model.forward(x)?;
        probabilities.extend(host_values(softmax(logits, 1), "class probabilities")?);
    }
    let k = model.num_classes;
    let mut correct = 0;
    let mut scores = Vec::with_capacity(n);
    for (row, &label) in probabilities.chunks(k).zip(labels) {
        let predicted =
            row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
        correct += usize::from(predicted == label);
        scores.push(1.0 - row[0]);
    }
    let positive: Vec<bool> = labels.iter().map(|&l| l != 0).collect();
    Ok(ClassifierScores { accuracy: correct as f64 / n as f64, auroc: auroc(&positive, &scores)? })
}

fn check_labels(labels: &[usize], n: usize, classes: usize) -> Result<()> {
    if labels.len() != n || labels.iter().any(|&l| l >= classes) {
        return Err(AppsError::config(
            "labels",
            format!("need {n} labels in 0..{classes}, got {}", labels.len()),
        ));
    }
    Ok(())
}

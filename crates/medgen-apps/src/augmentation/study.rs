//! The augmentation study: does adding synthetic images from a class-conditional generator
//! to a small real training set help a downstream classifier, and how much is enough?
//!
//! For each ratio `r` the training set is the `n` real images plus `⌊r · n⌋` synthetic ones,
//! allocated to classes so that the rare classes are filled up first (oversampling by asking
//! the generator for more of them, [`synthetic_allocation`]); a fresh classifier is trained
//! on it and scored on held-out real images. The seed's finding is a gain that plateaus around
//! 10:1.

use burn::config::Config;
use burn::tensor::Tensor;

use super::classifier::{
    ClassifierScores, ClassifierTrainingConfig, evaluate_classifier, train_classifier,
};
use crate::error::{AppsError, Result};

/// Settings of [`run_augmentation_study`].
#[derive(Config, Debug, PartialEq)]
pub struct AugmentationStudyConfig {
    /// Synthetic-to-real ratios `r ≥ 0` (the seed's 0, 1, 2, 5, 10).
    #[config(default = "vec![0.0, 1.0, 2.0, 5.0, 10.0]")]
    pub ratios: Vec<f64>,
    /// The classifier and its training.
    pub classifier: ClassifierTrainingConfig,
    /// Seed of every classifier's initialisation and mini-batches (the same for every ratio,
    /// so the ratios differ only in their data).
    #[config(default = 0)]
    pub seed: u64,
}

/// One line of the study's table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AugmentationRow {
    /// The synthetic-to-real ratio.
    pub ratio: f64,
    /// Real training images.
    pub real: usize,
    /// Synthetic training images.
    pub synthetic: usize,
    /// Held-out scores of the classifier trained on them.
    pub scores: ClassifierScores,
}

/// How many synthetic images of each class to ask for, given the real class counts and a
/// total of `synthetic`: water-filling towards equal class totals, so the rarest class gets
/// images first, then the next, and any remainder is spread evenly (lowest classes first).
pub fn synthetic_allocation(real_counts: &[usize], synthetic: usize) -> Vec<usize> {
    let k = real_counts.len();
    let mut extra = vec![0usize; k];
    for _ in 0..synthetic {
        let Some(class) = (0..k).min_by_key(|&c| (real_counts[c] + extra[c], c)) else {
            break;
        };
        extra[class] += 1;
    }
    extra
}

/// Runs the study (see the [module documentation](self)) on real training images `real`
/// (`[n, C, H, W]` on an autodiff device) with `real_labels`, held-out `test` images with
/// `test_labels`, and a class-conditional generator `generate(class, count) → [count, C, H, W]`
/// (on the autodiff device), which is called once per class for the largest ratio (smaller
/// ratios use a prefix of the same images). `test` lives on the plain device.
///
/// # Errors
/// A configuration error naming `ratios` (empty, negative or not finite), the classifier's
/// and generator's errors.
pub fn run_augmentation_study<G>(
    config: &AugmentationStudyConfig,
    real: Tensor<4>,
    real_labels: &[usize],
    test: Tensor<4>,
    test_labels: &[usize],
    mut generate: G,
) -> Result<Vec<AugmentationRow>>
where
    G: FnMut(usize, usize) -> Result<Tensor<4>>,
{
    if config.ratios.is_empty() || config.ratios.iter().any(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(AppsError::config(
            "ratios",
            format!("need finite ratios >= 0, got {:?}", config.ratios),
        ));
    }
    let n = real.dims()[0];
    let classes = config.classifier.network.num_classes;
    let mut counts = vec![0usize; classes];
    for &label in real_labels {
        if label >= classes {
            return Err(AppsError::config(
                "real_labels",
                format!("class {label} outside 0..{classes}"),
            ));
        }
        counts[label] += 1;
    }
    let largest = config.ratios.iter().fold(0.0f64, |a, &b| a.max(b));
    let most = synthetic_allocation(&counts, (largest * n as f64).floor() as usize);
    let pools: Vec<Option<Tensor<4>>> = most
        .iter()
        .enumerate()
        .map(|(class, &count)| if count == 0 { Ok(None) } else { generate(class, count).map(Some) })
        .collect::<Result<_>>()?;
    let mut rows = Vec::with_capacity(config.ratios.len());
    for &ratio in &config.ratios {
        let total = (ratio * n as f64).floor() as usize;
        let wanted = synthetic_allocation(&counts, total);
        let mut images = vec![real.clone()];
        let mut labels = real_labels.to_vec();
        for (class, (&count, pool)) in wanted.iter().zip(&pools).enumerate() {
            if let (true, Some(pool)) = (count > 0, pool) {
                images.push(pool.clone().narrow(0, 0, count));
                labels.extend(std::iter::repeat_n(class, count));
            }
        }
        let model =
            train_classifier(&config.classifier, Tensor::cat(images, 0), &labels, config.seed)?;
        let scores = evaluate_classifier(&model, test.clone(), test_labels)?;
        rows.push(AugmentationRow { ratio, real: n, synthetic: total, scores });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_fills_the_rare_class_first_then_balances() {
        assert_eq!(synthetic_allocation(&[30, 10], 10), vec![0, 10]);
        assert_eq!(synthetic_allocation(&[30, 10], 30), vec![5, 25]);
        assert_eq!(synthetic_allocation(&[5, 5], 3), vec![2, 1]);
        assert_eq!(synthetic_allocation(&[5, 5], 0), vec![0, 0]);
        let total: usize = synthetic_allocation(&[7, 2, 40], 100).iter().sum();
        assert_eq!(total, 100);
    }
}

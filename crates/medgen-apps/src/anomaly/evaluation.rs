//! Evaluation of anomaly maps against lesion masks: pixel-level AUROC and AUPRC, the Dice
//! score at the best threshold, image-level AUROC of the pooled scores, and the same per
//! lesion size (small focal lesions are the hard case).

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_metrics::{auroc, average_precision, best_dice_threshold};

use super::map::{ScorePooling, ensure_same_map_shape};
use crate::error::{AppsError, Result};
use crate::images::host_values;

/// Settings of [`evaluate_anomaly_maps`].
#[derive(Config, Debug, PartialEq)]
pub struct AnomalyEvaluationConfig {
    /// How a map becomes the image score for image-level AUROC.
    #[config(default = "ScorePooling::TopFraction(0.01)")]
    pub pooling: ScorePooling,
    /// Increasing edges of the lesion-size bins, as the lesion's fraction of the image's
    /// pixels: edges `e_1 < … < e_k` give bins `(0, e_1), [e_1, e_2), …, [e_k, 1]`.
    #[config(default = "vec![0.005, 0.015]")]
    pub size_edges: Vec<f64>,
}

/// The results for the images whose lesion fraction lies in `[lower, upper)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SizeBinResult {
    /// Smallest lesion fraction of the bin (exclusive 0 for the first bin).
    pub lower: f64,
    /// Largest lesion fraction of the bin (exclusive, 1 inclusive for the last).
    pub upper: f64,
    /// Number of images with lesions in the bin.
    pub images: usize,
    /// Pixel AUROC over these images' pixels (`None` for an empty bin).
    pub pixel_auroc: Option<f64>,
    /// Mean per-image Dice at the global best threshold (`None` for an empty bin).
    pub mean_dice: Option<f64>,
}

/// Everything [`evaluate_anomaly_maps`] measures.
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyEvaluation {
    /// Area under the ROC curve of all pixels' scores against the lesion mask.
    pub pixel_auroc: f64,
    /// Average precision (area under the precision-recall curve) of the same.
    pub pixel_auprc: f64,
    /// The best Dice `max_τ 2TP/(2TP + FP + FN)` over thresholds of the pooled pixels.
    pub best_dice: f64,
    /// The threshold `τ` reaching it.
    pub threshold: f64,
    /// AUROC of the pooled image scores against "has a lesion" (`None` unless the set holds
    /// both healthy and lesion images).
    pub image_auroc: Option<f64>,
    /// The pooled image scores, one per image.
    pub image_scores: Vec<f64>,
    /// Per lesion-size bin results.
    pub per_size: Vec<SizeBinResult>,
}

/// Evaluates anomaly `maps` (`[N, 1, ...]`) against binary lesion `masks` of the same shape
/// (values > 0.5 are lesion) with `config` (see [`AnomalyEvaluation`]). Reads both to the
/// host once.
///
/// # Errors
/// A shape error if the shapes differ, a configuration error naming `size_edges` unless they
/// increase strictly within `(0, 1)`, an invalid pooling, and an `Undefined` metrics error
/// when the masks hold no lesion pixel.
pub fn evaluate_anomaly_maps<const D: usize>(
    maps: Tensor<D>,
    masks: Tensor<D>,
    config: &AnomalyEvaluationConfig,
) -> Result<AnomalyEvaluation> {
    let dims = maps.dims();
    ensure_same_map_shape(&dims, &masks.dims(), "masks")?;
    medgen_core::check::ensure_non_empty(&dims, "anomaly maps")?;
    let per_item: usize = dims[1..].iter().product();
    let scores = host_values(maps, "anomaly maps")?;
    medgen_core::check::ensure_finite_values(
        &scores.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        "anomaly maps",
    )?;
    let labels: Vec<bool> = host_values(masks, "masks")?.into_iter().map(|v| v > 0.5).collect();
    evaluate_host(&scores, &labels, per_item, config)
}

/// [`evaluate_anomaly_maps`] on host values: `scores` and `labels` of `N · per_item`
/// pixels, item after item.
///
/// # Errors
/// As [`evaluate_anomaly_maps`].
pub fn evaluate_host(
    scores: &[f64],
    labels: &[bool],
    per_item: usize,
    config: &AnomalyEvaluationConfig,
) -> Result<AnomalyEvaluation> {
    config.pooling.validate()?;
    validate_edges(&config.size_edges)?;
    if per_item == 0 || scores.len() != labels.len() || !scores.len().is_multiple_of(per_item) {
        return Err(AppsError::config("masks", "need one label per score and whole images"));
    }
    let pixel_auroc = auroc(labels, scores)?;
    let pixel_auprc = average_precision(labels, scores)?;
    let best = best_dice_threshold(labels, scores)?;
    let images: Vec<(&[f64], &[bool])> =
        scores.chunks(per_item).zip(labels.chunks(per_item)).collect();
    let image_scores: Vec<f64> = images.iter().map(|(s, _)| config.pooling.pool(s)).collect();
    let has_lesion: Vec<bool> = images.iter().map(|(_, l)| l.iter().any(|&v| v)).collect();
    let image_auroc = if has_lesion.iter().all(|&v| v) || has_lesion.iter().all(|&v| !v) {
        None
    } else {
        Some(auroc(&has_lesion, &image_scores)?)
    };
    let mut lowers = vec![0.0];
    lowers.extend(&config.size_edges);
    let mut uppers = config.size_edges.clone();
    uppers.push(1.0);
    let mut per_size = Vec::with_capacity(lowers.len());
    for (bin, (&lower, &upper)) in lowers.iter().zip(&uppers).enumerate() {
        let last = bin + 1 == lowers.len();
        let members: Vec<&(&[f64], &[bool])> = images
            .iter()
            .filter(|(_, l)| {
                let fraction = l.iter().filter(|&&v| v).count() as f64 / per_item as f64;
                fraction > 0.0
                    && fraction >= lower
                    && (fraction < upper || (last && fraction <= upper))
            })
            .collect();
        let (pixel_auroc, mean_dice) = if members.is_empty() {
            (None, None)
        } else {
            let s: Vec<f64> = members.iter().flat_map(|(s, _)| s.iter().copied()).collect();
            let l: Vec<bool> = members.iter().flat_map(|(_, l)| l.iter().copied()).collect();
            let dice: f64 = members.iter().map(|(s, l)| dice_at(s, l, best.threshold)).sum::<f64>()
                / members.len() as f64;
            (Some(auroc(&l, &s)?), Some(dice))
        };
        per_size.push(SizeBinResult {
            lower,
            upper,
            images: members.len(),
            pixel_auroc,
            mean_dice,
        });
    }
    Ok(AnomalyEvaluation {
        pixel_auroc,
        pixel_auprc,
        best_dice: best.dice,
        threshold: best.threshold,
        image_auroc,
        image_scores,
        per_size,
    })
}

/// `2TP / (2TP + FP + FN)` of `scores ≥ τ` against `labels` (1 when both are empty).
fn dice_at(scores: &[f64], labels: &[bool], threshold: f64) -> f64 {
    let (mut tp, mut predicted, mut actual) = (0usize, 0usize, 0usize);
    for (&s, &l) in scores.iter().zip(labels) {
        let p = s >= threshold;
        tp += usize::from(p && l);
        predicted += usize::from(p);
        actual += usize::from(l);
    }
    if predicted + actual == 0 { 1.0 } else { 2.0 * tp as f64 / (predicted + actual) as f64 }
}

fn validate_edges(edges: &[f64]) -> Result<()> {
    let increasing = edges.windows(2).all(|w| w[0] < w[1]);
    if !increasing || edges.iter().any(|&e| !(e > 0.0 && e < 1.0)) {
        return Err(AppsError::config(
            "size_edges",
            format!("must increase strictly within (0, 1), got {edges:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_map_scores_one_and_bins_split_by_lesion_size() {
        // Three 10-pixel images: healthy, a 1-pixel lesion, a 3-pixel lesion.
        let mut labels = vec![false; 30];
        labels[12] = true;
        labels[25..28].fill(true);
        let scores: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.1 }).collect();
        let config = AnomalyEvaluationConfig::new()
            .with_size_edges(vec![0.2])
            .with_pooling(ScorePooling::Max);
        let e = evaluate_host(&scores, &labels, 10, &config).unwrap();
        assert_eq!((e.pixel_auroc, e.pixel_auprc, e.best_dice), (1.0, 1.0, 1.0));
        assert_eq!(e.image_auroc, Some(1.0));
        assert_eq!(e.per_size.len(), 2);
        assert_eq!((e.per_size[0].images, e.per_size[1].images), (1, 1));
        assert_eq!(e.per_size[0].mean_dice, Some(1.0));
    }

    #[test]
    fn a_map_that_inverts_the_mask_scores_zero_and_bad_edges_are_rejected() {
        let labels = [true, false, false, true];
        let scores = [0.0, 1.0, 1.0, 0.0];
        let e = evaluate_host(&scores, &labels, 2, &AnomalyEvaluationConfig::new()).unwrap();
        assert_eq!(e.pixel_auroc, 0.0);
        assert_eq!(e.image_auroc, None);
        let bad = AnomalyEvaluationConfig::new().with_size_edges(vec![0.3, 0.1]);
        assert!(evaluate_host(&scores, &labels, 2, &bad).is_err());
        assert!(evaluate_host(&scores, &[false; 4], 2, &AnomalyEvaluationConfig::new()).is_err());
    }
}

//! Detection metrics with scikit-learn semantics (ties included): ROC and precision-recall
//! curves, AUROC, average precision, and the best-Dice threshold of anomaly maps.

mod curve;
mod precision_recall;
mod roc;
mod threshold;

pub use precision_recall::{PrecisionRecallCurve, average_precision, precision_recall_curve};
pub use roc::{RocCurve, auroc, roc_curve};
pub use threshold::{DiceThreshold, best_dice_threshold};

#[cfg(test)]
pub(crate) mod reference {
    use crate::test_fixtures::{floats, load};

    /// The labels and scores of `image_metrics.json`'s ranking case, with its AUROC and AP.
    pub(crate) fn ranking() -> (Vec<bool>, Vec<f64>, f64, f64) {
        let refs = load("image_metrics.json");
        let r = &refs["ranking"];
        let labels = floats(&r["labels"]).into_iter().map(|v| v == 1.0).collect();
        (
            labels,
            floats(&r["scores"]),
            r["auroc"].as_f64().unwrap(),
            r["average_precision"].as_f64().unwrap(),
        )
    }
}

//! Augmentation studies: train a downstream classifier on real plus synthetic images at
//! several synthetic-to-real ratios and compare held-out accuracy and AUROC.

pub mod classifier;
pub mod network;
pub mod study;

pub use classifier::{
    ClassifierScores, ClassifierTrainingConfig, evaluate_classifier, train_classifier,
};
pub use network::{LesionClassifier, LesionClassifierConfig};
pub use study::{
    AugmentationRow, AugmentationStudyConfig, run_augmentation_study, synthetic_allocation,
};

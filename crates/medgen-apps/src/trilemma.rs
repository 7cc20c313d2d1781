//! The generative learning trilemma measured (Xiao et al., 2022): no family is at once good
//! at sample quality, fast at sampling and able to give likelihoods. A [`TrilemmaReport`]
//! puts the families trained on the same data side by side:
//!
//! - quality: squared Fréchet distance and PRDC ([`SampleQuality`]) of samples against
//!   held-out real images in one fixed feature space, next to the real-vs-real baseline;
//! - speed: network evaluations per batch (NFE) and images per second;
//! - likelihood: bits/dim `−log₂ p(x) / d` on held-out images where tractable (exact for
//!   flows and flow matching, a bound for VAEs and DDPMs, none for GANs).

use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use medgen_core::{Condition, DensityKind, Sample, SeededRng};
use medgen_metrics::{FeatureExtractor, SampleQuality, extract_features};
use medgen_train::viz::font::{draw_text, text_width};
use medgen_train::viz::{LABEL_PALETTE, Rgb, RgbImage};

use crate::error::{AppsError, Result};

/// The likelihood column of one family.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Likelihood {
    /// Bits per dimension on held-out images.
    pub bits_per_dim: f64,
    /// Whether it is exact, a bound or an estimate.
    pub kind: DensityKind,
}

/// One family's row of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct TrilemmaEntry {
    /// The family (e.g. `DDPM`).
    pub family: String,
    /// Quality of its samples against held-out real images.
    pub quality: SampleQuality,
    /// Network evaluations per sampled batch.
    pub nfe: usize,
    /// Sampled images per second (wall clock, this machine).
    pub images_per_second: f64,
    /// Held-out likelihood, `None` where the family has none.
    pub likelihood: Option<Likelihood>,
}

/// The whole comparison: a real-vs-real baseline and one entry per family.
#[derive(Clone, Debug, PartialEq)]
pub struct TrilemmaReport {
    /// Held-out real images measured against other real images: the best a family can do.
    pub baseline: SampleQuality,
    /// The families.
    pub entries: Vec<TrilemmaEntry>,
}

/// Samples `n` images from `model` in one batch, timing it, and measures their quality
/// against `real_features` (`N × d`, from the same `extractor`) with `k` PRDC neighbours.
/// Returns the quality, the NFE, images per second and the samples.
///
/// # Errors
/// The model's errors (as [`AppsError::Model`]) and the metrics' (e.g. fewer than `k + 1`
/// samples).
pub fn measure_sampler<S, E>(
    model: &S,
    extractor: &E,
    real_features: &[f64],
    n: usize,
    k: usize,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<(SampleQuality, usize, f64, Tensor<4>)>
where
    S: Sample<4> + ?Sized,
    S::Error: std::error::Error + Send + Sync + 'static,
    E: FeatureExtractor + ?Sized,
{
    let started = Instant::now();
    let drawn = model
        .sample(n, &Condition::none(), rng, device)
        .map_err(|e| AppsError::model("sampler", e))?;
    // Reading the samples back makes the timing include the device work.
    let (features, _, dim) = extract_features(extractor, drawn.samples.clone(), 64)?;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let quality = SampleQuality::measure(real_features, &features, dim, k)?;
    Ok((quality, drawn.nfe, n as f64 / seconds, drawn.samples))
}

impl TrilemmaReport {
    /// The report as a Markdown table, the baseline first.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| family | Fréchet ↓ | precision | recall | density | coverage | NFE | images/s | bits/dim |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        let row = |name: &str, q: &SampleQuality, nfe: String, speed: String, bpd: String| {
            format!(
                "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {nfe} | {speed} | {bpd} |\n",
                q.frechet, q.prdc.precision, q.prdc.recall, q.prdc.density, q.prdc.coverage
            )
        };
        out.push_str(&row("real vs real", &self.baseline, "–".into(), "–".into(), "–".into()));
        for e in &self.entries {
            let bpd = match e.likelihood {
                Some(l) => format!("{:.3} ({})", l.bits_per_dim, kind_name(l.kind)),
                None => "–".into(),
            };
            out.push_str(&row(
                &e.family,
                &e.quality,
                e.nfe.to_string(),
                format!("{:.1}", e.images_per_second),
                bpd,
            ));
        }
        out
    }

    /// A three-panel bar chart, one panel per axis of the trilemma (quality as Fréchet
    /// distance, lower is better; speed as images/s on a log scale; likelihood as bits/dim,
    /// lower is better, blank where intractable), one coloured bar per family.
    pub fn render_plot(&self) -> RgbImage {
        const PANEL_W: usize = 220;
        const BAR_H: usize = 14;
        const TOP: usize = 28;
        const LABELS: usize = 130;
        let rows = self.entries.len().max(1);
        let height = TOP + rows * (BAR_H + 6) + 24;
        let mut canvas = RgbImage::new(LABELS + 3 * (PANEL_W + 4), height, [255, 255, 255]);
        let black: Rgb = [0, 0, 0];
        for (i, e) in self.entries.iter().enumerate() {
            let y = (TOP + i * (BAR_H + 6)) as i64;
            draw_text(&mut canvas, 4, y + 3, &e.family, black);
        }
        let fd: Vec<Option<f64>> = self.entries.iter().map(|e| Some(e.quality.frechet)).collect();
        let speed: Vec<Option<f64>> =
            self.entries.iter().map(|e| Some((1.0 + e.images_per_second).log10())).collect();
        let bpd: Vec<Option<f64>> =
            self.entries.iter().map(|e| e.likelihood.map(|l| l.bits_per_dim)).collect();
        let panels = [
            ("quality: Frechet (lower better)", fd),
            ("speed: log10(1+img/s)", speed),
            ("likelihood: bits/dim", bpd),
        ];
        for (p, (title, values)) in panels.iter().enumerate() {
            let x0 = LABELS + p * (PANEL_W + 4);
            draw_text(&mut canvas, x0 as i64, 6, title, black);
            let max = values.iter().flatten().fold(0.0f64, |a, &b| a.max(b)).max(1e-12);
            for (i, value) in values.iter().enumerate() {
                let y = TOP + i * (BAR_H + 6);
                let color = LABEL_PALETTE[(i + 1) % LABEL_PALETTE.len()];
                let Some(v) = value else {
                    draw_text(&mut canvas, x0 as i64, y as i64 + 3, "n/a", [128, 128, 128]);
                    continue;
                };
                let len = ((v.max(0.0) / max) * (PANEL_W - 60) as f64).round() as usize;
                for dy in 0..BAR_H {
                    for dx in 0..len {
                        canvas.put((x0 + dx) as i64, (y + dy) as i64, color);
                    }
                }
                let label = format!("{v:.2}");
                let x = (x0 + len + 4).min(x0 + PANEL_W - text_width(&label));
                draw_text(&mut canvas, x as i64, y as i64 + 3, &label, black);
            }
        }
        canvas
    }

    /// Writes [`Self::render_plot`] as a PNG.
    ///
    /// # Errors
    /// An I/O error from writing the file.
    pub fn save_plot(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(self.render_plot().save_png(path)?)
    }
}

fn kind_name(kind: DensityKind) -> &'static str {
    match kind {
        DensityKind::Exact => "exact",
        DensityKind::LowerBound => "bound",
        DensityKind::Estimate => "estimate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_metrics::Prdc;

    fn quality(frechet: f64) -> SampleQuality {
        SampleQuality {
            prdc: Prdc { precision: 0.5, recall: 0.25, density: 1.0, coverage: 0.75 },
            frechet,
            diversity: 1.0,
        }
    }

    #[test]
    fn the_table_lists_the_baseline_and_every_family_and_the_plot_renders() {
        let report = TrilemmaReport {
            baseline: quality(0.1),
            entries: vec![
                TrilemmaEntry {
                    family: "GAN".into(),
                    quality: quality(3.0),
                    nfe: 1,
                    images_per_second: 900.0,
                    likelihood: None,
                },
                TrilemmaEntry {
                    family: "Flow".into(),
                    quality: quality(9.0),
                    nfe: 1,
                    images_per_second: 50.0,
                    likelihood: Some(Likelihood { bits_per_dim: 2.5, kind: DensityKind::Exact }),
                },
            ],
        };
        let table = report.to_markdown();
        assert_eq!(table.lines().count(), 5);
        assert!(table.contains("| real vs real | 0.10 |"));
        assert!(table.contains("| GAN | 3.00 | 0.50 | 0.25 | 1.00 | 0.75 | 1 | 900.0 | – |"));
        assert!(table.contains("2.500 (exact)"));
        let plot = report.render_plot();
        assert!(plot.width() > 600 && plot.height() > 50);
    }
}

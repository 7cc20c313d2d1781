//! Loss-curve PNGs drawn without a plotting library: axes with numbered ticks, the raw loss
//! (light) and its smoothed curve (dark), optionally on a logarithmic y axis.

use std::path::Path;

use burn::config::Config;

use super::canvas::{Rgb, RgbImage};
use super::font::{GLYPH_HEIGHT, draw_text, text_width};
use crate::LossHistory;
use medgen_core::error::{CoreError, Result};

/// The colour of the raw loss curve.
pub const RAW_CURVE_COLOR: Rgb = [160, 190, 232];
/// The colour of the smoothed loss curve.
pub const SMOOTH_CURVE_COLOR: Rgb = [16, 56, 140];
const BACKGROUND: Rgb = [255, 255, 255];
const GRID_LINE: Rgb = [232, 232, 232];
const INK: Rgb = [0, 0, 0];

/// Margins around the plot area, in pixels: room for the tick labels.
const LEFT: usize = 64;
const RIGHT: usize = 16;
const TOP: usize = 20;
const BOTTOM: usize = 30;
/// The smallest plot area accepted, in pixels.
const MIN_AREA: usize = 40;

/// Configuration of a loss-curve plot.
#[derive(Config, Debug, PartialEq)]
pub struct LossPlotConfig {
    /// Image width in pixels (at least 120).
    #[config(default = 640)]
    pub width: usize,
    /// Image height in pixels (at least 90).
    #[config(default = 400)]
    pub height: usize,
    /// Plot `log10(loss)`; non-positive losses are then left out, as matplotlib does.
    #[config(default = false)]
    pub log_y: bool,
    /// Smoothing factor `β ∈ [0, 1)` of the dark curve (see
    /// [`LossHistory::smoothed`]); 0 draws the raw loss again.
    #[config(default = 0.9)]
    pub smoothing: f32,
}

impl LossPlotConfig {
    /// Checks the size and smoothing ranges.
    pub fn validate(&self) -> Result<()> {
        if self.width < LEFT + RIGHT + MIN_AREA {
            return Err(CoreError::config(
                "width",
                format!("must be at least {}", LEFT + RIGHT + MIN_AREA),
            ));
        }
        if self.height < TOP + BOTTOM + MIN_AREA {
            return Err(CoreError::config(
                "height",
                format!("must be at least {}", TOP + BOTTOM + MIN_AREA),
            ));
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return Err(CoreError::config(
                "smoothing",
                format!("must lie in [0, 1), got {}", self.smoothing),
            ));
        }
        Ok(())
    }
}

/// Draws the loss curve of `history` (see [`LossPlotConfig`]).
///
/// Non-finite losses leave gaps. Fails with [`CoreError::Empty`] if there is no finite loss
/// (no positive loss with `log_y`).
pub fn render_loss_plot(history: &LossHistory, config: &LossPlotConfig) -> Result<RgbImage> {
    config.validate()?;
    let transform = |loss: f32| -> Option<f64> {
        let v = f64::from(loss);
        match (v.is_finite(), config.log_y) {
            (false, _) => None,
            (true, true) => (v > 0.0).then(|| v.log10()),
            (true, false) => Some(v),
        }
    };
    let xs: Vec<f64> = history.steps().iter().map(|&s| s as f64).collect();
    let raw: Vec<Option<f64>> = history.losses().iter().map(|&l| transform(l)).collect();
    let smooth: Vec<Option<f64>> =
        history.smoothed(config.smoothing).into_iter().map(transform).collect();

    let valid = || xs.iter().zip(&raw).filter_map(|(&x, y)| y.map(|y| (x, y)));
    let (x_lo, x_hi) =
        padded_range(valid().map(|p| p.0), 0.0, 0.5).ok_or_else(|| CoreError::Empty {
            what: if config.log_y {
                "positive finite losses to plot".into()
            } else {
                "finite losses to plot".into()
            },
        })?;
    let flat_pad = if config.log_y { 0.5 } else { 1e-3 };
    let (y_lo, y_hi) =
        padded_range(valid().map(|p| p.1), 0.04, flat_pad).expect("non-empty: checked for x");

    let frame = Frame {
        left: LEFT as f64,
        right: (config.width - RIGHT - 1) as f64,
        top: TOP as f64,
        bottom: (config.height - BOTTOM - 1) as f64,
        x: (x_lo, x_hi),
        y: (y_lo, y_hi),
    };
    let mut canvas = RgbImage::new(config.width, config.height, BACKGROUND);
    let x_ticks = linear_ticks(x_lo, x_hi, 6, true);
    let y_ticks =
        if config.log_y { log_ticks(y_lo, y_hi) } else { linear_ticks(y_lo, y_hi, 5, false) };
    draw_grid(&mut canvas, &frame, &x_ticks, &y_ticks);
    draw_polyline(&mut canvas, &frame, &xs, &raw, RAW_CURVE_COLOR, 1);
    draw_polyline(&mut canvas, &frame, &xs, &smooth, SMOOTH_CURVE_COLOR, 2);
    draw_axes(&mut canvas, &frame, &x_ticks, &y_ticks);
    Ok(canvas)
}

/// Draws the loss curve of `history` and saves it as a PNG file (atomically).
pub fn save_loss_plot(
    path: impl AsRef<Path>,
    history: &LossHistory,
    config: &LossPlotConfig,
) -> Result<()> {
    render_loss_plot(history, config)?.save_png(path)
}

/// The plot area in pixels and the data range it shows.
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> i64 {
        let t = (x - self.x.0) / (self.x.1 - self.x.0);
        (self.left + t * (self.right - self.left)).round() as i64
    }

    fn py(&self, y: f64) -> i64 {
        let t = (self.y.1 - y) / (self.y.1 - self.y.0);
        (self.top + t * (self.bottom - self.top)).round() as i64
    }
}

/// `[min, max]` of `values` widened by `fraction` of its span on each side, or by `flat`
/// when all values are equal; `None` for no values.
fn padded_range(values: impl Iterator<Item = f64>, fraction: f64, flat: f64) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold(None, |acc: Option<(f64, f64)>, v| {
        Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
    })?;
    let span = hi - lo;
    let pad = if span > 0.0 { fraction * span } else { flat.max(hi.abs() * 0.1) };
    Some((lo - pad, hi + pad))
}

/// The value of 1, 2, 5 × 10^k nearest to `raw` (in the sense of Heckbert's "nice numbers").
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction < 1.5 {
        1.0
    } else if fraction < 3.0 {
        2.0
    } else if fraction < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Tick positions (in axis units) and their labels.
struct Ticks {
    values: Vec<f64>,
    labels: Vec<String>,
}

/// About `target` round tick values in `[lo, hi]`.
fn linear_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> Ticks {
    let mut step = nice_step((hi - lo) / target as f64);
    if integer {
        step = step.max(1.0);
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let values: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
    let labels = values.iter().map(|&v| format_tick(v, step)).collect();
    Ticks { values, labels }
}

/// Ticks on a `log10` axis spanning exponents `[lo, hi]`: at 1, 2 and 5 × 10^k over up to
/// three decades, at whole decades beyond, and at round exponents within a narrow range.
fn log_ticks(lo: f64, hi: f64) -> Ticks {
    let span = hi - lo;
    if span < 0.6 {
        let fine = linear_ticks(lo, hi, 4, false);
        let labels = fine.values.iter().map(|&t| significant(10f64.powf(t))).collect();
        return Ticks { labels, ..fine };
    }
    let mantissas: &[f64] = if span <= 3.0 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let decade_step = if span <= 3.0 { 1 } else { nice_step(span / 5.0).max(1.0) as i64 };
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let first = (lo.floor() as i64).div_euclid(decade_step) * decade_step;
    for k in (first..=hi.ceil() as i64).step_by(decade_step as usize) {
        for &m in mantissas {
            let t = m.log10() + k as f64;
            if (lo..=hi).contains(&t) {
                values.push(t);
                labels.push(decade_label(m, k));
            }
        }
    }
    Ticks { values, labels }
}

/// `m × 10^k` written plainly (`0.02`, `500`) or as `me k` when far from 1.
fn decade_label(m: f64, k: i64) -> String {
    if (-4..=5).contains(&k) {
        let decimals = (-k).max(0) as usize;
        format!("{:.decimals$}", m * 10f64.powi(k as i32))
    } else {
        format!("{m}e{k}")
    }
}

/// Three significant digits.
fn significant(value: f64) -> String {
    if !(1e-3..1e6).contains(&value) {
        format!("{value:.2e}")
    } else {
        let decimals = (2 - value.log10().floor() as i64).max(0) as usize;
        format!("{value:.decimals$}")
    }
}

/// A tick label: as many decimals as the tick step needs, scientific notation for very
/// large or small numbers.
fn format_tick(value: f64, step: f64) -> String {
    let value = if value.abs() < step * 1e-6 { 0.0 } else { value };
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let magnitude = value.abs();
    if magnitude >= 1e6 || (magnitude > 0.0 && magnitude < 1e-3) || decimals > 4 {
        let text = format!("{value:.1e}");
        text.replace(".0e", "e")
    } else {
        format!("{value:.decimals$}")
    }
}

fn draw_grid(canvas: &mut RgbImage, frame: &Frame, x_ticks: &Ticks, y_ticks: &Ticks) {
    let (top, bottom) = (frame.top as i64, frame.bottom as i64);
    let (left, right) = (frame.left as i64, frame.right as i64);
    for &x in &x_ticks.values {
        let px = frame.px(x);
        for y in top..=bottom {
            canvas.put(px, y, GRID_LINE);
        }
    }
    for &y in &y_ticks.values {
        let py = frame.py(y);
        for x in left..=right {
            canvas.put(x, py, GRID_LINE);
        }
    }
}

fn draw_axes(canvas: &mut RgbImage, frame: &Frame, x_ticks: &Ticks, y_ticks: &Ticks) {
    let (top, bottom) = (frame.top as i64, frame.bottom as i64);
    let (left, right) = (frame.left as i64, frame.right as i64);
    for y in top..=bottom + 1 {
        canvas.put(left - 1, y, INK);
    }
    for x in left - 1..=right {
        canvas.put(x, bottom + 1, INK);
    }
    let glyph_h = GLYPH_HEIGHT as i64;
    let mut next_free = i64::MIN;
    for (&x, label) in x_ticks.values.iter().zip(&x_ticks.labels) {
        let px = frame.px(x);
        for dy in 2..=4 {
            canvas.put(px, bottom + dy, INK);
        }
        let start = px - text_width(label) as i64 / 2;
        if start > next_free {
            draw_text(canvas, start, bottom + 7, label, INK);
            next_free = start + text_width(label) as i64 + 4;
        }
    }
    let mut next_free = i64::MIN;
    for (&y, label) in y_ticks.values.iter().zip(&y_ticks.labels) {
        let py = frame.py(y);
        for dx in 2..=4 {
            canvas.put(left - dx, py, INK);
        }
        // Ticks run bottom to top; skip a label that would overlap the one below it.
        let top_of_label = py - glyph_h / 2;
        if next_free == i64::MIN || top_of_label + glyph_h + 2 <= next_free {
            let start = left - 7 - text_width(label) as i64;
            draw_text(canvas, start, top_of_label, label, INK);
            next_free = top_of_label;
        }
    }
    draw_text(canvas, 4, 6, "loss", INK);
    draw_text(canvas, 4, bottom + 7, "step", INK);
}

/// Joins consecutive points with straight lines (`thickness` pixels, growing downwards);
/// `None` values break the line.
fn draw_polyline(
    canvas: &mut RgbImage,
    frame: &Frame,
    xs: &[f64],
    ys: &[Option<f64>],
    color: Rgb,
    thickness: i64,
) {
    let mut previous: Option<(i64, i64)> = None;
    for (&x, y) in xs.iter().zip(ys) {
        let Some(y) = *y else {
            previous = None;
            continue;
        };
        let point = (frame.px(x), frame.py(y));
        let from = previous.unwrap_or(point);
        draw_line(canvas, from, point, color, thickness);
        previous = Some(point);
    }
}

/// Bresenham's line from `a` to `b`.
fn draw_line(canvas: &mut RgbImage, a: (i64, i64), b: (i64, i64), color: Rgb, thickness: i64) {
    let (mut x, mut y) = a;
    let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
    let (sx, sy) = ((b.0 - a.0).signum(), (b.1 - a.1).signum());
    let mut err = dx + dy;
    loop {
        for t in 0..thickness {
            canvas.put(x, y + t, color);
        }
        if (x, y) == b {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viz::canvas::tests::read_png;

    fn pixels_of(image: &RgbImage, color: Rgb) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for y in 0..image.height() {
            for x in 0..image.width() {
                if image.get(x, y) == Some(color) {
                    found.push((x, y));
                }
            }
        }
        found
    }

    #[test]
    fn decreasing_loss_ends_bottom_right() {
        let history: LossHistory = (0..200)
            .map(|k| {
                (k, 1.0 + 9.0 * (-(k as f32) / 30.0).exp() + 0.3 * ((k % 7) as f32 - 3.0) / 3.0)
            })
            .collect();
        let config = LossPlotConfig::new().with_width(320).with_height(200);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        save_loss_plot(&path, &history, &config).unwrap();
        let png = read_png(&path);
        assert_eq!((png.width(), png.height()), (320, 200));
        let (plot_w, plot_h) = ((320 - LEFT - RIGHT) as f64, (200 - TOP - BOTTOM) as f64);
        let dark = pixels_of(&png, SMOOTH_CURVE_COLOR);
        let light = pixels_of(&png, RAW_CURVE_COLOR);
        assert!(!light.is_empty());
        let rightmost = dark.iter().max_by_key(|p| p.0).unwrap();
        let leftmost = dark.iter().min_by_key(|p| p.0).unwrap();
        assert!(rightmost.0 as f64 > LEFT as f64 + 0.95 * plot_w, "{rightmost:?}");
        assert!((rightmost.1 - TOP) as f64 > 0.8 * plot_h, "{rightmost:?}");
        assert!(((leftmost.1 - TOP) as f64) < 0.2 * plot_h, "{leftmost:?}");
        // Tick labels are drawn left of the y axis.
        assert!(pixels_of(&png, INK).iter().any(|&(x, y)| x < LEFT - 6 && y > TOP + 10));
    }

    #[test]
    fn exponential_decay_is_a_straight_line_on_log_axes() {
        let history: LossHistory = (0..=100).map(|k| (k, 10f32.powf(-(k as f32) / 50.0))).collect();
        let config = LossPlotConfig::new()
            .with_width(240)
            .with_height(160)
            .with_log_y(true)
            .with_smoothing(0.0);
        let plot = render_loss_plot(&history, &config).unwrap();
        let frame_mid_x = (LEFT + (240 - RIGHT - 1)) / 2;
        let frame_mid_y = (TOP + (160 - BOTTOM - 1)) as f64 / 2.0;
        let dark = pixels_of(&plot, SMOOTH_CURVE_COLOR);
        let column: Vec<usize> = dark.iter().filter(|p| p.0 == frame_mid_x).map(|p| p.1).collect();
        assert!(!column.is_empty());
        for y in column {
            assert!((y as f64 - frame_mid_y).abs() <= 3.0, "{y} vs {frame_mid_y}");
        }
    }

    #[test]
    fn tick_labels_are_round_numbers() {
        assert_eq!(nice_step(0.13), 0.1);
        assert_eq!(nice_step(0.2008), 0.2);
        assert_eq!(nice_step(7.0), 10.0);
        let t = linear_ticks(-0.01, 1.01, 5, false);
        assert_eq!(t.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(format_tick(2e-5, 1e-5), "2e-5");
        let x = linear_ticks(0.0, 2999.0, 6, true);
        assert_eq!(x.labels, ["0", "500", "1000", "1500", "2000", "2500"]);
        // From 0.03 to 1.2: 1-2-5 ticks.
        let log = log_ticks(0.03f64.log10(), 1.2f64.log10());
        assert_eq!(log.labels, ["0.05", "0.1", "0.2", "0.5", "1"]);
        assert!((log.values[1] + 1.0).abs() < 1e-12);
        let wide = log_ticks(-8.5, 0.5);
        assert_eq!(wide.labels, ["1e-8", "1e-6", "0.0001", "0.01", "1"]);
        let narrow = log_ticks(0.0, 0.3);
        assert_eq!(narrow.labels.first().map(String::as_str), Some("1.00"));
    }

    #[test]
    fn unplottable_input_is_an_error() {
        let config = LossPlotConfig::new();
        assert!(matches!(
            render_loss_plot(&LossHistory::new(), &config),
            Err(CoreError::Empty { .. })
        ));
        let negative: LossHistory = [(0, -1.0), (1, f32::NAN)].into_iter().collect();
        assert!(render_loss_plot(&negative, &config).is_ok());
        assert!(matches!(
            render_loss_plot(&negative, &config.clone().with_log_y(true)),
            Err(CoreError::Empty { .. })
        ));
        assert!(render_loss_plot(&negative, &config.clone().with_width(50)).is_err());
        assert!(render_loss_plot(&negative, &config.with_smoothing(1.0)).is_err());
    }
}

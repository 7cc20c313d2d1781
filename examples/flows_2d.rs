//! # flows_2d: five flows fitted to a 2D toy density, compared by held-out likelihood
//!
//! Fits, on two moons, eight Gaussians or a checkerboard (FFJORD/torchcfm's toy densities):
//!
//! 1. **RealNVP**: ActNorm + affine coupling blocks, trained by maximum likelihood;
//! 2. **spline flow**: LU linear + rational-quadratic spline coupling blocks (neural spline
//!    flows), same loss;
//! 3. **CNF**: a continuous normalizing flow `dx/dt = f_θ(x, t)` trained by maximum
//!    likelihood through the instantaneous change of variables (exact divergence by
//!    forward-mode tangents, RK4 through the ODE);
//! 4. **I-CFM** and 5. **OT-CFM**: the same vector field trained by conditional flow matching
//!    with independent and minibatch optimal-transport couplings (simulation-free).
//!
//! The two moons default to noise 0.05 (`--noise`; torchcfm's moons use 0.2). The noise
//! bounds what any model can gain over a Gaussian: about 0.35 nats at 0.2, 1.0 at 0.1 and 1.6
//! at 0.05 (see `ToyDensity::TwoMoons`).
//!
//! It prints each model's held-out negative log-likelihood (nats per point; the flows'
//! densities are exact, the continuous ones up to the Dopri5 tolerance) next to that of a single
//! Gaussian fitted by maximum likelihood, and writes `flows_2d_<data>.png`: columns
//! *data, Gaussian, RealNVP, spline, CNF, I-CFM, OT-CFM*; the top row shows a 2D histogram of
//! samples (fresh data in the first column), the bottom row the learned density `p(x)` on a
//! grid (a histogram of 200 000 data points in the first column).
//!
//! ```sh
//! cargo run --release --example flows_2d
//! cargo run --release --example flows_2d -- --data checkerboard --steps 3000
//! cargo run --release --example flows_2d -- --noise 0.2   # torchcfm's two moons
//! ```
//!
//! Every model sees standardised data `(x − μ)/σ` (per-coordinate mean and standard deviation
//! of a training sample); the reported NLL is in the original units,
//! `−log p(x) = −log p_std((x − μ)/σ) + Σ_i log σ_i`.

use clap::Parser;
use std::error::Error;
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::AdamWConfig;
use medgen::burn::tensor::{Device, Tensor, TensorData};
use medgen::core::noise::gaussian_noise;
use medgen::core::ode::{Dopri5Config, OdeSolver};
use medgen::core::{Condition, DeviceChoice, SeededRng, init_seeded, seeded_rng};
use medgen::flow::ToyDensity;
use medgen::flow::continuous::{
    ContinuousFlowConfig, DivergenceMethod, MlpVectorField, MlpVectorFieldConfig, cnf_log_density,
    cnf_nll_loss, cnf_transport,
};
use medgen::flow::discrete::{Flow, RealNvpConfig, SplineFlowConfig};
use medgen::flow::matching::FlowMatchingLossConfig;
use medgen::train::viz::GridBuilder;
use medgen::train::{Trainer, TrainerConfig, TrainingProgress, WarmupCosineConfig};

/// RealNVP, a spline flow, a CNF, I-CFM and OT-CFM on a 2D toy density.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// two-moons | eight-gaussians | checkerboard.
    #[arg(long, default_value = "two-moons")]
    data: ToyDensity,
    /// Two-moons noise (torchcfm uses 0.2, where even the true density is only ~0.35 nats
    /// better than a Gaussian).
    #[arg(long, default_value_t = 0.05)]
    noise: f64,
    /// Training steps of the discrete flows (I-CFM takes 4N and OT-CFM 2N cheap flow-matching
    /// steps, the CNF N/2 steps, each of which integrates an ODE).
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Held-out points.
    #[arg(long, default_value_t = 5000)]
    test: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/flows_2d")]
    out: PathBuf,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Points used to estimate the standardisation and the Gaussian baseline.
const FIT_SAMPLE: usize = 20_000;
/// Samples drawn from each model for its histogram.
const PICTURE_SAMPLES: usize = 20_000;
/// Pixels per side of each panel (and points per side of the density grid).
const PANEL: usize = 96;
/// Hidden width of every network.
const WIDTH: usize = 64;
/// The flow-matching path width σ (standardised units). The model's density at `t = 1` is
/// the data blurred by `N(0, σ² I)`, so σ must stay well below the moons' thickness
/// (torchcfm's 0.1 suits its noisier, unstandardised moons).
const FM_SIGMA: f64 = 0.01;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let mut data = args.data;
    if let ToyDensity::TwoMoons { noise } = &mut data {
        *noise = args.noise;
    }
    let steps = args.steps;
    let batch = args.batch;
    let test_size = args.test;
    let seed = args.seed;
    let out = args.out.clone();
    let device = args.device.device()?;
    if steps < 2 || batch == 0 || test_size == 0 {
        return Err("need --steps >= 2, --batch >= 1, --test >= 1; see --help".into());
    }
    std::fs::create_dir_all(&out)?;
    let mut rng = seeded_rng(seed);

    let fit_sample = host(data.sample(FIT_SAMPLE, &mut rng, &device)?)?;
    let standard = Standardizer::fit(&fit_sample);
    let gaussian = Gaussian2::fit(&fit_sample);
    let test = data.sample(test_size, &mut rng, &device)?;
    let test_host = host(test.clone())?;
    let test_std = standard.apply(test.clone());
    let window = Window::around(&fit_sample);
    let grid_std = standard.apply(window.grid(&device));

    let run =
        Run { data, batch, standard: standard.clone(), train_device: device.clone().autodiff() };
    let mut rows: Vec<(String, f64, Panels)> = Vec::new();

    let nll = test_host.iter().map(|p| -gaussian.log_prob(*p)).sum::<f64>() / test_size as f64;
    let samples =
        gaussian.transform(&host(gaussian_noise([PICTURE_SAMPLES, 2], &mut rng, &device)?)?);
    let density: Vec<f64> = window.points().map(|p| gaussian.log_prob(p).exp()).collect();
    rows.push(("Gaussian".into(), nll, Panels::new(&window, &samples, &density)));

    let init_batch = standard.apply(data.sample(1024, &mut rng, &run.train_device)?);
    for (name, flow) in [
        ("RealNVP", realnvp(&run.train_device, init_batch.clone(), &mut rng)?),
        ("spline flow", spline_flow(&run.train_device, init_batch, &mut rng)?),
    ] {
        let started = Instant::now();
        let flow = run.train(name, flow, 1e-3, steps, &mut rng, |flow, x, _| flow.nll(x))?;
        let model = Fitted::Discrete(flow);
        rows.push(run.evaluate(name, &model, &test_std, &grid_std, &window, &mut rng)?);
        println!("{name}: trained in {:.1} s", started.elapsed().as_secs_f64());
    }

    // Training integrates with 5 RK4 steps (20 evaluations, each with two tangents for the
    // exact divergence); evaluation uses Dopri5.
    let cnf_training = ContinuousFlowConfig::new().with_solver(OdeSolver::Rk4 { steps: 5 });
    let started = Instant::now();
    let cnf = run.train(
        "CNF",
        vector_field(&run.train_device, WIDTH, &mut rng)?,
        2e-3,
        (steps / 2).max(1),
        &mut rng,
        |field, x, rng| cnf_nll_loss(field, x, &Condition::none(), &cnf_training, rng),
    )?;
    rows.push(run.evaluate(
        "CNF",
        &Fitted::Continuous(cnf),
        &test_std,
        &grid_std,
        &window,
        &mut rng,
    )?);
    println!("CNF: trained in {:.1} s", started.elapsed().as_secs_f64());

    // Flow-matching steps are cheap, so the flow-matching models take more of them (OT-CFM's
    // exact minibatch assignment costs more per step, but its straighter paths are learnt
    // faster); their field is wider, since it must sharpen onto the thin moons near t = 1.
    for (name, loss, model_steps) in [
        ("I-CFM", FlowMatchingLossConfig::conditional(FM_SIGMA).init()?, 4 * steps),
        ("OT-CFM", FlowMatchingLossConfig::exact_optimal_transport(FM_SIGMA).init()?, 2 * steps),
    ] {
        let started = Instant::now();
        let field = run.train(
            name,
            vector_field(&run.train_device, 2 * WIDTH, &mut rng)?,
            1e-3,
            model_steps,
            &mut rng,
            |field, x1, rng| loss.training_loss(field, x1, &Condition::none(), rng),
        )?;
        let model = Fitted::Continuous(field);
        rows.push(run.evaluate(name, &model, &test_std, &grid_std, &window, &mut rng)?);
        println!("{name}: trained in {:.1} s", started.elapsed().as_secs_f64());
    }

    println!(
        "\nheld-out NLL on {} ({test_size} points, nats per point; lower is better)",
        data.name()
    );
    let baseline = rows[0].1;
    for (name, nll, _) in &rows {
        println!("  {name:<12} {nll:>8.3}   ({:+.3} vs Gaussian)", nll - baseline);
    }

    let data_samples = host(data.sample(PICTURE_SAMPLES, &mut rng, &device)?)?;
    let truth = host(data.sample(200_000, &mut rng, &device)?)?;
    let mut columns = vec![Panels {
        samples: window.histogram(&data_samples),
        density: window.histogram(&truth),
    }];
    columns.extend(rows.into_iter().map(|(_, _, panels)| panels));
    let path = out.join(format!("flows_2d_{}.png", data.name()));
    save_panels(&columns, &device, &path)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// What a training run shares across models.
struct Run {
    data: ToyDensity,
    batch: usize,
    standard: Standardizer,
    train_device: Device,
}

impl Run {
    /// Trains `model` for `steps` AdamW steps (warm-up + cosine schedule from `lr`) on fresh
    /// standardised batches of the toy density, with `loss(model, batch, rng)`.
    fn train<M: Module>(
        &self,
        name: &str,
        model: M,
        lr: f64,
        steps: usize,
        rng: &mut SeededRng,
        mut loss: impl FnMut(
            &M,
            Tensor<2>,
            &mut SeededRng,
        ) -> Result<Tensor<1>, medgen::flow::FlowError>,
    ) -> Result<M, Box<dyn Error>> {
        let schedule =
            WarmupCosineConfig::new(lr, steps).with_warmup_steps(steps / 20).with_min_lr(lr / 20.0);
        let config = TrainerConfig::new(schedule).with_max_grad_norm(Some(10.0));
        let run_seed = rand::RngExt::random::<u64>(rng);
        let mut trainer =
            Trainer::new(&config, model, AdamWConfig::new().init(), seeded_rng(run_seed), name)?
                .with_progress(TrainingProgress::new(name, steps));
        let (data, batch, device) = (self.data, self.batch, &self.train_device);
        trainer.fit(|model: &M, _step, rng: &mut SeededRng| {
            let x = self.standard.apply(data.sample(batch, rng, device)?);
            loss(model, x, rng)
        })?;
        Ok(trainer.model().valid())
    }

    /// Held-out NLL (original units), samples and the density on the grid of a fitted model.
    fn evaluate(
        &self,
        name: &str,
        model: &Fitted,
        test_std: &Tensor<2>,
        grid_std: &Tensor<2>,
        window: &Window,
        rng: &mut SeededRng,
    ) -> Result<(String, f64, Panels), Box<dyn Error>> {
        let log_prob = model.log_prob(test_std.clone(), rng)?;
        let nll = -mean(&host_values(log_prob)?) + self.standard.log_det();
        let samples =
            self.standard.invert(&host(model.sample(PICTURE_SAMPLES, rng, &test_std.device())?)?);
        let log_density = host_values(model.log_prob(grid_std.clone(), rng)?)?;
        let density: Vec<f64> =
            log_density.iter().map(|l| (l - self.standard.log_det()).exp()).collect();
        println!("{name}: held-out NLL {nll:.3}");
        Ok((name.into(), nll, Panels::new(window, &samples, &density)))
    }
}

/// A fitted model, evaluated in standardised coordinates.
enum Fitted {
    /// A discrete normalizing flow (RealNVP or a spline flow).
    Discrete(Flow),
    /// A continuous flow (trained by likelihood or by flow matching).
    Continuous(MlpVectorField),
}

/// Exact log-likelihood evaluation of the continuous models: Dopri5, exact divergence.
fn evaluation_config() -> ContinuousFlowConfig {
    ContinuousFlowConfig::new()
        .with_solver(OdeSolver::Dopri5(Dopri5Config::new(1e-5, 1e-5)))
        .with_divergence(DivergenceMethod::Exact)
}

impl Fitted {
    fn log_prob(&self, x: Tensor<2>, rng: &mut SeededRng) -> Result<Tensor<1>, Box<dyn Error>> {
        Ok(match self {
            Self::Discrete(flow) => flow.log_prob(x)?,
            Self::Continuous(field) => {
                cnf_log_density(field, x, &Condition::none(), &evaluation_config(), rng)?.log_prob
            }
        })
    }

    fn sample(
        &self,
        n: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Tensor<2>, Box<dyn Error>> {
        Ok(match self {
            Self::Discrete(flow) => flow.sample(n, rng, device)?,
            Self::Continuous(field) => {
                let z = gaussian_noise([n, 2], rng, device)?;
                let solver = evaluation_config().solver;
                cnf_transport(field, z, &Condition::none(), &solver, 0.0, 1.0)?.state
            }
        })
    }
}

/// RealNVP: 8 blocks of ActNorm (initialised from `batch`) and an affine coupling.
fn realnvp(device: &Device, batch: Tensor<2>, rng: &mut SeededRng) -> medgen::flow::Result<Flow> {
    init_seeded(device, rng, |d| RealNvpConfig::new(2, 8, WIDTH).init(d))?.initialize(batch)
}

/// Neural spline flow: 4 blocks of an LU linear map and a rational-quadratic spline coupling
/// with 8 bins on [−4, 4].
fn spline_flow(
    device: &Device,
    batch: Tensor<2>,
    rng: &mut SeededRng,
) -> medgen::flow::Result<Flow> {
    init_seeded(device, rng, |d| {
        SplineFlowConfig::new(2, 4, WIDTH).with_bins(8).with_tail_bound(4.0).init(d)
    })?
    .initialize(batch)
}

/// The vector field of the CNF and of both flow-matching models.
fn vector_field(
    device: &Device,
    width: usize,
    rng: &mut SeededRng,
) -> medgen::flow::Result<MlpVectorField> {
    init_seeded(device, rng, |d| MlpVectorFieldConfig::new(2).with_hidden(vec![width; 3]).init(d))
}

/// Per-coordinate standardisation `x ↦ (x − μ)/σ`.
#[derive(Clone)]
struct Standardizer {
    mean: [f64; 2],
    std: [f64; 2],
}

impl Standardizer {
    fn fit(points: &[[f64; 2]]) -> Self {
        let n = points.len() as f64;
        let mean = [0, 1].map(|i| points.iter().map(|p| p[i]).sum::<f64>() / n);
        let std = [0, 1]
            .map(|i| (points.iter().map(|p| (p[i] - mean[i]).powi(2)).sum::<f64>() / n).sqrt());
        Self { mean, std }
    }

    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let device = x.device();
        let mean = Tensor::<2>::from_floats([self.mean.map(|v| v as f32)], &device);
        let std = Tensor::<2>::from_floats([self.std.map(|v| v as f32)], &device);
        x.sub(mean).div(std)
    }

    fn invert(&self, points: &[[f64; 2]]) -> Vec<[f64; 2]> {
        points.iter().map(|p| [0, 1].map(|i| p[i] * self.std[i] + self.mean[i])).collect()
    }

    /// `Σ_i log σ_i`, what standardisation adds to the NLL.
    fn log_det(&self) -> f64 {
        self.std.iter().map(|s| s.ln()).sum()
    }
}

/// A full-covariance Gaussian fitted by maximum likelihood (the baseline).
struct Gaussian2 {
    mean: [f64; 2],
    /// The Cholesky factor `L` of the covariance `Σ = L Lᵀ` (lower triangular).
    chol: [[f64; 2]; 2],
}

impl Gaussian2 {
    fn fit(points: &[[f64; 2]]) -> Self {
        let n = points.len() as f64;
        let mean = [0, 1].map(|i| points.iter().map(|p| p[i]).sum::<f64>() / n);
        let cov = |i: usize, j: usize| {
            points.iter().map(|p| (p[i] - mean[i]) * (p[j] - mean[j])).sum::<f64>() / n
        };
        let l00 = cov(0, 0).sqrt();
        let l10 = cov(1, 0) / l00;
        let l11 = (cov(1, 1) - l10 * l10).sqrt();
        Self { mean, chol: [[l00, 0.0], [l10, l11]] }
    }

    fn log_prob(&self, p: [f64; 2]) -> f64 {
        let [[l00, _], [l10, l11]] = self.chol;
        let u0 = (p[0] - self.mean[0]) / l00;
        let u1 = (p[1] - self.mean[1] - l10 * u0) / l11;
        -0.5 * (u0 * u0 + u1 * u1) - (l00 * l11).ln() - (2.0 * std::f64::consts::PI).ln()
    }

    /// `x = μ + L u` for standard normal draws `u`.
    fn transform(&self, normals: &[[f64; 2]]) -> Vec<[f64; 2]> {
        let [[l00, _], [l10, l11]] = self.chol;
        normals
            .iter()
            .map(|[a, b]| [self.mean[0] + l00 * a, self.mean[1] + l10 * a + l11 * b])
            .collect()
    }
}

/// The square plotting window around the data, and its `PANEL × PANEL` grid of points.
struct Window {
    center: [f64; 2],
    half: f64,
}

impl Window {
    /// Centred on the data, wide enough for all but the most extreme 0.1 % of each coordinate.
    fn around(points: &[[f64; 2]]) -> Self {
        let mut bounds = [[0.0; 2]; 2];
        for (i, bound) in bounds.iter_mut().enumerate() {
            let mut values: Vec<f64> = points.iter().map(|p| p[i]).collect();
            values.sort_by(f64::total_cmp);
            let k = values.len() / 1000;
            *bound = [values[k], values[values.len() - 1 - k]];
        }
        let center = bounds.map(|[lo, hi]| 0.5 * (lo + hi));
        let half = bounds.iter().map(|[lo, hi]| 0.5 * (hi - lo)).fold(0.0, f64::max) * 1.15;
        Self { center, half }
    }

    /// The centre of pixel `(row, col)`; row 0 is the top (largest y).
    fn point(&self, row: usize, col: usize) -> [f64; 2] {
        let step = 2.0 * self.half / PANEL as f64;
        [
            self.center[0] - self.half + (col as f64 + 0.5) * step,
            self.center[1] + self.half - (row as f64 + 0.5) * step,
        ]
    }

    fn points(&self) -> impl Iterator<Item = [f64; 2]> + '_ {
        (0..PANEL).flat_map(move |row| (0..PANEL).map(move |col| self.point(row, col)))
    }

    /// The grid points as a `[PANEL², 2]` tensor, row-major.
    fn grid(&self, device: &Device) -> Tensor<2> {
        let values: Vec<f32> = self.points().flat_map(|p| p.map(|v| v as f32)).collect();
        Tensor::from_data(TensorData::new(values, [PANEL * PANEL, 2]), device)
    }

    /// Counts per pixel, row-major.
    fn histogram(&self, points: &[[f64; 2]]) -> Vec<f64> {
        let mut counts = vec![0.0; PANEL * PANEL];
        let scale = PANEL as f64 / (2.0 * self.half);
        for p in points {
            let col = ((p[0] - self.center[0] + self.half) * scale).floor();
            let row = ((self.center[1] + self.half - p[1]) * scale).floor();
            if (0.0..PANEL as f64).contains(&col) && (0.0..PANEL as f64).contains(&row) {
                counts[row as usize * PANEL + col as usize] += 1.0;
            }
        }
        counts
    }
}

/// One column of the picture: a sample histogram and a density, `PANEL²` values each.
struct Panels {
    samples: Vec<f64>,
    density: Vec<f64>,
}

impl Panels {
    fn new(window: &Window, samples: &[[f64; 2]], density: &[f64]) -> Self {
        Self { samples: window.histogram(samples), density: density.to_vec() }
    }
}

/// Maps `v ∈ [0, 1]` to a dark-blue → magenta → yellow ramp.
fn colour(v: f64) -> [f32; 3] {
    const STOPS: [[f32; 3]; 4] =
        [[0.02, 0.02, 0.08], [0.35, 0.10, 0.50], [0.90, 0.35, 0.30], [0.99, 0.95, 0.55]];
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 } as f32 * 3.0;
    let i = (v.floor() as usize).min(2);
    let f = v - i as f32;
    [0, 1, 2].map(|c| STOPS[i][c] * (1.0 - f) + STOPS[i + 1][c] * f)
}

/// Renders the `[PANEL²]` values of each column, normalised by their maximum (square root for
/// histograms, so that sparse regions stay visible), as two rows of RGB panels.
fn save_panels(columns: &[Panels], device: &Device, path: &Path) -> Result<(), Box<dyn Error>> {
    let to_rgb = |values: &[f64], sqrt: bool| -> Vec<f32> {
        let max = values.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
        let scaled: Vec<f64> = values
            .iter()
            .map(|v| if max > 0.0 { v / max } else { 0.0 })
            .map(|v| if sqrt { v.sqrt() } else { v })
            .collect();
        (0..3).flat_map(|c| scaled.iter().map(move |v| colour(*v)[c])).collect()
    };
    let row = |sqrt: bool, pick: fn(&Panels) -> &[f64]| -> Tensor<4> {
        let values: Vec<f32> = columns.iter().flat_map(|p| to_rgb(pick(p), sqrt)).collect();
        Tensor::from_data(TensorData::new(values, [columns.len(), 3, PANEL, PANEL]), device)
    };
    GridBuilder::new()
        .padding(4)
        .image_row(row(true, |p| &p.samples), (0.0, 1.0))?
        .image_row(row(false, |p| &p.density), (0.0, 1.0))?
        .save(path)?;
    Ok(())
}

/// A `[N, 2]` tensor as host points.
fn host(x: Tensor<2>) -> Result<Vec<[f64; 2]>, Box<dyn Error>> {
    Ok(host_values(x)?.chunks(2).map(|c| [c[0], c[1]]).collect())
}

fn host_values<const D: usize>(x: Tensor<D>) -> Result<Vec<f64>, Box<dyn Error>> {
    Ok(x.try_into_vec_as::<f32>()
        .map_err(|e| format!("{e:?}"))?
        .into_iter()
        .map(f64::from)
        .collect())
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

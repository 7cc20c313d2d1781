//! Training checkpoints: models, optimiser states, step, RNG state, configuration and free
//! metadata in one atomically written, checksummed file.
//!
//! ```no_run
//! # use medgen_train::Checkpoint;
//! # use medgen_core::{seeded_rng, Result};
//! # use burn::nn::{Linear, LinearConfig};
//! # use burn::optim::{AdamConfig, ModuleOptimizer};
//! # fn demo(model: Linear, optim: ModuleOptimizer, config: LinearConfig) -> Result<()> {
//! let rng = seeded_rng(0);
//! // Saving (atomic: a crash leaves the previous file intact).
//! Checkpoint::new(1000, &rng, &config)?
//!     .with_module("model", &model)?
//!     .with_optimizer("optim", &optim)?
//!     .with_metadata(&serde_json::json!({"loss": [0.5, 0.4]}))?
//!     .save("run/step-1000.ckpt")?;
//! // Resuming: fails unless the file is intact and was written with the same config.
//! let ckpt = Checkpoint::load("run/step-1000.ckpt", &config)?;
//! let model = ckpt.load_module("model", model)?;
//! let optim = ckpt.load_optimizer("optim", AdamConfig::new().init())?;
//! let (step, rng) = (ckpt.step(), ckpt.rng()?);
//! # Ok(()) }
//! ```
//!
//! The file layout is documented in
//! [`checkpoint_container`]. Modules and optimiser states
//! are stored as Burn burnpack bytes (`Module::into_record().into_bytes()`,
//! `ModuleOptimizer::into_bytes()`); saving reads every tensor back to the host once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::atomic_file::write_atomically;
use super::checkpoint_container::{self, Section};
use super::config_diff::config_differences;
use medgen_core::error::{CoreError, Result};
use medgen_core::rng::{RngState, SeededRng};

use crate::record_check::{check_module_record, check_optimizer_record};

const CONFIG_SECTION: &str = "config";
const METADATA_SECTION: &str = "metadata";
const MODULE_PREFIX: &str = "module/";
const OPTIMIZER_PREFIX: &str = "optimizer/";

/// How many differing keys a mismatch message lists.
const MAX_LISTED_DIFFERENCES: usize = 8;

/// The complete state of a training run at one step.
///
/// Holds any number of named modules (e.g. `"model"` and `"ema"`, or a generator and a
/// discriminator) and named optimiser states, the step, the state of the run's
/// [`SeededRng`], the run's configuration (any `Serialize` value, typically a Burn `Config`)
/// and free JSON metadata (e.g. the loss history).
#[derive(Clone, Debug)]
pub struct Checkpoint {
    step: usize,
    rng: RngState,
    config: Value,
    metadata: Value,
    modules: BTreeMap<String, Vec<u8>>,
    optimizers: BTreeMap<String, Vec<u8>>,
    path: PathBuf,
}

impl Checkpoint {
    /// Starts a checkpoint at `step` with the current state of `rng` and the run's `config`
    /// (any `Serialize` value, typically the run's Burn `Config`; for configuration text, pass
    /// the parsed `serde_json::Value`, not the string).
    pub fn new<C: Serialize + ?Sized>(step: usize, rng: &SeededRng, config: &C) -> Result<Self> {
        Ok(Self {
            step,
            rng: RngState::capture(rng),
            config: to_canonical_json(config, "config")?,
            metadata: Value::Null,
            modules: BTreeMap::new(),
            optimizers: BTreeMap::new(),
            path: PathBuf::new(),
        })
    }

    /// Adds (or replaces) the parameters of `module` under `name`.
    pub fn with_module<M: Module>(mut self, name: &str, module: &M) -> Result<Self> {
        let bytes = module
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|err| CoreError::format("burnpack", "", err))?;
        self.modules.insert(name.to_string(), bytes.to_vec());
        Ok(self)
    }

    /// Adds (or replaces) the state of `optimizer` (moments, step counts) under `name`.
    pub fn with_optimizer(mut self, name: &str, optimizer: &ModuleOptimizer) -> Result<Self> {
        let bytes = optimizer.into_bytes().map_err(|err| CoreError::format("burnpack", "", err))?;
        self.optimizers.insert(name.to_string(), bytes.to_vec());
        Ok(self)
    }

    /// Sets the free metadata (any `Serialize` value, e.g. a
    /// [`LossHistory`](crate::LossHistory)).
    pub fn with_metadata<T: Serialize + ?Sized>(mut self, metadata: &T) -> Result<Self> {
        self.metadata = to_canonical_json(metadata, "metadata")?;
        Ok(self)
    }

    /// Writes the checkpoint to `path` atomically (see
    /// [`write_atomically`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomically(path.as_ref(), |out| self.write_to(out))
    }

    /// Writes the checkpoint's bytes (the container layout) to `out`.
    pub fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let meta = json!({
            "step": self.step,
            "rng": self.rng,
            "writer": concat!("medgen-core ", env!("CARGO_PKG_VERSION")),
        });
        let json_section = |name: &str, value: &Value| -> std::io::Result<Section> {
            Ok(Section {
                name: name.to_string(),
                bytes: serde_json::to_vec(value).map_err(std::io::Error::other)?,
            })
        };
        let mut sections = vec![
            json_section(CONFIG_SECTION, &self.config)?,
            json_section(METADATA_SECTION, &self.metadata)?,
        ];
        let blobs = |prefix: &'static str, map: &BTreeMap<String, Vec<u8>>| {
            map.iter()
                .map(move |(name, bytes)| Section {
                    name: format!("{prefix}{name}"),
                    bytes: bytes.clone(),
                })
                .collect::<Vec<_>>()
        };
        sections.extend(blobs(MODULE_PREFIX, &self.modules));
        sections.extend(blobs(OPTIMIZER_PREFIX, &self.optimizers));
        checkpoint_container::encode(&meta, &sections, out)
    }

    /// Reads and verifies the checkpoint at `path` without comparing its configuration.
    ///
    /// Fails with [`CoreError::Io`] if the file cannot be read and [`CoreError::Format`] if
    /// it is not an intact checkpoint (wrong magic or version, truncated, checksum mismatch).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|err| CoreError::io(path, err))?;
        Self::from_bytes(&bytes, path)
    }

    /// Reads and verifies a checkpoint held in memory; `path` names it in errors.
    ///
    /// Fails with [`CoreError::Format`] as [`Checkpoint::read`] does.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let (meta, sections) = checkpoint_container::decode(bytes, path)?;
        let corrupt = |reason: String| CoreError::format("checkpoint", path, reason);
        let step = meta["step"]
            .as_u64()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| corrupt("header has no valid `step`".into()))?;
        let rng: RngState = serde_json::from_value(meta["rng"].clone())
            .map_err(|err| corrupt(format!("header has no valid `rng`: {err}")))?;
        let mut checkpoint = Self {
            step,
            rng,
            config: Value::Null,
            metadata: Value::Null,
            modules: BTreeMap::new(),
            optimizers: BTreeMap::new(),
            path: path.to_path_buf(),
        };
        for Section { name, bytes } in sections {
            let parse = |what: &str| {
                serde_json::from_slice::<Value>(&bytes)
                    .map_err(|err| corrupt(format!("section `{what}` is not JSON: {err}")))
            };
            if name == CONFIG_SECTION {
                checkpoint.config = parse(CONFIG_SECTION)?;
            } else if name == METADATA_SECTION {
                checkpoint.metadata = parse(METADATA_SECTION)?;
            } else if let Some(module) = name.strip_prefix(MODULE_PREFIX) {
                checkpoint.modules.insert(module.to_string(), bytes);
            } else if let Some(optim) = name.strip_prefix(OPTIMIZER_PREFIX) {
                checkpoint.optimizers.insert(optim.to_string(), bytes);
            } else {
                return Err(corrupt(format!("unknown section `{name}`")));
            }
        }
        Ok(checkpoint)
    }

    /// Reads the checkpoint at `path` and checks that it was written with `expected_config`
    /// (see [`Checkpoint::check_config`]).
    pub fn load<C: Serialize + ?Sized>(
        path: impl AsRef<Path>,
        expected_config: &C,
    ) -> Result<Self> {
        let checkpoint = Self::read(path)?;
        checkpoint.check_config(expected_config)?;
        Ok(checkpoint)
    }

    /// Fails with [`CoreError::CheckpointMismatch`], naming the differing keys, unless the
    /// stored configuration equals `expected` (compared as JSON).
    pub fn check_config<C: Serialize + ?Sized>(&self, expected: &C) -> Result<()> {
        self.check_config_ignoring(expected, &[])
    }

    /// As [`Checkpoint::check_config`], but keys equal to or below the dotted paths in
    /// `ignore` may differ (e.g. `&["total_steps"]` to extend a run).
    pub fn check_config_ignoring<C: Serialize + ?Sized>(
        &self,
        expected: &C,
        ignore: &[&str],
    ) -> Result<()> {
        let expected = to_canonical_json(expected, "expected config")?;
        let differences = config_differences(&self.config, &expected, ignore);
        if differences.is_empty() {
            return Ok(());
        }
        let mut listed: Vec<String> =
            differences.iter().take(MAX_LISTED_DIFFERENCES).map(ToString::to_string).collect();
        if differences.len() > MAX_LISTED_DIFFERENCES {
            listed.push(format!("and {} more", differences.len() - MAX_LISTED_DIFFERENCES));
        }
        Err(self.mismatch(format!(
            "configuration differs (checkpoint vs expected) at {}",
            listed.join("; ")
        )))
    }

    /// Loads the parameters stored under `name` into `module` (and restores their
    /// [`ParamId`](burn::module::ParamId)s, which the optimiser state is keyed by).
    ///
    /// Fails with [`CoreError::CheckpointMismatch`] if there is no such module or if the
    /// record does not fit `module` (missing, extra or differently shaped parameters).
    pub fn load_module<M: Module>(&self, name: &str, module: M) -> Result<M> {
        let bytes = self
            .modules
            .get(name)
            .ok_or_else(|| self.missing("module", name, self.modules.keys()))?;
        let bytes = Bytes::from_bytes_vec(bytes.clone());
        let record = ModuleRecord::from_bytes(bytes.clone())
            .map_err(|err| CoreError::format("checkpoint", &self.path, err))?;
        check_module_record(&module, bytes)
            .map_err(|reason| self.mismatch(format!("module `{name}`: {reason}")))?;
        module
            .try_load_record(record)
            .map_err(|err| self.mismatch(format!("module `{name}`: {err}")))
    }

    /// Loads the optimiser state stored under `name` into `optimizer` (a freshly built
    /// optimiser of the same kind, e.g. `AdamConfig::new().init()`).
    ///
    /// The state is keyed by parameter id, so load the model with
    /// [`Checkpoint::load_module`] as well. Burn materialises the state on
    /// `Device::default()` and moves it to each parameter's device on the next step.
    pub fn load_optimizer(
        &self,
        name: &str,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer> {
        let bytes = self
            .optimizers
            .get(name)
            .ok_or_else(|| self.missing("optimizer", name, self.optimizers.keys()))?;
        let bytes = Bytes::from_bytes_vec(bytes.clone());
        check_optimizer_record(bytes.clone())
            .map_err(|reason| self.mismatch(format!("optimizer `{name}`: {reason}")))?;
        optimizer
            .from_bytes(bytes)
            .map_err(|err| self.mismatch(format!("optimizer `{name}`: {err}")))
    }

    /// The training step the checkpoint was taken at.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The stored RNG state.
    pub fn rng_state(&self) -> &RngState {
        &self.rng
    }

    /// A generator that continues the run's random stream where it stood when saved.
    pub fn rng(&self) -> Result<SeededRng> {
        self.rng.restore()
    }

    /// The stored configuration, as JSON.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// The stored configuration, deserialised (e.g. into the run's Burn `Config`).
    pub fn config_as<C: DeserializeOwned>(&self) -> Result<C> {
        serde_json::from_value(self.config.clone())
            .map_err(|err| self.mismatch(format!("configuration does not deserialise: {err}")))
    }

    /// The free metadata, as JSON (`null` if none was set).
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// The free metadata, deserialised.
    pub fn metadata_as<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.metadata.clone())
            .map_err(|err| self.mismatch(format!("metadata does not deserialise: {err}")))
    }

    /// The names of the stored modules, sorted.
    pub fn module_names(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    /// The names of the stored optimiser states, sorted.
    pub fn optimizer_names(&self) -> impl Iterator<Item = &str> {
        self.optimizers.keys().map(String::as_str)
    }

    /// The file the checkpoint was read from (empty for one built in memory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn mismatch(&self, reason: String) -> CoreError {
        CoreError::CheckpointMismatch { path: self.path.clone(), reason }
    }

    fn missing<'a>(
        &self,
        kind: &str,
        name: &str,
        present: impl Iterator<Item = &'a String>,
    ) -> CoreError {
        let present: Vec<&str> = present.map(String::as_str).collect();
        self.mismatch(format!("no {kind} `{name}` (it holds {present:?})"))
    }
}

/// Serialises `value` and parses the text back, so that a value compares equal to the same
/// value read from a file (serde_json's float parsing is not always the exact inverse of its
/// printing; going through text on both sides makes the comparison exact).
fn to_canonical_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Value> {
    serde_json::to_string(value)
        .and_then(|text| serde_json::from_str(&text))
        .map_err(|err| CoreError::config(what, format!("cannot be serialised to JSON: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::{Device, Tensor};
    use medgen_core::rng::seeded_rng;
    use medgen_testing::test_device;
    use rand::RngExt;
    use std::io::Write;

    #[derive(Serialize, Clone)]
    struct RunConfig {
        lr: f64,
        width: usize,
        model: Inner,
    }

    #[derive(Serialize, Clone)]
    struct Inner {
        groups: usize,
    }

    fn run_config() -> RunConfig {
        RunConfig { lr: 1e-3 / 3.0, width: 3, model: Inner { groups: 2 } }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    fn linear_params(model: &Linear) -> Vec<f32> {
        let mut v = values(model.weight.val());
        v.extend(values(model.bias.as_ref().unwrap().val()));
        v
    }

    /// One Adam step on `sum((model(x))²)`.
    fn train_step(model: Linear, optim: &mut ModuleOptimizer, device: &Device) -> Linear {
        let x = Tensor::<2>::from_floats([[1.0, -2.0], [0.5, 3.0]], device);
        let loss = model.forward(x).powi_scalar(2).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-2, model, grads)
    }

    /// A model trained for two steps, its optimiser and an advanced RNG, saved at `path`.
    fn trained_run(path: &Path) -> (Linear, ModuleOptimizer, SeededRng) {
        let device = test_device().autodiff();
        let mut model = LinearConfig::new(2, 3).init(&device);
        let mut optim = AdamConfig::new().init();
        for _ in 0..2 {
            model = train_step(model, &mut optim, &device);
        }
        let mut rng = seeded_rng(5);
        let _: [u32; 7] = std::array::from_fn(|_| rng.random());
        Checkpoint::new(2, &rng, &run_config())
            .unwrap()
            .with_module("model", &model)
            .unwrap()
            .with_optimizer("optim", &optim)
            .unwrap()
            .with_metadata(&json!({"loss": [1.5, 1.25]}))
            .unwrap()
            .save(path)
            .unwrap();
        (model, optim, rng)
    }

    #[test]
    fn round_trip_restores_parameters_optimizer_step_and_rng() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step-2.ckpt");
        let (model, mut optim, mut rng) = trained_run(&path);
        let device = test_device().autodiff();

        let ckpt = Checkpoint::load(&path, &run_config()).unwrap();
        assert_eq!(ckpt.step(), 2);
        assert_eq!(ckpt.metadata()["loss"][1], 1.25);
        assert_eq!(ckpt.module_names().collect::<Vec<_>>(), ["model"]);
        let fresh = LinearConfig::new(2, 3).init(&device);
        let restored = ckpt.load_module("model", fresh).unwrap();
        assert_eq!(linear_params(&restored), linear_params(&model));
        let mut restored_optim = ckpt.load_optimizer("optim", AdamConfig::new().init()).unwrap();

        // The same next step from both: equal only if the Adam moments were restored.
        let next = train_step(model, &mut optim, &device);
        let next_restored = train_step(restored, &mut restored_optim, &device);
        let (a, b) = (linear_params(&next), linear_params(&next_restored));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "{a:?} vs {b:?}");
        let fresh_optim_step = {
            let loaded = ckpt.load_module("model", LinearConfig::new(2, 3).init(&device)).unwrap();
            linear_params(&train_step(loaded, &mut AdamConfig::new().init(), &device))
        };
        assert!(a.iter().zip(&fresh_optim_step).any(|(x, y)| (x - y).abs() > 1e-6));

        let mut resumed_rng = ckpt.rng().unwrap();
        let expected: Vec<u64> = (0..4).map(|_| rng.random()).collect();
        let got: Vec<u64> = (0..4).map(|_| resumed_rng.random()).collect();
        assert_eq!(expected, got);
    }

    #[test]
    fn interrupted_writes_leave_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latest.ckpt");
        let (model, _, _) = trained_run(&path);
        let before = std::fs::read(&path).unwrap();

        // A process killed mid-write leaves a partial temporary file next to the target.
        std::fs::write(dir.path().join(".latest.ckpt.tmp-4242-0"), &before[..before.len() / 2])
            .unwrap();
        // A writer that fails half-way through a real checkpoint.
        let newer = Checkpoint::new(3, &seeded_rng(1), &run_config())
            .unwrap()
            .with_module("model", &model)
            .unwrap();
        let err = write_atomically(&path, |out| {
            let mut failing = FailAfter { out, left: 100 };
            newer.write_to(&mut failing)
        })
        .unwrap_err();
        assert!(matches!(err, CoreError::Io { .. }));

        assert_eq!(std::fs::read(&path).unwrap(), before);
        let ckpt = Checkpoint::load(&path, &run_config()).unwrap();
        assert_eq!(ckpt.step(), 2);
        let restored =
            ckpt.load_module("model", LinearConfig::new(2, 3).init(&test_device())).unwrap();
        assert_eq!(linear_params(&restored), linear_params(&model));
        // Saving again over the leftover works.
        newer.save(&path).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap().step(), 3);
    }

    struct FailAfter<'a> {
        out: &'a mut dyn Write,
        left: usize,
    }

    impl Write for FailAfter<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("simulated crash"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            self.out.write(&buf[..n])
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }

    #[test]
    fn damaged_files_are_format_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.ckpt");
        trained_run(&path);
        let good = std::fs::read(&path).unwrap();
        let damaged = dir.path().join("damaged.ckpt");
        let cases: [(&str, Vec<u8>); 3] = [
            ("truncated", good[..good.len() - 7].to_vec()),
            ("flipped", {
                let mut b = good.clone();
                let i = b.len() - 20;
                b[i] ^= 0x40;
                b
            }),
            ("magic", {
                let mut b = good.clone();
                b[..8].copy_from_slice(b"PK\x03\x04xxxx");
                b
            }),
        ];
        for (what, bytes) in cases {
            std::fs::write(&damaged, bytes).unwrap();
            let err = Checkpoint::read(&damaged).unwrap_err();
            assert!(matches!(err, CoreError::Format { .. }), "{what}: {err}");
        }
        let missing = Checkpoint::read(dir.path().join("none.ckpt")).unwrap_err();
        assert!(matches!(missing, CoreError::Io { .. }));
    }

    #[test]
    fn other_config_or_model_shape_is_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.ckpt");
        trained_run(&path);
        let mut other = run_config();
        other.width = 4;
        other.model.groups = 1;
        let err = Checkpoint::load(&path, &other).unwrap_err();
        let CoreError::CheckpointMismatch { reason, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        assert!(reason.contains("width") && reason.contains("model.groups"), "{reason}");
        let ckpt = Checkpoint::read(&path).unwrap();
        ckpt.check_config_ignoring(&other, &["width", "model"]).unwrap();

        let device = test_device();
        let wrong_shape = ckpt.load_module("model", LinearConfig::new(2, 4).init(&device));
        assert!(matches!(wrong_shape, Err(CoreError::CheckpointMismatch { .. })));
        let no_bias = LinearConfig::new(2, 3).with_bias(false).init(&device);
        assert!(matches!(
            ckpt.load_module("model", no_bias),
            Err(CoreError::CheckpointMismatch { .. })
        ));
        assert!(matches!(
            ckpt.load_module("ema", LinearConfig::new(2, 3).init(&device)),
            Err(CoreError::CheckpointMismatch { .. })
        ));
    }
}

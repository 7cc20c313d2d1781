//! Loading pytorch-fid's weight file into [`InceptionV3`] through burn-store's PyTorch
//! reader.

use std::path::Path;

use burn::tensor::Device;
use burn_store::{ModuleSnapshot, PytorchStore};

use super::network::{InceptionV3, InceptionV3Config};
use crate::error::{MetricsError, Result};

/// The file name of the standard FID weights (pytorch-fid's release asset); nothing in
/// medgen downloads it: pass its local path.
pub const FID_WEIGHTS_FILE: &str = "pt_inception-2015-12-05-6726825d.pth";

impl InceptionV3 {
    /// Loads a PyTorch state dict (`.pth`/`.pt`, e.g. [`FID_WEIGHTS_FILE`]) whose keys are
    /// this network's parameter paths, replacing every parameter and running statistic.
    /// PyTorch's batch-norm `weight`/`bias` become Burn's `gamma`/`beta` and `fc.weight` is
    /// transposed (burn-store's `PyTorchToBurnAdapter`); keys the network has no parameter
    /// for (`num_batches_tracked`, ...) are ignored. Nothing is downloaded.
    ///
    /// # Errors
    /// [`MetricsError::Weights`] if the file cannot be read, a parameter is missing from it,
    /// or a tensor has the wrong shape.
    pub fn load_pytorch_weights(mut self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut store = PytorchStore::from_file(path);
        self.load_from(&mut store).map_err(|e| MetricsError::Weights {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(self)
    }
}

impl InceptionV3Config {
    /// [`InceptionV3Config::init`] followed by [`InceptionV3::load_pytorch_weights`]: the
    /// FID network from the local weight file at `path`.
    ///
    /// # Errors
    /// Those of both.
    pub fn init_pretrained(&self, path: impl AsRef<Path>, device: &Device) -> Result<InceptionV3> {
        self.init(device)?.load_pytorch_weights(path)
    }
}

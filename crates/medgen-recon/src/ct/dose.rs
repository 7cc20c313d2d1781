//! Low-dose CT simulated where the noise arises: photon counts at the detector.

use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_distr::{Distribution, Poisson};

use crate::ct::projector::ParallelBeamProjector;
use crate::error::{ReconError, Result};
use crate::operator::MeasurementOperator;

/// Poisson noise of a CT scan with `incident_photons` per detector bin (Beer–Lambert):
///
/// `p = attenuation · s` (the line integral of the attenuation map, `s` the sinogram of the
/// image in pixel units), counts `n ~ Poisson(I₀ e^{−p})`, and the measured line integral
/// `p̂ = −ln(max(n, 1/2) / I₀)`, returned in the sinogram's units as `p̂ / attenuation`.
///
/// Lower `I₀` is a lower dose: the variance of `p̂` is about `e^{p}/I₀`, largest behind
/// dense tissue. (Half a count stands in for zero counts, which would give `p̂ = ∞`.)
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LowDoseConfig {
    /// Incident photons per detector bin `I₀ > 0` (around 10⁴–10⁵ for low dose, 10⁶ for
    /// routine dose).
    pub incident_photons: f64,
    /// Attenuation per pixel length of a unit image value, `> 0` (0.02 per pixel is water-like
    /// at a 0.5 mm pixel; larger makes the object denser and the noise stronger).
    pub attenuation: f64,
}

impl LowDoseConfig {
    /// The simulation at `incident_photons` with a water-like `attenuation` of 0.02.
    pub fn new(incident_photons: f64) -> Self {
        Self { incident_photons, attenuation: 0.02 }
    }

    /// Checks both settings.
    ///
    /// # Errors
    /// `InvalidConfig` naming `incident_photons` or `attenuation` unless positive and finite.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in
            [("incident_photons", self.incident_photons), ("attenuation", self.attenuation)]
        {
            if !(value.is_finite() && value > 0.0) {
                return Err(ReconError::config(
                    name,
                    format!("must be positive and finite, got {value}"),
                ));
            }
        }
        Ok(())
    }

    /// A noisy copy of the sinogram `sinogram` (any shape, values `≥ 0`: projections of a
    /// non-negative attenuation image), drawing the counts from `rng` on the host.
    ///
    /// # Errors
    /// Invalid settings, and `InvalidConfig` naming `sinogram` when a value is negative or not
    /// finite.
    pub fn simulate<const D: usize>(
        &self,
        sinogram: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<Tensor<D>> {
        self.validate()?;
        let dims = sinogram.dims();
        let device = sinogram.device();
        let values: Vec<f32> = medgen_core::readback::read_values(sinogram, "sinogram")?;
        if let Some(bad) = values.iter().find(|v| !(v.is_finite() && **v >= -1e-4)) {
            return Err(ReconError::config(
                "sinogram",
                format!("line integrals must be finite and non-negative, found {bad}"),
            ));
        }
        let mut noisy = Vec::with_capacity(values.len());
        for &s in &values {
            let p = self.attenuation * f64::from(s.max(0.0));
            let expected = self.incident_photons * (-p).exp();
            let counts = if expected > 0.0 {
                Poisson::new(expected)
                    .map_err(|e| ReconError::config("incident_photons", e))?
                    .sample(rng)
            } else {
                0.0
            };
            let measured = -(counts.max(0.5) / self.incident_photons).ln();
            noisy.push((measured / self.attenuation) as f32);
        }
        Ok(Tensor::from_data(TensorData::new(noisy, dims), &device))
    }

    /// A low-dose CT image of each attenuation image `images` (`[N, 1, S, S]`, values
    /// `≥ 0`, zero outside the inscribed circle): project, draw photon counts
    /// ([`LowDoseConfig::simulate`]) and reconstruct by the projector's filtered
    /// back-projection — the streaks and noise texture of real low-dose scans, which
    /// image-domain noise models only imitate.
    ///
    /// # Errors
    /// The projector's shape errors and those of [`LowDoseConfig::simulate`].
    pub fn acquire(
        &self,
        projector: &ParallelBeamProjector,
        images: Tensor<4>,
        rng: &mut dyn Rng,
    ) -> Result<Tensor<4>> {
        let sinogram = projector.forward(images)?;
        let noisy = self.simulate(sinogram, rng)?;
        projector.fbp().reconstruct(noisy)
    }
}

//! Walking the latent space: interpolation between two codes and traversal of one axis.

use burn::tensor::{Tensor, TensorData};
use medgen_core::CoreError;
use medgen_core::check::ensure_shape;

use crate::error::Result;

/// `steps` codes from `z0` to `z1` (both `[1, ...]`), stacked on the batch axis `[steps, ...]`:
/// linear `z(s) = (1 − s) z0 + s z1` or, with `spherical`, spherical interpolation
/// (`medgen_diffusion::slerp`, which keeps the norm of Gaussian codes), at `s = i / (steps − 1)`.
pub fn interpolate_latents<const D: usize>(
    z0: Tensor<D>,
    z1: Tensor<D>,
    steps: usize,
    spherical: bool,
) -> Result<Tensor<D>> {
    ensure_shape(&z1.dims(), &z0.dims(), "interpolation end point")?;
    if steps < 2 || z0.dims()[0] != 1 {
        return Err(CoreError::config(
            "steps/z0",
            format!("needs steps ≥ 2 and single codes [1, ...], got {steps} and {:?}", z0.dims()),
        )
        .into());
    }
    let mut codes = Vec::with_capacity(steps);
    for i in 0..steps {
        let s = i as f64 / (steps - 1) as f64;
        codes.push(if spherical {
            medgen_diffusion::slerp::slerp(z0.clone(), z1.clone(), s)?
        } else {
            z0.clone().mul_scalar(1.0 - s).add(z1.clone().mul_scalar(s))
        });
    }
    Ok(Tensor::cat(codes, 0))
}

/// Latent traversal: copies of `z` (`[1, ...]`) whose flattened element `index` is set to
/// each of `values` in turn, `[values.len(), ...]` (decode them to see what one latent
/// coordinate controls).
pub fn latent_traversal<const D: usize>(
    z: Tensor<D>,
    index: usize,
    values: &[f32],
) -> Result<Tensor<D>> {
    let dims = z.dims();
    let size: usize = dims[1..].iter().product();
    if dims[0] != 1 || index >= size || values.is_empty() {
        return Err(CoreError::config(
            "traversal",
            format!(
                "needs one code [1, ...], an index below {size} and some values, got {dims:?}, {index}, {} values",
                values.len()
            ),
        )
        .into());
    }
    let v = values.len();
    let device = z.device();
    let mut one_hot = vec![0f32; size];
    one_hot[index] = 1.0;
    let mask = Tensor::<2>::from_data(TensorData::new(one_hot, [1, size]), &device);
    let targets = Tensor::<2>::from_data(TensorData::new(values.to_vec(), [v, 1]), &device);
    let flat = z.reshape([1, size]).repeat_dim(0, v);
    // z' = z ⊙ (1 − e_i) + value · e_i
    let out = flat.mul(mask.clone().neg().add_scalar(1.0)).add(targets.mul(mask));
    let mut shape = dims;
    shape[0] = v;
    Ok(out.reshape(shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn interpolation_and_traversal_values() {
        let device = test_device();
        let z0 = Tensor::<2>::from_floats([[0.0, 2.0]], &device);
        let z1 = Tensor::<2>::from_floats([[4.0, -2.0]], &device);
        let path = interpolate_latents(z0.clone(), z1, 3, false).unwrap();
        assert_eq!(path.into_data().try_to_vec::<f32>().unwrap(), vec![0., 2., 2., 0., 4., -2.]);
        let t = latent_traversal(z0.clone(), 1, &[-1.0, 5.0]).unwrap();
        assert_eq!(t.into_data().try_to_vec::<f32>().unwrap(), vec![0., -1., 0., 5.]);
        assert!(latent_traversal(z0.clone(), 2, &[1.0]).is_err());
        assert!(interpolate_latents(z0.clone(), z0, 1, true).is_err());
    }
}

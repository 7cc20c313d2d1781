//! Fixed, training-free feature maps `φ` for the applications that compare images in a
//! feature space (privacy filtering, the trilemma's quality axis): raw pixels, and pixels
//! average-pooled to a coarse grid (robust to pixel noise and sub-pixel shifts).

use burn::tensor::Tensor;
use medgen_core::CoreError;
use medgen_metrics::FeatureExtractor;

/// The identity feature map `φ(x) = vec(x)`: images `[N, C, H, W]` → `[N, C·H·W]`, for a
/// fixed item shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelFeatures {
    item_shape: [usize; 3],
}

impl PixelFeatures {
    /// Pixel features of images of item shape `[C, H, W]`.
    pub fn new(item_shape: [usize; 3]) -> Self {
        Self { item_shape }
    }
}

impl FeatureExtractor for PixelFeatures {
    fn feature_dim(&self) -> usize {
        self.item_shape.iter().product()
    }

    fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        let dims = images.dims();
        if dims[1..] != self.item_shape {
            return Err(CoreError::shape("images", format!("[N, {:?}]", self.item_shape), &dims));
        }
        Ok(images.reshape([dims[0], self.feature_dim()]))
    }
}

/// Average pooling to a `g × g` grid, `φ(x)_{c,i,j} = mean of x over cell (i, j)` of channel
/// `c`: images `[N, C, H, W]` (with `g` dividing `H` and `W`) → `[N, C·g²]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PooledFeatures {
    item_shape: [usize; 3],
    grid: usize,
}

impl PooledFeatures {
    /// Pooled features of images of item shape `[C, H, W]` on a `grid × grid` grid.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `grid` unless it is positive and divides `H`
    /// and `W`.
    pub fn new(item_shape: [usize; 3], grid: usize) -> medgen_core::Result<Self> {
        let [_, h, w] = item_shape;
        if grid == 0 || !h.is_multiple_of(grid) || !w.is_multiple_of(grid) {
            return Err(CoreError::config(
                "grid",
                format!("must divide the image size {h}x{w}, got {grid}"),
            ));
        }
        Ok(Self { item_shape, grid })
    }
}

impl FeatureExtractor for PooledFeatures {
    fn feature_dim(&self) -> usize {
        self.item_shape[0] * self.grid * self.grid
    }

    fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        let dims = images.dims();
        if dims[1..] != self.item_shape {
            return Err(CoreError::shape("images", format!("[N, {:?}]", self.item_shape), &dims));
        }
        let [n, c, h, w] = dims;
        let g = self.grid;
        Ok(images
            .reshape([n * c, g, h / g, g, w / g])
            .mean_dim(4)
            .mean_dim(2)
            .reshape([n, c * g * g]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn pooling_averages_cells_and_pixels_flatten() {
        let device = Device::default();
        let values: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let x =
            Tensor::<4>::from_data(burn::tensor::TensorData::new(values, [1, 1, 4, 4]), &device);
        let pooled = PooledFeatures::new([1, 4, 4], 2).unwrap().extract(x.clone()).unwrap();
        // Cells: {0,1,4,5} {2,3,6,7} {8,9,12,13} {10,11,14,15}.
        assert_eq!(pooled.try_into_vec_as::<f32>().unwrap(), vec![2.5, 4.5, 10.5, 12.5]);
        let flat = PixelFeatures::new([1, 4, 4]).extract(x.clone()).unwrap();
        assert_eq!(flat.dims(), [1, 16]);
        assert!(PooledFeatures::new([1, 4, 4], 3).is_err());
        assert!(
            PooledFeatures::new([1, 4, 4], 2).unwrap().extract(x.reshape([1, 1, 2, 8])).is_err()
        );
    }
}

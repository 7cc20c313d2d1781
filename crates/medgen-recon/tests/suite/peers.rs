//! The measurement models against their peers: numpy's centred FFT, fastMRI's mask
//! arithmetic and scikit-image's `radon`/`iradon` (values in `tests/fixtures`, made by
//! `make_fixtures.py`), and the adjoint identity `⟨A x, y⟩ = ⟨x, Aᴴ y⟩`.

use crate::common::{complex_image, ct_fixture, image, inner, mri_fixture};
use burn::tensor::Tensor;
use medgen_core::noise::gaussian_noise;
use medgen_core::seeded_rng;
use medgen_recon::fourier::host::fft2c;
use medgen_recon::{
    CenteredFft, FbpFilter, FilteredBackProjection, KSpaceOperator, MaskKind, MeasurementOperator,
    ParallelBeamProjector, SamplingMask,
};
use medgen_testing::{host, test_device};
use rustfft::num_complex::Complex;

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn max_value(a: &[f32]) -> f32 {
    a.iter().map(|v| v.abs()).fold(0.0, f32::max)
}

#[test]
fn device_fft_matches_numpy_fft2c() {
    let device = test_device();
    for case in mri_fixture().fft2c {
        let shape = [case.shape[0], case.shape[1]];
        let x = complex_image(&case.image_real, &case.image_imag, shape, &device);
        let fft = CenteredFft::new(&shape, &device).unwrap();
        let k: Vec<f32> = host(fft.forward(x.clone()).unwrap());
        let mut expected: Vec<f32> = case.kspace_real.iter().map(|&v| v as f32).collect();
        expected.extend(case.kspace_imag.iter().map(|&v| v as f32));
        assert!(max_abs(&k, &expected) < 1e-5, "{shape:?}: {}", max_abs(&k, &expected));
        let back: Vec<f32> = host(fft.inverse(fft.forward(x.clone()).unwrap()).unwrap());
        assert!(max_abs(&back, &host::<f32, 4, _>(x)) < 1e-5);
    }
}

#[test]
fn host_fft_matches_numpy_fft2c_and_inverts() {
    for case in mri_fixture().fft2c {
        let shape = [case.shape[0], case.shape[1]];
        let x: Vec<Complex<f64>> = case
            .image_real
            .iter()
            .zip(&case.image_imag)
            .map(|(&re, &im)| Complex::new(re, im))
            .collect();
        let k = fft2c(&x, shape, false).unwrap();
        for (i, z) in k.iter().enumerate() {
            assert!((z.re - case.kspace_real[i]).abs() < 1e-12);
            assert!((z.im - case.kspace_imag[i]).abs() < 1e-12);
        }
        let back = fft2c(&k, shape, true).unwrap();
        assert!(back.iter().zip(&x).all(|(a, b)| (a - b).norm() < 1e-12));
    }
}

#[test]
fn three_dimensional_fft_is_unitary_and_separable() {
    let device = test_device();
    let x: Tensor<5> = gaussian_noise([2, 2, 3, 4, 5], &mut seeded_rng(1), &device).unwrap();
    let fft = CenteredFft::new(&[3, 4, 5], &device).unwrap();
    let k = fft.forward(x.clone()).unwrap();
    let energy = |t: Tensor<5>| f64::from(t.powi_scalar(2).sum().into_scalar::<f32>());
    assert!((energy(k.clone()) - energy(x.clone())).abs() < 1e-3 * energy(x.clone()));
    let back = fft.inverse(k).unwrap();
    assert!(medgen_testing::max_abs_diff(back, x.clone()) < 1e-5);
    // A volume of depth 1 transforms like its single slice.
    let slice = x.narrow(2, 0, 1);
    let volume = CenteredFft::new(&[1, 4, 5], &device).unwrap().forward(slice.clone()).unwrap();
    let plane: Tensor<4> = slice.reshape([2, 2, 4, 5]);
    let plane = CenteredFft::new(&[4, 5], &device).unwrap().forward(plane).unwrap();
    assert!(medgen_testing::max_abs_diff(volume.reshape([2, 2, 4, 5]), plane) < 1e-6);
}

#[test]
fn fastmri_centre_block_and_equispaced_lines() {
    for case in mri_fixture().masks {
        let mut rng = seeded_rng(3);
        let kind = MaskKind::Equispaced {
            acceleration: case.acceleration,
            center_fraction: case.center_fraction,
        };
        // The centre block is fastMRI's; the equispaced lines are fastMRI's for some offset.
        let expected: Vec<bool> = case.equispaced_offset0.iter().map(|&v| v == 1).collect();
        let mut matched = false;
        for _ in 0..64 {
            let mask = kind.sample(4, case.num_cols, &mut rng).unwrap();
            let columns = &mask.values()[..case.num_cols];
            let centre = &columns[case.center_start..case.center_start + case.center_len];
            assert!(centre.iter().all(|&kept| kept), "centre block of {}", case.num_cols);
            matched |= columns == expected.as_slice();
        }
        assert!(matched, "no draw had fastMRI's offset-0 equispaced mask ({} cols)", case.num_cols);
    }
}

#[test]
fn random_and_variable_density_masks_keep_one_line_in_r() {
    let width = 368;
    for acceleration in [4.0, 8.0] {
        let center_fraction = if acceleration == 4.0 { 0.08 } else { 0.04 };
        for kind in [
            MaskKind::Random { acceleration, center_fraction },
            MaskKind::VariableDensity { acceleration, center_fraction, power: 2.0 },
        ] {
            let mut rng = seeded_rng(5);
            let mean: f64 = (0..50)
                .map(|_| kind.sample(2, width, &mut rng).unwrap().sampled_fraction())
                .sum::<f64>()
                / 50.0;
            assert!((mean * acceleration - 1.0).abs() < 0.05, "{kind:?}: fraction {mean}");
        }
    }
    let mut rng = seeded_rng(6);
    let few = MaskKind::Radial { spokes: 4 }.sample(64, 64, &mut rng).unwrap();
    let many = MaskKind::Radial { spokes: 32 }.sample(64, 64, &mut rng).unwrap();
    assert!(few.values()[32 * 64 + 32] && many.values()[32 * 64 + 32], "centre sampled");
    assert!(many.sampled_fraction() > 3.0 * few.sampled_fraction());
}

#[test]
fn kspace_operator_is_adjoint_for_real_and_complex_images() {
    let device = test_device();
    let mask = MaskKind::Random { acceleration: 4.0, center_fraction: 0.08 }
        .sample(16, 12, &mut seeded_rng(0))
        .unwrap();
    for channels in [1, 2] {
        let op = KSpaceOperator::new(&[16, 12], channels, mask.clone(), &device).unwrap();
        let mut rng = seeded_rng(channels as u64);
        let x: Tensor<4> = gaussian_noise([3, channels, 16, 12], &mut rng, &device).unwrap();
        let y: Tensor<4> = gaussian_noise([3, 2, 16, 12], &mut rng, &device).unwrap();
        let left = inner(op.forward(x.clone()).unwrap(), y.clone());
        let right = inner(x, op.adjoint(y).unwrap());
        assert!((left - right).abs() <= 1e-5 * left.abs().max(1.0), "{left} vs {right}");
    }
    // 3D: the mask over the last two axes broadcasts over the slices.
    let mask = SamplingMask::from_columns(6, &[true, false, true, true, false]).unwrap();
    let op = KSpaceOperator::new(&[3, 6, 5], 2, mask, &device).unwrap();
    let mut rng = seeded_rng(9);
    let x: Tensor<5> = gaussian_noise([2, 2, 3, 6, 5], &mut rng, &device).unwrap();
    let y: Tensor<5> = gaussian_noise([2, 2, 3, 6, 5], &mut rng, &device).unwrap();
    let left = inner(op.forward(x.clone()).unwrap(), y.clone());
    let right = inner(x, op.adjoint(y).unwrap());
    assert!((left - right).abs() <= 1e-5 * left.abs().max(1.0), "{left} vs {right}");
}

#[test]
fn projector_matches_scikit_image_radon() {
    let device = test_device();
    for case in ct_fixture().cases {
        let s = case.size;
        let op =
            ParallelBeamProjector::new(s, &case.theta_degrees, FbpFilter::Ramp, &device).unwrap();
        let sinogram: Vec<f32> = host(op.forward(image(&case.image, s, s, &device)).unwrap());
        let err = max_abs(&sinogram, &case.sinogram);
        assert!(err < 1e-4 * max_value(&case.sinogram), "size {s}, {} views: {err}", op.views());
    }
}

#[test]
fn fbp_matches_scikit_image_iradon_with_both_filters() {
    let device = test_device();
    for case in ct_fixture().cases {
        let s = case.size;
        let views = case.theta_degrees.len();
        let sinogram: Tensor<4> = Tensor::from_data(
            burn::tensor::TensorData::new(case.sinogram.clone(), [1, 1, views, s]),
            &device,
        );
        for (filter, expected) in
            [(FbpFilter::Ramp, &case.fbp_ramp), (FbpFilter::SheppLogan, &case.fbp_shepp_logan)]
        {
            let fbp = FilteredBackProjection::new(s, &case.theta_degrees, filter, &device).unwrap();
            let recon: Vec<f32> = host(fbp.reconstruct(sinogram.clone()).unwrap());
            let err = max_abs(&recon, expected);
            assert!(err < 1e-4 * max_value(expected), "size {s}, {views} views, {filter:?}: {err}");
        }
    }
}

#[test]
fn projector_back_projection_is_its_exact_adjoint() {
    let device = test_device();
    let angles = medgen_recon::ct::evenly_spaced_angles(9);
    let op = ParallelBeamProjector::new(17, &angles, FbpFilter::Ramp, &device).unwrap();
    let mut rng = seeded_rng(2);
    let x: Tensor<4> = gaussian_noise([2, 1, 17, 17], &mut rng, &device).unwrap();
    let y: Tensor<4> = gaussian_noise([2, 1, 9, 17], &mut rng, &device).unwrap();
    let left = inner(op.forward(x.clone()).unwrap(), y.clone());
    let right = inner(x, op.adjoint(y).unwrap());
    assert!((left - right).abs() <= 1e-5 * left.abs().max(1.0), "{left} vs {right}");
    // ‖A‖² from the power iteration bounds the Rayleigh quotient of any image.
    let z: Tensor<4> = gaussian_noise([1, 1, 17, 17], &mut rng, &device).unwrap();
    let az = op.forward(z.clone()).unwrap();
    let quotient = inner(az.clone(), az) / inner(z.clone(), z);
    assert!(quotient <= op.norm_squared() * (1.0 + 1e-3), "{quotient} > {}", op.norm_squared());
}

//! The helpers every medgen test suite shares: `test_device` gives a working device chosen by
//! `MEDGEN_TEST_DEVICE`, `testing_on_wgpu` agrees with that variable, `host` reads float and
//! integer tensors back in row-major order, and `max_abs_diff` is the largest element-wise
//! difference (and refuses tensors of different shapes).

use medgen_core::burn::tensor::{Int, Tensor, TensorData};
use medgen_testing::{TEST_DEVICE_ENV, host, max_abs_diff, test_device, testing_on_wgpu};

#[test]
fn the_test_device_computes() {
    let device = test_device();
    let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
    let b = Tensor::<2>::from_floats([[0.5, -1.0], [2.0, 0.25]], &device);
    // Element-wise product and a matrix product, both checked by hand.
    assert_eq!(host::<f32, 2, _>(a.clone().mul(b.clone())), vec![0.5, -2.0, 6.0, 1.0]);
    // [[1, 2], [3, 4]] · [[0.5, -1], [2, 0.25]] = [[4.5, -0.5], [9.5, -2]].
    assert_eq!(host::<f32, 2, _>(a.matmul(b)), vec![4.5, -0.5, 9.5, -2.0]);
    // Two calls give devices that share tensors.
    let c = Tensor::<1>::ones([3], &test_device());
    let d = Tensor::<1>::ones([3], &device);
    assert_eq!(host::<f32, 1, _>(c.add(d)), vec![2.0; 3]);
}

#[test]
fn testing_on_wgpu_follows_the_environment_variable() {
    assert_eq!(TEST_DEVICE_ENV, "MEDGEN_TEST_DEVICE");
    let name = std::env::var(TEST_DEVICE_ENV).unwrap_or_default().trim().to_ascii_lowercase();
    let wgpu = matches!(name.as_str(), "wgpu" | "gpu" | "wgpu-cpu" | "wgpu-software" | "lavapipe");
    assert_eq!(testing_on_wgpu(), wgpu, "{TEST_DEVICE_ENV}={name:?}");
}

#[test]
fn host_reads_row_major_values_in_the_requested_type() {
    let device = test_device();
    let x = Tensor::<3>::from_data(
        TensorData::new(vec![0.0f32, 1.5, -2.0, 3.25, 4.0, -0.5], [1, 2, 3]),
        &device,
    );
    assert_eq!(host::<f32, 3, _>(x.clone()), vec![0.0, 1.5, -2.0, 3.25, 4.0, -0.5]);
    assert_eq!(host::<f64, 3, _>(x.clone()), vec![0.0, 1.5, -2.0, 3.25, 4.0, -0.5]);
    // A transpose changes the row-major order of the values read back.
    let t = x.reshape([2, 3]).transpose();
    assert_eq!(host::<f32, 2, _>(t), vec![0.0, 3.25, 1.5, 4.0, -2.0, -0.5]);
    let labels = Tensor::<1, Int>::from_ints([3, -1, 7], &device);
    assert_eq!(host::<i64, 1, _>(labels), vec![3, -1, 7]);
}

#[test]
fn max_abs_diff_is_the_largest_elementwise_difference() {
    let device = test_device();
    let a = Tensor::<2>::from_floats([[1.0, -2.0], [3.0, 4.0]], &device);
    let b = Tensor::<2>::from_floats([[1.5, -2.0], [0.0, 4.25]], &device);
    // |1 − 1.5| = 0.5, 0, |3 − 0| = 3, 0.25.
    assert_eq!(max_abs_diff(a.clone(), b.clone()), 3.0);
    assert_eq!(max_abs_diff(b, a.clone()), 3.0);
    assert_eq!(max_abs_diff(a.clone(), a.clone()), 0.0);
    let shifted = a.clone().sub_scalar(0.125);
    assert_eq!(max_abs_diff(a, shifted), 0.125);
}

#[test]
#[should_panic(expected = "shapes differ")]
fn max_abs_diff_refuses_tensors_of_different_shapes() {
    let device = test_device();
    let a = Tensor::<2>::zeros([2, 3], &device);
    let b = Tensor::<2>::zeros([3, 2], &device);
    let _ = max_abs_diff(a, b);
}

//! # medgen-testing
//!
//! What the medgen test suites share and users never need: the device the tests run on
//! (chosen at run time by `MEDGEN_TEST_DEVICE`, so the same test binaries run on the CPU and
//! on wgpu), and read-back helpers that panic with the tensor's name. Every crate of the
//! workspace takes it as a dev-dependency only. [`assert_error!`] and [`assert_err!`] check a
//! bad-input case: the error variant and that the message names the offending argument.

use burn::tensor::kind::Basic;
use burn::tensor::{Device, Element, Tensor};
use medgen_core::DeviceChoice;

/// The environment variable that picks the test device (`cpu`, `ndarray`, `wgpu`,
/// `wgpu-cpu`; default `cpu`).
pub const TEST_DEVICE_ENV: &str = "MEDGEN_TEST_DEVICE";

/// The device the test suites run on: [`TEST_DEVICE_ENV`] (default `cpu`).
///
/// # Panics
/// Panics with the reason if the variable names an unknown or uncompiled backend: a
/// misconfigured test run must stop loudly.
#[track_caller]
pub fn test_device() -> Device {
    DeviceChoice::from_env(TEST_DEVICE_ENV)
        .and_then(DeviceChoice::device)
        .unwrap_or_else(|err| panic!("{TEST_DEVICE_ENV}: {err}"))
}

/// Whether the test suites run on a wgpu device (slow in CI: tests shrink their shapes).
pub fn testing_on_wgpu() -> bool {
    DeviceChoice::from_env(TEST_DEVICE_ENV).is_ok_and(DeviceChoice::is_wgpu)
}

/// The values of `tensor` in row-major order as `E`.
///
/// # Panics
/// Panics when the device cannot deliver them (a failed test).
#[track_caller]
pub fn host<E: Element, const D: usize, K: Basic>(tensor: Tensor<D, K>) -> Vec<E> {
    medgen_core::read_values(tensor, "test tensor").unwrap_or_else(|err| panic!("{err}"))
}

/// `max_i |a_i − b_i|` of two float tensors of one shape, read back to the host.
///
/// # Panics
/// Panics when the shapes differ or the read-back fails.
#[track_caller]
pub fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    host::<f32, D, _>(a.sub(b).abs()).into_iter().fold(0.0, f32::max)
}

/// Asserts that the error `err` matches `pattern` and that its message names `name` (the
/// offending argument).
///
/// ```
/// use medgen_core::CoreError;
/// medgen_testing::assert_error!(
///     CoreError::config("steps", "must be positive"),
///     CoreError::InvalidConfig { .. },
///     "steps"
/// );
/// ```
#[macro_export]
macro_rules! assert_error {
    ($err:expr, $pattern:pat, $name:expr) => {{
        let err = $err;
        assert!(matches!(err, $pattern), "unexpected variant: {err:?}");
        let message = err.to_string();
        assert!(message.contains($name), "`{message}` does not name `{}`", $name);
    }};
}

/// Asserts that `result` is an error matching `pattern` whose message names `name`
/// ([`assert_error!`] on the `Err` value; panics on `Ok`).
#[macro_export]
macro_rules! assert_err {
    ($result:expr, $pattern:pat, $name:expr) => {{
        match $result {
            Ok(_) => panic!("expected an error naming `{}`", $name),
            Err(err) => $crate::assert_error!(err, $pattern, $name),
        }
    }};
}

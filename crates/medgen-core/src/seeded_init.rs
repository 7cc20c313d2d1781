//! Building a module whose initial parameters come from the caller's seeded generator.
//!
//! Burn draws initial weights (`Initializer::KaimingUniform`, `Normal`, ...) from a
//! process-wide generator of the device's backend, and it draws them lazily: a parameter is
//! only filled in when it is first read, usually in the first forward pass. Left alone, that
//! generator is seeded from the operating system, so two runs with the same medgen seed start
//! from different weights and drift apart; and in a multi-threaded program (a test suite, a
//! server) other threads can take draws from the same global generator between two of ours.
//!
//! [`init_seeded`] removes both causes: under one process-wide lock it seeds the device's
//! generator with a number drawn from the caller's [`SeededRng`], runs the module's `init`,
//! and reads every parameter once so that all lazy initialisers run inside the lock, in the
//! module's field order. The result depends only on the caller's generator.
//!
//! Only draws made through Burn's global generator are affected; medgen itself makes every
//! other random draw on the host from a [`SeededRng`].

use std::sync::{Mutex, PoisonError};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Device, Int, Tensor};
use rand::Rng;

use crate::rng::SeededRng;

/// Serialises every use of Burn's global generators made through [`init_seeded`].
static DEVICE_GENERATOR: Mutex<()> = Mutex::new(());

/// Builds a module with `init` so that its initial parameters are a function of `rng` alone.
///
/// Draws `s = rng.next_u64()`, seeds `device`'s generator with `s` (`device.seed(s)`), runs
/// `init(device)` and materialises every lazily initialised parameter, all while holding a
/// process-wide lock, so two calls with generators in the same state return modules with
/// bit-identical parameters on the same device, whatever other threads are doing through
/// this function.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::LinearConfig;
/// use medgen_core::{init_seeded, seeded_rng};
/// use medgen_testing::test_device;
///
/// let device = test_device();
/// let build = |seed| {
///     init_seeded(&device, &mut seeded_rng(seed), |d| {
///         Ok::<_, medgen_core::CoreError>(LinearConfig::new(4, 3).init(d))
///     })
/// };
/// let (a, b) = (build(7)?, build(7)?);
/// assert_eq!(a.weight.val().into_data(), b.weight.val().into_data());
/// # Ok::<(), medgen_core::CoreError>(())
/// ```
///
/// # Errors
/// Whatever `init` returns.
pub fn init_seeded<M, E>(
    device: &Device,
    rng: &mut SeededRng,
    init: impl FnOnce(&Device) -> Result<M, E>,
) -> Result<M, E>
where
    M: Module,
{
    let _guard = DEVICE_GENERATOR.lock().unwrap_or_else(PoisonError::into_inner);
    device.seed(rng.next_u64());
    let module = init(device)?;
    module.visit(&mut Materialise);
    Ok(module)
}

/// Reads every parameter once, which runs its lazy initialiser.
struct Materialise;

impl ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        let _ = param.val();
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        let _ = param.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded_rng;
    use burn::nn::conv::Conv2dConfig;
    use medgen_testing::test_device;

    fn weights(seed: u64) -> Vec<f32> {
        let device = test_device();
        let conv = init_seeded(&device, &mut seeded_rng(seed), |d| {
            Ok::<_, ()>(Conv2dConfig::new([2, 3], [3, 3]).init(d))
        })
        .unwrap();
        conv.weight.val().try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_weights_even_under_concurrency() {
        let reference = weights(11);
        // Other threads initialising modules at the same time must not take our draws.
        let handles: Vec<_> =
            (0..4).map(|i| std::thread::spawn(move || weights(100 + i))).collect();
        let again = weights(11);
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(reference, again);
        assert_ne!(reference, weights(12));
    }

    #[test]
    fn errors_of_init_are_returned() {
        let device = test_device();
        let result: Result<burn::nn::Linear, &str> =
            init_seeded(&device, &mut seeded_rng(0), |_| Err("bad width"));
        assert_eq!(result.unwrap_err(), "bad width");
    }
}

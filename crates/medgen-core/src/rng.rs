//! The seeded random number generator every random draw in medgen goes through.
//!
//! Callers create a [`SeededRng`] from a `u64` seed and pass it to every function that draws:
//! the same seed gives the same samples. Draws are made on the host and uploaded, so a seed
//! gives the same numbers on every backend. The generator's position can be captured as an
//! [`RngState`] and restored, which lets a checkpoint resume the exact random stream.

use chacha20::ChaCha12Rng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// The generator medgen uses: ChaCha with 12 rounds (the algorithm behind `rand::rngs::StdRng`),
/// whose position can be saved and restored.
pub type SeededRng = ChaCha12Rng;

/// Creates a [`SeededRng`] from a 64-bit seed.
pub fn seeded_rng(seed: u64) -> SeededRng {
    SeededRng::seed_from_u64(seed)
}

/// A serialisable snapshot of a [`SeededRng`]: key, stream and position in the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 256-bit ChaCha key, as hexadecimal.
    pub key_hex: String,
    /// The ChaCha stream number.
    pub stream: u64,
    /// The position in the stream, in 32-bit words (a `u128` written in decimal).
    pub word_pos: String,
}

impl RngState {
    /// Captures the state of `rng`.
    pub fn capture(rng: &SeededRng) -> Self {
        let key_hex = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
        Self { key_hex, stream: rng.get_stream(), word_pos: rng.get_word_pos().to_string() }
    }

    /// Rebuilds a generator that continues exactly where the captured one stood.
    pub fn restore(&self) -> Result<SeededRng> {
        let bad = |reason: &str| CoreError::config("rng_state", reason);
        if self.key_hex.len() != 64 || !self.key_hex.is_ascii() {
            return Err(bad("key must be 64 hexadecimal digits"));
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&self.key_hex[2 * i..2 * i + 2], 16)
                .map_err(|_| bad("key must be 64 hexadecimal digits"))?;
        }
        let word_pos: u128 =
            self.word_pos.parse().map_err(|_| bad("word position must be a decimal integer"))?;
        let mut rng = SeededRng::from_seed(key);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = (0..4).map(|_| seeded_rng(7).random()).collect();
        let mut rng = seeded_rng(7);
        let first: u64 = rng.random();
        assert_eq!(a[0], first);
        let other: u64 = seeded_rng(8).random();
        assert_ne!(first, other);
    }

    #[test]
    fn state_round_trip_continues_the_stream() {
        let mut rng = seeded_rng(42);
        for _ in 0..13 {
            let _: u32 = rng.random();
        }
        let state = RngState::capture(&rng);
        let json = serde_json::to_string(&state).unwrap();
        let mut restored = serde_json::from_str::<RngState>(&json).unwrap().restore().unwrap();
        let expected: Vec<f64> = (0..5).map(|_| rng.random()).collect();
        let got: Vec<f64> = (0..5).map(|_| restored.random()).collect();
        assert_eq!(expected, got);
    }

    #[test]
    fn corrupt_state_is_an_error() {
        let mut state = RngState::capture(&seeded_rng(1));
        state.key_hex = "zz".repeat(32);
        assert!(state.restore().is_err());
    }
}

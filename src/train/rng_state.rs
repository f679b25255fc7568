//! The run's random stream, saved exactly so a resumed run draws the same numbers.

use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RngState {
    /// Hex of the 32-byte ChaCha seed.
    pub seed: String,
    pub stream: u64,
    /// Position in the stream, as a decimal string (u128 does not fit JSON numbers).
    pub word_pos: String,
}

impl RngState {
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed: hex::encode(rng.get_seed()),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    pub fn restore(&self) -> Result<ChaCha8Rng> {
        let bytes = hex::decode(&self.seed).context("RNG state: seed is not hex")?;
        let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            bail!("RNG state: seed must be 32 bytes")
        };
        let pos: u128 = self
            .word_pos
            .parse()
            .context("RNG state: word_pos is not a number")?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(pos);
        Ok(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn round_trip_continues_the_stream() {
        let mut a = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..13 {
            let _: u32 = a.random();
        }
        let s = RngState::capture(&a);
        let json = serde_json::to_string(&s).unwrap();
        let mut b = serde_json::from_str::<RngState>(&json)
            .unwrap()
            .restore()
            .unwrap();
        let xa: Vec<u64> = (0..5).map(|_| a.random()).collect();
        let xb: Vec<u64> = (0..5).map(|_| b.random()).collect();
        assert_eq!(xa, xb);
    }
}

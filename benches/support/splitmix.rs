//! SplitMix64's output function, the one source of the benches' deterministic bytes: the
//! soak's data file and request mix, and compare's data file. It is a bijection that
//! scatters neighbouring inputs, so no two 8-byte words of a file repeat and a shifted or
//! stale slice never passes for the right one.

/// SplitMix64's increment, 2^64 divided by the golden ratio.
pub const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's next output from state `z`; `mix(n * GOLDEN)` is the (n+1)-th output of the
/// generator started at 0.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

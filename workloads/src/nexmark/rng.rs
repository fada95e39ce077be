//! A counter-based random number generator: one small stream per event.
//!
//! The reference generator draws each event's fields from a `java.util.Random`; what makes
//! it replayable is that an event's draws depend only on the event. We keep that property
//! and make it cheap: the stream of event `id` starts from a hash of `(seed, id)` and each
//! draw is one step of wyrand (an add and a 64×64→128-bit multiply). Numbers below a bound
//! use the high half of a widening multiply (Lemire's method without the rejection step:
//! its bias is below `bound / 2^64`, far under anything a benchmark can see), so no draw
//! divides; [`scale`] does the same for a draw already made, so one draw can serve two
//! choices through its two halves.

/// wyrand's increment (the first wyhash secret).
const WY_ADD: u64 = 0xa076_1d64_78bd_642f;
/// wyrand's xor constant (the second wyhash secret).
const WY_XOR: u64 = 0xe703_7ed1_a0b4_28db;

/// Folds the 128-bit product of `a` and `b` to 64 bits (wyhash's `mum`).
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let t = u128::from(a) * u128::from(b);
    (t as u64) ^ ((t >> 64) as u64)
}

/// `x` scaled into `0..bound`: the high half of `x * bound` (uniform for uniform `x`).
#[inline(always)]
pub(crate) fn scale(x: u64, bound: u64) -> u64 {
    ((u128::from(x) * u128::from(bound)) >> 64) as u64
}

/// `x` scaled into `0..bound`, for 32-bit halves of a draw.
#[inline(always)]
pub(crate) fn scale32(x: u32, bound: u32) -> u32 {
    ((u64::from(x) * u64::from(bound)) >> 32) as u32
}

/// The random stream of one event.
#[derive(Clone, Debug)]
pub(crate) struct EventRng {
    state: u64,
}

impl EventRng {
    /// The stream for event `id` of the run seeded with `seed`.
    #[inline(always)]
    pub(crate) fn new(seed: u64, id: u64) -> Self {
        EventRng {
            state: mum(seed ^ WY_ADD, id ^ WY_XOR),
        }
    }

    /// The next 64 random bits.
    #[inline(always)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(WY_ADD);
        mum(self.state, self.state ^ WY_XOR)
    }

    /// A number in `0..bound` (`0` when `bound` is 0).
    #[inline(always)]
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        scale(self.next_u64(), bound)
    }

    /// `true` with probability `1 - 1/ratio`: the reference's `nextInt(ratio) > 0`.
    #[inline(always)]
    pub(crate) fn one_minus_one_in(&mut self, ratio: u64) -> bool {
        self.below(ratio) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_depends_only_on_seed_and_id() {
        let draws = |seed, id| {
            let mut r = EventRng::new(seed, id);
            [r.next_u64(), r.next_u64(), r.next_u64()]
        };
        assert_eq!(draws(1, 7), draws(1, 7));
        assert_ne!(draws(1, 7), draws(1, 8));
        assert_ne!(draws(1, 7), draws(2, 7));
    }

    #[test]
    fn bounded_draws_stay_in_range_and_cover_it() {
        let mut seen = [0u32; 7];
        for id in 0..10_000 {
            let mut r = EventRng::new(42, id);
            let x = r.below(7);
            seen[x as usize] += 1;
        }
        // Each of 7 values expected ~1,429 times.
        assert!(
            seen.iter().all(|&n| (1_200..1_650).contains(&n)),
            "{seen:?}"
        );
        assert_eq!(EventRng::new(1, 1).below(0), 0);
        assert!(!EventRng::new(1, 1).one_minus_one_in(1));
    }
}

//! A fixed-memory, lock-free latency histogram, its [`LatencySnapshot`], and the
//! [`Stopwatch`] that times handler invocations for it.
//!
//! Buckets are log-linear: values below 16 ns have a bucket each; above, every power of
//! two `[2^k, 2^(k+1))` is split into 16 equal sub-buckets. A reported percentile is the
//! upper bound of the bucket that holds it (never below the true value, less than 1/16 =
//! 6.25% above it), capped at the exact maximum. Values from 0 to 2^42 ns (about 73
//! minutes) are resolved; longer ones land in the last bucket and still count exactly
//! in `count`, `sum` and `max`. A histogram that was never recorded into holds no
//! buckets; the first record allocates them once (624 x 8 bytes).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;

use super::counter::Counter;

/// Sub-buckets per power of two, as a power of two: 16 sub-buckets, 6.25% error.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Values at or above `2^MAX_BITS` ns land in the last bucket.
const MAX_BITS: u32 = 42;
/// Bucket count: 16 exact ones below 16 ns, then 16 per power of two up to 2^42.
pub(crate) const BUCKETS: usize = ((MAX_BITS - SUB_BITS + 1) as usize) << SUB_BITS;

/// The first invocations of a handler that [`Stopwatch::sampled`] always times.
pub(crate) const WARMUP: u64 = 1_024;
/// After the warm-up, [`Stopwatch::sampled`] times one invocation in this many per
/// thread, on average (gaps drawn uniformly from 1 to twice this, so a fixed pattern of
/// handlers cannot alias with the sampling).
pub(crate) const SAMPLE_EVERY: u32 = 64;

/// The maximum, on its own cache line: read on every record, written rarely.
#[repr(align(64))]
#[derive(Default)]
struct Max(AtomicU64);

type Buckets = [AtomicU64; BUCKETS];

/// The bucket of a value in nanoseconds.
#[inline]
pub(crate) fn bucket_of(nanos: u64) -> usize {
    if nanos < SUB {
        return nanos as usize;
    }
    // Index of the highest set bit, at least SUB_BITS here.
    let msb = 63 - nanos.leading_zeros();
    if msb >= MAX_BITS {
        return BUCKETS - 1;
    }
    let shift = msb - SUB_BITS;
    (((shift + 1) as usize) << SUB_BITS) + ((nanos >> shift) & (SUB - 1)) as usize
}

/// The smallest value of bucket `index`.
pub(crate) fn bucket_low(index: usize) -> u64 {
    let (octave, sub) = ((index >> SUB_BITS) as u32, (index as u64) & (SUB - 1));
    if octave == 0 {
        sub
    } else {
        (SUB + sub) << (octave - 1)
    }
}

/// The largest value of bucket `index` (the last bucket reports `u64::MAX`; percentiles
/// are capped at the recorded maximum anyway).
pub(crate) fn bucket_high(index: usize) -> u64 {
    if index + 1 >= BUCKETS {
        u64::MAX
    } else {
        bucket_low(index + 1) - 1
    }
}

fn new_buckets() -> Box<Buckets> {
    Box::new([const { AtomicU64::new(0) }; BUCKETS])
}

/// A latency histogram in nanoseconds: recording is lock-free (one relaxed `fetch_add`
/// on a bucket, one on this thread's shard of the sum, a load of the maximum); memory is
/// fixed (about 5 KiB of buckets once recorded into, plus the 512-byte sharded sum).
///
/// The sum is sharded like [`Counter`]: with it shared, two threads recording into one
/// histogram took 46 ns per record instead of 5; sharded, 13 (the rest is threads
/// hitting the same buckets, which sampling makes rare).
#[derive(Default)]
pub(crate) struct LatencyHistogram {
    buckets: OnceLock<Box<Buckets>>,
    sum: Counter,
    max: Max,
    /// Invocations [`Stopwatch::sampled`] timed during the warm-up.
    warm: AtomicU64,
}

impl LatencyHistogram {
    /// Records one observation of `nanos` nanoseconds.
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        let buckets = self.buckets.get_or_init(new_buckets);
        buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.sum.add(nanos);
        if nanos > self.max.0.load(Ordering::Relaxed) {
            self.max.0.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// Whether this histogram is still in its warm-up (fewer than [`WARMUP`] timed
    /// invocations); counts the caller as one of them.
    #[inline]
    fn warming(&self) -> bool {
        self.warm.load(Ordering::Relaxed) < WARMUP
            && self.warm.fetch_add(1, Ordering::Relaxed) < WARMUP
    }

    /// Count, percentiles, maximum, mean and sum of what was recorded so far. Records
    /// that race with the snapshot may be counted in some fields and not yet in others.
    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        let Some(buckets) = self.buckets.get() else {
            return LatencySnapshot::default();
        };
        let counts: Vec<u64> = buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return LatencySnapshot::default();
        }
        let (sum_ns, max_ns) = (self.sum.get(), self.max.0.load(Ordering::Relaxed));
        let quantile = |q_per_mille: u64| {
            // Nearest rank: the smallest value with at least q of the observations at
            // or below it.
            let rank = (count * q_per_mille).div_ceil(1000).max(1);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return bucket_high(i).min(max_ns);
                }
            }
            max_ns
        };
        LatencySnapshot {
            count,
            p50_ns: quantile(500),
            p99_ns: quantile(990),
            max_ns,
            mean_ns: sum_ns / count,
            sum_ns,
        }
    }
}

/// Latency of handler invocations, in nanoseconds, from a fixed-memory histogram.
///
/// `p50_ns` and `p99_ns` are the upper bounds of the histogram buckets holding those
/// percentiles: never below the true value and less than 6.25% above it (exact below
/// 32 ns), capped at `max_ns`. `max_ns`, `sum_ns` and `count` are exact for what was
/// timed. All fields are 0 when nothing was timed.
///
/// Timing is sampled on the busiest paths: the first 1,024 invocations of a handler are
/// all timed, then one in 64 on average per thread, so `count` may be lower than the
/// number of invocations and `max_ns` is the largest timed one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LatencySnapshot {
    /// Timed invocations.
    pub count: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Longest timed invocation.
    pub max_ns: u64,
    /// Mean (`sum_ns / count`, rounded down).
    pub mean_ns: u64,
    /// Sum of the timed invocations.
    pub sum_ns: u64,
}

thread_local! {
    /// Timing decisions left before this thread's next sampled invocation.
    static COUNTDOWN: Cell<u32> = const { Cell::new(1) };
    /// xorshift32 state for the next gap.
    static GAP_SEED: Cell<u32> = const { Cell::new(0x9E37_79B9) };
}

/// Whether this thread's next sampled invocation is now.
#[inline]
fn sample_now() -> bool {
    COUNTDOWN
        .try_with(|c| {
            let left = c.get();
            if left > 1 {
                c.set(left - 1);
                return false;
            }
            c.set(next_gap());
            true
        })
        .unwrap_or(false)
}

#[cold]
fn next_gap() -> u32 {
    GAP_SEED
        .try_with(|s| {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            s.set(x);
            1 + x % (2 * SAMPLE_EVERY)
        })
        .unwrap_or(SAMPLE_EVERY)
}

/// Times one handler invocation for a [`LatencyHistogram`], or does nothing when this
/// invocation is not sampled. Reading the clock costs about 30 ns, the histogram about 5.
#[must_use = "a stopwatch measures nothing until `stop`"]
pub(crate) struct Stopwatch(Option<Instant>);

impl Stopwatch {
    /// Always times (for invocations that cost far more than the clock, such as tasks).
    #[inline]
    pub(crate) fn start() -> Stopwatch {
        Stopwatch(Some(Instant::now()))
    }

    /// Times this invocation when `histogram` is still in its warm-up (its first
    /// [`WARMUP`] invocations) or this thread's sample is due (one in [`SAMPLE_EVERY`] on
    /// average); otherwise costs a thread-local decrement.
    #[inline]
    pub(crate) fn sampled(histogram: &LatencyHistogram) -> Stopwatch {
        if sample_now() || histogram.warming() {
            Stopwatch::start()
        } else {
            Stopwatch(None)
        }
    }

    /// Nanoseconds since the start, or `None` when this invocation was not timed.
    #[inline]
    pub(crate) fn stop(self) -> Option<u64> {
        self.0
            .map(|t| u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        for v in 0..32 {
            assert_eq!(bucket_of(v), v as usize);
            assert_eq!((bucket_low(v as usize), bucket_high(v as usize)), (v, v));
        }
    }

    #[test]
    fn buckets_tile_the_range_with_bounded_error() {
        assert_eq!(BUCKETS, 624);
        for i in 0..BUCKETS - 1 {
            let (low, high) = (bucket_low(i), bucket_high(i));
            assert!(low <= high, "bucket {i}");
            assert_eq!(bucket_of(low), i, "low of bucket {i}");
            assert_eq!(bucket_of(high), i, "high of bucket {i}");
            assert_eq!(bucket_of(high + 1), i + 1, "past bucket {i}");
            // Reporting `high` for any value in the bucket errs by under 1/16.
            assert!((high - low) * 16 < low.max(1) || high == low, "bucket {i}");
        }
        assert_eq!(
            bucket_low(BUCKETS - 1),
            (2 * SUB - 1) << (MAX_BITS - SUB_BITS - 1)
        );
        let hour = 3_600_000_000_000;
        assert!(bucket_of(hour) < BUCKETS - 1);
        assert_eq!(bucket_of(1 << MAX_BITS), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn empty_histogram_is_all_zero() {
        let h = LatencyHistogram::default();
        assert_eq!(h.snapshot(), LatencySnapshot::default());
        assert!(
            h.buckets.get().is_none(),
            "no buckets before the first record"
        );
    }

    #[test]
    fn uniform_percentiles_within_error() {
        let h = LatencyHistogram::default();
        for v in 1..=10_000 {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 10_000);
        assert_eq!(s.max_ns, 10_000);
        assert_eq!(s.sum_ns, 50_005_000);
        assert_eq!(s.mean_ns, 5_000);
        // Upper bound of the holding bucket: at or above the truth, under 6.25% above.
        assert!((5_000..5_000 * 17 / 16).contains(&s.p50_ns), "{s:?}");
        assert_eq!(s.p50_ns, 5_119);
        assert!((9_900..9_900 * 17 / 16).contains(&s.p99_ns), "{s:?}");
        assert_eq!(s.p99_ns, 10_000, "capped at the maximum");
    }

    #[test]
    fn skewed_distribution_and_exact_max() {
        let h = LatencyHistogram::default();
        for _ in 0..990 {
            h.record(100);
        }
        for _ in 0..9 {
            h.record(1_000_000);
        }
        h.record(7_777_777_777);
        let s = h.snapshot();
        assert_eq!(s.count, 1_000);
        assert_eq!(s.p50_ns, 103, "bucket [100, 103]");
        assert_eq!(s.p99_ns, 103, "rank 990 is still the fast bucket");
        assert_eq!(s.max_ns, 7_777_777_777);
        let big = LatencyHistogram::default();
        big.record(u64::MAX);
        assert_eq!(big.snapshot().p99_ns, u64::MAX);
    }

    #[test]
    fn concurrent_records_sum_exactly() {
        let h = std::sync::Arc::new(LatencyHistogram::default());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || (1..=10_000).for_each(|v| h.record(v * (t + 1))))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().expect("thread"));
        let s = h.snapshot();
        assert_eq!(s.count, 40_000);
        assert_eq!(s.sum_ns, 50_005_000 * (1 + 2 + 3 + 4));
        assert_eq!(s.max_ns, 40_000);
    }

    #[test]
    fn stopwatch_times_the_warm_up_then_samples() {
        let h = LatencyHistogram::default();
        let mut timed = 0u64;
        for _ in 0..WARMUP {
            if let Some(ns) = Stopwatch::sampled(&h).stop() {
                h.record(ns);
                timed += 1;
            }
        }
        assert_eq!(timed, WARMUP, "every warm-up invocation is timed");
        let later = 64_000;
        let sampled = (0..later)
            .filter(|_| Stopwatch::sampled(&h).stop().is_some())
            .count() as u64;
        let expected = later / u64::from(SAMPLE_EVERY);
        assert!(
            sampled > expected / 2 && sampled < expected * 2,
            "{sampled} of {later} timed"
        );
        assert!(Stopwatch::start().stop().is_some());
    }
}

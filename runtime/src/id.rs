//! Time-ordered ids (UUID v7) from a per-thread generator.
//!
//! `Uuid::now_v7` reads the clock and takes a global lock for ordering on every call.
//! Here each thread keeps its own state: the millisecond of the last clock read, a
//! counter and a random tag fixed for the thread. Ids from one thread are strictly
//! increasing; ids from different threads never collide (their tags differ) and order
//! by millisecond.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

struct Generator {
    /// Last millisecond used.
    ms: Cell<u64>,
    /// Monotonic counter (42 bits used).
    seq: Cell<u64>,
    /// Random per-thread tag (32 bits).
    tag: u64,
}

thread_local! {
    static GEN: Generator = {
        let seed = Uuid::new_v4().as_u128();
        Generator {
            ms: Cell::new(0),
            seq: Cell::new((seed >> 64) as u64 & ((1 << 30) - 1)),
            tag: seed as u64 & 0xffff_ffff,
        }
    };
}

const SEQ_BITS: u32 = 42;

/// A new v7 id stamped with `ms` (milliseconds since the Unix epoch).
#[inline]
pub(crate) fn next_with_ms(ms: u64) -> Uuid {
    GEN.with(|g| {
        let ms = ms.max(g.ms.get());
        g.ms.set(ms);
        let seq = g.seq.get().wrapping_add(1) & ((1 << SEQ_BITS) - 1);
        g.seq.set(seq);
        // 74 random-ish bits: 42 bits of counter, then the 32-bit thread tag.
        let rand: u128 = (u128::from(seq) << 32) | u128::from(g.tag);
        let rand_a = (rand >> 62) as u64 & 0xfff;
        let rand_b = rand as u64 & ((1 << 62) - 1);
        let hi = (ms << 16) | (0x7 << 12) | rand_a;
        let lo = (0b10 << 62) | rand_b;
        Uuid::from_u64_pair(hi, lo)
    })
}

/// A new id without reading the clock: stamped with the millisecond of this thread's
/// previous id (for ids that are never recorded themselves).
#[inline]
pub(crate) fn next_unstamped() -> Uuid {
    next_with_ms(0)
}

/// A new v7 id stamped with a cheap (coarse) reading of the clock.
#[inline]
pub(crate) fn next() -> Uuid {
    next_with_ms(coarse_now_ms())
}

/// Milliseconds since the Unix epoch of `t` (0 before the epoch).
#[inline]
pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One reading of the wall clock, in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    #[inline]
    pub(crate) fn system_time(self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_nanos(self.0)
    }

    #[inline]
    pub(crate) fn millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Time from `earlier` to `self` (zero if the clock went backwards).
    #[inline]
    pub(crate) fn since(self, earlier: Stamp) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// Reads the wall clock once.
#[cfg(target_os = "linux")]
#[inline]
pub(crate) fn now() -> Stamp {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    match (u64::try_from(ts.tv_sec), u64::try_from(ts.tv_nsec)) {
        (Ok(secs), Ok(nanos)) if rc == 0 => {
            Stamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
        }
        _ => stamp_of(SystemTime::now()),
    }
}

/// Reads the wall clock once.
#[cfg(not(target_os = "linux"))]
#[inline]
pub(crate) fn now() -> Stamp {
    stamp_of(SystemTime::now())
}

fn stamp_of(t: SystemTime) -> Stamp {
    Stamp(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
    )
}

/// The wall clock at a few milliseconds' resolution, for a few nanoseconds.
#[cfg(target_os = "linux")]
#[inline]
pub(crate) fn coarse_now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_REALTIME_COARSE is a clock
    // id every Linux kernel since 2.6.32 provides; on failure `ts` stays zeroed and the
    // generator keeps its last millisecond.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc != 0 {
        return millis(SystemTime::now());
    }
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

/// The wall clock in milliseconds.
#[cfg(not(target_os = "linux"))]
#[inline]
pub(crate) fn coarse_now_ms() -> u64 {
    millis(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_increasing_within_a_thread() {
        let mut last = next();
        assert_eq!(last.get_version_num(), 7);
        for _ in 0..10_000 {
            let id = next();
            assert!(id > last, "{id} after {last}");
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            last = id;
        }
    }

    #[test]
    fn ids_carry_their_millisecond() {
        let ms = millis(SystemTime::now()) + 10_000;
        let id = next_with_ms(ms);
        let (secs, nanos) = id.get_timestamp().expect("v7 has a timestamp").to_unix();
        assert_eq!(secs * 1000 + u64::from(nanos) / 1_000_000, ms);
    }

    #[test]
    fn threads_never_collide() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..5_000).map(|_| next()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for h in handles {
            for id in h.join().expect("thread") {
                assert!(all.insert(id));
            }
        }
    }
}

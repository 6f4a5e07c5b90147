//! Time-ordered ids (UUID v7) from a per-thread generator, and the wall clock records
//! are stamped with.
//!
//! `Uuid::now_v7` reads the clock and takes a global lock for ordering on every call.
//! Here each thread keeps its own state: the millisecond of the last clock read, a
//! random tag fixed for the thread and a counter starting at a random value (in that
//! order in the id). Ids from one thread are strictly increasing; ids from different
//! threads differ by their tags (two threads drawing the same 32-bit tag and meeting on
//! the same millisecond and counter value is the only way two ids can collide) and
//! order by millisecond. A record that is kept gets the millisecond of its own
//! timestamp; an emission nothing keeps gets an id without a clock read of its own
//! (see [`next_unkept`]).
//!
//! [`now`] reads the wall clock for timestamps and durations: on x86-64 Linux from the
//! time-stamp counter (see [`tsc`]), elsewhere from `clock_gettime`.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

struct Generator {
    /// Last millisecond used.
    ms: Cell<u64>,
    /// Monotonic counter (42 bits used).
    seq: Cell<u64>,
    /// Random per-thread tag (low 32 bits), with bit 32 set once seeded (0: not yet).
    tag: Cell<u64>,
    /// Ids [`next_unkept`] may still give before it reads the clock again.
    unkept: Cell<u8>,
}

thread_local! {
    // Constant-initialized (seeded on first use) so that reaching it costs no call.
    static GEN: Generator = const {
        Generator {
            ms: Cell::new(0),
            seq: Cell::new(0),
            tag: Cell::new(0),
            unkept: Cell::new(0),
        }
    };
}

const SEEDED: u64 = 1 << 32;

const SEQ_BITS: u32 = 42;

/// A new v7 id stamped with `ms` (milliseconds since the Unix epoch).
#[inline]
pub(crate) fn next_with_ms(ms: u64) -> Uuid {
    GEN.with(|g| g.next(ms))
}

impl Generator {
    /// The next id, stamped with a fresh (coarse) reading of the clock; see
    /// [`next_unkept`].
    #[cold]
    #[inline(never)]
    fn next_reading_clock(&self) -> Uuid {
        self.unkept.set(UNKEPT_PER_READING - 1);
        self.next(coarse_now_ms())
    }

    /// The thread's tag, seeding the generator the first time.
    #[inline(always)]
    fn tag(&self) -> u64 {
        let tag = self.tag.get();
        if tag != 0 {
            return tag & 0xffff_ffff;
        }
        self.seed()
    }

    #[cold]
    fn seed(&self) -> u64 {
        let seed = Uuid::new_v4().as_u128();
        self.seq.set((seed >> 64) as u64 & ((1 << 30) - 1));
        let tag = seed as u64 & 0xffff_ffff;
        self.tag.set(tag | SEEDED);
        tag
    }

    /// The next id, stamped with `ms` or, when that is older, the thread's last
    /// millisecond (so ids from one thread keep increasing).
    #[inline(always)]
    fn next(&self, ms: u64) -> Uuid {
        let tag = self.tag();
        let ms = ms.max(self.ms.get());
        self.ms.set(ms);
        let seq = self.seq.get().wrapping_add(1) & ((1 << SEQ_BITS) - 1);
        self.seq.set(seq);
        // 74 random-ish bits: the 32-bit thread tag, then 42 bits of counter (so that
        // ids of one thread differ in their last digits). The top 12 bits of the tag
        // are `rand_a`; the rest of it and the counter, `rand_b`.
        let rand_a = tag >> 20;
        let rand_b = ((tag & ((1 << 20) - 1)) << SEQ_BITS) | seq;
        let hi = (ms << 16) | (0x7 << 12) | rand_a;
        let lo = (0b10 << 62) | rand_b;
        Uuid::from_u64_pair(hi, lo)
    }
}

/// A new v7 id stamped with a cheap (coarse) reading of the clock.
#[inline]
pub(crate) fn next() -> Uuid {
    next_with_ms(coarse_now_ms())
}

/// How many ids [`next_unkept`] gives per clock reading.
const UNKEPT_PER_READING: u8 = 16;

/// The id of a record nothing keeps (no handler, history, store or transport takes
/// it): unique and increasing like every id, stamped with the thread's last millisecond
/// and reading the (coarse) clock only once every [`UNKEPT_PER_READING`] ids.
#[inline(always)]
pub(crate) fn next_unkept() -> Uuid {
    GEN.with(|g| {
        let left = g.unkept.get();
        if left == 0 {
            return g.next_reading_clock();
        }
        g.unkept.set(left - 1);
        g.next(0)
    })
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

    /// `t`, when it lies between the Unix epoch and the year 2554 (what nanoseconds in
    /// a `u64` reach).
    pub(crate) fn from_system_time(t: SystemTime) -> Option<Stamp> {
        let d = t.duration_since(UNIX_EPOCH).ok()?;
        u64::try_from(d.as_nanos()).ok().map(Stamp)
    }

    /// `self + d`, when it is in range.
    #[inline]
    pub(crate) fn checked_add(self, d: std::time::Duration) -> Option<Stamp> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_add(n))
            .map(Stamp)
    }

    /// Time from `earlier` to `self` (zero if the clock went backwards).
    #[inline]
    pub(crate) fn since(self, earlier: Stamp) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// Reads the wall clock once.
///
/// On x86-64 Linux with the kernel's clock source on the TSC (so the kernel found it
/// invariant and synchronized across CPUs), this extrapolates from the thread's last
/// `clock_gettime` with the time-stamp counter, re-anchoring every few milliseconds
/// (see [`tsc`]); elsewhere it is `clock_gettime(CLOCK_REALTIME)`.
#[inline]
pub(crate) fn now() -> Stamp {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        tsc::now()
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        precise_now()
    }
}

/// Reads the wall clock with the system call (`clock_gettime(CLOCK_REALTIME)`).
#[cfg(target_os = "linux")]
#[inline]
fn precise_now() -> Stamp {
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

/// Reads the wall clock.
#[cfg(not(target_os = "linux"))]
#[inline]
fn precise_now() -> Stamp {
    stamp_of(SystemTime::now())
}

/// The wall clock from the time-stamp counter: `rdtsc` costs well under half a
/// `clock_gettime`.
///
/// The counter's rate is measured against `clock_gettime` over the process's first
/// [`CALIBRATION_NS`]; until then every reading is a `clock_gettime`. Each thread keeps
/// an anchor (a counter value and the wall clock read with it, both within a few
/// microseconds of each other) and extrapolates from it for at most [`ANCHOR_NS`], then
/// reads the wall clock again. So a reading stays within a few microseconds of
/// `clock_gettime`, and a step of the wall clock (NTP, `date -s`) shows within
/// [`ANCHOR_NS`]. The rate is measured again over longer spans as the process runs.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod tsc {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
    use std::sync::Mutex;

    use super::{precise_now, Stamp};

    /// How long the rate is measured before the counter is used.
    const CALIBRATION_NS: u64 = 5_000_000;
    /// How long a thread extrapolates from one anchor.
    const ANCHOR_NS: u64 = 4_000_000;
    /// Fixed-point shift of [`RATE`] (nanoseconds per tick, times 2^32).
    const SHIFT: u32 = 32;

    const UNKNOWN: u8 = 0;
    const USABLE: u8 = 1;
    const UNUSABLE: u8 = 2;

    /// Whether the counter may be used at all (checked once).
    static STATUS: AtomicU8 = AtomicU8::new(UNKNOWN);
    /// Nanoseconds per tick << SHIFT; 0 until measured.
    static RATE: AtomicU64 = AtomicU64::new(0);
    /// Ticks per [`ANCHOR_NS`]; 0 until the rate is measured.
    static ANCHOR_TICKS: AtomicU64 = AtomicU64::new(0);
    /// The first pair of readings the rate is measured from.
    static ORIGIN: Mutex<Option<(u64, u64)>> = Mutex::new(None);

    thread_local! {
        /// (counter, wall clock in ns, ticks until re-anchoring); 0 ticks: no anchor.
        static ANCHOR: Cell<(u64, u64, u64)> = const { Cell::new((0, 0, 0)) };
    }

    #[inline]
    fn ticks() -> u64 {
        // SAFETY: `rdtsc` exists on every x86-64 CPU and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[inline]
    pub(super) fn now() -> Stamp {
        let (at, ns, limit) = ANCHOR.with(Cell::get);
        if limit != 0 {
            let elapsed = ticks().wrapping_sub(at);
            if elapsed < limit {
                let rate = RATE.load(Ordering::Relaxed);
                let delta = (u128::from(elapsed) * u128::from(rate)) >> SHIFT;
                return Stamp(ns.wrapping_add(delta as u64));
            }
        }
        reanchor()
    }

    /// Reads the wall clock and, when the counter is usable, makes the reading this
    /// thread's anchor (measuring the counter's rate on the way).
    #[cold]
    #[inline(never)]
    fn reanchor() -> Stamp {
        if !usable() {
            return precise_now();
        }
        let before = ticks();
        let stamp = precise_now();
        let after = ticks();
        if after < before || after - before > 10_000 {
            // The readings are too far apart (the thread was interrupted): no anchor
            // this time.
            return stamp;
        }
        let t = before + (after - before) / 2;
        let limit = measure(t, stamp.0);
        let _ = ANCHOR.try_with(|a| a.set((t, stamp.0, limit)));
        stamp
    }

    /// Updates the rate from a reading pair; returns ticks per anchor (0: not yet).
    fn measure(t: u64, ns: u64) -> u64 {
        let mut origin = match ORIGIN.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (t0, ns0) = *origin.get_or_insert((t, ns));
        let (dt, dns) = (t.wrapping_sub(t0), ns.wrapping_sub(ns0));
        if t < t0 || ns < ns0 || dns > 1 << 40 {
            // The wall clock stepped back (or far ahead): measure again from here.
            *origin = Some((t, ns));
            return ANCHOR_TICKS.load(Ordering::Relaxed);
        }
        if dns >= CALIBRATION_NS && dt > 0 {
            let rate = (u128::from(dns) << SHIFT) / u128::from(dt);
            let old = u128::from(RATE.load(Ordering::Relaxed));
            // A step of the wall clock forward shows as a rate far off the measured
            // one: keep the old rate and measure again from here.
            if old != 0 && (rate > old + old / 100 || rate + old / 100 < old) {
                *origin = Some((t, ns));
                return ANCHOR_TICKS.load(Ordering::Relaxed);
            }
            if let Ok(rate) = u64::try_from(rate) {
                if rate > 0 {
                    RATE.store(rate, Ordering::Relaxed);
                    let per_anchor = (u128::from(ANCHOR_NS) << SHIFT) / u128::from(rate);
                    let per_anchor = u64::try_from(per_anchor).unwrap_or(u64::MAX);
                    ANCHOR_TICKS.store(per_anchor, Ordering::Relaxed);
                    return per_anchor;
                }
            }
        }
        ANCHOR_TICKS.load(Ordering::Relaxed)
    }

    /// Whether the counter's rate has been measured (readings extrapolate from it).
    #[cfg(test)]
    pub(super) fn calibrated() -> bool {
        RATE.load(Ordering::Relaxed) != 0
    }

    /// Whether the kernel itself keeps time with the counter: then it found the
    /// counter invariant and synchronized across CPUs.
    pub(super) fn usable() -> bool {
        match STATUS.load(Ordering::Relaxed) {
            USABLE => true,
            UNUSABLE => false,
            _ => {
                let source = std::fs::read_to_string(
                    "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                )
                .unwrap_or_default();
                let ok = source.trim() == "tsc";
                STATUS.store(if ok { USABLE } else { UNUSABLE }, Ordering::Relaxed);
                ok
            }
        }
    }
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
    fn unkept_ids_are_v7_and_increasing_among_the_others() {
        let mut last = next();
        for i in 0..10_000 {
            let id = if i % 3 == 0 { next() } else { next_unkept() };
            assert_eq!(id.get_version_num(), 7);
            assert!(id > last, "{id} after {last}");
            last = id;
        }
    }

    #[test]
    fn the_clock_stays_close_to_the_system_clock() {
        // Long enough for the counter's rate to be measured where it is used.
        let until = std::time::Instant::now() + std::time::Duration::from_millis(30);
        while std::time::Instant::now() < until {
            let _ = now();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if tsc::usable() {
            // The readings below extrapolate from the counter.
            assert!(tsc::calibrated());
        }
        // A few microseconds in practice; the margin only keeps a loaded machine quiet.
        const SLACK: u64 = 200_000;
        for _ in 0..10_000 {
            let before = precise_now();
            let t = now();
            let after = precise_now();
            assert!(
                t.0 + SLACK >= before.0 && t.0 <= after.0 + SLACK,
                "{t:?} outside {before:?} .. {after:?}"
            );
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

//! The per-target rules: who wins a resolution round, who is rejected, who is spared.
//!
//! A round runs on a target with no executing operation (executing operations are never
//! preempted) and at least one pending operation. The winner is the pending operation
//! with the highest effective priority, the earliest submitted among equals. Every
//! other pending operation loses: it is rejected, unless it is in its grace period, in
//! which case it stays pending for the next round.

use std::cmp::Reverse;

use crate::event::Priority;

/// How a contender ranks: higher wins.
pub(crate) type Rank = (Priority, Reverse<u64>);

/// The rank of an operation of effective priority `effective` submitted `seq`-th.
pub(crate) fn rank(effective: Priority, seq: u64) -> Rank {
    (effective, Reverse(seq))
}

/// The decisions of one round over `pending`.
pub(crate) struct Round<W> {
    pub(crate) winner: W,
    pub(crate) rejected: Vec<W>,
    /// Losers spared by their grace period (left in `pending`).
    pub(crate) spared: usize,
    /// Operations that took part, the winner included.
    pub(crate) contenders: usize,
}

/// Runs a round: takes the winner and the rejected losers out of `pending` and leaves
/// the spared ones in it. `None` when `pending` is empty.
pub(crate) fn round<W>(
    pending: &mut Vec<W>,
    rank: impl Fn(&W) -> Rank,
    in_grace: impl Fn(&W) -> bool,
) -> Option<Round<W>> {
    let best = pending
        .iter()
        .enumerate()
        .max_by_key(|(_, w)| rank(w))
        .map(|(i, _)| i)?;
    let contenders = pending.len();
    let winner = pending.swap_remove(best);
    if pending.is_empty() {
        return Some(Round {
            winner,
            rejected: Vec::new(),
            spared: 0,
            contenders,
        });
    }
    let mut rejected = Vec::new();
    let mut i = 0;
    while i < pending.len() {
        if in_grace(&pending[i]) {
            i += 1;
        } else {
            rejected.push(pending.swap_remove(i));
        }
    }
    Some(Round {
        winner,
        spared: pending.len(),
        rejected,
        contenders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, priority, seq, in grace)
    type C = (&'static str, i32, u64, bool);

    fn run(pending: &[C]) -> (&'static str, Vec<&'static str>, Vec<&'static str>) {
        let mut pending = pending.to_vec();
        let r = round(&mut pending, |c| rank(Priority::from(c.1), c.2), |c| c.3).unwrap();
        let mut rejected: Vec<_> = r.rejected.iter().map(|c| c.0).collect();
        rejected.sort_unstable();
        let mut spared: Vec<_> = pending.iter().map(|c| c.0).collect();
        spared.sort_unstable();
        assert_eq!(r.spared, spared.len());
        assert_eq!(r.contenders, 1 + rejected.len() + spared.len());
        (r.winner.0, rejected, spared)
    }

    #[test]
    fn highest_priority_wins_and_the_rest_are_rejected() {
        let (winner, rejected, spared) = run(&[
            ("a", 2, 1, false),
            ("b", 5, 2, false),
            ("c", 10, 3, false),
            ("d", 8, 4, false),
        ]);
        assert_eq!(winner, "c");
        assert_eq!(rejected, ["a", "b", "d"]);
        assert!(spared.is_empty());
    }

    #[test]
    fn ties_go_to_the_earliest() {
        let (winner, rejected, _) = run(&[
            ("late", 5, 9, false),
            ("early", 5, 3, false),
            ("mid", 5, 4, false),
        ]);
        assert_eq!(winner, "early");
        assert_eq!(rejected, ["late", "mid"]);
    }

    #[test]
    fn grace_spares_losers_but_not_the_round() {
        let (winner, rejected, spared) = run(&[
            ("old", 2, 1, false),
            ("new", 2, 2, true),
            ("top", 9, 3, true),
        ]);
        assert_eq!(winner, "top");
        assert_eq!(rejected, ["old"]);
        assert_eq!(spared, ["new"]);
    }

    #[test]
    fn empty_has_no_round() {
        let mut pending: Vec<C> = Vec::new();
        assert!(round(&mut pending, |c| rank(Priority::from(c.1), c.2), |c| c.3).is_none());
    }
}

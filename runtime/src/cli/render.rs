//! Text output, from [`StoredRecord`]s only, so records of event types this binary does
//! not link are shown like any other.

use uuid::Uuid;

use crate::store::StoredRecord;
use crate::time_fmt::format_rfc3339;
use crate::tree::Tree;

/// One line per record: timestamp, name (padded to the longest), phase, id.
pub(super) fn query_lines(rows: &[StoredRecord]) -> Vec<String> {
    let width = rows
        .iter()
        .map(|r| r.name().chars().count())
        .max()
        .unwrap_or(0);
    rows.iter().map(|r| line(r, width)).collect()
}

/// One line for a record that `tail` prints as it comes: like [`query_lines`], with the
/// name padded to a fixed width.
pub(super) fn tail_line(r: &StoredRecord) -> String {
    line(r, 32)
}

/// Timestamp, name padded to `width`, phase, id.
fn line(r: &StoredRecord, width: usize) -> String {
    format!(
        "{}  {:<width$}  {:<10} {}",
        format_rfc3339(r.timestamp()),
        r.name(),
        r.phase().as_str(),
        r.id()
    )
}

/// The tree under `top` (a root or any record of the tree), from every record of its
/// root, oldest first; `None` when `top` is not among them.
pub(super) fn tree(top: Uuid, rows: &[StoredRecord]) -> Option<String> {
    let root = rows.iter().find(|r| r.id() == top)?.root_id();
    let whole = Tree::build(root, rows.iter().cloned())?;
    let node = whole.find(top)?;
    Some(format!(
        "{}  {} records under {}\n{node}",
        format_rfc3339(node.record().timestamp()),
        node.len(),
        node.record().id()
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::event::{Kind, Phase};

    fn row(name: &str, phase: Phase, parent: Option<&StoredRecord>) -> StoredRecord {
        let id = Uuid::new_v4();
        let root = parent.map_or(id, StoredRecord::root_id);
        StoredRecord {
            id,
            name: name.to_owned(),
            event: "elsewhere.thing".to_owned(),
            kind: Kind::Notification,
            phase,
            timestamp: UNIX_EPOCH + Duration::from_secs(1_767_323_045),
            source: None,
            target: None,
            root_id: root,
            correlation_id: root,
            parent_id: parent.map(StoredRecord::id),
            causation_id: parent.map(StoredRecord::id),
            duration: None,
            json: "{}".to_owned(),
        }
    }

    /// The closing record of `started`, a child of it (as instrumented calls emit them).
    fn closing(
        started: &StoredRecord,
        phase: Phase,
        took: Duration,
        error: Option<&str>,
    ) -> StoredRecord {
        let op = started
            .name()
            .strip_suffix(".started")
            .unwrap_or(started.name());
        let mut r = row(&format!("{op}.{phase}"), phase, Some(started));
        r.duration = Some(took);
        if let Some(e) = error {
            r.json = serde_json::json!({ "payload": { "operation": op, "error": e } }).to_string();
        }
        r
    }

    #[test]
    fn query_lines_align_names() {
        let a = row("a.b", Phase::Pending, None);
        let b = row("longer.name.started", Phase::Started, None);
        let lines = query_lines(&[a.clone(), b.clone()]);
        assert_eq!(
            lines[0],
            format!(
                "2026-01-02T03:04:05.000000000Z  a.b                  pending    {}",
                a.id()
            )
        );
        assert_eq!(
            lines[1],
            format!(
                "2026-01-02T03:04:05.000000000Z  longer.name.started  started    {}",
                b.id()
            )
        );
    }

    #[test]
    fn trees_fold_outcomes_and_mark_failures() {
        let top = row("checkout.place_order.started", Phase::Started, None);
        let placed = row("order.placed", Phase::Pending, Some(&top));
        let pay = row("payment.charge.started", Phase::Started, Some(&top));
        let pay_failed = closing(
            &pay,
            Phase::Failed,
            Duration::from_micros(80),
            Some("card declined"),
        );
        let done = closing(&top, Phase::Completed, Duration::from_micros(1_520), None);
        let rows = [top.clone(), placed, pay.clone(), pay_failed, done];

        let text = tree(top.id(), &rows).expect("root is stored");
        let body: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            body,
            [
                "checkout.place_order [completed in 1.52ms]",
                "  order.placed [pending]",
                "  ✗ payment.charge [failed in 80.0µs: card declined]",
            ]
        );
        assert!(text.starts_with(&format!(
            "2026-01-02T03:04:05.000000000Z  5 records under {}",
            top.id()
        )));

        // Any record of the tree can be the top.
        let sub = tree(pay.id(), &rows).expect("stored");
        assert_eq!(
            sub.lines().nth(1),
            Some("✗ payment.charge [failed in 80.0µs: card declined]")
        );
        assert!(tree(Uuid::new_v4(), &rows).is_none());
    }

    #[test]
    fn an_operation_without_outcome_says_so() {
        let top = row("job.run.started", Phase::Started, None);
        let text = tree(top.id(), std::slice::from_ref(&top)).expect("stored");
        assert_eq!(text.lines().nth(1), Some("job.run [started]"));
    }
}

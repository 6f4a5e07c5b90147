//! Text output, from [`StoredRecord`]s only, so records of event types this binary does
//! not link are shown like any other.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::time::Duration;

use uuid::Uuid;

use crate::event::Phase;
use crate::store::StoredRecord;
use crate::time_fmt::format_rfc3339;

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

/// A record and the records nested under it.
struct Node<'a> {
    row: &'a StoredRecord,
    children: Vec<Node<'a>>,
}

/// The tree under `top` (a root or any record of the tree), from every record of its
/// root, oldest first; `None` when `top` is not among them.
pub(super) fn tree(top: Uuid, rows: &[StoredRecord]) -> Option<String> {
    let root = rows.iter().find(|r| r.id() == top)?.root_id();
    let whole = build(root, rows)?;
    let node = find(&whole, top)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {} records under {}",
        format_rfc3339(node.row.timestamp()),
        count(node),
        node.row.id()
    );
    render(node, std::slice::from_ref(node), None, 0, &mut out);
    Some(out)
}

fn build(root: Uuid, rows: &[StoredRecord]) -> Option<Node<'_>> {
    let present: HashSet<Uuid> = rows.iter().map(StoredRecord::id).collect();
    let mut by_parent: HashMap<Uuid, Vec<&StoredRecord>> = HashMap::new();
    let mut top = None;
    for r in rows {
        if r.id() == root {
            top = Some(r);
        } else {
            // A record whose parent is not stored hangs under the root.
            let parent = r
                .parent_id()
                .filter(|p| present.contains(p))
                .unwrap_or(root);
            by_parent.entry(parent).or_default().push(r);
        }
    }
    fn attach<'a>(
        row: &'a StoredRecord,
        by_parent: &mut HashMap<Uuid, Vec<&'a StoredRecord>>,
    ) -> Node<'a> {
        let kids = by_parent.remove(&row.id()).unwrap_or_default();
        Node {
            row,
            children: kids.into_iter().map(|k| attach(k, by_parent)).collect(),
        }
    }
    Some(attach(top?, &mut by_parent))
}

fn find<'n, 'a>(node: &'n Node<'a>, id: Uuid) -> Option<&'n Node<'a>> {
    if node.row.id() == id {
        return Some(node);
    }
    node.children.iter().find_map(|c| find(c, id))
}

fn count(node: &Node<'_>) -> usize {
    1 + node.children.iter().map(count).sum::<usize>()
}

fn is_closing(r: &StoredRecord) -> bool {
    matches!(
        r.phase(),
        Phase::Completed | Phase::Failed | Phase::Cancelled
    )
}

/// One line per operation: a started record shows the outcome of its closing record
/// (phase, duration, error), which is then not printed on its own. Failures start
/// with `✗`.
fn render(
    node: &Node<'_>,
    siblings: &[Node<'_>],
    parent: Option<Uuid>,
    depth: usize,
    out: &mut String,
) {
    let r = node.row;
    let indent = "  ".repeat(depth);
    if is_closing(r) {
        let folded = r.causation_id().is_some_and(|c| {
            Some(c) == parent
                || siblings
                    .iter()
                    .any(|s| s.row.id() == c && s.row.phase() == Phase::Started)
        });
        if folded {
            return;
        }
    }
    if r.phase() == Phase::Started {
        let op = r.name().strip_suffix(".started").unwrap_or(r.name());
        let closing = siblings
            .iter()
            .chain(&node.children)
            .map(|n| n.row)
            .find(|c| is_closing(c) && c.causation_id() == Some(r.id()));
        match closing {
            Some(c) => {
                let _ = writeln!(out, "{indent}{}{op}  {}", mark(c), outcome(c));
            }
            None => {
                let _ = writeln!(out, "{indent}{op}  started, no outcome stored");
            }
        }
    } else {
        let _ = writeln!(out, "{indent}{}{}  {}", mark(r), r.name(), outcome(r));
    }
    for c in &node.children {
        render(c, &node.children, Some(r.id()), depth + 1, out);
    }
}

fn mark(r: &StoredRecord) -> &'static str {
    if r.phase() == Phase::Failed {
        "✗ "
    } else {
        ""
    }
}

/// `completed in 1.52ms`, `failed in 80.0µs: card declined`, `pending`.
fn outcome(r: &StoredRecord) -> String {
    let mut s = r.phase().as_str().to_owned();
    if let Some(d) = r.duration() {
        let _ = write!(s, " in {}", human(d));
    }
    if r.phase() == Phase::Failed {
        if let Some(error) = r.payload_json().get("error").and_then(|e| e.as_str()) {
            let _ = write!(s, ": {error}");
        }
    }
    s
}

/// A duration with three significant digits or so.
pub(super) fn human(d: Duration) -> String {
    let ns = d.as_nanos();
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", f / 1e6)
    } else {
        format!("{:.3}s", f / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::event::Kind;

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
                "checkout.place_order  completed in 1.52ms",
                "  order.placed  pending",
                "  ✗ payment.charge  failed in 80.0µs: card declined",
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
            Some("✗ payment.charge  failed in 80.0µs: card declined")
        );
        assert!(tree(Uuid::new_v4(), &rows).is_none());
    }

    #[test]
    fn an_operation_without_outcome_says_so() {
        let top = row("job.run.started", Phase::Started, None);
        let text = tree(top.id(), std::slice::from_ref(&top)).expect("stored");
        assert_eq!(
            text.lines().nth(1),
            Some("job.run  started, no outcome stored")
        );
    }

    #[test]
    fn durations_read_easily() {
        assert_eq!(human(Duration::from_nanos(950)), "950ns");
        assert_eq!(human(Duration::from_nanos(80_000)), "80.0µs");
        assert_eq!(human(Duration::from_micros(1_520)), "1.52ms");
        assert_eq!(human(Duration::from_millis(2_345)), "2.345s");
    }
}

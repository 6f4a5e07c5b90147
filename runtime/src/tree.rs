//! [`Tree`]: a record and the records nested under it, rendered one line per operation.
//! One tree for every source of records: a bus's history, a store, and the rows the
//! command line reads without their event types.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use crate::envelope::Record;
use crate::event::Phase;

/// What a [`Tree`] is made of: a [`Record`], or a stored row that the command line reads
/// without its event type. Sealed: only herald implements it.
pub trait TreeNode: Clone + fmt::Debug + sealed::Sealed {
    #[doc(hidden)]
    fn node_id(&self) -> Uuid;
    #[doc(hidden)]
    fn node_parent(&self) -> Option<Uuid>;
    #[doc(hidden)]
    fn node_cause(&self) -> Option<Uuid>;
    #[doc(hidden)]
    fn node_name(&self) -> &str;
    #[doc(hidden)]
    fn node_phase(&self) -> Phase;
    #[doc(hidden)]
    fn node_duration(&self) -> Option<Duration>;
    /// The error text of a failed record (its payload's `error`).
    #[doc(hidden)]
    fn node_error(&self) -> Option<String>;
}

pub(crate) mod sealed {
    /// Keeps [`TreeNode`](super::TreeNode) to herald's own types.
    pub trait Sealed {}
    impl Sealed for crate::envelope::Record {}
}

impl TreeNode for Record {
    fn node_id(&self) -> Uuid {
        self.id()
    }
    fn node_parent(&self) -> Option<Uuid> {
        self.parent_id()
    }
    fn node_cause(&self) -> Option<Uuid> {
        self.causation_id()
    }
    fn node_name(&self) -> &str {
        self.name()
    }
    fn node_phase(&self) -> Phase {
        self.phase()
    }
    fn node_duration(&self) -> Option<Duration> {
        self.duration()
    }
    fn node_error(&self) -> Option<String> {
        error_of(&self.payload_json())
    }
}

/// The `error` of a payload (as `Failed` and custom failure events carry it).
pub(crate) fn error_of(payload: &serde_json::Value) -> Option<String> {
    payload.get("error")?.as_str().map(str::to_owned)
}

/// A record and the records nested under it, from [`Bus::tree`](crate::Bus::tree) (or a
/// store's tree, whose nodes may be rows read without their event types).
///
/// Its `Display` prints one line per operation, indented by depth, with the phase,
/// duration and error of each closing event folded into its started line; failures are
/// marked `✗`:
///
/// ```text
/// checkout.place_order [completed in 1.52ms]
///   order.placed [pending]
///   ✗ payment.charge [failed in 80.0µs: card declined]
/// ```
#[derive(Clone, Debug)]
pub struct Tree<T: TreeNode = Record> {
    record: T,
    children: Vec<Tree<T>>,
}

impl<T: TreeNode> Tree<T> {
    /// The record at this node.
    pub fn record(&self) -> &T {
        &self.record
    }

    /// The records whose parent is this one, oldest first.
    pub fn children(&self) -> &[Tree<T>] {
        &self.children
    }

    /// Every record in the tree, depth first.
    pub fn records(&self) -> Vec<T> {
        let mut out = vec![self.record.clone()];
        for c in &self.children {
            out.extend(c.records());
        }
        out
    }

    /// Number of records in the tree.
    pub fn len(&self) -> usize {
        1 + self.children.iter().map(Tree::len).sum::<usize>()
    }

    /// Always false: a tree has at least its root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Depth of the deepest record (the root alone has depth 1).
    pub fn depth(&self) -> usize {
        1 + self.children.iter().map(Tree::depth).max().unwrap_or(0)
    }

    /// The subtree whose top is the record `id`, if it is in this tree.
    pub fn find(&self, id: Uuid) -> Option<&Tree<T>> {
        if self.record.node_id() == id {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(id))
    }

    /// The tree of `root` from the records of its tree, oldest first: a record whose
    /// parent is missing hangs under the root. `None` when `root` is not among them.
    pub(crate) fn build(root: Uuid, records: impl IntoIterator<Item = T>) -> Option<Tree<T>> {
        let records: Vec<T> = records.into_iter().collect();
        let present: HashSet<Uuid> = records.iter().map(TreeNode::node_id).collect();
        let mut by_parent: HashMap<Uuid, Vec<T>> = HashMap::new();
        let mut top = None;
        for r in records {
            if r.node_id() == root {
                top = Some(r);
                continue;
            }
            let parent = r
                .node_parent()
                .filter(|p| present.contains(p))
                .unwrap_or(root);
            by_parent.entry(parent).or_default().push(r);
        }
        fn attach<T: TreeNode>(record: T, by_parent: &mut HashMap<Uuid, Vec<T>>) -> Tree<T> {
            let kids = by_parent.remove(&record.node_id()).unwrap_or_default();
            Tree {
                children: kids.into_iter().map(|k| attach(k, by_parent)).collect(),
                record,
            }
        }
        Some(attach(top?, &mut by_parent))
    }

    fn render(
        &self,
        siblings: &[Tree<T>],
        parent: Option<Uuid>,
        depth: usize,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        let r = &self.record;
        if is_closing(r) {
            let folded = r.node_cause().is_some_and(|c| {
                Some(c) == parent
                    || siblings
                        .iter()
                        .any(|s| s.record.node_id() == c && s.record.node_phase() == Phase::Started)
            });
            if folded {
                return Ok(());
            }
        }
        let indent = "  ".repeat(depth);
        if r.node_phase() == Phase::Started {
            let op = r.node_name();
            let op = op.strip_suffix(".started").unwrap_or(op);
            let closing = siblings
                .iter()
                .chain(&self.children)
                .map(|s| &s.record)
                .find(|c| is_closing(*c) && c.node_cause() == Some(r.node_id()));
            match closing {
                Some(c) => writeln!(f, "{indent}{}{op} [{}]", mark(c), Outcome(c))?,
                None => writeln!(f, "{indent}{op} [started]")?,
            }
        } else {
            writeln!(f, "{indent}{}{} [{}]", mark(r), r.node_name(), Outcome(r))?;
        }
        for c in &self.children {
            c.render(&self.children, Some(r.node_id()), depth + 1, f)?;
        }
        Ok(())
    }
}

fn is_closing<T: TreeNode>(r: &T) -> bool {
    matches!(
        r.node_phase(),
        Phase::Completed | Phase::Failed | Phase::Cancelled
    )
}

fn mark<T: TreeNode>(r: &T) -> &'static str {
    if r.node_phase() == Phase::Failed {
        "✗ "
    } else {
        ""
    }
}

/// `completed in 1.52ms`, `failed in 80.0µs: card declined`, `pending`.
struct Outcome<'a, T>(&'a T);

impl<T: TreeNode> fmt::Display for Outcome<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{}", r.node_phase())?;
        if let Some(d) = r.node_duration() {
            write!(f, " in {}", Human(d))?;
        }
        if r.node_phase() == Phase::Failed {
            if let Some(error) = r.node_error() {
                write!(f, ": {error}")?;
            }
        }
        Ok(())
    }
}

/// A duration with three significant digits or so: `950ns`, `80.0µs`, `1.52ms`, `2.345s`.
pub(crate) struct Human(pub(crate) Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        let x = ns as f64;
        if ns < 1_000 {
            write!(f, "{ns}ns")
        } else if ns < 1_000_000 {
            write!(f, "{:.1}µs", x / 1e3)
        } else if ns < 1_000_000_000 {
            write!(f, "{:.2}ms", x / 1e6)
        } else {
            write!(f, "{:.3}s", x / 1e9)
        }
    }
}

impl<T: TreeNode> fmt::Display for Tree<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(std::slice::from_ref(self), None, 0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Human;
    use std::time::Duration;

    #[test]
    fn durations_read_easily() {
        assert_eq!(Human(Duration::from_nanos(950)).to_string(), "950ns");
        assert_eq!(Human(Duration::from_nanos(80_000)).to_string(), "80.0µs");
        assert_eq!(Human(Duration::from_micros(1_520)).to_string(), "1.52ms");
        assert_eq!(Human(Duration::from_millis(2_345)).to_string(), "2.345s");
    }
}

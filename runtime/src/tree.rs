//! [`Tree`]: a record and the records nested under it, rendered one line per operation.

use std::collections::HashMap;
use std::fmt;

use uuid::Uuid;

use crate::envelope::Record;
use crate::event::Phase;

/// A record and the records nested under it, from [`Bus::tree`](crate::Bus::tree).
///
/// Its `Display` prints one line per operation, indented by depth, with the phase and
/// duration of each closing event folded into its started line.
#[derive(Clone, Debug)]
pub struct Tree {
    record: Record,
    children: Vec<Tree>,
}

impl Tree {
    /// The record at this node.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The records whose parent is this one, oldest first.
    pub fn children(&self) -> &[Tree] {
        &self.children
    }

    /// Every record in the tree, depth first.
    pub fn records(&self) -> Vec<Record> {
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

    /// The tree of `root` from its records, oldest first (used by the event store).
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_records(root: Uuid, records: Vec<Record>) -> Option<Tree> {
        Tree::build(root, records)
    }

    pub(crate) fn build(root: Uuid, records: Vec<Record>) -> Option<Tree> {
        let mut by_parent: HashMap<Option<Uuid>, Vec<Record>> = HashMap::new();
        let present: std::collections::HashSet<Uuid> = records.iter().map(|r| r.id()).collect();
        let mut root_record = None;
        for r in records {
            if r.id() == root {
                root_record = Some(r);
                continue;
            }
            // A record whose parent was evicted hangs under the root.
            let parent = r.parent_id().filter(|p| present.contains(p)).or(Some(root));
            by_parent.entry(parent).or_default().push(r);
        }
        fn attach(record: Record, by_parent: &mut HashMap<Option<Uuid>, Vec<Record>>) -> Tree {
            let kids = by_parent.remove(&Some(record.id())).unwrap_or_default();
            Tree {
                children: kids.into_iter().map(|k| attach(k, by_parent)).collect(),
                record,
            }
        }
        let root_record = root_record?;
        Some(attach(root_record, &mut by_parent))
    }

    fn render(
        &self,
        siblings: &[Tree],
        parent: Option<Uuid>,
        depth: usize,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        let r = &self.record;
        if is_closing(r) {
            let folded = r.causation_id().is_some_and(|c| {
                Some(c) == parent
                    || siblings
                        .iter()
                        .any(|s| s.record.id() == c && s.record.phase() == Phase::Started)
            });
            if folded {
                return Ok(());
            }
        }
        let indent = "  ".repeat(depth);
        if r.phase() == Phase::Started {
            let closing = siblings
                .iter()
                .chain(&self.children)
                .find(|s| is_closing(&s.record) && s.record.causation_id() == Some(r.id()));
            let op = r.name().strip_suffix(".started").unwrap_or(r.name());
            match closing {
                Some(c) => {
                    write!(f, "{indent}{op} [{}", c.record.phase())?;
                    if let Some(d) = c.record.duration() {
                        write!(f, " in {d:?}")?;
                    }
                    if c.record.phase() == Phase::Failed {
                        if let Some(err) = c
                            .record
                            .payload_json()
                            .get("error")
                            .and_then(|e| e.as_str())
                        {
                            write!(f, ": {err}")?;
                        }
                    }
                    writeln!(f, "]")?;
                }
                None => writeln!(f, "{indent}{op} [started]")?,
            }
        } else {
            writeln!(f, "{indent}{} [{}]", r.name(), r.phase())?;
        }
        for c in &self.children {
            c.render(&self.children, Some(r.id()), depth + 1, f)?;
        }
        Ok(())
    }
}

fn is_closing(r: &Record) -> bool {
    matches!(
        r.phase(),
        Phase::Completed | Phase::Failed | Phase::Cancelled
    )
}

impl fmt::Display for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(std::slice::from_ref(self), None, 0, f)
    }
}

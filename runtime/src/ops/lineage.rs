//! Parent links of the live operations: effective priorities and cycle checks.
//!
//! Every live operation is registered with its own priority and its parent link (the
//! parent need not be known yet). A submission registers first, then follows the links
//! from its parent: reaching itself is a cycle, and the submission is undone. Two
//! submissions that would close a cycle together both see it (each registers before it
//! walks), so a cycle never stays registered; the walk takes one shard lock at a time.

use super::shard::Sharded;
use super::{OpId, Operation, SubmitError};
use crate::event::Priority;

/// Parent chains longer than this are refused as if they were cycles.
const MAX_DEPTH: usize = 4_096;

#[derive(Clone, Copy)]
struct Link {
    priority: Priority,
    parent: Option<OpId>,
}

#[derive(Default)]
pub(crate) struct Lineage {
    links: Sharded<OpId, Link>,
}

impl Lineage {
    /// Registers `op`; returns its effective priority: the highest of its own and its
    /// known ancestors'.
    pub(crate) fn register(&self, op: &Operation) -> Result<Priority, SubmitError> {
        let link = Link {
            priority: op.priority,
            parent: op.parent,
        };
        {
            let mut shard = self.links.lock(&op.id);
            if shard.contains_key(&op.id) {
                return Err(SubmitError::DuplicateId(op.id));
            }
            shard.insert(op.id, link);
        }
        if op.parent.is_none() {
            return Ok(op.priority);
        }
        let mut effective = op.priority;
        let mut next = op.parent;
        let mut depth = 0;
        while let Some(id) = next {
            depth += 1;
            if id == op.id || depth > MAX_DEPTH {
                let cycle = self.path(op.id);
                self.forget(op.id);
                return Err(SubmitError::ParentCycle { id: op.id, cycle });
            }
            match self.get(id) {
                Some(l) => {
                    effective = effective.max(l.priority);
                    next = l.parent;
                }
                None => break,
            }
        }
        Ok(effective)
    }

    /// Removes a finished operation.
    pub(crate) fn forget(&self, id: OpId) {
        self.links.lock(&id).remove(&id);
    }

    fn get(&self, id: OpId) -> Option<Link> {
        self.links.lock(&id).get(&id).copied()
    }

    /// `id`, its parent, its grandparent... up to `id` again (or the depth limit).
    fn path(&self, id: OpId) -> Vec<OpId> {
        let mut path = vec![id];
        let mut next = self.get(id).and_then(|l| l.parent);
        while let Some(p) = next {
            path.push(p);
            if p == id || path.len() > MAX_DEPTH {
                break;
            }
            next = self.get(p).and_then(|l| l.parent);
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn op(priority: i32, parent: Option<OpId>) -> Operation {
        let mut op = Operation::new("t", Uuid::nil()).with_priority(priority);
        op.parent = parent;
        op
    }

    #[test]
    fn children_inherit_the_highest_ancestor() {
        let l = Lineage::default();
        let root = op(10, None);
        let mid = op(3, Some(root.id));
        let leaf = op(2, Some(mid.id));
        assert_eq!(l.register(&root), Ok(Priority::from(10)));
        assert_eq!(l.register(&mid), Ok(Priority::from(10)));
        assert_eq!(l.register(&leaf), Ok(Priority::from(10)));
        let orphan = op(4, Some(OpId::generate()));
        assert_eq!(l.register(&orphan), Ok(Priority::from(4)));
        assert_eq!(l.register(&root), Err(SubmitError::DuplicateId(root.id)));
    }

    #[test]
    fn cycles_are_refused_and_undone() {
        let l = Lineage::default();
        let mut me = op(5, None);
        me.parent = Some(me.id);
        assert!(matches!(
            l.register(&me),
            Err(SubmitError::ParentCycle { .. })
        ));
        assert!(l.get(me.id).is_none());

        let a_id = OpId::generate();
        let b = op(5, Some(a_id));
        let mut a = op(5, Some(b.id));
        a.id = a_id;
        assert!(l.register(&b).is_ok());
        match l.register(&a) {
            Err(SubmitError::ParentCycle { id, cycle }) => {
                assert_eq!(id, a.id);
                assert_eq!(cycle, [a.id, b.id, a.id]);
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
        assert!(l.get(a.id).is_none());
    }
}

//! Glob patterns over dotted record names: `*` is one segment, `**` zero or more.

/// A compiled pattern such as `order.*` or `**.failed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Any,
}

impl Glob {
    /// Compiles any string; segments other than `*` and `**` match literally.
    pub(crate) fn new(pattern: &str) -> Glob {
        let segments = pattern
            .split('.')
            .map(|s| match s {
                "*" => Segment::One,
                "**" => Segment::Any,
                lit => Segment::Literal(lit.to_owned()),
            })
            .collect();
        Glob {
            source: pattern.to_owned(),
            segments,
        }
    }

    /// Whether the string contains glob syntax at all.
    pub(crate) fn is_glob(pattern: &str) -> bool {
        pattern.split('.').any(|s| s == "*" || s == "**")
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        let parts: Vec<&str> = name.split('.').collect();
        matches_from(&self.segments, &parts)
    }
}

fn matches_from(pattern: &[Segment], name: &[&str]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((Segment::Any, rest)) => {
            (0..=name.len()).any(|skip| matches_from(rest, &name[skip..]))
        }
        Some((Segment::One, rest)) => !name.is_empty() && matches_from(rest, &name[1..]),
        Some((Segment::Literal(lit), rest)) => {
            name.first().is_some_and(|n| n == lit) && matches_from(rest, &name[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_many_segments() {
        let g = Glob::new("order.*");
        assert!(g.matches("order.placed"));
        assert!(!g.matches("order"));
        assert!(!g.matches("order.placed.v2"));
        let g = Glob::new("order.**");
        assert!(g.matches("order"));
        assert!(g.matches("order.placed.v2"));
        let g = Glob::new("**.failed");
        assert!(g.matches("failed"));
        assert!(g.matches("a.b.failed"));
        assert!(!g.matches("a.b.completed"));
        let g = Glob::new("*.x.**.y");
        assert!(g.matches("a.x.y"));
        assert!(g.matches("a.x.b.c.y"));
        assert!(!g.matches("x.y"));
        assert!(Glob::new("a.b").matches("a.b"));
        assert!(!Glob::is_glob("a.b"));
        assert!(Glob::is_glob("a.**"));
    }
}

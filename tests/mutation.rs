//! Edits of text for property tests: a valid input (a record's JSON, a timestamp)
//! mutated the way damaged or hostile input looks. Edits work on characters, so the
//! result is always text; [`Edit::wide`] puts multi-byte characters where ASCII ones
//! were, at the same length in bytes, which is what trips a parser that slices by
//! byte index.
//!
//! Plain data, so that any property-test library can generate it: build edits from
//! generated numbers with [`Edit::from_numbers`].

/// Characters that matter to parsers of herald's formats (JSON, RFC 3339, stream ids),
/// multi-byte and combining ones among them.
pub const INTERESTING: &[char] = &[
    '0',
    '1',
    '2',
    '5',
    '9',
    '-',
    ':',
    '+',
    '.',
    'T',
    'Z',
    'z',
    ' ',
    '"',
    '\\',
    '{',
    '}',
    '[',
    ']',
    ',',
    'e',
    'E',
    'n',
    '\u{0}',
    '\u{7f}',
    '\u{e9}',
    '\u{20ac}',
    '\u{1f600}',
    '\u{301}',
    '\u{fffd}',
    '\u{feff}',
];

/// Multi-byte characters of 2, 3 and 4 bytes, and a combining one.
pub const WIDE: &[char] = &['\u{e9}', '\u{20ac}', '\u{1f600}', '\u{301}'];

/// What an [`Edit`] does at its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditKind {
    /// Replaces one character.
    Replace,
    /// Replaces as many characters as the new one takes bytes (the text keeps its
    /// length in bytes when they were ASCII).
    ReplaceBytes,
    /// Inserts a character.
    Insert,
    /// Deletes `n` characters.
    Delete,
    /// Repeats the next `n` characters.
    Duplicate,
    /// Cuts the text there.
    Truncate,
}

/// One edit of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edit {
    /// What it does.
    pub kind: EditKind,
    /// Where, as any number: taken modulo the text's length in characters plus one.
    pub at: usize,
    /// How many characters (delete, duplicate), 1 or more.
    pub n: usize,
    /// The character (replace, insert).
    pub c: char,
}

impl Edit {
    /// An edit from generated numbers: `kind` picks the kind, `n` the count (1 to 8),
    /// `pick` one of the [`INTERESTING`] characters, or `any` once in four.
    pub fn from_numbers(kind: u8, at: usize, n: u8, pick: u8, any: char) -> Edit {
        const KINDS: [EditKind; 6] = [
            EditKind::Replace,
            EditKind::ReplaceBytes,
            EditKind::Insert,
            EditKind::Delete,
            EditKind::Duplicate,
            EditKind::Truncate,
        ];
        let c = if pick % 4 == 3 {
            any
        } else {
            INTERESTING[usize::from(pick) % INTERESTING.len()]
        };
        Edit {
            kind: KINDS[usize::from(kind) % KINDS.len()],
            at,
            n: usize::from(n % 8) + 1,
            c,
        }
    }

    /// A [`WIDE`] character (picked by `pick`) in place of as many bytes at `at`.
    pub fn wide(at: usize, pick: u8) -> Edit {
        Edit {
            kind: EditKind::ReplaceBytes,
            at,
            n: 1,
            c: WIDE[usize::from(pick) % WIDE.len()],
        }
    }
}

/// `base` with `edits` applied in order.
pub fn mutate(base: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for edit in edits {
        let len = chars.len();
        let i = edit.at % (len + 1);
        let end = |n: usize| i.saturating_add(n).min(len);
        match edit.kind {
            EditKind::Replace if i < len => chars[i] = edit.c,
            EditKind::Replace | EditKind::Insert => chars.insert(i, edit.c),
            EditKind::ReplaceBytes => {
                let (mut bytes, mut j) = (0, i);
                while bytes < edit.c.len_utf8() && j < len {
                    bytes += chars[j].len_utf8();
                    j += 1;
                }
                chars.splice(i..j, [edit.c]);
            }
            EditKind::Delete => drop(chars.drain(i..end(edit.n))),
            EditKind::Duplicate => {
                let copy: Vec<char> = chars[i..end(edit.n)].to_vec();
                chars.splice(i..i, copy);
            }
            EditKind::Truncate => chars.truncate(i),
        }
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_do_what_they_say() {
        let e = |kind, at, n, c| Edit { kind, at, n, c };
        assert_eq!(mutate("abc", &[e(EditKind::Replace, 1, 1, 'x')]), "axc");
        assert_eq!(mutate("abc", &[e(EditKind::Replace, 3, 1, 'x')]), "abcx");
        assert_eq!(mutate("abc", &[e(EditKind::Insert, 4, 1, 'x')]), "xabc");
        assert_eq!(mutate("abcd", &[e(EditKind::Delete, 1, 2, 'x')]), "ad");
        assert_eq!(
            mutate("abcd", &[e(EditKind::Duplicate, 1, 2, 'x')]),
            "abcbcd"
        );
        assert_eq!(mutate("abcd", &[e(EditKind::Truncate, 2, 1, 'x')]), "ab");
        assert_eq!(mutate("+01:30", &[Edit::wide(1, 1)]), "+\u{20ac}30");
        assert_eq!("+\u{20ac}30".len(), "+01:30".len());
        assert_eq!(mutate("", &[Edit::wide(0, 0)]), "\u{e9}");
    }
}

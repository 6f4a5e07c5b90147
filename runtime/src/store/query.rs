//! A [`Filter`] as SQL: every condition but a glob name is exact in SQL; a glob becomes
//! an index range and a `GLOB` that match a superset, checked exactly afterwards.

use rusqlite::types::Value;
use rusqlite::Connection;
use uuid::Uuid;

use super::schema::{to_ns, COLUMNS};
use super::{StoreError, StoredRecord};
use crate::filter::Filter;
use crate::glob::Glob;

/// A `WHERE` clause and its parameters.
#[derive(Debug, Default)]
struct Conditions {
    sql: Vec<String>,
    params: Vec<Value>,
    /// Set when the SQL matches a superset and rows must be checked by this glob.
    glob: Option<Glob>,
}

impl Conditions {
    fn push(&mut self, sql: &str, value: impl Into<Value>) {
        self.params.push(value.into());
        self.sql
            .push(sql.replace('?', &format!("?{}", self.params.len())));
    }

    fn from_filter(filter: &Filter) -> Conditions {
        let mut c = Conditions::default();
        if let Some(name) = filter.wanted_name() {
            if Glob::is_glob(name) {
                c.push_glob(name);
            } else {
                c.push("name = ?", name.to_owned());
            }
        }
        if let Some(kind) = filter.wanted_kind() {
            c.push("kind = ?", kind.as_str().to_owned());
        }
        if let Some(phase) = filter.wanted_phase() {
            c.push("phase = ?", phase.as_str().to_owned());
        }
        if let Some(source) = filter.wanted_source() {
            c.push("source = ?", source.to_owned());
        }
        if let Some(target) = filter.wanted_target() {
            c.push("target = ?", target.to_owned());
        }
        if let Some(t) = filter.wanted_since() {
            c.push("timestamp_ns >= ?", to_ns(t));
        }
        if let Some(t) = filter.wanted_until() {
            c.push("timestamp_ns <= ?", to_ns(t));
        }
        if let Some(root) = filter.wanted_root() {
            c.push("root_id = ?", root.to_string());
        }
        if let Some(correlation) = filter.wanted_correlation() {
            c.push("correlation_id = ?", correlation.to_string());
        }
        c
    }

    /// `task.*.done`: every match starts with the literal segments before the first
    /// wildcard (`task`, then the end or a dot: an index range up to `task/`) and ends
    /// with those after the last one (`done`).
    fn push_glob(&mut self, pattern: &str) {
        let segments: Vec<&str> = pattern.split('.').collect();
        let wild = |s: &&str| *s == "*" || *s == "**";
        let first = segments.iter().position(wild).unwrap_or(segments.len());
        let last = segments.iter().rposition(wild).map_or(0, |i| i + 1);
        let prefix = segments[..first].join(".");
        let suffix = segments[last..].join(".");
        if !prefix.is_empty() {
            self.push("name >= ?", prefix.clone());
            self.push("name < ?", format!("{prefix}/"));
        }
        if !prefix.is_empty() || !suffix.is_empty() {
            let glob = format!("{}*{}", escape_glob(&prefix), escape_glob(&suffix));
            self.push("name GLOB ?", glob);
        }
        self.glob = Some(Glob::new(pattern));
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.sql.join(" AND "))
        }
    }
}

/// Escapes SQLite `GLOB` syntax (`*`, `?`, `[`) in a literal.
fn escape_glob(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for c in literal.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// The rows `filter` matches, oldest first; with a limit, the newest `n` of them.
pub(super) fn select(conn: &Connection, filter: &Filter) -> Result<Vec<StoredRecord>, StoreError> {
    let conditions = Conditions::from_filter(filter);
    let limit = filter.wanted_limit();
    let order = if limit.is_some() { "DESC" } else { "ASC" };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM records{} ORDER BY timestamp_ns {order}, rowid {order}",
        conditions.where_clause()
    );
    // Without a glob to check, SQL can stop at the limit itself.
    if let (Some(n), None) = (limit, &conditions.glob) {
        sql.push_str(&format!(" LIMIT {}", i64::try_from(n).unwrap_or(i64::MAX)));
    }
    let mut stmt = conn.prepare(&sql).map_err(StoreError::sql)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(conditions.params.iter()))
        .map_err(StoreError::sql)?;
    let mut out = Vec::new();
    while limit.is_none_or(|n| out.len() < n) {
        let Some(row) = rows.next().map_err(StoreError::sql)? else {
            break;
        };
        let record = StoredRecord::from_row(row).map_err(StoreError::sql)?;
        if conditions
            .glob
            .as_ref()
            .is_none_or(|g| g.matches(&record.name))
        {
            out.push(record);
        }
    }
    if limit.is_some() {
        out.reverse();
    }
    Ok(out)
}

/// The rows `filter` matches that were written after row `after` (in write order), with
/// their row numbers; at most `max`. The filter's time and limit conditions apply too.
#[cfg(feature = "cli")]
pub(super) fn written_after(
    conn: &Connection,
    filter: &Filter,
    after: i64,
    max: usize,
) -> Result<Vec<(i64, StoredRecord)>, StoreError> {
    let mut conditions = Conditions::from_filter(filter);
    conditions.push("rowid > ?", after);
    let sql = format!(
        "SELECT rowid, {COLUMNS} FROM records{} ORDER BY rowid ASC LIMIT {}",
        conditions.where_clause(),
        i64::try_from(max).unwrap_or(i64::MAX)
    );
    let mut stmt = conn.prepare(&sql).map_err(StoreError::sql)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(conditions.params.iter()))
        .map_err(StoreError::sql)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::sql)? {
        let rowid: i64 = row.get(0).map_err(StoreError::sql)?;
        let record = StoredRecord::from_row_at(row, 1).map_err(StoreError::sql)?;
        if conditions
            .glob
            .as_ref()
            .is_none_or(|g| g.matches(&record.name))
        {
            out.push((rowid, record));
        }
    }
    Ok(out)
}

/// The number of the last row written, 0 for an empty store.
#[cfg(feature = "cli")]
pub(super) fn last_row(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT coalesce(max(rowid), 0) FROM records", [], |r| {
        r.get(0)
    })
    .map_err(StoreError::sql)
}

pub(super) fn by_id(conn: &Connection, id: Uuid) -> Result<Option<StoredRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM records WHERE id = ?1");
    let mut stmt = conn.prepare(&sql).map_err(StoreError::sql)?;
    let mut rows = stmt.query([id.to_string()]).map_err(StoreError::sql)?;
    match rows.next().map_err(StoreError::sql)? {
        Some(row) => StoredRecord::from_row(row)
            .map(Some)
            .map_err(StoreError::sql),
        None => Ok(None),
    }
}

pub(super) fn count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .map_err(StoreError::sql)?;
    Ok(n.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(pattern: &str) -> Conditions {
        Conditions::from_filter(&Filter::new().name(pattern))
    }

    #[test]
    fn exact_names_are_one_equality() {
        let c = conditions("order.placed");
        assert_eq!(c.sql, ["name = ?1"]);
        assert!(c.glob.is_none());
    }

    #[test]
    fn globs_become_a_range_and_a_glob() {
        let c = conditions("task.**");
        assert_eq!(c.sql, ["name >= ?1", "name < ?2", "name GLOB ?3"]);
        assert_eq!(
            c.params,
            [
                Value::from("task".to_owned()),
                Value::from("task/".to_owned()),
                Value::from("task*".to_owned())
            ]
        );
        assert!(c.glob.is_some());

        let c = conditions("**.failed");
        assert_eq!(c.sql, ["name GLOB ?1"]);
        assert_eq!(c.params, [Value::from("*failed".to_owned())]);

        let c = conditions("a.*.b.**.c");
        assert_eq!(c.params[2], Value::from("a*c".to_owned()));

        let c = conditions("**");
        assert!(c.sql.is_empty());
        assert!(c.glob.is_some());
    }

    #[test]
    fn glob_syntax_in_literals_is_escaped() {
        assert_eq!(escape_glob("a[b]*?"), "a[[]b][*][?]");
    }
}

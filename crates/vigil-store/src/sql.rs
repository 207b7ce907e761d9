//! The few things that differ between the three SQL dialects, and reading typed values back.
//!
//! Every statement is written once with `?` placeholders; PostgreSQL gets them numbered. Values
//! are bound from `Arg`, so dynamic statements (lists with filters) and static ones share code.
//! Columns use only types the sqlx `Any` driver maps on all backends: BIGINT for integers,
//! booleans and times (µs since the epoch), text, and DOUBLE for progress.

use crate::{Backend, StoreError};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use std::borrow::Cow;
use vigil_domain::{Lifecycle, Timestamp};

/// A bind value. Owned, so a statement and its arguments can be built up before running.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    OptInt(Option<i64>),
    OptText(Option<String>),
    Float(f64),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl From<Timestamp> for Arg {
    fn from(v: Timestamp) -> Self {
        Arg::Int(v.as_micros())
    }
}
impl From<Option<Timestamp>> for Arg {
    fn from(v: Option<Timestamp>) -> Self {
        Arg::OptInt(v.map(Timestamp::as_micros))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Float(v)
    }
}

/// Builds `(?, ?, …)`-style argument lists: `args![a, b]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::sql::Arg::from($v)),*] };
}
pub(crate) use args;

/// Values to write, each beside its column, so a statement's column list and its binds cannot
/// drift apart.
pub(crate) struct Columns(Vec<(&'static str, Arg)>);

impl Columns {
    pub(crate) fn new() -> Self {
        Columns(Vec::new())
    }

    pub(crate) fn set(mut self, column: &'static str, value: impl Into<Arg>) -> Self {
        self.0.push((column, value.into()));
        self
    }

    /// `INSERT INTO table (…) VALUES (?, …)`.
    pub(crate) fn insert(&self, table: &str) -> String {
        let names: Vec<&str> = self.0.iter().map(|(c, _)| *c).collect();
        let marks = vec!["?"; names.len()];
        format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        )
    }

    /// `UPDATE table SET … = ?, … WHERE cond`; `cond`'s own values are bound after these.
    pub(crate) fn update(&self, table: &str, cond: &str) -> String {
        let sets: Vec<String> = self.0.iter().map(|(c, _)| format!("{c} = ?")).collect();
        format!("UPDATE {table} SET {} WHERE {cond}", sets.join(", "))
    }

    /// The values in column order, then `more` (the values of an update's condition).
    pub(crate) fn args(self, more: Vec<Arg>) -> Vec<Arg> {
        self.0.into_iter().map(|(_, v)| v).chain(more).collect()
    }
}

/// Numbers `?` placeholders for PostgreSQL. Statements here never contain `?` in literals.
pub(crate) fn dialect(backend: Backend, sql: &str) -> Cow<'_, str> {
    if backend != Backend::Postgres {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

pub(crate) fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    args: Vec<Arg>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::OptInt(v) => q.bind(v),
            Arg::OptText(v) => q.bind(v),
            Arg::Float(v) => q.bind(v),
        };
    }
    q
}

/// Typed column access that hides the dialects' differences (MySQL TEXT arrives as bytes).
pub(crate) struct Cols<'r> {
    row: &'r AnyRow,
    prefix: &'static str,
}

impl<'r> Cols<'r> {
    pub(crate) fn new(row: &'r AnyRow) -> Self {
        Self { row, prefix: "" }
    }
    pub(crate) fn prefixed(row: &'r AnyRow, prefix: &'static str) -> Self {
        Self { row, prefix }
    }

    fn name(&self, col: &str) -> Cow<'static, str> {
        if self.prefix.is_empty() {
            Cow::Owned(col.to_owned())
        } else {
            Cow::Owned(format!("{}{col}", self.prefix))
        }
    }

    pub(crate) fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.opt_int(col)?
            .ok_or_else(|| corrupt(col, "unexpected NULL"))
    }
    pub(crate) fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.row
            .try_get::<Option<i64>, _>(&*self.name(col))
            .map_err(|e| corrupt(col, e))
    }
    pub(crate) fn bool(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.int(col)? != 0)
    }
    pub(crate) fn ts(&self, col: &str) -> Result<Timestamp, StoreError> {
        self.int(col).map(Timestamp::from_micros)
    }
    pub(crate) fn opt_ts(&self, col: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.opt_int(col)?.map(Timestamp::from_micros))
    }
    pub(crate) fn float(&self, col: &str) -> Result<f64, StoreError> {
        self.row
            .try_get::<f64, _>(&*self.name(col))
            .map_err(|e| corrupt(col, e))
    }
    pub(crate) fn text(&self, col: &str) -> Result<String, StoreError> {
        self.opt_text(col)?
            .ok_or_else(|| corrupt(col, "unexpected NULL"))
    }
    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        let name = self.name(col);
        match self.row.try_get::<Option<String>, _>(&*name) {
            Ok(v) => Ok(v),
            Err(text_err) => match self.row.try_get::<Option<Vec<u8>>, _>(&*name) {
                Ok(Some(bytes)) => String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|e| corrupt(col, e)),
                Ok(None) => Ok(None),
                Err(_) => Err(corrupt(col, text_err)),
            },
        }
    }
    /// The lifecycle columns every resource ends with.
    pub(crate) fn lifecycle(&self) -> Result<Lifecycle, StoreError> {
        Ok(Lifecycle {
            created_at: self.ts("created_at")?,
            updated_at: self.opt_ts("updated_at")?,
            deleted_at: self.opt_ts("deleted_at")?,
            deleted: self.bool("deleted")?,
        })
    }
    /// A column holding `Display`/`FromStr` text: UUIDs and Masakari's enum spellings.
    pub(crate) fn parsed<T>(&self, col: &str) -> Result<T, StoreError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.text(col)?.parse().map_err(|e| corrupt(col, e))
    }
    pub(crate) fn opt_parsed<T>(&self, col: &str) -> Result<Option<T>, StoreError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.opt_text(col)?
            .map(|s| s.parse().map_err(|e| corrupt(col, e)))
            .transpose()
    }
}

fn corrupt(col: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: "column",
        detail: format!("{col}: {detail}"),
    }
}

/// Whether a database error is a unique-constraint violation (a concurrent insert won).
pub(crate) fn is_unique_violation(err: &StoreError) -> bool {
    matches!(err, StoreError::Database { source: sqlx::Error::Database(e), .. } if e.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_gets_numbered_placeholders() {
        assert_eq!(
            dialect(Backend::Postgres, "a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(dialect(Backend::Sqlite, "a = ?"), "a = ?");
        assert_eq!(dialect(Backend::MySql, "a = ?"), "a = ?");
    }

    #[test]
    fn columns_name_their_values() {
        let row = Columns::new().set("a", 1_i64).set("b", "x");
        assert_eq!(row.insert("t"), "INSERT INTO t (a, b) VALUES (?, ?)");
        assert_eq!(
            row.update("t", "id = ?"),
            "UPDATE t SET a = ?, b = ? WHERE id = ?"
        );
        assert_eq!(row.args(args![7]).len(), 3);
    }
}

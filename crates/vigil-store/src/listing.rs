//! Reading a resource's rows, one or a page of them: the sorting and keyset paging shared by
//! every list.
//!
//! Masakari accepts any column as a sort key and pages with the integer `id` of the last row seen.
//! We keep both conventions and make them exact: the sort always ends with `created_at` and `id`,
//! so the order is total, and the next page starts strictly after the marker row's sort values,
//! which the database reads with a subquery so no value round-trips through Rust.

use crate::sql::{args, Arg};
use crate::store::Queries;
use crate::{Page, SortDir, Store, StoreError};
use sqlx::any::AnyRow;

/// How a resource's rows are read and listed. Every column of `columns` is a sort key under its
/// own name.
pub(crate) struct Table<T> {
    /// The table and its alias (`hosts h`), and any joins.
    pub from: &'static str,
    /// The resource's columns, qualified with the alias (`h.id, h.uuid, …`).
    pub columns: &'static str,
    /// Selected besides `columns`: a joined table's columns the record is read with.
    pub also: &'static str,
    /// Those of its columns besides `updated_at` and `deleted_at` that may be NULL, by type.
    pub nullable_text: &'static [&'static str],
    pub nullable_int: &'static [&'static str],
    /// Sort keys that are other tables' columns: the API's name and the expression.
    pub joined: &'static [(&'static str, &'static str)],
    /// The record in a row of `columns` and `also`.
    pub read: fn(&AnyRow) -> Result<T, StoreError>,
}

/// The `WHERE` conditions of a list and the values they bind, in order.
pub(crate) struct Filter {
    conds: Vec<String>,
    args: Vec<Arg>,
}

impl Filter {
    /// Live rows of `alias`'s table.
    pub(crate) fn live(alias: &str) -> Self {
        Filter {
            conds: vec![format!("{alias}.deleted = 0")],
            args: Vec::new(),
        }
    }

    /// Adds `cond`, which binds `value`.
    pub(crate) fn with(mut self, cond: &str, value: impl Into<Arg>) -> Self {
        self.conds.push(cond.to_owned());
        self.args.push(value.into());
        self
    }

    /// Adds `cond` when the client asked for a `value`.
    pub(crate) fn when<V: Into<Arg>>(self, cond: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.with(cond, v),
            None => self,
        }
    }
}

impl<T> Table<T> {
    fn table(&self) -> &'static str {
        self.from.split_whitespace().next().unwrap_or_default()
    }

    fn alias(&self) -> &'static str {
        self.from.split_whitespace().nth(1).unwrap_or_default()
    }

    fn id(&self) -> String {
        format!("{}.id", self.alias())
    }

    /// `SELECT` the record's columns `FROM` its table and joins.
    fn select(&self) -> String {
        if self.also.is_empty() {
            format!("SELECT {} FROM {}", self.columns, self.from)
        } else {
            format!("SELECT {}, {} FROM {}", self.columns, self.also, self.from)
        }
    }

    /// The live record where `cond` holds, if any, `suffix` (a lock) appended.
    pub(crate) fn find(&self, cond: &str, suffix: &str) -> String {
        format!(
            "{} WHERE {cond} AND {}.deleted = 0{suffix}",
            self.select(),
            self.alias()
        )
    }

    /// The expression a sort key sorts on; NULLs sort first in ascending order on every
    /// backend (PostgreSQL would put them last).
    fn sortable(&self, key: &str) -> Result<String, StoreError> {
        let column = self
            .columns
            .split(',')
            .map(str::trim)
            .find(|c| c.split_once('.').is_some_and(|(_, name)| name == key));
        let expr = match column {
            Some(c) => c,
            None => self
                .joined
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, expr)| *expr)
                .ok_or_else(|| StoreError::InvalidSortKey(key.to_owned()))?,
        };
        Ok(
            if ["updated_at", "deleted_at"].contains(&key) || self.nullable_int.contains(&key) {
                format!("COALESCE({expr}, -1)")
            } else if self.nullable_text.contains(&key) {
                format!("COALESCE({expr}, '')")
            } else {
                expr.to_owned()
            },
        )
    }

    /// Sort expressions with tie-breakers appended in the first key's direction.
    fn order(&self, page: &Page) -> Result<Vec<(String, SortDir)>, StoreError> {
        let mut keys: Vec<(&str, SortDir)> = Vec::new();
        for (key, dir) in &page.sort {
            if !keys.iter().any(|(k, _)| k == key) {
                keys.push((key, *dir));
            }
        }
        let first = keys.first().map_or(SortDir::Desc, |(_, d)| *d);
        for tie in ["created_at", "id"] {
            if !keys.iter().any(|(k, _)| *k == tie) {
                keys.push((tie, first));
            }
        }
        keys.into_iter()
            .map(|(k, d)| Ok((self.sortable(k)?, d)))
            .collect()
    }

    /// The rows of `filter` on `page`, with the values to bind. The caller has checked that the
    /// marker row exists.
    fn statement(&self, filter: Filter, page: &Page) -> Result<(String, Vec<Arg>), StoreError> {
        let Filter {
            mut conds,
            mut args,
        } = filter;
        let order = self.order(page)?;
        if let Some(marker) = page.marker {
            let same_dir = order.iter().all(|(_, d)| *d == order[0].1);
            if same_dir {
                // Row-value comparison: one index range scan on (created_at, id) and the like.
                let exprs: Vec<&str> = order.iter().map(|(e, _)| e.as_str()).collect();
                let list = exprs.join(", ");
                conds.push(format!(
                    "({list}) {} (SELECT {list} FROM {} WHERE {} = ?)",
                    cmp(order[0].1),
                    self.from,
                    self.id()
                ));
                args.push(Arg::Int(marker));
            } else {
                let mut alternatives = Vec::new();
                for i in 0..order.len() {
                    let mut parts = Vec::new();
                    for (expr, _) in &order[..i] {
                        parts.push(format!("{expr} = {}", self.marker_value(expr)));
                        args.push(Arg::Int(marker));
                    }
                    let (expr, dir) = &order[i];
                    parts.push(format!("{expr} {} {}", cmp(*dir), self.marker_value(expr)));
                    args.push(Arg::Int(marker));
                    alternatives.push(format!("({})", parts.join(" AND ")));
                }
                conds.push(format!("({})", alternatives.join(" OR ")));
            }
        }
        let order_by: Vec<String> = order
            .iter()
            .map(|(e, d)| {
                format!(
                    "{e} {}",
                    match d {
                        SortDir::Asc => "ASC",
                        SortDir::Desc => "DESC",
                    }
                )
            })
            .collect();
        let sql = format!(
            "{} WHERE {} ORDER BY {} LIMIT {}",
            self.select(),
            conds.join(" AND "),
            order_by.join(", "),
            page.limit
        );
        Ok((sql, args))
    }

    fn marker_value(&self, expr: &str) -> String {
        format!("(SELECT {expr} FROM {} WHERE {} = ?)", self.from, self.id())
    }
}

impl Store {
    /// The live record of `table` where `cond` holds, if any.
    pub(crate) async fn find<T>(
        &self,
        table: &Table<T>,
        operation: &'static str,
        cond: &str,
        args: Vec<Arg>,
    ) -> Result<Option<T>, StoreError> {
        let row = self
            .fetch_optional(operation, &table.find(cond, ""), args)
            .await?;
        row.as_ref().map(table.read).transpose()
    }

    /// One page of the records `filter` keeps, in the page's order.
    pub(crate) async fn list<T>(
        &self,
        table: &Table<T>,
        operation: &'static str,
        filter: Filter,
        page: &Page,
    ) -> Result<Vec<T>, StoreError> {
        self.check_marker(table.table(), page).await?;
        let (sql, args) = table.statement(filter, page)?;
        let rows = self.fetch_all(operation, &sql, args).await?;
        rows.iter().map(table.read).collect()
    }

    /// A marker must name an existing row (Masakari answers 400 otherwise).
    async fn check_marker(&self, table: &'static str, page: &Page) -> Result<(), StoreError> {
        let Some(marker) = page.marker else {
            return Ok(());
        };
        let found = self
            .fetch_optional(
                "marker lookup",
                &format!("SELECT id FROM {table} WHERE id = ? AND deleted = 0"),
                args![marker],
            )
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(StoreError::MarkerNotFound(marker.to_string())),
        }
    }
}

fn cmp(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => ">",
        SortDir::Desc => "<",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table<()> = Table {
        from: "t t",
        columns: "t.id, t.name, t.created_at, t.updated_at",
        also: "",
        nullable_text: &[],
        nullable_int: &[],
        joined: &[],
        read: |_| Ok(()),
    };

    fn page(sort: &[(&str, SortDir)], marker: Option<i64>) -> Page {
        Page {
            limit: 10,
            marker,
            sort: sort.iter().map(|(k, d)| (k.to_string(), *d)).collect(),
        }
    }

    fn statement(sort: &[(&str, SortDir)], marker: Option<i64>) -> (String, Vec<Arg>) {
        let filter = Filter::live("t").when("t.name = ?", Some("a"));
        T.statement(filter, &page(sort, marker)).unwrap()
    }

    #[test]
    fn tie_breakers_follow_the_first_direction() {
        let (sql, args) = statement(&[("name", SortDir::Asc)], None);
        assert_eq!(
            sql,
            "SELECT t.id, t.name, t.created_at, t.updated_at FROM t t \
             WHERE t.deleted = 0 AND t.name = ? \
             ORDER BY t.name ASC, t.created_at ASC, t.id ASC LIMIT 10"
        );
        assert_eq!(args.len(), 1);
    }

    #[test]
    fn marker_with_one_direction_is_a_row_comparison() {
        let (sql, args) = statement(&[], Some(7));
        assert!(
            sql.contains(
                "AND (t.created_at, t.id) < (SELECT t.created_at, t.id FROM t t WHERE t.id = ?) \
                 ORDER BY"
            ),
            "{sql}"
        );
        assert_eq!(args.len(), 2);
    }

    #[test]
    fn marker_with_mixed_directions_expands() {
        let (sql, args) = statement(
            &[("updated_at", SortDir::Asc), ("id", SortDir::Desc)],
            Some(3),
        );
        assert_eq!(args.len(), 1 + 1 + 2 + 3);
        assert!(
            sql.contains("AND ((COALESCE(t.updated_at, -1) > (SELECT"),
            "{sql}"
        );
    }

    #[test]
    fn unknown_sort_keys_are_refused() {
        let err = T
            .statement(
                Filter::live("t"),
                &page(&[("uuid; DROP", SortDir::Asc)], None),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidSortKey(k) if k == "uuid; DROP"));
    }
}

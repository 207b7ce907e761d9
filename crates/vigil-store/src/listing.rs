//! Sorting and keyset paging, shared by every list.
//!
//! Masakari accepts any column as a sort key and pages with the integer `id` of the last row seen.
//! We keep both conventions and make them exact: the sort always ends with `created_at` and `id`,
//! so the order is total, and the next page starts strictly after the marker row's sort values,
//! which the database reads with a subquery so no value round-trips through Rust.

use crate::sql::Arg;
use crate::{Page, SortDir, StoreError};

/// A sortable column: the name the API uses and the SQL expression behind it.
pub(crate) struct Column {
    pub api: &'static str,
    pub expr: &'static str,
    pub kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Text,
    NullableInt,
    NullableText,
}

pub(crate) const fn col(api: &'static str, expr: &'static str, kind: Kind) -> Column {
    Column { api, expr, kind }
}

/// How one resource is listed.
pub(crate) struct Listing {
    /// `FROM` clause, with the aliases `expr`s use.
    pub from: &'static str,
    /// Expression of the integer primary key (the marker).
    pub id: &'static str,
    pub columns: &'static [Column],
}

impl Listing {
    fn column(&self, key: &str) -> Result<&Column, StoreError> {
        self.columns
            .iter()
            .find(|c| c.api == key)
            .ok_or_else(|| StoreError::InvalidSortKey(key.to_owned()))
    }

    /// Sort expressions with tie-breakers appended in the first key's direction.
    fn order(&self, page: &Page) -> Result<Vec<(String, SortDir)>, StoreError> {
        let mut keys: Vec<(&Column, SortDir)> = Vec::new();
        for (key, dir) in &page.sort {
            let c = self.column(key)?;
            if !keys.iter().any(|(k, _)| k.api == c.api) {
                keys.push((c, *dir));
            }
        }
        let first = keys.first().map_or(SortDir::Desc, |(_, d)| *d);
        for tie in ["created_at", "id"] {
            if !keys.iter().any(|(k, _)| k.api == tie) {
                keys.push((self.column(tie)?, first));
            }
        }
        Ok(keys.into_iter().map(|(c, d)| (sortable(c), d)).collect())
    }

    /// Appends `ORDER BY … LIMIT …` after adding the marker condition to `conds`. The caller
    /// has checked that the marker row exists.
    pub(crate) fn finish(
        &self,
        page: &Page,
        conds: &mut Vec<String>,
        args: &mut Vec<Arg>,
    ) -> Result<String, StoreError> {
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
                    self.id
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
        let where_ = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        Ok(format!(
            "{where_} ORDER BY {} LIMIT {}",
            order_by.join(", "),
            page.limit
        ))
    }

    fn marker_value(&self, expr: &str) -> String {
        format!("(SELECT {expr} FROM {} WHERE {} = ?)", self.from, self.id)
    }
}

/// NULLs sort first in ascending order on every backend (PostgreSQL would put them last).
fn sortable(c: &Column) -> String {
    match c.kind {
        Kind::Int | Kind::Text => c.expr.to_owned(),
        Kind::NullableInt => format!("COALESCE({}, -1)", c.expr),
        Kind::NullableText => format!("COALESCE({}, '')", c.expr),
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

    const T: Listing = Listing {
        from: "t",
        id: "t.id",
        columns: &[
            col("id", "t.id", Kind::Int),
            col("name", "t.name", Kind::Text),
            col("created_at", "t.created_at", Kind::Int),
            col("updated_at", "t.updated_at", Kind::NullableInt),
        ],
    };

    fn page(sort: &[(&str, SortDir)], marker: Option<i64>) -> Page {
        Page {
            limit: 10,
            marker,
            sort: sort.iter().map(|(k, d)| (k.to_string(), *d)).collect(),
        }
    }

    #[test]
    fn tie_breakers_follow_the_first_direction() {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        let sql = T
            .finish(
                &page(&[("name", SortDir::Asc)], None),
                &mut conds,
                &mut args,
            )
            .unwrap();
        assert_eq!(
            sql,
            " ORDER BY t.name ASC, t.created_at ASC, t.id ASC LIMIT 10"
        );
    }

    #[test]
    fn marker_with_one_direction_is_a_row_comparison() {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        T.finish(&page(&[], Some(7)), &mut conds, &mut args)
            .unwrap();
        assert_eq!(
            conds,
            ["(t.created_at, t.id) < (SELECT t.created_at, t.id FROM t WHERE t.id = ?)"]
        );
        assert_eq!(args.len(), 1);
    }

    #[test]
    fn marker_with_mixed_directions_expands() {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        let p = page(
            &[("updated_at", SortDir::Asc), ("id", SortDir::Desc)],
            Some(3),
        );
        T.finish(&p, &mut conds, &mut args).unwrap();
        assert_eq!(args.len(), 1 + 2 + 3);
        assert!(conds[0].starts_with("((COALESCE(t.updated_at, -1) > (SELECT"));
    }

    #[test]
    fn unknown_sort_keys_are_refused() {
        let err = T
            .finish(
                &page(&[("uuid; DROP", SortDir::Asc)], None),
                &mut vec![],
                &mut vec![],
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidSortKey(k) if k == "uuid; DROP"));
    }
}

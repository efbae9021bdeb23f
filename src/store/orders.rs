//! Order lines in `orders.db`: an order's lines are replaced as a whole, in the transaction of
//! the page that holds the order, and `orders.lines_hash` records which version of the order
//! (its row hash) they were read for — so lines are read again only for new or changed orders,
//! and a crash between two pages never leaves an order with the lines of another version.
//! SQL only: the detail pages are read by the sync, through the browser.

use super::StoreError;
use super::tables::sql_value;
use crate::records::order_lines::{LINE_COLUMNS, OrderLine};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Transaction, params};
use std::collections::HashMap;

/// order number → the row hash its stored lines were read for (orders without lines are absent).
pub fn lines_hashes(conn: &Connection, user: &str) -> Result<HashMap<String, String>, StoreError> {
    let what = || format!("reading which orders of {user} have their lines");
    let mut stmt = conn
        .prepare("SELECT order_number, lines_hash FROM orders WHERE user_id = ?1 AND lines_hash IS NOT NULL")
        .map_err(StoreError::sql_lazy(what))?;
    stmt.query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(StoreError::sql_lazy(what))?
        .collect::<Result<_, _>>()
        .map_err(StoreError::sql_lazy(what))
}

/// Replace the lines of `user`'s order `number` and mark them as read for `order_hash`.
pub fn replace_lines(
    tx: &Transaction<'_>,
    user: &str,
    number: &str,
    order_hash: &str,
    lines: &[OrderLine],
) -> Result<(), StoreError> {
    let what = || format!("writing the lines of order {number} of {user}");
    tx.prepare_cached("DELETE FROM order_lines WHERE user_id = ?1 AND order_number = ?2")
        .and_then(|mut s| s.execute(params![user, number]))
        .map_err(StoreError::sql_lazy(what))?;
    let cols: Vec<String> = LINE_COLUMNS
        .iter()
        .map(|c| format!("\"{}\"", c.field))
        .collect();
    let marks: Vec<String> = (0..cols.len()).map(|i| format!("?{}", i + 4)).collect();
    let sql = format!(
        "INSERT INTO order_lines (user_id, order_number, line_no, {}) VALUES (?1, ?2, ?3, {})",
        cols.join(", "),
        marks.join(", ")
    );
    let mut insert = tx
        .prepare_cached(&sql)
        .map_err(StoreError::sql_lazy(what))?;
    for (i, line) in lines.iter().enumerate() {
        let mut p: Vec<SqlValue> = vec![
            SqlValue::Text(user.to_string()),
            SqlValue::Text(number.to_string()),
            SqlValue::Integer(i as i64 + 1),
        ];
        p.extend(line.values.iter().map(sql_value));
        insert
            .execute(rusqlite::params_from_iter(p))
            .map_err(StoreError::sql_lazy(what))?;
    }
    let updated = tx
        .prepare_cached(
            "UPDATE orders SET lines_hash = ?3 WHERE user_id = ?1 AND order_number = ?2",
        )
        .and_then(|mut s| s.execute(params![user, number, order_hash]))
        .map_err(StoreError::sql_lazy(what))?;
    if updated != 1 {
        return Err(StoreError::Inconsistent(format!(
            "lines for order {number} of {user}, which is not in orders"
        )));
    }
    Ok(())
}

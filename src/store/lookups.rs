//! Point reads of the data files outside the syncs: is a customer in an agent's portfolio,
//! what are a product's status and quantity rules, does `orders.db` hold an order. Live rows
//! only (a record marked deleted is not there). Read-only: callers open the connection.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

/// What the catalogue says about ordering a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRules {
    pub status: Option<String>,
    pub min_qty: Option<i64>,
    pub qty_multiple: Option<i64>,
}

/// Whether `code` is a live customer of the file (an agent's `customers-{agent}.db`).
pub fn customer_exists(conn: &Connection, code: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM customers WHERE code = ?1 AND deleted_at IS NULL",
        params![code],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(StoreError::sql("looking a customer up"))
}

/// A live product's ordering rules (`products.db`), if the catalogue has it.
pub fn product(conn: &Connection, code: &str) -> Result<Option<ProductRules>, StoreError> {
    conn.query_row(
        "SELECT status, min_qty, qty_multiple FROM products WHERE code = ?1 AND deleted_at IS NULL",
        params![code],
        |r| {
            Ok(ProductRules {
                status: r.get(0)?,
                min_qty: r.get(1)?,
                qty_multiple: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(StoreError::sql("looking a product up"))
}

/// Whether `orders.db` holds `agent`'s live order `number`.
pub fn has_order(conn: &Connection, agent: &str, number: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM orders WHERE user_id = ?1 AND order_number = ?2 AND deleted_at IS NULL",
        params![agent, number],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(StoreError::sql("looking an order up"))
}

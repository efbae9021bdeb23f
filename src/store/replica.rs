//! Pages of the replicas for readers (the PWA backend through `DataService`): an agent's
//! customers, the catalogue with the prices in force on a day, an agent's orders with their
//! lines, DDTs and invoices, unmatched prices.
//!
//! Keyset pagination: each query takes the key of the last row of the previous page and
//! returns rows after it in key order, one more than asked to say whether a page follows. A
//! page is read inside one read transaction, so it is one snapshot even when it joins tables.
//! Read-only: callers open the connection (read-only, off the async threads); no writes here.

use super::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};

/// A page of rows and whether rows follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub more: bool,
}

/// Filters of a customer page (empty string: no filter).
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    pub code_prefix: String,
    pub name_contains: String,
    pub city: String,
    pub include_deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerRow {
    pub code: String,
    pub name: String,
    pub vat_number: String,
    pub fiscal_code: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub province: String,
    pub phone: String,
    pub email: String,
    pub pec: String,
    pub sdi_code: String,
    pub payment_terms: String,
    pub last_order_date: String,
    pub updated_at: String,
    pub deleted_at: String,
}

/// Filters of a product page (empty string: no filter).
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    pub code_prefix: String,
    pub name_contains: String,
    pub group: String,
    pub include_deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductRow {
    pub code: String,
    pub name: String,
    pub group: String,
    pub package_content: i64,
    pub min_qty: i64,
    pub qty_multiple: i64,
    pub vat_rate: i64,
    pub ean: String,
    pub status: String,
    pub prices: Vec<PriceRow>,
    pub updated_at: String,
    pub deleted_at: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceRow {
    /// The row's key in `prices` (the page key of unmatched prices).
    pub record_key: String,
    pub price_list: String,
    pub unit_price: String,
    pub currency: String,
    pub valid_from: String,
    pub valid_to: String,
    pub product_code: String,
    pub product_name: String,
    pub match_method: String,
}

/// Filters of an order page (empty string: no filter).
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub status: String,
    pub date_from: String,
    pub date_to: String,
    pub include_deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderRow {
    pub agent: String,
    pub order_number: String,
    pub order_date: String,
    pub customer_code: String,
    pub customer_name: String,
    pub status: String,
    pub delivery_date: String,
    pub net_amount: String,
    pub total_amount: String,
    pub customer_reference: String,
    pub lines: Vec<OrderLineRow>,
    pub ddts: Vec<DdtRow>,
    pub invoices: Vec<InvoiceRow>,
    pub updated_at: String,
    pub deleted_at: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderLineRow {
    pub line_no: i64,
    pub product_code: String,
    pub description: String,
    pub quantity: i64,
    pub unit_price: String,
    pub discount_pct: String,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DdtRow {
    pub ddt_number: String,
    pub ddt_date: String,
    pub carrier: String,
    pub tracking_number: String,
    pub packages: i64,
    pub weight_kg: String,
    pub delivery_address: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvoiceRow {
    pub invoice_number: String,
    pub invoice_date: String,
    pub net_amount: String,
    pub vat_amount: String,
    pub total_amount: String,
    pub due_date: String,
    pub paid: bool,
}

/// A column as text: NULL is empty, numbers are written out.
fn text(row: &Row<'_>, i: usize) -> rusqlite::Result<String> {
    Ok(match row.get_ref(i)? {
        ValueRef::Null => String::new(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    })
}

/// A column as an integer: NULL (or a text that is not one) is 0.
fn int(row: &Row<'_>, i: usize) -> rusqlite::Result<i64> {
    Ok(match row.get_ref(i)? {
        ValueRef::Integer(n) => n,
        ValueRef::Real(x) => x as i64,
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
        ValueRef::Null | ValueRef::Blob(_) => 0,
    })
}

/// Run `read` inside one read transaction (one snapshot of the file).
fn snapshot<T>(
    conn: &Connection,
    what: &str,
    read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let tx = conn
        .unchecked_transaction()
        .map_err(StoreError::sql(format!("opening a snapshot for {what}")))?;
    let out = read(&tx).map_err(StoreError::sql(format!("reading {what}")))?;
    tx.finish()
        .map_err(StoreError::sql(format!("closing the snapshot of {what}")))?;
    Ok(out)
}

/// Keep `size` rows, say whether one more was there.
fn page<T>(mut rows: Vec<T>, size: usize) -> Page<T> {
    let more = rows.len() > size;
    rows.truncate(size);
    Page { rows, more }
}

/// Customers after `after` (by code) in a `customers-{agent}.db`.
pub fn customers(
    conn: &Connection,
    query: &CustomerQuery,
    after: &str,
    size: usize,
) -> Result<Page<CustomerRow>, StoreError> {
    snapshot(conn, "customers", |c| {
        let mut stmt = c.prepare_cached(
            "SELECT code, name, vat_number, fiscal_code, street, postal_code, city, province,
                    phone, email, pec, sdi_code, payment_terms, last_order_date, updated_at,
                    deleted_at
             FROM customers
             WHERE code > ?1 AND (?2 OR deleted_at IS NULL)
               AND (?3 = '' OR substr(code, 1, length(?3)) = ?3)
               AND (?4 = '' OR instr(lower(name), lower(?4)) > 0)
               AND (?5 = '' OR lower(city) = lower(?5))
             ORDER BY code LIMIT ?6",
        )?;
        let rows = stmt
            .query_map(
                params![
                    after,
                    query.include_deleted,
                    query.code_prefix,
                    query.name_contains,
                    query.city,
                    size as i64 + 1
                ],
                |r| {
                    Ok(CustomerRow {
                        code: text(r, 0)?,
                        name: text(r, 1)?,
                        vat_number: text(r, 2)?,
                        fiscal_code: text(r, 3)?,
                        street: text(r, 4)?,
                        postal_code: text(r, 5)?,
                        city: text(r, 6)?,
                        province: text(r, 7)?,
                        phone: text(r, 8)?,
                        email: text(r, 9)?,
                        pec: text(r, 10)?,
                        sdi_code: text(r, 11)?,
                        payment_terms: text(r, 12)?,
                        last_order_date: text(r, 13)?,
                        updated_at: text(r, 14)?,
                        deleted_at: text(r, 15)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(rows, size))
    })
}

fn price_row(r: &Row<'_>) -> rusqlite::Result<PriceRow> {
    Ok(PriceRow {
        record_key: text(r, 0)?,
        price_list: text(r, 1)?,
        unit_price: text(r, 2)?,
        currency: text(r, 3)?,
        valid_from: text(r, 4)?,
        valid_to: text(r, 5)?,
        product_code: text(r, 6)?,
        product_name: text(r, 7)?,
        match_method: text(r, 8)?,
    })
}

const PRICE_COLUMNS: &str = "record_key, price_list, unit_price, currency, valid_from, valid_to, \
                             product_code, product_name, match_method";

/// Products after `after` (by code) in `products.db`, each with its live prices in force on
/// `today` (`YYYY-MM-DD`): per price list, the one that started last.
pub fn products(
    conn: &Connection,
    query: &ProductQuery,
    today: &str,
    after: &str,
    size: usize,
) -> Result<Page<ProductRow>, StoreError> {
    snapshot(conn, "products", |c| {
        let mut stmt = c.prepare_cached(
            "SELECT code, name, \"group\", package_content, min_qty, qty_multiple, vat_rate, ean,
                    status, updated_at, deleted_at
             FROM products
             WHERE code > ?1 AND (?2 OR deleted_at IS NULL)
               AND (?3 = '' OR substr(code, 1, length(?3)) = ?3)
               AND (?4 = '' OR instr(lower(name), lower(?4)) > 0)
               AND (?5 = '' OR \"group\" = ?5)
             ORDER BY code LIMIT ?6",
        )?;
        let mut rows = stmt
            .query_map(
                params![
                    after,
                    query.include_deleted,
                    query.code_prefix,
                    query.name_contains,
                    query.group,
                    size as i64 + 1
                ],
                |r| {
                    Ok(ProductRow {
                        code: text(r, 0)?,
                        name: text(r, 1)?,
                        group: text(r, 2)?,
                        package_content: int(r, 3)?,
                        min_qty: int(r, 4)?,
                        qty_multiple: int(r, 5)?,
                        vat_rate: int(r, 6)?,
                        ean: text(r, 7)?,
                        status: text(r, 8)?,
                        prices: Vec::new(),
                        updated_at: text(r, 9)?,
                        deleted_at: text(r, 10)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let mut prices = c.prepare_cached(&format!(
            "SELECT {PRICE_COLUMNS} FROM prices
             WHERE matched_code = ?1 AND deleted_at IS NULL
               AND (valid_from IS NULL OR valid_from = '' OR valid_from <= ?2)
               AND (valid_to IS NULL OR valid_to = '' OR valid_to >= ?2)
             ORDER BY price_list, valid_from DESC, record_key"
        ))?;
        for product in rows.iter_mut().take(size) {
            let mut in_force: Vec<PriceRow> = Vec::new();
            for price in prices.query_map(params![product.code, today], price_row)? {
                let price = price?;
                // Ordered by list then newest start: the first of each list is in force.
                if in_force.last().map(|p| &p.price_list) != Some(&price.price_list) {
                    in_force.push(price);
                }
            }
            product.prices = in_force;
        }
        Ok(page(rows, size))
    })
}

/// Live prices that match no product, after `after` (by record key).
pub fn unmatched_prices(
    conn: &Connection,
    after: &str,
    size: usize,
) -> Result<Page<PriceRow>, StoreError> {
    snapshot(conn, "unmatched prices", |c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {PRICE_COLUMNS} FROM prices
             WHERE record_key > ?1 AND deleted_at IS NULL AND matched_code IS NULL
             ORDER BY record_key LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![after, size as i64 + 1], price_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(rows, size))
    })
}

const ORDER_COLUMNS: &str = "user_id, order_number, order_date, customer_code, customer_name, \
                             status, delivery_date, net_amount, total_amount, \
                             customer_reference, updated_at, deleted_at";

fn order_row(r: &Row<'_>) -> rusqlite::Result<OrderRow> {
    Ok(OrderRow {
        agent: text(r, 0)?,
        order_number: text(r, 1)?,
        order_date: text(r, 2)?,
        customer_code: text(r, 3)?,
        customer_name: text(r, 4)?,
        status: text(r, 5)?,
        delivery_date: text(r, 6)?,
        net_amount: text(r, 7)?,
        total_amount: text(r, 8)?,
        customer_reference: text(r, 9)?,
        lines: Vec::new(),
        ddts: Vec::new(),
        invoices: Vec::new(),
        updated_at: text(r, 10)?,
        deleted_at: text(r, 11)?,
    })
}

/// Fill an order's lines, and its live DDTs and invoices.
fn order_details(c: &Connection, order: &mut OrderRow) -> rusqlite::Result<()> {
    let key = params![order.agent, order.order_number];
    order.lines = c
        .prepare_cached(
            "SELECT line_no, product_code, description, quantity, unit_price, discount_pct, amount
             FROM order_lines WHERE user_id = ?1 AND order_number = ?2 ORDER BY line_no",
        )?
        .query_map(key, |r| {
            Ok(OrderLineRow {
                line_no: int(r, 0)?,
                product_code: text(r, 1)?,
                description: text(r, 2)?,
                quantity: int(r, 3)?,
                unit_price: text(r, 4)?,
                discount_pct: text(r, 5)?,
                amount: text(r, 6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    order.ddts = c
        .prepare_cached(
            "SELECT ddt_number, ddt_date, carrier, tracking_number, packages, weight_kg,
                    delivery_address
             FROM ddts WHERE user_id = ?1 AND order_number = ?2 AND deleted_at IS NULL
             ORDER BY ddt_number",
        )?
        .query_map(key, |r| {
            Ok(DdtRow {
                ddt_number: text(r, 0)?,
                ddt_date: text(r, 1)?,
                carrier: text(r, 2)?,
                tracking_number: text(r, 3)?,
                packages: int(r, 4)?,
                weight_kg: text(r, 5)?,
                delivery_address: text(r, 6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    order.invoices = c
        .prepare_cached(
            "SELECT invoice_number, invoice_date, net_amount, vat_amount, total_amount, due_date,
                    paid
             FROM invoices WHERE user_id = ?1 AND order_number = ?2 AND deleted_at IS NULL
             ORDER BY invoice_number",
        )?
        .query_map(key, |r| {
            Ok(InvoiceRow {
                invoice_number: text(r, 0)?,
                invoice_date: text(r, 1)?,
                net_amount: text(r, 2)?,
                vat_amount: text(r, 3)?,
                total_amount: text(r, 4)?,
                due_date: text(r, 5)?,
                paid: int(r, 6)? != 0,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(())
}

/// `agent`'s orders after `after` (by order number) in `orders.db`, with their details.
pub fn orders(
    conn: &Connection,
    agent: &str,
    query: &OrderQuery,
    after: &str,
    size: usize,
) -> Result<Page<OrderRow>, StoreError> {
    snapshot(conn, "orders", |c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE user_id = ?1 AND order_number > ?2 AND (?3 OR deleted_at IS NULL)
               AND (?4 = '' OR status = ?4)
               AND (?5 = '' OR order_date >= ?5)
               AND (?6 = '' OR order_date <= ?6)
             ORDER BY order_number LIMIT ?7"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    agent,
                    after,
                    query.include_deleted,
                    query.status,
                    query.date_from,
                    query.date_to,
                    size as i64 + 1
                ],
                order_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let mut page = page(rows, size);
        for order in &mut page.rows {
            order_details(c, order)?;
        }
        Ok(page)
    })
}

/// One of `agent`'s orders (deleted ones too, marked), with its details.
pub fn order(conn: &Connection, agent: &str, number: &str) -> Result<Option<OrderRow>, StoreError> {
    snapshot(conn, "an order", |c| {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = ?1 AND order_number = ?2"
        ))?;
        let mut rows = stmt.query_map(params![agent, number], order_row)?;
        match rows.next() {
            Some(order) => {
                let mut order = order?;
                order_details(c, &mut order)?;
                Ok(Some(order))
            }
            None => Ok(None),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customers_db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for m in crate::store::schema::CUSTOMERS_DB {
            conn.execute_batch(m).unwrap();
        }
        for (code, name, city, deleted) in [
            ("C001", "Rossi Mario", "Roma", false),
            ("C002", "Bianchi SRL", "Milano", false),
            ("C003", "Rossini & Figli", "roma", true),
            ("C010", "Verdi", "Napoli", false),
        ] {
            conn.execute(
                "INSERT INTO customers (code, name, city, hash, first_seen_at, updated_at, deleted_at)
                 VALUES (?1, ?2, ?3, 'h', 't', 't', ?4)",
                params![code, name, city, deleted.then_some("t")],
            )
            .unwrap();
        }
        conn
    }

    fn codes(page: &Page<CustomerRow>) -> Vec<&str> {
        page.rows.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn pages_follow_the_key_and_filters_combine() {
        let conn = customers_db();
        let all = CustomerQuery::default();
        let first = customers(&conn, &all, "", 2).unwrap();
        assert_eq!(codes(&first), ["C001", "C002"]);
        assert!(first.more);
        let second = customers(&conn, &all, "C002", 2).unwrap();
        assert_eq!(codes(&second), ["C010"]);
        assert!(!second.more);

        let romans = CustomerQuery {
            city: "ROMA".into(),
            include_deleted: true,
            ..Default::default()
        };
        assert_eq!(
            codes(&customers(&conn, &romans, "", 10).unwrap()),
            ["C001", "C003"]
        );
        let rossi = CustomerQuery {
            name_contains: "rossi".into(),
            code_prefix: "C00".into(),
            ..Default::default()
        };
        // The deleted Rossini is left out unless asked for.
        assert_eq!(codes(&customers(&conn, &rossi, "", 10).unwrap()), ["C001"]);
        // A prefix with LIKE wildcards is taken literally.
        let wild = CustomerQuery {
            code_prefix: "C_".into(),
            ..Default::default()
        };
        assert!(customers(&conn, &wild, "", 10).unwrap().rows.is_empty());
    }

    #[test]
    fn products_carry_the_price_in_force_per_list() {
        let conn = Connection::open_in_memory().unwrap();
        for m in crate::store::schema::PRODUCTS_DB {
            conn.execute_batch(m).unwrap();
        }
        conn.execute(
            "INSERT INTO products (code, name, hash, first_seen_at, updated_at)
             VALUES ('P1', 'Vite', 'h', 't', 't')",
            [],
        )
        .unwrap();
        for (key, list, price, from, to, matched) in [
            ("k1", "BASE", "1.00", "2025-01-01", None, Some("P1")),
            ("k2", "BASE", "1.20", "2026-06-01", None, Some("P1")),
            ("k3", "BASE", "1.50", "2027-01-01", None, Some("P1")),
            (
                "k4",
                "PROMO",
                "0.90",
                "2026-01-01",
                Some("2026-03-01"),
                Some("P1"),
            ),
            ("k5", "BASE", "9.99", "2025-01-01", None, None),
        ] {
            conn.execute(
                "INSERT INTO prices (record_key, price_list, unit_price, valid_from, valid_to,
                                     matched_code, hash, first_seen_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'h', 't', 't')",
                params![key, list, price, from, to, matched],
            )
            .unwrap();
        }
        let page = products(&conn, &ProductQuery::default(), "2026-12-02", "", 10).unwrap();
        assert_eq!(page.rows.len(), 1);
        let prices: Vec<&str> = page.rows[0]
            .prices
            .iter()
            .map(|p| p.unit_price.as_str())
            .collect();
        assert_eq!(
            prices,
            ["1.20"],
            "the newest started BASE price; PROMO expired"
        );
        let unmatched = unmatched_prices(&conn, "", 10).unwrap();
        assert_eq!(unmatched.rows.len(), 1);
        assert_eq!(unmatched.rows[0].record_key, "k5");
    }
}

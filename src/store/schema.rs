//! The schema of every SQLite file, as ordered migrations (index = `PRAGMA user_version`
//! before it runs). The DbWriter of a file applies them when it opens the file.
//!
//! Record tables share one shape: the canonical fields of ERP.md (decimals and dates stored as
//! their canonical text, so the stored value is exactly what was hashed), `hash` (MD5 of the
//! canonical fields), `first_seen_at`, `updated_at` (last time the hash changed) and
//! `deleted_at` (set when a complete export no longer holds the record; cleared if it comes
//! back). "Last seen" is not stored per row: every live row was, by construction, in the
//! file's last complete export (`sync_state.last_complete_at`); storing it per row would make
//! every unchanged sync rewrite every row. `{table}_live` views hide deleted rows.
//!
//! `sync_state` (one per data file) holds, per kind and scope, the checkpoint of the run in
//! progress (written in the same transaction as each page) and the last complete export.
//! Must not hold queries: those live in `tables` and `ledger`.

/// Appends `sync_state` (checkpoint of the run in progress and the last complete export, per
/// kind and scope) to a data file's first migration: every data file has one.
macro_rules! concat_sql {
    ($sql:expr) => {
        concat!(
            $sql,
            "
CREATE TABLE sync_state (
    kind              TEXT NOT NULL,
    scope             TEXT NOT NULL,          -- agent id, or '' for the catalogue
    run_id            INTEGER,                -- run in progress (NULL when none)
    export_md5        TEXT,                   -- the export that run reads
    pages             INTEGER,
    last_page         INTEGER,                -- index of the last page applied (0-based)
    inserted          INTEGER NOT NULL DEFAULT 0,   -- counts so far in the run in progress
    updated           INTEGER NOT NULL DEFAULT 0,
    unchanged         INTEGER NOT NULL DEFAULT 0,
    last_export_md5   TEXT,                   -- last export applied completely
    last_complete_at  TEXT,
    last_records      INTEGER,
    PRIMARY KEY (kind, scope)
);"
        )
    };
}

/// Appended to every data file's migrations: the deletions a complete export held for an
/// operator (DESIGN.md, "When the export looks wrong"), per kind and scope, and in
/// `sync_state` the run that held them, when and why.
const HELD_DELETIONS: &str = "
CREATE TABLE held_deletions (
    kind        TEXT NOT NULL,
    scope       TEXT NOT NULL,          -- agent id, or '' for the catalogue
    record_key  TEXT NOT NULL,
    PRIMARY KEY (kind, scope, record_key)
);
ALTER TABLE sync_state ADD COLUMN held_run_id INTEGER;
ALTER TABLE sync_state ADD COLUMN held_at TEXT;
ALTER TABLE sync_state ADD COLUMN held_reason TEXT;
";

/// `customers-{user}.db`.
pub const CUSTOMERS_DB: &[&str] = &[
    concat_sql!(
        "
CREATE TABLE customers (
    code            TEXT PRIMARY KEY,
    name            TEXT,
    vat_number      TEXT,
    fiscal_code     TEXT,
    street          TEXT,
    postal_code     TEXT,
    city            TEXT,
    province        TEXT,
    phone           TEXT,
    email           TEXT,
    pec             TEXT,
    sdi_code        TEXT,
    payment_terms   TEXT,
    last_order_date TEXT,
    hash            TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT
);
CREATE VIEW customers_live AS SELECT * FROM customers WHERE deleted_at IS NULL;
"
    ),
    HELD_DELETIONS,
];

/// `products.db`: products and prices, one writer for both.
pub const PRODUCTS_DB: &[&str] = &[
    concat_sql!(
        "
CREATE TABLE products (
    code            TEXT PRIMARY KEY,
    name            TEXT,
    \"group\"         TEXT,
    package_content INTEGER,
    min_qty         INTEGER,
    qty_multiple    INTEGER,
    vat_rate        INTEGER,
    ean             TEXT,
    status          TEXT,
    image_md5       TEXT,                   -- content address of the downloaded image
    image_fetched_at TEXT,
    hash            TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT
);
CREATE VIEW products_live AS SELECT * FROM products WHERE deleted_at IS NULL;
CREATE TABLE prices (
    record_key      TEXT PRIMARY KEY,       -- product_code, price_list, valid_from joined by U+001F
    product_code    TEXT,                   -- as written in the price list
    product_name    TEXT,
    price_list      TEXT,
    unit_price      TEXT,
    currency        TEXT,
    valid_from      TEXT,
    valid_to        TEXT,
    matched_code    TEXT,                   -- the catalogue product it belongs to, NULL if none
    match_method    TEXT,                   -- code | name | normalized_name
    hash            TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT
);
CREATE INDEX prices_matched ON prices(matched_code);
CREATE VIEW prices_live AS SELECT * FROM prices WHERE deleted_at IS NULL;
CREATE VIEW unmatched_prices AS SELECT * FROM prices WHERE deleted_at IS NULL AND matched_code IS NULL;
CREATE TABLE price_changes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    record_key      TEXT NOT NULL,
    product_code    TEXT,
    matched_code    TEXT,
    price_list      TEXT,
    old_price       TEXT,
    new_price       TEXT,
    changed_at      TEXT NOT NULL
);
CREATE INDEX price_changes_by_key ON price_changes(record_key, id);
-- Every price change is audited where it happens, whoever writes the row.
CREATE TRIGGER prices_audit AFTER UPDATE OF unit_price ON prices
WHEN OLD.unit_price IS NOT NEW.unit_price
BEGIN
    INSERT INTO price_changes (record_key, product_code, matched_code, price_list, old_price, new_price, changed_at)
    VALUES (NEW.record_key, NEW.product_code, NEW.matched_code, NEW.price_list, OLD.unit_price, NEW.unit_price, NEW.updated_at);
END;
"
    ),
    HELD_DELETIONS,
];

/// `orders.db`: every agent's orders, lines, DDTs and invoices, each row tagged with its agent.
pub const ORDERS_DB: &[&str] = &[
    concat_sql!(
    "
CREATE TABLE orders (
    user_id             TEXT NOT NULL,
    order_number        TEXT NOT NULL,
    order_date          TEXT,
    customer_code       TEXT,
    customer_name       TEXT,
    status              TEXT,
    delivery_date       TEXT,
    net_amount          TEXT,
    total_amount        TEXT,
    customer_reference  TEXT,
    lines_hash          TEXT,               -- hash of the order the lines were read for
    hash                TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    PRIMARY KEY (user_id, order_number)
);
CREATE VIEW orders_live AS SELECT * FROM orders WHERE deleted_at IS NULL;
CREATE TABLE order_lines (
    user_id         TEXT NOT NULL,
    order_number    TEXT NOT NULL,
    line_no         INTEGER NOT NULL,
    product_code    TEXT,
    description     TEXT,
    quantity        INTEGER,
    unit_price      TEXT,
    discount_pct    TEXT,
    amount          TEXT,
    PRIMARY KEY (user_id, order_number, line_no)
);
CREATE TABLE ddts (
    user_id         TEXT NOT NULL,
    ddt_number      TEXT NOT NULL,
    ddt_date        TEXT,
    order_number    TEXT,
    customer_code   TEXT,
    carrier         TEXT,
    tracking_number TEXT,
    packages        INTEGER,
    weight_kg       TEXT,
    delivery_address TEXT,
    hash            TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    PRIMARY KEY (user_id, ddt_number)
);
CREATE VIEW ddts_live AS SELECT * FROM ddts WHERE deleted_at IS NULL;
CREATE TABLE invoices (
    user_id         TEXT NOT NULL,
    invoice_number  TEXT NOT NULL,
    invoice_date    TEXT,
    order_number    TEXT,
    customer_code   TEXT,
    net_amount      TEXT,
    vat_amount      TEXT,
    total_amount    TEXT,
    due_date        TEXT,
    paid            INTEGER,
    hash            TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    PRIMARY KEY (user_id, invoice_number)
);
CREATE VIEW invoices_live AS SELECT * FROM invoices WHERE deleted_at IS NULL;
-- A DDT or invoice whose order is not (yet) in orders: kept, matched again after order syncs.
CREATE VIEW orphan_ddts AS
    SELECT d.* FROM ddts d WHERE d.deleted_at IS NULL AND NOT EXISTS
        (SELECT 1 FROM orders o WHERE o.user_id = d.user_id AND o.order_number = d.order_number AND o.deleted_at IS NULL);
CREATE VIEW orphan_invoices AS
    SELECT i.* FROM invoices i WHERE i.deleted_at IS NULL AND NOT EXISTS
        (SELECT 1 FROM orders o WHERE o.user_id = i.user_id AND o.order_number = i.order_number AND o.deleted_at IS NULL);
"
    ),
    // Migration 2: an order's DDTs and invoices found by its number (DataService reads).
    "
CREATE INDEX IF NOT EXISTS ddts_by_order ON ddts(user_id, order_number);
CREATE INDEX IF NOT EXISTS invoices_by_order ON invoices(user_id, order_number);
",
    HELD_DELETIONS,
];

/// `sync.db`: run history and freshness; then (migration 2) the Scheduler's schedules, its
/// anchor and last dispatches, and the count of requests that joined each run; then
/// (migration 3) the order outbox with every placement's transitions; then (migration 4) what
/// each run noticed (unknown columns, held deletions, evidence).
pub const SYNC_DB: &[&str] = &[
    "
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    scope            TEXT NOT NULL,          -- agent id, or '' for the catalogue
    mode             TEXT NOT NULL,          -- full | delta
    trigger          TEXT NOT NULL,
    state            TEXT NOT NULL,          -- open | completed | failed | skipped
    queued_at        TEXT NOT NULL,
    ended_at         TEXT,
    duration_ms      INTEGER,
    inserted         INTEGER,
    updated          INTEGER,
    unchanged        INTEGER,
    deleted          INTEGER,
    unchanged_export INTEGER,
    error            TEXT,
    permanent        INTEGER
);
CREATE INDEX runs_open ON runs(kind) WHERE state = 'open';
CREATE INDEX runs_by_kind ON runs(kind, scope, id);
CREATE TABLE freshness (
    kind             TEXT NOT NULL,
    scope            TEXT NOT NULL,
    last_success_at  TEXT NOT NULL,
    last_run_id      INTEGER NOT NULL,
    PRIMARY KEY (kind, scope)
);
",
    "
ALTER TABLE runs ADD COLUMN joined INTEGER NOT NULL DEFAULT 0;  -- requests that joined this run
CREATE TABLE schedules (
    kind          TEXT PRIMARY KEY,
    interval_ms   INTEGER NOT NULL,
    stagger_ms    INTEGER NOT NULL,
    jitter_ms     INTEGER NOT NULL,
    priority      INTEGER NOT NULL,
    enabled       INTEGER NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE schedule_dispatches (
    kind          TEXT NOT NULL,
    scope         TEXT NOT NULL,           -- agent id, or '' for the catalogue
    dispatched_at TEXT NOT NULL,           -- last time the Scheduler started it
    PRIMARY KEY (kind, scope)
);
CREATE TABLE scheduler_state (
    key           TEXT PRIMARY KEY,        -- 'anchor': the Scheduler's first start
    value         TEXT NOT NULL
);
",
    "
-- The order outbox: a placement is stored before anything happens, and every state change is
-- one fsynced transaction written before the effect it announces. order_number is the id
-- mapping (idempotency key -> Archibald's order number).
CREATE TABLE placements (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    payload         TEXT NOT NULL,          -- canonical JSON of customer, lines, notes
    payload_md5     TEXT NOT NULL,          -- what a retry with the same key is compared with
    reference       TEXT NOT NULL UNIQUE,   -- written into Rif. cliente
    state           TEXT NOT NULL,          -- accepted | submitting | in_doubt | placed | rejected | failed | needs_operator
    attempts        INTEGER NOT NULL DEFAULT 0,
    order_number    TEXT,
    reason          TEXT,
    accepted_at     TEXT NOT NULL,
    deadline_at     TEXT NOT NULL,
    submitted_at    TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX placements_by_user ON placements(user_id, id);
CREATE INDEX placements_by_state ON placements(state, id);
CREATE TABLE placement_transitions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    placement_id    INTEGER NOT NULL REFERENCES placements(id) ON DELETE CASCADE,
    at              TEXT NOT NULL,
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    cause           TEXT NOT NULL
);
CREATE INDEX placement_transitions_by_placement ON placement_transitions(placement_id, id);
",
    "
-- What a run noticed: columns of the export the contract does not know (a JSON array of
-- titles), deletions held for an operator and why, the evidence kept of a page that changed.
ALTER TABLE runs ADD COLUMN unknown_columns TEXT;
ALTER TABLE runs ADD COLUMN held_deletions INTEGER;
ALTER TABLE runs ADD COLUMN held_reason TEXT;
ALTER TABLE runs ADD COLUMN evidence TEXT;
",
];

/// The migrations of a data file.
pub fn migrations(file: crate::kinds::DataFile) -> &'static [&'static str] {
    use crate::kinds::DataFile;
    match file {
        DataFile::AgentCustomers => CUSTOMERS_DB,
        DataFile::Products => PRODUCTS_DB,
        DataFile::Orders => ORDERS_DB,
    }
}

/// A data file written by a later release than this build: its schema version is beyond the
/// migrations this build knows, so nothing here may open it for writing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file} has schema version {found}, newer than this build knows ({known}): it was written by \
     a later release of blackant; run that release (or a later one), or restore a backup made \
     with this one"
)]
pub struct NewerSchema {
    pub file: String,
    pub found: i64,
    pub known: usize,
}

/// Check every data file of `data` (`sync.db` and the record files) against the migrations
/// this build knows, reading only: the first file newer than this build, if any. A file that
/// cannot be read is left to its writer, which reports it when it opens it.
pub fn check_versions(data: &super::DataDir) -> Result<(), NewerSchema> {
    let mut files = vec![(data.sync_db(), SYNC_DB)];
    files.extend(
        data.record_files()
            .unwrap_or_default()
            .into_iter()
            .map(|(file, path)| (path, migrations(file))),
    );
    for (path, known) in files {
        let found: Option<i64> = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .ok();
        if let Some(found) = found.filter(|v| *v > known.len() as i64) {
            return Err(NewerSchema {
                file: path.display().to_string(),
                found,
                known: known.len(),
            });
        }
    }
    Ok(())
}

/// A fresh in-memory `sync.db` with every migration applied, for the store's unit tests.
#[cfg(test)]
pub(crate) fn memory_sync_db() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("in-memory SQLite");
    for m in SYNC_DB {
        conn.execute_batch(m).expect("sync.db migrations");
    }
    conn
}

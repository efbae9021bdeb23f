//! One description per sync kind: the table every layer reads instead of a `match kind` of its
//! own (the idea of ripgrep's one `Flag` per flag, STYLE.md).
//!
//! A [`KindSpec`] says, for one of the six report kinds: the actor that syncs it, whether it is
//! per agent or the shared catalogue, the SQLite file and table that hold its rows, the ERP
//! list page whose "Esporta PDF" gives its export, its default schedule (DESIGN.md's table:
//! interval, stagger, priority), the kinds it runs after, the kinds that follow it, and whether
//! an agent's login or reconnect syncs it. The tree (`service`), the stores (`store::tables`,
//! the file routing), the ERP source (`syncs::source`), the Scheduler's defaults and the gRPC
//! conversions all read [`Kind::spec`]. Adding a kind is: its records (`records`), one entry
//! here, its table in `store::schema`, its page in the simulator (README, "How to add a kind").
//!
//! Plain data: this module must NOT do anything (no I/O, no actors), and imports nothing of the
//! crate but the record kinds.

use std::time::Duration;

use crate::records::Kind;
use blackant_actors::run::Counts;

/// The SQLite files that hold record tables (DESIGN.md, "Data layout"). `sync.db` holds no
/// records and is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataFile {
    /// `customers-{agent}.db`: one file per agent.
    AgentCustomers,
    /// `products.db`: the catalogue and its prices (one writer for both).
    Products,
    /// `orders.db`: every agent's orders, lines, DDT and invoices (rows carry `user_id`).
    Orders,
}

impl DataFile {
    /// Every data file.
    pub const ALL: [DataFile; 3] = [
        DataFile::AgentCustomers,
        DataFile::Products,
        DataFile::Orders,
    ];

    /// The file's name in the data folder; `agent` is required by (and only used for) the
    /// per-agent file. The agent id must have been validated (`store::paths::validate_user`).
    pub fn file_name(self, agent: Option<&str>) -> String {
        match self {
            DataFile::AgentCustomers => format!("customers-{}.db", agent.unwrap_or_default()),
            DataFile::Products => "products.db".to_string(),
            DataFile::Orders => "orders.db".to_string(),
        }
    }

    /// The data file a file name in the data folder is, if any ([`Self::file_name`] read back).
    pub fn of_file_name(name: &str) -> Option<DataFile> {
        match name {
            "products.db" => Some(DataFile::Products),
            "orders.db" => Some(DataFile::Orders),
            n => n
                .strip_prefix("customers-")
                .and_then(|rest| rest.strip_suffix(".db"))
                .filter(|agent| !agent.is_empty())
                .map(|_| DataFile::AgentCustomers),
        }
    }

    /// One file per agent (true) or one for all (false).
    pub fn per_agent(self) -> bool {
        matches!(self, DataFile::AgentCustomers)
    }

    /// Rows of several agents share the file: each row carries `user_id`, and a sync touches
    /// only its own agent's rows.
    pub fn user_scoped(self) -> bool {
        matches!(self, DataFile::Orders)
    }
}

/// Everything the service knows about one sync kind. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSpec {
    /// The kind.
    pub kind: Kind,
    /// The actor syncing it, as the supervision tree and operators name it.
    pub actor: &'static str,
    /// Synced per agent (customers, orders, DDT, invoices) or once for the catalogue.
    pub per_agent: bool,
    /// The file holding its rows.
    pub file: DataFile,
    /// The table holding its rows in that file.
    pub table: &'static str,
    /// The table's key column: the first field, or `record_key` for prices (whose key is
    /// several fields, `records::Kind::key_columns`).
    pub key_column: &'static str,
    /// The key column is not one of the fields (prices): it is written in addition to them.
    pub key_is_extra: bool,
    /// The ERP list view whose "Esporta PDF" gives the export (ERP.md, "Pages").
    pub list_page: &'static str,
    /// Default schedule: run every this many minutes...
    pub interval_minutes: u64,
    /// ...on a grid offset by this many minutes from the Scheduler's anchor...
    pub stagger_minutes: u64,
    /// ...and, when several are due (or want a browser) at once, higher first.
    pub priority: u8,
    /// Kinds that run first for the same scope when both are due (DESIGN.md, "after").
    pub after: &'static [Kind],
    /// A run waits while this kind has a run in progress on the same scope (a price sync
    /// waits for a running product sync).
    pub waits_for: Option<Kind>,
    /// Kinds requested for the same scope after a completed run of this one that changed
    /// something (an agent's DDT and invoices after its orders): see [`Self::follow_ups`].
    pub followed_by: &'static [Kind],
    /// An agent's login (data older than 2 h) and reconnect (older than the interval) sync it.
    pub on_session: bool,
    /// New or changed orders' lines are read from their detail pages.
    pub reads_order_lines: bool,
    /// After a run that changed something, every price is matched to the catalogue again.
    pub rematches_prices: bool,
    /// After each completed run, products without an image are handed to the ImageFetcher.
    pub fetches_images: bool,
}

impl KindSpec {
    /// The default interval: what the Scheduler starts with and what EnsureFresh and
    /// reconnects call fresh until an operator changes the schedule.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_minutes * 60)
    }

    /// The default stagger.
    pub fn stagger(&self) -> Duration {
        Duration::from_secs(self.stagger_minutes * 60)
    }

    /// The kinds to request for the same scope after a run of this kind completed with
    /// `counts`: [`Self::followed_by`] when the run inserted, updated or deleted records, none
    /// when it changed nothing. An unchanged order sync brings nothing new for DDT and invoices
    /// to follow; their own schedule (every 45 and 30 min) covers what changes there alone,
    /// which a follow-up after every 10-minute order sync would make moot at three exports per
    /// agent instead of one.
    pub fn follow_ups(&self, counts: &Counts) -> &'static [Kind] {
        if counts.inserted + counts.updated + counts.deleted == 0 {
            NONE
        } else {
            self.followed_by
        }
    }
}

const NONE: &[Kind] = &[];

/// The six kinds, in `Kind::ALL` order (a test checks it).
pub const KINDS: [KindSpec; 6] = [
    KindSpec {
        kind: Kind::Customers,
        actor: "CustomerSync",
        per_agent: true,
        file: DataFile::AgentCustomers,
        table: "customers",
        key_column: "code",
        key_is_extra: false,
        list_page: "/clienti",
        interval_minutes: 30,
        stagger_minutes: 5,
        priority: 3,
        after: NONE,
        waits_for: None,
        followed_by: NONE,
        on_session: true,
        reads_order_lines: false,
        rematches_prices: false,
        fetches_images: false,
    },
    KindSpec {
        kind: Kind::Products,
        actor: "ProductSync",
        per_agent: false,
        file: DataFile::Products,
        table: "products",
        key_column: "code",
        key_is_extra: false,
        list_page: "/articoli",
        interval_minutes: 90,
        stagger_minutes: 30,
        priority: 2,
        after: NONE,
        waits_for: None,
        followed_by: NONE,
        on_session: false,
        reads_order_lines: false,
        rematches_prices: true,
        fetches_images: true,
    },
    KindSpec {
        kind: Kind::Prices,
        actor: "PriceSync",
        per_agent: false,
        file: DataFile::Products,
        table: "prices",
        key_column: "record_key",
        key_is_extra: true,
        list_page: "/listino",
        interval_minutes: 30,
        stagger_minutes: 10,
        priority: 5,
        after: &[Kind::Products],
        waits_for: Some(Kind::Products),
        followed_by: NONE,
        on_session: false,
        reads_order_lines: false,
        rematches_prices: true,
        fetches_images: false,
    },
    KindSpec {
        kind: Kind::Orders,
        actor: "OrderSyncRegistry",
        per_agent: true,
        file: DataFile::Orders,
        table: "orders",
        key_column: "order_number",
        key_is_extra: false,
        list_page: "/ordini",
        interval_minutes: 10,
        stagger_minutes: 0,
        priority: 4,
        after: NONE,
        waits_for: None,
        followed_by: &[Kind::Ddt, Kind::Invoices],
        on_session: true,
        reads_order_lines: true,
        rematches_prices: false,
        fetches_images: false,
    },
    KindSpec {
        kind: Kind::Ddt,
        actor: "DdtSync",
        per_agent: true,
        file: DataFile::Orders,
        table: "ddts",
        key_column: "ddt_number",
        key_is_extra: false,
        list_page: "/ddt",
        interval_minutes: 45,
        stagger_minutes: 20,
        priority: 2,
        after: &[Kind::Orders],
        waits_for: None,
        followed_by: NONE,
        on_session: false,
        reads_order_lines: false,
        rematches_prices: false,
        fetches_images: false,
    },
    KindSpec {
        kind: Kind::Invoices,
        actor: "InvoiceSync",
        per_agent: true,
        file: DataFile::Orders,
        table: "invoices",
        key_column: "invoice_number",
        key_is_extra: false,
        list_page: "/fatture",
        interval_minutes: 30,
        stagger_minutes: 15,
        priority: 4,
        after: &[Kind::Orders],
        waits_for: None,
        followed_by: NONE,
        on_session: false,
        reads_order_lines: false,
        rematches_prices: false,
        fetches_images: false,
    },
];

impl Kind {
    /// This kind's description.
    pub fn spec(self) -> &'static KindSpec {
        // KINDS is in declaration order (the test below holds it to that).
        &KINDS[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_kind_once_in_order() {
        assert_eq!(KINDS.len(), Kind::ALL.len());
        for (spec, kind) in KINDS.iter().zip(Kind::ALL) {
            assert_eq!(spec.kind, kind);
            assert_eq!(kind.spec().kind, kind);
            assert_eq!(
                spec.per_agent,
                spec.file.per_agent() || spec.file.user_scoped()
            );
            for other in spec.after.iter().chain(spec.followed_by) {
                assert_ne!(*other, kind, "{kind} cannot depend on itself");
            }
        }
    }
}

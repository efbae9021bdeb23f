//! The six record kinds of Archibald's reports and their canonical form (ERP.md, "Report
//! columns" and "Canonical values").
//!
//! Owns: [`Kind`] and its column specs (field, header title, type, alignment, key), the
//! [`Record`] (values in column order, JSON in ERP.md field names, MD5), and
//! [`parse_export`] (PDF bytes → records grouped by page + the completeness report).
//! It must NOT touch SQLite, the browser or the ERP session; it does not decide what an
//! incomplete export means (the sync does: a truncated export never deletes records).
//!
//! # Hash (stored in the databases: never change it silently)
//! [`Record::md5`] is the MD5 of the compact JSON array of the canonical values in column
//! order, as `serde_json` writes it: no spaces, strings UTF-8 (not `\u` escaped except what
//! JSON requires), null for empty, integers as numbers, booleans as `true`/`false`, decimals
//! and dates as strings. E.g. `["C00001","Rossi & C. S.r.l.",null,...]`.

pub mod order_lines;
pub mod value;

use std::fmt;

use md5::{Digest, Md5};
use serde::ser::{SerializeMap, Serializer};

use crate::pdf::{self, Align, Completeness, PdfError, TableColumn, VerticalAlign};
pub use value::{Value, ValueError, ValueType};

/// One column of a report: canonical field name, the title printed in the PDF header, the
/// value type, and the alignment (numbers right, the rest left, titles included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub field: &'static str,
    pub title: &'static str,
    pub ty: ValueType,
    pub align: Align,
}

const fn col(field: &'static str, title: &'static str, ty: ValueType) -> Column {
    let align = match ty {
        ValueType::Int | ValueType::Decimal => Align::Right,
        _ => Align::Left,
    };
    Column {
        field,
        title,
        ty,
        align,
    }
}

use ValueType::{Bool, Date, Decimal, Int, OneOf, Text};

const CUSTOMERS: &[Column] = &[
    col("code", "Codice", Text),
    col("name", "Ragione sociale", Text),
    col("vat_number", "Partita IVA", Text),
    col("fiscal_code", "Codice fiscale", Text),
    col("street", "Indirizzo", Text),
    col("postal_code", "CAP", Text),
    col("city", "Città", Text),
    col("province", "Prov.", Text),
    col("phone", "Telefono", Text),
    col("email", "Email", Text),
    col("pec", "PEC", Text),
    col("sdi_code", "Cod. SDI", Text),
    col("payment_terms", "Pagamento", Text),
    col("last_order_date", "Ultimo ordine", Date),
];

const PRODUCTS: &[Column] = &[
    col("code", "Codice articolo", Text),
    col("name", "Descrizione", Text),
    col("group", "Gruppo", Text),
    col("package_content", "Conf.", Int),
    col("min_qty", "Q.tà min", Int),
    col("qty_multiple", "Multiplo", Int),
    col("vat_rate", "IVA %", Int),
    col("ean", "EAN", Text),
    col("status", "Stato", OneOf(PRODUCT_STATUSES)),
];

/// A product's statuses (ERP.md, Articoli).
pub const PRODUCT_STATUSES: &[&str] = &["Attivo", "Sospeso", "Fuori produzione"];

/// An order's statuses (ERP.md, Ordini).
pub const ORDER_STATUSES: &[&str] = &[
    "Inserito",
    "Confermato",
    "In lavorazione",
    "Spedito",
    "Fatturato",
    "Annullato",
];

const PRICES: &[Column] = &[
    col("product_code", "Codice articolo", Text),
    col("product_name", "Descrizione", Text),
    col("price_list", "Listino", Text),
    col("unit_price", "Prezzo unitario", Decimal),
    col("currency", "Valuta", Text),
    col("valid_from", "Valido dal", Date),
    col("valid_to", "Valido al", Date),
];

const ORDERS: &[Column] = &[
    col("order_number", "N. ordine", Text),
    col("order_date", "Data", Date),
    col("customer_code", "Cod. cliente", Text),
    col("customer_name", "Cliente", Text),
    col("status", "Stato", OneOf(ORDER_STATUSES)),
    col("delivery_date", "Consegna prevista", Date),
    col("net_amount", "Imponibile", Decimal),
    col("total_amount", "Totale", Decimal),
    col("customer_reference", "Rif. cliente", Text),
];

const DDT: &[Column] = &[
    col("ddt_number", "N. DDT", Text),
    col("ddt_date", "Data DDT", Date),
    col("order_number", "N. ordine", Text),
    col("customer_code", "Cod. cliente", Text),
    col("carrier", "Vettore", Text),
    col("tracking_number", "Tracking", Text),
    col("packages", "Colli", Int),
    col("weight_kg", "Peso kg", Decimal),
    col("delivery_address", "Destinazione", Text),
];

const INVOICES: &[Column] = &[
    col("invoice_number", "N. fattura", Text),
    col("invoice_date", "Data", Date),
    col("order_number", "N. ordine", Text),
    col("customer_code", "Cod. cliente", Text),
    col("net_amount", "Imponibile", Decimal),
    col("vat_amount", "IVA", Decimal),
    col("total_amount", "Totale", Decimal),
    col("due_date", "Scadenza", Date),
    col("paid", "Pagata", Bool),
];

/// The six report kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Customers,
    Products,
    Prices,
    Orders,
    Ddt,
    Invoices,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Customers,
        Kind::Products,
        Kind::Prices,
        Kind::Orders,
        Kind::Ddt,
        Kind::Invoices,
    ];

    /// The stable lowercase name used in the CLI, the gRPC surface and file names.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Products => "products",
            Kind::Prices => "prices",
            Kind::Orders => "orders",
            Kind::Ddt => "ddt",
            Kind::Invoices => "invoices",
        }
    }

    /// The inverse of [`Kind::name`].
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The report's columns in ERP.md order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Kind::Customers => CUSTOMERS,
            Kind::Products => PRODUCTS,
            Kind::Prices => PRICES,
            Kind::Orders => ORDERS,
            Kind::Ddt => DDT,
            Kind::Invoices => INVOICES,
        }
    }

    /// Indices of the columns forming the record key. Every kind is keyed by its first column
    /// (a code or a document number, unique in the ERP) except prices: a product has one row
    /// per price list and validity period, so a price is keyed by (product_code, price_list,
    /// valid_from). The product code alone would collapse a product's price lists into one
    /// row; the product name is not part of the key because it is descriptive and may change.
    pub fn key_columns(self) -> &'static [usize] {
        match self {
            Kind::Prices => &[0, 2, 5],
            _ => &[0],
        }
    }

    /// The column specs the PDF table reader needs.
    pub fn table_columns(self) -> Vec<TableColumn<'static>> {
        self.columns()
            .iter()
            .map(|c| TableColumn {
                title: c.title,
                align: c.align,
            })
            .collect()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::from_name(s).ok_or_else(|| {
            format!(
                "unknown kind {s:?} (expected one of {})",
                Kind::ALL.map(Kind::name).join(", ")
            )
        })
    }
}

/// A record: its kind and its canonical values in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    kind: Kind,
    values: Vec<Value>,
}

impl Record {
    /// Builds a record from canonical values (one per column, in order).
    pub fn new(kind: Kind, values: Vec<Value>) -> Result<Record, String> {
        let n = kind.columns().len();
        if values.len() != n {
            return Err(format!(
                "{kind} records have {n} values, got {}",
                values.len()
            ));
        }
        Ok(Record { kind, values })
    }

    /// Parses raw cells (one per column, as the PDF shows them) into a record. The error
    /// names the column and the value; [`parse_export`] adds the page and the row.
    pub fn from_cells(kind: Kind, cells: &[String]) -> Result<Record, (usize, ValueError)> {
        let values = kind
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                value::parse(c.ty, cells.get(i).map(String::as_str).unwrap_or(""))
                    .map_err(|e| (i, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Record { kind, values })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of a field by its canonical name.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.kind
            .columns()
            .iter()
            .position(|c| c.field == field)
            .map(|i| &self.values[i])
    }

    /// The record key (see [`Kind::key_columns`]): the first column's text for every kind
    /// but prices, whose key is the compact JSON array `[product_code, price_list,
    /// valid_from]` — unambiguous whatever characters the hand-written codes contain.
    pub fn key(&self) -> String {
        match self.kind.key_columns() {
            [single] => self.values[*single].to_string(),
            many => {
                let parts: Vec<&Value> = many.iter().map(|i| &self.values[*i]).collect();
                serde_json::to_string(&parts).unwrap_or_default()
            }
        }
    }

    /// The record as one compact JSON object, ERP.md field names in column order (the
    /// `blackant parse` output line).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The canonical serialization that is hashed: the compact JSON array of the values.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(&self.values).unwrap_or_default()
    }

    /// MD5 of [`Record::canonical_json`] (see the module docs: stored, never change silently).
    pub fn md5(&self) -> [u8; 16] {
        let digest = Md5::digest(self.canonical_json().as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest);
        out
    }

    /// [`Record::md5`] as 32 lowercase hex digits.
    pub fn md5_hex(&self) -> String {
        blackant_actors::digest::md5_hex(self.canonical_json().as_bytes())
    }
}

impl serde::Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let columns = self.kind.columns();
        let mut map = s.serialize_map(Some(columns.len()))?;
        for (c, v) in columns.iter().zip(&self.values) {
            map.serialize_entry(c.field, v)?;
        }
        map.end()
    }
}

/// The records of one physical page of the export (the sync applies one page per transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecords {
    /// 1-based physical page of the PDF.
    pub page: u32,
    pub records: Vec<Record>,
}

/// A parsed export: records grouped by page, in report order, and what the document says
/// about its completeness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedExport {
    pub kind: Kind,
    /// One entry per physical page of the PDF, in order (pages without rows included, empty).
    pub pages: Vec<PageRecords>,
    pub completeness: Completeness,
    pub vertical_align: VerticalAlign,
    /// Titles of the report's columns that ERP.md does not list (their text is left out of
    /// every record): worth an operator's look, not a reason to refuse the export.
    pub unknown_columns: Vec<String>,
}

impl ParsedExport {
    /// All records in report order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.pages.iter().flat_map(|p| p.records.iter())
    }

    pub fn record_count(&self) -> usize {
        self.pages.iter().map(|p| p.records.len()).sum()
    }

    /// See [`Completeness::is_complete`].
    pub fn is_complete(&self) -> bool {
        self.completeness.is_complete()
    }
}

/// Why an export could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The PDF itself: not a PDF, encrypted, undecodable font, no header found, a known
    /// column missing or renamed...
    #[error(transparent)]
    Pdf(#[from] PdfError),
    /// A cell whose text violates its column's type.
    #[error("page {page}, row {row_key:?}, column {column:?}: {source}")]
    BadValue {
        page: u32,
        /// The row's first cell as printed (its key for every kind but prices).
        row_key: String,
        column: &'static str,
        #[source]
        source: ValueError,
    },
}

/// Rows a thread must have to parse their values on its own.
const ROWS_PER_THREAD: usize = 256;

/// Parses an exported report of `kind`: every row becomes a canonical [`Record`], grouped by
/// the page it was printed on. Completeness is reported, not enforced.
impl ParseError {
    /// The report says something the contract does not allow (a value in a format ERP.md does
    /// not give, a known column missing or renamed, no header at all): the same export will
    /// say it again, so retrying cannot help. Anything else (an unreadable file) may be a
    /// download cut short.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ParseError::BadValue { .. } | ParseError::Pdf(PdfError::Columns(_))
        )
    }
}

pub fn parse_export(kind: Kind, bytes: &[u8]) -> Result<ParsedExport, ParseError> {
    let table = pdf::read_table(bytes, &kind.table_columns())?;
    let mut pages: Vec<PageRecords> = (1..=table.completeness.physical_pages)
        .map(|page| PageRecords {
            page,
            records: Vec::new(),
        })
        .collect();
    // Values parsed on every core for big exports (a row takes about a microsecond: below a few hundred rows
    // a thread costs more than it saves); the first row that fails (in report order) is the
    // error.
    let records = pdf::in_runs(table.rows.len(), ROWS_PER_THREAD, |range| {
        table.rows[range]
            .iter()
            .map(|row| {
                Record::from_cells(kind, &row.cells).map_err(|(i, source)| ParseError::BadValue {
                    page: row.page,
                    row_key: row.cells.first().cloned().unwrap_or_default(),
                    column: kind.columns()[i].title,
                    source,
                })
            })
            .collect()
    })?;
    for (row, record) in table.rows.iter().zip(records) {
        if let Some(p) = pages.get_mut(row.page as usize - 1) {
            p.records.push(record);
        }
    }
    Ok(ParsedExport {
        kind,
        pages,
        completeness: table.completeness,
        vertical_align: table.vertical_align,
        unknown_columns: table.unknown_columns,
    })
}

#[cfg(test)]
mod fixture_tests;
#[cfg(all(test, feature = "sim"))]
mod layout_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::tests::{Col, PLAIN, Pdf, report, resources};

    #[test]
    fn kinds_round_trip_and_columns_match_erp() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
            assert_eq!(k.name().parse::<Kind>(), Ok(k));
        }
        assert!(Kind::from_name("clienti").is_none());
        assert_eq!(Kind::Customers.columns().len(), 14);
        assert_eq!(Kind::Products.columns()[4].title, "Q.tà min");
        assert_eq!(Kind::Products.columns()[4].align, Align::Right);
        assert_eq!(Kind::Invoices.columns()[8].ty, ValueType::Bool);
        assert_eq!(Kind::Prices.columns()[3].align, Align::Right);
        assert_eq!(Kind::Orders.columns()[5].title, "Consegna prevista");
        for k in Kind::ALL {
            for c in k.columns() {
                assert_eq!(
                    c.align == Align::Right,
                    matches!(c.ty, ValueType::Int | ValueType::Decimal)
                );
            }
        }
    }

    fn invoice() -> Record {
        let cells: Vec<String> = [
            "FT/00001",
            "05/03/2026",
            "",
            "C00042",
            "1.234,50 €",
            "271,59 €",
            "1.506,09 €",
            "04/04/2026",
            "Sì",
        ]
        .map(String::from)
        .to_vec();
        Record::from_cells(Kind::Invoices, &cells).unwrap()
    }

    #[test]
    fn json_in_column_order_with_canonical_values() {
        assert_eq!(
            invoice().to_json(),
            r#"{"invoice_number":"FT/00001","invoice_date":"2026-03-05","order_number":null,"customer_code":"C00042","net_amount":"1234.50","vat_amount":"271.59","total_amount":"1506.09","due_date":"2026-04-04","paid":true}"#
        );
    }

    #[test]
    fn md5_is_of_the_compact_value_array() {
        let r = invoice();
        assert_eq!(
            r.canonical_json(),
            r#"["FT/00001","2026-03-05",null,"C00042","1234.50","271.59","1506.09","2026-04-04",true]"#
        );
        // Pinned: changing the serialization changes every stored hash.
        // (computed independently: python3 hashlib.md5 of the string above)
        assert_eq!(r.md5_hex(), "631c17e1c5516ed9b783763b792b8f71");
    }

    #[test]
    fn price_key_is_composite() {
        let cells: Vec<String> = [
            "VT.0001.02",
            "Vite",
            "Listino base",
            "1,50 €",
            "EUR",
            "01/01/2026",
            "",
        ]
        .map(String::from)
        .to_vec();
        let r = Record::from_cells(Kind::Prices, &cells).unwrap();
        assert_eq!(r.key(), r#"["VT.0001.02","Listino base","2026-01-01"]"#);
        assert_eq!(invoice().key(), "FT/00001");
    }

    #[test]
    fn bad_value_names_the_column() {
        let cells: Vec<String> = ["FT/1", "31/02/2026", "", "C1", "x", "", "", "", "No"]
            .map(String::from)
            .to_vec();
        let (i, e) = Record::from_cells(Kind::Invoices, &cells).unwrap_err();
        assert_eq!(i, 1);
        assert_eq!(e.value, "31/02/2026");
    }

    #[test]
    fn parse_export_names_page_row_and_column_of_a_bad_value() {
        let cols: Vec<Col> = Kind::Invoices
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let right = c.align == Align::Right;
                Col {
                    title: c.title,
                    right,
                    x: 40.0 + i as f32 * 85.0 + if right { 75.0 } else { 0.0 },
                }
            })
            .collect();
        let good = vec![
            "FT/1",
            "05/03/2026",
            "2026001",
            "C1",
            "10,00",
            "2,20",
            "12,20",
            "04/04/2026",
            "No",
        ];
        let bad = vec![
            "FT/2",
            "31/02/2026",
            "2026002",
            "C2",
            "10,00",
            "2,20",
            "12,20",
            "04/04/2026",
            "Sì",
        ];
        let mut pdf = Pdf::new();
        let f1 = pdf.helvetica();
        pdf.page(
            &[report(
                &cols,
                std::slice::from_ref(&good),
                Some((1, 2)),
                None,
                PLAIN,
            )],
            resources(f1, None),
            lopdf::dictionary! {},
        );
        pdf.page(
            &[report(&cols, &[good, bad], Some((2, 2)), Some(3), PLAIN)],
            resources(f1, None),
            lopdf::dictionary! {},
        );
        let bytes = pdf.finish();
        match parse_export(Kind::Invoices, &bytes).unwrap_err() {
            ParseError::BadValue {
                page,
                row_key,
                column,
                source,
            } => {
                assert_eq!((page, row_key.as_str(), column), (2, "FT/2", "Data"));
                assert_eq!(source.value, "31/02/2026");
            }
            other => panic!("unexpected {other}"),
        }
    }
}

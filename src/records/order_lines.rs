//! Order lines, read from an order's detail page (ERP.md: codice articolo, descrizione,
//! quantità, prezzo unitario, sconto %, importo) into canonical values — the same value rules
//! as the reports (`1.234,50 €` → `"1234.50"`, `12,50` → `"12.50"`).
//!
//! Columns are found by their titles, in any order, so a page that adds or moves columns
//! still reads; a page missing one of them is refused with the title that is missing. Owns
//! the conversion only: it does not drive the browser or write SQLite.

use super::value::{self, Value, ValueType};
use super::{Column, col};

/// The lines table's columns (field, title on the page, type).
pub const LINE_COLUMNS: &[Column] = &[
    col("product_code", "Codice articolo", ValueType::Text),
    col("description", "Descrizione", ValueType::Text),
    col("quantity", "Quantità", ValueType::Int),
    col("unit_price", "Prezzo unitario", ValueType::Decimal),
    col("discount_pct", "Sconto %", ValueType::Decimal),
    col("amount", "Importo", ValueType::Decimal),
];

/// One order line: values in [`LINE_COLUMNS`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub values: Vec<Value>,
}

impl OrderLine {
    /// The line as a JSON object in canonical field names.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        LINE_COLUMNS
            .iter()
            .zip(&self.values)
            .map(|(c, v)| (c.field.to_string(), v.to_json()))
            .collect()
    }
}

/// Why a lines table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinesError {
    #[error("the lines table has no column titled {0:?}")]
    MissingColumn(&'static str),
    #[error("line {line}, column {title:?}: {source}")]
    BadValue {
        line: usize,
        title: &'static str,
        #[source]
        source: value::ValueError,
    },
}

fn title_key(s: &str) -> String {
    value::collapse(s).to_lowercase()
}

/// Turn a lines table (titles + cell texts, as the page shows them) into lines.
pub fn from_table(headers: &[String], rows: &[Vec<String>]) -> Result<Vec<OrderLine>, LinesError> {
    let keys: Vec<String> = headers.iter().map(|h| title_key(h)).collect();
    let positions: Vec<usize> = LINE_COLUMNS
        .iter()
        .map(|c| {
            let want = title_key(c.title);
            keys.iter()
                .position(|k| *k == want)
                .ok_or(LinesError::MissingColumn(c.title))
        })
        .collect::<Result<_, _>>()?;
    rows.iter()
        .enumerate()
        .map(|(i, cells)| {
            let values = LINE_COLUMNS
                .iter()
                .zip(&positions)
                .map(|(c, &at)| {
                    let raw = cells.get(at).map(String::as_str).unwrap_or("");
                    value::parse(c.ty, raw).map_err(|source| LinesError::BadValue {
                        line: i + 1,
                        title: c.title,
                        source,
                    })
                })
                .collect::<Result<Vec<Value>, _>>()?;
            Ok(OrderLine { values })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn cells_become_canonical_values_whatever_the_column_order() {
        let headers = s(&[
            "Descrizione",
            "Codice articolo",
            "Quantità",
            "Prezzo unitario",
            "Sconto %",
            "Importo",
        ]);
        let rows = vec![s(&[
            "Caffè  espresso\n1kg",
            "CF.0001.001",
            "1.200",
            "1.234,50 €",
            "12,50",
            "1.296.225,00 €",
        ])];
        let lines = from_table(&headers, &rows).unwrap();
        assert_eq!(
            lines[0].values,
            vec![
                Value::Text("CF.0001.001".into()),
                Value::Text("Caffè espresso 1kg".into()),
                Value::Int(1200),
                Value::Decimal("1234.50".into()),
                Value::Decimal("12.50".into()),
                Value::Decimal("1296225.00".into()),
            ]
        );
        assert_eq!(lines[0].to_json()["quantity"], serde_json::json!(1200));
    }

    #[test]
    fn a_missing_column_or_a_bad_number_is_refused_with_what_and_where() {
        let headers = s(&[
            "Codice articolo",
            "Descrizione",
            "Quantità",
            "Prezzo unitario",
            "Importo",
        ]);
        assert_eq!(
            from_table(&headers, &[]),
            Err(LinesError::MissingColumn("Sconto %"))
        );
        let headers = s(&[
            "Codice articolo",
            "Descrizione",
            "Quantità",
            "Prezzo unitario",
            "Sconto %",
            "Importo",
        ]);
        let rows = vec![s(&["A", "B", "dieci", "1,00", "", "1,00"])];
        let e = from_table(&headers, &rows).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("Quantità"), "{e}");
    }
}

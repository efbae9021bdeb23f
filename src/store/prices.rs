//! Price matching in `products.db`: which catalogue product each price-list row belongs to.
//!
//! The price list is kept by hand in Archibald (ERP.md, "Listino"): some codes are written
//! differently from the catalogue (case, missing dots, spaces) and some match no product at
//! all. A row is matched by, in order: exact code → normalised code → exact name → normalised
//! name, each against live products only, and each method only where it names ONE product (an
//! ambiguous name matches nothing rather than the wrong product). What matches nothing stays
//! in `prices` with `matched_code` NULL (the `unmatched_prices` view) and is tried again after
//! every product or price sync ([`rematch`]).
//!
//! Price changes are audited by a trigger in the schema (`price_changes`), so no writer can
//! forget to. This module owns matching only; it does not fetch, parse or decide when to run.

use super::StoreError;
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// How a price row was matched (stored in `prices.match_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    Code,
    NormalisedCode,
    Name,
    NormalisedName,
}

impl MatchMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMethod::Code => "code",
            MatchMethod::NormalisedCode => "normalised_code",
            MatchMethod::Name => "name",
            MatchMethod::NormalisedName => "normalised_name",
        }
    }
}

/// A code as the catalogue would write it: ASCII letters and digits only, upper case
/// (`kx.1234.001`, `KX1234001` and `KX 1234.001` are all `KX1234001`).
pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A name compared loosely: lower case, every run of non-alphanumerics one space, trimmed
/// (`"VITE  INOX, 4x20"` and `"vite inox 4x20"` are the same).
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// The live catalogue, indexed for matching. `None` marks a key that names several products.
#[derive(Debug, Default)]
pub struct ProductIndex {
    codes: HashMap<String, String>,
    normalised_codes: HashMap<String, Option<String>>,
    names: HashMap<String, Option<String>>,
    normalised_names: HashMap<String, Option<String>>,
}

fn add_unique(map: &mut HashMap<String, Option<String>>, key: String, code: &str) {
    if key.is_empty() {
        return;
    }
    map.entry(key)
        .and_modify(|v| {
            if v.as_deref() != Some(code) {
                *v = None;
            }
        })
        .or_insert_with(|| Some(code.to_string()));
}

impl ProductIndex {
    /// Index `(code, name)` pairs.
    pub fn new<'a>(products: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> ProductIndex {
        let mut ix = ProductIndex::default();
        for (code, name) in products {
            ix.codes.insert(code.to_string(), code.to_string());
            add_unique(&mut ix.normalised_codes, normalise_code(code), code);
            if let Some(name) = name {
                add_unique(&mut ix.names, name.to_string(), code);
                add_unique(&mut ix.normalised_names, normalise_name(name), code);
            }
        }
        ix
    }

    /// Read the live products of `products.db`.
    pub fn load(conn: &Connection) -> Result<ProductIndex, StoreError> {
        let what = || "reading the catalogue for price matching".to_string();
        let mut stmt = conn
            .prepare("SELECT code, name FROM products WHERE deleted_at IS NULL")
            .map_err(StoreError::sql_lazy(what))?;
        let rows: Vec<(String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(StoreError::sql_lazy(what))?
            .collect::<Result<_, _>>()
            .map_err(StoreError::sql_lazy(what))?;
        Ok(ProductIndex::new(
            rows.iter().map(|(c, n)| (c.as_str(), n.as_deref())),
        ))
    }

    /// The product a price row written as (`code`, `name`) belongs to.
    pub fn find(&self, code: &str, name: Option<&str>) -> Option<(&str, MatchMethod)> {
        if let Some(c) = self.codes.get(code) {
            return Some((c, MatchMethod::Code));
        }
        if let Some(c) = unique(&self.normalised_codes, &normalise_code(code)) {
            return Some((c, MatchMethod::NormalisedCode));
        }
        let name = name?;
        if let Some(c) = unique(&self.names, name) {
            return Some((c, MatchMethod::Name));
        }
        unique(&self.normalised_names, &normalise_name(name))
            .map(|c| (c, MatchMethod::NormalisedName))
    }
}

/// The one product `key` names in `map`, if it names exactly one.
fn unique<'m>(map: &'m HashMap<String, Option<String>>, key: &str) -> Option<&'m str> {
    map.get(key).and_then(|v| v.as_deref())
}

/// What a [`rematch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchCounts {
    /// Live price rows that belong to a product.
    pub matched: u64,
    /// Live price rows that belong to none (kept, tried again next time).
    pub unmatched: u64,
    /// Rows whose match changed (and so were written).
    pub changed: u64,
}

/// Match every live price row against the live catalogue; write only rows whose match changed.
pub fn rematch(conn: &Connection) -> Result<MatchCounts, StoreError> {
    let index = ProductIndex::load(conn)?;
    let what = || "matching prices to products".to_string();
    let mut select = conn
        .prepare(
            "SELECT record_key, product_code, product_name, matched_code, match_method
             FROM prices WHERE deleted_at IS NULL",
        )
        .map_err(StoreError::sql_lazy(what))?;
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = select
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(StoreError::sql_lazy(what))?
        .collect::<Result<_, _>>()
        .map_err(StoreError::sql_lazy(what))?;
    let mut update = conn
        .prepare_cached(
            "UPDATE prices SET matched_code = ?2, match_method = ?3 WHERE record_key = ?1",
        )
        .map_err(StoreError::sql_lazy(what))?;
    let mut counts = MatchCounts::default();
    for (key, code, name, old_code, old_method) in &rows {
        let found = index.find(code.as_deref().unwrap_or(""), name.as_deref());
        let (new_code, new_method) = match found {
            Some((c, m)) => (Some(c), Some(m.as_str())),
            None => (None, None),
        };
        if new_code.is_some() {
            counts.matched += 1;
        } else {
            counts.unmatched += 1;
        }
        if new_code != old_code.as_deref() || new_method != old_method.as_deref() {
            update
                .execute(params![key, new_code, new_method])
                .map_err(StoreError::sql_lazy(what))?;
            counts.changed += 1;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ProductIndex {
        ProductIndex::new([
            ("KX.1234.001", Some("Vite inox 4x20")),
            ("KX.1234.002", Some("Dado M4")),
            ("AB.0001.001", Some("Rondella")),
            ("AB.0001.002", Some("Rondella")), // the same name twice: never matched by name
        ])
    }

    #[test]
    fn code_first_then_normalised_code_then_name_then_normalised_name() {
        let ix = index();
        assert_eq!(
            ix.find("KX.1234.001", Some("whatever")),
            Some(("KX.1234.001", MatchMethod::Code))
        );
        for written in ["kx.1234.001", "KX1234001", "KX 1234.001"] {
            assert_eq!(
                ix.find(written, None),
                Some(("KX.1234.001", MatchMethod::NormalisedCode)),
                "{written}"
            );
        }
        assert_eq!(
            ix.find("ZZ-9", Some("Dado M4")),
            Some(("KX.1234.002", MatchMethod::Name))
        );
        assert_eq!(
            ix.find("ZZ-9", Some("VITE INOX  4X20")),
            Some(("KX.1234.001", MatchMethod::NormalisedName))
        );
    }

    #[test]
    fn ambiguous_or_unknown_matches_nothing() {
        let ix = index();
        assert_eq!(
            ix.find("ZZ-9", Some("Rondella")),
            None,
            "two products share the name"
        );
        assert_eq!(
            ix.find("QQ.0000.000", Some("Bullone (fuori catalogo)")),
            None
        );
        assert_eq!(ix.find("", None), None);
    }

    #[test]
    fn normalising() {
        assert_eq!(normalise_code(" kx.12 34-001 "), "KX1234001");
        assert_eq!(
            normalise_name("  Caffè  ESPRESSO, 1kg "),
            "caffè espresso 1kg"
        );
        assert_eq!(normalise_name("l'olio & aceto"), "l olio aceto");
    }
}

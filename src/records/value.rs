//! Canonical values (ERP.md, "Canonical values"): raw cell text → the typed value that is
//! emitted as JSON, hashed and stored.
//!
//! Owns the Italian formats: dates `dd/mm/yyyy` → `YYYY-MM-DD` (real calendar dates only),
//! decimals `1.234,50 €` → `"1234.50"` (digits kept as shown), integers with thousands dots,
//! `Sì`/`No` booleans, the closed lists of a column (a product's or an order's status: a value
//! ERP.md does not list is refused, never stored as if it were known), empty → null. It must
//! NOT know columns, kinds or pages: the caller adds
//! that context to a [`ValueError`].

use std::fmt;

/// A column's value type (ERP.md: text unless the column says int, decimal, date, or `paid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Int,
    Decimal,
    Date,
    Bool,
    /// Text that must be one of these, exactly as ERP.md spells them (stored as text).
    OneOf(&'static [&'static str]),
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Int => "integer",
            ValueType::Decimal => "decimal",
            ValueType::Date => "date",
            ValueType::Bool => "Sì/No",
            ValueType::OneOf(_) => "value of the column's list",
        }
    }
}

/// A canonical value. Decimals stay strings so that the digits shown are kept exactly (no
/// binary floating point between the ERP and the database).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    /// `-?\d+(\.\d+)?`, e.g. `"1234.50"`.
    Decimal(String),
    /// `YYYY-MM-DD`.
    Date(String),
    Bool(bool),
}

impl Value {
    /// The value as a `serde_json::Value` (decimals and dates as strings).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Text(s) | Value::Decimal(s) | Value::Date(s) => {
                serde_json::Value::String(s.clone())
            }
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Bool(b) => serde_json::Value::Bool(*b),
        }
    }

    /// The text of a text, decimal or date value; `None` otherwise.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Decimal(s) | Value::Date(s) => Some(s),
            _ => None,
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Text(v) | Value::Decimal(v) | Value::Date(v) => s.serialize_str(v),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Bool(b) => s.serialize_bool(*b),
        }
    }
}

/// A cell text that does not fit its column's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {} ({reason})", expected.name())]
pub struct ValueError {
    pub expected: ValueType,
    pub value: String,
    pub reason: &'static str,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Text(s) | Value::Decimal(s) | Value::Date(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Whitespace collapsed to single spaces, trimmed.
pub fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Whether `s` is already collapsed (no leading, trailing, repeated or non-space whitespace).
fn is_collapsed(s: &str) -> bool {
    let mut prev_space = true;
    for c in s.chars() {
        if c.is_whitespace() {
            if c != ' ' || prev_space {
                return false;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    !prev_space || s.is_empty()
}

/// Parses a raw cell into the canonical value of `ty`. Empty (after collapsing) is `Null`
/// for every type.
pub fn parse(ty: ValueType, raw: &str) -> Result<Value, ValueError> {
    let s: std::borrow::Cow<'_, str> = if is_collapsed(raw) {
        std::borrow::Cow::Borrowed(raw)
    } else {
        std::borrow::Cow::Owned(collapse(raw))
    };
    if s.is_empty() {
        return Ok(Value::Null);
    }
    let err = |reason| ValueError {
        expected: ty,
        value: s.to_string(),
        reason,
    };
    match ty {
        ValueType::Text => Ok(Value::Text(s.into_owned())),
        ValueType::Int => parse_int(&s).map(Value::Int).map_err(err),
        ValueType::Decimal => parse_decimal(&s).map(Value::Decimal).map_err(err),
        ValueType::Date => parse_date(&s).map(Value::Date).map_err(err),
        ValueType::Bool => parse_bool(&s).map(Value::Bool).map_err(err),
        ValueType::OneOf(listed) => {
            if listed.contains(&s.as_ref()) {
                Ok(Value::Text(s.into_owned()))
            } else {
                Err(err("not one of the values ERP.md lists for this column"))
            }
        }
    }
}

/// Splits an optional sign off; accepts `-` and the Unicode minus.
fn sign(s: &str) -> (bool, &str) {
    if let Some(r) = s.strip_prefix('-').or_else(|| s.strip_prefix('\u{2212}')) {
        (true, r.trim_start())
    } else {
        (false, s)
    }
}

/// Digits with optional Italian thousands dots (`1.234.567`): the digits without dots.
fn grouped_digits(s: &str) -> Result<String, &'static str> {
    if s.is_empty() {
        return Err("no digits");
    }
    if !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err("unexpected character");
    }
    if s.contains('.') {
        let groups: Vec<&str> = s.split('.').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
            return Err("misplaced thousands separator");
        }
    }
    Ok(s.replace('.', ""))
}

/// Italian integer: `-?` digits with optional thousands dots. `1,5` is an error.
pub fn parse_int(s: &str) -> Result<i64, &'static str> {
    let (neg, body) = sign(s);
    if body.contains(',') {
        return Err("has a decimal part");
    }
    let digits = grouped_digits(body)?;
    let v: i64 = digits.parse().map_err(|_| "out of range")?;
    Ok(if neg { -v } else { v })
}

/// Italian decimal → canonical string: `1.234,50 €` → `1234.50`, `12,5` → `12.5`,
/// `-0,75` → `-0.75`, `1.000` → `1000`. A currency sign (`€`, before or after) is dropped.
pub fn parse_decimal(s: &str) -> Result<String, &'static str> {
    let t = s.trim();
    let t = t.strip_suffix('€').map(str::trim_end).unwrap_or(t);
    let t = t.strip_prefix('€').map(str::trim_start).unwrap_or(t);
    let (neg, body) = sign(t);
    let body = body.strip_prefix('€').map(str::trim_start).unwrap_or(body);
    let (int_part, frac) = match body.split_once(',') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let int_digits = grouped_digits(int_part)?;
    let mut out = String::with_capacity(body.len() + 1);
    if neg {
        out.push('-');
    }
    out.push_str(&int_digits);
    if let Some(f) = frac {
        if f.is_empty() || !f.chars().all(|c| c.is_ascii_digit()) {
            return Err("bad decimal part");
        }
        out.push('.');
        out.push_str(f);
    }
    Ok(out)
}

/// `dd/mm/yyyy` (1- or 2-digit day and month) → `YYYY-MM-DD`, validating the calendar date.
pub fn parse_date(s: &str) -> Result<String, &'static str> {
    let parts: Vec<&str> = s.split('/').collect();
    let [d, m, y] = parts.as_slice() else {
        return Err("not dd/mm/yyyy");
    };
    let num = |p: &str, lo: usize, hi: usize| -> Result<u32, &'static str> {
        if !(lo..=hi).contains(&p.len()) || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err("not dd/mm/yyyy");
        }
        p.parse().map_err(|_| "not dd/mm/yyyy")
    };
    let (d, m, y) = (num(d, 1, 2)?, num(m, 1, 2)?, num(y, 4, 4)?);
    if !(1..=12).contains(&m) {
        return Err("no such month");
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d == 0 || d > days {
        return Err("no such day in that month");
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// `Sì`/`Si`/`SI`/`sì`/`SÌ` → true, `No` (any case) → false.
pub fn parse_bool(s: &str) -> Result<bool, &'static str> {
    let lower: String = s.chars().flat_map(char::to_lowercase).collect();
    match lower.as_str() {
        "sì" | "si" | "sí" => Ok(true),
        "no" => Ok(false),
        _ => Err("expected Sì or No"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("1.234,50 €").as_deref(), Ok("1234.50"));
        assert_eq!(parse_decimal("12,5").as_deref(), Ok("12.5"));
        assert_eq!(parse_decimal("1.000").as_deref(), Ok("1000"));
        assert_eq!(parse_decimal("-1.234,50€").as_deref(), Ok("-1234.50"));
        assert_eq!(parse_decimal("€ 0,99").as_deref(), Ok("0.99"));
        assert_eq!(parse_decimal("- 3,10 €").as_deref(), Ok("-3.10"));
        assert!(parse_decimal("1,2,3").is_err());
        assert!(parse_decimal("12.34").is_err());
        assert!(parse_decimal("1.2345,00").is_err());
        assert!(parse_decimal("abc").is_err());
        assert!(parse_decimal("12,").is_err());
        assert!(parse_decimal("€").is_err());
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("1.000"), Ok(1000));
        assert_eq!(parse_int("-12"), Ok(-12));
        assert_eq!(parse_int("007"), Ok(7));
        assert!(parse_int("1,5").is_err());
        assert!(parse_int("10.00").is_err());
        assert!(parse_int("99999999999999999999").is_err());
        assert!(parse_int("12 pz").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("29/02/2024").as_deref(), Ok("2024-02-29"));
        assert_eq!(parse_date("1/3/2025").as_deref(), Ok("2025-03-01"));
        assert!(parse_date("29/02/2023").is_err());
        assert!(parse_date("31/04/2025").is_err());
        assert!(parse_date("2025-03-01").is_err());
        assert!(parse_date("12/13/2025").is_err());
        assert!(parse_date("00/01/2025").is_err());
    }

    #[test]
    fn bools_and_empties() {
        for yes in ["Sì", "SI", "Si", "sì", "SÌ"] {
            assert_eq!(parse(ValueType::Bool, yes), Ok(Value::Bool(true)), "{yes}");
        }
        assert_eq!(parse(ValueType::Bool, "No"), Ok(Value::Bool(false)));
        assert!(parse(ValueType::Bool, "Forse").is_err());
        for ty in [
            ValueType::Text,
            ValueType::Int,
            ValueType::Decimal,
            ValueType::Date,
            ValueType::Bool,
        ] {
            assert_eq!(parse(ty, "  \n "), Ok(Value::Null));
        }
        assert_eq!(
            parse(ValueType::Text, " Rossi \n & C. "),
            Ok(Value::Text("Rossi & C.".into()))
        );
    }

    #[test]
    fn errors_name_the_value_and_type() {
        let e = parse(ValueType::Date, "31/02/2024").unwrap_err();
        assert_eq!(e.value, "31/02/2024");
        assert!(e.to_string().contains("date"), "{e}");
    }

    fn italian_int(n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut groups = Vec::new();
        let mut end = digits.len();
        while end > 3 {
            groups.push(&digits[end - 3..end]);
            end -= 3;
        }
        groups.push(&digits[..end]);
        groups.reverse();
        format!("{}{}", if n < 0 { "-" } else { "" }, groups.join("."))
    }

    proptest! {
        #[test]
        fn int_round_trip(n in any::<i64>().prop_filter("i64::MIN has no positive twin", |n| *n != i64::MIN)) {
            prop_assert_eq!(parse_int(&italian_int(n)), Ok(n));
            prop_assert_eq!(parse_int(&n.to_string()), Ok(n));
        }

        #[test]
        fn decimal_round_trip(int in 0i64..1_000_000_000_000, frac in "[0-9]{1,4}", neg in any::<bool>(), euro in any::<bool>()) {
            let shown = format!("{}{},{}{}", if neg { "-" } else { "" }, italian_int(int), frac, if euro { " €" } else { "" });
            let expected = format!("{}{}.{}", if neg { "-" } else { "" }, int, frac);
            prop_assert_eq!(parse_decimal(&shown), Ok(expected));
        }

        #[test]
        fn date_round_trip(y in 1900u32..2200, m in 1u32..=12, d in 1u32..=31) {
            let shown = format!("{d:02}/{m:02}/{y}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let days = match m { 2 if leap => 29, 2 => 28, 4 | 6 | 9 | 11 => 30, _ => 31 };
            if d <= days {
                prop_assert_eq!(parse_date(&shown), Ok(format!("{y:04}-{m:02}-{d:02}")));
            } else {
                prop_assert!(parse_date(&shown).is_err());
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,20}") {
            for ty in [ValueType::Text, ValueType::Int, ValueType::Decimal, ValueType::Date, ValueType::Bool] {
                let _ = parse(ty, &s);
            }
        }
    }
}

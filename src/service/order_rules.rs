//! The rules of an order request that need no ERP: its shape (key, lines, notes, lengths),
//! the catalogue's rules for a line (status "Attivo", minimum, multiple), and the reference
//! written into "Rif. cliente".
//!
//! The reference is derived from the key: `BA` and 16 characters of base 32 of its MD5 — 18
//! characters, so it fits the field's 40, and every reference has the same length and prefix,
//! so none is ever a substring of another (the outbox refuses a second placement with an equal
//! one: the key is then salted). Must NOT read the replicas nor the outbox (`placements` does).

use super::{ServiceError, clip};
use crate::store::lookups::ProductRules;

/// An order to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// The caller's idempotency key: the same key always names the same placement.
    pub key: String,
    pub agent: String,
    pub customer_code: String,
    /// (product code, quantity), at least one.
    pub lines: Vec<(String, i64)>,
    pub notes: String,
}

/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 128;
/// Longest notes.
pub const MAX_NOTES_LEN: usize = 1000;
/// Most lines in one order.
pub const MAX_LINES: usize = 200;

const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The "Rif. cliente" of `key` (with `salt` 0, or more after a collision).
pub fn reference_for(key: &str, salt: u32) -> String {
    let text = if salt == 0 {
        key.to_string()
    } else {
        format!("{key}#{salt}")
    };
    let hex = blackant_actors::digest::md5_hex(text.as_bytes());
    // 80 bits of the digest, five at a time.
    let bits = u128::from_str_radix(&hex[..20], 16).unwrap_or(0);
    let mut out = String::from("BA");
    for i in (0..16).rev() {
        out.push(char::from(BASE32[((bits >> (i * 5)) & 31) as usize]));
    }
    out
}

pub(super) fn invalid(field: impl Into<String>, why: impl Into<String>) -> ServiceError {
    ServiceError::InvalidOrder {
        field: field.into(),
        why: why.into(),
    }
}

/// The shape of a request: what needs no replica to judge.
pub(super) fn check_shape(req: &OrderRequest) -> Result<(), ServiceError> {
    let key = req.key.trim();
    if key.is_empty() {
        return Err(invalid("idempotency_key", "is required"));
    }
    if key.chars().count() > MAX_KEY_LEN {
        return Err(invalid(
            "idempotency_key",
            format!("is longer than {MAX_KEY_LEN} characters"),
        ));
    }
    if req.customer_code.trim().is_empty() {
        return Err(invalid("customer_code", "is required"));
    }
    if req.lines.is_empty() {
        return Err(invalid("lines", "an order needs at least one line"));
    }
    if req.lines.len() > MAX_LINES {
        return Err(invalid("lines", format!("more than {MAX_LINES} lines")));
    }
    if req.notes.chars().count() > MAX_NOTES_LEN {
        return Err(invalid(
            "notes",
            format!("longer than {MAX_NOTES_LEN} characters"),
        ));
    }
    for (i, (code, quantity)) in req.lines.iter().enumerate() {
        if code.trim().is_empty() {
            return Err(invalid(format!("lines[{i}].code"), "is required"));
        }
        if *quantity <= 0 {
            return Err(invalid(
                format!("lines[{i}].quantity"),
                format!("must be positive, got {quantity}"),
            ));
        }
    }
    Ok(())
}

/// Why line `i` cannot be ordered by the catalogue's rules (`None`: it can).
pub(super) fn line_problem(
    i: usize,
    code: &str,
    quantity: i64,
    rules: &ProductRules,
) -> Option<ServiceError> {
    let status = rules.status.as_deref().unwrap_or("");
    if status != "Attivo" {
        return Some(invalid(
            format!("lines[{i}].code"),
            format!(
                "product {} is not orderable (status {status:?})",
                clip(code)
            ),
        ));
    }
    let min = rules.min_qty.unwrap_or(1).max(1);
    if quantity < min {
        return Some(invalid(
            format!("lines[{i}].quantity"),
            format!(
                "{quantity} is below the minimum {min} of product {}",
                clip(code)
            ),
        ));
    }
    let multiple = rules.qty_multiple.unwrap_or(1).max(1);
    if quantity % multiple != 0 {
        return Some(invalid(
            format!("lines[{i}].quantity"),
            format!(
                "{quantity} is not a multiple of {multiple} for product {}",
                clip(code)
            ),
        ));
    }
    None
}

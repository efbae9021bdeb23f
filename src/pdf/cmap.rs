//! A small parser for the CMaps embedded in PDF fonts: `/ToUnicode` (code → text) and
//! embedded `/Encoding` CMaps of Type0 fonts (code → CID, and the codespace that says how many
//! bytes each code takes).
//!
//! It owns only the CMap sections (codespace ranges, bfchar/bfrange, cidchar/cidrange); the
//! syntax is read by the content-stream lexer (`lexer.rs`), the one tokenizer of PDF
//! operators in this reader. It must
//! NOT know about fonts, widths or pages: `font.rs` decides which CMap applies to which bytes.
//! lopdf has a ToUnicode parser too, but it keeps the codespace private and silently falls
//! back to StandardEncoding on errors; we need both the codespace and a loud failure.

use std::collections::HashMap;

use super::lexer::{Operand, Ops};

/// One codespace range: codes of `len` bytes whose every byte lies between the corresponding
/// bytes of `lo` and `hi` (ISO 32000-1, 9.7.6.2).
#[derive(Debug, Clone)]
pub(crate) struct CodespaceRange {
    pub len: u8,
    pub lo: [u8; 4],
    pub hi: [u8; 4],
}

impl CodespaceRange {
    fn matches(&self, bytes: &[u8]) -> bool {
        let n = self.len as usize;
        bytes.len() >= n && (0..n).all(|i| self.lo[i] <= bytes[i] && bytes[i] <= self.hi[i])
    }
}

/// A range `lo..=hi` of codes of one length mapped to text or CIDs.
#[derive(Debug, Clone)]
struct UniRange {
    len: u8,
    lo: u32,
    hi: u32,
    target: UniTarget,
}

#[derive(Debug, Clone)]
enum UniTarget {
    /// The destination of `lo` as UTF-16 units; later codes increment the last unit.
    Incrementing(Vec<u16>),
    /// One destination per code.
    Array(Vec<Vec<u16>>),
}

#[derive(Debug, Clone)]
struct CidRange {
    len: u8,
    lo: u32,
    hi: u32,
    cid: u32,
}

/// A parsed CMap. Lookups are by (code, code length in bytes).
#[derive(Debug, Clone, Default)]
pub(crate) struct CMap {
    pub codespace: Vec<CodespaceRange>,
    chars: HashMap<u64, String>,
    ranges: Vec<UniRange>,
    cid_chars: HashMap<u64, u32>,
    cid_ranges: Vec<CidRange>,
    /// Whether any bfchar/bfrange entry was found (a ToUnicode CMap that maps nothing is as
    /// good as none).
    pub has_unicode: bool,
    /// Whether any cidchar/cidrange entry was found.
    pub has_cids: bool,
}

fn key(code: u32, len: u8) -> u64 {
    (u64::from(len) << 32) | u64::from(code)
}

fn code_of(bytes: &[u8]) -> Option<(u32, u8)> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    let code = bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    Some((code, bytes.len() as u8))
}

fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks(2)
        .map(|c| {
            if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0])
            }
        })
        .collect()
}

fn utf16_to_string(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied())
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

impl CMap {
    /// Parses CMap source. Unknown operators and malformed entries are skipped: the caller
    /// judges the result by what it maps (`has_unicode`, `has_cids`) and by decoding checks.
    ///
    /// CMaps are PostScript, read with the content-stream lexer: the entries of a section
    /// (`N beginbfchar ... endbfchar`) are the operands of its `end...` keyword.
    pub fn parse(src: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut ops = Ops::new(src);
        while let Some(op) = ops.next_op() {
            let section: fn(&mut CMap, &[Token]) = match op {
                b"endcodespacerange" => CMap::codespace_section,
                b"endbfchar" => CMap::bfchar_section,
                b"endbfrange" => CMap::bfrange_section,
                b"endcidchar" => CMap::cidchar_section,
                b"endcidrange" => CMap::cidrange_section,
                _ => continue,
            };
            let body: Vec<Token> = ops
                .operands
                .iter()
                .map(|operand| match *operand {
                    Operand::Str(start, end) => Token::Str(ops.bytes(start, end).to_vec()),
                    Operand::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Token::Int(n as i64),
                    Operand::ArrayStart => Token::ArrayStart,
                    Operand::ArrayEnd => Token::ArrayEnd,
                    _ => Token::Other,
                })
                .collect();
            section(&mut cmap, &body);
        }
        cmap.ranges.sort_by_key(|r| (r.len, r.lo));
        cmap.cid_ranges.sort_by_key(|r| (r.len, r.lo));
        cmap
    }

    fn codespace_section(&mut self, body: &[Token]) {
        for pair in body.chunks(2) {
            if let [Token::Str(lo), Token::Str(hi)] = pair
                && lo.len() == hi.len()
                && (1..=4).contains(&lo.len())
            {
                let mut r = CodespaceRange {
                    len: lo.len() as u8,
                    lo: [0; 4],
                    hi: [0; 4],
                };
                r.lo[..lo.len()].copy_from_slice(lo);
                r.hi[..hi.len()].copy_from_slice(hi);
                self.codespace.push(r);
            }
        }
    }

    fn bfchar_section(&mut self, body: &[Token]) {
        for pair in body.chunks(2) {
            if let [Token::Str(src), Token::Str(dst)] = pair
                && let Some((code, len)) = code_of(src)
            {
                self.chars
                    .insert(key(code, len), utf16_to_string(&utf16_units(dst)));
                self.has_unicode = true;
            }
        }
    }

    fn bfrange_section(&mut self, body: &[Token]) {
        let mut i = 0;
        while i + 2 < body.len() {
            let (Token::Str(lo), Token::Str(hi)) = (&body[i], &body[i + 1]) else {
                i += 1;
                continue;
            };
            let (Some((lo, len)), Some((hi, hlen))) = (code_of(lo), code_of(hi)) else {
                i += 3;
                continue;
            };
            match &body[i + 2] {
                Token::Str(dst) if len == hlen && lo <= hi => {
                    self.ranges.push(UniRange {
                        len,
                        lo,
                        hi,
                        target: UniTarget::Incrementing(utf16_units(dst)),
                    });
                    self.has_unicode = true;
                    i += 3;
                }
                Token::ArrayStart => {
                    let mut j = i + 3;
                    let mut items = Vec::new();
                    while j < body.len() && !matches!(body[j], Token::ArrayEnd) {
                        if let Token::Str(d) = &body[j] {
                            items.push(utf16_units(d));
                        }
                        j += 1;
                    }
                    if len == hlen && lo <= hi {
                        self.ranges.push(UniRange {
                            len,
                            lo,
                            hi,
                            target: UniTarget::Array(items),
                        });
                        self.has_unicode = true;
                    }
                    i = j + 1;
                }
                _ => i += 3,
            }
        }
    }

    fn cidchar_section(&mut self, body: &[Token]) {
        for pair in body.chunks(2) {
            if let [Token::Str(src), Token::Int(cid)] = pair
                && let Some((code, len)) = code_of(src)
                && let Ok(cid) = u32::try_from(*cid)
            {
                self.cid_chars.insert(key(code, len), cid);
                self.has_cids = true;
            }
        }
    }

    fn cidrange_section(&mut self, body: &[Token]) {
        for triple in body.chunks(3) {
            if let [Token::Str(lo), Token::Str(hi), Token::Int(cid)] = triple
                && let (Some((lo, len)), Some((hi, hlen))) = (code_of(lo), code_of(hi))
                && let Ok(cid) = u32::try_from(*cid)
                && len == hlen
                && lo <= hi
            {
                self.cid_ranges.push(CidRange { len, lo, hi, cid });
                self.has_cids = true;
            }
        }
    }

    /// The length in bytes of the code starting at `bytes[0]`, by the codespace ranges
    /// (shortest match first), or `None` when the CMap declares no codespace.
    pub fn code_len(&self, bytes: &[u8]) -> Option<u8> {
        if self.codespace.is_empty() {
            return None;
        }
        let mut best: Option<u8> = None;
        for r in &self.codespace {
            if r.matches(bytes) && best.is_none_or(|b| r.len < b) {
                best = Some(r.len);
            }
        }
        // No range matches: the spec says to consume as many bytes as the shortest range with a
        // matching first byte; failing that, the shortest declared length.
        best.or_else(|| {
            self.codespace
                .iter()
                .filter(|r| !bytes.is_empty() && r.lo[0] <= bytes[0] && bytes[0] <= r.hi[0])
                .map(|r| r.len)
                .min()
                .or_else(|| self.codespace.iter().map(|r| r.len).min())
        })
    }

    /// The text a code maps to, if any.
    pub fn unicode(&self, code: u32, len: u8) -> Option<String> {
        if let Some(s) = self.chars.get(&key(code, len)) {
            return Some(s.clone());
        }
        // Ranges are few (tens); a linear scan from the sorted position is fine and runs once
        // per distinct code thanks to the font's cache.
        for r in &self.ranges {
            if r.len != len || code < r.lo || code > r.hi {
                continue;
            }
            let offset = code - r.lo;
            return match &r.target {
                UniTarget::Incrementing(units) => {
                    let mut units = units.clone();
                    if let Some(last) = units.last_mut() {
                        *last = last.wrapping_add(offset as u16);
                    }
                    Some(utf16_to_string(&units))
                }
                UniTarget::Array(items) => items.get(offset as usize).map(|u| utf16_to_string(u)),
            };
        }
        None
    }

    /// The CID a code maps to, if the CMap has CID mappings for it.
    pub fn cid(&self, code: u32, len: u8) -> Option<u32> {
        if let Some(cid) = self.cid_chars.get(&key(code, len)) {
            return Some(*cid);
        }
        self.cid_ranges
            .iter()
            .find(|r| r.len == len && r.lo <= code && code <= r.hi)
            .map(|r| r.cid + (code - r.lo))
    }
}

/// A CMap section's entry.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A string (`<0041>`, or a literal one): codes and destinations.
    Str(Vec<u8>),
    Int(i64),
    ArrayStart,
    ArrayEnd,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Adobe-Identity-UCS def
1 begincodespacerange <0000> <FFFF> endcodespacerange
2 beginbfchar <0003> <0020> <0011> <00E0> endbfchar
2 beginbfrange <0020> <0022> <0041> <0030> <0031> [<0066 0069> <20AC>] endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end";

    #[test]
    fn bfchar_bfrange_and_codespace() {
        let c = CMap::parse(SRC);
        assert!(c.has_unicode);
        assert_eq!(c.code_len(&[0x00, 0x11]), Some(2));
        assert_eq!(c.unicode(0x0011, 2).as_deref(), Some("à"));
        assert_eq!(c.unicode(0x0003, 2).as_deref(), Some(" "));
        assert_eq!(c.unicode(0x0021, 2).as_deref(), Some("B"));
        assert_eq!(c.unicode(0x0022, 2).as_deref(), Some("C"));
        assert_eq!(c.unicode(0x0030, 2).as_deref(), Some("fi"));
        assert_eq!(c.unicode(0x0031, 2).as_deref(), Some("€"));
        assert_eq!(c.unicode(0x0023, 2), None);
        // A one-byte code is not the same code as the two-byte one.
        assert_eq!(c.unicode(0x11, 1), None);
    }

    #[test]
    fn mixed_codespace_picks_the_matching_length() {
        let c = CMap::parse(
            b"2 begincodespacerange <00> <7F> <8000> <FFFF> endcodespacerange
              1 begincidrange <8140> <817E> 633 endcidrange 1 begincidchar <41> 34 endcidchar",
        );
        assert_eq!(c.code_len(&[0x41, 0x81]), Some(1));
        assert_eq!(c.code_len(&[0x81, 0x41]), Some(2));
        assert_eq!(c.cid(0x8141, 2), Some(634));
        assert_eq!(c.cid(0x41, 1), Some(34));
        assert!(c.has_cids);
        assert!(!c.has_unicode);
    }
}

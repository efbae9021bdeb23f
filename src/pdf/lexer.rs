//! A zero-allocation lexer for content streams: operators with their operands, one at a time.
//!
//! Chromium draws one glyph per `Tj` after a `Td`: a 300-row report is tens of thousands of
//! operators, and building a `lopdf::content::Operation` (a `String` plus a `Vec<Object>`) for
//! each one dominated the reader's time. This lexer reuses one operand vector and one byte
//! arena (strings and names decoded into it) for the whole stream.
//!
//! It owns only content-stream syntax (numbers, names, literal and hex strings, arrays,
//! dictionaries as operand noise, comments, inline images skipped) — the one tokenizer of the
//! reader: `content.rs` reads page content with it, `cmap.rs` reads CMaps (PostScript, the same
//! syntax). It must NOT interpret operators: those two do. It never fails: bytes it cannot read are skipped, as
//! viewers do; missing text then shows up in the table's completeness report.

/// One operand. Strings and names live in [`Ops::arena`] (`start..end`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Operand {
    Num(f64),
    Name(u32, u32),
    Str(u32, u32),
    ArrayStart,
    ArrayEnd,
    /// Booleans, null, dictionary delimiters: nothing a text operator uses.
    Other,
}

/// Iterator-like cursor over a content stream's operators.
pub(crate) struct Ops<'a> {
    src: &'a [u8],
    pos: usize,
    /// Operands of the operator last returned by [`Ops::next_op`].
    pub operands: Vec<Operand>,
    arena: Vec<u8>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl<'a> Ops<'a> {
    pub fn new(src: &'a [u8]) -> Ops<'a> {
        Ops {
            src,
            pos: 0,
            operands: Vec::with_capacity(8),
            arena: Vec::with_capacity(256),
        }
    }

    /// The bytes of a string or name operand.
    pub fn bytes(&self, start: u32, end: u32) -> &[u8] {
        &self.arena[start as usize..end as usize]
    }

    /// Number operand `i`, if it is one.
    pub fn num(&self, i: usize) -> Option<f64> {
        match self.operands.get(i) {
            Some(Operand::Num(n)) => Some(*n),
            _ => None,
        }
    }

    /// String operand `i`, if it is one.
    pub fn string(&self, i: usize) -> Option<&[u8]> {
        match self.operands.get(i) {
            Some(Operand::Str(s, e)) => Some(self.bytes(*s, *e)),
            _ => None,
        }
    }

    /// Name operand `i`, if it is one.
    pub fn name(&self, i: usize) -> Option<&[u8]> {
        match self.operands.get(i) {
            Some(Operand::Name(s, e)) => Some(self.bytes(*s, *e)),
            _ => None,
        }
    }

    /// Reads up to the next operator and returns it; its operands are in `self.operands`.
    pub fn next_op(&mut self) -> Option<&'a [u8]> {
        self.operands.clear();
        self.arena.clear();
        let src = self.src;
        loop {
            while self.pos < src.len() && is_ws(src[self.pos]) {
                self.pos += 1;
            }
            let b = *src.get(self.pos)?;
            match b {
                b'%' => {
                    while self.pos < src.len() && src[self.pos] != b'\n' && src[self.pos] != b'\r' {
                        self.pos += 1;
                    }
                }
                b'(' => self.literal_string(),
                b'<' if src.get(self.pos + 1) == Some(&b'<') => {
                    self.pos += 2;
                    self.operands.push(Operand::Other);
                }
                b'>' if src.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    self.operands.push(Operand::Other);
                }
                b'<' => self.hex_string(),
                b'[' => {
                    self.pos += 1;
                    self.operands.push(Operand::ArrayStart);
                }
                b']' => {
                    self.pos += 1;
                    self.operands.push(Operand::ArrayEnd);
                }
                b'/' => self.name_token(),
                b'0'..=b'9' | b'+' | b'-' | b'.' => self.number(),
                b')' | b'>' | b'{' | b'}' => self.pos += 1,
                _ => {
                    let start = self.pos;
                    while self.pos < src.len() && !is_ws(src[self.pos]) && !is_delim(src[self.pos])
                    {
                        self.pos += 1;
                    }
                    let word = &src[start..self.pos];
                    match word {
                        b"true" | b"false" | b"null" => self.operands.push(Operand::Other),
                        b"BI" => {
                            self.skip_inline_image();
                            self.operands.clear();
                            self.arena.clear();
                        }
                        _ => return Some(word),
                    }
                }
            }
        }
    }

    fn number(&mut self) {
        let src = self.src;
        let mut neg = false;
        if matches!(src[self.pos], b'+' | b'-') {
            neg = src[self.pos] == b'-';
            self.pos += 1;
        }
        // All digits into one integer, divided once by the power of ten of the fraction's
        // length (exact while the integer fits in 2^53); longer numbers the slow way.
        let start = self.pos;
        let mut digits: u64 = 0;
        let mut count = 0u32;
        while self.pos < src.len() && src[self.pos].is_ascii_digit() {
            digits = digits
                .wrapping_mul(10)
                .wrapping_add(u64::from(src[self.pos] - b'0'));
            count += 1;
            self.pos += 1;
        }
        let mut fraction = 0usize;
        if self.pos < src.len() && src[self.pos] == b'.' {
            self.pos += 1;
            while self.pos < src.len() && src[self.pos].is_ascii_digit() {
                digits = digits
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(src[self.pos] - b'0'));
                count += 1;
                fraction += 1;
                self.pos += 1;
            }
        }
        let int = if count <= 15 {
            digits as f64 / POW10[fraction]
        } else {
            slow_number(&src[start..self.pos])
        };
        // Anything glued to the number (malformed) is skipped with it.
        while self.pos < src.len() && !is_ws(src[self.pos]) && !is_delim(src[self.pos]) {
            self.pos += 1;
        }
        self.operands
            .push(Operand::Num(if neg { -int } else { int }));
    }

    fn name_token(&mut self) {
        let src = self.src;
        self.pos += 1;
        let start = self.arena.len() as u32;
        while self.pos < src.len() && !is_ws(src[self.pos]) && !is_delim(src[self.pos]) {
            let b = src[self.pos];
            if b == b'#'
                && let (Some(h), Some(l)) = (
                    src.get(self.pos + 1).copied().and_then(hex_val),
                    src.get(self.pos + 2).copied().and_then(hex_val),
                )
            {
                self.arena.push((h << 4) | l);
                self.pos += 3;
                continue;
            }
            self.arena.push(b);
            self.pos += 1;
        }
        self.operands
            .push(Operand::Name(start, self.arena.len() as u32));
    }

    fn hex_string(&mut self) {
        let src = self.src;
        self.pos += 1;
        let start = self.arena.len() as u32;
        let mut high: Option<u8> = None;
        while self.pos < src.len() && src[self.pos] != b'>' {
            if let Some(v) = hex_val(src[self.pos]) {
                match high.take() {
                    Some(h) => self.arena.push((h << 4) | v),
                    None => high = Some(v),
                }
            }
            self.pos += 1;
        }
        if let Some(h) = high {
            self.arena.push(h << 4);
        }
        self.pos += 1;
        self.operands
            .push(Operand::Str(start, self.arena.len() as u32));
    }

    fn literal_string(&mut self) {
        let src = self.src;
        self.pos += 1;
        let start = self.arena.len() as u32;
        let mut depth = 1;
        while self.pos < src.len() {
            let b = src[self.pos];
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    self.arena.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    self.arena.push(b);
                }
                b'\\' => {
                    let Some(&e) = src.get(self.pos) else { break };
                    self.pos += 1;
                    match e {
                        b'n' => self.arena.push(b'\n'),
                        b'r' => self.arena.push(b'\r'),
                        b't' => self.arena.push(b'\t'),
                        b'b' => self.arena.push(8),
                        b'f' => self.arena.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match src.get(self.pos) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            self.arena.push((v & 0xFF) as u8);
                        }
                        b'\r' => {
                            if src.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => self.arena.push(other),
                    }
                }
                b'\r' => {
                    // An end of line inside a string reads as a single newline.
                    if src.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                    self.arena.push(b'\n');
                }
                _ => self.arena.push(b),
            }
        }
        self.operands
            .push(Operand::Str(start, self.arena.len() as u32));
    }

    /// Skips `BI <dict> ID <binary> EI`: the data ends at an `EI` between white space.
    fn skip_inline_image(&mut self) {
        let src = self.src;
        // Find the ID keyword.
        while self.pos + 1 < src.len() {
            if src[self.pos] == b'I'
                && src[self.pos + 1] == b'D'
                && (self.pos == 0 || is_ws(src[self.pos - 1]) || is_delim(src[self.pos - 1]))
                && src.get(self.pos + 2).is_none_or(|b| is_ws(*b))
            {
                self.pos += 3;
                break;
            }
            self.pos += 1;
        }
        while self.pos + 1 < src.len() {
            if src[self.pos] == b'E'
                && src[self.pos + 1] == b'I'
                && self.pos > 0
                && is_ws(src[self.pos - 1])
                && src
                    .get(self.pos + 2)
                    .is_none_or(|b| is_ws(*b) || is_delim(*b))
            {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
        self.pos = src.len();
    }
}

/// 10^0 ..= 10^15, exact in `f64`.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A number's digits (an optional `.` among them) for more than 15 digits: Rust's parse,
/// correctly rounded (a lone `.` is 0, as before).
fn slow_number(digits: &[u8]) -> f64 {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &[u8]) -> Vec<(String, Vec<String>)> {
        let mut ops = Ops::new(src);
        let mut out = Vec::new();
        while let Some(op) = ops.next_op() {
            let operands = ops
                .operands
                .iter()
                .map(|o| match o {
                    Operand::Num(n) => format!("{n}"),
                    Operand::Name(s, e) => {
                        format!("/{}", String::from_utf8_lossy(ops.bytes(*s, *e)))
                    }
                    Operand::Str(s, e) => format!("{:?}", ops.bytes(*s, *e)),
                    Operand::ArrayStart => "[".into(),
                    Operand::ArrayEnd => "]".into(),
                    Operand::Other => "_".into(),
                })
                .collect();
            out.push((String::from_utf8_lossy(op).into_owned(), operands));
        }
        out
    }

    proptest::proptest! {
        /// Numbers read as Rust's correctly rounded parse reads them, however many digits.
        #[test]
        fn numbers_read_as_rust_parses_them(
            sign in proptest::option::of(proptest::sample::select(vec!["-", "+"])),
            int in "[0-9]{0,12}",
            frac in proptest::option::of("[0-9]{0,12}"),
        ) {
            if int.is_empty() && frac.is_none() {
                return Ok(()); // no number at all
            }
            let text = format!("{}{int}{}", sign.unwrap_or(""), frac.as_ref().map(|f| format!(".{f}")).unwrap_or_default());
            let src = format!("{text} Td");
            let mut ops = Ops::new(src.as_bytes());
            proptest::prop_assert_eq!(ops.next_op(), Some(&b"Td"[..]));
            let Some(Operand::Num(read)) = ops.operands.first().copied() else {
                return Err(proptest::test_runner::TestCaseError::fail("no number"));
            };
            let want: f64 = if int.is_empty() && frac.as_deref().unwrap_or("").is_empty() {
                0.0
            } else {
                let unsigned = format!("0{int}.{}0", frac.as_deref().unwrap_or(""));
                let v: f64 = unsigned.parse().unwrap();
                if sign == Some("-") { -v } else { v }
            };
            proptest::prop_assert_eq!(read, want, "{}", text);
        }
    }

    #[test]
    fn operators_and_operands() {
        let ops = all(b"BT /F#201 9.5 Tf -.5 +2 Td (a\\(b\\)\\101\\n) Tj [<00410042> -120.25 (c)] TJ % note\nT* ET");
        assert_eq!(ops[0], ("BT".into(), vec![]));
        assert_eq!(ops[1], ("Tf".into(), vec!["/F 1".into(), "9.5".into()]));
        assert_eq!(ops[2], ("Td".into(), vec!["-0.5".into(), "2".into()]));
        assert_eq!(ops[3], ("Tj".into(), vec![format!("{:?}", b"a(b)A\n")]));
        assert_eq!(
            ops[4],
            (
                "TJ".into(),
                vec![
                    "[".into(),
                    format!("{:?}", [0u8, 0x41, 0, 0x42]),
                    "-120.25".into(),
                    format!("{:?}", b"c"),
                    "]".into()
                ]
            )
        );
        assert_eq!(ops[5].0, "T*");
        assert_eq!(ops[6].0, "ET");
        assert_eq!(ops.len(), 7);
    }

    #[test]
    fn dictionaries_inline_images_and_quotes() {
        let src = b"/Span <</ActualText (x) /MCID 3>> BDC BI /W 2 /H 1 /BPC 8 ID \x00EI\xff EI Q (a) ' 1 2 (b) \" EMC";
        let ops = all(src);
        let names: Vec<&str> = ops.iter().map(|o| o.0.as_str()).collect();
        assert_eq!(names, vec!["BDC", "Q", "'", "\"", "EMC"]);
        assert_eq!(
            ops[3].1,
            vec!["1".to_string(), "2".into(), format!("{:?}", b"b")]
        );
    }

    #[test]
    fn odd_hex_and_unbalanced_input_do_not_panic() {
        let ops = all(b"<4> Tj (unterminated");
        assert_eq!(ops[0].1, vec![format!("{:?}", [0x40u8])]);
        assert_eq!(ops.len(), 1);
        let _ = all(b"<<<<]]]>>>)))\\");
    }
}

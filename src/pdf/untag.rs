//! The file's structure tree taken out before lopdf loads it (a tagged file's per-cell objects).
//!
//! Tagged PDFs (Chromium always tags) carry one `/StructElem` object per table cell: 170,000
//! objects for a 450-page report, whose parsing and freeing by lopdf cost more than the whole
//! text extraction. Text extraction never needs them, so before loading, in a copy of the file,
//! each uncompressed `/StructElem` dictionary object (no stream; its keys in any order, as
//! Chromium writes them or as qpdf and other optimisers sort them) is overwritten with `null`
//! padded by spaces (byte offsets stay valid) and lopdf is told not to read it: the file's only
//! classic cross-reference table is rewritten without their entries (lopdf then reads ~1,500
//! entries instead of ~180,000), or, when the file has several tables (incremental updates) or
//! one laid out otherwise, their entries are marked free. Files without such objects are not
//! copied. The search and the copy run on every core (a 30 MB report).
//!
//! It owns only this byte-level surgery; it must NOT interpret pages, fonts or text, and must
//! leave a file it does not recognise exactly as it was.

use memchr::memmem::Finder;
use std::borrow::Cow;

/// The file as lopdf should read it: without its structure elements, or itself when it has none.
pub(super) fn without_structure_tree(bytes: &[u8]) -> Cow<'_, [u8]> {
    let blanks = blanks(bytes);
    if blanks.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = copy_blanked(bytes, &blanks);
    let mut freed: Vec<u32> = blanks.iter().map(|b| b.number).collect();
    freed.sort_unstable();
    if !compact_xref(&mut out, &freed) {
        free_xref_entries(&mut out, &freed);
    }
    Cow::Owned(out)
}

/// One object to blank: its number, where its body starts (right after `obj`) and where its
/// `endobj` starts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Blank {
    number: u32,
    body: usize,
    end: usize,
}

/// Bytes each thread searches or copies at least (below that one thread does it all).
const CHUNK: usize = 1 << 20;
const MIN_CHUNKS_PER_THREAD: usize = 4;

/// Every `/StructElem` dictionary object of `bytes`, in file order; chunks searched on every
/// core (a hit belongs to the chunk its pattern starts in; its object may run past it).
fn blanks(bytes: &[u8]) -> Vec<Blank> {
    let found: Result<Vec<Blank>, std::convert::Infallible> = super::in_runs(
        bytes.len().div_ceil(CHUNK),
        MIN_CHUNKS_PER_THREAD,
        |chunks| {
            let (from, to) = (chunks.start * CHUNK, (chunks.end * CHUNK).min(bytes.len()));
            Ok(blanks_from(bytes, from, to))
        },
    );
    let mut found = match found {
        Ok(found) => found,
        Err(never) => match never {},
    };
    // A chunk may start inside an object the previous chunk blanks: one search from the start
    // would have skipped to that object's end.
    let mut last_end = 0;
    found.retain(|b| {
        let keep = b.body >= last_end;
        if keep {
            last_end = b.end;
        }
        keep
    });
    found
}

const PAT: &[u8] = b"/StructElem";

/// The `/StructElem` dictionary objects whose pattern starts in `from..to`, in file order, each
/// search going on after the object it found (their objects may run past `to`).
fn blanks_from(bytes: &[u8], from: usize, to: usize) -> Vec<Blank> {
    let (elem, endobj, stream) = (
        Finder::new(PAT),
        Finder::new(b"endobj"),
        Finder::new(b"stream"),
    );
    // A pattern starting before `to` is this range's, wherever it ends.
    let hay = &bytes[..(to + PAT.len() - 1).min(bytes.len())];
    let mut out = Vec::new();
    let mut pos = from;
    while let Some(i) = find(hay, &elem, pos) {
        // Whatever the verdict, the search goes on after this object: each part of the file is
        // then looked at a bounded number of times, however many matches a hostile file holds
        // (a match the object does not own rules out the others in it too).
        let Some(end) = find(bytes, &endobj, i) else {
            break;
        };
        pos = end;
        let Some((number, body)) = object_header_before(bytes, i) else {
            continue;
        };
        if find(&bytes[..end], &stream, i).is_some() {
            continue;
        }
        out.push(Blank { number, body, end });
    }
    out
}

/// `bytes` with each blank's body overwritten (` null` then spaces up to its `endobj`), copied
/// and overwritten on every core, each thread its own part of the output.
fn copy_blanked(bytes: &[u8], blanks: &[Blank]) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(bytes.len() / (CHUNK * MIN_CHUNKS_PER_THREAD))
        .max(1);
    let per = bytes.len().div_ceil(threads).max(1);
    let part = |at: usize, chunk: &mut [u8]| {
        let to = at + chunk.len();
        chunk.copy_from_slice(&bytes[at..to]);
        let first = blanks.partition_point(|b| b.end <= at);
        for b in blanks[first..].iter().take_while(|b| b.body < to) {
            let (s, e) = (b.body.max(at), b.end.min(to));
            chunk[s - at..e - at].fill(b' ');
            for (k, c) in b"null".iter().enumerate() {
                let p = b.body + 1 + k;
                if (s..e).contains(&p) {
                    chunk[p - at] = *c;
                }
            }
        }
    };
    std::thread::scope(|s| {
        let mut parts = out.chunks_mut(per).enumerate();
        let first = parts.next();
        for (i, chunk) in parts {
            s.spawn(move || part(i * per, chunk));
        }
        if let Some((_, chunk)) = first {
            part(0, chunk);
        }
    });
    out
}

/// For `/StructElem` at `i`: when it is the `/Type` of an uncompressed object's own dictionary
/// (`N G obj << … /Type /StructElem`, the keys in any order, as Chromium writes them or as an
/// optimiser that sorts keys does), its number N and the offset right after `obj`. Anything
/// else, a nested dictionary or text that only looks like one included, is not recognised.
fn object_header_before(buf: &[u8], i: usize) -> Option<(u32, usize)> {
    let back_ws = |j: &mut usize| {
        while *j > 0 && buf[*j - 1].is_ascii_whitespace() {
            *j -= 1;
        }
    };
    let mut j = i;
    back_ws(&mut j);
    let type_at = j.checked_sub(5).filter(|&k| &buf[k..k + 5] == b"/Type")?;
    // The nearest `obj` before: this object's header, unless it is the previous `endobj`
    // (then the match is outside any object) or text inside this one (not recognised).
    let obj = memchr::memmem::rfind(&buf[..type_at], b"obj")?;
    if obj >= 3 && &buf[obj - 3..obj] == b"end" {
        return None;
    }
    let body = obj + 3;
    let mut k = obj;
    back_ws(&mut k);
    let generation_end = k;
    while k > 0 && buf[k - 1].is_ascii_digit() {
        k -= 1; // generation
    }
    if k == generation_end || k == 0 || !buf[k - 1].is_ascii_whitespace() {
        return None;
    }
    back_ws(&mut k);
    let num_end = k;
    while k > 0 && buf[k - 1].is_ascii_digit() {
        k -= 1;
    }
    if k > 0 && !buf[k - 1].is_ascii_whitespace() {
        return None;
    }
    let number = std::str::from_utf8(&buf[k..num_end]).ok()?.parse().ok()?;
    (dict_depth(&buf[body..type_at]) == Some(1)).then_some((number, body))
}

/// How many dictionaries are open at the end of `body` (an object's bytes right after `obj`),
/// which must start with `<<`; strings, hex strings and comments skipped. `None` when the body
/// is not a dictionary or holds something else than dictionary syntax (`stream`, `endobj`).
fn dict_depth(body: &[u8]) -> Option<u32> {
    let start = body.iter().position(|c| !c.is_ascii_whitespace())?;
    if !body[start..].starts_with(b"<<") {
        return None;
    }
    let (mut depth, mut k) = (0u32, start);
    while k < body.len() {
        match body[k] {
            b'<' if body.get(k + 1) == Some(&b'<') => {
                depth += 1;
                k += 2;
            }
            b'>' if body.get(k + 1) == Some(&b'>') => {
                depth = depth.checked_sub(1)?;
                k += 2;
                if depth == 0 {
                    return None; // the object's dictionary closed before the match
                }
            }
            b'<' => k += body[k..].iter().position(|&c| c == b'>')? + 1,
            b'(' => k = after_literal_string(body, k)?,
            b'%' => {
                k += body[k..]
                    .iter()
                    .position(|&c| c == b'\r' || c == b'\n')
                    .unwrap_or(body.len() - k);
            }
            b'e' if body[k..].starts_with(b"endobj") => return None,
            b's' if body[k..].starts_with(b"stream") => return None,
            _ => k += 1,
        }
    }
    Some(depth)
}

/// The offset right after the literal string starting at `body[open]` (`(`), its nested
/// parentheses and backslash escapes followed; `None` when it does not end in `body`.
fn after_literal_string(body: &[u8], open: usize) -> Option<usize> {
    let (mut nest, mut k) = (0u32, open);
    while k < body.len() {
        match body[k] {
            b'\\' => k += 2,
            b'(' => {
                nest += 1;
                k += 1;
            }
            b')' => {
                nest -= 1;
                k += 1;
                if nest == 0 {
                    return Some(k);
                }
            }
            _ => k += 1,
        }
    }
    None
}

/// One classic cross-reference section: its subsections' entries, each `(object number, offset
/// of its 20-byte line)`, and where the section ends.
struct XrefSection {
    entries: Vec<(u32, usize)>,
    end: usize,
}

/// The classic cross-reference section starting at `x` (at its `xref` keyword), if every entry
/// is a 20-byte line `oooooooooo ggggg n|f` + two end-of-line bytes.
fn xref_section(buf: &[u8], x: usize) -> Option<XrefSection> {
    if !buf.get(x..)?.starts_with(b"xref") || !buf.get(x + 4)?.is_ascii_whitespace() {
        return None;
    }
    let mut entries = Vec::new();
    let mut p = x + 4;
    loop {
        while p < buf.len() && buf[p].is_ascii_whitespace() {
            p += 1;
        }
        let Some((start, q)) = read_uint(buf, p) else {
            return Some(XrefSection { entries, end: p });
        };
        let Some((count, q)) = read_uint(buf, skip_spaces(buf, q)) else {
            return Some(XrefSection { entries, end: p });
        };
        let mut e = q;
        while e < buf.len() && buf[e].is_ascii_whitespace() {
            e += 1;
        }
        for k in 0..count {
            let entry = e.checked_add(usize::try_from(k).ok()?.checked_mul(20)?)?;
            let line = buf.get(entry..entry + 20)?;
            let well_formed = line[..10].iter().all(u8::is_ascii_digit)
                && line[10] == b' '
                && line[11..16].iter().all(u8::is_ascii_digit)
                && line[16] == b' '
                && matches!(line[17], b'n' | b'f')
                && matches!(&line[18..], b" \n" | b" \r" | b"\r\n");
            if !well_formed {
                return None;
            }
            entries.push((start.checked_add(k)?, entry));
        }
        p = e + count as usize * 20;
    }
}

/// Rewrites the file's only cross-reference table without the `freed` objects' entries (nor
/// free ones), as subsections of consecutive numbers padded with spaces to its old length.
/// `false`, the file untouched, unless the table at `startxref` is classic, laid out as the
/// standard says, the only one (its trailer has no `/Prev` nor `/XRefStm`), and the shorter.
fn compact_xref(buf: &mut [u8], freed: &[u32]) -> bool {
    let Some(x) = last_startxref(buf) else {
        return false;
    };
    let Some(section) = xref_section(buf, x) else {
        return false;
    };
    let tail = &buf[section.end..];
    let Some(trailer_end) = Finder::new(b"startxref").find(tail) else {
        return false;
    };
    let trailer = &tail[..trailer_end];
    if !trailer.starts_with(b"trailer")
        || Finder::new(b"/Prev").find(trailer).is_some()
        || Finder::new(b"/XRefStm").find(trailer).is_some()
    {
        return false;
    }
    let kept: Vec<(u32, usize)> = section
        .entries
        .iter()
        .copied()
        .filter(|&(n, at)| buf[at + 17] == b'n' && freed.binary_search(&n).is_err())
        .collect();
    let mut table = Vec::with_capacity(kept.len() * 20 + 64);
    table.extend_from_slice(b"xref\n");
    let mut run_start = 0;
    while run_start < kept.len() {
        let mut run_end = run_start + 1;
        while run_end < kept.len() && kept[run_end].0 == kept[run_end - 1].0 + 1 {
            run_end += 1;
        }
        table.extend_from_slice(
            format!("{} {}\n", kept[run_start].0, run_end - run_start).as_bytes(),
        );
        for &(_, at) in &kept[run_start..run_end] {
            table.extend_from_slice(&buf[at..at + 20]);
        }
        run_start = run_end;
    }
    if table.len() > section.end - x {
        return false;
    }
    buf[x..x + table.len()].copy_from_slice(&table);
    buf[x + table.len()..section.end].fill(b' ');
    true
}

/// Where the last `startxref` of the file (in its last 2 KiB) says the cross-reference data is.
fn last_startxref(buf: &[u8]) -> Option<usize> {
    let from = buf.len().saturating_sub(2048);
    let at = from + memchr::memmem::rfind(&buf[from..], b"startxref")? + b"startxref".len();
    let mut p = at;
    while p < buf.len() && buf[p].is_ascii_whitespace() {
        p += 1;
    }
    let (offset, _) = read_uint(buf, p)?;
    usize::try_from(offset).ok()
}

/// Marks the `freed` objects (sorted) as free in every classic `xref` table of the file.
fn free_xref_entries(buf: &mut [u8], freed: &[u32]) {
    let mut pos = 0;
    let xref = Finder::new(b"xref");
    while let Some(x) = find(buf, &xref, pos) {
        pos = x + 4;
        if x > 0 && !buf[x - 1].is_ascii_whitespace()
            || buf.get(x + 4).is_none_or(|b| !b.is_ascii_whitespace())
        {
            continue;
        }
        let mut p = x + 4;
        // Subsections: "start count" then `count` entries of 20 bytes.
        loop {
            while p < buf.len() && buf[p].is_ascii_whitespace() {
                p += 1;
            }
            let Some((start, q)) = read_uint(buf, p) else {
                break;
            };
            let q = skip_spaces(buf, q);
            let Some((count, q)) = read_uint(buf, q) else {
                break;
            };
            let mut e = q;
            while e < buf.len() && buf[e].is_ascii_whitespace() {
                e += 1;
            }
            for k in 0..count {
                let entry = e + k as usize * 20;
                let Some(kind) = buf.get(entry + 17) else {
                    return;
                };
                if !matches!(kind, b'n' | b'f') || buf[entry + 10] != b' ' {
                    return; // not the layout we expect: leave the table alone
                }
                if *kind == b'n' && freed.binary_search(&(start + k)).is_ok() {
                    buf[entry + 17] = b'f';
                }
            }
            p = e + count as usize * 20;
        }
        pos = p.max(pos);
    }
}

fn skip_spaces(buf: &[u8], mut p: usize) -> usize {
    while p < buf.len() && buf[p] == b' ' {
        p += 1;
    }
    p
}

fn read_uint(buf: &[u8], p: usize) -> Option<(u32, usize)> {
    let mut q = p;
    let mut v: u32 = 0;
    while q < buf.len() && buf[q].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add(u32::from(buf[q] - b'0'))?;
        q += 1;
    }
    (q > p).then_some((v, q))
}

/// Position of `pat` in `hay` at or after `from` (memchr's SIMD substring search, each
/// pattern's searcher built once: a PDF is full of `/`, so a scan for the first byte then a
/// compare was most of a tagged file's load).
fn find(hay: &[u8], pat: &Finder<'_>, from: usize) -> Option<usize> {
    pat.find(hay.get(from..)?).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF whose structure tree has `elems` `/StructElem` objects (numbered from 6,
    /// each `pad` bytes of padding long), with a classic cross-reference table; `update` appends
    /// an incremental update (a second table, `/Prev` to the first) that rewrites the page.
    fn tagged_pdf(elems: u32, pad: usize, update: bool) -> Vec<u8> {
        tagged_pdf_keys(elems, pad, update, false)
    }

    /// [`tagged_pdf`], the structure elements' keys sorted (`/Type` last) when `sorted`, as
    /// qpdf and pikepdf write them.
    fn tagged_pdf_keys(elems: u32, pad: usize, update: bool, sorted: bool) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets: Vec<(u32, usize)> = Vec::new();
        let mut obj = |out: &mut Vec<u8>, n: u32, body: &[u8]| {
            offsets.push((n, out.len()));
            out.extend_from_slice(format!("{n} 0 obj\n").as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        };
        let content = b"BT /F1 12 Tf 72 720 Td (Codice) Tj ET";
        obj(
            &mut out,
            1,
            b"<</Type /Catalog /Pages 2 0 R /StructTreeRoot 5 0 R>>",
        );
        obj(&mut out, 2, b"<</Type /Pages /Kids [3 0 R] /Count 1>>");
        obj(
            &mut out,
            3,
            b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R>>",
        );
        let stream = format!(
            "<</Length {}>>\nstream\n{}\nendstream",
            content.len(),
            String::from_utf8_lossy(content)
        );
        obj(&mut out, 4, stream.as_bytes());
        obj(&mut out, 5, b"<</Type /StructTreeRoot /K [6 0 R]>>");
        for n in 6..6 + elems {
            let body = if sorted {
                format!(
                    "<< /K {} /P 5 0 R /S /TD /T (a \\) << x) /Type /StructElem{} >>",
                    n - 6,
                    " ".repeat(pad)
                )
            } else {
                format!(
                    "<</Type /StructElem\n/S /TD\n/P 5 0 R\n/K {}{}>>",
                    n - 6,
                    " ".repeat(pad)
                )
            };
            obj(&mut out, n, body.as_bytes());
        }
        let size = 6 + elems;
        let xref_at = out.len();
        out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
        let mut sorted = offsets.clone();
        sorted.sort();
        for (_, at) in &sorted {
            out.extend_from_slice(format!("{at:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<</Size {size} /Root 1 0 R>>\nstartxref\n{xref_at}\n%%EOF\n")
                .as_bytes(),
        );
        if update {
            let page_at = out.len();
            out.extend_from_slice(
                b"3 0 obj\n<</Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R>>\nendobj\n",
            );
            let second = out.len();
            out.extend_from_slice(
                format!(
                    "xref\n3 1\n{page_at:010} 00000 n \ntrailer\n<</Size {size} /Root 1 0 R /Prev {xref_at}>>\nstartxref\n{second}\n%%EOF\n"
                )
                .as_bytes(),
            );
        }
        out
    }

    /// What one search from the start blanks: the reference the chunked search must equal.
    fn serial_blanks(bytes: &[u8]) -> Vec<Blank> {
        blanks_from(bytes, 0, bytes.len())
    }

    fn load(bytes: &[u8]) -> lopdf::Document {
        lopdf::Document::load_mem(bytes).expect("lopdf loads the stripped file")
    }

    #[test]
    fn a_single_table_is_rewritten_without_the_structure_elements() {
        let pdf = tagged_pdf(50, 0, false);
        let stripped = without_structure_tree(&pdf);
        assert_eq!(stripped.len(), pdf.len(), "byte offsets stay valid");
        let text = String::from_utf8_lossy(&stripped);
        assert!(!text.contains("/StructElem"));
        assert!(
            text.contains("xref\n0 6\n") || text.contains("xref\n1 5\n"),
            "the table lists objects 1-5 only: {}",
            &text[text.find("xref").unwrap_or(0)..]
        );
        let doc = load(&stripped);
        assert_eq!(doc.get_pages().len(), 1);
        assert!(
            doc.get_object((4, 0)).is_ok(),
            "the content stream is still there"
        );
        for n in 6..56 {
            assert!(doc.get_object((n, 0)).is_err(), "object {n} is not read");
        }
        assert_eq!(
            doc.get_object((1, 0)).ok(),
            load(&pdf).get_object((1, 0)).ok(),
            "untouched objects read as before"
        );
    }

    #[test]
    fn structure_elements_with_sorted_keys_are_taken_out_too() {
        let pdf = tagged_pdf_keys(50, 0, false, true);
        let stripped = without_structure_tree(&pdf);
        assert_eq!(stripped.len(), pdf.len());
        assert!(!String::from_utf8_lossy(&stripped).contains("/StructElem"));
        let doc = load(&stripped);
        assert_eq!(doc.get_pages().len(), 1);
        for n in 6..56 {
            assert!(doc.get_object((n, 0)).is_err(), "object {n} is not read");
        }
    }

    #[test]
    fn only_an_objects_own_structure_element_dictionary_is_recognised() {
        let found = |body: &str| {
            let bytes = format!("%PDF-1.7\n{body}\n");
            serial_blanks(bytes.as_bytes())
                .iter()
                .map(|b| b.number)
                .collect::<Vec<_>>()
        };
        let cases: [(&str, &[u32], &str); 7] = [
            (
                "12 0 obj\n<< /K [ 7 0 R ] /P 3 0 R /S /TD /Type /StructElem >>\nendobj",
                &[12],
                "keys sorted",
            ),
            (
                "13 0 obj\n<< /Type /Annot /A << /Type /StructElem >> >>\nendobj",
                &[],
                "a nested dictionary",
            ),
            (
                "14 0 obj\n<< /S /TD >> /Type /StructElem\nendobj",
                &[],
                "after the dictionary closed",
            ),
            (
                "15 0 obj\nnull\nendobj\ntrailer << /Type /StructElem >>",
                &[],
                "outside any object",
            ),
            (
                "16 0 obj\n<< /Length 3 /Type /StructElem >>\nstream\nabc\nendstream\nendobj",
                &[],
                "a stream",
            ),
            (
                "17 0 obj\n<< /T (not obj) /Type /StructElem >>\nendobj",
                &[],
                "`obj` in a string: left alone",
            ),
            (
                "18 0 obj\n<< /ID <0A1B> /Alt (x >> \\) <<) /Type /StructElem >>\nendobj",
                &[18],
                "strings skipped",
            ),
        ];
        for (body, want, why) in cases {
            assert_eq!(found(body), want, "{why}");
        }
    }

    #[test]
    fn several_tables_keep_their_layout_and_mark_the_entries_free() {
        let pdf = tagged_pdf(20, 0, true);
        let stripped = without_structure_tree(&pdf);
        assert_eq!(stripped.len(), pdf.len());
        let text = String::from_utf8_lossy(&stripped);
        assert!(
            text.contains("xref\n0 26\n"),
            "the first table keeps its layout"
        );
        assert_eq!(text.matches(" 00000 f \n").count(), 20);
        let doc = load(&stripped);
        let page = doc.get_dictionary((3, 0)).expect("page");
        let media: Vec<f32> = page
            .get(b"MediaBox")
            .and_then(lopdf::Object::as_array)
            .expect("media box")
            .iter()
            .filter_map(|o| o.as_float().ok())
            .collect();
        assert_eq!(
            media,
            vec![0.0, 0.0, 600.0, 800.0],
            "the update's page is read"
        );
        assert!(doc.get_object((6, 0)).is_err());
    }

    #[test]
    fn a_file_without_structure_elements_is_not_copied() {
        let pdf = tagged_pdf(0, 0, false);
        assert!(matches!(without_structure_tree(&pdf), Cow::Borrowed(_)));
    }

    #[test]
    fn chunks_and_threads_blank_what_one_pass_would() {
        // ~9 MiB: several chunks per thread, objects across chunk and thread boundaries.
        let pdf = tagged_pdf(60_000, 77, false);
        assert!(pdf.len() > 2 * CHUNK * MIN_CHUNKS_PER_THREAD);
        let found = blanks(&pdf);
        assert_eq!(found, serial_blanks(&pdf));
        assert_eq!(found.len(), 60_000);
        let mut want = pdf.clone();
        for b in &found {
            want[b.body] = b' ';
            want[b.body + 1..b.body + 5].copy_from_slice(b"null");
            want[b.body + 5..b.end].fill(b' ');
        }
        assert!(copy_blanked(&pdf, &found) == want);
        let doc = load(&without_structure_tree(&pdf));
        assert_eq!(doc.get_pages().len(), 1);
        assert_eq!(doc.objects.len(), 5);
    }
}

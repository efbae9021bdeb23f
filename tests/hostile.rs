//! Hostile PDFs, one per class the reader must refuse or survive with a clear one-line error
//! and bounded time and memory: reference cycles (page tree, Form XObjects), deep nesting (in
//! objects, in content arrays, in saved graphics states), absurd counts and lengths. (The
//! inflate bomb is in the reader's unit tests; random damage in `fuzz`.)

use blackant::records::{Kind, parse_export};
use std::time::{Duration, Instant};

/// A PDF of these objects (1 is the catalog), with a cross-reference table.
fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

fn stream(data: &[u8], extra: &str) -> Vec<u8> {
    let mut out = format!("<< /Length {} {extra}>>\nstream\n", data.len()).into_bytes();
    out.extend(data);
    out.extend(b"\nendstream");
    out
}

const CATALOG: &[u8] = b"<< /Type /Catalog /Pages 2 0 R >>";
const PAGES: &[u8] = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>";

fn page(resources: &str) -> Vec<u8> {
    format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R {resources}>>")
        .into_bytes()
}

/// Read it as a customer export: the one-line error, within a time bound.
fn refused(bytes: &[u8]) -> String {
    let t = Instant::now();
    let err = parse_export(Kind::Customers, bytes).expect_err("a hostile file is refused");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    let msg = err.to_string();
    assert_eq!(msg.lines().count(), 1, "one line: {msg}");
    msg
}

#[test]
fn a_page_tree_that_contains_itself_has_no_pages() {
    let bytes = pdf(&[
        CATALOG.to_vec(),
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>".to_vec(),
        page(""),
        stream(b"BT ET", ""),
    ]);
    let msg = refused(&bytes);
    assert!(
        msg.contains("no pages") || msg.contains("no page has the table header"),
        "{msg}"
    );
}

#[test]
fn form_xobjects_that_draw_each_other_are_drawn_once() {
    let bytes = pdf(&[
        CATALOG.to_vec(),
        PAGES.to_vec(),
        page("/Resources << /XObject << /A 5 0 R >> >> "),
        stream(b"/A Do", ""),
        stream(
            b"/B Do",
            "/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /B 6 0 R >> >> ",
        ),
        stream(
            b"/A Do",
            "/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /A 5 0 R >> >> ",
        ),
    ]);
    assert!(refused(&bytes).contains("no page has the table header"));
}

#[test]
fn nesting_no_report_reaches_is_refused() {
    // Arrays nested 100,000 deep in an object: lopdf's parser stops at its depth limit.
    let mut deep = b"<< /Type /Catalog /Pages 2 0 R /X ".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    deep.extend(std::iter::repeat_n(b']', 100_000));
    deep.extend(b" >>");
    let msg = refused(&pdf(&[deep, PAGES.to_vec(), page(""), stream(b"", "")]));
    assert!(
        msg.contains("no pages") || msg.contains("cannot read the PDF structure"),
        "{msg}"
    );
    // A content array 200,000 deep: read without recursion, no header found.
    let mut content = b"BT /F1 9 Tf ".to_vec();
    content.extend(std::iter::repeat_n(b'[', 200_000));
    content.extend(std::iter::repeat_n(b']', 200_000));
    content.extend(b" TJ ET");
    let msg = refused(&pdf(&[
        CATALOG.to_vec(),
        PAGES.to_vec(),
        page(""),
        stream(&content, ""),
    ]));
    assert!(msg.contains("no page has the table header"), "{msg}");
    // Graphics states saved half a million times.
    let content = b"q ".repeat(500_000);
    let msg = refused(&pdf(&[
        CATALOG.to_vec(),
        PAGES.to_vec(),
        page(""),
        stream(&content, ""),
    ]));
    assert_eq!(msg, "page 1: more than 1024 saved graphics states (q)");
}

#[test]
fn absurd_counts_and_lengths_are_not_believed() {
    let bytes = pdf(&[
        CATALOG.to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 99999999999 >>".to_vec(),
        page(""),
        b"<< /Length 99999999999999 >>\nstream\nBT ET\nendstream".to_vec(),
    ]);
    assert!(refused(&bytes).contains("no page has the table header"));
}

/// Structure-element look-alikes by the hundred thousand (nested, so not the object's own)
/// do not make the look for the structure tree scan the file once per look-alike.
#[test]
fn structure_element_look_alikes_are_looked_at_once() {
    let nested = "<< /Type /StructElem /S /TD >> ".repeat(100_000);
    let bytes = pdf(&[
        CATALOG.to_vec(),
        PAGES.to_vec(),
        page(""),
        stream(b"BT ET", ""),
        format!("<< /K [ {nested}] >>").into_bytes(),
    ]);
    assert!(refused(&bytes).contains("no page has the table header"));
}

//! Every committed report fixture (`fixtures/pdfs/*.pdf`, printed by Chromium, reportlab and
//! fpdf2 from the generator's source data) parses to exactly its `*.expected.jsonl`, and its
//! completeness report says what its `*.meta.json` says (the columns ERP.md does not list
//! included: `unknown_columns`, none unless named).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::pdf::ColumnsError;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("pdfs")
}

struct Fixture {
    name: String,
    pdf: PathBuf,
    expected: Vec<serde_json::Value>,
    meta: serde_json::Value,
}

fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/pdfs exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    paths.sort();
    for pdf in paths {
        let name = pdf
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let expected_path = pdf.with_file_name(format!("{name}.expected.jsonl"));
        let Ok(expected) = std::fs::read_to_string(&expected_path) else {
            continue;
        };
        let expected = expected
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{name}: bad expected line {l:?}: {e}"))
            })
            .collect();
        let meta_path = pdf.with_file_name(format!("{name}.meta.json"));
        let meta = std::fs::read_to_string(&meta_path)
            .map(|m| serde_json::from_str(&m).unwrap_or_else(|e| panic!("{name}: bad meta: {e}")))
            .unwrap_or(serde_json::Value::Null);
        out.push(Fixture {
            name,
            pdf,
            expected,
            meta,
        });
    }
    out
}

fn kind_of(f: &Fixture) -> Kind {
    let from_meta = f
        .meta
        .get("kind")
        .and_then(|k| k.as_str())
        .map(str::to_string);
    let name =
        from_meta.unwrap_or_else(|| f.name.split('-').next().unwrap_or_default().to_string());
    Kind::from_name(&name).unwrap_or_else(|| panic!("{}: unknown kind {name:?}", f.name))
}

/// The first difference between what was parsed and what was expected, in words.
fn first_difference(
    kind: Kind,
    got: &[serde_json::Value],
    expected: &[serde_json::Value],
) -> Option<String> {
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        for c in kind.columns() {
            if g.get(c.field) != e.get(c.field) {
                return Some(format!(
                    "record {i} (key {}), field {:?}: expected {}, got {}",
                    e.get(kind.columns()[0].field)
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    c.field,
                    e.get(c.field)
                        .map(ToString::to_string)
                        .unwrap_or("nothing".into()),
                    g.get(c.field)
                        .map(ToString::to_string)
                        .unwrap_or("nothing".into()),
                ));
            }
        }
    }
    (got.len() != expected.len())
        .then(|| format!("{} records parsed, {} expected", got.len(), expected.len()))
}

#[test]
fn every_fixture_parses_to_its_expected_records() {
    let all = fixtures();
    assert!(
        all.len() >= 6,
        "expected fixtures in {}",
        fixtures_dir().display()
    );
    let mut failures = Vec::new();
    let mut chromium_kinds = BTreeSet::new();
    for f in &all {
        let kind = kind_of(f);
        if f.meta.get("producer").and_then(|p| p.as_str()) == Some("chromium") {
            chromium_kinds.insert(kind);
        }
        let bytes = std::fs::read(&f.pdf).expect("read fixture");
        let export = match parse_export(kind, &bytes) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{}: {e}", f.name));
                continue;
            }
        };
        let got: Vec<serde_json::Value> = export
            .records()
            .map(|r| serde_json::from_str(&r.to_json()).expect("record JSON parses"))
            .collect();
        if let Some(diff) = first_difference(kind, &got, &f.expected) {
            failures.push(format!("{}: {diff}", f.name));
            continue;
        }
        // Field order is ERP.md's column order.
        if let Some(r) = export.records().next() {
            let json = r.to_json();
            let positions: Vec<usize> = kind
                .columns()
                .iter()
                .filter_map(|c| json.find(&format!("\"{}\":", c.field)))
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "{}: fields out of order in {json}",
                f.name
            );
        }
        // Columns ERP.md does not list: exactly those the meta names (none when it names none),
        // so a reader that took part of a known title for a column of its own fails here.
        let unknown: Vec<String> = f
            .meta
            .get("unknown_columns")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if export.unknown_columns != unknown {
            failures.push(format!(
                "{}: unknown columns {:?}, expected {unknown:?}",
                f.name, export.unknown_columns
            ));
        }
        let c = &export.completeness;
        if let Some(complete) = f.meta.get("complete").and_then(|v| v.as_bool())
            && complete != export.is_complete()
        {
            failures.push(format!(
                "{}: complete = {}, expected {complete}: {:?}",
                f.name,
                export.is_complete(),
                c.problems()
            ));
        }
        if let Some(k) = f.meta.get("declared_total").and_then(|v| v.as_u64())
            && c.declared_total != Some(k)
        {
            failures.push(format!(
                "{}: declared total {:?}, expected {k}",
                f.name, c.declared_total
            ));
        }
        if let Some(missing) = f.meta.get("missing_pages").and_then(|v| v.as_array()) {
            let missing: Vec<u32> = missing
                .iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as u32)
                .collect();
            if c.missing_pages() != missing {
                failures.push(format!(
                    "{}: missing pages {:?}, expected {missing:?}",
                    f.name,
                    c.missing_pages()
                ));
            }
        }
        // Records are grouped by the physical page they were printed on, in order.
        let pages: Vec<u32> = export.pages.iter().map(|p| p.page).collect();
        assert_eq!(
            pages,
            (1..=c.physical_pages).collect::<Vec<_>>(),
            "{}",
            f.name
        );
    }
    assert!(
        failures.is_empty(),
        "fixture failures:\n{}",
        failures.join("\n")
    );
    for kind in Kind::ALL {
        assert!(
            chromium_kinds.contains(&kind),
            "no Chromium fixture for {kind}"
        );
    }
}

#[test]
fn truncated_fixture_is_reported_incomplete() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.meta.get("complete").and_then(|v| v.as_bool()) == Some(false))
        .expect("a truncated fixture");
    let export = parse_export(kind_of(&f), &std::fs::read(&f.pdf).unwrap()).unwrap();
    assert!(!export.is_complete());
    assert!(!export.completeness.missing_pages().is_empty());
    assert!(export.record_count() < export.completeness.declared_total.unwrap() as usize);
}

#[test]
fn a_fixture_read_as_the_wrong_kind_fails_cleanly() {
    let f = fixtures()
        .into_iter()
        .find(|f| kind_of(f) == Kind::Customers)
        .expect("a customers fixture");
    let err = parse_export(Kind::Invoices, &std::fs::read(&f.pdf).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::Pdf(PdfError::Columns(ColumnsError::NoHeader { .. }))
        ),
        "{err}"
    );
}

/// Whether any font dictionary of the file still has a `/ToUnicode`.
fn has_to_unicode(bytes: &[u8]) -> bool {
    let doc = lopdf::Document::load_mem(bytes).expect("fixture loads");
    doc.objects.values().any(|o| {
        o.as_dict()
            .is_ok_and(|d| d.has_type(b"Font") && d.has(b"ToUnicode"))
    })
}

/// Reports re-distilled by an optimiser (Chromium's TrueType subsets) and by Ghostscript's
/// print-driver path (Type1C subsets with their own encoding) lost every /ToUnicode; their text
/// is read from the embedded fonts' own tables, exactly.
#[test]
fn reports_whose_fonts_lost_to_unicode_are_read_from_the_embedded_fonts() {
    for (stem, kind) in [
        ("invoices-chromium-lost-tounicode", Kind::Invoices),
        ("ddt-ghostscript-type1c", Kind::Ddt),
    ] {
        let f = fixtures()
            .into_iter()
            .find(|f| f.name == stem)
            .unwrap_or_else(|| panic!("fixture {stem} with its expected records"));
        let bytes = std::fs::read(&f.pdf).unwrap();
        assert!(!has_to_unicode(&bytes), "{stem} still has a /ToUnicode");
        let export = parse_export(kind, &bytes).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let got: Vec<serde_json::Value> = export
            .records()
            .map(|r| serde_json::from_str(&r.to_json()).expect("record JSON parses"))
            .collect();
        assert_eq!(
            first_difference(kind, &got, &f.expected),
            None,
            "{stem} read differently from its source report"
        );
    }
}

/// Ghostscript's pdfwrite drops the /ToUnicode of ReportLab's TrueType subsets, leaving
/// symbolic fonts whose glyph names are private-use slots (uniF041): nothing in the file says
/// which letter a glyph is, so the report is refused in one line, never read by guesswork.
#[test]
fn a_symbolic_font_whose_glyphs_name_no_character_is_refused() {
    let bytes = std::fs::read(fixtures_dir().join("prices-ghostscript-symbolic.pdf")).unwrap();
    assert!(!has_to_unicode(&bytes));
    let err = parse_export(Kind::Prices, &bytes).unwrap_err().to_string();
    assert_eq!(
        err,
        "page 1: font TPJYIZ+DejaVuSans-Bold cannot be decoded to text: code 0x41 has no text \
         mapping (the font has no /ToUnicode and no table of its embedded program names a \
         character for this glyph)"
    );
}

/// A glyph that the embedded font maps from two characters (Liberation Sans draws U+00B7 and
/// U+2219 with one glyph) cannot be told apart without ToUnicode: refused, naming both.
#[test]
fn a_glyph_two_characters_share_is_refused_not_guessed() {
    let mut doc =
        lopdf::Document::load(fixtures_dir().join("customers-chromium-wrapped.pdf")).unwrap();
    for object in doc.objects.values_mut() {
        if let Ok(d) = object.as_dict_mut()
            && d.has_type(b"Font")
        {
            d.remove(b"ToUnicode");
        }
    }
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    let err = parse_export(Kind::Customers, &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("maps both '·' (U+00B7) and '∙' (U+2219) to this glyph: refused, not guessed"),
        "{err}"
    );
}

/// The reader's output is byte for byte what it was: every fixture's records, printed as
/// `blackant parse` prints them (one JSON object per line), equal its `*.expected.jsonl` file.
/// A change made for speed must not move a byte.
#[test]
fn every_fixture_prints_byte_for_byte_its_expected_file() {
    let mut checked = 0;
    for f in fixtures() {
        let bytes = std::fs::read(&f.pdf).unwrap();
        let export =
            parse_export(kind_of(&f), &bytes).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        let mut printed = String::new();
        for r in export.records() {
            printed.push_str(&r.to_json());
            printed.push('\n');
        }
        let expected =
            std::fs::read_to_string(f.pdf.with_file_name(format!("{}.expected.jsonl", f.name)))
                .unwrap();
        assert!(
            printed == expected,
            "{}: the printed records differ from the file",
            f.name
        );
        checked += 1;
    }
    assert!(checked >= 18, "{checked} fixtures checked");
}

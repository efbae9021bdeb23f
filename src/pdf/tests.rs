//! Reader tests on PDFs built here with lopdf, one producer trait at a time: standard fonts
//! without /Widths, TJ kerning, Type0/Identity-H one glyph per Tj, Form XObjects, /Rotate,
//! font size carried by Tm, `cm` scaling, several content streams, custom encodings, and the
//! failures (undecodable fonts, encryption, no header).

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};

use super::font::helvetica_width;
use super::*;

// ------------------------------------------------------------------ building PDFs

pub(crate) struct Pdf {
    doc: Document,
    pages_id: ObjectId,
    kids: Vec<Object>,
}

impl Pdf {
    pub(crate) fn new() -> Pdf {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        Pdf {
            doc,
            pages_id,
            kids: Vec::new(),
        }
    }

    fn add(&mut self, o: impl Into<Object>) -> ObjectId {
        self.doc.add_object(o)
    }

    /// Standard Helvetica, WinAnsi, no /Widths: widths must come from the AFM.
    pub(crate) fn helvetica(&mut self) -> ObjectId {
        self.add(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
        })
    }

    /// A Type0 / Identity-H font whose CIDs are indices into [`CHARSET`] (+1), with a W array
    /// of Helvetica widths and, optionally, a ToUnicode CMap.
    fn type0(&mut self, to_unicode: bool) -> ObjectId {
        let widths: Vec<Object> = CHARSET
            .chars()
            .map(|c| Object::Real(helvetica_width(&c.to_string())))
            .collect();
        let descendant = self.add(dictionary! {
            "Type" => "Font", "Subtype" => "CIDFontType2", "BaseFont" => "AAAAAA+LiberationSans",
            "CIDSystemInfo" => dictionary! { "Registry" => Object::string_literal("Adobe"), "Ordering" => Object::string_literal("Identity"), "Supplement" => 0 },
            "DW" => 0,
            "W" => vec![Object::Integer(1), Object::Array(widths)],
        });
        let mut font = dictionary! {
            "Type" => "Font", "Subtype" => "Type0", "BaseFont" => "AAAAAA+LiberationSans", "Encoding" => "Identity-H",
            "DescendantFonts" => vec![descendant.into()],
        };
        if to_unicode {
            let mut cmap = String::from(
                "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Adobe-Identity-UCS def\n\
                 1 begincodespacerange <0000> <FFFF> endcodespacerange\n",
            );
            let chars: Vec<char> = CHARSET.chars().collect();
            for chunk in chars.chunks(100).enumerate() {
                cmap.push_str(&format!("{} beginbfchar\n", chunk.1.len()));
                for (i, c) in chunk.1.iter().enumerate() {
                    let cid = chunk.0 * 100 + i + 1;
                    cmap.push_str(&format!("<{cid:04X}> <{:04X}>\n", *c as u32));
                }
                cmap.push_str("endbfchar\n");
            }
            cmap.push_str("endcmap CMapName currentdict /CMap defineresource pop end end");
            let id = self.add(Stream::new(dictionary! {}, cmap.into_bytes()));
            font.set("ToUnicode", id);
        }
        self.add(font)
    }

    pub(crate) fn page(&mut self, streams: &[String], resources: Dictionary, extra: Dictionary) {
        let contents: Vec<Object> = streams
            .iter()
            .map(|s| {
                Object::Reference(self.add(Stream::new(dictionary! {}, s.clone().into_bytes())))
            })
            .collect();
        let mut page = dictionary! {
            "Type" => "Page", "Parent" => self.pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 842.into(), 595.into()],
            "Contents" => contents, "Resources" => resources,
        };
        for (k, v) in extra.iter() {
            page.set(k.clone(), v.clone());
        }
        let id = self.add(page);
        self.kids.push(id.into());
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.finish_with(|_| {})
    }

    fn finish_with(mut self, tweak: impl FnOnce(&mut Document)) -> Vec<u8> {
        let count = self.kids.len() as i64;
        self.doc.objects.insert(
            self.pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => self.kids.clone(), "Count" => count },
            ),
        );
        let catalog = self.add(dictionary! { "Type" => "Catalog", "Pages" => self.pages_id });
        self.doc.trailer.set("Root", catalog);
        tweak(&mut self.doc);
        let mut out = Vec::new();
        self.doc.save_to(&mut out).expect("save test PDF");
        out
    }
}

const CHARSET: &str = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~àèéìòùÀÈ€";

/// WinAnsi bytes of a test string as a PDF hex string.
fn hex(s: &str) -> String {
    let mut out = String::from("<");
    for c in s.chars() {
        let b = match c {
            '€' => 0x80,
            c if (c as u32) < 0x100 => c as u32,
            c => panic!("no WinAnsi byte for {c:?}"),
        };
        out.push_str(&format!("{b:02X}"));
    }
    out.push('>');
    out
}

/// How the test "producer" draws text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    valign: VerticalAlign,
    /// `/F1 1 Tf` and the size in the text matrix.
    tm_size: bool,
    /// Everything drawn at `scale`× under a `1/scale` `cm`.
    scale: f32,
    /// Words drawn as TJ arrays with kerning inside words and no space glyphs.
    tj: bool,
    /// Type0 font, one glyph per Tj after a Td (Chromium's way).
    type0: bool,
}

pub(crate) const PLAIN: Style = Style {
    valign: VerticalAlign::Top,
    tm_size: false,
    scale: 1.0,
    tj: false,
    type0: false,
};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    pub title: &'static str,
    pub right: bool,
    /// Left edge for left-aligned columns, right edge for right-aligned ones.
    pub x: f32,
}

fn columns(cols: &[Col]) -> Vec<TableColumn<'static>> {
    cols.iter()
        .map(|c| TableColumn {
            title: c.title,
            align: if c.right { Align::Right } else { Align::Left },
        })
        .collect()
}

const KERN: f32 = 12.0;

/// Advance of `s` at `size` as the style draws it.
fn width(style: Style, s: &str, size: f32) -> f32 {
    let mut w = helvetica_width(s);
    if style.tj {
        // One kerning number between the two halves of every word of 2+ letters.
        let kerns = s.split(' ').filter(|w| w.chars().count() >= 2).count() as f32;
        w -= kerns * KERN;
    }
    w * size / 1000.0
}

fn draw(out: &mut String, style: Style, x: f32, y: f32, size: f32, s: &str) {
    if s.is_empty() {
        return;
    }
    let k = style.scale;
    let (x, y, size) = (x * k, y * k, size * k);
    if style.type0 {
        out.push_str(&format!("BT /T0 {size} Tf {x} {y} Td\n"));
        let mut pending = 0.0;
        for c in s.chars() {
            let w = helvetica_width(&c.to_string()) * size / 1000.0;
            if c != ' ' {
                let cid = CHARSET
                    .chars()
                    .position(|d| d == c)
                    .expect("char in CHARSET")
                    + 1;
                out.push_str(&format!("{pending} 0 Td <{cid:04X}> Tj\n"));
                pending = 0.0;
            }
            pending += w;
        }
        out.push_str("ET\n");
    } else if style.tj {
        let mut items = Vec::new();
        for (i, word) in s.split(' ').enumerate() {
            if i > 0 {
                items.push(format!("-{}", helvetica_width(" ")));
            }
            let chars: Vec<char> = word.chars().collect();
            if chars.len() >= 2 {
                let mid = chars.len() / 2;
                items.push(hex(&chars[..mid].iter().collect::<String>()));
                items.push(format!("{KERN}"));
                items.push(hex(&chars[mid..].iter().collect::<String>()));
            } else {
                items.push(hex(word));
            }
        }
        out.push_str(&format!(
            "BT /F1 {size} Tf {x} {y} Td [{}] TJ ET\n",
            items.join(" ")
        ));
    } else if style.tm_size {
        out.push_str(&format!(
            "BT /F1 1 Tf {size} 0 0 {size} {x} {y} Tm {} Tj ET\n",
            hex(s)
        ));
    } else {
        out.push_str(&format!("BT /F1 {size} Tf {x} {y} Td {} Tj ET\n", hex(s)));
    }
}

const SIZE: f32 = 8.0;
const LEAD: f32 = 10.0;

/// A report page's content: page header, wrapped titles (`\n`), rows whose cells may wrap
/// (`\n`), optional total line and footer.
pub(crate) fn report(
    cols: &[Col],
    rows: &[Vec<&str>],
    page: Option<(u32, u32)>,
    total: Option<usize>,
    style: Style,
) -> String {
    let mut out = String::new();
    if style.scale != 1.0 {
        out.push_str(&format!(
            "q {} 0 0 {} 0 0 cm\n",
            1.0 / style.scale,
            1.0 / style.scale
        ));
    }
    draw(&mut out, style, 40.0, 560.0, 11.0, "ACME Forniture S.p.A.");
    draw(&mut out, style, 40.0, 545.0, 10.0, "Elenco di prova");
    draw(
        &mut out,
        style,
        40.0,
        532.0,
        7.0,
        "Generato il 21/11/2026 14:30",
    );
    let mut y = 512.0;
    if !rows.is_empty() || total.is_none() {
        let title_lines = cols
            .iter()
            .map(|c| c.title.split('\n').count())
            .max()
            .unwrap_or(1);
        for c in cols {
            for (i, part) in c.title.split('\n').enumerate() {
                let x = if c.right {
                    c.x - width(style, part, SIZE)
                } else {
                    c.x
                };
                draw(&mut out, style, x, y - i as f32 * LEAD, SIZE, part);
            }
        }
        y -= title_lines as f32 * LEAD + 6.0;
        for row in rows {
            let n = row.iter().map(|c| c.split('\n').count()).max().unwrap_or(1);
            for (c, cell) in cols.iter().zip(row) {
                let parts: Vec<&str> = cell.split('\n').collect();
                let offset = match style.valign {
                    VerticalAlign::Top => 0.0,
                    VerticalAlign::Middle => (n - parts.len()) as f32 * LEAD / 2.0,
                    VerticalAlign::Bottom => (n - parts.len()) as f32 * LEAD,
                };
                for (i, part) in parts.iter().enumerate() {
                    let x = if c.right {
                        c.x - width(style, part, SIZE)
                    } else {
                        c.x
                    };
                    draw(&mut out, style, x, y - offset - i as f32 * LEAD, SIZE, part);
                }
            }
            y -= n as f32 * LEAD + 4.0;
        }
    }
    if let Some(k) = total {
        draw(
            &mut out,
            style,
            40.0,
            y - 10.0,
            9.0,
            &format!("Totale record: {k}"),
        );
    }
    if let Some((n, m)) = page {
        draw(
            &mut out,
            style,
            380.0,
            30.0,
            7.0,
            &format!("Pagina {n} di {m}"),
        );
    }
    if style.scale != 1.0 {
        out.push_str("Q\n");
    }
    out
}

pub(crate) fn resources(f1: ObjectId, t0: Option<ObjectId>) -> Dictionary {
    let mut fonts = dictionary! { "F1" => f1 };
    if let Some(t0) = t0 {
        fonts.set("T0", t0);
    }
    dictionary! { "Font" => fonts }
}

const COLS: &[Col] = &[
    Col {
        title: "Codice",
        right: false,
        x: 40.0,
    },
    Col {
        title: "Ragione sociale",
        right: false,
        x: 100.0,
    },
    Col {
        title: "Città",
        right: false,
        x: 260.0,
    },
    Col {
        title: "Q.tà",
        right: true,
        x: 400.0,
    },
    Col {
        title: "Importo",
        right: true,
        x: 480.0,
    },
    Col {
        title: "Consegna\nprevista",
        right: false,
        x: 500.0,
    },
    Col {
        title: "Note",
        right: false,
        x: 580.0,
    },
];

fn rows() -> Vec<Vec<&'static str>> {
    vec![
        vec![
            "C0001",
            "Rossi & Figli\nS.r.l.",
            "Forlì",
            "1.000",
            "1.234,50 €",
            "01/02/2026",
            "",
        ],
        vec![
            "C0002",
            "Bar dell'Angolo",
            "Cantù",
            "",
            "12,5",
            "",
            "Consegna al\nmattino entro\nle 10",
        ],
        vec![
            "C0003",
            "Società Agricola",
            "Roma",
            "7",
            "-3,00 €",
            "15/03/2026",
            "è urgente",
        ],
    ]
}

fn expected_rows() -> Vec<Vec<String>> {
    rows()
        .into_iter()
        .map(|r| r.into_iter().map(|c| c.replace('\n', " ")).collect())
        .collect()
}

fn one_page_report(style: Style) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let t0 = pdf.type0(true);
    let content = report(COLS, &rows(), Some((1, 1)), Some(3), style);
    pdf.page(&[content], resources(f1, Some(t0)), dictionary! {});
    pdf.finish()
}

fn cells(table: &Table) -> Vec<Vec<String>> {
    table.rows.iter().map(|r| r.cells.clone()).collect()
}

// ------------------------------------------------------------------ producers

#[test]
fn standard_font_without_widths_uses_afm_metrics() {
    let t = read_table(&one_page_report(PLAIN), &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
    assert!(
        t.completeness.is_complete(),
        "{:?}",
        t.completeness.problems()
    );
    assert_eq!(
        t.rows.iter().map(|r| r.page).collect::<Vec<_>>(),
        vec![1, 1, 1]
    );
}

#[test]
fn tj_arrays_with_kerning_inside_words() {
    let style = Style { tj: true, ..PLAIN };
    let t = read_table(&one_page_report(style), &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
}

#[test]
fn type0_identity_h_one_glyph_per_tj() {
    let style = Style {
        type0: true,
        ..PLAIN
    };
    let t = read_table(&one_page_report(style), &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
}

#[test]
fn font_size_in_text_matrix_and_scaled_ctm() {
    let style = Style {
        tm_size: true,
        scale: 2.5,
        ..PLAIN
    };
    let t = read_table(&one_page_report(style), &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
    let style = Style {
        type0: true,
        scale: 0.5,
        ..PLAIN
    };
    let t = read_table(&one_page_report(style), &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
}

#[test]
fn middle_and_bottom_aligned_cells_are_detected() {
    for valign in [
        VerticalAlign::Middle,
        VerticalAlign::Bottom,
        VerticalAlign::Top,
    ] {
        let t =
            read_table(&one_page_report(Style { valign, ..PLAIN }), &columns(COLS)).expect("table");
        assert_eq!(t.vertical_align, valign);
        assert_eq!(cells(&t), expected_rows(), "{valign:?}");
    }
}

#[test]
fn rotated_page_reads_like_the_landscape_original() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    // A portrait page shown landscape: the content maps landscape (X, Y) to user space.
    let content = format!(
        "q 0 1 -1 0 595 0 cm\n{}Q\n",
        report(COLS, &rows(), Some((1, 1)), Some(3), PLAIN)
    );
    pdf.page(
        &[content],
        resources(f1, None),
        dictionary! { "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()], "Rotate" => 90 },
    );
    let bytes = pdf.finish();
    let t = read_table(&bytes, &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
    let page = PdfText::load(&bytes).unwrap().page(1).unwrap();
    assert_eq!((page.width, page.height), (842.0, 595.0));
}

#[test]
fn form_xobject_with_matrix_and_own_resources() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let inner = report(COLS, &rows(), Some((1, 1)), Some(3), PLAIN);
    let form = pdf.add(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), 842.into(), 595.into()],
            "Matrix" => vec![1.into(), 0.into(), 0.into(), 1.into(), 0.into(), (-10).into()],
            "Resources" => resources(f1, None),
        },
        inner.into_bytes(),
    ));
    // The page's own resources have no F1: the form must use its own.
    let page_resources = dictionary! { "XObject" => dictionary! { "Fm0" => form } };
    pdf.page(
        &["q 1 0 0 1 0 10 cm /Fm0 Do Q".to_string()],
        page_resources,
        dictionary! {},
    );
    let t = read_table(&pdf.finish(), &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
}

#[test]
fn several_content_streams_and_inherited_resources() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let content = report(COLS, &rows(), Some((1, 1)), Some(3), PLAIN);
    let lines: Vec<&str> = content.lines().collect();
    let third = lines.len() / 3;
    let streams = vec![
        lines[..third].join("\n"),
        lines[third..2 * third].join("\n"),
        lines[2 * third..].join("\n"),
    ];
    pdf.page(&streams, Dictionary::new(), dictionary! {});
    let res = resources(f1, None);
    let bytes = pdf.finish_with(|doc| {
        // Move /Resources from the page to the page tree root: pages inherit it.
        let pages_id = doc
            .catalog()
            .unwrap()
            .get(b"Pages")
            .unwrap()
            .as_reference()
            .unwrap();
        let page_id = *doc.get_pages().values().next().unwrap();
        doc.get_dictionary_mut(page_id)
            .unwrap()
            .remove(b"Resources");
        doc.get_dictionary_mut(pages_id)
            .unwrap()
            .set("Resources", res);
    });
    let t = read_table(&bytes, &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
}

#[test]
fn word_and_character_spacing_move_glyphs() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    pdf.page(
        &["BT /F1 10 Tf 5 Tw 2 Tc 50 Tz 100 100 Td (ab c) Tj ET".to_string()],
        resources(f1, None),
        dictionary! {},
    );
    let page = PdfText::load(&pdf.finish()).unwrap().page(1).unwrap();
    let spans: Vec<(&str, f32)> = page.spans.iter().map(|s| (page.text(s), s.x0)).collect();
    // a: 556, b: 556, space: 278 (Helvetica). Each glyph advances (w*10 + Tc) * 0.5; the
    // space also gets Tw.
    let c_x = 100.0 + ((5.56 + 2.0) + (5.56 + 2.0) + (2.78 + 2.0 + 5.0)) * 0.5;
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0], ("ab", 100.0));
    assert_eq!(spans[1].0, "c");
    assert!((spans[1].1 - c_x).abs() < 0.01, "{} vs {c_x}", spans[1].1);
    assert!(page.spans[1].space_before);
}

#[test]
fn tight_columns_are_split_at_the_widest_gap() {
    // "AAAA BBBB" ends 3 pt before the right-aligned amount starts: one phrase on the page.
    let size = SIZE;
    let w1 = helvetica_width("AAAA BBBB") * size / 1000.0;
    let w2 = helvetica_width("12,50") * size / 1000.0;
    let right = 40.0 + w1 + 3.0 + w2;
    let cols = [
        Col {
            title: "Codice",
            right: false,
            x: 10.0,
        },
        Col {
            title: "Nome",
            right: false,
            x: 40.0,
        },
        Col {
            title: "Importo",
            right: true,
            x: right,
        },
    ];
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let content = report(
        &cols,
        &[vec!["X1", "AAAA BBBB", "12,50"], vec!["X2", "CC", "1,00"]],
        Some((1, 1)),
        Some(2),
        PLAIN,
    );
    pdf.page(&[content], resources(f1, None), dictionary! {});
    let t = read_table(&pdf.finish(), &columns(&cols)).expect("table");
    assert_eq!(
        cells(&t),
        vec![vec!["X1", "AAAA BBBB", "12,50"], vec!["X2", "CC", "1,00"]]
    );
}

#[test]
fn pages_without_header_hold_no_rows_and_completeness_is_reported() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let r = rows();
    pdf.page(
        &[report(COLS, &r[..2], Some((1, 3)), None, PLAIN)],
        resources(f1, None),
        dictionary! {},
    );
    pdf.page(
        &[report(COLS, &r[2..], Some((2, 3)), None, PLAIN)],
        resources(f1, None),
        dictionary! {},
    );
    pdf.page(
        &[report(COLS, &[], Some((3, 3)), Some(3), PLAIN)],
        resources(f1, None),
        dictionary! {},
    );
    let bytes = pdf.finish();
    let t = read_table(&bytes, &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
    assert_eq!(
        t.rows.iter().map(|r| r.page).collect::<Vec<_>>(),
        vec![1, 1, 2]
    );
    assert_eq!(t.header_pages, vec![1, 2]);
    assert!(
        t.completeness.is_complete(),
        "{:?}",
        t.completeness.problems()
    );

    // The same export with its middle page lost.
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    pdf.page(
        &[report(COLS, &r[..2], Some((1, 3)), None, PLAIN)],
        resources(f1, None),
        dictionary! {},
    );
    pdf.page(
        &[report(COLS, &[], Some((3, 3)), Some(3), PLAIN)],
        resources(f1, None),
        dictionary! {},
    );
    let t = read_table(&pdf.finish(), &columns(COLS)).expect("table");
    assert_eq!(t.rows.len(), 2);
    assert!(!t.completeness.is_complete());
    assert_eq!(t.completeness.missing_pages(), vec![2]);
    assert_eq!(t.completeness.declared_total, Some(3));
}

#[test]
fn continuation_lines_at_the_top_of_a_page_finish_the_previous_row() {
    // Top-aligned rows; page 2 starts with the last wrapped line of page 1's last row.
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let cols = &COLS[..3];
    pdf.page(
        &[report(
            cols,
            &[
                vec!["C1", "Uno\nDue", "Roma"],
                vec!["C2", "Tre\nQuattro", "Bari"],
            ],
            Some((1, 2)),
            None,
            PLAIN,
        )],
        resources(f1, None),
        dictionary! {},
    );
    pdf.page(
        &[report(
            cols,
            &[vec!["", "Cinque", ""], vec!["C3", "Sei", "Pisa"]],
            Some((2, 2)),
            Some(3),
            PLAIN,
        )],
        resources(f1, None),
        dictionary! {},
    );
    let t = read_table(&pdf.finish(), &columns(cols)).expect("table");
    assert_eq!(
        cells(&t),
        vec![
            vec!["C1", "Uno Due", "Roma"],
            vec!["C2", "Tre Quattro Cinque", "Bari"],
            vec!["C3", "Sei", "Pisa"]
        ]
    );
}

// ------------------------------------------------------------------ encodings

fn simple_font_page(font: Dictionary, content: &str) -> Result<Vec<PageText>, PdfError> {
    let mut pdf = Pdf::new();
    let id = pdf.add(font);
    pdf.page(
        &[content.to_string()],
        dictionary! { "Font" => dictionary! { "F1" => id } },
        dictionary! {},
    );
    PdfText::load(&pdf.finish())?.pages()
}

fn page_text(page: &PageText) -> String {
    page.spans
        .iter()
        .map(|s| page.text(s))
        .collect::<Vec<_>>()
        .join("|")
}

#[test]
fn differences_with_agl_and_uni_names() {
    let font = dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "ABCDEF+Custom",
        "FirstChar" => 1, "Widths" => vec![600.into(); 6],
        "Encoding" => dictionary! {
            "Type" => "Encoding", "BaseEncoding" => "WinAnsiEncoding",
            "Differences" => vec![1.into(), "C".into(), "i".into(), "t".into(), "agrave".into(), "uni20AC".into(), "f_i".into()],
        },
    };
    let pages = simple_font_page(
        font,
        "BT /F1 10 Tf 10 10 Td <010203030405> Tj (A) Tj <06> Tj ET",
    )
    .unwrap();
    assert_eq!(page_text(&pages[0]), "Città€|A|fi");
    // /Widths (600) drive the advance: the second string starts after 6 glyphs.
    assert!((pages[0].spans[1].x0 - (10.0 + 6.0 * 6.0)).abs() < 0.01);
}

#[test]
fn to_unicode_wins_over_unknown_glyph_names() {
    let cmap =
        b"1 begincodespacerange <00> <FF> endcodespacerange 1 beginbfchar <01> <005A> endbfchar"
            .to_vec();
    let mut pdf = Pdf::new();
    let tu = pdf.add(Stream::new(dictionary! {}, cmap));
    let font = dictionary! {
        "Type" => "Font", "Subtype" => "TrueType", "BaseFont" => "ABCDEF+Subset",
        "FirstChar" => 1, "Widths" => vec![500.into()],
        "Encoding" => dictionary! { "Differences" => vec![1.into(), "g42".into()] },
        "ToUnicode" => tu,
    };
    let id = pdf.add(font);
    pdf.page(
        &["BT /F1 10 Tf 0 0 Td <01> Tj ET".to_string()],
        dictionary! { "Font" => dictionary! { "F1" => id } },
        dictionary! {},
    );
    let pages = PdfText::load(&pdf.finish()).unwrap().pages().unwrap();
    assert_eq!(page_text(&pages[0]), "Z");
}

#[test]
fn unknown_glyph_without_to_unicode_is_an_error_naming_font_and_page() {
    let font = dictionary! {
        "Type" => "Font", "Subtype" => "TrueType", "BaseFont" => "ABCDEF+Subset",
        "Encoding" => dictionary! { "Differences" => vec![1.into(), "g42".into()] },
    };
    let err = simple_font_page(font, "BT /F1 10 Tf 0 0 Td (ok) Tj <01> Tj ET").unwrap_err();
    match err {
        PdfError::UndecodableFont { page, font, .. } => {
            assert_eq!(page, 1);
            assert_eq!(font, "ABCDEF+Subset");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn type0_without_to_unicode_is_an_error() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let t0 = pdf.type0(false);
    let content = report(
        COLS,
        &rows(),
        Some((1, 1)),
        Some(3),
        Style {
            type0: true,
            ..PLAIN
        },
    );
    pdf.page(&[content], resources(f1, Some(t0)), dictionary! {});
    let err = read_table(&pdf.finish(), &columns(COLS)).unwrap_err();
    assert!(
        matches!(&err, PdfError::UndecodableFont { page: 1, font, .. } if font == "AAAAAA+LiberationSans"),
        "{err:?}"
    );
    assert!(err.to_string().contains("ToUnicode"), "{err}");
}

#[test]
fn replacement_characters_are_an_error() {
    let cmap =
        b"1 begincodespacerange <00> <FF> endcodespacerange 1 beginbfchar <41> <FFFD> endbfchar"
            .to_vec();
    let mut pdf = Pdf::new();
    let tu = pdf.add(Stream::new(dictionary! {}, cmap));
    let id = pdf.add(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "ToUnicode" => tu,
    });
    pdf.page(
        &["BT /F1 10 Tf 0 0 Td (A) Tj ET".to_string()],
        dictionary! { "Font" => dictionary! { "F1" => id } },
        dictionary! {},
    );
    let err = PdfText::load(&pdf.finish()).unwrap().pages().unwrap_err();
    assert!(
        matches!(err, PdfError::UndecodableFont { page: 1, .. }),
        "{err:?}"
    );
}

// ------------------------------------------------------------------ failures

#[test]
fn input_that_is_not_a_pdf() {
    assert!(matches!(
        read_table(b"<html>Sessione scaduta</html>", &columns(COLS)),
        Err(PdfError::NotPdf)
    ));
    assert!(matches!(
        read_table(b"", &columns(COLS)),
        Err(PdfError::NotPdf)
    ));
    assert!(read_table(b"%PDF-1.7\n garbage without objects", &columns(COLS)).is_err());
}

#[test]
fn no_header_on_any_page() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    pdf.page(
        &[report(COLS, &rows(), Some((1, 1)), Some(3), PLAIN)],
        resources(f1, None),
        dictionary! {},
    );
    let other = [
        TableColumn {
            title: "Fattura",
            align: Align::Left,
        },
        TableColumn {
            title: "Totale",
            align: Align::Right,
        },
    ];
    let err = read_table(&pdf.finish(), &other).unwrap_err();
    assert!(
        matches!(&err, PdfError::Columns(ColumnsError::NoHeader { expected, .. })
            if expected.join(" | ") == "Fattura | Totale"),
        "{err:?}"
    );
}

fn encrypted(user_password: &str) -> Vec<u8> {
    use lopdf::{EncryptionState, EncryptionVersion, Permissions};
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    pdf.page(
        &[report(COLS, &rows(), Some((1, 1)), Some(3), PLAIN)],
        resources(f1, None),
        dictionary! {},
    );
    pdf.finish_with(|doc| {
        let id = Object::String(
            b"0123456789abcdef".to_vec(),
            lopdf::StringFormat::Hexadecimal,
        );
        doc.trailer.set("ID", vec![id.clone(), id]);
        let state = EncryptionState::try_from(EncryptionVersion::V2 {
            document: doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions: Permissions::all(),
        })
        .unwrap();
        doc.encrypt(&state).unwrap();
    })
}

#[test]
fn encrypted_pdfs() {
    assert!(matches!(
        read_table(&encrypted("secret"), &columns(COLS)),
        Err(PdfError::Encrypted)
    ));
    // An empty user password (owner-only protection) opens like any viewer opens it.
    let t = read_table(&encrypted(""), &columns(COLS)).expect("readable");
    assert_eq!(cells(&t), expected_rows());
}

#[test]
fn titles_repeated_in_the_page_header_do_not_move_the_anchors() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    let mut content = report(COLS, &rows(), Some((1, 1)), Some(3), PLAIN);
    // A filter line just above the header naming columns at other positions (the simulator
    // prints "Ordinamento: Codice articolo, Listino" there).
    draw(
        &mut content,
        PLAIN,
        110.0,
        524.0,
        7.0,
        "Ordinamento per Codice e Città Q.tà",
    );
    pdf.page(&[content], resources(f1, None), dictionary! {});
    let t = read_table(&pdf.finish(), &columns(COLS)).expect("table");
    assert_eq!(cells(&t), expected_rows());
}

#[test]
fn tabs_in_simple_font_strings_are_word_breaks() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    pdf.page(
        &["BT /F1 10 Tf 100 100 Td (Rossi\\tS.r.l.) Tj ET".to_string()],
        resources(f1, None),
        dictionary! {},
    );
    let page = PdfText::load(&pdf.finish()).unwrap().page(1).unwrap();
    assert_eq!(page_text(&page), "Rossi|S.r.l.");
    assert!(page.spans[1].space_before);
}

#[test]
fn an_inflate_bomb_is_refused_with_a_clear_error_not_inflated() {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    // A page whose content inflates to 80 MiB of spaces (a few hundred KiB compressed).
    pdf.page(&[" ".repeat(80 << 20)], resources(f1, None), dictionary! {});
    let bytes = pdf.finish_with(|doc| {
        for object in doc.objects.values_mut() {
            if let Object::Stream(s) = object {
                s.compress().expect("deflate");
            }
        }
    });
    assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
    let err = read_table(&bytes, &columns(COLS)).unwrap_err();
    assert!(matches!(err, PdfError::TooLarge { page: 1 }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("page 1: a stream decompresses to more than {MAX_STREAM_BYTES} bytes")
    );
}

// ------------------------------------------------------------------ parallel pages

/// A report of `pages` pages of [`rows`] each (the total on the last); pages in `broken` draw
/// text with a font they do not define.
fn long_report(pages: u32, broken: &[u32]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let f1 = pdf.helvetica();
    for n in 1..=pages {
        let total = (n == pages).then_some(3 * pages as usize);
        let mut content = report(COLS, &rows(), Some((n, pages)), total, PLAIN);
        if broken.contains(&n) {
            content.push_str("\nBT /F9 10 Tf 0 0 Td (x) Tj ET");
        }
        pdf.page(&[content], resources(f1, None), dictionary! {});
    }
    pdf.finish()
}

/// Every page read one after another by one thread, as far as one page allows (what
/// `read_table` did before it read pages in parallel).
fn serial_pages(bytes: &[u8]) -> Result<Vec<table::PageTable>, PdfError> {
    let mut pdf = PdfText::load(bytes)?;
    let cols = columns(COLS);
    let titles = table::Titles::new(&cols);
    (1..=pdf.page_count() as u32)
        .map(|n| {
            pdf.page(n)
                .map(|p| table::read_page(&layout::lines(&p), n, &titles, &cols))
        })
        .collect()
}

#[test]
fn pages_read_in_parallel_give_what_a_serial_read_gives() {
    let bytes = long_report(40, &[]);
    let parallel = page_tables(&PdfText::load(&bytes).unwrap(), &columns(COLS)).unwrap();
    let serial = serial_pages(&bytes).unwrap();
    assert_eq!(parallel.len(), 40);
    assert_eq!(format!("{parallel:?}"), format!("{serial:?}"));
    let table = read_table(&bytes, &columns(COLS)).unwrap();
    assert_eq!(table.rows.len(), 120);
    assert_eq!(cells(&table)[117..], expected_rows()[..]);
}

#[test]
fn work_in_runs_keeps_the_order_and_reports_the_first_failure() {
    let squares = in_runs(1000, 8, |r| Ok::<_, usize>(r.map(|i| i * i).collect()));
    assert_eq!(
        squares.unwrap(),
        (0..1000).map(|i| i * i).collect::<Vec<_>>()
    );
    // Items 130 and 980 fail (in different runs on several cores): 130, the first, is reported.
    let failing = in_runs(1000, 8, |r| {
        r.map(|i| if i == 130 || i == 980 { Err(i) } else { Ok(i) })
            .collect::<Result<Vec<_>, _>>()
    });
    assert_eq!(failing, Err(130));
    assert_eq!(in_runs(0, 8, |r| Ok::<_, ()>(r.collect())), Ok(vec![]));
}

#[test]
fn pages_read_in_parallel_report_the_first_failing_page() {
    // Page 15 is in the first run of pages, 33 in the last: the first one is reported,
    // whichever thread finishes first.
    let bytes = long_report(40, &[15, 33]);
    let err = read_table(&bytes, &columns(COLS)).unwrap_err();
    assert!(
        matches!(err, PdfError::UndecodableFont { page: 15, .. }),
        "{err:?}"
    );
    assert_eq!(
        format!("{err:?}"),
        format!("{:?}", serial_pages(&bytes).unwrap_err())
    );
}

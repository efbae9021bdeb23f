//! Figure 1: PDF parsing, our reader vs `pdftotext -layout` (poppler) on the SAME files — the
//! simulator's 5,700-customer export (≈300 pages), the 6,000-record reports of other producers
//! that `scripts/big-reports.sh` writes into `target/bench-pdfs` (Chromium's print-to-PDF, also
//! written again by qpdf, ReportLab, fpdf2; skipped when absent), and every committed fixture.
//! A file that comes with its `.expected.jsonl` must parse to exactly those records, or the
//! figure stops: a fast wrong parse is not a figure.

use crate::table::{Table, ms, time_n};
use blackant::records::{Kind, ParsedExport, parse_export};
use std::path::{Path, PathBuf};
use std::process::Command;

fn pdftotext(file: &Path) -> Option<()> {
    let ok = Command::new("pdftotext")
        .args(["-layout", "-q"])
        .arg(file)
        .arg("/dev/null")
        .status()
        .ok()?
        .success();
    ok.then_some(())
}

/// The simulator's big export (written to `big_path`) and every other producer's fixture.
fn files(big_path: &Path) -> Vec<(String, Kind, PathBuf)> {
    let mut files = vec![(
        "simulator customers agent1".to_string(),
        Kind::Customers,
        big_path.to_path_buf(),
    )];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = Vec::new();
    for dir in [root.join("target/bench-pdfs"), root.join("fixtures/pdfs")] {
        let mut here: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        here.sort();
        names.extend(here);
    }
    for path in names {
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pdf"))
        else {
            continue;
        };
        let Some(kind) = stem.split('-').next().and_then(Kind::from_name) else {
            continue;
        };
        if stem.contains("archibald-sim") {
            continue; // the simulator's own writer is measured on the big export above
        }
        files.push((stem.to_string(), kind, path.clone()));
    }
    files
}

/// `Ok` when `path` has no `.expected.jsonl` beside it or when the parse gives exactly its
/// records, in order; the first difference otherwise.
fn same_as_expected(path: &Path, parsed: &ParsedExport) -> Result<(), String> {
    let Ok(expected) = std::fs::read_to_string(path.with_extension("expected.jsonl")) else {
        return Ok(());
    };
    let mut got = parsed.records();
    for (i, line) in expected.lines().enumerate() {
        let want: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("expected line {i}: {e}"))?;
        let Some(record) = got.next() else {
            return Err(format!("record {i} missing"));
        };
        let have: serde_json::Value =
            serde_json::from_str(&record.to_json()).map_err(|e| format!("record {i}: {e}"))?;
        if have != want {
            return Err(format!("record {i}: expected {want}, got {have}"));
        }
    }
    match got.next() {
        Some(extra) => Err(format!("an extra record: {}", extra.to_json())),
        None => Ok(()),
    }
}

pub fn run(big_path: &Path, reps: usize) {
    let have_pdftotext = pdftotext(big_path).is_some();
    let mut table = Table::new(
        format!("1. PDF parsing: blackant vs pdftotext -layout (same file, median of {reps})"),
        &["file", "pages", "rows", "blackant", "pdftotext", "ratio"],
    );
    for (label, kind, path) in files(big_path) {
        let bytes = std::fs::read(&path).expect("read pdf");
        let parsed = match parse_export(kind, &bytes) {
            Ok(p) => p,
            Err(e) => {
                // Refused on purpose (a fixture whose fonts name no character): noted below
                // the table, so that its one-line error does not widen the file column.
                table.note(format!("{label}: refused ({e})"));
                continue;
            }
        };
        if let Err(diff) = same_as_expected(&path, &parsed) {
            panic!("{label}: the parse differs from its expected records: {diff}");
        }
        let ours = time_n(reps, || {
            parse_export(kind, &bytes).map(|p| p.record_count())
        });
        let theirs = have_pdftotext.then(|| time_n(reps.min(7), || pdftotext(&path)));
        table.row([
            label,
            parsed.completeness.physical_pages.to_string(),
            parsed.record_count().to_string(),
            ms(ours),
            theirs.map(ms).unwrap_or_else(|| "-".into()),
            theirs
                .map(|t| format!("{:.1}x", t.as_secs_f64() / ours.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    table.note("ratio = pdftotext time / blackant time (above 1: we are faster)");
    if !have_pdftotext {
        table.note("(pdftotext not found: run `make bench`, which installs poppler-utils)");
    }
    table.print();
}

/// Parses `path` as a `kind` report `times` times and prints the median: nothing else runs,
/// so a profiler attached to this process sees the parser alone.
pub fn repeat(path: &Path, kind: Kind, times: usize) {
    crate::setup::logs();
    let bytes = std::fs::read(path).expect("read pdf");
    let median = time_n(times, || {
        parse_export(kind, &bytes).map(|p| p.record_count())
    });
    println!("{}: median of {times}: {}", path.display(), ms(median));
}

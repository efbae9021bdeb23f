//! Figure 1: PDF parsing, our reader vs `pdftotext -layout` (poppler) on the SAME files — the
//! simulator's 5,700-customer export (≈300 pages) and every committed fixture of other
//! producers (Chromium, ReportLab, fpdf2).

use crate::table::{Table, ms, time_n};
use blackant::records::{Kind, parse_export};
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
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pdfs");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
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

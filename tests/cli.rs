//! The `blackant` binary as a user runs it: `blackant parse` prints canonical JSON Lines for
//! any producer's report and says what is wrong in one line with a distinct exit code.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/pdfs")
        .join(name)
}

fn blackant(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blackant"))
        .args(args)
        .output()
        .expect("run blackant")
}

fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).trim_end().to_string();
    assert_eq!(text.lines().count(), 1, "one line on stderr, got {text:?}");
    text
}

#[test]
fn parse_prints_the_expected_records_of_every_kind_printed_by_chromium() {
    for kind in [
        "customers",
        "products",
        "prices",
        "orders",
        "ddt",
        "invoices",
    ] {
        let stem = std::fs::read_dir(fixture(""))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| {
                n.starts_with(&format!("{kind}-chromium"))
                    && n.ends_with(".pdf")
                    && !n.contains("truncated")
            })
            .map(|n| n.trim_end_matches(".pdf").to_string())
            .next()
            .unwrap_or_else(|| panic!("a Chromium-printed {kind} fixture"));
        let out = blackant(&[
            "parse",
            "--kind",
            kind,
            fixture(&format!("{stem}.pdf")).to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let want: Vec<serde_json::Value> =
            std::fs::read_to_string(fixture(&format!("{stem}.expected.jsonl")))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        assert!(!want.is_empty());
        assert_eq!(got, want, "{stem}: records in report order");
    }
}

#[test]
fn bad_input_gets_one_line_and_a_distinct_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let not_pdf = dir.path().join("clienti.pdf");
    std::fs::write(&not_pdf, b"<html>Sessione scaduta</html>").unwrap();
    let out = blackant(&["parse", "--kind", "customers", not_pdf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line(&out.stderr).contains("clienti.pdf"));
    assert!(out.stdout.is_empty());

    let missing = blackant(&["parse", "--kind", "customers", "/nonexistent/x.pdf"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(one_line(&missing.stderr).contains("/nonexistent/x.pdf"));

    let unknown = blackant(&["parse", "--kind", "clients", not_pdf.to_str().unwrap()]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(one_line(&unknown.stderr).contains("clients"));
}

#[test]
fn a_truncated_export_is_refused_unless_accepted_explicitly() {
    let file = fixture("customers-chromium-truncated.pdf");
    let out = blackant(&["parse", "--kind", "customers", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(one_line(&out.stderr).contains("incomplete"));
    let accepted = blackant(&[
        "parse",
        "--kind",
        "customers",
        "--allow-incomplete",
        file.to_str().unwrap(),
    ]);
    assert!(accepted.status.success());
    assert!(!accepted.stdout.is_empty(), "what was read is printed");
}

//! The `blackant` binary as a user runs it: `blackant parse` prints canonical JSON Lines for
//! any producer's report and says what is wrong in one line with a distinct exit code;
//! `blackant doctor` passes an ERP as ERP.md describes it and names every page that differs.

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

/// `blackant doctor --json` against the simulator at `url`, as `user`, from an empty folder:
/// its exit code and report; the folder must still be empty (it writes nothing).
fn doctor(url: &str, user: &str, password: &str) -> (Option<i32>, serde_json::Value) {
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_blackant"))
        .args(["doctor", "--erp", url, "--user", user, "--json"])
        .env("BLACKANT_ERP_PASSWORD", password)
        .current_dir(cwd.path())
        .output()
        .expect("run blackant doctor");
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "the doctor wrote {left:?}");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON object ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// Replace the simulator's ERP changes (`POST /_sim/changes`).
async fn set_changes(url: &str, changes: &serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/_sim/changes"))
        .header("content-type", "application/json")
        .body(changes.to_string())
        .send()
        .await
        .expect("the simulator answers");
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
}

fn failing(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| format!("{}: {}", c["step"], c["detail"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_an_erp_as_the_contract_says_and_names_every_page_and_report_that_differs() {
    use crate::util::process;
    let (_sim, url) = process::sim();
    let accounts: Vec<serde_json::Value> = process::sim_json(&url, "accounts").await;
    let password = process::password_of(&accounts, "agent1");

    let (code, report) = doctor(&url, "agent1", &password);
    assert_eq!(code, Some(0), "everything matches: {:?}", failing(&report));
    assert_eq!(report["ok"], true);
    let steps: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["step"].as_str())
        .collect();
    for step in [
        "login",
        "customers report",
        "products report",
        "prices report",
        "orders report",
        "ddt report",
        "invoices report",
        "order detail",
        "order form: \"Conferma ordine\" button",
    ] {
        assert!(steps.contains(&step), "{step} checked: {steps:?}");
    }

    // Changes that each break a different step, together: every failing check names its own
    // (an upgrade that added a customers column, renamed a price column and a form label,
    // removed a DDT column, renamed a product status and retitled the detail table); then the
    // formats; then the changes that stop the doctor early (the export button, the login).
    let cases: [(serde_json::Value, &[(&str, &str)]); 4] = [
        (
            serde_json::json!({
                "reports": {
                    "customers": {"add": [{"title": "Zona", "at": 1}]},
                    "prices": {"rename": {"unit_price": "Prezzo netto"}},
                    "ddt": {"remove": ["carrier"]},
                },
                "status_renamed": {"Sospeso": "Bloccato"},
                "detail_code_title": "Cod. art.",
                "order_form_labels": {"Note": "Annotazioni"},
            }),
            &[
                ("customers report", "Zona"),
                ("products report", "Bloccato"),
                ("prices report", "Prezzo netto"),
                ("ddt report", "Vettore"),
                ("order detail", "Codice articolo"),
                ("order form: field labelled \\\"Note\\\"", "not on the page"),
            ],
        ),
        (
            serde_json::json!({"date_format": "iso", "number_format": "english"}),
            &[
                ("customers report", "Ultimo ordine"),
                ("prices report", "Prezzo unitario"),
            ],
        ),
        (
            serde_json::json!({"export_button_label": "Scarica PDF"}),
            &[("orders report", "Esporta PDF")],
        ),
        (
            serde_json::json!({"login_without_password": true}),
            &[("login", "password field")],
        ),
    ];
    for (change, named) in cases {
        set_changes(&url, &change).await;
        let (code, report) = doctor(&url, "agent1", &password);
        assert_eq!(code, Some(1), "{change}: a mismatch");
        let failed = failing(&report);
        if named.len() > 2 {
            assert_eq!(
                failed.len(),
                named.len(),
                "{change}: exactly these: {failed:?}"
            );
        }
        for (step, what) in named {
            assert!(
                failed
                    .iter()
                    .any(|f| f.starts_with(&format!("\"{step}\"")) && f.contains(what)),
                "{change}: {step} names {what:?}: {failed:?}"
            );
        }
    }
    set_changes(&url, &serde_json::json!({})).await;

    // A wrong password: one failing check, the login.
    let (code, report) = doctor(&url, "agent1", "not-the-password");
    assert_eq!(code, Some(1));
    assert_eq!(failing(&report).len(), 1, "{report}");
    assert_eq!(report["checks"][0]["step"], "login");
}

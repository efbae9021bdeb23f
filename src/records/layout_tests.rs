//! Reports whose columns changed (ERP.md, "When Archibald changes without notice"), printed by
//! the simulator's writer for every kind: columns the contract does not know — at the start, in
//! the middle, at the end, text or amounts — are left out and reported, and the records read
//! exactly as from the report ERP.md describes; known columns in another order read the same; a
//! known column renamed or removed refuses the report naming it.

use super::*;
use crate::pdf::ColumnsError;
use archibald_sim::report::pdf::{RenderOptions, render};
use archibald_sim::report::shape::Shape;
use archibald_sim::report::{ReportKind, Table};
use archibald_sim::{AddedColumn, ReportChange};

/// Rows per report: enough for several pages and wrapped cells, few enough for a debug build.
const ROWS: usize = 120;

fn table(kind: Kind) -> Table {
    let world = archibald_sim::data::generate::generate_shared(42, 1);
    let report = ReportKind::parse(kind.name()).expect("the simulator has every kind");
    let mut table = world.table(report, if report.per_agent() { "agent3" } else { "" });
    table.rows.truncate(ROWS);
    table
}

fn printed(table: &Table, change: &ReportChange) -> Vec<u8> {
    let shape = Shape::changed(table.kind.spec(), change).expect("a printable change");
    let opts = RenderOptions {
        shape: Some(shape),
        ..RenderOptions::default()
    };
    render(table, &table.display_rows(), &opts)
        .expect("the writer prints it")
        .bytes
}

/// The parsed records as JSON, and the simulator's truth, for comparison.
fn records_and_truth(
    kind: Kind,
    table: &Table,
    change: &ReportChange,
) -> Result<(ParsedExport, Vec<serde_json::Value>, Vec<serde_json::Value>), ParseError> {
    let export = parse_export(kind, &printed(table, change))?;
    let got = export
        .records()
        .map(|r| serde_json::from_str(&r.to_json()).expect("record JSON"))
        .collect();
    let truth = table
        .truth()
        .into_iter()
        .map(serde_json::Value::Object)
        .collect();
    Ok((export, got, truth))
}

fn added(title: &str, at: Option<usize>, numeric: bool) -> AddedColumn {
    AddedColumn {
        title: title.into(),
        at,
        numeric,
    }
}

#[test]
fn added_columns_anywhere_are_left_out_and_reported_for_every_kind() {
    for kind in Kind::ALL {
        let table = table(kind);
        let middle = kind.columns().len() / 2;
        let cases = [
            (vec![added("Agente", Some(0), false)], vec!["Agente"]),
            // Right after the name (customers' "Ragione sociale"): its text must not join it.
            (vec![added("Agente", Some(2), false)], vec!["Agente"]),
            (
                vec![added("Fido residuo", Some(middle), true)],
                vec!["Fido residuo"],
            ),
            (vec![added("Zona", None, false)], vec!["Zona"]),
            (
                vec![
                    added("Agente", Some(0), false),
                    added("Fido residuo", Some(middle), true),
                    added("Zona", None, false),
                ],
                vec!["Agente", "Fido residuo", "Zona"],
            ),
        ];
        for (add, titles) in cases {
            let change = ReportChange {
                add,
                ..ReportChange::default()
            };
            let (export, got, truth) = records_and_truth(kind, &table, &change)
                .unwrap_or_else(|e| panic!("{kind} with {titles:?}: {e}"));
            assert_eq!(got, truth, "{kind} with {titles:?}: records differ");
            assert_eq!(export.unknown_columns, titles, "{kind}: reported columns");
        }
    }
}

#[test]
fn known_columns_in_another_order_read_the_same_for_every_kind() {
    for kind in Kind::ALL {
        let table = table(kind);
        let reversed: Vec<String> = kind
            .columns()
            .iter()
            .rev()
            .map(|c| c.field.into())
            .collect();
        let rotated: Vec<String> = kind.columns()[1..]
            .iter()
            .chain(&kind.columns()[..1])
            .map(|c| c.field.into())
            .collect();
        for order in [reversed, rotated] {
            let change = ReportChange {
                order: order.clone(),
                add: vec![added("Note interne", Some(2), false)],
                ..ReportChange::default()
            };
            let (export, got, truth) = records_and_truth(kind, &table, &change)
                .unwrap_or_else(|e| panic!("{kind} in order {order:?}: {e}"));
            assert_eq!(got, truth, "{kind} in order {order:?}");
            assert_eq!(export.unknown_columns, ["Note interne"]);
        }
    }
}

#[test]
fn a_renamed_or_removed_known_column_refuses_the_report_naming_it_for_every_kind() {
    for kind in Kind::ALL {
        let table = table(kind);
        // The second column's title (never the key): renamed, then removed.
        let column = kind.columns()[1];
        let renamed = ReportChange {
            rename: [(
                column.field.to_string(),
                format!("{} (nuovo)", column.title),
            )]
            .into(),
            ..ReportChange::default()
        };
        let removed = ReportChange {
            remove: vec![column.field.to_string()],
            ..ReportChange::default()
        };
        for (what, change) in [("renamed", renamed), ("removed", removed)] {
            let err = records_and_truth(kind, &table, &change)
                .err()
                .unwrap_or_else(|| panic!("{kind}: a {what} column was read"));
            assert!(err.is_permanent(), "{kind} {what}: {err}");
            match &err {
                ParseError::Pdf(PdfError::Columns(ColumnsError::Missing {
                    missing,
                    found,
                    ..
                })) => {
                    assert_eq!(missing, &[column.title.to_string()], "{kind} {what}");
                    if what == "renamed" {
                        let new = format!("{} (nuovo)", column.title);
                        assert!(
                            found.contains(&new),
                            "{kind}: the new title is named: {err}"
                        );
                    }
                }
                other => panic!("{kind} {what}: unexpected {other}"),
            }
            let text = err.to_string();
            assert!(text.contains(column.title), "{kind} {what}: {text}");
        }
    }
}

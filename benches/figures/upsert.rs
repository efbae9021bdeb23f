//! Figure 2: the hash-gated upsert of 5,700 customers, one transaction per page as the sync
//! does: first load, unchanged re-run (rows written must be 0), 25 edited; the same first
//! load in ONE transaction; MD5 of the records.

use crate::table::{Table, median, ms, time_n};
use blackant::records::{Kind, ParsedExport};
use blackant::store::tables::{self, RowImage, TableSpec};
use blackant_actors::db_writer::open_writer;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run(parsed: &ParsedExport, tmp: &Path, reps: usize) {
    let pages: Vec<Vec<RowImage>> = parsed
        .pages
        .iter()
        .map(|p| p.records.iter().map(RowImage::from_record).collect())
        .collect();
    let mut edited = pages.clone();
    for row in edited.iter_mut().flatten().step_by(228).take(25) {
        row.hash = format!("edited-{}", row.hash);
    }
    let spec = TableSpec::for_kind(Kind::Customers);
    let apply = |conn: &mut rusqlite::Connection, pages: &[Vec<RowImage>]| {
        let before = conn.total_changes();
        let mut counts = tables::RowCounts::default();
        for page in pages {
            let tx = conn.transaction().expect("tx");
            counts.add(
                tables::upsert_rows(&tx, &spec, Some("agent1"), page, "2026-12-01T00:00:00Z")
                    .expect("upsert"),
            );
            tx.commit().expect("commit");
        }
        (counts, conn.total_changes() - before)
    };
    let fresh_db = |i: usize| {
        let path = tmp.join(format!("upsert-{i}.db"));
        open_writer(&path, TableSpec::migrations(Kind::Customers)).expect("open db")
    };
    let (mut first, mut unchanged, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..reps {
        let mut conn = fresh_db(i);
        let t = Instant::now();
        let a = apply(&mut conn, &pages);
        first.push(t.elapsed());
        let t = Instant::now();
        let b = apply(&mut conn, &pages);
        unchanged.push(t.elapsed());
        let t = Instant::now();
        let c = apply(&mut conn, &edited);
        changed.push(t.elapsed());
        last = Some((a, b, c));
    }
    // The same rows in ONE transaction: what the page commits cost on top.
    let mut single = Vec::new();
    for i in 0..reps {
        let mut conn = fresh_db(reps + i);
        let all: Vec<RowImage> = pages.iter().flatten().cloned().collect();
        let t = Instant::now();
        apply(&mut conn, std::slice::from_ref(&all));
        single.push(t.elapsed());
    }
    let (a, b, c) = last.expect("ran");
    let mut table = Table::new(
        format!(
            "2. hash-gated upsert of 5,700 customers, one transaction per page (median of {reps})"
        ),
        &[
            "",
            "time",
            "inserted",
            "updated",
            "unchanged",
            "rows written",
        ],
    );
    let mut row = |label: &str, d: Vec<Duration>, (counts, written): (tables::RowCounts, u64)| {
        table.row([
            label.to_string(),
            ms(median(d)),
            counts.inserted.to_string(),
            counts.updated.to_string(),
            counts.unchanged.to_string(),
            written.to_string(),
        ]);
    };
    row("first load", first, a);
    row("unchanged re-sync", unchanged, b);
    row("25 edited", changed, c);
    let hashing = time_n(reps, || {
        parsed.records().map(|r| r.md5()[0] as u64).sum::<u64>()
    });
    table
        .note(format!(
            "first load in ONE transaction: {} (the page commits cost the difference)",
            ms(median(single))
        ))
        .note(format!(
            "MD5 of the 5,700 canonical records: {}",
            ms(hashing)
        ))
        .print();
}

//! Figure 2: the hash-gated upsert of 5,700 customers, one transaction per page as the sync
//! does: first load, unchanged re-run (rows written must be 0), 25 edited, each beside the same
//! with SQLite's default WAL checkpoint interval (the setting before); the same first load in
//! ONE transaction; MD5 of the records.

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
    // First load, unchanged re-run, 25 edited on one file; `wal_pages` overrides the writer's
    // checkpoint interval (SQLite's default of 1,000 pages was the setting before).
    let three = |from: usize, wal_pages: Option<u32>| {
        let (mut first, mut unchanged, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        let mut last = None;
        for i in 0..reps {
            let mut conn = fresh_db(from + i);
            if let Some(n) = wal_pages {
                conn.pragma_update(None, "wal_autocheckpoint", n)
                    .expect("pragma");
            }
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
        (first, unchanged, changed, last.expect("ran"))
    };
    // Interleaved rounds would be fairer on a noisy machine, but each round needs a fresh file:
    // before and after alternate by halves instead.
    let (b1, b2, b3, _) = three(10 * reps, Some(1_000));
    let (first, unchanged, changed, last) = three(0, None);
    let (b1b, b2b, b3b, _) = three(20 * reps, Some(1_000));
    let before = |mut x: Vec<Duration>, y: Vec<Duration>| {
        x.extend(y);
        median(x)
    };
    let before = [before(b1, b1b), before(b2, b2b), before(b3, b3b)];
    // The same rows in ONE transaction: what the page commits cost on top.
    let mut single = Vec::new();
    for i in 0..reps {
        let mut conn = fresh_db(30 * reps + i);
        let all: Vec<RowImage> = pages.iter().flatten().cloned().collect();
        let t = Instant::now();
        apply(&mut conn, std::slice::from_ref(&all));
        single.push(t.elapsed());
    }
    let (a, b, c) = last;
    // What the first load leaves in the WAL is copied back later (a checkpoint at 10,000
    // pages, or one run when the file is closed): its cost, paid off the sync's path.
    let mut checkpoint = Vec::new();
    let mut frames = 0;
    for i in 0..reps {
        let mut conn = fresh_db(40 * reps + i);
        apply(&mut conn, &pages);
        let t = Instant::now();
        frames = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
            .expect("checkpoint");
        checkpoint.push(t.elapsed());
    }
    let mut table = Table::new(
        format!(
            "2. hash-gated upsert of 5,700 customers, one transaction per page (median of {reps})"
        ),
        &[
            "",
            "before: WAL checkpoint every 1,000 pages",
            "after",
            "inserted",
            "updated",
            "unchanged",
            "rows written",
        ],
    );
    let mut row = |label: &str,
                   before: Duration,
                   d: Vec<Duration>,
                   (counts, written): (tables::RowCounts, u64)| {
        table.row([
            label.to_string(),
            ms(before),
            ms(median(d)),
            counts.inserted.to_string(),
            counts.updated.to_string(),
            counts.unchanged.to_string(),
            written.to_string(),
        ]);
    };
    row("first load", before[0], first, a);
    row("unchanged re-sync", before[1], unchanged, b);
    row("25 edited", before[2], changed, c);
    let hashing = time_n(reps, || {
        parsed.records().map(|r| r.md5()[0] as u64).sum::<u64>()
    });
    table
        .note(format!(
            "first load in ONE transaction: {} (the page commits cost the difference)",
            ms(median(single))
        ))
        .note(format!(
            "after: the checkpoint of what a first load left in the WAL ({frames} pages written by {} commits), run later: {}",
            pages.len(),
            ms(median(checkpoint))
        ))
        .note(format!(
            "MD5 of the 5,700 canonical records: {}",
            ms(hashing)
        ))
        .print();
}

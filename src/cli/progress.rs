//! Progress bars for sync runs (indicatif), fed with `blackant.v1.SyncEvent`s — the events of
//! the embedded service (`serve`) or of a remote one (`ctl --watch`). Terminal output only.

use blackant::grpc::pb;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

/// One bar per run on a terminal; plain lines (start, every 10 %, end) otherwise, so logs
/// and CI output still show progress.
pub struct RunBars {
    multi: MultiProgress,
    bars: HashMap<u64, ProgressBar>,
    plain: bool,
    printed_tenth: HashMap<u64, u32>,
}

/// How a run ended, as shown.
pub enum Ended {
    Ok,
    Failed(pb::RunResult),
}

fn label(e: &pb::SyncEvent) -> String {
    let kind = pb::SyncKind::try_from(e.kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("SYNC_KIND_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "?".into());
    if e.user.is_empty() {
        format!("{kind} #{}", e.run_id)
    } else {
        format!("{kind} {} #{}", e.user, e.run_id)
    }
}

impl RunBars {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: HashMap::new(),
            plain: !std::io::stderr().is_terminal(),
            printed_tenth: HashMap::new(),
        }
    }

    /// Without a terminal: one line per notable event.
    fn line(&mut self, e: &pb::SyncEvent, event: &pb::sync_event::Event) {
        use pb::sync_event::Event;
        let text = match event {
            Event::Progress(p) if p.pages > 0 => {
                let tenth = p.page * 10 / p.pages;
                let last = self.printed_tenth.entry(e.run_id).or_insert(0);
                if tenth == *last && p.page != p.pages {
                    return;
                }
                *last = tenth;
                format!("page {}/{} ({} records)", p.page, p.pages, p.items)
            }
            Event::Progress(_) => return,
            Event::Queued(_) => "queued".into(),
            Event::Started(s) => (if s.resumed {
                "resumed from its checkpoint"
            } else {
                "started"
            })
            .into(),
            Event::Paused(_) => "paused".into(),
            Event::Resumed(_) => "resumed".into(),
            Event::Retrying(r) => format!("retry {}: {}", r.attempt, r.reason),
            Event::Completed(r) => done_message(r),
            Event::Failed(r) => format!("FAILED: {}", r.error),
            // Placements are not runs: shown by `ctl place --watch`.
            Event::Placement(_) => return,
        };
        eprintln!("{:>24}  {text}", label(e));
    }

    fn bar(&mut self, e: &pb::SyncEvent) -> &ProgressBar {
        self.bars.entry(e.run_id).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>24} {bar:30.cyan/blue} {pos:>4}/{len:4} pages {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(label(e));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        })
    }

    /// Show one event; returns how the run ended when it did.
    pub fn show(&mut self, e: &pb::SyncEvent) -> Option<Ended> {
        use pb::sync_event::Event;
        if e.missed > 0 {
            let _ = self.multi.println(format!(
                "(missed {} events: the watcher fell behind)",
                e.missed
            ));
            return None;
        }
        let event = e.event.as_ref()?;
        if matches!(event, Event::Placement(_)) {
            return None;
        }
        if self.plain {
            self.line(e, event);
            return match event {
                Event::Completed(_) => Some(Ended::Ok),
                Event::Failed(r) => Some(Ended::Failed(r.clone())),
                _ => None,
            };
        }
        let bar = self.bar(e).clone();
        match event {
            Event::Queued(_) => bar.set_message("queued"),
            Event::Started(s) => bar.set_message(if s.resumed {
                "resumed from checkpoint"
            } else {
                "getting the export"
            }),
            Event::Progress(p) => {
                bar.set_length(u64::from(p.pages));
                bar.set_position(u64::from(p.page));
                bar.set_message(format!("{} records", p.items));
            }
            Event::Paused(_) => bar.set_message("paused"),
            Event::Resumed(_) => bar.set_message("resumed"),
            Event::Retrying(r) => {
                bar.set_message(format!("retry {} soon: {}", r.attempt, r.reason))
            }
            Event::Completed(r) => {
                bar.finish_with_message(done_message(r));
                return Some(Ended::Ok);
            }
            Event::Failed(r) => {
                bar.abandon_with_message(format!("FAILED: {}", r.error));
                return Some(Ended::Failed(r.clone()));
            }
            Event::Placement(_) => {}
        }
        None
    }
}

fn done_message(r: &pb::RunResult) -> String {
    let c = r.counts.unwrap_or_default();
    let secs = r
        .duration
        .map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9)
        .unwrap_or(0.0);
    if r.unchanged_export {
        format!("done in {secs:.1}s: export unchanged, nothing to do")
    } else {
        format!(
            "done in {secs:.1}s: {} inserted, {} updated, {} unchanged, {} deleted",
            c.inserted, c.updated, c.unchanged, c.deleted
        )
    }
}

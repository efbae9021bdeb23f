//! The one table printer of `make bench`: a titled table with right-aligned figures and
//! notes under it, so every figure reads the same way. Also the small timing helpers the
//! figures share (medians, percentiles, milliseconds).

use std::time::{Duration, Instant};

/// A titled table: columns, rows of cells, notes.
pub struct Table {
    title: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Table {
    /// A table titled `title` (e.g. "1. PDF parsing") with these column headings.
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A row (missing cells print empty).
    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
        self
    }

    /// A line of explanation printed under the table.
    pub fn note(&mut self, text: impl Into<String>) -> &mut Table {
        self.notes.push(text.into());
        self
    }

    /// Print it: the first column left-aligned, the others right-aligned.
    pub fn print(&self) {
        println!("\n== {}", self.title);
        let n = self.columns.len();
        let width = |i: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(i))
                .chain(self.columns.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..n).map(width).collect();
        let line = |cells: &[String]| {
            let mut out = String::from("  ");
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                if i == 0 {
                    out.push_str(&format!(" {cell:<w$}"));
                } else {
                    out.push_str(&format!("  {cell:>w$}"));
                }
            }
            println!("{}", out.trim_end());
        };
        if n > 0 {
            line(&self.columns);
        }
        for row in &self.rows {
            line(row);
        }
        for note in &self.notes {
            println!("   {note}");
        }
    }
}

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Nearest-rank percentile `p` (0..1) of `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `12.34 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Median of `n` timed calls of `f` (after one warm-up call).
pub fn time_n<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f());
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

/// (VmRSS, VmHWM) of this process in MiB, from /proc.
pub fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// This process's descendants (the Chromium processes of the service's browsers and their
/// helpers), from /proc.
fn descendants() -> Vec<u32> {
    use blackant_actors::browser_pool::{parent_of, process_ids};
    let me = std::process::id();
    let parent_of: std::collections::HashMap<u32, u32> = process_ids()
        .into_iter()
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let descends = |mut pid: u32| {
        for _ in 0..64 {
            match parent_of.get(&pid) {
                Some(&p) if p == me => return true,
                Some(&p) if p > 1 => pid = p,
                _ => return false,
            }
        }
        false
    };
    parent_of
        .keys()
        .copied()
        .filter(|&pid| pid != me && descends(pid))
        .collect()
}

/// The memory of this process's descendants, in MiB: the sum of their PSS, so pages they share
/// are counted once, from /proc.
pub fn descendants_pss_mib() -> f64 {
    descendants()
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|rollup| {
            rollup
                .lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .sum::<f64>()
        / 1024.0
}

/// CPU seconds `pid` has used (user and system, from `/proc/{pid}/stat`; 100 ticks a second,
/// as on every Linux here): its own, and with `reaped` also those of the children it reaped.
pub fn cpu_seconds(pid: u32, reaped: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // "pid (comm) state ppid ...": utime, stime, cutime, cstime are fields 14-17.
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    after
        .split_whitespace()
        .skip(11)
        .take(if reaped { 4 } else { 2 })
        .filter_map(|t| t.parse::<f64>().ok())
        .sum::<f64>()
        / 100.0
}

/// CPU seconds of this process's descendants, past and present: each live one's own and those
/// of the children it reaped (a renderer that exited counts in its reaper), and those this
/// process reaped itself (a browser replaced).
pub fn descendants_cpu_seconds() -> f64 {
    let me = std::process::id();
    descendants()
        .into_iter()
        .map(|pid| cpu_seconds(pid, true))
        .sum::<f64>()
        + cpu_seconds(me, true)
        - cpu_seconds(me, false)
}

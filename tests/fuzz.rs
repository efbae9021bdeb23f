//! Hostile PDFs: a bounded, seeded mutation fuzzer over the committed report fixtures (every
//! producer), on the stable toolchain. Each input is a fixture with a few mutations — bytes
//! flipped or set to PDF delimiters, slices cut, repeated or spliced from another report, the
//! file truncated, numbers made absurd — read as its kind. Properties: the reader never panics
//! and answers within a bound. `make test` runs it for a few seconds; `make fuzz` for long
//! (`BLACKANT_FUZZ_SECS`, `BLACKANT_FUZZ_SEED`). A failing input is written to
//! `target/fuzz-findings/` and named in the failure.

use blackant::records::{Kind, parse_export};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Longest an input may take, whatever it holds (a debug build reads the biggest fixture in
/// well under a second).
const PER_INPUT: Duration = Duration::from_secs(10);

fn corpus() -> Vec<(Kind, String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/pdfs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures/pdfs").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".pdf") else {
            continue;
        };
        let Some(kind) = stem.split('-').next().and_then(Kind::from_name) else {
            continue;
        };
        out.push((
            kind,
            name.clone(),
            std::fs::read(entry.path()).expect("read"),
        ));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

const DELIMITERS: &[u8] = b"()<>[]{}/%\\ \n0123456789";
const ABSURD: &[&[u8]] = &[
    b"99999999999999999999",
    b"-1",
    b"2147483648",
    b"1e308",
    b"0",
];

fn mutate(rng: &mut impl Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..rng.random_range(1..=8) {
        if input.is_empty() {
            return;
        }
        let at = rng.random_range(0..input.len());
        match rng.random_range(0..8) {
            0 => input[at] ^= 1 << rng.random_range(0..8),
            1 => input[at] = DELIMITERS[rng.random_range(0..DELIMITERS.len())],
            2 => input.truncate(at),
            3 => {
                let end = (at + rng.random_range(1..512)).min(input.len());
                input.drain(at..end);
            }
            4 => {
                let end = (at + rng.random_range(1..512)).min(input.len());
                let slice = input[at..end].to_vec();
                let to = rng.random_range(0..input.len());
                input.splice(to..to, slice);
            }
            5 if !other.is_empty() => {
                let from = rng.random_range(0..other.len());
                let end = (from + rng.random_range(1..2048)).min(other.len());
                let to = rng.random_range(0..input.len());
                input.splice(to..to, other[from..end].iter().copied());
            }
            6 => {
                // A number made absurd: the digits at `at` replaced.
                let start = at;
                let end = input[start..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(input.len(), |n| start + n);
                let value = ABSURD[rng.random_range(0..ABSURD.len())];
                input.splice(
                    start..end.max(start + 1).min(input.len()),
                    value.iter().copied(),
                );
            }
            _ => {
                // Deep nesting: a run of opening brackets.
                let open: &[u8] = if rng.random_bool(0.5) { b"[" } else { b"<<" };
                let n = rng.random_range(1..4096);
                let run: Vec<u8> = open.iter().copied().cycle().take(open.len() * n).collect();
                input.splice(at..at, run);
            }
        }
    }
}

#[test]
fn the_reader_never_panics_and_answers_in_bounded_time_on_mutated_reports() {
    let secs: u64 = std::env::var("BLACKANT_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let seed: u64 = std::env::var("BLACKANT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let corpus = corpus();
    assert!(corpus.len() >= 10, "the fixtures are the corpus");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let (mut runs, mut refused, mut slowest) = (0u64, 0u64, Duration::ZERO);
    // Quiet the panic hook while inputs run: a panic is caught and reported below.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut finding = None;
    while started.elapsed() < Duration::from_secs(secs) {
        let (kind, name, bytes) = &corpus[rng.random_range(0..corpus.len())];
        let other = &corpus[rng.random_range(0..corpus.len())].2;
        let mut input = bytes.clone();
        mutate(&mut rng, &mut input, other);
        let t = Instant::now();
        let result = std::panic::catch_unwind(|| parse_export(*kind, &input));
        let took = t.elapsed();
        runs += 1;
        slowest = slowest.max(took);
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => refused += 1,
            Err(_) => {
                finding = Some((name.clone(), "panicked", input));
                break;
            }
        }
        if took > PER_INPUT {
            finding = Some((name.clone(), "took too long", input));
            break;
        }
    }
    std::panic::set_hook(hook);
    if let Some((name, what, input)) = finding {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-findings");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{name}-seed{seed}-run{runs}.pdf"));
        let _ = std::fs::write(&file, &input);
        panic!(
            "a mutation of {name} {what} (seed {seed}, run {runs}); input in {}",
            file.display()
        );
    }
    println!(
        "fuzz: {runs} executions in {:.1} s (seed {seed}), corpus {} reports, {refused} refused with an error, slowest input {:.0} ms",
        started.elapsed().as_secs_f64(),
        corpus.len(),
        slowest.as_secs_f64() * 1e3
    );
}

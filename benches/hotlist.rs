#![allow(clippy::print_stderr)]
//! Hotlist lookup at a city's scale: 1,000,000 synthetic Colombian plates (cars `AAA999`,
//! motorcycles `AAA99A`, with their list, category, state, priority and expiry), one read
//! looked up with the default `hotlist_max_distance = 1.0` (exact and confusable matches),
//! indexed (`lookup`) next to the scan it replaced (`lookup_scan`, the baseline), on reads
//! that miss (most reads) and reads one confusable letter off a listed plate.
//!
//! Before criterion runs, it prints what an operator asks: p50 / p99 / max per read over
//! 20,000 reads (half misses, half near hits), and the memory the list takes (RSS growth
//! while it loads, from /proc/self/status).
//!
//! Run: `cargo bench --bench hotlist` (`-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use vigia_lpr::Hotlist;

const ENTRIES: usize = 1_000_000;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
    fn letter(&mut self) -> char {
        (b'A' + self.below(26) as u8) as char
    }
    fn digit(&mut self) -> char {
        (b'0' + self.below(10) as u8) as char
    }
    /// A Colombian car (`AAA999`) or motorcycle (`AAA99A`) plate.
    fn plate(&mut self) -> String {
        let mut p: String = (0..3).map(|_| self.letter()).collect();
        p.push(self.digit());
        p.push(self.digit());
        p.push(if self.below(3) == 0 {
            self.letter()
        } else {
            self.digit()
        });
        p
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The list (as a CSV with every column, parsed like a file) and the plates in it.
fn build() -> (Hotlist, Vec<String>) {
    let mut rng = Rng(2026);
    let mut text = String::from("plate,list,category,state,priority,expires\n");
    let mut plates = Vec::with_capacity(ENTRIES);
    for i in 0..ENTRIES {
        let p = rng.plate();
        let list = ["hurto", "requerido", "sijin"][i % 3];
        text += &format!("{p},{list},hurto de vehiculo,ANT,{},2027-06-30\n", i % 101);
        plates.push(p);
    }
    let before = rss_kib();
    let t = Instant::now();
    let (list, errors) = Hotlist::parse_csv(&text, "d", "bench.csv");
    drop(text);
    let took = t.elapsed();
    let grown = rss_kib().saturating_sub(before);
    assert!(errors.is_empty());
    eprintln!(
        "hotlist: {} entries parsed and indexed in {:.2} s; RSS grew {:.0} MiB while loading ({:.0} bytes per entry)",
        list.len(),
        took.as_secs_f64(),
        grown as f64 / 1024.0,
        grown as f64 * 1024.0 / list.len() as f64
    );
    (list, plates)
}

/// A read one confusable character off a listed plate (`0`→`O`, `1`→`I`, `8`→`B`, ...).
fn near(p: &str) -> String {
    let swapped: String = p
        .chars()
        .map(|c| match c {
            '0' => 'O',
            '1' => 'I',
            '8' => 'B',
            '5' => 'S',
            c => c,
        })
        .collect();
    if swapped == p {
        format!("{}Z", &p[..5])
    } else {
        swapped
    }
}

fn percentiles(list: &Hotlist, reads: &[String], scan: bool) -> (f64, f64, f64) {
    let mut t: Vec<Duration> = reads
        .iter()
        .map(|r| {
            let s = Instant::now();
            let m = if scan {
                list.lookup_scan(r, 1.0)
            } else {
                list.lookup(r, 1.0)
            };
            black_box(m);
            s.elapsed()
        })
        .collect();
    t.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (
        us(t[t.len() / 2]),
        us(t[t.len() * 99 / 100]),
        us(t[t.len() - 1]),
    )
}

fn hotlist(c: &mut Criterion) {
    let (list, plates) = build();
    let mut rng = Rng(7);
    let reads: Vec<String> = (0..20_000)
        .map(|i| {
            if i % 2 == 0 {
                rng.plate() // almost surely a miss
            } else {
                near(&plates[rng.below(ENTRIES as u64) as usize])
            }
        })
        .collect();
    let (p50, p99, max) = percentiles(&list, &reads, false);
    eprintln!(
        "hotlist: indexed lookup per read: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs"
    );
    let (s50, s99, smax) = percentiles(&list, &reads[..200], true);
    eprintln!(
        "hotlist: scan (baseline) per read: p50 {s50:.0} µs, p99 {s99:.0} µs, max {smax:.0} µs; p50 ratio indexed/scan {:.5}",
        p50 / s50
    );
    let miss = rng.plate();
    let hit = near(&plates[12345]);
    let mut g = c.benchmark_group("hotlist_1m");
    g.sample_size(10);
    for (name, read) in [("miss", &miss), ("near_hit", &hit)] {
        g.bench_function(format!("indexed/{name}"), |b| {
            b.iter(|| black_box(list.lookup(black_box(read), 1.0)))
        });
        g.bench_function(format!("scan_baseline/{name}"), |b| {
            b.iter(|| black_box(list.lookup_scan(black_box(read), 1.0)))
        });
    }
    g.finish();
}

criterion_group!(benches, hotlist);
criterion_main!(benches);

//! Fuzzing every parser of outside input on stable Rust: the seeds in `tests/fuzz/corpus`
//! (and outbox segments made by the outbox itself) with random mutations — byte flips,
//! cuts, insertions, duplicated ranges — must never panic, and must keep their promises
//! (a snapshot path never leaves its directory, redaction never shows a password, an
//! opened outbox never hands out a record that fails its checksum).
//!
//! Cases per target: `VIGIA_FUZZ_CASES` (default 200), or `VIGIA_FUZZ_SECS` seconds each
//! (`benches/fuzz.sh` runs 10 minutes a target). A failing input is written to
//! `target/fuzz-failures/` and its seed printed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vigia::Config;
use vigia_analytics::SnapshotStore;
use vigia_ingest::Source;
use vigia_ingest::source::redact_url;
use vigia_lpr::Hotlist;
use vigia_outbox::{FsyncPolicy, Outbox, OutboxConfig};

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let d = vigia_testkit::paths::project_root()
        .join("tests/fuzz/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Each line of each file of `dir`, as a seed.
fn corpus_lines(dir: &str) -> Vec<Vec<u8>> {
    corpus(dir)
        .iter()
        .flat_map(|f| {
            f.split(|b| *b == b'\n')
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

fn mutate(rng: &mut fastrand::Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let len = v.len();
        match rng.u8(0..6) {
            0 if len > 0 => {
                let i = rng.usize(0..len);
                v[i] ^= 1 << rng.u8(0..8);
            }
            1 if len > 0 => v.truncate(rng.usize(0..len)),
            2 => {
                let i = rng.usize(0..=len);
                let junk: Vec<u8> = (0..rng.usize(1..16)).map(|_| rng.u8(..)).collect();
                v.splice(i..i, junk);
            }
            3 if len > 1 => {
                let a = rng.usize(0..len);
                let b = rng.usize(a..len.min(a + 64) + 1).min(len);
                let piece = v[a..b].to_vec();
                let at = rng.usize(0..=len);
                v.splice(at..at, piece);
            }
            4 if len > 0 => {
                let a = rng.usize(0..len);
                let b = rng.usize(a..=len);
                v.drain(a..b);
            }
            _ => {
                // Structural characters of the formats at hand.
                let pick = [
                    b'"', b'[', b']', b'=', b',', b'\n', b'@', b'/', b':', b'%', b'.', 0,
                ];
                let i = rng.usize(0..=len);
                v.insert(i, pick[rng.usize(0..pick.len())]);
            }
        }
    }
    v
}

/// Runs `check` on mutated seeds for the configured number of cases or seconds.
fn fuzz(target: &str, seeds: &[Vec<u8>], mut check: impl FnMut(&[u8])) {
    let cases: u64 = std::env::var("VIGIA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let secs: Option<u64> = std::env::var("VIGIA_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok());
    let seed: u64 = std::env::var("VIGIA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00F0_22ED);
    let mut rng = fastrand::Rng::with_seed(seed ^ target.len() as u64);
    let until = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let mut n = 0u64;
    // The seeds themselves first.
    for s in seeds {
        run_one(target, s, &mut check, n);
        n += 1;
    }
    loop {
        match until {
            Some(t) if Instant::now() >= t => break,
            None if n >= cases => break,
            _ => {}
        }
        let base = &seeds[rng.usize(0..seeds.len())];
        let input = mutate(&mut rng, base);
        run_one(target, &input, &mut check, n);
        n += 1;
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("[fuzz {target}] {n} inputs, 0 failures (seed {seed})");
    }
}

fn run_one(target: &str, input: &[u8], check: &mut impl FnMut(&[u8]), n: u64) {
    if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
        let dir = vigia_testkit::paths::project_root().join("target/fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{target}-{n}"));
        let _ = std::fs::write(&file, input);
        panic!("{target}: input {n} failed; saved to {}", file.display());
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn config_files() {
    let root = vigia_testkit::paths::project_root();
    fuzz("config", &corpus("config"), |b| {
        let _ = Config::parse(&text(b), &root.join("configs"), Path::new("fuzz.toml"));
    });
}

#[test]
fn hotlist_csv() {
    fuzz("hotlist", &corpus("hotlist"), |b| {
        let (list, errors) = Hotlist::parse_csv(&text(b), "fuzz", "fuzz.csv");
        for e in &errors {
            assert!(e.line >= 1);
        }
        let _ = list.lookup("ABC123", 1.0);
    });
}

#[test]
fn model_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    fuzz("manifest", &corpus("manifest"), |b| {
        std::fs::write(&path, b).unwrap();
        let _ = vigia_infer::ModelManifest::load(&path);
    });
}

#[test]
fn camera_urls() {
    fuzz("url", &corpus_lines("url"), |b| {
        let url = text(b);
        let _ = Source::parse(&url);
        let red = redact_url(&url);
        // A password given as user:password@ before the host never survives.
        if let Some((_, rest)) = url.split_once("://")
            && let Some((userinfo, _)) = rest.split_once('@')
            && let Some((user, pw)) = userinfo.split_once(':')
            && !user.contains(['/', '?', '#'])
            && pw.len() >= 4
            && !pw.contains(['/', '?', '#', '@'])
            && url.matches(pw).count() == 1
        {
            assert!(!red.contains(pw), "{url} -> {red}");
        }
    });
}

#[test]
fn snapshot_paths() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 1 << 20, "http://n".into()).unwrap();
    // A real file, so that resolving can succeed.
    let day = dir.path().join("gate-1/20261123");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join("lpr-1-scene.jpg"), b"\xff\xd8").unwrap();
    let root = dir.path().canonicalize().unwrap();
    fuzz("snapshot_path", &corpus_lines("snapshot_path"), |b| {
        let p = text(b);
        let mut parts = p.rsplitn(3, '/');
        let (file, day, cam) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        for found in [store.resolve(cam, day, file), store.resolve_url(&p)]
            .into_iter()
            .flatten()
        {
            let real = found.canonicalize().unwrap();
            assert!(
                real.starts_with(&root),
                "{p} resolved outside: {}",
                real.display()
            );
        }
    });
}

/// A valid outbox (segments and ledger) to mutate: made by the outbox itself.
fn outbox_seed() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OutboxConfig {
        fsync: FsyncPolicy::Never,
        min_free_bytes: 0,
        ..OutboxConfig::default()
    };
    {
        let (ob, _) = Outbox::open(dir.path(), &cfg).unwrap();
        for i in 0..12u32 {
            let seq = ob.append(format!("event {i} payload").as_bytes()).unwrap();
            if i % 3 == 0 {
                ob.ack(seq).unwrap();
            }
        }
    }
    let mut seg = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "seg") && std::fs::metadata(&p).unwrap().len() > 8 {
            seg = std::fs::read(&p).unwrap();
        }
    }
    (seg, std::fs::read(dir.path().join("acks.log")).unwrap())
}

#[test]
fn outbox_segment_and_ledger_bytes() {
    let (seg, ledger) = outbox_seed();
    let cfg = OutboxConfig {
        fsync: FsyncPolicy::Never,
        min_free_bytes: 0,
        ..OutboxConfig::default()
    };
    let mut flip = false;
    fuzz("outbox", &[seg.clone(), ledger.clone()], |b| {
        let dir = tempfile::tempdir().unwrap();
        // Alternate: a damaged segment beside a good ledger, and the other way round.
        flip = !flip;
        let (s, l) = if flip {
            (b, &ledger[..])
        } else {
            (&seg[..], b)
        };
        std::fs::write(dir.path().join(format!("{:020}.seg", 1)), s).unwrap();
        std::fs::write(dir.path().join("acks.log"), l).unwrap();
        if let Ok((ob, _)) = Outbox::open(dir.path(), &cfg) {
            // Whatever it hands out passed its checksum (checked inside); it keeps working.
            for r in ob.read_after(None, usize::MAX).unwrap() {
                ob.ack(r.seq).unwrap();
            }
            ob.append(b"after").unwrap();
        }
    });
}

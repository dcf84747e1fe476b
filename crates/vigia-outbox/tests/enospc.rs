//! The outbox on a real full filesystem (a small tmpfs): a refused append leaves the log as
//! it was, nothing accepted is lost or read back as corrupt, and appends resume once
//! acknowledgements (or an operator) free space. Needs root to mount the tmpfs; without it
//! the test says so and skips (in CI, `CI=true`, it fails instead).

use vigia_outbox::{FsyncPolicy, Outbox, OutboxConfig, OutboxError};
use vigia_testkit::fs::SmallFs;

fn payload(n: u32) -> Vec<u8> {
    let mut p = n.to_le_bytes().to_vec();
    p.resize(1000, (n % 251) as u8);
    p
}

fn number(p: &[u8]) -> u32 {
    u32::from_le_bytes(p[..4].try_into().unwrap())
}

#[test]
fn a_full_disk_refuses_appends_without_damage_and_space_brings_them_back() {
    let fs = match SmallFs::mount(256 * 1024) {
        Ok(f) => f,
        Err(e) => {
            vigia_testkit::paths::skip("enospc", &e.to_string());
            return;
        }
    };
    let dir = fs.join("outbox");
    let cfg = OutboxConfig {
        segment_bytes: 16 * 1024,
        max_bytes: 64 << 20, // far above the disk: the disk is the limit
        fsync: FsyncPolicy::Always,
        min_free_bytes: 0, // let the disk fill for real
        ..OutboxConfig::default()
    };
    let (ob, _) = Outbox::open(&dir, &cfg).unwrap();
    // Fill the disk.
    let mut accepted: Vec<(u64, u32)> = Vec::new();
    let mut n = 0u32;
    let refusal = loop {
        match ob.append(&payload(n)) {
            Ok(seq) => accepted.push((seq, n)),
            Err(e) => break e,
        }
        n += 1;
        assert!(n < 10_000, "the disk never filled");
    };
    assert!(
        matches!(refusal, OutboxError::NoSpace { .. }) && refusal.is_back_pressure(),
        "{refusal}"
    );
    let at_full = accepted.len();
    assert!(at_full > 50, "only {at_full} records fit");
    // Still full: more refusals, nothing accepted, nothing damaged.
    for _ in 0..20 {
        assert!(ob.append(&payload(n)).unwrap_err().is_back_pressure());
    }
    let all = ob.read_after(None, usize::MAX).unwrap();
    assert_eq!(all.len(), at_full, "every accepted record reads back");
    for (r, (seq, k)) in all.iter().zip(&accepted) {
        assert_eq!((r.seq, number(&r.payload)), (*seq, *k));
    }
    // The broker acknowledges the older half: their segments go, space returns.
    for (seq, _) in &accepted[..at_full / 2] {
        assert!(ob.ack(*seq).unwrap());
    }
    let mut acked = at_full / 2;
    let mut resumed = 0;
    while resumed < 100 {
        match ob.append(&payload(n)) {
            Ok(seq) => {
                accepted.push((seq, n));
                resumed += 1;
                n += 1;
            }
            Err(e) if e.is_back_pressure() => {
                // Full again: acknowledge more, as a live broker would.
                assert!(
                    acked < accepted.len(),
                    "no space and nothing left to acknowledge"
                );
                ob.ack(accepted[acked].0).unwrap();
                acked += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    drop(ob);
    // After a restart: exactly the unacknowledged records, intact, in order.
    let (ob, report) = Outbox::open(&dir, &cfg).unwrap();
    assert!(report.corrupt.is_empty(), "{:?}", report.corrupt);
    let left = ob.read_after(None, usize::MAX).unwrap();
    let want: Vec<(u64, u32)> = accepted[acked..].to_vec();
    let got: Vec<(u64, u32)> = left.iter().map(|r| (r.seq, number(&r.payload))).collect();
    assert_eq!(got, want);
}

#[test]
fn min_free_bytes_holds_appends_back_before_the_disk_is_full() {
    let fs = match SmallFs::mount(256 * 1024) {
        Ok(f) => f,
        Err(e) => {
            vigia_testkit::paths::skip("min_free", &e.to_string());
            return;
        }
    };
    let cfg = OutboxConfig {
        segment_bytes: 16 * 1024,
        fsync: FsyncPolicy::Never,
        min_free_bytes: 128 * 1024,
        ..OutboxConfig::default()
    };
    let (ob, _) = Outbox::open(&fs.join("outbox"), &cfg).unwrap();
    let mut ok = 0;
    let e = loop {
        match ob.append(&payload(ok)) {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(e, OutboxError::NoSpace { .. }), "{e}");
    assert!(e.to_string().contains("min_free_bytes"), "{e}");
    // Half the disk stays free for snapshots and logs.
    assert!(
        ok < 140,
        "{ok} records of 1 KB on a 256 KiB disk with 128 KiB kept free"
    );
    let st = std::fs::metadata(fs.path()).unwrap();
    assert!(st.is_dir());
}

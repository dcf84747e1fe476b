//! The outbox checked against a simple in-memory model (a map of pending seq -> payload)
//! under random sequences of appends, acks, crashes with restarts, and torn tails.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::Path;

use proptest::prelude::*;
use vigia_outbox::{FsyncPolicy, Outbox, OutboxConfig};

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    /// Acknowledge the n-th pending record (modulo the pending count).
    Ack(usize),
    /// Acknowledge a seq that is not pending.
    AckUnknown,
    /// Drop the outbox without any shutdown step (like kill -9) and open it again.
    Restart,
    /// Like Restart, but first cut bytes off the newest segment (a torn write).
    TornRestart(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..600).prop_map(Op::Append),
        4 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::AckUnknown),
        1 => Just(Op::Restart),
        1 => (1u64..80).prop_map(Op::TornRestart),
    ]
}

fn cfg() -> OutboxConfig {
    OutboxConfig {
        segment_bytes: 4096,
        max_bytes: 64 << 20,
        fsync: FsyncPolicy::Never,
        ..OutboxConfig::default()
    }
}

fn newest_segment(dir: &Path) -> std::path::PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .unwrap()
}

fn all_pending(ob: &Outbox) -> BTreeMap<u64, Vec<u8>> {
    ob.read_after(None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, r.payload))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn outbox_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut ob, _) = Outbox::open(dir.path(), &cfg()).unwrap();
        let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut last_seq = 0u64;
        let mut counter = 0u32;
        for op in ops {
            match op {
                Op::Append(len) => {
                    counter += 1;
                    let payload: Vec<u8> = counter.to_le_bytes().iter().copied().cycle().take(len).collect();
                    let seq = ob.append(&payload).unwrap();
                    prop_assert!(seq > last_seq, "seq {} not above {}", seq, last_seq);
                    last_seq = seq;
                    model.insert(seq, payload);
                }
                Op::Ack(n) => {
                    if model.is_empty() { continue; }
                    let seq = *model.keys().nth(n % model.len()).unwrap();
                    prop_assert!(ob.ack(seq).unwrap());
                    model.remove(&seq);
                }
                Op::AckUnknown => {
                    prop_assert!(!ob.ack(last_seq + 1000).unwrap());
                }
                Op::Restart => {
                    drop(ob);
                    let (o, rep) = Outbox::open(dir.path(), &cfg()).unwrap();
                    prop_assert!(rep.corrupt.is_empty(), "{:?}", rep);
                    ob = o;
                }
                Op::TornRestart(cut) => {
                    drop(ob);
                    let seg = newest_segment(dir.path());
                    let len = fs::metadata(&seg).unwrap().len();
                    let f = OpenOptions::new().write(true).open(&seg).unwrap();
                    f.set_len(len.saturating_sub(cut).max(8)).unwrap();
                    drop(f);
                    let (o, _) = Outbox::open(dir.path(), &cfg()).unwrap();
                    ob = o;
                    // What survives is the model minus a suffix of its newest records.
                    let got = all_pending(&ob);
                    for (seq, payload) in &got {
                        prop_assert_eq!(model.get(seq), Some(payload), "seq {} is garbage", seq);
                    }
                    if let Some(max_got) = got.keys().max() {
                        for seq in model.keys().filter(|s| *s <= max_got) {
                            prop_assert!(got.contains_key(seq), "seq {} lost from the middle", seq);
                        }
                    }
                    model = got;
                }
            }
            prop_assert_eq!(all_pending(&ob), model.clone());
            prop_assert_eq!(ob.pending(), model.len());
        }
        // Reading in pages gives the same, in order.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = ob.read_after(after, 7).unwrap();
            if page.is_empty() { break; }
            after = page.last().map(|r| r.seq);
            paged.extend(page.into_iter().map(|r| r.seq));
        }
        prop_assert_eq!(paged, model.keys().copied().collect::<Vec<_>>());
    }
}

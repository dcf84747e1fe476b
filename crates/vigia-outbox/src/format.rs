//! On-disk layouts. All integers little-endian.
//!
//! Segment file `<first seq, 20 digits>.seg`:
//! ```text
//! header  : b"VGOBSEG1"                                   8 bytes
//! record* : len u32 | crc u32 | seq u64 | payload[len]    16 + len bytes
//!           crc = CRC-32 (IEEE) of seq bytes || payload
//! ```
//! Ack ledger `acks.log`:
//! ```text
//! header  : b"VGOBACK1" | watermark u64 | next_seq u64 | crc u32 (of the two)   28 bytes
//! entry*  : seq u64 | crc u32 (of seq bytes)                                    12 bytes
//! ```
//! Every seq below the watermark is acknowledged; entries list acknowledged seqs at or
//! above it (acks can arrive out of order). `next_seq` is a floor for the next seq handed
//! out, so seqs never repeat even after every segment was deleted or a torn tail was cut.

pub const SEGMENT_MAGIC: &[u8; 8] = b"VGOBSEG1";
pub const LEDGER_MAGIC: &[u8; 8] = b"VGOBACK1";
pub const RECORD_HEADER: usize = 16;
pub const LEDGER_HEADER: usize = 28;
pub const LEDGER_ENTRY: usize = 12;
/// Largest payload accepted (events are a few KiB; this bounds what a corrupt length can
/// make recovery read).
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

pub fn record_crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

pub fn encode_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(RECORD_HEADER + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record_crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
    buf
}

/// A record found by [`scan_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub seq: u64,
    /// Offset of the record header in the file.
    pub offset: u64,
    pub len: u32,
}

/// A byte range that held no valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub offset: u64,
    pub len: u64,
}

/// Tries to parse a record at `pos` of `data` (the whole file, header included).
fn parse_at(data: &[u8], pos: usize, min_seq: u64) -> Option<Found> {
    let head = data.get(pos..pos + RECORD_HEADER)?;
    let len = u32::from_le_bytes(head[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(head[8..16].try_into().ok()?);
    // Plausibility first, so resyncing over garbage rarely pays for a CRC: a seq within
    // 2^32 of the expected one and a length that fits.
    if len > MAX_PAYLOAD || seq < min_seq || seq - min_seq > u64::from(u32::MAX) {
        return None;
    }
    let payload = data.get(pos + RECORD_HEADER..pos + RECORD_HEADER + len)?;
    (record_crc(seq, payload) == crc).then_some(Found {
        seq,
        offset: pos as u64,
        len: len as u32,
    })
}

/// Scans a segment's bytes (header included) for valid records, in file order, with
/// strictly increasing seqs. After an invalid record (torn write, flipped bits) it looks for
/// the next position where a valid record with a larger seq starts; the skipped bytes are
/// returned as gaps. A false resync needs a CRC-32 collision (about 1 in 4 billion).
/// `first_seq` is the seq the segment is named after (no record in it is smaller).
pub fn scan_records(data: &[u8], first_seq: u64) -> (Vec<Found>, Vec<Gap>) {
    let mut found = Vec::new();
    let mut gaps = Vec::new();
    let mut pos = SEGMENT_MAGIC.len();
    let mut min_seq = first_seq;
    while pos < data.len() {
        if let Some(rec) = parse_at(data, pos, min_seq) {
            pos += RECORD_HEADER + rec.len as usize;
            min_seq = rec.seq + 1;
            found.push(rec);
            continue;
        }
        let start = pos;
        let mut next = None;
        for p in pos + 1..data.len() {
            if let Some(rec) = parse_at(data, p, min_seq) {
                next = Some((p, rec));
                break;
            }
        }
        match next {
            Some((p, _)) => {
                gaps.push(Gap {
                    offset: start as u64,
                    len: (p - start) as u64,
                });
                pos = p;
            }
            None => {
                gaps.push(Gap {
                    offset: start as u64,
                    len: (data.len() - start) as u64,
                });
                break;
            }
        }
    }
    (found, gaps)
}

pub fn ledger_header(watermark: u64, next_seq: u64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(LEDGER_HEADER);
    buf.extend_from_slice(LEDGER_MAGIC);
    buf.extend_from_slice(&watermark.to_le_bytes());
    buf.extend_from_slice(&next_seq.to_le_bytes());
    let crc = crc32fast::hash(&buf[8..24]);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

pub fn ledger_entry(seq: u64) -> [u8; LEDGER_ENTRY] {
    let mut buf = [0u8; LEDGER_ENTRY];
    buf[0..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..12].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    buf
}

/// Parsed ledger: the watermark, the entries, and the length of the valid prefix.
pub struct Ledger {
    pub watermark: u64,
    pub next_seq: u64,
    pub acked: Vec<u64>,
    pub valid_len: usize,
}

/// Parses a ledger file. `None` when the header itself is invalid.
pub fn parse_ledger(data: &[u8]) -> Option<Ledger> {
    let head = data.get(..LEDGER_HEADER)?;
    if &head[..8] != LEDGER_MAGIC {
        return None;
    }
    let wm = u64::from_le_bytes(head[8..16].try_into().ok()?);
    let next_seq = u64::from_le_bytes(head[16..24].try_into().ok()?);
    let crc = u32::from_le_bytes(head[24..28].try_into().ok()?);
    if crc32fast::hash(&head[8..24]) != crc {
        return None;
    }
    let mut acked = Vec::new();
    let mut pos = LEDGER_HEADER;
    while let Some(e) = data.get(pos..pos + LEDGER_ENTRY) {
        let seq = u64::from_le_bytes(e[0..8].try_into().ok()?);
        let crc = u32::from_le_bytes(e[8..12].try_into().ok()?);
        if crc32fast::hash(&seq.to_le_bytes()) != crc {
            break;
        }
        acked.push(seq);
        pos += LEDGER_ENTRY;
    }
    Some(Ledger {
        watermark: wm,
        next_seq,
        acked,
        valid_len: pos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut data = SEGMENT_MAGIC.to_vec();
        for (seq, p) in records {
            data.extend(encode_record(*seq, p));
        }
        data
    }

    #[test]
    fn scans_clean_segment() {
        let data = segment(&[(1, b"a"), (2, b"bb"), (5, b"")]);
        let (found, gaps) = scan_records(&data, 1);
        assert_eq!(
            found.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![1, 2, 5]
        );
        assert!(gaps.is_empty());
    }

    #[test]
    fn torn_tail_is_a_gap_not_a_record() {
        let mut data = segment(&[(1, b"hello"), (2, b"world")]);
        data.truncate(data.len() - 3);
        let (found, gaps) = scan_records(&data, 1);
        assert_eq!(found.len(), 1);
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].offset as usize, 8 + 16 + 5);
    }

    #[test]
    fn corrupt_middle_record_is_skipped_and_later_ones_recovered() {
        let mut data = segment(&[(1, b"one"), (2, b"two"), (3, b"three")]);
        let second_payload = 8 + 16 + 3 + 16;
        data[second_payload] ^= 0xff;
        let (found, gaps) = scan_records(&data, 1);
        assert_eq!(found.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(gaps.len(), 1);
    }

    #[test]
    fn ledger_round_trip_and_torn_entry() {
        let mut data = ledger_header(10, 14);
        data.extend(ledger_entry(12));
        data.extend(ledger_entry(11));
        data.extend(&ledger_entry(13)[..5]);
        let l = parse_ledger(&data).unwrap();
        assert_eq!((l.watermark, l.next_seq), (10, 14));
        assert_eq!(l.acked, vec![12, 11]);
        assert_eq!(l.valid_len, LEDGER_HEADER + 2 * LEDGER_ENTRY);
        assert!(parse_ledger(b"garbage-garbage-garbage").is_none());
    }
}

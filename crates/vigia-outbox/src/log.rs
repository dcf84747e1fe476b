//! [`Outbox`]: the segment log and its ack ledger.
//!
//! Invariants:
//! - seqs only grow, across restarts too (the ledger's watermark keeps the floor when every
//!   segment has been deleted);
//! - a record is in the replay set until [`Outbox::ack`] is called for it;
//! - a segment file is deleted only when every record in it is acknowledged;
//! - after a restart vigia never appends to an old segment: it starts a new one, so a torn
//!   tail left by a crash is never followed by new data;
//! - bytes that do not parse as a valid record (torn write, corruption) are reported in the
//!   [`OpenReport`] and skipped, never returned as records.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::{FsyncPolicy, OutboxConfig};
use crate::error::{OutboxError, io};
use crate::format::{self, LEDGER_ENTRY, MAX_PAYLOAD, RECORD_HEADER, SEGMENT_MAGIC};

const LEDGER_FILE: &str = "acks.log";
const LOCK_FILE: &str = "LOCK";
/// The ledger is rewritten (compacted) when it holds this many entries.
const LEDGER_COMPACT_ENTRIES: usize = 64 * 1024;
/// Seqs are reserved in blocks: the ledger header durably records a floor above every seq
/// handed out, before it is handed out. A restart continues from that floor, so a seq is
/// never reused, even when the record that carried it was lost with the page cache while
/// a stale ack for it survived (which would otherwise acknowledge a new record).
const SEQ_BLOCK: u64 = 4096;
/// How often the background thread looks for acknowledged records past their age.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// One unacknowledged record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// Bytes that held no valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRegion {
    pub file: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// What [`Outbox::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Segment files kept (they still hold unacknowledged records).
    pub segments: usize,
    /// Unacknowledged records that will be replayed.
    pub pending: usize,
    /// Records found but already acknowledged.
    pub acked: usize,
    /// Fully acknowledged or empty segment files removed.
    pub removed_segments: usize,
    /// Torn or corrupt byte ranges skipped.
    pub corrupt: Vec<CorruptRegion>,
    /// Whether the ack ledger was unreadable (all found records are then replayed:
    /// duplicates, never loss).
    pub ledger_reset: bool,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
    /// Unacknowledged records in this segment.
    live: u64,
}

#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

struct Inner {
    dir: PathBuf,
    segment_bytes: u64,
    max_bytes: u64,
    fsync: FsyncPolicy,
    fsync_interval: Duration,
    segments: BTreeMap<u64, Segment>,
    active_id: u64,
    active: File,
    active_len: u64,
    dirty: bool,
    last_sync: Instant,
    index: BTreeMap<u64, Loc>,
    readers: HashMap<u64, File>,
    next_seq: u64,
    /// Seqs below this are reserved in the ledger header; `next_seq` stays below it.
    seq_reserved: u64,
    ledger: File,
    ledger_entries: usize,
    /// Acknowledged seqs at or above the ledger watermark.
    acked_above: BTreeSet<u64>,
    /// Ledger entries at the last compaction (a compaction is due once as many entries
    /// were appended since as it would write: amortised O(1) per ack however many acks
    /// wait above a stuck record).
    compacted_entries: usize,
    /// A ledger write failed part-way: rewrite it before appending again.
    ledger_torn: bool,
    total_bytes: u64,
    /// The active segment cannot take more records (a write that could not be undone, or
    /// a failed fsync): the next append starts a new segment first.
    poisoned: bool,
    /// When the active segment got its first record (none while it holds none).
    active_since: Option<Instant>,
    /// `acked_max_age_secs`; `None` for no limit.
    acked_max_age: Option<Duration>,
    /// Bytes of acknowledged records removed because of their age.
    expired_bytes: u64,
    free: FreeSpace,
    _lock: File,
}

/// Crash injection for the fault tests: `VIGIA_OUTBOX_CRASH_AT=<point>:<n>` aborts the
/// process (as abruptly as SIGKILL: no destructor, no flush) the n-th time the outbox
/// reaches `<point>` (`compaction`: the new ledger written, not yet renamed over the old
/// one; `roll`: a segment full, the next not yet made; `segment-created`: the next
/// segment's file exists, its header not yet written). Unset, it costs one relaxed load.
mod crash_point {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static PLAN: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static SEEN: AtomicU64 = AtomicU64::new(0);

    pub(super) fn hit(point: &str) {
        let plan = PLAN.get_or_init(|| {
            let v = std::env::var("VIGIA_OUTBOX_CRASH_AT").ok()?;
            let (p, n) = v.split_once(':')?;
            Some((p.to_string(), n.parse().ok()?))
        });
        if let Some((p, n)) = plan
            && p == point
            && SEEN.fetch_add(1, Ordering::Relaxed) + 1 == *n
        {
            std::process::abort();
        }
    }
}

/// Free space on the outbox's filesystem, checked with `statvfs` at most every
/// [`FREE_RECHECK`] and estimated in between from the bytes written.
struct FreeSpace {
    min: u64,
    known: u64,
    at: Instant,
}

const FREE_RECHECK: Duration = Duration::from_millis(250);

/// Bytes available to vigia on the filesystem holding `dir` (`statvfs`).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

impl FreeSpace {
    /// Refuses a write of `need` bytes that would leave less than `min` free.
    fn reserve(&mut self, dir: &Path, need: u64) -> Result<(), OutboxError> {
        if self.min == 0 {
            return Ok(());
        }
        if self.at.elapsed() >= FREE_RECHECK || self.known < self.min + need {
            let st = rustix::fs::statvfs(dir).map_err(|e| io(dir)(e.into()))?;
            self.known = st.f_bavail.saturating_mul(st.f_frsize);
            self.at = Instant::now();
        }
        if self.known < self.min + need {
            return Err(OutboxError::NoSpace {
                path: dir.to_path_buf(),
                detail: format!(
                    "{} bytes free, outbox.min_free_bytes is {}",
                    self.known, self.min
                ),
            });
        }
        self.known -= need;
        Ok(())
    }
}

struct Shared {
    inner: Mutex<Inner>,
    appended: watch::Sender<u64>,
    /// Copies of the counts, updated under the lock after every change, so status reads
    /// (HTTP, metrics) never wait behind an append that is in `fdatasync`.
    pending: AtomicUsize,
    bytes: AtomicU64,
    max_bytes: u64,
    dir: PathBuf,
}

/// The durable outbox. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Outbox {
    shared: Arc<Shared>,
    flusher: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn sync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// What opening found in the segment files.
#[derive(Default)]
struct Recovery {
    segments: BTreeMap<u64, Segment>,
    index: BTreeMap<u64, Loc>,
    max_seq_seen: Option<u64>,
    /// Seqs (acknowledged or not) in segments that stay.
    seen_in_live: HashSet<u64>,
    total_bytes: u64,
    /// Seqs below this may have been handed out to a torn record.
    torn_floor: u64,
}

impl Recovery {
    /// Scans segment `id`: indexes its unacknowledged records, cuts a torn tail, sets aside
    /// a file that is not a segment, removes a segment with nothing left to deliver.
    fn load_segment(
        &mut self,
        dir: &Path,
        id: u64,
        watermark: u64,
        acked: &HashSet<u64>,
        report: &mut OpenReport,
    ) -> Result<(), OutboxError> {
        let path = seg_path(dir, id);
        let data = fs::read(&path).map_err(io(&path))?;
        if data.len() < SEGMENT_MAGIC.len() || &data[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
            // Not a segment we can trust at all: keep the evidence under another name.
            report.corrupt.push(CorruptRegion {
                file: path.clone(),
                offset: 0,
                len: data.len() as u64,
            });
            let aside = path.with_extension("seg.corrupt");
            fs::rename(&path, &aside).map_err(io(&path))?;
            return Ok(());
        }
        let (found, gaps) = format::scan_records(&data, id);
        // A gap reaching the end of the file may be a torn record whose seq was handed
        // out: never hand that seq out again.
        let mut data_len = data.len() as u64;
        if let Some(tail) = gaps.last().filter(|g| g.offset + g.len == data_len) {
            let floor = found.last().map_or(id, |f| f.seq + 1);
            self.torn_floor = self.torn_floor.max(floor + 1);
            // Cut the torn tail off (reported once, below): nothing is ever appended to
            // an old segment, so this only removes bytes that hold no record.
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            f.set_len(tail.offset).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
            data_len = tail.offset;
        }
        for g in gaps {
            report.corrupt.push(CorruptRegion {
                file: path.clone(),
                offset: g.offset,
                len: g.len,
            });
        }
        let mut live = 0u64;
        let mut seqs = Vec::new();
        for f in &found {
            self.max_seq_seen = Some(self.max_seq_seen.map_or(f.seq, |m| m.max(f.seq)));
            seqs.push(f.seq);
            if f.seq < watermark || acked.contains(&f.seq) {
                report.acked += 1;
                continue;
            }
            live += 1;
            self.index.insert(
                f.seq,
                Loc {
                    segment: id,
                    offset: f.offset,
                    len: f.len,
                },
            );
        }
        if live == 0 {
            fs::remove_file(&path).map_err(io(&path))?;
            report.removed_segments += 1;
            return Ok(());
        }
        self.seen_in_live.extend(seqs);
        self.total_bytes += data_len;
        self.segments.insert(
            id,
            Segment {
                path,
                bytes: data_len,
                live,
            },
        );
        Ok(())
    }
}

/// The ledger's watermark, seq floor and acknowledged seqs; a damaged ledger is reported
/// (and reset when nothing of it can be read).
fn read_ledger(
    path: &Path,
    report: &mut OpenReport,
) -> Result<(u64, u64, HashSet<u64>), OutboxError> {
    match fs::read(path) {
        Ok(data) => match format::parse_ledger(&data) {
            Some(l) => {
                if l.valid_len < data.len() {
                    // A torn last entry: that ack is lost, its record is re-delivered.
                    report.corrupt.push(CorruptRegion {
                        file: path.to_path_buf(),
                        offset: l.valid_len as u64,
                        len: (data.len() - l.valid_len) as u64,
                    });
                }
                Ok((l.watermark, l.next_seq, l.acked.into_iter().collect()))
            }
            None => {
                report.ledger_reset = true;
                report.corrupt.push(CorruptRegion {
                    file: path.to_path_buf(),
                    offset: 0,
                    len: data.len() as u64,
                });
                Ok((0, 0, HashSet::new()))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, 0, HashSet::new())),
        Err(e) => Err(io(path)(e)),
    }
}

/// Ids of the segment files in `dir`, oldest first.
fn segment_ids(dir: &Path) -> Result<Vec<u64>, OutboxError> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        if let Some(id) = name
            .to_string_lossy()
            .strip_suffix(".seg")
            .and_then(|s| s.parse::<u64>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// How long `open` waits for the directory's lock before calling it busy. A process that
/// forks (any `Command::spawn` in the same process) gives the child a copy of every open
/// descriptor until it execs, so a lock just released by a dropped outbox can stay held for
/// a moment by a child that has not exec'd yet (seen in CI on a loaded 2-core machine).
/// Another live vigia holding the directory keeps it far longer than this.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Takes the exclusive lock on `lock` (the directory's LOCK file), waiting up to
/// [`LOCK_WAIT`] while another holder lets go.
fn take_lock(lock: &File, dir: &Path) -> Result<(), OutboxError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OutboxError::Busy {
                    path: dir.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(dir.join(LOCK_FILE))(e)),
        }
    }
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, recovering what a previous run left.
    pub fn open(dir: &Path, cfg: &OutboxConfig) -> Result<(Self, OpenReport), OutboxError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        take_lock(&lock, dir)?;
        let mut report = OpenReport::default();

        let ledger_path = dir.join(LEDGER_FILE);
        let (watermark, seq_floor, acked) = read_ledger(&ledger_path, &mut report)?;
        let mut rec = Recovery::default();
        for id in segment_ids(dir)? {
            rec.load_segment(dir, id, watermark, &acked, &mut report)?;
        }
        let Recovery {
            mut segments,
            index,
            max_seq_seen,
            seen_in_live,
            mut total_bytes,
            torn_floor,
        } = rec;

        let mut next_seq = watermark.max(seq_floor).max(torn_floor).max(1);
        if let Some(m) = max_seq_seen {
            next_seq = next_seq.max(m + 1);
        }
        if let Some(m) = acked.iter().max() {
            next_seq = next_seq.max(m + 1);
        }

        // A fresh active segment: never append after whatever a crash left at a tail.
        let active_id = next_seq;
        let active_path = seg_path(dir, active_id);
        let mut active = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&active_path)
            .map_err(io(&active_path))?;
        active.write_all(SEGMENT_MAGIC).map_err(io(&active_path))?;
        active.sync_all().map_err(io(&active_path))?;
        let active_len = SEGMENT_MAGIC.len() as u64;
        total_bytes += active_len;
        segments.insert(
            active_id,
            Segment {
                path: active_path,
                bytes: active_len,
                live: 0,
            },
        );

        report.segments = segments.len() - 1;
        report.pending = index.len();

        let acked_above: BTreeSet<u64> = acked
            .into_iter()
            .filter(|s| seen_in_live.contains(s))
            .collect();
        // Never truncated in place: compaction below replaces it by write-temp-fsync-rename,
        // so a crash or a full disk here leaves the old ledger whole.
        let ledger = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ledger_path)
            .map_err(io(&ledger_path))?;
        let mut inner = Inner {
            dir: dir.to_path_buf(),
            segment_bytes: cfg.segment_bytes,
            max_bytes: cfg.max_bytes,
            fsync: cfg.fsync,
            fsync_interval: Duration::from_millis(cfg.fsync_interval_ms.max(1)),
            segments,
            active_id,
            active,
            active_len,
            dirty: false,
            last_sync: Instant::now(),
            index,
            readers: HashMap::new(),
            next_seq,
            seq_reserved: next_seq + SEQ_BLOCK,
            ledger,
            ledger_entries: 0,
            acked_above,
            compacted_entries: 0,
            ledger_torn: false,
            total_bytes,
            poisoned: false,
            active_since: None,
            acked_max_age: (cfg.acked_max_age_secs > 0)
                .then(|| Duration::from_secs(cfg.acked_max_age_secs)),
            expired_bytes: 0,
            free: FreeSpace {
                min: cfg.min_free_bytes,
                known: 0,
                at: Instant::now(),
            },
            _lock: lock,
        };
        inner.compact_ledger()?;

        Ok((Self::start(inner, cfg), report))
    }

    /// Shares the opened log and starts the group-commit flusher (`fsync = "interval"`).
    fn start(inner: Inner, cfg: &OutboxConfig) -> Self {
        let (appended, _) = watch::channel(inner.next_seq - 1);
        let shared = Arc::new(Shared {
            pending: AtomicUsize::new(inner.index.len()),
            bytes: AtomicU64::new(inner.total_bytes),
            max_bytes: inner.max_bytes,
            dir: inner.dir.clone(),
            inner: Mutex::new(inner),
            appended,
        });
        let group_commit = cfg.fsync == FsyncPolicy::Interval;
        let flusher = (group_commit || cfg.acked_max_age_secs > 0).then(|| {
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            let weak = Arc::downgrade(&shared);
            let interval = if group_commit {
                Duration::from_millis(cfg.fsync_interval_ms.max(1)).min(HOUSEKEEPING)
            } else {
                HOUSEKEEPING
            };
            let handle = std::thread::Builder::new()
                .name("outbox-flush".into())
                .spawn(move || flusher_loop(&weak, &stop_rx, interval))
                .expect("spawn outbox flusher thread");
            (stop_tx, handle)
        });
        Self { shared, flusher }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` under the lock, then refreshes the counts status reads see.
    fn changing<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.lock();
        let out = f(&mut inner);
        self.shared
            .pending
            .store(inner.index.len(), Ordering::Relaxed);
        self.shared
            .bytes
            .store(inner.total_bytes, Ordering::Relaxed);
        out
    }

    /// Appends a record; durable per the fsync policy when this returns. Returns its seq.
    pub fn append(&self, payload: &[u8]) -> Result<u64, OutboxError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(OutboxError::TooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let seq = self.changing(|inner| inner.append(payload))?;
        self.shared.appended.send_replace(seq);
        Ok(seq)
    }

    /// Up to `max` unacknowledged records with seq greater than `after` (all when `None`),
    /// oldest first.
    pub fn read_after(&self, after: Option<u64>, max: usize) -> Result<Vec<Record>, OutboxError> {
        self.lock().read_after(after, max)
    }

    /// Marks `seq` acknowledged. Returns `false` when it was not pending (already acked or
    /// unknown). Deletes its segment when that was the segment's last pending record.
    pub fn ack(&self, seq: u64) -> Result<bool, OutboxError> {
        self.changing(|inner| inner.ack(seq))
    }

    /// Number of records not yet acknowledged (never waits on a write in progress).
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Relaxed)
    }

    /// Bytes of segment files on disk (never waits on a write in progress).
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// The disk budget.
    pub fn max_bytes(&self) -> u64 {
        self.shared.max_bytes
    }

    /// Bytes of acknowledged records removed so far because they were older than
    /// `acked_max_age_secs`.
    pub fn expired_bytes(&self) -> u64 {
        self.lock().expired_bytes
    }

    /// Applies the age limit on acknowledged records now (the background thread does it
    /// every second). Returns whether a segment was cut back or closed.
    pub fn expire_acked(&self) -> Result<bool, OutboxError> {
        self.changing(|inner| inner.expire_acked())
    }

    /// A receiver that changes whenever a record is appended (value: its seq).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.appended.subscribe()
    }

    /// Forces appended records to stable storage now (used at shutdown).
    pub fn sync(&self) -> Result<(), OutboxError> {
        self.lock().sync()
    }

    /// The directory of this outbox.
    pub fn dir(&self) -> PathBuf {
        self.shared.dir.clone()
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.flusher.take() {
            drop(stop);
            let _ = handle.join();
        }
        let mut inner = self.lock();
        if inner.dirty {
            let _ = inner.sync();
        }
    }
}

fn flusher_loop(weak: &Weak<Shared>, stop: &mpsc::Receiver<()>, interval: Duration) {
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let Some(shared) = weak.upgrade() else { return };
        let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.fsync == FsyncPolicy::Interval
            && inner.dirty
            && !inner.poisoned
            && inner.last_sync.elapsed() >= inner.fsync_interval
            && let Err(e) = inner.sync()
        {
            tracing::error!(error = %e, "outbox group commit failed");
        }
        if let Err(e) = inner.expire_acked() {
            tracing::warn!(error = %e, "outbox: could not close an aged segment; will retry");
        }
        shared.bytes.store(inner.total_bytes, Ordering::Relaxed);
    }
}

impl Inner {
    fn active_path(&self) -> PathBuf {
        seg_path(&self.dir, self.active_id)
    }

    /// The age limit on acknowledged records: once the active segment's first record is
    /// older than `acked_max_age`, the segment is cut back to its header when every record
    /// in it is acknowledged, or closed (a new active segment started) so that it is
    /// deleted when its last record is. Returns whether it did either.
    fn expire_acked(&mut self) -> Result<bool, OutboxError> {
        let (Some(max), Some(since)) = (self.acked_max_age, self.active_since) else {
            return Ok(false);
        };
        if since.elapsed() < max {
            return Ok(false);
        }
        let bytes = self.active_len - SEGMENT_MAGIC.len() as u64;
        if self.recycle_active() {
            self.expired_bytes += bytes;
            tracing::debug!(bytes, "outbox: acknowledged records past their age removed");
            return Ok(true);
        }
        // Records still wait for the broker: close the segment; it goes with its last ack.
        self.roll()?;
        Ok(true)
    }

    /// An fsync error is fatal for the segment: its pages may already be marked clean, so
    /// a retried fsync could report success for data that never reached the disk. The next
    /// append starts a new segment instead.
    fn sync(&mut self) -> Result<(), OutboxError> {
        let path = self.active_path();
        if let Err(e) = self.active.sync_data() {
            self.poisoned = true;
            return Err(io(&path)(e));
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn roll(&mut self) -> Result<(), OutboxError> {
        // A poisoned segment is not fsynced again (see `sync`).
        if !self.poisoned && (self.dirty || self.fsync != FsyncPolicy::Never) {
            self.sync()?;
        }
        let id = self.next_seq;
        let path = seg_path(&self.dir, id);
        crash_point::hit("roll");
        let file = match self.new_segment(&path) {
            Ok(f) => f,
            Err(e) => {
                // Nothing changed: the old segment stays active (or poisoned).
                let _ = fs::remove_file(&path);
                return Err(e);
            }
        };
        let old = self.active_id;
        self.poisoned = false;
        self.active_since = None;
        self.active = file;
        self.active_id = id;
        self.active_len = SEGMENT_MAGIC.len() as u64;
        self.total_bytes += self.active_len;
        self.segments.insert(
            id,
            Segment {
                path,
                bytes: self.active_len,
                live: 0,
            },
        );
        // The old active segment may already be fully acknowledged.
        if self.segments.get(&old).is_some_and(|s| s.live == 0) {
            self.remove_segment(old)?;
        }
        Ok(())
    }

    /// A new segment file with its header, durable per the fsync policy.
    fn new_segment(&self, path: &Path) -> Result<File, OutboxError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)
            .map_err(io(path))?;
        crash_point::hit("segment-created");
        file.write_all(SEGMENT_MAGIC).map_err(io(path))?;
        if self.fsync != FsyncPolicy::Never {
            file.sync_all().map_err(io(path))?;
            sync_dir(&self.dir)?;
        }
        Ok(file)
    }

    /// With the disk full and every record of the active segment acknowledged, its bytes
    /// can be given back without a new file (which a full disk may refuse): cut it back to
    /// its header. Returns whether it did.
    fn recycle_active(&mut self) -> bool {
        let header = SEGMENT_MAGIC.len() as u64;
        let live = self.segments.get(&self.active_id).map_or(1, |s| s.live);
        if live > 0 || self.active_len <= header || self.poisoned {
            return false;
        }
        let cut = self
            .active
            .set_len(header)
            .and_then(|()| self.active.seek(SeekFrom::Start(header)).map(|_| ()))
            .and_then(|()| self.active.sync_data());
        if cut.is_err() {
            self.poisoned = true;
            return false;
        }
        self.total_bytes = self.total_bytes.saturating_sub(self.active_len - header);
        self.active_len = header;
        self.active_since = None;
        self.readers.remove(&self.active_id);
        if let Some(seg) = self.segments.get_mut(&self.active_id) {
            seg.bytes = header;
        }
        true
    }

    /// Appends a record. On any failure the log is left as it was (or, when a write could
    /// not be undone, its segment is closed to further records) and the record is not
    /// accepted: nothing is ever indexed that was not written.
    fn append(&mut self, payload: &[u8]) -> Result<u64, OutboxError> {
        match self.try_append(payload) {
            Err(e @ OutboxError::NoSpace { .. }) if self.recycle_active() => {
                tracing::info!(error = %e, "outbox: disk full; reusing the acknowledged active segment");
                self.try_append(payload)
            }
            r => r,
        }
    }

    fn try_append(&mut self, payload: &[u8]) -> Result<u64, OutboxError> {
        let rec_len = (RECORD_HEADER + payload.len()) as u64;
        let full = self.active_len + rec_len > self.segment_bytes
            && self.active_len > SEGMENT_MAGIC.len() as u64;
        if self.poisoned || full {
            self.roll()?;
        }
        if self.total_bytes + rec_len > self.max_bytes {
            return Err(OutboxError::Full {
                used: self.total_bytes,
                max: self.max_bytes,
                needed: rec_len,
            });
        }
        self.free.reserve(&self.dir, rec_len)?;
        if self.next_seq >= self.seq_reserved {
            let before = self.seq_reserved;
            self.seq_reserved = self.next_seq + SEQ_BLOCK;
            if let Err(e) = self.compact_ledger() {
                self.seq_reserved = before;
                return Err(e);
            }
        }
        let seq = self.next_seq;
        let buf = format::encode_record(seq, payload);
        let path = self.active_path();
        let offset = self.active_len;
        if let Err(e) = self.active.write_all(&buf) {
            self.undo_write(offset, buf.len() as u64);
            return Err(io(&path)(e));
        }
        self.active_len += rec_len;
        self.total_bytes += rec_len;
        self.next_seq += 1;
        let synced = match self.fsync {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::Interval => {
                self.dirty = true;
                if self.last_sync.elapsed() >= self.fsync_interval {
                    self.sync()
                } else {
                    Ok(())
                }
            }
            FsyncPolicy::Never => {
                self.dirty = true;
                Ok(())
            }
        };
        // Not durable: not accepted (the segment is closed to new records; the bytes stay,
        // so a restart may deliver this record too: at least once, same event id).
        synced?;
        let active_id = self.active_id;
        if let Some(seg) = self.segments.get_mut(&active_id) {
            seg.bytes = self.active_len;
            seg.live += 1;
        }
        self.active_since.get_or_insert_with(Instant::now);
        self.index.insert(
            seq,
            Loc {
                segment: active_id,
                offset,
                len: payload.len() as u32,
            },
        );
        Ok(seq)
    }

    fn read_after(&mut self, after: Option<u64>, max: usize) -> Result<Vec<Record>, OutboxError> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let wanted: Vec<(u64, Loc)> = self
            .index
            .range(start..)
            .take(max)
            .map(|(s, l)| (*s, *l))
            .collect();
        let mut out = Vec::with_capacity(wanted.len());
        for (seq, loc) in wanted {
            let path = self.segments[&loc.segment].path.clone();
            let reader = match self.readers.entry(loc.segment) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(File::open(&path).map_err(io(&path))?)
                }
            };
            let mut buf = vec![0u8; RECORD_HEADER + loc.len as usize];
            reader
                .read_exact_at(&mut buf, loc.offset)
                .map_err(io(&path))?;
            let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
            let got_seq = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
            let payload = buf.split_off(RECORD_HEADER);
            if got_seq != seq || format::record_crc(seq, &payload) != crc {
                // The bytes changed on disk after they were written and verified: never
                // hand garbage to the publisher. Report loudly and drop the record.
                tracing::error!(
                    file = %path.display(),
                    offset = loc.offset,
                    seq,
                    "outbox record failed its checksum on read; skipping it"
                );
                self.forget(seq)?;
                continue;
            }
            out.push(Record { seq, payload });
        }
        Ok(out)
    }

    /// Removes `seq` from the pending set (acknowledged or unreadable).
    fn forget(&mut self, seq: u64) -> Result<bool, OutboxError> {
        let Some(loc) = self.index.remove(&seq) else {
            return Ok(false);
        };
        let emptied = match self.segments.get_mut(&loc.segment) {
            Some(seg) => {
                seg.live = seg.live.saturating_sub(1);
                seg.live == 0 && loc.segment != self.active_id
            }
            None => false,
        };
        if emptied {
            self.remove_segment(loc.segment)?;
        }
        Ok(true)
    }

    fn ack(&mut self, seq: u64) -> Result<bool, OutboxError> {
        if !self.index.contains_key(&seq) {
            return Ok(false);
        }
        // No fsync: a lost ack means a re-delivery (at-least-once), never a loss.
        let path = self.dir.join(LEDGER_FILE);
        // A failed write may have left part of an entry: rewrite the ledger whole before
        // appending to it again.
        if self.ledger_torn && self.compact_ledger().is_ok() {
            self.ledger_torn = false;
        }
        let written = if self.ledger_torn {
            Ok(())
        } else {
            self.ledger.write_all(&format::ledger_entry(seq))
        };
        if let Err(e) = written {
            // Most likely a full disk. Forget the record anyway, so a segment whose records
            // are all acknowledged is deleted and gives its space back: should the process
            // die before the ledger is whole again, the record is at worst delivered twice
            // (its segment still exists) or not at all because it is gone with its
            // acknowledged segment. Never lost.
            self.ledger_torn = true;
            tracing::warn!(file = %path.display(), error = %e, "outbox: could not record an acknowledgement in the ledger");
        }
        self.ledger_entries += 1;
        self.acked_above.insert(seq);
        self.forget(seq)?;
        let since = self.ledger_entries.saturating_sub(self.compacted_entries);
        if since >= LEDGER_COMPACT_ENTRIES.max(self.acked_above.len()) {
            // A failed compaction leaves the old ledger whole (temp file, then rename).
            self.try_compact();
        }
        Ok(true)
    }

    /// A write of `len` bytes at `offset` failed part-way: cut the segment back so the log
    /// is exactly as before; when that fails too, close the segment to new records and
    /// never reuse the seq whose bytes may be on disk.
    fn undo_write(&mut self, offset: u64, len: u64) {
        let undone = self
            .active
            .set_len(offset)
            .and_then(|()| self.active.seek(SeekFrom::Start(offset)).map(|_| ()));
        if undone.is_err() {
            self.poisoned = true;
            self.active_len = offset + len;
            self.total_bytes += len;
            self.next_seq += 1;
            if let Some(seg) = self.segments.get_mut(&self.active_id) {
                seg.bytes = self.active_len;
            }
        }
    }

    fn remove_segment(&mut self, id: u64) -> Result<(), OutboxError> {
        if let Some(seg) = self.segments.remove(&id) {
            self.readers.remove(&id);
            fs::remove_file(&seg.path).map_err(io(&seg.path))?;
            self.total_bytes = self.total_bytes.saturating_sub(seg.bytes);
            self.try_compact();
        }
        Ok(())
    }
    /// Compacts the ledger now if it can; on failure (a full disk) the old ledger stays
    /// whole and the next compaction tries again.
    fn try_compact(&mut self) {
        if let Err(e) = self.compact_ledger() {
            tracing::warn!(error = %e, "outbox: ledger compaction failed; it will be retried");
        }
    }

    /// Rewrites the ledger as watermark (lowest pending seq) + acks above it.
    fn compact_ledger(&mut self) -> Result<(), OutboxError> {
        let watermark = self.index.keys().next().copied().unwrap_or(self.next_seq);
        self.acked_above = self.acked_above.split_off(&watermark);
        let mut data = format::ledger_header(watermark, self.seq_reserved);
        data.reserve(self.acked_above.len() * LEDGER_ENTRY);
        for seq in &self.acked_above {
            data.extend_from_slice(&format::ledger_entry(*seq));
        }
        let path = self.dir.join(LEDGER_FILE);
        let tmp = self.dir.join("acks.log.tmp");
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&data).map_err(io(&tmp))?;
            if self.fsync != FsyncPolicy::Never {
                f.sync_all().map_err(io(&tmp))?;
            }
        }
        crash_point::hit("compaction");
        fs::rename(&tmp, &path).map_err(io(&path))?;
        if self.fsync != FsyncPolicy::Never {
            sync_dir(&self.dir)?;
        }
        self.ledger = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        self.ledger_entries = self.acked_above.len();
        self.compacted_entries = self.ledger_entries;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> OutboxConfig {
        OutboxConfig {
            segment_bytes: 4096,
            max_bytes: 1 << 20,
            fsync: FsyncPolicy::Never,
            ..OutboxConfig::default()
        }
    }

    fn seqs(r: &[Record]) -> Vec<u64> {
        r.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn append_read_ack_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, rep) = Outbox::open(dir.path(), &cfg()).unwrap();
        assert_eq!(rep, OpenReport::default());
        let a = ob.append(b"one").unwrap();
        let b = ob.append(b"two").unwrap();
        let c = ob.append(b"three").unwrap();
        assert!(a < b && b < c);
        assert_eq!(ob.read_after(None, 10).unwrap().len(), 3);
        assert_eq!(seqs(&ob.read_after(Some(a), 10).unwrap()), vec![b, c]);
        assert!(ob.ack(b).unwrap());
        assert!(!ob.ack(b).unwrap(), "second ack is a no-op");
        drop(ob);
        let (ob, rep) = Outbox::open(dir.path(), &cfg()).unwrap();
        assert_eq!(rep.pending, 2);
        assert_eq!(rep.acked, 1);
        let recs = ob.read_after(None, 10).unwrap();
        assert_eq!(seqs(&recs), vec![a, c]);
        assert_eq!(recs[1].payload, b"three");
        let d = ob.append(b"four").unwrap();
        assert!(d > c, "seqs keep growing across restarts");
    }

    #[test]
    fn seqs_keep_growing_after_everything_was_acked_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let last = {
            let (ob, _) = Outbox::open(dir.path(), &cfg()).unwrap();
            let mut last = 0;
            for i in 0..50u32 {
                last = ob.append(&i.to_le_bytes()).unwrap();
                ob.ack(last).unwrap();
            }
            last
        };
        let (ob, rep) = Outbox::open(dir.path(), &cfg()).unwrap();
        assert_eq!(rep.pending, 0);
        assert!(ob.append(b"x").unwrap() > last);
    }

    #[test]
    fn segments_roll_and_are_deleted_when_fully_acked() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, _) = Outbox::open(dir.path(), &cfg()).unwrap();
        let payload = vec![7u8; 1000];
        let seqs: Vec<u64> = (0..20).map(|_| ob.append(&payload).unwrap()).collect();
        let count = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".seg")
                })
                .count()
        };
        assert!(count() >= 5, "20 KB in 4 KiB segments");
        for s in &seqs {
            ob.ack(*s).unwrap();
        }
        assert_eq!(count(), 1, "only the active segment remains");
        assert_eq!(ob.pending(), 0);
        assert!(ob.bytes() < 4096);
    }

    /// Every byte of the files in `dir`, to look for a record's content.
    fn disk_contents(dir: &Path) -> Vec<u8> {
        let mut all = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            all.extend(fs::read(e.unwrap().path()).unwrap());
        }
        all
    }

    #[test]
    fn acknowledged_records_leave_the_disk_after_their_age() {
        let dir = tempfile::tempdir().unwrap();
        let c = OutboxConfig {
            acked_max_age_secs: 1,
            ..cfg()
        };
        let (ob, _) = Outbox::open(dir.path(), &c).unwrap();
        let marker = b"PLATE-ABC123-payload";
        let a = ob.append(marker).unwrap();
        let b = ob.append(marker).unwrap();
        ob.ack(a).unwrap();
        ob.ack(b).unwrap();
        let found = |hay: &[u8]| hay.windows(marker.len()).any(|w| w == marker);
        assert!(found(&disk_contents(dir.path())), "still there, young");
        // The background thread removes them within about a second of their age.
        let deadline = Instant::now() + Duration::from_secs(10);
        while found(&disk_contents(dir.path())) {
            assert!(
                Instant::now() < deadline,
                "acknowledged records still on disk"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ob.expired_bytes() >= 2 * marker.len() as u64);
        assert_eq!(ob.bytes(), SEGMENT_MAGIC.len() as u64);
        // New records go on normally after the cut.
        let c2 = ob.append(b"next").unwrap();
        assert_eq!(seqs(&ob.read_after(None, 10).unwrap()), vec![c2]);
    }

    #[test]
    fn an_aged_segment_with_pending_records_is_closed_and_goes_with_its_last_ack() {
        let dir = tempfile::tempdir().unwrap();
        let c = OutboxConfig {
            acked_max_age_secs: 1,
            ..cfg()
        };
        let (ob, _) = Outbox::open(dir.path(), &c).unwrap();
        let acked = ob.append(b"acked-one").unwrap();
        let waiting = ob.append(b"still-waiting").unwrap();
        ob.ack(acked).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        ob.expire_acked().unwrap();
        // The pending record is still delivered; nothing accepted is lost.
        assert_eq!(seqs(&ob.read_after(None, 10).unwrap()), vec![waiting]);
        let later = ob.append(b"later").unwrap();
        ob.ack(waiting).unwrap();
        let all = disk_contents(dir.path());
        assert!(
            !all.windows(9).any(|w| w == b"acked-one"),
            "old segment deleted"
        );
        assert_eq!(seqs(&ob.read_after(None, 10).unwrap()), vec![later]);

        // No limit: nothing is removed by age.
        let dir = tempfile::tempdir().unwrap();
        let c = OutboxConfig {
            acked_max_age_secs: 0,
            ..cfg()
        };
        let (ob, _) = Outbox::open(dir.path(), &c).unwrap();
        let s = ob.append(b"kept-acked").unwrap();
        ob.ack(s).unwrap();
        assert!(!ob.expire_acked().unwrap());
        assert!(
            disk_contents(dir.path())
                .windows(10)
                .any(|w| w == b"kept-acked")
        );
    }

    #[test]
    fn full_budget_refuses_appends_and_keeps_accepted_records() {
        let dir = tempfile::tempdir().unwrap();
        let c = OutboxConfig {
            max_bytes: 8192,
            ..cfg()
        };
        let (ob, _) = Outbox::open(dir.path(), &c).unwrap();
        let payload = vec![1u8; 1000];
        let mut accepted = Vec::new();
        let err = loop {
            match ob.append(&payload) {
                Ok(s) => accepted.push(s),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, OutboxError::Full { .. }), "{err}");
        assert_eq!(ob.pending(), accepted.len());
        for s in &accepted[..4] {
            ob.ack(*s).unwrap();
        }
        assert!(ob.append(&payload).is_ok(), "space returns after acks");
    }

    #[test]
    fn second_open_of_the_same_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_ob, _) = Outbox::open(dir.path(), &cfg()).unwrap();
        assert!(matches!(
            Outbox::open(dir.path(), &cfg()),
            Err(OutboxError::Busy { .. })
        ));
    }

    #[test]
    fn reopening_while_the_process_spawns_children_is_not_busy() {
        // A child between fork and exec holds a copy of the lock's descriptor (CI saw
        // `Busy` on a reopen while another test ran `umount`).
        let dir = tempfile::tempdir().unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spawner = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::process::Command::new("true").status();
                }
            })
        };
        for _ in 0..200 {
            let (ob, _) = Outbox::open(dir.path(), &cfg()).unwrap();
            drop(ob);
        }
        stop.store(true, Ordering::Relaxed);
        spawner.join().unwrap();
    }

    #[test]
    fn torn_tail_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, _) = Outbox::open(dir.path(), &cfg()).unwrap();
        let a = ob.append(b"complete").unwrap();
        ob.append(b"this one will be torn").unwrap();
        drop(ob);
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .max_by_key(|p| fs::metadata(p).unwrap().len())
            .unwrap();
        let len = fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 5).unwrap();
        drop(f);
        let (ob, rep) = Outbox::open(dir.path(), &cfg()).unwrap();
        assert_eq!(rep.corrupt.len(), 1, "{rep:?}");
        assert_eq!(seqs(&ob.read_after(None, 10).unwrap()), vec![a]);
    }

    #[test]
    fn interval_policy_flushes_in_background() {
        let dir = tempfile::tempdir().unwrap();
        let c = OutboxConfig {
            fsync: FsyncPolicy::Interval,
            fsync_interval_ms: 5,
            ..cfg()
        };
        let (ob, _) = Outbox::open(dir.path(), &c).unwrap();
        ob.append(b"x").unwrap();
        drop(ob); // joins the flusher and syncs
        let (ob, _) = Outbox::open(dir.path(), &c).unwrap();
        assert_eq!(ob.pending(), 1);
    }

    #[test]
    fn subscribers_see_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (ob, _) = Outbox::open(dir.path(), &cfg()).unwrap();
        let mut rx = ob.subscribe();
        let s = ob.append(b"x").unwrap();
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), s);
    }
}

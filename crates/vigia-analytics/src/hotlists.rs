//! The hotlists of `[lpr] hotlists`: loaded at start, reloaded when a file changes (checked
//! every `lpr.hotlist_reload_secs`), without a restart. A file that cannot be read keeps
//! its previous contents in force; bad rows are reported with their line numbers and the
//! good rows load.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Serialize;
use vigia_lpr::Hotlist;
use vigia_lpr::config::HotlistSource;
use vigia_lpr::hotlist::RowError;

/// What the API says about one file.
#[derive(Debug, Clone, Serialize)]
pub struct ListStatus {
    pub path: String,
    pub entries: usize,
    pub bad_rows: Vec<String>,
    pub loaded_at: Option<String>,
    pub error: Option<String>,
}

struct FileState {
    source: HotlistSource,
    modified: Option<SystemTime>,
    list: Hotlist,
    status: ListStatus,
}

/// All hotlist files, merged into one shared [`Hotlist`].
pub struct HotlistSet {
    files: Mutex<Vec<FileState>>,
    current: Arc<RwLock<Hotlist>>,
    /// A reload that lost more than this share of a file's entries is refused.
    max_drop: f32,
}

fn modified(p: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl HotlistSet {
    /// Loads every file now. Later reloads refuse a file that lost more than `max_drop`
    /// of its entries (0 to 1; `lpr.hotlist_max_drop`).
    pub fn load(sources: &[HotlistSource], max_drop: f32) -> Self {
        let set = Self {
            files: Mutex::new(
                sources
                    .iter()
                    .map(|s| FileState {
                        source: s.clone(),
                        modified: None,
                        list: Hotlist::default(),
                        status: ListStatus {
                            path: s.path.display().to_string(),
                            entries: 0,
                            bad_rows: Vec::new(),
                            loaded_at: None,
                            error: None,
                        },
                    })
                    .collect(),
            ),
            current: Arc::new(RwLock::new(Hotlist::default())),
            max_drop,
        };
        set.reload_if_changed();
        set
    }

    /// The merged hotlist, shared with analytics.
    pub fn shared(&self) -> Arc<RwLock<Hotlist>> {
        self.current.clone()
    }

    /// Entries loaded.
    pub fn len(&self) -> usize {
        self.current.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn status(&self) -> Vec<ListStatus> {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|f| f.status.clone())
            .collect()
    }

    /// Reloads the files that changed; returns whether anything was reloaded.
    pub fn reload_if_changed(&self) -> bool {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for f in files.iter_mut() {
            let m = modified(&f.source.path);
            if m.is_some() && m == f.modified {
                continue;
            }
            let loaded = Hotlist::load(&f.source)
                .map_err(|e| e.to_string())
                .and_then(|(list, errors)| {
                    let (before, now) = (f.list.len(), list.len());
                    let kept = now as f32 / before.max(1) as f32;
                    if f.status.loaded_at.is_some() && before > 0 && kept < 1.0 - self.max_drop {
                        return Err(format!(
                            "refused: {now} entries where {before} were loaded (more than {:.0} % gone; lpr.hotlist_max_drop); the previous contents stay in force until a fuller file arrives",
                            self.max_drop * 100.0
                        ));
                    }
                    Ok((list, errors))
                });
            match loaded {
                Ok((list, errors)) => {
                    report(&f.source.path, &errors);
                    tracing::info!(file = %f.source.path.display(), entries = list.len(), bad_rows = errors.len(), "hotlist loaded");
                    f.status.entries = list.len();
                    f.status.bad_rows = errors
                        .iter()
                        .take(50)
                        .map(|e| format!("line {}: {}", e.line, e.message))
                        .collect();
                    f.status.loaded_at = Some(vigia_core::event::format_utc(
                        &DateTime::<Utc>::from(SystemTime::now()),
                    ));
                    f.status.error = None;
                    f.list = list;
                    f.modified = m;
                    changed = true;
                }
                Err(e) => {
                    if f.status.error.as_deref() != Some(e.as_str()) {
                        tracing::error!(file = %f.source.path.display(), error = %e, "hotlist not loaded; the previous contents stay in force");
                    }
                    f.status.error = Some(e);
                }
            }
        }
        if changed {
            let mut merged = Hotlist::default();
            for f in files.iter() {
                merged.merge(f.list.clone());
            }
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = merged;
        }
        changed
    }
}

fn report(path: &std::path::Path, errors: &[RowError]) {
    for e in errors.iter().take(20) {
        tracing::warn!(file = %path.display(), line = e.line, problem = %e.message, "hotlist row skipped");
    }
    if errors.len() > 20 {
        tracing::warn!(file = %path.display(), more = errors.len() - 20, "more hotlist rows skipped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_reloads_on_change_keeping_the_last_good_contents() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("stolen.csv");
        std::fs::write(&f, "plate,category\nABC123,hurto\nBAD#,x\n").unwrap();
        let set = HotlistSet::load(&[HotlistSource::csv(&f)], 0.5);
        assert_eq!(set.len(), 1);
        let shared = set.shared();
        assert_eq!(
            shared.read().unwrap().lookup("ABC123", 0.0)[0]
                .entry
                .list
                .as_ref(),
            "stolen"
        );
        assert_eq!(set.status()[0].bad_rows, vec!["line 3: plate \"BAD#\" has characters other than letters, digits, spaces, dashes or dots".to_string()]);
        assert!(!set.reload_if_changed(), "unchanged file is not reloaded");
        // The file changes (mtime granularity: force a different time).
        std::fs::write(&f, "plate\nABC123\nXYZ789\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(set.reload_if_changed());
        assert_eq!(shared.read().unwrap().len(), 2);
        // The file disappears: the last contents stay.
        std::fs::remove_file(&f).unwrap();
        set.reload_if_changed();
        assert_eq!(shared.read().unwrap().len(), 2);
        assert!(set.status()[0].error.is_some());
    }

    #[test]
    fn a_reload_that_lost_most_entries_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("stolen.csv");
        let rows: String = (0..10).map(|i| format!("ABC{i:03}\n")).collect();
        std::fs::write(&f, format!("plate\n{rows}")).unwrap();
        let set = HotlistSet::load(&[HotlistSource::csv(&f)], 0.5);
        assert_eq!(set.len(), 10);
        let touch = |secs: u64| {
            let t = SystemTime::now() + std::time::Duration::from_secs(secs);
            std::fs::File::options()
                .write(true)
                .open(&f)
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        // Truncated to its header: refused, the 10 entries stay.
        std::fs::write(&f, "plate\n").unwrap();
        touch(5);
        assert!(!set.reload_if_changed());
        assert_eq!(set.len(), 10);
        let err = set.status()[0].error.clone().unwrap();
        assert!(err.contains("refused: 0 entries where 10"), "{err}");
        // Lost 4 of 10 (within the allowed half): accepted.
        let rows: String = (0..6).map(|i| format!("ABC{i:03}\n")).collect();
        std::fs::write(&f, format!("plate\n{rows}")).unwrap();
        touch(10);
        assert!(set.reload_if_changed());
        assert_eq!(set.len(), 6);
        assert!(set.status()[0].error.is_none());
    }
}

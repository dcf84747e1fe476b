//! Snapshots: the scene and the plate crop of each plate read, as JPEG files served by the
//! node's HTTP API and referenced by URL in events.
//!
//! Layout: `<dir>/<camera>/<YYYYMMDD>/<name>-scene.jpg` and `...-plate.jpg`; URL
//! `<base_url>/api/v1/snapshots/<camera>/<YYYYMMDD>/<file>`. Retention: pictures of plate
//! reads (`lpr-…`) are deleted after `plate_retention_days`, those of incidents and alarms
//! after `incident_retention_days` ([`SnapshotStore::purge`], run hourly by the node); and
//! when the files pass `max_bytes`, the oldest are deleted first. One picture can be deleted
//! on request (`DELETE` on its URL, [`SnapshotStore::delete`]).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use vigia_core::FieldError;

use chrono::{DateTime, Utc};
use image::ImageEncoder;
use image::codecs::jpeg::JpegEncoder;
use serde::Deserialize;
use vigia_core::event::Media;
use vigia_core::{BBox, CameraId};

use crate::AnalyticsError;

type Result<T> = std::result::Result<T, AnalyticsError>;

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AnalyticsError {
    let path = path.to_path_buf();
    move |source| AnalyticsError::Io { what, path, source }
}

/// `[snapshots]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Whether plate reads carry snapshots. Default true.
    pub enabled: bool,
    /// Directory. Default `<data_dir>/snapshots`.
    pub dir: Option<PathBuf>,
    /// Disk budget; the oldest files go first. Default 2 GiB.
    pub max_bytes: u64,
    /// Base of the URLs in events, as the center reaches this node. Default
    /// `http://<telemetry.http_listen>` (with the host name when listening on all addresses).
    pub base_url: Option<String>,
    /// JPEG quality 1–100. Default 85.
    pub jpeg_quality: u8,
    /// Pictures of plate reads (scene and plate crop) are deleted this many days after
    /// they were taken; 0 = only when `max_bytes` needs the room. Default 30.
    pub plate_retention_days: u32,
    /// Pictures of incidents and alarms likewise. Default 90.
    pub incident_retention_days: u32,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            max_bytes: 2 << 30,
            base_url: None,
            jpeg_quality: 85,
            plate_retention_days: 30,
            incident_retention_days: 90,
        }
    }
}

impl SnapshotConfig {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        if !(1..=100).contains(&self.jpeg_quality) {
            e.push(FieldError::new(
                "jpeg_quality",
                "must be 1..=100".to_string(),
            ));
        }
        if self.max_bytes < 1 << 20 {
            e.push(FieldError::new(
                "max_bytes",
                "must be at least 1 MiB".to_string(),
            ));
        }
        for (key, days) in [
            ("plate_retention_days", self.plate_retention_days),
            ("incident_retention_days", self.incident_retention_days),
        ] {
            if days > 3650 {
                e.push(FieldError::new(key, "must be 0 (no limit) to 3650 days"));
            }
        }
        if let Some(u) = &self.base_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            e.push(FieldError::new(
                "base_url",
                "must start with http:// or https://".to_string(),
            ));
        }
        e
    }

    /// How long each kind of picture is kept.
    pub fn retention(&self) -> Retention {
        let days = |d: u32| (d > 0).then(|| Duration::from_secs(u64::from(d) * 86_400));
        Retention {
            plate: days(self.plate_retention_days),
            incident: days(self.incident_retention_days),
        }
    }

    /// The URL base from the config or the HTTP listen address.
    pub fn resolved_base_url(&self, listen: SocketAddr, host: &str) -> String {
        match &self.base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if listen.ip().is_unspecified() => format!("http://{host}:{}", listen.port()),
            None => format!("http://{listen}"),
        }
    }
}

/// How long pictures are kept, per kind (`None`: until the byte budget needs the room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub plate: Option<Duration>,
    pub incident: Option<Duration>,
}

/// What a picture shows: a plate read (`lpr-…` files: scene and plate crop, personal data
/// tied to a vehicle) or an incident or alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    Plate,
    Incident,
}

impl SnapshotKind {
    pub fn of(path: &Path) -> Self {
        match path.file_name().and_then(|n| n.to_str()) {
            Some(n) if n.starts_with("lpr-") => Self::Plate,
            _ => Self::Incident,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Plate => "plate",
            Self::Incident => "incident",
        }
    }
}

impl crate::Context {
    /// Saves `frame` as the scene picture `name` (incidents, alarms); `None` without a
    /// store or a frame, or when saving failed (logged: the event goes out without it).
    pub(crate) fn save_scene(
        &self,
        camera: &CameraId,
        name: &str,
        at: DateTime<Utc>,
        frame: Option<&OwnedRgb>,
    ) -> Option<Media> {
        let (store, frame) = (self.snapshots.as_ref()?, frame?);
        match frame
            .jpeg(self.jpeg_quality)
            .and_then(|scene| store.save(camera, name, at, &scene, None))
        {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(camera = %camera, picture = name, error = %format!("{e:#}"), "could not save a snapshot");
                None
            }
        }
    }
}

/// A packed RGB picture owned by the caller (a copy of a frame).
#[derive(Debug)]
pub struct OwnedRgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl OwnedRgb {
    /// Copies a strided RGB picture.
    pub fn copy_from(width: u32, height: u32, stride: usize, data: &[u8]) -> Self {
        let row = width as usize * 3;
        let mut out = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            out.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        Self {
            width,
            height,
            data: out,
        }
    }

    /// JPEG of the whole picture.
    pub fn jpeg(&self, quality: u8) -> Result<Vec<u8>> {
        encode(&self.data, self.width, self.height, quality)
    }

    /// JPEG of `b` grown by `margin` of its size on each side.
    pub fn crop_jpeg(&self, b: &BBox, margin: f32, quality: u8) -> Result<Vec<u8>> {
        let g = BBox::new(
            b.x - b.w * margin,
            b.y - b.h * margin,
            b.w * (1.0 + 2.0 * margin),
            b.h * (1.0 + 2.0 * margin),
        )
        .clip(self.width as f32, self.height as f32);
        let (x0, y0) = (g.x as usize, g.y as usize);
        let (w, h) = ((g.w as usize).max(1), (g.h as usize).max(1));
        let (w, h) = (
            w.min(self.width as usize - x0),
            h.min(self.height as usize - y0),
        );
        let mut out = Vec::with_capacity(w * h * 3);
        let row = self.width as usize * 3;
        for y in y0..y0 + h {
            out.extend_from_slice(&self.data[y * row + x0 * 3..y * row + (x0 + w) * 3]);
        }
        encode(&out, w as u32, h as u32, quality)
    }
}

fn encode(rgb: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    JpegEncoder::new_with_quality(&mut buf, quality)
        .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| AnalyticsError::Jpeg(e.to_string()))?;
    Ok(buf.into_inner())
}

#[derive(Default)]
struct Index {
    /// (modified, path) -> bytes
    files: BTreeMap<(SystemTime, PathBuf), u64>,
    total: u64,
}

impl Index {
    /// Drops `path`'s entry (a file replaced or deleted).
    fn forget(&mut self, path: &Path) {
        if let Some(key) = self.files.keys().find(|(_, p)| p == path).cloned() {
            let size = self.files.remove(&key).unwrap_or(0);
            self.total = self.total.saturating_sub(size);
        }
    }
}

/// The snapshot directory with its budget.
pub struct SnapshotStore {
    dir: PathBuf,
    max_bytes: u64,
    base_url: String,
    index: Mutex<Index>,
}

impl SnapshotStore {
    /// Opens `dir`, indexing what is already there.
    pub fn open(dir: &Path, max_bytes: u64, base_url: String) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let mut index = Index::default();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(io("listing", &d))? {
                let e = e.map_err(io("listing", &d))?;
                let meta = e.metadata().map_err(io("reading", &e.path()))?;
                if meta.is_dir() {
                    stack.push(e.path());
                } else if e.path().extension().is_some_and(|x| x == "jpg") {
                    let t = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    index.total += meta.len();
                    index.files.insert((t, e.path()), meta.len());
                }
            }
        }
        let store = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            base_url,
            index: Mutex::new(index),
        };
        store.enforce_budget();
        Ok(store)
    }

    /// Writes (or replaces) a scene and, for plate reads, the plate crop; returns their URLs.
    pub fn save(
        &self,
        camera: &CameraId,
        name: &str,
        when: DateTime<Utc>,
        scene: &[u8],
        plate: Option<&[u8]>,
    ) -> Result<Media> {
        let day = when.format("%Y%m%d").to_string();
        let dir = self.dir.join(camera.as_str()).join(&day);
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let mut urls = Vec::new();
        let parts = std::iter::once(("scene", scene)).chain(plate.map(|p| ("plate", p)));
        for (suffix, bytes) in parts {
            let file = format!("{name}-{suffix}.jpg");
            let path = dir.join(&file);
            let tmp = dir.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, bytes).map_err(io("writing", &tmp))?;
            std::fs::rename(&tmp, &path).map_err(io("writing", &path))?;
            {
                let mut idx = self.index.lock().unwrap_or_else(|e| e.into_inner());
                idx.forget(&path);
                idx.files
                    .insert((SystemTime::now(), path.clone()), bytes.len() as u64);
                idx.total += bytes.len() as u64;
            }
            urls.push(format!(
                "{}/api/v1/snapshots/{}/{}/{}",
                self.base_url, camera, day, file
            ));
        }
        self.enforce_budget();
        Ok(Media {
            snapshot_url: urls[0].clone(),
            plate_crop_url: urls.get(1).cloned(),
        })
    }

    fn enforce_budget(&self) {
        let mut idx = self.index.lock().unwrap_or_else(|e| e.into_inner());
        while idx.total > self.max_bytes {
            let Some(((t, path), size)) = idx.files.pop_first() else {
                break;
            };
            let _ = t;
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "could not delete an old snapshot");
            }
            idx.total = idx.total.saturating_sub(size);
        }
    }

    /// Deletes the pictures older than their kind's retention at `now` (by the time they
    /// were written); returns how many files of each kind went (plate, incident).
    pub fn purge(&self, retention: Retention, now: SystemTime) -> (u64, u64) {
        let mut idx = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let expired: Vec<(SystemTime, PathBuf)> = idx
            .files
            .keys()
            .filter(|(t, path)| {
                let keep = match SnapshotKind::of(path) {
                    SnapshotKind::Plate => retention.plate,
                    SnapshotKind::Incident => retention.incident,
                };
                keep.is_some_and(|k| now.duration_since(*t).is_ok_and(|age| age > k))
            })
            .cloned()
            .collect();
        let mut gone = (0, 0);
        for key in expired {
            if let Err(e) = std::fs::remove_file(&key.1)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %key.1.display(), error = %e, "could not delete an expired snapshot");
                continue;
            }
            match SnapshotKind::of(&key.1) {
                SnapshotKind::Plate => gone.0 += 1,
                SnapshotKind::Incident => gone.1 += 1,
            }
            let size = idx.files.remove(&key).unwrap_or(0);
            idx.total = idx.total.saturating_sub(size);
            if let Some(day) = key.1.parent() {
                // The day's directory goes with its last picture.
                let _ = std::fs::remove_dir(day);
            }
        }
        gone
    }

    /// Deletes the picture at an API path `<camera>/<day>/<file>` (an operator's request);
    /// returns its kind, or `None` when there is no such picture.
    pub fn delete(&self, camera: &str, day: &str, file: &str) -> Result<Option<SnapshotKind>> {
        let Some(path) = self.resolve(camera, day, file) else {
            return Ok(None);
        };
        std::fs::remove_file(&path).map_err(io("deleting", &path))?;
        self.index
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(&path);
        Ok(Some(SnapshotKind::of(&path)))
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.index.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// The file behind a snapshot URL this store made (`…/<camera>/<day>/<file>`).
    pub fn resolve_url(&self, url: &str) -> Option<PathBuf> {
        let mut parts = url.rsplit('/');
        let file = parts.next()?;
        let day = parts.next()?;
        let camera = parts.next()?;
        self.resolve(camera, day, file)
    }

    /// The file for an API path `<camera>/<day>/<file>`, if it is one of ours.
    pub fn resolve(&self, camera: &str, day: &str, file: &str) -> Option<PathBuf> {
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !s.starts_with('.')
        };
        if !(safe(camera) && safe(day) && safe(file) && file.ends_with(".jpg")) {
            return None;
        }
        let p = self.dir.join(camera).join(day).join(file);
        p.is_file().then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture() -> OwnedRgb {
        OwnedRgb {
            width: 64,
            height: 32,
            data: (0..64 * 32 * 3).map(|i| (i % 255) as u8).collect(),
        }
    }

    #[test]
    fn saves_serves_and_keeps_within_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cam = CameraId::new("gate-1").unwrap();
        let pic = picture();
        let scene = pic.jpeg(85).unwrap();
        let crop = pic
            .crop_jpeg(&BBox::new(10.0, 5.0, 20.0, 10.0), 0.2, 85)
            .unwrap();
        assert!(scene.starts_with(&[0xff, 0xd8]) && crop.starts_with(&[0xff, 0xd8]));
        let store = SnapshotStore::open(dir.path(), 1 << 20, "http://node:9400".into()).unwrap();
        let when = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = store
            .save(&cam, "pass-1", when, &scene, Some(&crop))
            .unwrap();
        assert_eq!(
            m.snapshot_url,
            "http://node:9400/api/v1/snapshots/gate-1/20261123/pass-1-scene.jpg"
        );
        assert!(
            store
                .resolve("gate-1", "20261123", "pass-1-plate.jpg")
                .is_some()
        );
        assert!(
            store
                .resolve("gate-1", "20261123", "../etc/passwd")
                .is_none()
        );
        assert!(
            store
                .resolve("..", "20261123", "pass-1-plate.jpg")
                .is_none()
        );
        // Replacing a read's files does not double count.
        let before = store.bytes();
        store
            .save(&cam, "pass-1", when, &scene, Some(&crop))
            .unwrap();
        assert_eq!(store.bytes(), before);
        // A tiny budget keeps only the newest.
        let small = SnapshotStore::open(
            dir.path(),
            (scene.len() + crop.len()) as u64,
            "http://x".into(),
        )
        .unwrap();
        small
            .save(&cam, "pass-2", when, &scene, Some(&crop))
            .unwrap();
        assert!(small.bytes() <= (scene.len() + crop.len()) as u64);
        assert!(
            small
                .resolve("gate-1", "20261123", "pass-2-scene.jpg")
                .is_some()
        );
        assert!(
            small
                .resolve("gate-1", "20261123", "pass-1-scene.jpg")
                .is_none()
        );
    }

    #[test]
    fn base_url_defaults() {
        let c = SnapshotConfig::default();
        assert_eq!(
            c.resolved_base_url("127.0.0.1:9400".parse().unwrap(), "h"),
            "http://127.0.0.1:9400"
        );
        assert_eq!(
            c.resolved_base_url("0.0.0.0:9400".parse().unwrap(), "edge-01"),
            "http://edge-01:9400"
        );
        let c = SnapshotConfig {
            base_url: Some("https://vigia.sies/node1/".into()),
            ..SnapshotConfig::default()
        };
        assert_eq!(
            c.resolved_base_url("0.0.0.0:9400".parse().unwrap(), "h"),
            "https://vigia.sies/node1"
        );
    }

    #[test]
    fn pictures_expire_by_kind_and_can_be_deleted_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let cam = CameraId::new("gate-1").unwrap();
        let jpeg = picture().jpeg(85).unwrap();
        let store = SnapshotStore::open(dir.path(), 1 << 20, "http://n".into()).unwrap();
        let when = Utc::now();
        store.save(&cam, "lpr-a", when, &jpeg, Some(&jpeg)).unwrap();
        store.save(&cam, "lpr-b", when, &jpeg, None).unwrap();
        store.save(&cam, "incident-c", when, &jpeg, None).unwrap();
        store
            .save(&cam, "alarm-d-start", when, &jpeg, None)
            .unwrap();
        let cfg = SnapshotConfig::default();
        let r = cfg.retention();
        let day = Duration::from_secs(86_400);
        assert_eq!((r.plate, r.incident), (Some(30 * day), Some(90 * day)));
        // Nothing is old yet; at 31 days the plate pictures go, at 91 the rest.
        let now = SystemTime::now();
        assert_eq!(store.purge(r, now), (0, 0));
        assert_eq!(store.purge(r, now + 31 * day), (3, 0));
        let d = when.format("%Y%m%d").to_string();
        assert!(store.resolve("gate-1", &d, "lpr-a-scene.jpg").is_none());
        assert!(
            store
                .resolve("gate-1", &d, "incident-c-scene.jpg")
                .is_some()
        );
        // 0 days: kept until the byte budget needs the room.
        let forever = Retention {
            plate: None,
            incident: None,
        };
        assert_eq!(store.purge(forever, now + 1000 * day), (0, 0));
        // An operator deletes one picture by its URL's path.
        assert_eq!(
            store
                .delete("gate-1", &d, "alarm-d-start-scene.jpg")
                .unwrap(),
            Some(SnapshotKind::Incident)
        );
        assert_eq!(
            store
                .delete("gate-1", &d, "alarm-d-start-scene.jpg")
                .unwrap(),
            None
        );
        assert_eq!(store.delete("..", &d, "x.jpg").unwrap(), None);
        assert_eq!(store.purge(r, now + 91 * day), (0, 1));
        assert_eq!(store.bytes(), 0);
        // The empty day directory went with its last picture.
        assert!(!dir.path().join("gate-1").join(&d).exists());
    }
}

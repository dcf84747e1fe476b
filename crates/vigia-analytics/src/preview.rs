//! Live previews for the web console: each watched camera's latest analysed frame, small,
//! with the tracks analytics drew from it.
//!
//! Nothing is copied while nobody watches: the console asks for a camera's preview
//! ([`Previews::want`]), which marks the camera as watched for [`WATCH_FOR`]; only then do
//! the inference workers attach a downscaled copy of an analysed frame (at most one per
//! [`MIN_INTERVAL`]), and analytics pairs it with the camera's confirmed tracks after the
//! tracker has seen that very frame. A node with no console open pays one map lookup per
//! analysed frame.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use vigia_core::CameraId;

use crate::snapshots::OwnedRgb;

/// A camera stays watched this long after the console last asked for it.
pub const WATCH_FOR: Duration = Duration::from_secs(10);
/// At most one preview copy per camera in this interval (≈ 4 pictures a second).
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// Previews are at most this wide (the console shows them in a grid or one camera view).
pub const MAX_WIDTH: u32 = 640;

/// One tracked object as the console draws it: the box as fractions of the picture.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewBox {
    pub track: u64,
    pub label: String,
    pub score: f32,
    /// `[x, y, w, h]`, fractions of the picture.
    pub bbox: [f32; 4],
}

/// A camera's latest preview.
#[derive(Debug)]
pub struct Preview {
    /// Increases with every preview of the camera (the console asks for the picture of a
    /// given sequence number, so boxes and picture belong together).
    pub seq: u64,
    pub captured_utc: DateTime<Utc>,
    /// The analysed frame's size (the picture itself is downscaled).
    pub frame_size: (u32, u32),
    pub picture: OwnedRgb,
    pub boxes: Vec<PreviewBox>,
}

#[derive(Default)]
struct Slot {
    watched_until: Option<Instant>,
    last_copy: Option<Instant>,
    seq: u64,
    latest: Option<Arc<Preview>>,
}

/// Every camera's preview slot, shared by the HTTP server, the workers and analytics.
pub struct Previews {
    slots: Mutex<HashMap<CameraId, Slot>>,
    /// Until when (ms after `base`) any camera is watched: the workers' lock-free test.
    any_watched_until: AtomicU64,
    base: Instant,
}

impl Default for Previews {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
            any_watched_until: AtomicU64::new(0),
            base: Instant::now(),
        }
    }
}

impl Previews {
    pub fn new() -> Self {
        Self::default()
    }

    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_millis() as u64
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<CameraId, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The console watches `camera`: previews are made for the next [`WATCH_FOR`]. Returns
    /// the latest preview, if one was made.
    pub fn want(&self, camera: &CameraId) -> Option<Arc<Preview>> {
        self.want_at(camera, Instant::now())
    }

    fn want_at(&self, camera: &CameraId, now: Instant) -> Option<Arc<Preview>> {
        let until = now + WATCH_FOR;
        self.any_watched_until
            .fetch_max(self.ms(until), Ordering::Relaxed);
        let mut slots = self.slots();
        // Pictures of cameras nobody watches any more are let go (and never shown stale).
        for slot in slots.values_mut() {
            if slot.watched_until.is_none_or(|t| t <= now) {
                slot.latest = None;
            }
        }
        let slot = slots.entry(camera.clone()).or_default();
        slot.watched_until = Some(until);
        slot.latest.clone()
    }

    /// For the inference workers: whether to copy this analysed frame of `camera` (it is
    /// watched and its last copy is older than [`MIN_INTERVAL`]). A `true` reserves the
    /// copy, so two workers do not both copy.
    pub fn should_copy(&self, camera: &CameraId, now: Instant) -> bool {
        // No console open: no lock taken.
        if self.ms(now) > self.any_watched_until.load(Ordering::Relaxed) {
            return false;
        }
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(camera) else {
            return false;
        };
        if slot.watched_until.is_none_or(|t| t <= now) {
            return false;
        }
        if slot
            .last_copy
            .is_some_and(|t| now.saturating_duration_since(t) < MIN_INTERVAL)
        {
            return false;
        }
        slot.last_copy = Some(now);
        true
    }

    /// For analytics: the preview of `camera`'s frame with the tracks it had after it.
    pub fn put(
        &self,
        camera: &CameraId,
        picture: OwnedRgb,
        frame_size: (u32, u32),
        captured_utc: DateTime<Utc>,
        boxes: Vec<PreviewBox>,
    ) {
        let mut slots = self.slots();
        let slot = slots.entry(camera.clone()).or_default();
        slot.seq += 1;
        slot.latest = Some(Arc::new(Preview {
            seq: slot.seq,
            captured_utc,
            frame_size,
            picture,
            boxes,
        }));
    }

    /// Forgets a camera (removed from the configuration).
    pub fn forget(&self, camera: &CameraId) {
        self.slots().remove(camera);
    }
}

/// A downscaled copy of a strided RGB frame, at most [`MAX_WIDTH`] wide, aspect kept
/// (nearest neighbour: a preview, not a picture to read plates from; a frame no wider is
/// copied as it is).
pub fn downscale(width: u32, height: u32, stride: usize, data: &[u8]) -> OwnedRgb {
    let w = width.clamp(1, MAX_WIDTH) as usize;
    let h = ((u64::from(height) * w as u64) / u64::from(width.max(1))).max(1) as usize;
    let (sw, sh) = (width as usize, height as usize);
    // Source column of each output column, as a byte offset in a row.
    let cols: Vec<usize> = (0..w).map(|x| x * sw / w * 3).collect();
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = &data[(y * sh / h) * stride..];
        for &c in &cols {
            out.extend_from_slice(&row[c..c + 3]);
        }
    }
    OwnedRgb {
        width: w as u32,
        height: h as u32,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> CameraId {
        CameraId::new("gate").unwrap()
    }

    #[test]
    fn nothing_is_copied_until_the_console_watches() {
        let p = Previews::new();
        let t = Instant::now();
        assert!(!p.should_copy(&cam(), t));
        assert!(p.want_at(&cam(), t).is_none());
        assert!(p.should_copy(&cam(), t));
        // One copy per interval, whichever worker asks.
        assert!(!p.should_copy(&cam(), t + Duration::from_millis(10)));
        assert!(p.should_copy(&cam(), t + MIN_INTERVAL * 2));
        // Unwatched again: no copy, and the last picture is not shown stale.
        p.put(
            &cam(),
            downscale(2, 2, 6, &[0; 12]),
            (2, 2),
            Utc::now(),
            vec![],
        );
        assert!(p.want_at(&cam(), t).is_some());
        let later = t + WATCH_FOR * 3;
        assert!(!p.should_copy(&cam(), later));
        assert!(p.want_at(&cam(), later).is_none());
    }

    #[test]
    fn previews_carry_increasing_sequence_numbers() {
        let p = Previews::new();
        p.want(&cam());
        for _ in 0..3 {
            p.put(
                &cam(),
                downscale(2, 2, 6, &[0; 12]),
                (2, 2),
                Utc::now(),
                vec![],
            );
        }
        assert_eq!(p.want(&cam()).unwrap().seq, 3);
        p.forget(&cam());
        assert!(p.want(&cam()).is_none());
    }

    #[test]
    fn downscale_keeps_the_aspect_and_the_pixels() {
        // 1280x720 with a stride larger than a row → 640x360.
        let (w, h, stride) = (1280u32, 720u32, 1280 * 3 + 16);
        let mut data = vec![0u8; stride * h as usize];
        // Pixel (2, 2) is red; it lands on (1, 1).
        data[2 * stride + 6] = 255;
        let small = downscale(w, h, stride, &data);
        assert_eq!((small.width, small.height), (640, 360));
        assert_eq!(small.data[(640 + 1) * 3], 255);
        // 768x432 → 640x360, not halved.
        let odd = downscale(768, 432, 768 * 3, &vec![1u8; 768 * 432 * 3]);
        assert_eq!(
            (odd.width, odd.height, odd.data.len()),
            (640, 360, 640 * 360 * 3)
        );
        let same = downscale(320, 2, 960, &[7u8; 1920]);
        assert_eq!((same.width, same.height), (320, 2));
        assert!(same.data.iter().all(|&b| b == 7));
    }
}

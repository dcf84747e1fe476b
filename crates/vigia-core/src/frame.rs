//! Decoded frames and the hand-off between ingest and inference.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::camera::CameraId;

/// Pixel bytes of a frame. Ingest hands over the mapped GStreamer buffer itself (no copy);
/// tests hand over a `Vec<u8>`.
pub type FrameData = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A frame's pixels as they reached vigia.
pub enum Pixels {
    /// Packed 8-bit RGB (`R, G, B` per pixel), rows `stride` bytes apart.
    Rgb { data: FrameData, stride: usize },
    /// Planar YUV 4:2:0 as the decoder made it (I420), converted to RGB on first use.
    I420(Yuv420),
}

/// A decoded I420 picture: planes Y, U, V at `offsets` in `data`, rows `strides` apart;
/// U and V at half the width and height (rounded up).
pub struct Yuv420 {
    pub data: FrameData,
    pub offsets: [usize; 3],
    pub strides: [usize; 3],
    /// Y in 0..=255 (JPEG style) rather than 16..=235 (video's usual limited range).
    pub full_range: bool,
    /// BT.709 colours (HD video) rather than BT.601 (SD).
    pub bt709: bool,
    rgb: OnceLock<Vec<u8>>,
}

impl Yuv420 {
    pub fn new(
        data: FrameData,
        offsets: [usize; 3],
        strides: [usize; 3],
        full_range: bool,
        bt709: bool,
    ) -> Self {
        Self {
            data,
            offsets,
            strides,
            full_range,
            bt709,
            rgb: OnceLock::new(),
        }
    }

    /// Whether the planes fit in the data for a `width` x `height` picture.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        let len = (*self.data).as_ref().len();
        let (w, h) = (width as usize, height as usize);
        let sizes = [
            (w, h),
            (w.div_ceil(2), h.div_ceil(2)),
            (w.div_ceil(2), h.div_ceil(2)),
        ];
        sizes.iter().enumerate().all(|(i, &(pw, ph))| {
            self.strides[i] >= pw
                && (ph == 0 || self.offsets[i] + self.strides[i] * (ph - 1) + pw <= len)
        })
    }

    fn plane(&self, i: usize) -> &[u8] {
        &(*self.data).as_ref()[self.offsets[i]..]
    }

    /// The picture in packed RGB, converted once (SIMD, `yuvutils-rs`).
    fn rgb(&self, width: u32, height: u32) -> &[u8] {
        self.rgb.get_or_init(|| {
            use yuvutils_rs::{YuvPlanarImage, YuvRange, YuvStandardMatrix, yuv420_to_rgb};
            let mut rgb = vec![0u8; width as usize * height as usize * 3];
            let image = YuvPlanarImage {
                y_plane: self.plane(0),
                y_stride: self.strides[0] as u32,
                u_plane: self.plane(1),
                u_stride: self.strides[1] as u32,
                v_plane: self.plane(2),
                v_stride: self.strides[2] as u32,
                width,
                height,
            };
            let range = if self.full_range {
                YuvRange::Full
            } else {
                YuvRange::Limited
            };
            let matrix = if self.bt709 {
                YuvStandardMatrix::Bt709
            } else {
                YuvStandardMatrix::Bt601
            };
            // The planes were checked at ingest (`fits`); a failure leaves the picture black.
            let _ = yuv420_to_rgb(&image, &mut rgb, width * 3, range, matrix);
            rgb
        })
    }
}

/// One decoded video frame. Its pixels are read as packed 8-bit RGB ([`Frame::bytes`],
/// rows [`Frame::stride`] bytes apart); a frame decoded to I420 is converted on the first
/// such read, so frames the motion gate skips (it reads [`Frame::luma`]) are never
/// converted.
#[derive(Clone)]
pub struct Frame {
    pub camera: CameraId,
    /// Per-camera sequence number of frames handed to analysis (gaps mean drops).
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    pub pixels: Arc<Pixels>,
    /// Wall-clock time the frame reached vigia.
    pub captured_utc: DateTime<Utc>,
    /// Monotonic time the frame reached vigia (see [`crate::Clock::monotonic`]).
    pub captured_mono: Duration,
    /// The host's instant when the frame reached vigia (the appsink): the start of the
    /// frame-to-event and frame-to-PUBACK latencies. Unlike `captured_*`, which follow the
    /// stream's timestamps, this is always the host's own clock.
    pub received: Instant,
}

impl Frame {
    /// Builds a frame from owned RGB bytes with rows packed tightly (tests, still images).
    pub fn from_rgb(
        camera: CameraId,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
        captured_utc: DateTime<Utc>,
        captured_mono: Duration,
    ) -> Self {
        assert_eq!(
            rgb.len(),
            width as usize * height as usize * 3,
            "RGB buffer size does not match {width}x{height}"
        );
        Self {
            camera,
            seq: 0,
            width,
            height,
            pixels: Arc::new(Pixels::Rgb {
                data: Arc::new(rgb),
                stride: width as usize * 3,
            }),
            captured_utc,
            captured_mono,
            received: Instant::now(),
        }
    }

    /// The RGB pixel bytes (converted from I420 on the first call).
    pub fn bytes(&self) -> &[u8] {
        match &*self.pixels {
            Pixels::Rgb { data, .. } => (**data).as_ref(),
            Pixels::I420(yuv) => yuv.rgb(self.width, self.height),
        }
    }

    /// Bytes from the start of one row of [`Frame::bytes`] to the next (>= `width * 3`).
    pub fn stride(&self) -> usize {
        match &*self.pixels {
            Pixels::Rgb { stride, .. } => *stride,
            Pixels::I420(_) => self.width as usize * 3,
        }
    }

    /// The luma plane and its row stride, when the frame has one (I420); `None` for RGB.
    pub fn luma(&self) -> Option<(&[u8], usize, bool)> {
        match &*self.pixels {
            Pixels::Rgb { .. } => None,
            Pixels::I420(yuv) => Some((yuv.plane(0), yuv.strides[0], yuv.full_range)),
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("camera", &self.camera)
            .field("seq", &self.seq)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("captured_utc", &self.captured_utc)
            .finish_non_exhaustive()
    }
}

/// What happened to a frame offered to the [`FrameHub`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The camera's slot was empty; the frame waits for a worker.
    Queued,
    /// The camera's slot held an older frame no worker had taken yet; that older frame was
    /// dropped (the caller counts it) and this one took its place.
    Replaced,
    /// The hub is closed (shutting down); the frame was dropped.
    Closed,
}

/// The bounded, leaky hand-off from ingest to inference.
///
/// Capacity: one frame per camera. Full-queue policy: the newest frame wins — offering a
/// frame for a camera whose slot is still occupied drops the older frame ([`Offer::Replaced`]).
/// Ingest therefore never blocks (GStreamer streaming threads must not), and analysis
/// always sees the most recent picture. Fairness: workers take cameras in the order their
/// slots became occupied, so a busy camera cannot starve the others.
#[derive(Default)]
pub struct FrameHub {
    state: Mutex<HubState>,
    ready: Condvar,
}

#[derive(Default)]
struct HubState {
    slots: HashMap<CameraId, Frame>,
    order: VecDeque<CameraId>,
    closed: bool,
}

impl FrameHub {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `frame` in its camera's slot. Never blocks beyond a short lock.
    pub fn offer(&self, frame: Frame) -> Offer {
        let mut st = self.lock();
        if st.closed {
            return Offer::Closed;
        }
        let camera = frame.camera.clone();
        let outcome = match st.slots.insert(camera.clone(), frame) {
            Some(_) => Offer::Replaced,
            None => {
                st.order.push_back(camera);
                Offer::Queued
            }
        };
        drop(st);
        self.ready.notify_one();
        outcome
    }

    /// Takes the frame of the camera that has waited longest, waiting up to `timeout` for one.
    /// Returns `None` on timeout, or at once when the hub is closed and empty.
    pub fn take(&self, timeout: Duration) -> Option<Frame> {
        let mut st = self.lock();
        loop {
            if let Some(camera) = st.order.pop_front() {
                let f = st.slots.remove(&camera);
                drop(st);
                // Wake a producer waiting in `offer_wait` for this slot.
                self.ready.notify_all();
                return f;
            }
            if st.closed {
                return None;
            }
            let (guard, res) = self
                .ready
                .wait_timeout(st, timeout)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            if res.timed_out() && st.order.is_empty() {
                return None;
            }
        }
    }

    /// Discards a camera's waiting frame (the camera was removed or restarted).
    pub fn discard(&self, camera: &CameraId) -> bool {
        let mut st = self.lock();
        st.order.retain(|c| c != camera);
        st.slots.remove(camera).is_some()
    }

    /// Like [`FrameHub::offer`], but waits while the camera's slot is occupied instead of
    /// replacing the older frame: back-pressure for sources that are not live (a file
    /// analysed as fast as possible), where dropping would only lose data. Returns
    /// [`Offer::Closed`] if the hub closes while waiting.
    pub fn offer_wait(&self, frame: Frame) -> Offer {
        let mut st = self.lock();
        loop {
            if st.closed {
                return Offer::Closed;
            }
            if !st.slots.contains_key(&frame.camera) {
                break;
            }
            st = self
                .ready
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st.order.push_back(frame.camera.clone());
        st.slots.insert(frame.camera.clone(), frame);
        drop(st);
        self.ready.notify_all();
        Offer::Queued
    }

    /// Closes the hub: later offers are refused, waiting workers wake up.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Number of frames waiting.
    pub fn pending(&self) -> usize {
        self.lock().order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(cam: &str, seq: u64) -> Frame {
        let mut f = Frame::from_rgb(
            CameraId::new(cam).unwrap(),
            2,
            1,
            vec![0; 6],
            Utc::now(),
            Duration::ZERO,
        );
        f.seq = seq;
        f
    }

    #[test]
    fn newest_frame_wins_and_order_is_fair() {
        let hub = FrameHub::new();
        assert_eq!(hub.offer(frame("a", 1)), Offer::Queued);
        assert_eq!(hub.offer(frame("b", 1)), Offer::Queued);
        assert_eq!(hub.offer(frame("a", 2)), Offer::Replaced);
        assert_eq!(hub.pending(), 2);
        let first = hub.take(Duration::ZERO).unwrap();
        assert_eq!((first.camera.as_str(), first.seq), ("a", 2));
        let second = hub.take(Duration::ZERO).unwrap();
        assert_eq!((second.camera.as_str(), second.seq), ("b", 1));
        assert!(hub.take(Duration::from_millis(1)).is_none());
    }

    #[test]
    fn close_wakes_waiters_and_refuses_offers() {
        let hub = Arc::new(FrameHub::new());
        let h = hub.clone();
        let waiter = std::thread::spawn(move || h.take(Duration::from_secs(30)));
        hub.close();
        assert!(waiter.join().unwrap().is_none());
        assert_eq!(hub.offer(frame("a", 1)), Offer::Closed);
    }

    #[test]
    fn a_waiting_worker_gets_an_offered_frame() {
        let hub = Arc::new(FrameHub::new());
        let h = hub.clone();
        let waiter = std::thread::spawn(move || h.take(Duration::from_secs(30)));
        hub.offer(frame("a", 7));
        assert_eq!(waiter.join().unwrap().unwrap().seq, 7);
    }

    #[test]
    fn offer_wait_blocks_until_the_slot_is_taken() {
        let hub = Arc::new(FrameHub::new());
        hub.offer(frame("a", 1));
        let h = hub.clone();
        let producer = std::thread::spawn(move || h.offer_wait(frame("a", 2)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!producer.is_finished(), "waits while the slot is full");
        assert_eq!(hub.take(Duration::ZERO).unwrap().seq, 1);
        assert_eq!(producer.join().unwrap(), Offer::Queued);
        assert_eq!(
            hub.take(Duration::from_secs(1)).unwrap().seq,
            2,
            "nothing was dropped"
        );
        let h = hub.clone();
        hub.offer(frame("b", 1));
        let blocked = std::thread::spawn(move || h.offer_wait(frame("b", 2)));
        hub.close();
        assert_eq!(blocked.join().unwrap(), Offer::Closed);
    }

    #[test]
    fn discard_removes_a_cameras_frame() {
        let hub = FrameHub::new();
        hub.offer(frame("a", 1));
        hub.offer(frame("b", 1));
        assert!(hub.discard(&CameraId::new("a").unwrap()));
        assert_eq!(hub.take(Duration::ZERO).unwrap().camera.as_str(), "b");
        assert!(hub.take(Duration::ZERO).is_none());
    }
}

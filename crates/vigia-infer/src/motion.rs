//! The motion gate: decides whether the detector needs to run on a frame.
//!
//! The frame is reduced to a small grey picture (box-filter average, `width` pixels wide)
//! and compared with the picture of the last frame the detector ran on. When more than
//! `min_changed_fraction` of its pixels changed by more than `pixel_threshold`, something
//! moved and the detector runs. Otherwise it is skipped — unless `max_skip_ms` passed since
//! its last run: a minimum cadence keeps still objects tracked and catches slow changes.
//! Comparing with the last *detected* frame (not the previous frame) means slow motion adds
//! up until it counts.
//!
//! When the detector runs because something moved, [`MotionGate::region`] says where: the
//! changed cells joined with the objects of the last run, so the detector can read a part
//! of the frame at the whole frame's scale instead of all of it.

use std::time::Duration;

use serde::Deserialize;
use vigia_core::{BBox, FieldError};

use crate::image::RgbView;

/// What the gate looks at: an RGB picture, or the luma plane of a decoded YUV one (no
/// colour conversion needed).
pub enum Picture<'a> {
    Rgb(RgbView<'a>),
    Luma {
        width: u32,
        height: u32,
        /// Bytes between row starts (>= `width`).
        stride: usize,
        data: &'a [u8],
        /// Y in 0..=255 rather than video's 16..=235.
        full_range: bool,
    },
}

impl<'a> Picture<'a> {
    /// What the gate should look at in `frame`: its luma plane when it has one (decoded
    /// I420, no conversion), else its RGB.
    pub fn of_frame(frame: &'a vigia_core::Frame) -> Result<Self, crate::InferError> {
        Ok(match frame.luma() {
            Some((data, stride, full_range)) => Picture::Luma {
                width: frame.width,
                height: frame.height,
                stride,
                data,
                full_range,
            },
            None => Picture::Rgb(RgbView::from_frame(frame)?),
        })
    }

    fn size(&self) -> (u32, u32) {
        match self {
            Picture::Rgb(v) => (v.width, v.height),
            Picture::Luma { width, height, .. } => (*width, *height),
        }
    }
}

/// `[motion]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// Whether frames without motion skip the detector. Default true.
    pub enabled: bool,
    /// Width of the grey picture compared. Default 96.
    pub width: u32,
    /// A pixel changed when its grey value moved by more than this (0–255). Default 18.
    pub pixel_threshold: u8,
    /// Motion when at least this fraction of pixels changed. Default 0.003.
    pub min_changed_fraction: f32,
    /// The detector runs at least this often, motion or not. Default 1000 ms.
    pub max_skip_ms: u64,
    /// On frames with motion the detector reads only the region where something moved or
    /// was last detected (with `region_margin` around it), at the scale it reads the whole
    /// frame; the whole frame is still read at least every `max_skip_ms`. Default true.
    pub regions: bool,
    /// Context kept around the region, as a fraction of the frame's larger side.
    /// Default 0.05.
    pub region_margin: f32,
    /// A region larger than this fraction of the frame is not worth cutting: the whole
    /// frame is read. Default 0.5.
    pub region_max_fraction: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            width: 96,
            pixel_threshold: 18,
            min_changed_fraction: 0.003,
            max_skip_ms: 1000,
            regions: true,
            region_margin: 0.05,
            region_max_fraction: 0.5,
        }
    }
}

impl MotionConfig {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        if !(16..=640).contains(&self.width) {
            e.push(FieldError::new("width", "must be 16..=640".to_string()));
        }
        if !(0.0..=1.0).contains(&self.min_changed_fraction) {
            e.push(FieldError::new(
                "min_changed_fraction",
                "must be in [0, 1]".to_string(),
            ));
        }
        if !(0.0..=0.5).contains(&self.region_margin) {
            e.push(FieldError::new(
                "region_margin",
                "must be in [0, 0.5]".to_string(),
            ));
        }
        if !(0.0..=1.0).contains(&self.region_max_fraction) {
            e.push(FieldError::new(
                "region_max_fraction",
                "must be in [0, 1]".to_string(),
            ));
        }
        if self.max_skip_ms == 0 {
            e.push(FieldError::new("max_skip_ms", "must be > 0".to_string()));
        }
        e
    }
}

/// Why a frame goes to the detector or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Something moved.
    Motion,
    /// Nothing moved, but the minimum cadence is due (or it is the first frame).
    Cadence,
    /// Nothing moved: skip the detector.
    Skip,
}

impl Decision {
    pub fn run_detector(&self) -> bool {
        !matches!(self, Decision::Skip)
    }
}

/// Motion state of one camera.
#[derive(Debug)]
pub struct MotionGate {
    cfg: MotionConfig,
    reference: Option<(u32, u32, Vec<u8>)>,
    last_run: Option<Duration>,
    scratch: Vec<u32>,
    /// Cell column of each sampled pixel column, for (frame width, cells, step).
    cols: ((u32, u32, usize), Vec<u32>),
    /// The frame area whose cells changed, at the last check that found motion.
    changed: Option<BBox>,
    /// Where the detector's region runs look (see [`MotionGate::region`]).
    regions: Regions,
}

/// What the region runs need to know of earlier ones.
#[derive(Debug, Default)]
struct Regions {
    /// Where the last detector run found objects.
    objects: Vec<BBox>,
    /// When the detector last read the whole frame.
    last_full: Option<Duration>,
}

/// The bounds of the changed cells of one check.
#[derive(Default)]
struct CellBounds {
    count: u32,
    min: (u32, u32),
    max: (u32, u32),
}

impl CellBounds {
    fn add(&mut self, x: u32, y: u32) {
        if self.count == 0 {
            self.min = (x, y);
            self.max = (x, y);
        } else {
            self.min = (self.min.0.min(x), self.min.1.min(y));
            self.max = (self.max.0.max(x), self.max.1.max(y));
        }
        self.count += 1;
    }

    /// The cells' area in frame pixels (cells of a `w x h` grid over a `fw x fh` frame).
    fn to_frame(&self, w: u32, h: u32, fw: u32, fh: u32) -> BBox {
        let (sx, sy) = (fw as f32 / w as f32, fh as f32 / h as f32);
        BBox::from_corners(
            self.min.0 as f32 * sx,
            self.min.1 as f32 * sy,
            (self.max.0 + 1) as f32 * sx,
            (self.max.1 + 1) as f32 * sy,
        )
    }
}

impl MotionGate {
    pub fn new(cfg: MotionConfig) -> Self {
        Self {
            cfg,
            reference: None,
            last_run: None,
            scratch: Vec::new(),
            cols: ((0, 0, 0), Vec::new()),
            changed: None,
            regions: Regions::default(),
        }
    }

    /// Grey box-filtered picture `w` wide. Each cell averages a grid of samples of its
    /// block (every pixel for small blocks; every `block / 4`-th pixel in both directions
    /// for large ones, which keeps the cost per frame nearly independent of the resolution).
    fn small(&mut self, img: &Picture) -> (u32, u32, Vec<u8>) {
        let (width, height) = img.size();
        let w = self.cfg.width.min(width).max(1);
        let h = ((height as u64 * w as u64 / width as u64) as u32).max(1);
        let step = ((width / w) / 4).max(1) as usize;
        let key = (width, w, step);
        if self.cols.0 != key {
            let cols = (0..width as usize)
                .step_by(step)
                .map(|x| (x as u64 * w as u64 / width as u64) as u32)
                .collect();
            self.cols = (key, cols);
        }
        let cols = &self.cols.1;
        self.scratch.clear();
        self.scratch.resize((w * h * 2) as usize, 0);
        for y in (0..height as usize).step_by(step) {
            let sy = y * h as usize / height as usize;
            let cells = &mut self.scratch[sy * w as usize * 2..(sy + 1) * w as usize * 2];
            let mut add = |sx: u32, luma: u32| {
                let i = sx as usize * 2;
                cells[i] += luma;
                cells[i + 1] += 1;
            };
            match img {
                Picture::Rgb(v) => {
                    let row = &v.data[y * v.stride..];
                    for (p, &sx) in row.chunks_exact(3).step_by(step).zip(cols) {
                        // Integer luma (BT.601).
                        add(
                            sx,
                            (77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]))
                                >> 8,
                        );
                    }
                }
                Picture::Luma { data, stride, .. } => {
                    let row = &data[y * stride..];
                    for (p, &sx) in row.iter().step_by(step).zip(cols) {
                        add(sx, u32::from(*p));
                    }
                }
            }
        }
        // Limited-range luma (16..=235) stretched to 0..=255, so `pixel_threshold` means the
        // same on decoded video as on RGB.
        let stretch = matches!(
            img,
            Picture::Luma {
                full_range: false,
                ..
            }
        );
        let grey = self
            .scratch
            .chunks_exact(2)
            .map(|c| {
                let v = c[0] / c[1].max(1);
                if stretch {
                    (v.saturating_sub(16) * 255 / 219).min(255) as u8
                } else {
                    v as u8
                }
            })
            .collect();
        (w, h, grey)
    }

    /// Looks at a frame taken at `now`. When the decision runs the detector, the frame
    /// becomes the new reference.
    pub fn check(&mut self, img: &RgbView, now: Duration) -> Decision {
        self.check_picture(&Picture::Rgb(*img), now)
    }

    /// [`MotionGate::check`] on an RGB picture or a luma plane.
    pub fn check_picture(&mut self, img: &Picture, now: Duration) -> Decision {
        if !self.cfg.enabled {
            return Decision::Motion;
        }
        let (width, height) = img.size();
        let (w, h, grey) = self.small(img);
        let due = self
            .last_run
            .is_none_or(|t| now.saturating_sub(t) >= Duration::from_millis(self.cfg.max_skip_ms));
        let moved = match &self.reference {
            Some((rw, rh, r)) if *rw == w && *rh == h => {
                let t = self.cfg.pixel_threshold;
                let mut cells = CellBounds::default();
                for (i, (a, b)) in r.iter().zip(&grey).enumerate() {
                    if a.abs_diff(*b) > t {
                        cells.add(i as u32 % w, i as u32 / w);
                    }
                }
                let moved = cells.count as f32 >= self.cfg.min_changed_fraction * grey.len() as f32;
                self.changed = moved.then(|| cells.to_frame(w, h, width, height));
                moved
            }
            _ => {
                self.changed = None;
                true
            }
        };
        let decision = if moved && self.reference.is_some() {
            Decision::Motion
        } else if due || self.reference.is_none() {
            Decision::Cadence
        } else {
            Decision::Skip
        };
        if decision.run_detector() {
            self.reference = Some((w, h, grey));
            self.last_run = Some(now);
        }
        decision
    }

    /// Where the detector should read a frame that [`MotionGate::check`] sent to it with
    /// `decision`: `Some(region)` of a `width x height` frame, or `None` for all of it.
    ///
    /// A region is the area whose cells changed since the last detector run, joined with
    /// the objects that run found ([`MotionGate::remember`]) so that objects that stand
    /// still while something else moves are still seen, grown by `region_margin`. The whole
    /// frame is read on cadence runs, when regions are off, when the region would cover more
    /// than `region_max_fraction` of it, and at least every `max_skip_ms` (so an object the
    /// detector missed while it moved is found once it stands still).
    pub fn region(
        &mut self,
        decision: Decision,
        width: u32,
        height: u32,
        now: Duration,
    ) -> Option<BBox> {
        let cfg = &self.cfg;
        let (fw, fh) = (width as f32, height as f32);
        let due = self
            .regions
            .last_full
            .is_none_or(|t| now.saturating_sub(t) >= Duration::from_millis(cfg.max_skip_ms));
        let region = self
            .changed
            .filter(|_| cfg.enabled && cfg.regions && decision == Decision::Motion && !due)
            .map(|c| self.regions.objects.iter().fold(c, |u, b| u.union(b)))
            .map(|u| u.grown(cfg.region_margin * fw.max(fh)).clip(fw, fh))
            .filter(|r| r.area() <= cfg.region_max_fraction * fw * fh);
        if region.is_none() {
            self.regions.last_full = Some(now);
        }
        region
    }

    /// The objects the detector found in the frame it was last given (their boxes in
    /// frame pixels): the next region holds them.
    pub fn remember(&mut self, objects: impl IntoIterator<Item = BBox>) {
        self.regions.objects.clear();
        self.regions.objects.extend(objects);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(w: u32, h: u32, square_at: Option<(u32, u32)>) -> Vec<u8> {
        let mut v = vec![100u8; (w * h * 3) as usize];
        if let Some((sx, sy)) = square_at {
            for y in sy..(sy + 40).min(h) {
                for x in sx..(sx + 40).min(w) {
                    let i = ((y * w + x) * 3) as usize;
                    v[i..i + 3].copy_from_slice(&[230, 230, 230]);
                }
            }
        }
        v
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_luma_plane_gets_the_decisions_and_region_of_its_rgb() {
        // The same scenes as grey RGB and as video-range luma (16..=235, rows padded).
        let (w, h, stride) = (320u32, 240u32, 384usize);
        let luma_of = |rgb: &[u8]| -> Vec<u8> {
            let mut y = vec![0u8; stride * h as usize];
            for (i, p) in rgb.chunks_exact(3).enumerate() {
                let (row, col) = (i / w as usize, i % w as usize);
                y[row * stride + col] = (16 + u32::from(p[0]) * 219 / 255) as u8;
            }
            y
        };
        let frames = [
            scene(w, h, None),
            scene(w, h, None),
            scene(w, h, Some((100, 80))),
            scene(w, h, Some((100, 80))),
            scene(w, h, Some((180, 120))),
        ];
        let cfg = MotionConfig::default();
        let (mut rgb_gate, mut luma_gate) = (MotionGate::new(cfg.clone()), MotionGate::new(cfg));
        for (i, f) in frames.iter().enumerate() {
            let now = ms(i as u64 * 200);
            let luma = luma_of(f);
            let a = rgb_gate.check(&RgbView::new(w, h, (w * 3) as usize, f).unwrap(), now);
            let b = luma_gate.check_picture(
                &Picture::Luma {
                    width: w,
                    height: h,
                    stride,
                    data: &luma,
                    full_range: false,
                },
                now,
            );
            assert_eq!(a, b, "frame {i}");
            assert_eq!(
                rgb_gate.region(a, w, h, now),
                luma_gate.region(b, w, h, now),
                "frame {i}"
            );
        }
    }

    fn view(d: &[u8], w: u32, h: u32) -> RgbView<'_> {
        RgbView::new(w, h, (w * 3) as usize, d).unwrap()
    }

    #[test]
    fn runs_on_motion_and_on_cadence_only() {
        let (w, h) = (640, 360);
        let mut g = MotionGate::new(MotionConfig::default());
        let still = scene(w, h, Some((100, 100)));
        assert_eq!(
            g.check(&view(&still, w, h), ms(0)),
            Decision::Cadence,
            "first frame"
        );
        assert_eq!(g.check(&view(&still, w, h), ms(200)), Decision::Skip);
        assert_eq!(g.check(&view(&still, w, h), ms(800)), Decision::Skip);
        assert_eq!(
            g.check(&view(&still, w, h), ms(1000)),
            Decision::Cadence,
            "cadence"
        );
        let moved = scene(w, h, Some((160, 100)));
        assert_eq!(g.check(&view(&moved, w, h), ms(1200)), Decision::Motion);
        assert_eq!(
            g.check(&view(&moved, w, h), ms(1400)),
            Decision::Skip,
            "reference follows"
        );
        // Sensor noise of a few grey levels is not motion.
        let noisy: Vec<u8> = moved
            .iter()
            .enumerate()
            .map(|(i, v)| v.saturating_add((i % 5) as u8))
            .collect();
        assert_eq!(g.check(&view(&noisy, w, h), ms(1600)), Decision::Skip);
    }

    #[test]
    fn slow_motion_adds_up_against_the_last_detected_frame() {
        let (w, h) = (640, 360);
        let cfg = MotionConfig {
            max_skip_ms: 60_000,
            ..MotionConfig::default()
        };
        let mut g = MotionGate::new(cfg);
        let frames: Vec<Vec<u8>> = (0..20)
            .map(|i| scene(w, h, Some((100 + i * 2, 100))))
            .collect();
        let mut decisions = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let v = RgbView::new(w, h, (w * 3) as usize, f).unwrap();
            decisions.push(g.check(&v, ms(i as u64 * 200)));
        }
        // 2 px per frame is below the threshold frame to frame, but not for long.
        assert!(decisions[1..].contains(&Decision::Motion), "{decisions:?}");
        assert!(
            decisions[1..]
                .iter()
                .filter(|d| **d == Decision::Skip)
                .count()
                > 5,
            "{decisions:?}"
        );
    }

    #[test]
    fn sampled_full_hd_frames_still_see_a_person_sized_object_move() {
        // 1920 px into 96 cells: blocks of 20 px, sampled every 5 px.
        let (w, h) = (1920u32, 1080u32);
        let frame = |x0: u32| {
            let mut v = vec![90u8; (w * h * 3) as usize];
            for y in 400..650 {
                for x in x0..x0 + 100 {
                    let i = ((y * w + x) * 3) as usize;
                    v[i..i + 3].copy_from_slice(&[220, 210, 200]);
                }
            }
            v
        };
        let mut g = MotionGate::new(MotionConfig::default());
        let (a, b) = (frame(600), frame(700));
        assert_eq!(g.check(&view(&a, w, h), ms(0)), Decision::Cadence);
        assert_eq!(g.check(&view(&a, w, h), ms(200)), Decision::Skip);
        assert_eq!(g.check(&view(&b, w, h), ms(400)), Decision::Motion);
    }

    #[test]
    fn motion_is_read_in_a_region_holding_what_moved_and_what_was_seen() {
        let (w, h) = (640, 360);
        let mut g = MotionGate::new(MotionConfig::default());
        let a = scene(w, h, Some((100, 100)));
        let d = g.check(&view(&a, w, h), ms(0));
        assert_eq!(g.region(d, w, h, ms(0)), None, "first frame: whole");
        let parked = BBox::new(300.0, 200.0, 60.0, 40.0);
        g.remember([parked]);
        let b = scene(w, h, Some((160, 100)));
        let d = g.check(&view(&b, w, h), ms(200));
        assert_eq!(d, Decision::Motion);
        let r = g.region(d, w, h, ms(200)).expect("a region");
        let holds = |b: BBox| r.x <= b.x && r.y <= b.y && r.x2() >= b.x2() && r.y2() >= b.y2();
        assert!(
            holds(BBox::new(100.0, 100.0, 100.0, 40.0)),
            "{r:?}: what moved"
        );
        assert!(
            holds(parked.grown(30.0)),
            "{r:?}: the parked object, with a margin"
        );
        assert!(r.x > 50.0 && r.area() < 0.5 * (w * h) as f32, "{r:?}");
        // The whole frame again once max_skip_ms passed since the last whole one ...
        g.remember([]);
        let c = scene(w, h, Some((220, 100)));
        let d = g.check(&view(&c, w, h), ms(1000));
        assert_eq!(d, Decision::Motion);
        assert_eq!(g.region(d, w, h, ms(1000)), None, "due");
        // ... and when the region would be most of it.
        let everywhere = vec![250u8; (w * h * 3) as usize];
        let d = g.check(&view(&everywhere, w, h), ms(1200));
        assert_eq!(g.region(d, w, h, ms(1200)), None, "too large");
        let off = MotionConfig {
            regions: false,
            ..MotionConfig::default()
        };
        let mut g = MotionGate::new(off);
        g.check(&view(&a, w, h), ms(0));
        g.region(Decision::Cadence, w, h, ms(0));
        let d = g.check(&view(&b, w, h), ms(200));
        assert_eq!(g.region(d, w, h, ms(200)), None, "regions off");
    }

    #[test]
    fn region_settings_out_of_range_are_named() {
        let bad = MotionConfig {
            region_margin: 0.9,
            region_max_fraction: 1.5,
            ..MotionConfig::default()
        };
        let fields: Vec<String> = bad.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["region_margin", "region_max_fraction"]);
        assert!(MotionConfig::default().validate().is_empty());
    }

    #[test]
    fn disabled_always_runs() {
        let mut g = MotionGate::new(MotionConfig {
            enabled: false,
            ..MotionConfig::default()
        });
        let d = scene(64, 32, None);
        let v = RgbView::new(64, 32, 192, &d).unwrap();
        assert!(g.check(&v, ms(0)).run_detector());
        assert!(g.check(&v, ms(1)).run_detector());
    }
}

//! Reading plates in a picture: the chain shared by the live pipeline, `vigia read` and
//! `vigia eval`.
//!
//! 1. The plate detector proposes boxes down to a low score (`lpr.plate_score_threshold`),
//!    plus the union of side-by-side fragments (long plates are sometimes found in halves).
//! 2. Every candidate is read by the OCR in one batch; two-row-shaped boxes also with
//!    their rows side by side, boxes blurred along x also deblurred ([`crate::deblur`]).
//! 3. The plate grammar decodes each read (fixing positional confusions, classifying the
//!    format; the plate's background colour separates formats with the same pattern).
//! 4. Reads below `lpr.min_read_confidence` go; of overlapping reads the most confident
//!    stays. The OCR therefore decides which detector boxes are plates: on the openalpr EU
//!    set this reads 101 of 108 plates where taking the detector's best box reads 96
//!    (docs/accuracy.md).
//! 5. A kept read with a letter the OCR reads for a look-alike (`O`, `V`) is shown to a
//!    second OCR ([`crate::look_alike`]).

use std::sync::Arc;
use std::time::Instant;

use ort::environment::Environment;
use serde::Serialize;
use vigia_core::{BBox, TextRead};
use vigia_infer::detector::{Detector, DetectorOptions};
use vigia_infer::model::RunSettings;
use vigia_infer::{DetectorConfig, InferError, InferenceConfig, Recognizer, RgbView};
use vigia_lpr::{Grammar, LprConfig, PlateColor, PlateText};

use crate::PlatesError;
use crate::region::scan_region;
use crate::{deblur, look_alike};

/// One plate found in a picture.
#[derive(Debug, Clone)]
pub struct PlateFound {
    /// Pixels of the picture.
    pub bbox: BBox,
    pub detection_score: f32,
    pub read: TextRead,
    pub plate: PlateText,
    pub color: Option<PlateColor>,
}

/// What one look at a picture found: the reads, the detector's candidate boxes (with
/// scores), and the time per stage.
#[derive(Debug, Clone, Default)]
pub struct PlateScan {
    pub found: Vec<PlateFound>,
    pub candidates: Vec<(BBox, f32)>,
    pub times: StageTimes,
}

/// Milliseconds spent per stage.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimes {
    pub plate_detection_ms: f64,
    pub ocr_ms: f64,
    pub grammar_ms: f64,
    /// Plate candidates read by the OCR.
    pub candidates: usize,
}

/// The plate detector, the OCR and the grammar.
pub struct PlateReader {
    detector: Detector,
    ocr: Recognizer,
    /// `lpr.look_alike_ocr` (see [`crate::look_alike`]).
    look_alike: Option<Recognizer>,
    /// `lpr.deblur` (see [`crate::deblur`]).
    deblur: bool,
    grammar: Arc<Grammar>,
    min_confidence: f32,
    /// `lpr.scan_vehicle_width` (see [`crate::region`]).
    vehicle_width: u32,
}

/// Candidate boxes: the detector's, plus unions of side-by-side pairs.
pub fn with_merged_fragments(boxes: &[(BBox, f32)]) -> Vec<(BBox, f32)> {
    let mut out = boxes.to_vec();
    for (i, (a, sa)) in boxes.iter().enumerate() {
        for (b, sb) in &boxes[i + 1..] {
            let overlap_y = (a.y2().min(b.y2()) - a.y.max(b.y)).max(0.0) / a.h.min(b.h).max(1.0);
            let gap = a.x.max(b.x) - a.x2().min(b.x2());
            let ratio = a.h / b.h.max(1.0);
            if overlap_y > 0.6 && gap < 0.5 * a.h.max(b.h) && (0.6..1.6).contains(&ratio) {
                let x1 = a.x.min(b.x);
                let y1 = a.y.min(b.y);
                out.push((
                    BBox::from_corners(x1, y1, a.x2().max(b.x2()), a.y2().max(b.y2())),
                    sa.max(*sb),
                ));
            }
        }
    }
    out
}

/// Estimates a plate's background colour from the middle of its box.
pub fn plate_color(img: &RgbView, b: &BBox) -> Option<PlateColor> {
    let inner = BBox::new(b.x + b.w * 0.15, b.y + b.h * 0.2, b.w * 0.7, b.h * 0.6)
        .clip(img.width as f32, img.height as f32);
    let (x0, y0) = (inner.x as u32, inner.y as u32);
    let (x1, y1) = (inner.x2() as u32, inner.y2() as u32);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    // Background pixels are the brighter half (the characters are dark).
    let mut px: Vec<[u8; 3]> = Vec::new();
    let step = ((x1 - x0) * (y1 - y0) / 4000).max(1);
    let mut k = 0u32;
    for y in y0..y1 {
        for x in x0..x1 {
            k += 1;
            if k.is_multiple_of(step) {
                px.push(img.pixel(x, y));
            }
        }
    }
    // Light characters on a coloured plate (white on blue: diplomatic plates) turn the
    // brighter half into the characters: a box mostly of a strong colour other than
    // yellow is such a plate, whatever its characters.
    let coloured = px
        .iter()
        .filter(|p| {
            let (hue, sat, max) = hsv(p.map(|v| f32::from(v) / 255.0));
            sat > 0.4 && max > 0.2 && !(30.0..=70.0).contains(&hue)
        })
        .count();
    if coloured * 5 >= px.len() * 2 {
        return Some(PlateColor::Other);
    }
    px.sort_by_key(|p| p.iter().map(|v| u32::from(*v)).sum::<u32>());
    let bright = &px[px.len() / 2..];
    if bright.is_empty() {
        return None;
    }
    let n = bright.len() as f32;
    let mean = |c: usize| bright.iter().map(|p| f32::from(p[c])).sum::<f32>() / n / 255.0;
    let (hue, sat, max) = hsv([mean(0), mean(1), mean(2)]);
    Some(if sat > 0.35 && (30.0..=70.0).contains(&hue) && max > 0.3 {
        PlateColor::Yellow
    } else if sat < 0.2 && max > 0.5 {
        PlateColor::White
    } else {
        PlateColor::Other
    })
}

/// Hue (degrees), saturation and value of an RGB colour in 0..=1.
fn hsv([r, g, b]: [f32; 3]) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let sat = if max > 0.0 { (max - min) / max } else { 0.0 };
    let hue = if max == min {
        0.0
    } else if max == r {
        60.0 * (((g - b) / (max - min)).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / (max - min) + 2.0)
    } else {
        60.0 * ((r - g) / (max - min) + 4.0)
    };
    (hue, sat, max)
}

impl PlateReader {
    /// Loads the plate detector and OCR named by `lpr`.
    pub fn load(
        env: &Environment,
        lpr: &LprConfig,
        inf: &InferenceConfig,
    ) -> Result<Self, PlatesError> {
        let detector = Detector::load(
            env,
            &DetectorOptions {
                detector: DetectorConfig {
                    manifest: lpr.plate_detector.clone(),
                    score_threshold: lpr.plate_score_threshold,
                    nms_iou_threshold: 0.5,
                    classes: Vec::new(),
                    max_detections: lpr.max_candidates,
                    nms_groups: Vec::new(),
                },
                provider: inf.execution_provider,
                threads: inf.threads_per_worker,
                models_dirs: inf.models_dirs.clone(),
            },
        )
        .map_err(|source| PlatesError::Model {
            what: "the plate detector (lpr.plate_detector)",
            source,
        })?;
        let settings = RunSettings {
            provider: inf.execution_provider,
            threads: inf.threads_per_worker,
            models_dirs: inf.models_dirs.clone(),
        };
        let ocr = Recognizer::load(env, &lpr.ocr, &settings, lpr.ocr_batch).map_err(|source| {
            PlatesError::Model {
                what: "the plate OCR (lpr.ocr)",
                source,
            }
        })?;
        let look_alike = lpr
            .look_alike_ocr()
            .map(|p| Recognizer::load(env, p, &settings, 1))
            .transpose()
            .map_err(|source| PlatesError::Model {
                what: "the look-alike OCR (lpr.look_alike_ocr)",
                source,
            })?;
        let grammar = Grammar::load(
            &lpr.countries,
            &lpr.grammar_files,
            lpr.min_plate_chars,
            lpr.max_plate_chars,
        )
        .map_err(PlatesError::Grammar)?;
        Ok(Self {
            detector,
            ocr,
            look_alike,
            deblur: lpr.deblur,
            grammar: Arc::new(grammar),
            min_confidence: lpr.min_read_confidence,
            vehicle_width: lpr.scan_vehicle_width,
        })
    }

    pub fn grammar(&self) -> Arc<Grammar> {
        self.grammar.clone()
    }

    pub fn model_names(&self) -> (String, String) {
        (
            self.detector.name().to_string(),
            self.ocr.name().to_string(),
        )
    }

    /// The plates in `region` of `img` (`None`: all of it) at the detector's full input
    /// size, with the detector's candidate boxes.
    pub fn scan_in(
        &mut self,
        img: &RgbView,
        region: Option<BBox>,
    ) -> Result<PlateScan, InferError> {
        self.scan_scaled(img, region, f32::INFINITY)
    }

    /// The plates on the `vehicles` in view (inside the read `zone`), read at the
    /// resolution their plates need (see [`crate::region`]; with no vehicles, or
    /// `lpr.scan_vehicle_width = 0`, the whole zone as [`PlateReader::scan_in`]).
    pub fn scan_vehicles(
        &mut self,
        img: &RgbView,
        zone: Option<BBox>,
        vehicles: &[BBox],
    ) -> Result<PlateScan, InferError> {
        match scan_region(img.width, img.height, zone, vehicles, self.vehicle_width) {
            Some((region, scale)) => self.scan_scaled(img, region, scale),
            None => Ok(PlateScan::default()),
        }
    }

    /// Candidates in `region` read at most at `max_scale` (see [`Detector::detect_scaled`]),
    /// plus merged side-by-side fragments; then OCR, grammar and selection.
    fn scan_scaled(
        &mut self,
        img: &RgbView,
        region: Option<BBox>,
        max_scale: f32,
    ) -> Result<PlateScan, InferError> {
        let mut times = StageTimes::default();
        let t = Instant::now();
        let dets = self.detector.detect_scaled(img, region, max_scale)?;
        let all =
            with_merged_fragments(&dets.iter().map(|d| (d.bbox, d.score)).collect::<Vec<_>>());
        let candidates: Vec<(BBox, f32)> = all
            .iter()
            .copied()
            .filter(|(b, _)| b.w >= 8.0 && b.h >= 4.0)
            .collect();
        times.plate_detection_ms = t.elapsed().as_secs_f64() * 1e3;
        let found = self.read_boxes(img, &candidates, &mut times)?;
        Ok(PlateScan {
            found,
            candidates: all,
            times,
        })
    }

    /// Reads the whole of `img` as one plate (a plate crop): no detector.
    pub fn read_crop(
        &mut self,
        img: &RgbView,
    ) -> Result<(Vec<PlateFound>, StageTimes), InferError> {
        let mut times = StageTimes::default();
        let whole = BBox::new(0.0, 0.0, img.width as f32, img.height as f32);
        let found = self.read_boxes(img, &[(whole, 1.0)], &mut times)?;
        Ok((found, times))
    }

    /// OCR, grammar and selection over candidate boxes. A one-row candidate is also read
    /// with a margin around it ([`with_ocr_margin`]); one shaped like a two-row plate
    /// (motorcycles) is also read with its rows side by side ([`joined_rows`]), and
    /// one blurred along x also deblurred ([`deblur`]); the grammar and the confidence
    /// then pick between the readings of a box.
    fn read_boxes(
        &mut self,
        img: &RgbView,
        candidates: &[(BBox, f32)],
        times: &mut StageTimes,
    ) -> Result<Vec<PlateFound>, InferError> {
        times.candidates = candidates.len();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let t = Instant::now();
        // Each box as detected, and a one-row box also with a margin around it
        // ([`with_ocr_margin`]): one OCR batch, the readings compete below.
        let widened: Vec<(BBox, f32)> = candidates
            .iter()
            .filter(|c| !may_be_two_rows(&c.0))
            .copied()
            .collect();
        let boxes: Vec<BBox> = candidates
            .iter()
            .map(|c| c.0)
            .chain(widened.iter().map(|c| with_ocr_margin(&c.0, img)))
            .collect();
        let mut reads: Vec<((BBox, f32), TextRead)> = candidates
            .iter()
            .chain(&widened)
            .copied()
            .zip(self.ocr.recognize(img, &boxes)?)
            .collect();
        for &(bbox, score) in candidates {
            if !may_be_two_rows(&bbox) {
                continue;
            }
            if let Some((w, h, rgb)) = joined_rows(img, &bbox)
                && let Some(read) = read_whole(&mut self.ocr, w, h, &rgb)?
            {
                reads.push(((bbox, score), read));
            }
        }
        // Boxes smeared along x (a vehicle crossing fast) are also read deblurred: stacked
        // in one picture, in one OCR call.
        let blurred: Vec<((BBox, f32), deblur::Crop)> = candidates
            .iter()
            .filter(|_| self.deblur)
            .filter_map(|&(b, s)| deblur::deblurred(img, &b).map(|c| ((b, s), c)))
            .collect();
        if !blurred.is_empty() {
            let (sheet, boxes) = deblur::Crop::stack(blurred.iter().map(|(_, c)| c));
            let view = RgbView::new(sheet.w as u32, sheet.h as u32, sheet.w * 3, &sheet.rgb)?;
            let again = self.ocr.recognize(&view, &boxes)?;
            reads.extend(blurred.iter().map(|(key, _)| *key).zip(again));
        }
        times.ocr_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        // Each box's rows, looked at once for all its readings.
        let rows: Vec<(BBox, Option<u8>)> = candidates
            .iter()
            .map(|&(b, _)| (b, rows_seen(img, &b)))
            .collect();
        let rows_of_box = |b: &BBox| rows.iter().find(|r| r.0 == *b).and_then(|r| r.1);
        let mut found: Vec<PlateFound> = Vec::new();
        for ((bbox, score), read) in reads {
            let color = plate_color(img, &bbox);
            let Some(plate) = self.grammar.decode_shaped(&read, color, rows_of_box(&bbox)) else {
                continue;
            };
            if read.mean_prob() < self.min_confidence {
                continue;
            }
            found.push(PlateFound {
                bbox,
                detection_score: score,
                read,
                plate,
                color,
            });
        }
        // Of a box's two readings (whole, rows joined), one a plate format accepts wins
        // over one none does. Across boxes only confidence counts: a sign that happens to
        // fit a format must not beat the plate.
        found.sort_by(|a, b| {
            (b.plate.format.is_some())
                .cmp(&a.plate.format.is_some())
                .then(b.read.mean_prob().total_cmp(&a.read.mean_prob()))
        });
        let mut per_box: Vec<PlateFound> = Vec::with_capacity(found.len());
        for f in found {
            if !per_box.iter().any(|k| k.bbox == f.bbox) {
                per_box.push(f);
            }
        }
        let mut found = per_box;
        found.sort_by(|a, b| b.read.mean_prob().total_cmp(&a.read.mean_prob()));
        let mut kept: Vec<PlateFound> = Vec::new();
        for f in found {
            let overlaps = kept.iter().any(|k| {
                let inter = k.bbox.iou(&f.bbox);
                let contained = {
                    let ix = (k.bbox.x2().min(f.bbox.x2()) - k.bbox.x.max(f.bbox.x)).max(0.0);
                    let iy = (k.bbox.y2().min(f.bbox.y2()) - k.bbox.y.max(f.bbox.y)).max(0.0);
                    ix * iy / f.bbox.area().min(k.bbox.area()).max(1.0)
                };
                inter > 0.3 || contained > 0.6
            });
            if !overlaps {
                kept.push(f);
            }
        }
        times.grammar_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        for f in &mut kept {
            self.second_opinion(img, f, rows_of_box(&f.bbox))?;
        }
        times.ocr_ms += t.elapsed().as_secs_f64() * 1e3;
        Ok(kept)
    }

    /// Asks the look-alike OCR about `f` when its number holds a letter the first OCR
    /// reads for another (see [`crate::look_alike`]); a two-row box is shown with its rows
    /// side by side, as the one-row model reads them.
    fn second_opinion(
        &mut self,
        img: &RgbView,
        f: &mut PlateFound,
        rows: Option<u8>,
    ) -> Result<(), InferError> {
        let Some(ocr) = self.look_alike.as_mut() else {
            return Ok(());
        };
        if !look_alike::doubtful(&f.plate.number) {
            return Ok(());
        }
        let joined = if rows == Some(2) {
            joined_rows(img, &f.bbox)
        } else {
            None
        };
        let second = match &joined {
            Some((w, h, rgb)) => read_whole(ocr, *w, *h, rgb)?,
            None => ocr.recognize(img, &[f.bbox])?.pop(),
        };
        if let Some(number) = second.and_then(|s| look_alike::settle(&f.plate.number, &s.text)) {
            f.plate.number = number;
        }
        Ok(())
    }
}

/// The share of a plate box's width (and height) the OCR is also shown on each side, in a
/// second reading of the box. The plate detector's boxes hug the plate, often a pixel or
/// two inside its border; the OCR (trained on crops with some background around the
/// plate) may then read the border into the first character (`W` -> `N`, `I` -> `T`/`Y`).
/// docs/accuracy.md, "A margin around the plate for the OCR".
pub const OCR_MARGIN: f32 = 0.05;

/// `b` grown by [`OCR_MARGIN`] of its size on every side, inside `img`.
fn with_ocr_margin(b: &BBox, img: &RgbView) -> BBox {
    let (dx, dy) = (OCR_MARGIN * b.w, OCR_MARGIN * b.h);
    BBox::from_corners(b.x - dx, b.y - dy, b.x2() + dx, b.y2() + dy)
        .clip(img.width as f32, img.height as f32)
}

/// `ocr`'s read of a whole packed RGB picture (`w` x `h`) as one plate.
fn read_whole(
    ocr: &mut Recognizer,
    w: u32,
    h: u32,
    rgb: &[u8],
) -> Result<Option<TextRead>, InferError> {
    let view = RgbView::new(w, h, w as usize * 3, rgb)?;
    Ok(ocr
        .recognize(&view, &[BBox::new(0.0, 0.0, w as f32, h as f32)])?
        .pop())
}

/// How many rows of characters a plate box's shape suggests: 2 below 1.75 times as wide
/// as high (Colombian motorcycle plates are about 1.6), 1 from 1.95 (car plates 2.06 and
/// wider), unknown between.
pub fn rows_of(b: &BBox) -> Option<u8> {
    let aspect = b.w / b.h.max(1.0);
    if aspect < 1.75 {
        Some(2)
    } else if aspect >= 1.95 {
        Some(1)
    } else {
        None
    }
}

/// Candidates at most this wide for their height may be two-row plates (Colombian
/// motorcycle plates are about 1.6; one-row plates 2 and wider).
pub const TWO_ROW_MAX_ASPECT: f32 = 1.9;

/// Whether `b` is shaped so it may be a two-row plate ([`TWO_ROW_MAX_ASPECT`]).
fn may_be_two_rows(b: &BBox) -> bool {
    b.w / b.h.max(1.0) <= TWO_ROW_MAX_ASPECT
}

/// How many rows of characters a plate box holds: its shape ([`rows_of`]) where that
/// tells, else 2 when a box no wider than [`TWO_ROW_MAX_ASPECT`] shows a gap between two
/// rows of ink (a detector box around a motorcycle plate is often a little wider than the
/// plate: 1.76 for a 1.62 plate).
pub fn rows_seen(img: &RgbView, b: &BBox) -> Option<u8> {
    rows_of(b).or_else(|| {
        let (.., dark) = line_darkness(img, b)?;
        (may_be_two_rows(b) && has_row_gap(&dark)).then_some(2)
    })
}

/// A box clipped to the picture (`x0`, `y0`, `w`, `h` in pixels) and the darkness of each
/// of its lines over the inner 80 % of its width (away from the border; 255 per pixel of
/// black). `None` when the box is too small to tell rows apart.
fn line_darkness(img: &RgbView, b: &BBox) -> Option<(u32, u32, u32, u32, Vec<u32>)> {
    let b = b.clip(img.width as f32, img.height as f32);
    let (x0, y0) = (b.x.max(0.0) as u32, b.y.max(0.0) as u32);
    let (w, h) = (b.w as u32, b.h as u32);
    if w < 8 || h < 12 {
        return None;
    }
    let luma = |x: u32, y: u32| {
        let p = img.pixel(x0 + x, y0 + y);
        (u32::from(p[0]) * 3 + u32::from(p[1]) * 6 + u32::from(p[2])) / 10
    };
    let (xa, xb) = (w / 10, w - w / 10);
    let dark = (0..h)
        .map(|y| (xa..xb).map(|x| 255 - luma(x, y)).sum())
        .collect();
    Some((x0, y0, w, h, dark))
}

/// Whether the lines' darkness shows a gap between two rows of characters: the lightest
/// line between 35 % and 65 % of the height is within a third of the way from the box's
/// lightest line (the plate's background) to its median line. On a one-row plate those
/// middle lines cross the characters and are about as dark as the median.
fn has_row_gap(dark: &[u32]) -> bool {
    let h = dark.len();
    if h < 3 {
        return false;
    }
    let (lo, hi) = (h * 35 / 100, h * 65 / 100);
    let (Some(&mid), Some(&bg)) = (dark[lo..=hi].iter().min(), dark.iter().min()) else {
        return false;
    };
    let mut sorted = dark.to_vec();
    sorted.sort_unstable();
    let median = sorted[h / 2];
    median > bg && (mid - bg) * 3 < median - bg
}

/// A two-row plate's rows side by side, as one row: the OCR (trained mostly on one-row
/// plates) reads `ABC` over `12D` as `ABC12D`. The gap between the rows is the lightest
/// horizontal line between 35 % and 65 % of the height and the light lines below it (see
/// [`row_gap_end`]); the upper row runs to the end of the gap, so a letter that reaches into
/// it (the tail of a `Q`) is read whole, and the lower row starts there, as tall as the
/// upper one, leaving out the municipality line under it. Returns packed RGB with its
/// size, or `None` when the box is too small to split.
pub fn joined_rows(img: &RgbView, b: &BBox) -> Option<(u32, u32, Vec<u8>)> {
    let (x0, y0, w, h, dark) = line_darkness(img, b)?;
    let split = row_gap_end(&dark)?;
    let top = (0, split);
    let bottom = (split, (2 * split).min(h));
    let row_h = split.max(bottom.1 - bottom.0).max(1);
    // Each row scaled to `row_h` high, placed side by side.
    let out_w = 2 * w;
    let mut out = vec![0u8; (out_w * row_h * 3) as usize];
    for (i, (ya, yb)) in [top, bottom].into_iter().enumerate() {
        let src_h = (yb - ya).max(1);
        for y in 0..row_h {
            let sy = ya + (y * src_h / row_h).min(src_h - 1);
            for x in 0..w {
                let p = img.pixel(x0 + x, y0 + sy);
                let o = ((y * out_w + i as u32 * w + x) * 3) as usize;
                out[o..o + 3].copy_from_slice(&p);
            }
        }
    }
    Some((out_w, row_h, out))
}

/// Where the gap between a two-row plate's rows ends, from the darkness of each line of
/// the box (`dark[y]`, larger = more ink): the lightest line between 35 % and 65 % of the
/// height, then down through the lines still closer to it than to the lines' median
/// darkness (characters). The lightest line alone can fall above a descending tail, which
/// then goes to the wrong row: a `Q` read as `O` above, a stray mark over the digits below.
fn row_gap_end(dark: &[u32]) -> Option<u32> {
    let h = dark.len();
    let (lo, hi) = (h * 35 / 100, h * 65 / 100);
    let lightest = (lo..=hi.min(h.checked_sub(1)?)).min_by_key(|&y| dark[y])?;
    let mut sorted = dark.to_vec();
    sorted.sort_unstable();
    let median = sorted[h / 2];
    let min = dark[lightest];
    let light = min + median.saturating_sub(min) / 2;
    let end = (lightest..=hi)
        .take_while(|&y| y < h && dark[y] <= light)
        .last()
        .map_or(lightest, |y| y + 1);
    u32::try_from(end).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_fragments_are_merged() {
        let a = (BBox::new(100.0, 50.0, 60.0, 20.0), 0.4);
        let b = (BBox::new(165.0, 52.0, 70.0, 19.0), 0.1);
        let far = (BBox::new(400.0, 300.0, 60.0, 20.0), 0.3);
        let out = with_merged_fragments(&[a, b, far]);
        assert_eq!(out.len(), 4);
        assert_eq!(out[3].0, BBox::from_corners(100.0, 50.0, 235.0, 71.0));
        assert_eq!(out[3].1, 0.4);
    }

    #[test]
    fn the_ocr_sees_a_margin_around_the_box_inside_the_picture() {
        let data = vec![0u8; 200 * 100 * 3];
        let img = RgbView::new(200, 100, 600, &data).unwrap();
        let near = |a: BBox, b: BBox| {
            let d = [a.x - b.x, a.y - b.y, a.w - b.w, a.h - b.h];
            assert!(d.iter().all(|d| d.abs() < 1e-3), "{a:?} vs {b:?}");
        };
        let b = with_ocr_margin(&BBox::new(50.0, 40.0, 80.0, 20.0), &img);
        near(b, BBox::from_corners(46.0, 39.0, 134.0, 61.0));
        // At the picture's edge the margin stops there.
        let b = with_ocr_margin(&BBox::new(0.0, 85.0, 80.0, 15.0), &img);
        near(b, BBox::from_corners(0.0, 84.25, 84.0, 100.0));
    }

    #[test]
    fn plate_colours() {
        let paint = |rgb: [u8; 3], ink: [u8; 3]| {
            let mut v = Vec::new();
            for y in 0..20u32 {
                for x in 0..60u32 {
                    // Characters on the background.
                    let on = (x / 6) % 2 == 0 && (5..15).contains(&y);
                    v.extend_from_slice(&if on { ink } else { rgb });
                }
            }
            v
        };
        let b = BBox::new(0.0, 0.0, 60.0, 20.0);
        let (black, white) = ([20, 20, 20], [245, 245, 245]);
        for (rgb, ink, want) in [
            ([235, 200, 40], black, PlateColor::Yellow),
            ([230, 232, 228], black, PlateColor::White),
            ([40, 60, 200], black, PlateColor::Other),
            // White on blue (diplomatic): the characters are the brighter half.
            ([30, 70, 160], white, PlateColor::Other),
        ] {
            let data = paint(rgb, ink);
            let img = RgbView::new(60, 20, 180, &data).unwrap();
            assert_eq!(plate_color(&img, &b), Some(want), "{rgb:?}");
        }
    }

    #[test]
    fn the_row_gap_ends_below_a_descending_tail() {
        // Darkness per line of a two-row box (the QHE60 plate): letters to line 21, a `Q`'s
        // tail in the lightest lines 22-24, digits from 25.
        let dark = [
            229, 72, 63, 76, 124, 131, 127, 103, 101, 100, 102, 130, 134, 132, 103, 100, 100, 103,
            106, 130, 125, 115, 70, 74, 78, 95, 101, 100, 93, 86, 83, 84, 94, 98, 97, 92, 91, 90,
            91, 91, 97, 99, 91, 70, 63, 64, 98, 89, 99, 100, 101, 73,
        ];
        assert_eq!(row_gap_end(&dark), Some(25));
        // A clean gap of plain background: it ends where the next row's ink starts.
        let mut clean = vec![100u32; 40];
        clean[16..20].iter_mut().for_each(|d| *d = 10);
        assert_eq!(row_gap_end(&clean), Some(20));
        assert_eq!(row_gap_end(&[]), None);
        assert!(has_row_gap(&dark) && has_row_gap(&clean));
        // One row of characters: the middle lines cross them.
        let mut one_row = vec![20u32; 40];
        one_row[6..34].iter_mut().for_each(|d| *d = 100);
        assert!(!has_row_gap(&one_row));
        assert!(!has_row_gap(&[]));
    }
}

//! Rendered vehicle passes with ground truth, for the LPR benchmark: vehicles (real
//! labelled photos, or the same photos wearing synthetic Colombian plates) approach, slide
//! across, stop and go one after another at the same spot, come two at a time, at night,
//! blurred by motion, or far away with small plates. Each video comes with the true passes
//! (plate, when it is in view), and [`score`] matches what a node published against them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use vigia_core::text::different_plates;

use crate::SimError;
use crate::plates::{PlateFont, PlateKind, Rng, SynthPlate, paste_warped, render_plate};
use crate::render::Encoder;

/// The smallest character height, in pixels, a synthetic plate is drawn at: the floor the
/// benchmark sets for plates a reader must read (its `small` scenario).
pub const MIN_CHAR_PX: f32 = 18.0;

/// A vehicle to show: a picture, where its plate is in it, and the plate's number.
#[derive(Debug, Clone)]
pub struct Subject {
    pub image: RgbImage,
    /// The plate box in `image` (x, y, w, h).
    pub plate: [f32; 4],
    pub number: String,
    /// `photo` for a real plate, else the synthetic plate's kind.
    pub kind: String,
}

impl Subject {
    /// A labelled photo.
    pub fn photo(path: &Path, plate: [f32; 4], number: &str) -> Result<Self, SimError> {
        let image = image::open(path)
            .map_err(|e| SimError::Clip {
                path: path.display().to_string(),
                message: e.to_string(),
            })?
            .to_rgb8();
        Ok(Self {
            image,
            plate,
            number: number.to_string(),
            kind: "photo".into(),
        })
    }

    /// The labelled photos of a folder in the openalpr layout (`IMAGE.txt`: `file x y w h
    /// PLATE`), sorted by file name.
    pub fn labelled_folder(dir: &Path) -> Result<Vec<Self>, SimError> {
        let mut labels: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        labels.sort();
        let mut out = Vec::new();
        for label in labels {
            let text = std::fs::read_to_string(&label)?;
            let f: Vec<&str> = text.split_whitespace().collect();
            let bad = || SimError::Clip {
                path: label.display().to_string(),
                message: "want `file x y w h PLATE`".into(),
            };
            if f.len() < 6 {
                return Err(bad());
            }
            let n = |i: usize| f[i].parse::<f32>().map_err(|_| bad());
            out.push(Self::photo(
                &dir.join(f[0]),
                [n(1)?, n(2)?, n(3)?, n(4)?],
                f[5],
            )?);
        }
        Ok(out)
    }

    /// The same vehicle wearing `plate` in place of its own: the old plate is painted over
    /// and the synthetic one drawn on its centre at its real size, tilted and skewed a
    /// little. (Until 2026-12-01 it covered the old plate's whole width, 1.7x too large for
    /// a car plate: big enough to hide the vehicle from the vehicle detector at times.)
    pub fn with_plate(&self, plate: &SynthPlate, font: &PlateFont, rng: &mut Rng) -> Self {
        let [x, y, w, h] = self.plate;
        let aspect = plate.kind.aspect();
        // The scale comes from the labelled box: a one-row European plate (520 x 110 mm)
        // or, when it is not that long, a plate about as tall as a Colombian one. Never
        // with characters under `MIN_CHAR_PX`, the smallest the benchmark expects a
        // reader to read: a camera meant to read motorcycles is set up so that it can.
        let mm_per_px = if w / h > 3.0 { 520.0 / w } else { 160.0 / h };
        let ph = (plate.kind.width_mm() / mm_per_px / aspect)
            .max(MIN_CHAR_PX / plate.kind.char_height());
        let pw = ph * aspect;
        let (cx, cy) = (x + w / 2.0, y + h / 2.0);
        let drawn = render_plate(font, plate, (ph * 2.0).max(64.0) as u32);
        let tilt = rng.range(-0.06, 0.06) * pw;
        let skew = rng.range(-0.08, 0.08) * ph;
        let (l, r, t, b) = (cx - pw / 2.0, cx + pw / 2.0, cy - ph / 2.0, cy + ph / 2.0);
        let quad = [
            (l + skew, t - tilt / 2.0),
            (r + skew, t + tilt / 2.0),
            (r - skew, b + tilt / 2.0),
            (l - skew, b - tilt / 2.0),
        ];
        let mut image = self.image.clone();
        cover(&mut image, [x - w * 0.05, y - h * 0.1, w * 1.1, h * 1.2]);
        paste_warped(&mut image, &drawn, quad);
        Self {
            image,
            plate: [
                l - skew.abs(),
                t - tilt.abs(),
                pw + 2.0 * skew.abs(),
                ph + tilt.abs(),
            ],
            number: plate.number.clone(),
            kind: plate.kind.name().into(),
        }
    }
}

/// Paints `b` (x, y, w, h) with the mean colour of the strip just above it: the old plate
/// gone under bumper colour, so a smaller synthetic plate leaves none of it showing.
fn cover(img: &mut RgbImage, b: [f32; 4]) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let clamp = |v: f32, hi: i64| (v.round() as i64).clamp(0, hi);
    let (x0, x1) = (clamp(b[0], iw), clamp(b[0] + b[2], iw));
    let (y0, y1) = (clamp(b[1], ih), clamp(b[1] + b[3], ih));
    let strip = (y0 - ((b[3] * 0.3) as i64).max(1)).max(0)..y0;
    let mut acc = [0u64; 3];
    let mut n = 0u64;
    for y in strip {
        for x in x0..x1 {
            let p = img.get_pixel(x as u32, y as u32);
            for c in 0..3 {
                acc[c] += u64::from(p[c]);
            }
            n += 1;
        }
    }
    let fill = Rgb(acc.map(|v| (v / n.max(1)) as u8));
    for y in y0..y1 {
        for x in x0..x1 {
            img.put_pixel(x as u32, y as u32, fill);
        }
    }
}

/// How the vehicles move through the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Motion {
    /// Driving towards the camera: growing from half the frame height to nearly all of it.
    Approach,
    /// Crossing the frame left to right at a constant size.
    Slide,
    /// One after another at the same spot (a gate, a queue): creeping forward, then 1 s of
    /// empty road before the next.
    StopAndGo,
    /// Two vehicles in view at once, side by side, overlapping in time.
    Pair,
    /// Approaching at night: dark, noisy.
    Night,
    /// Approaching fast: horizontal motion blur.
    Blur,
    /// Crossing far away: the plate about 26 px high (characters ≈ 18 px).
    Small,
    /// Stopped close to the camera (a barrier, a gate): the plate 40 % to 50 % of the
    /// frame wide, the vehicle's front filling the picture and cut by its edges — what
    /// an object detector often does not see as a vehicle.
    Close,
}

impl Motion {
    pub const ALL: [Motion; 8] = [
        Motion::Approach,
        Motion::Slide,
        Motion::StopAndGo,
        Motion::Pair,
        Motion::Night,
        Motion::Blur,
        Motion::Small,
        Motion::Close,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Motion::Approach => "approach",
            Motion::Slide => "slide",
            Motion::StopAndGo => "stop_and_go",
            Motion::Pair => "pair",
            Motion::Night => "night",
            Motion::Blur => "blur",
            Motion::Small => "small",
            Motion::Close => "close",
        }
    }

    /// Empty road between vehicles.
    fn gap(self, spec: &VideoSpec) -> Duration {
        if self == Motion::StopAndGo {
            Duration::from_secs(1)
        } else {
            spec.gap
        }
    }
}

/// The video's size and pace.
#[derive(Debug, Clone)]
pub struct VideoSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// How long each vehicle is in view.
    pub show: Duration,
    /// Empty road between vehicles (stop-and-go: always 1 s).
    pub gap: Duration,
    pub seed: u64,
}

impl Default for VideoSpec {
    /// A 720p LPR camera at 12.5 fps is what the issue measured; x264 needs whole frame
    /// rates, so 12 (the analysis rate, 5 fps, is what matters).
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 12,
            show: Duration::from_secs(3),
            gap: Duration::from_secs(2),
            seed: 1,
        }
    }
}

/// One true pass: a plate in view from `from_ms` to `to_ms` (video time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthPass {
    pub number: String,
    pub kind: String,
    pub from_ms: u64,
    pub to_ms: u64,
}

/// A rendered video's ground truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub motion: Motion,
    pub duration_ms: u64,
    pub passes: Vec<TruthPass>,
}

struct Placement {
    /// Subject height in the frame, pixels.
    height: f32,
    /// Where the subject's plate centre goes.
    plate_at: (f32, f32),
}

fn placement(
    motion: Motion,
    s: &Subject,
    p: f32,
    spec: &VideoSpec,
    slot: Option<bool>,
) -> Placement {
    let (w, h) = (spec.width as f32, spec.height as f32);
    let ih = s.image.height() as f32;
    let plate_h = s.plate[3].max(4.0);
    let lerp = |a: f32, b: f32| a + (b - a) * p;
    match (motion, slot) {
        (Motion::Pair, Some(left)) => {
            let height = lerp(0.4, 0.6) * h;
            let x = if left { 0.27 } else { 0.73 } * w;
            Placement {
                height,
                plate_at: (x, lerp(0.5, 0.65) * h),
            }
        }
        (Motion::Slide, _) => Placement {
            height: 0.7 * h,
            plate_at: (lerp(0.25, 0.75) * w, 0.6 * h),
        },
        (Motion::Small, _) => Placement {
            // The plate 26 px high, but never the vehicle larger than in the photo.
            height: (26.0 / plate_h * ih).min(ih).min(0.5 * h),
            plate_at: (lerp(0.15, 0.85) * w, 0.55 * h),
        },
        (Motion::Close, _) => Placement {
            // Scaled so the plate is 40 % to 50 % of the frame wide (creeping closer).
            height: lerp(0.4, 0.5) * w / s.plate[2].max(4.0) * ih,
            plate_at: (0.5 * w, 0.6 * h),
        },
        (Motion::StopAndGo, _) => Placement {
            height: lerp(0.75, 0.9) * h,
            plate_at: (0.5 * w, lerp(0.6, 0.66) * h),
        },
        _ => Placement {
            height: lerp(0.5, 0.95) * h,
            plate_at: (0.5 * w, lerp(0.55, 0.7) * h),
        },
    }
}

/// Draws `s` at `pl` into `frame` (clipped), blurred horizontally by `blur` pixels.
fn draw(frame: &mut RgbImage, s: &Subject, pl: &Placement, blur: u32) {
    let scale = pl.height / s.image.height() as f32;
    let pcx = (s.plate[0] + s.plate[2] / 2.0) * scale;
    let pcy = (s.plate[1] + s.plate[3] / 2.0) * scale;
    if pl.height > 2.0 * frame.height() as f32 {
        // A close-up many times the frame: only the part in view is resized (the whole
        // photo at that size took seconds a frame). Smaller subjects are drawn whole, so
        // the other scenarios' videos stay as they were.
        let origin = (pl.plate_at.0 - pcx, pl.plate_at.1 - pcy);
        return draw_part(frame, s, (scale, blur), origin);
    }
    let sw = (s.image.width() as f32 * scale).round().max(1.0) as u32;
    let sh = pl.height.round().max(1.0) as u32;
    let mut img = image::imageops::resize(&s.image, sw, sh, FilterType::Triangle);
    if blur > 1 {
        img = box_blur_h(&img, blur);
    }
    let x0 = (pl.plate_at.0 - pcx).round() as i64;
    let y0 = (pl.plate_at.1 - pcy).round() as i64;
    image::imageops::replace(frame, &img, x0, y0);
}

/// Draws the part of `s` that falls inside `frame` when `s` is scaled by `scale` and its
/// top-left corner put at `origin` (frame pixels, possibly outside the frame), blurred
/// along x by `blur` pixels.
fn draw_part(frame: &mut RgbImage, s: &Subject, (scale, blur): (f32, u32), origin: (f32, f32)) {
    let (fw, fh) = (frame.width() as f32, frame.height() as f32);
    let (iw, ih) = (s.image.width() as f32, s.image.height() as f32);
    // The source rectangle in view, a pixel wider on each side for the filter.
    let sx0 = ((-origin.0 / scale).floor() - 1.0).clamp(0.0, iw);
    let sy0 = ((-origin.1 / scale).floor() - 1.0).clamp(0.0, ih);
    let sx1 = (((fw - origin.0) / scale).ceil() + 1.0).clamp(0.0, iw);
    let sy1 = (((fh - origin.1) / scale).ceil() + 1.0).clamp(0.0, ih);
    if sx1 - sx0 < 1.0 || sy1 - sy0 < 1.0 {
        return;
    }
    let part = image::imageops::crop_imm(
        &s.image,
        sx0 as u32,
        sy0 as u32,
        (sx1 - sx0) as u32,
        (sy1 - sy0) as u32,
    )
    .to_image();
    let (pw, ph) = (
        ((sx1 - sx0) * scale).round().max(1.0) as u32,
        ((sy1 - sy0) * scale).round().max(1.0) as u32,
    );
    let mut img = image::imageops::resize(&part, pw, ph, FilterType::Triangle);
    if blur > 1 {
        img = box_blur_h(&img, blur);
    }
    let x0 = (origin.0 + sx0 * scale).round() as i64;
    let y0 = (origin.1 + sy0 * scale).round() as i64;
    image::imageops::replace(frame, &img, x0, y0);
}

/// `img` blurred along x by a box `k` pixels wide (odd; the edge pixels repeat): the
/// benchmark's motion blur.
pub fn box_blur_h(img: &RgbImage, k: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut out = RgbImage::new(w, h);
    let k = i64::from(k);
    for y in 0..h {
        for x in 0..i64::from(w) {
            let mut acc = [0u32; 3];
            for dx in -(k / 2)..=(k / 2) {
                let p = img.get_pixel((x + dx).clamp(0, i64::from(w) - 1) as u32, y);
                for c in 0..3 {
                    acc[c] += u32::from(p[c]);
                }
            }
            let n = (2 * (k / 2) + 1) as u32;
            out.put_pixel(x as u32, y, Rgb(acc.map(|v| (v / n) as u8)));
        }
    }
    out
}

fn night(frame: &mut RgbImage, rng: &mut Rng) {
    for p in frame.pixels_mut() {
        let noise = rng.range(-10.0, 10.0);
        for c in 0..3 {
            p[c] = (f32::from(p[c]) * 0.3 + 6.0 + noise).clamp(0.0, 255.0) as u8;
        }
    }
}

fn road(spec: &VideoSpec) -> RgbImage {
    RgbImage::from_fn(spec.width, spec.height, |_, y| {
        let v = 95 + (30 * y / spec.height.max(1)) as u8;
        Rgb([v, v, v.saturating_add(4)])
    })
}

/// Renders `subjects` moving as `motion` into `out` (H.264 in MP4); returns the truth.
/// Plate numbers must be unique within a video (a node rightly reports the same plate
/// seen twice within a minute once).
pub fn render(
    subjects: &[Subject],
    motion: Motion,
    spec: &VideoSpec,
    out: &Path,
) -> Result<Truth, SimError> {
    let mut enc = Encoder::create(out, spec.width, spec.height, spec.fps)?;
    let mut rng = Rng::new(spec.seed ^ motion as u64);
    let frame_ms = 1000.0 / spec.fps as f32;
    let show = (spec.show.as_secs_f32() * spec.fps as f32).round().max(2.0) as u64;
    let gap = (motion.gap(spec).as_secs_f32() * spec.fps as f32).round() as u64;
    let empty = road(spec);
    let ms = |frame: u64| (frame as f32 * frame_ms).round() as u64;
    // Each subject's first frame; pairs overlap by 60 % of their time in view.
    let mut starts = Vec::with_capacity(subjects.len());
    let mut t = gap / 2;
    for i in 0..subjects.len() {
        starts.push(t);
        t += if motion == Motion::Pair && i % 2 == 0 {
            show * 2 / 5
        } else if motion == Motion::Pair {
            show * 3 / 5 + gap
        } else {
            show + gap
        };
    }
    let total = starts.last().map_or(gap, |s| s + show + gap);
    let blur = if motion == Motion::Blur {
        (spec.width / 90).max(3)
    } else {
        0
    };
    for f in 0..total {
        let mut frame = empty.clone();
        for (i, s) in subjects.iter().enumerate() {
            if f < starts[i] || f >= starts[i] + show {
                continue;
            }
            let p = (f - starts[i]) as f32 / (show - 1) as f32;
            let slot = (motion == Motion::Pair).then_some(i % 2 == 0);
            draw(&mut frame, s, &placement(motion, s, p, spec, slot), blur);
        }
        if motion == Motion::Night {
            night(&mut frame, &mut rng);
        }
        enc.push(frame.as_raw())?;
    }
    enc.finish()?;
    Ok(Truth {
        motion,
        duration_ms: ms(total),
        passes: subjects
            .iter()
            .zip(&starts)
            .map(|(s, &from)| TruthPass {
                number: s.number.clone(),
                kind: s.kind.clone(),
                from_ms: ms(from),
                to_ms: ms(from + show),
            })
            .collect(),
    })
}

/// `count` vehicles of the labelled photos wearing synthetic plates of `kinds` (in turn),
/// numbers from `seed`.
pub fn synthetic_subjects(
    hosts: &[Subject],
    kinds: &[PlateKind],
    count: usize,
    font: &PlateFont,
    seed: u64,
) -> Vec<Subject> {
    let mut rng = Rng::new(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut i = 0usize;
    while out.len() < count && !hosts.is_empty() && !kinds.is_empty() {
        let kind = kinds[i % kinds.len()];
        let host = &hosts[(i * 7 + 3) % hosts.len()];
        i += 1;
        let plate = SynthPlate::random(kind, &mut rng);
        if seen.insert(plate.number.clone()) {
            out.push(host.with_plate(&plate, font, &mut rng));
        }
    }
    out
}

/// Writes `subjects` as a labelled folder in the openalpr layout (`NAME.jpg` and
/// `NAME.txt`: `NAME.jpg x y w h PLATE`), which `vigia eval --dataset` scores.
pub fn write_labelled(subjects: &[Subject], dir: &Path) -> Result<(), SimError> {
    std::fs::create_dir_all(dir)?;
    for (i, s) in subjects.iter().enumerate() {
        let name = format!("{}_{i:04}", s.kind);
        let file = format!("{name}.jpg");
        s.image.save(dir.join(&file)).map_err(|e| SimError::Clip {
            path: dir.join(&file).display().to_string(),
            message: e.to_string(),
        })?;
        let [x, y, w, h] = s.plate.map(|v| v.round().max(0.0) as i64);
        std::fs::write(
            dir.join(format!("{name}.txt")),
            format!("{file}\t{x}\t{y}\t{w}\t{h}\t{}\n", s.number),
        )?;
    }
    Ok(())
}

/// A final read the node published.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedPass {
    pub pass_id: u64,
    pub number: String,
    /// Capture times of the pass's first and latest read, ms on the node's clock.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// When the final read arrived, ms on the same clock.
    pub received_ms: i64,
    /// Every event of the pass (`new`, `update`, `end`).
    pub events: u32,
}

/// How one true pass came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exactly one final read, with the right number.
    Right,
    /// A final read with a wrong number, or more than one final read.
    Wrong,
    /// No final read.
    Missed,
}

/// A true pass with what was published for it.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    pub truth: TruthPass,
    pub outcome: Outcome,
    /// Final reads of this pass's plate (more than one: the pass was split).
    pub finals: Vec<String>,
    /// Final reads of other plates in view meanwhile (unlabelled: parked cars in the
    /// photos' backgrounds).
    pub others: Vec<String>,
    /// Events beyond one `new` and one `end`.
    pub extra_events: u32,
    /// From the vehicle leaving view to its final read, ms.
    pub latency_ms: Option<i64>,
}

/// The score of a video.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub motion: Motion,
    pub passes: Vec<Scored>,
    /// Final reads matching no true pass.
    pub phantoms: Vec<String>,
}

impl Score {
    pub fn count(&self, o: Outcome) -> usize {
        self.passes.iter().filter(|p| p.outcome == o).count()
    }
    /// True passes with more than one final read.
    pub fn multiple_finals(&self) -> usize {
        self.passes.iter().filter(|p| p.finals.len() > 1).count()
    }
    pub fn extra_events(&self) -> u32 {
        self.passes.iter().map(|p| p.extra_events).sum()
    }
    /// Final reads of other plates in view during true passes.
    pub fn others(&self) -> usize {
        self.passes.iter().map(|p| p.others.len()).sum()
    }
    /// The `q` quantile (0..=1) of the read latency, ms.
    pub fn latency_quantile(&self, q: f32) -> Option<i64> {
        let mut v: Vec<i64> = self.passes.iter().filter_map(|p| p.latency_ms).collect();
        v.sort_unstable();
        (!v.is_empty()).then(|| v[((v.len() - 1) as f32 * q).round() as usize])
    }
}

/// Matches published final reads to the true passes. The video's start on the node's
/// clock is estimated as the median offset between the first read of a correctly read
/// pass and the true start of its pass (plates are unique within a video); each final read
/// then belongs to the true pass its reads overlap most. Final reads after the video's end
/// (the camera loops) are ignored.
pub fn score(truth: &Truth, published: &[PublishedPass]) -> Score {
    let by_number: HashMap<&str, &TruthPass> = truth
        .passes
        .iter()
        .map(|p| (p.number.as_str(), p))
        .collect();
    let mut offsets: Vec<i64> = published
        .iter()
        .filter_map(|p| {
            by_number
                .get(p.number.as_str())
                .map(|t| p.first_seen_ms - t.from_ms as i64)
        })
        .collect();
    offsets.sort_unstable();
    let t0 = offsets.get(offsets.len() / 2).copied();
    let mut finals: Vec<Vec<&PublishedPass>> = vec![Vec::new(); truth.passes.len()];
    let mut phantoms = Vec::new();
    for p in published {
        let Some(t0) = t0 else {
            phantoms.push(p.number.clone());
            continue;
        };
        let (a, b) = (p.first_seen_ms - t0, p.last_seen_ms - t0);
        if a > truth.duration_ms as i64 {
            continue;
        }
        // Of the true passes its reads overlap, the one with a similar plate (two vehicles
        // in view at once), else the one overlapped most.
        let best = truth
            .passes
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (ta, tb) = (t.from_ms as i64 - 500, t.to_ms as i64 + 500);
                (
                    i,
                    !different_plates(&p.number, &t.number),
                    b.min(tb) - a.max(ta),
                )
            })
            .filter(|(_, _, overlap)| *overlap >= 0)
            .max_by_key(|(_, similar, overlap)| (*similar, *overlap))
            .map(|(i, _, o)| (i, o));
        match best {
            Some((i, _)) => finals[i].push(p),
            None => phantoms.push(p.number.clone()),
        }
    }
    let passes = truth
        .passes
        .iter()
        .zip(finals)
        .map(|(t, all)| {
            // Another plate in view (the photos have cars parked behind) is not this
            // pass's: it is counted apart, as an unlabelled read.
            let (f, others): (Vec<&PublishedPass>, Vec<&PublishedPass>) = all
                .into_iter()
                .partition(|p| !different_plates(&p.number, &t.number));
            let same = |n: &str| {
                if t.kind == "photo" {
                    // The photos' labels write the letter O where plates show the digit 0
                    // (docs/accuracy.md): both count.
                    n.replace('O', "0") == t.number.replace('O', "0")
                } else {
                    n == t.number
                }
            };
            let outcome = match f.as_slice() {
                [] => Outcome::Missed,
                [one] if same(&one.number) => Outcome::Right,
                _ => Outcome::Wrong,
            };
            Scored {
                truth: t.clone(),
                outcome,
                others: others.iter().map(|p| p.number.clone()).collect(),
                finals: f.iter().map(|p| p.number.clone()).collect(),
                extra_events: f.iter().map(|p| p.events.saturating_sub(2)).sum::<u32>()
                    + 2 * f.len().saturating_sub(1) as u32,
                latency_ms: t0.and_then(|t0| {
                    f.iter()
                        .map(|p| p.received_ms - (t0 + t.to_ms as i64))
                        .max()
                }),
            }
        })
        .collect();
    Score {
        motion: truth.motion,
        passes,
        phantoms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Truth {
        let p = |n: &str, a, b| TruthPass {
            number: n.into(),
            kind: "photo".into(),
            from_ms: a,
            to_ms: b,
        };
        Truth {
            motion: Motion::StopAndGo,
            duration_ms: 20_000,
            passes: vec![
                p("AAA111", 500, 3500),
                p("BBB222", 4500, 7500),
                p("CCC333", 8500, 11_500),
            ],
        }
    }

    fn published(n: &str, a: i64, b: i64, events: u32) -> PublishedPass {
        PublishedPass {
            pass_id: 0,
            number: n.into(),
            first_seen_ms: a,
            last_seen_ms: b,
            received_ms: b + 1200,
            events,
        }
    }

    #[test]
    fn right_wrong_missed_and_merged() {
        // The node's clock is 100 s ahead of video time.
        let o = 100_000;
        let got = vec![
            published("AAA111", o + 700, o + 3300, 2),
            // The second vehicle's reads voted into a pass that then ends on the wrong plate…
            published("BBB2Z2", o + 4600, o + 7400, 3),
            // …and read a second time.
            published("BBB222", o + 4700, o + 7000, 2),
            published("ZZZ999", o + 15_000, o + 16_000, 2),
            // A parked car behind the third vehicle.
            published("PD510BY", o + 9000, o + 11_000, 2),
            // The camera looped: ignored.
            published("AAA111", o + 20_700, o + 23_300, 2),
        ];
        let s = score(&truth(), &got);
        assert_eq!(s.count(Outcome::Right), 1);
        assert_eq!(s.count(Outcome::Wrong), 1);
        assert_eq!(s.count(Outcome::Missed), 1);
        assert_eq!(s.multiple_finals(), 1);
        assert_eq!(s.passes[1].extra_events, 3);
        assert_eq!(s.passes[0].latency_ms, Some(800));
        assert_eq!(s.phantoms, vec!["ZZZ999".to_string()]);
        assert_eq!(s.passes[2].others, vec!["PD510BY".to_string()]);
        assert_eq!(s.others(), 1);
    }

    #[test]
    fn nothing_published_is_all_missed() {
        let s = score(&truth(), &[]);
        assert_eq!(s.count(Outcome::Missed), 3);
        assert_eq!(s.latency_quantile(0.5), None);
    }
}

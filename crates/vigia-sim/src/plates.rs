//! Synthetic Colombian license plates, for the rendered LPR benchmark.
//!
//! Drawn after the national standard's layout (Resolución 5600 de 2006 and its successors),
//! close enough for a plate reader: a car plate is 330 × 160 mm with the number in one row
//! (`ABC 123`) and the municipality below; a motorcycle plate is about 235 × 145 mm with
//! the letters on top and the digits (and a final letter on new plates) below. Colours:
//! yellow for private cars and motorcycles, white for public service, blue for diplomatic
//! missions. The font is Liberation Sans Narrow Bold from Debian's `fonts-liberation`, a
//! condensed bold sans close to the standard's lettering (its `J` sits on the baseline and
//! its `Q` has a crossing tail, as on the plates; DejaVu Sans Condensed Bold, used until
//! 2026-12-01, drops the `J` below the baseline, which no plate does); any TrueType/OpenType
//! file can be given instead.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

use crate::SimError;

/// Where Debian puts the default font (package `fonts-liberation`).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf";

/// The kinds of Colombian plate the benchmark renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlateKind {
    /// Private car: yellow, `AAA999`.
    Car,
    /// Public service: white, `AAA999`.
    Public,
    /// Motorcycle, two rows: `AAA` over `99A`.
    Motorcycle,
    /// Motorcycle before 2009, two rows: `AAA` over `99`.
    MotorcycleOld,
    /// Trailer: `R99999` / `S99999`, one row.
    Trailer,
    /// Diplomatic: `AA9999`, white on blue.
    Diplomatic,
}

impl PlateKind {
    pub const ALL: [PlateKind; 6] = [
        PlateKind::Car,
        PlateKind::Public,
        PlateKind::Motorcycle,
        PlateKind::MotorcycleOld,
        PlateKind::Trailer,
        PlateKind::Diplomatic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlateKind::Car => "car",
            PlateKind::Public => "public",
            PlateKind::Motorcycle => "motorcycle",
            PlateKind::MotorcycleOld => "motorcycle_old",
            PlateKind::Trailer => "trailer",
            PlateKind::Diplomatic => "diplomatic",
        }
    }

    /// Width over height of the plate.
    pub fn aspect(self) -> f32 {
        if self.two_rows() { 1.62 } else { 2.06 }
    }

    /// Width of the real plate in millimetres (330 x 160 for cars, about 235 x 145 for
    /// motorcycles: the aspect above).
    pub fn width_mm(self) -> f32 {
        if self.two_rows() { 235.0 } else { 330.0 }
    }

    /// Height of the characters over the plate's height (of each row on two-row plates).
    pub fn char_height(self) -> f32 {
        if self.two_rows() { 0.3 } else { 0.5 }
    }

    pub fn two_rows(self) -> bool {
        matches!(self, PlateKind::Motorcycle | PlateKind::MotorcycleOld)
    }

    fn colors(self) -> (Rgb<u8>, Rgb<u8>) {
        let yellow = Rgb([246, 196, 0]);
        let black = Rgb([22, 22, 22]);
        match self {
            PlateKind::Car | PlateKind::Motorcycle | PlateKind::MotorcycleOld => (yellow, black),
            PlateKind::Public | PlateKind::Trailer => (Rgb([236, 236, 232]), black),
            PlateKind::Diplomatic => (Rgb([30, 70, 160]), Rgb([245, 245, 245])),
        }
    }

    /// A random plate number of this kind.
    pub fn random_number(self, rng: &mut Rng) -> String {
        let l = |rng: &mut Rng| char::from(b'A' + rng.below(26) as u8);
        let d = |rng: &mut Rng| char::from(b'0' + rng.below(10) as u8);
        let mut s = String::new();
        match self {
            PlateKind::Car | PlateKind::Public => {
                (0..3).for_each(|_| s.push(l(rng)));
                (0..3).for_each(|_| s.push(d(rng)));
            }
            PlateKind::Motorcycle | PlateKind::MotorcycleOld => {
                (0..3).for_each(|_| s.push(l(rng)));
                (0..2).for_each(|_| s.push(d(rng)));
                if self == PlateKind::Motorcycle {
                    s.push(l(rng));
                }
            }
            PlateKind::Trailer => {
                s.push(if rng.below(2) == 0 { 'R' } else { 'S' });
                (0..5).for_each(|_| s.push(d(rng)));
            }
            PlateKind::Diplomatic => {
                (0..2).for_each(|_| s.push(l(rng)));
                (0..4).for_each(|_| s.push(d(rng)));
            }
        }
        s
    }
}

/// A small deterministic generator (xorshift64*): the benchmark's scenes must be the same
/// on every machine for a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

const CITIES: [&str; 6] = [
    "MEDELLIN", "ENVIGADO", "ITAGUI", "BELLO", "SABANETA", "RIONEGRO",
];

/// A synthetic plate: its kind and number (the ground truth).
#[derive(Debug, Clone, PartialEq)]
pub struct SynthPlate {
    pub kind: PlateKind,
    pub number: String,
    pub city: &'static str,
}

impl SynthPlate {
    pub fn random(kind: PlateKind, rng: &mut Rng) -> Self {
        Self {
            kind,
            number: kind.random_number(rng),
            city: CITIES[rng.below(CITIES.len() as u64) as usize],
        }
    }
}

/// The plate font.
pub struct PlateFont(FontVec);

impl PlateFont {
    /// Loads `path`, or [`DEFAULT_FONT`].
    pub fn load(path: Option<&Path>) -> Result<Self, SimError> {
        let path = path.map_or_else(|| PathBuf::from(DEFAULT_FONT), Path::to_path_buf);
        let bytes = std::fs::read(&path).map_err(|e| SimError::Clip {
            path: path.display().to_string(),
            message: format!(
                "cannot read the plate font ({e}); on Debian it comes with the package fonts-liberation"
            ),
        })?;
        FontVec::try_from_vec(bytes)
            .map(Self)
            .map_err(|e| SimError::Clip {
                path: path.display().to_string(),
                message: format!("not a TrueType/OpenType font: {e}"),
            })
    }

    /// Draws `text` centred on (`cx`, `cy`) with capital letters `cap` pixels high, squeezed
    /// to at most `max_w` pixels wide.
    fn draw(
        &self,
        img: &mut RgbImage,
        text: &str,
        (cx, cy): (f32, f32),
        cap: f32,
        max_w: f32,
        color: Rgb<u8>,
    ) {
        let font = &self.0;
        // Cap height of this font at scale 1, from the outline of `H`.
        let probe = font
            .glyph_id('H')
            .with_scale_and_position(100.0, point(0.0, 0.0));
        let cap_per_px = font
            .outline_glyph(probe)
            .map_or(0.72, |g| g.px_bounds().height() / 100.0);
        let scale = PxScale::from(cap / cap_per_px.max(0.1));
        let scaled = font.as_scaled(scale);
        let width: f32 = text
            .chars()
            .map(|c| scaled.h_advance(font.glyph_id(c)))
            .sum();
        let squeeze = if width > max_w { max_w / width } else { 1.0 };
        let scale = PxScale {
            x: scale.x * squeeze,
            y: scale.y,
        };
        let scaled = font.as_scaled(scale);
        let width = width * squeeze;
        let mut x = cx - width / 2.0;
        let baseline = cy + cap / 2.0;
        for c in text.chars() {
            let id = font.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, point(x, baseline));
            x += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                let (px, py) = (
                    b.min.x as i64 + i64::from(gx),
                    b.min.y as i64 + i64::from(gy),
                );
                if px < 0 || py < 0 || px >= i64::from(img.width()) || py >= i64::from(img.height())
                {
                    return;
                }
                let p = img.get_pixel_mut(px as u32, py as u32);
                for k in 0..3 {
                    let v = f32::from(p[k]) * (1.0 - cov) + f32::from(color[k]) * cov;
                    p[k] = v.round().clamp(0.0, 255.0) as u8;
                }
            });
        }
    }
}

/// Draws `plate` `height` pixels high (its width follows from the kind's aspect).
pub fn render_plate(font: &PlateFont, plate: &SynthPlate, height: u32) -> RgbImage {
    let h = height.max(8);
    let w = (h as f32 * plate.kind.aspect()).round() as u32;
    let (bg, fg) = plate.kind.colors();
    let mut img = RgbImage::from_pixel(w, h, bg);
    // The border: a dark line inset from the edge.
    let (wf, hf) = (w as f32, h as f32);
    let t = (hf * 0.035).max(1.0);
    let inset = hf * 0.04;
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32, y as f32);
            let outer = xf >= inset && yf >= inset && xf < wf - inset && yf < hf - inset;
            let inner =
                xf >= inset + t && yf >= inset + t && xf < wf - inset - t && yf < hf - inset - t;
            if outer && !inner {
                img.put_pixel(x, y, fg);
            }
        }
    }
    let n = &plate.number;
    let usable = wf - 2.0 * (inset + t) - hf * 0.08;
    if plate.kind.two_rows() {
        font.draw(
            &mut img,
            &n[..3],
            (wf / 2.0, hf * 0.27),
            hf * plate.kind.char_height(),
            usable,
            fg,
        );
        font.draw(
            &mut img,
            &n[3..],
            (wf / 2.0, hf * 0.63),
            hf * plate.kind.char_height(),
            usable,
            fg,
        );
        font.draw(
            &mut img,
            plate.city,
            (wf / 2.0, hf * 0.87),
            hf * 0.085,
            usable * 0.7,
            fg,
        );
    } else {
        let split = n.len() / 2;
        let text = format!("{} {}", &n[..split], &n[split..]);
        font.draw(
            &mut img,
            &text,
            (wf / 2.0, hf * 0.43),
            hf * plate.kind.char_height(),
            usable,
            fg,
        );
        font.draw(
            &mut img,
            plate.city,
            (wf / 2.0, hf * 0.84),
            hf * 0.11,
            usable * 0.6,
            fg,
        );
    }
    img
}

/// Pastes `plate` over `img` into the quadrilateral whose corners are `quad` (top-left,
/// top-right, bottom-right, bottom-left), sampling bilinearly through the inverse of the
/// bilinear map (a perspective-like warp, enough for a few degrees of tilt and skew).
pub fn paste_warped(img: &mut RgbImage, plate: &RgbImage, quad: [(f32, f32); 4]) {
    let xs = quad.iter().map(|p| p.0);
    let ys = quad.iter().map(|p| p.1);
    let x0 = xs.clone().fold(f32::MAX, f32::min).floor().max(0.0) as u32;
    let x1 = xs.fold(f32::MIN, f32::max).ceil().min(img.width() as f32) as u32;
    let y0 = ys.clone().fold(f32::MAX, f32::min).floor().max(0.0) as u32;
    let y1 = ys.fold(f32::MIN, f32::max).ceil().min(img.height() as f32) as u32;
    let (pw, ph) = (plate.width() as f32, plate.height() as f32);
    let [a, b, c, d] = quad;
    let at = |u: f32, v: f32| {
        let top = (a.0 + (b.0 - a.0) * u, a.1 + (b.1 - a.1) * u);
        let bottom = (d.0 + (c.0 - d.0) * u, d.1 + (c.1 - d.1) * u);
        (
            top.0 + (bottom.0 - top.0) * v,
            top.1 + (bottom.1 - top.1) * v,
        )
    };
    for y in y0..y1 {
        for x in x0..x1 {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            // Newton steps on the bilinear map from (u, v) to the image.
            let (mut u, mut v) = (0.5f32, 0.5f32);
            for _ in 0..6 {
                let (fx, fy) = at(u, v);
                let e = 1e-3;
                let (ux, uy) = at(u + e, v);
                let (vx, vy) = at(u, v + e);
                let (j11, j21) = ((ux - fx) / e, (uy - fy) / e);
                let (j12, j22) = ((vx - fx) / e, (vy - fy) / e);
                let det = j11 * j22 - j12 * j21;
                if det.abs() < 1e-6 {
                    break;
                }
                let (rx, ry) = (px - fx, py - fy);
                u += (j22 * rx - j12 * ry) / det;
                v += (-j21 * rx + j11 * ry) / det;
            }
            if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
                continue;
            }
            let p = sample(plate, u * pw - 0.5, v * ph - 0.5);
            img.put_pixel(x, y, Rgb(p));
        }
    }
}

/// Bilinear sample of `img` at (`x`, `y`), clamped to the edges.
pub fn sample(img: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = (img.width() as i64 - 1, img.height() as i64 - 1);
    let (xf, yf) = (x.floor(), y.floor());
    let (fx, fy) = (x - xf, y - yf);
    let (xi, yi) = (xf as i64, yf as i64);
    let px = |xx: i64, yy: i64| {
        img.get_pixel(xx.clamp(0, w) as u32, yy.clamp(0, h) as u32)
            .0
    };
    let (p00, p10, p01, p11) = (
        px(xi, yi),
        px(xi + 1, yi),
        px(xi, yi + 1),
        px(xi + 1, yi + 1),
    );
    let mut out = [0u8; 3];
    for k in 0..3 {
        let top = f32::from(p00[k]) * (1.0 - fx) + f32::from(p10[k]) * fx;
        let bottom = f32::from(p01[k]) * (1.0 - fx) + f32::from(p11[k]) * fx;
        out[k] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_formats() {
        let mut rng = Rng::new(7);
        for _ in 0..50 {
            let car = PlateKind::Car.random_number(&mut rng);
            assert!(car.len() == 6 && car[..3].bytes().all(|b| b.is_ascii_uppercase()));
            assert!(car[3..].bytes().all(|b| b.is_ascii_digit()));
            let moto = PlateKind::Motorcycle.random_number(&mut rng);
            assert!(moto.len() == 6 && moto.as_bytes()[5].is_ascii_uppercase());
            assert_eq!(PlateKind::MotorcycleOld.random_number(&mut rng).len(), 5);
            let t = PlateKind::Trailer.random_number(&mut rng);
            assert!(t.starts_with('R') || t.starts_with('S'));
        }
        // Same seed, same plates.
        assert_eq!(
            PlateKind::Car.random_number(&mut Rng::new(1)),
            PlateKind::Car.random_number(&mut Rng::new(1))
        );
    }

    #[test]
    fn a_plate_has_dark_characters_on_its_colour() {
        let Ok(font) = PlateFont::load(None) else {
            // The font package is part of the set-up; without it there is nothing to draw.
            assert!(
                std::env::var_os("CI").is_none(),
                "{DEFAULT_FONT} missing in CI"
            );
            return;
        };
        let plate = SynthPlate {
            kind: PlateKind::Car,
            number: "ABC123".into(),
            city: "MEDELLIN",
        };
        let img = render_plate(&font, &plate, 80);
        assert_eq!((img.width(), img.height()), (165, 80));
        let dark = img.pixels().filter(|p| p[0] < 80).count();
        let share = dark as f32 / (165.0 * 80.0);
        assert!((0.08..0.45).contains(&share), "dark share {share}");
        // The middle row crosses characters; the top margin is plate colour.
        assert!(img.get_pixel(80, 8)[0] > 200);
    }

    #[test]
    fn warp_fills_the_quad() {
        let plate = RgbImage::from_pixel(20, 10, Rgb([200, 10, 10]));
        let mut img = RgbImage::from_pixel(100, 60, Rgb([0, 0, 0]));
        paste_warped(
            &mut img,
            &plate,
            [(10.0, 10.0), (50.0, 12.0), (50.0, 32.0), (10.0, 30.0)],
        );
        assert_eq!(img.get_pixel(30, 20).0, [200, 10, 10]);
        assert_eq!(img.get_pixel(5, 5).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(60, 20).0, [0, 0, 0]);
    }
}

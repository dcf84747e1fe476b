//! `vigia draw-rules`: a camera's zones, lines and directions drawn on a real frame, so an
//! integrator can check a rule's geometry before deploying it.
//!
//! Hand-written raster code (a few primitives with alpha blending) rather than a drawing
//! crate: it needs polygons, thick segments, discs and two letters, nothing else.

use image::RgbImage;

use crate::geom::{Point, inside};
use crate::{RuleConfig, RuleKind};

/// One colour per rule, in order (wraps around).
const PALETTE: [([u8; 3], &str); 6] = [
    ([230, 57, 70], "red"),
    ([29, 120, 230], "blue"),
    ([255, 183, 3], "amber"),
    ([42, 157, 143], "teal"),
    ([155, 93, 229], "purple"),
    ([244, 114, 182], "pink"),
];

/// 5×7 bitmaps of the side markers.
const GLYPH_A: [u8; 7] = [
    0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
];
const GLYPH_B: [u8; 7] = [
    0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110,
];

struct Canvas<'a> {
    img: &'a mut RgbImage,
}

impl Canvas<'_> {
    fn size(&self) -> (f32, f32) {
        (self.img.width() as f32, self.img.height() as f32)
    }

    fn px(&self, p: Point) -> Point {
        let (w, h) = self.size();
        [p[0] * w, p[1] * h]
    }

    fn blend(&mut self, x: i64, y: i64, c: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.img.width()) || y >= i64::from(self.img.height()) {
            return;
        }
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        for (d, s) in p.0.iter_mut().zip(c) {
            *d = (f32::from(*d) * (1.0 - alpha) + f32::from(s) * alpha).round() as u8;
        }
    }

    /// Calls `f` for every pixel centre in the box around `pts` (padded by `pad` pixels).
    fn each_pixel(
        &mut self,
        pts: &[Point],
        pad: f32,
        mut f: impl FnMut(&mut Self, i64, i64, Point),
    ) {
        let (w, h) = self.size();
        let x0 = pts.iter().map(|p| p[0]).fold(f32::MAX, f32::min) - pad;
        let x1 = pts.iter().map(|p| p[0]).fold(f32::MIN, f32::max) + pad;
        let y0 = pts.iter().map(|p| p[1]).fold(f32::MAX, f32::min) - pad;
        let y1 = pts.iter().map(|p| p[1]).fold(f32::MIN, f32::max) + pad;
        for y in (y0.floor().max(0.0) as i64)..=(y1.ceil().min(h - 1.0) as i64) {
            for x in (x0.floor().max(0.0) as i64)..=(x1.ceil().min(w - 1.0) as i64) {
                f(self, x, y, [x as f32 + 0.5, y as f32 + 0.5]);
            }
        }
    }

    fn fill_polygon(&mut self, poly: &[Point], c: [u8; 3], alpha: f32) {
        let px: Vec<Point> = poly.iter().map(|p| self.px(*p)).collect();
        self.each_pixel(&px.clone(), 0.0, |cv, x, y, p| {
            if inside(&px, p) {
                cv.blend(x, y, c, alpha);
            }
        });
    }

    /// A segment `t` pixels thick (pixel coordinates).
    fn segment(&mut self, a: Point, b: Point, t: f32, c: [u8; 3]) {
        let d = [b[0] - a[0], b[1] - a[1]];
        let len2 = (d[0] * d[0] + d[1] * d[1]).max(f32::EPSILON);
        self.each_pixel(&[a, b], t, |cv, x, y, p| {
            let s = (((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / len2).clamp(0.0, 1.0);
            let q = [a[0] + s * d[0] - p[0], a[1] + s * d[1] - p[1]];
            let dist = (q[0] * q[0] + q[1] * q[1]).sqrt();
            // One pixel of anti-aliasing at the edge.
            let cover = (t / 2.0 + 0.5 - dist).clamp(0.0, 1.0);
            if cover > 0.0 {
                cv.blend(x, y, c, cover);
            }
        });
    }

    fn disc(&mut self, centre: Point, r: f32, c: [u8; 3]) {
        self.each_pixel(&[centre], r + 1.0, |cv, x, y, p| {
            let dist = ((p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2)).sqrt();
            let cover = (r + 0.5 - dist).clamp(0.0, 1.0);
            if cover > 0.0 {
                cv.blend(x, y, c, cover);
            }
        });
    }

    /// A letter on a white disc, centred at `centre` (pixel coordinates).
    fn marker(&mut self, glyph: &[u8; 7], centre: Point, scale: f32, c: [u8; 3]) {
        self.disc(centre, scale * 5.5, [255, 255, 255]);
        let s = scale.max(1.0).round() as i64;
        let x0 = (centre[0] - 2.5 * s as f32).round() as i64;
        let y0 = (centre[1] - 3.5 * s as f32).round() as i64;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..5 {
                if bits & (1 << (4 - col)) != 0 {
                    for dy in 0..s {
                        for dx in 0..s {
                            self.blend(x0 + col * s + dx, y0 + row as i64 * s + dy, c, 1.0);
                        }
                    }
                }
            }
        }
    }

    fn arrow(&mut self, from: Point, to: Point, t: f32, c: [u8; 3]) {
        self.segment(from, to, t, c);
        let d = [to[0] - from[0], to[1] - from[1]];
        let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(f32::EPSILON);
        let u = [d[0] / len, d[1] / len];
        let head = t * 4.0;
        for sign in [-1.0f32, 1.0] {
            let side = [
                to[0] - head * (u[0] * 0.85 - sign * u[1] * 0.5),
                to[1] - head * (u[1] * 0.85 + sign * u[0] * 0.5),
            ];
            self.segment(to, side, t, c);
        }
    }
}

/// Draws `rules` on `img`; returns one legend line per rule (name, kind, colour, and how to
/// read the drawing).
pub fn draw_rules(img: &mut RgbImage, rules: &[RuleConfig]) -> Vec<String> {
    let mut cv = Canvas { img };
    let (w, h) = cv.size();
    let t = (w.min(h) / 150.0).max(2.0);
    let mut legend = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let (c, name) = PALETTE[i % PALETTE.len()];
        let mut how = String::new();
        if let Some(zone) = &r.zone {
            cv.fill_polygon(zone, c, 0.22);
            let px: Vec<Point> = zone.iter().map(|p| cv.px(*p)).collect();
            for k in 0..px.len() {
                cv.segment(px[k], px[(k + 1) % px.len()], t, c);
            }
            how.push_str("zone: tinted polygon");
        }
        if let Some([a, b]) = r.line {
            let (pa, pb) = (cv.px(a), cv.px(b));
            cv.segment(pa, pb, t * 1.5, c);
            cv.disc(pa, t * 2.0, c);
            // Side A is left of a → b (image coordinates: y down).
            let d = [pb[0] - pa[0], pb[1] - pa[1]];
            let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(f32::EPSILON);
            let n = [d[1] / len, -d[0] / len];
            let mid = [(pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0];
            let off = t * 9.0;
            let scale = t * 1.2;
            cv.marker(
                &GLYPH_A,
                [mid[0] - n[0] * off, mid[1] - n[1] * off],
                scale,
                c,
            );
            cv.marker(
                &GLYPH_B,
                [mid[0] + n[0] * off, mid[1] + n[1] * off],
                scale,
                c,
            );
            if !how.is_empty() {
                how.push_str("; ");
            }
            how.push_str("line: dot at its start, A and B mark its sides");
        }
        if r.kind == RuleKind::WrongWay {
            let dir = r.direction.unwrap_or([0.0, 1.0]);
            let centre = match &r.zone {
                Some(z) if !z.is_empty() => {
                    let n = z.len() as f32;
                    [
                        z.iter().map(|p| p[0]).sum::<f32>() / n,
                        z.iter().map(|p| p[1]).sum::<f32>() / n,
                    ]
                }
                _ => [0.5, 0.5],
            };
            let len = (dir[0] * dir[0] + dir[1] * dir[1]).sqrt().max(f32::EPSILON);
            let reach = w.min(h) * 0.15;
            let c0 = cv.px(centre);
            let tip = [c0[0] + dir[0] / len * reach, c0[1] + dir[1] / len * reach];
            let tail = [c0[0] - dir[0] / len * reach, c0[1] - dir[1] / len * reach];
            cv.arrow(tail, tip, t * 1.5, c);
            if !how.is_empty() {
                how.push_str("; ");
            }
            how.push_str("arrow: the allowed direction");
        }
        legend.push(format!(
            "{name:<7} {:<16} {}{}  ({how})",
            r.kind.as_str(),
            r.name,
            if r.enabled { "" } else { " [disabled]" },
        ));
    }
    legend
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> RuleConfig {
        toml::from_str(&format!("name = \"r\"\ncamera = \"c\"\n{toml_text}")).unwrap()
    }

    #[test]
    fn zones_are_tinted_inside_and_not_outside() {
        let mut img = RgbImage::from_pixel(200, 100, image::Rgb([0, 0, 0]));
        let r = rule(
            "kind = \"zone_intrusion\"\nzone = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]",
        );
        let legend = draw_rules(&mut img, &[r]);
        assert_eq!(legend.len(), 1);
        assert!(legend[0].starts_with("red"), "{legend:?}");
        assert_eq!(img.get_pixel(20, 50).0, [0, 0, 0], "left half untouched");
        let p = img.get_pixel(150, 50).0;
        assert!(p[0] > 30 && p[1] < p[0], "right half tinted red: {p:?}");
    }

    #[test]
    fn lines_get_a_and_b_on_the_documented_sides() {
        // A line drawn top to bottom: A is on the left, B on the right.
        let mut img = RgbImage::from_pixel(300, 300, image::Rgb([0, 0, 0]));
        let r = rule("kind = \"line_crossing\"\nline = [[0.5, 0.0], [0.5, 1.0]]");
        draw_rules(&mut img, &[r]);
        let white = |x0: u32, x1: u32| {
            (x0..x1)
                .flat_map(|x| (140..160).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 == [255, 255, 255])
                .count()
        };
        assert!(white(100, 140) > 20, "marker A on the left");
        assert!(white(160, 200) > 20, "marker B on the right");
        assert_eq!(img.get_pixel(150, 10).0, [230, 57, 70], "the line itself");
    }

    #[test]
    fn wrong_way_rules_show_their_allowed_direction() {
        let mut img = RgbImage::from_pixel(200, 200, image::Rgb([0, 0, 0]));
        let r = rule("kind = \"wrong_way\"\ndirection = [1, 0]");
        let legend = draw_rules(&mut img, &[r]);
        assert!(legend[0].contains("arrow"), "{legend:?}");
        assert_ne!(
            img.get_pixel(100, 100).0,
            [0, 0, 0],
            "arrow through the centre"
        );
    }
}

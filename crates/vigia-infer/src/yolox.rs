//! YOLOX grid decoding.
//!
//! The exported head (no in-graph decode) outputs, for each cell of each stride's grid in
//! order (stride 8 rows first), `x, y, log w, log h, objectness, class scores...`, with
//! sigmoid already applied to objectness and classes. A box is
//! `cx = (x + gx) * s`, `cy = (y + gy) * s`, `w = exp(log w) * s`, `h = exp(log h) * s`.

use vigia_core::BBox;

use crate::nms::Candidate;

/// Number of anchors (grid cells) for an input size and strides.
pub fn anchor_count(width: u32, height: u32, strides: &[u32]) -> usize {
    strides
        .iter()
        .map(|s| (width / s) as usize * (height / s) as usize)
        .sum()
}

/// The grid cells of each stride for a `width x height` input, in output order (strides in
/// order, row-major): `(gx, gy, stride)`. YOLOX and the raw YOLOv8 head share it.
pub fn cells(width: u32, height: u32, strides: &[u32]) -> impl Iterator<Item = (u32, u32, f32)> {
    strides.iter().flat_map(move |&s| {
        let (gw, gh) = (width / s, height / s);
        (0..gh).flat_map(move |gy| (0..gw).map(move |gx| (gx, gy, s as f32)))
    })
}

/// Decodes `output` (`anchors x (5 + classes)`, row-major) into candidates in model input
/// pixels. Keeps, per anchor, the best class among those `keep[c]` allows, when
/// `objectness * class score >= score_threshold`.
pub fn decode(
    output: &[f32],
    width: u32,
    height: u32,
    strides: &[u32],
    num_classes: usize,
    keep: &[bool],
    score_threshold: f32,
) -> Result<Vec<Candidate>, String> {
    let row = 5 + num_classes;
    let anchors = anchor_count(width, height, strides);
    if output.len() != anchors * row {
        return Err(format!(
            "expected {anchors} anchors x {row} values = {}, got {} values",
            anchors * row,
            output.len()
        ));
    }
    let mut out = Vec::new();
    for (i, (gx, gy, sf)) in cells(width, height, strides).enumerate() {
        let r = &output[i * row..(i + 1) * row];
        let obj = r[4];
        // score = obj * cls <= obj: skip cheap anchors before the class scan.
        if obj < score_threshold {
            continue;
        }
        let mut best = (usize::MAX, 0f32);
        for (c, &p) in r[5..].iter().enumerate() {
            if keep.get(c).copied().unwrap_or(false) && p > best.1 {
                best = (c, p);
            }
        }
        if best.0 == usize::MAX {
            continue;
        }
        let score = obj * best.1;
        if score < score_threshold {
            continue;
        }
        let cx = (r[0] + gx as f32) * sf;
        let cy = (r[1] + gy as f32) * sf;
        let w = r[2].exp() * sf;
        let h = r[3].exp() * sf;
        out.push(Candidate {
            class_id: best.0 as u32,
            score,
            bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, w, h),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_one_anchor_on_each_grid() {
        // 32x32 input, strides 8 and 16: 16 + 4 = 20 anchors, 2 classes.
        let strides = [8, 16];
        let row = 7;
        let mut out = vec![0f32; 20 * row];
        // Anchor (gx=1, gy=2) of stride 8 = index 2*4+1 = 9: class 1.
        let a = 9 * row;
        out[a..a + row].copy_from_slice(&[0.5, 0.5, 0.0, (2f32).ln(), 0.9, 0.1, 0.8]);
        // Anchor (gx=1, gy=1) of stride 16 = index 16 + 3 = 19: class 0, below threshold.
        let b = 19 * row;
        out[b..b + row].copy_from_slice(&[0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.1]);
        let got = decode(&out, 32, 32, &strides, 2, &[true, true], 0.3).unwrap();
        assert_eq!(got.len(), 1);
        let c = got[0];
        assert_eq!(c.class_id, 1);
        assert!((c.score - 0.72).abs() < 1e-6);
        // cx = (0.5 + 1) * 8 = 12, cy = (0.5 + 2) * 8 = 20, w = 8, h = 16.
        assert_eq!(c.bbox, BBox::new(8.0, 12.0, 8.0, 16.0));
    }

    #[test]
    fn class_filter_and_size_check() {
        let row = 7;
        let mut out = vec![0f32; 20 * row];
        out[4] = 0.9;
        out[5] = 0.2;
        out[6] = 0.9;
        // Class 1 filtered out: class 0 wins but 0.9 * 0.2 is below the threshold.
        assert!(
            decode(&out, 32, 32, &[8, 16], 2, &[true, false], 0.3)
                .unwrap()
                .is_empty()
        );
        assert!(decode(&out[..10], 32, 32, &[8, 16], 2, &[true, true], 0.3).is_err());
        assert_eq!(anchor_count(416, 416, &[8, 16, 32]), 3549);
    }
}

//! Ultralytics YOLOv8 decoding.
//!
//! [`decode`]: the exported graph's own output `[1, rows, anchors]` (channels first), rows =
//! `cx, cy, w, h` in input pixels, then one score per class (sigmoid applied), then any
//! extra rows (segmentation mask coefficients), which are ignored.
//!
//! [`decode_dfl`]: the raw head, cut before the graph's decoding (whose constants fix the
//! input size): `[1, 4 x reg_max + classes, anchors]`. Per anchor, the distances from the
//! cell's centre to the box's left, top, right and bottom sides are each the expectation of
//! a softmax over `reg_max` bins (in strides); class scores are logits. The anchors are
//! the cells of each stride's grid, strides in order, row-major, for whatever input size
//! was run. Only anchors whose best class passes the threshold get their box computed.

use vigia_core::BBox;

use crate::nms::Candidate;

/// Decodes `output` with `rows` rows of `anchors` values each.
pub fn decode(
    output: &[f32],
    rows: usize,
    anchors: usize,
    num_classes: usize,
    keep: &[bool],
    score_threshold: f32,
) -> Result<Vec<Candidate>, String> {
    if rows < 4 + num_classes {
        return Err(format!(
            "{rows} rows per anchor cannot hold a box and {num_classes} class scores"
        ));
    }
    if output.len() != rows * anchors {
        return Err(format!(
            "expected {rows} x {anchors} = {} values, got {}",
            rows * anchors,
            output.len()
        ));
    }
    let row = |r: usize| &output[r * anchors..(r + 1) * anchors];
    let (cx, cy, w, h) = (row(0), row(1), row(2), row(3));
    let mut out = Vec::new();
    for a in 0..anchors {
        let mut best = (usize::MAX, score_threshold);
        for c in 0..num_classes {
            if keep.get(c).copied().unwrap_or(false) {
                let s = output[(4 + c) * anchors + a];
                if s >= best.1 {
                    best = (c, s);
                }
            }
        }
        if best.0 == usize::MAX {
            continue;
        }
        out.push(Candidate {
            class_id: best.0 as u32,
            score: best.1,
            bbox: BBox::new(cx[a] - w[a] / 2.0, cy[a] - h[a] / 2.0, w[a], h[a]),
        });
    }
    Ok(out)
}

/// Decodes the raw head (see the module docs) of a `width x height` input.
pub fn decode_dfl(
    output: &[f32],
    head: DflHead<'_>,
    num_classes: usize,
    keep: &[bool],
    score_threshold: f32,
) -> Result<Vec<Candidate>, String> {
    let DflHead {
        width,
        height,
        strides,
        reg_max,
    } = head;
    let bins = reg_max as usize;
    let rows = 4 * bins + num_classes;
    let anchors = crate::yolox::anchor_count(width, height, strides);
    if output.len() != rows * anchors {
        return Err(format!(
            "expected {rows} rows x {anchors} anchors = {} values for a {width}x{height} input, got {}",
            rows * anchors,
            output.len()
        ));
    }
    // sigmoid(x) >= t  <=>  x >= ln(t / (1 - t)): no exp for the anchors that fail.
    let t = score_threshold.clamp(1e-6, 1.0 - 1e-6);
    let logit_threshold = (t / (1.0 - t)).ln();
    let value = |r: usize, a: usize| output[r * anchors + a];
    let mut out = Vec::new();
    for (anchor, (gx, gy, sf)) in crate::yolox::cells(width, height, strides).enumerate() {
        let mut best = (usize::MAX, logit_threshold);
        for c in 0..num_classes {
            let v = value(4 * bins + c, anchor);
            if keep.get(c).copied().unwrap_or(false) && v >= best.1 {
                best = (c, v);
            }
        }
        if best.0 == usize::MAX {
            continue;
        }
        let mut side = [0f32; 4];
        for (k, d) in side.iter_mut().enumerate() {
            let logits = (0..bins).map(|b| value(k * bins + b, anchor));
            let max = logits.clone().fold(f32::MIN, f32::max);
            let (mut sum, mut weighted) = (0f32, 0f32);
            for (b, l) in logits.enumerate() {
                let e = (l - max).exp();
                sum += e;
                weighted += e * b as f32;
            }
            *d = weighted / sum;
        }
        let (cx, cy) = (gx as f32 + 0.5, gy as f32 + 0.5);
        let x1 = (cx - side[0]) * sf;
        let y1 = (cy - side[1]) * sf;
        let x2 = (cx + side[2]) * sf;
        let y2 = (cy + side[3]) * sf;
        out.push(Candidate {
            class_id: best.0 as u32,
            score: 1.0 / (1.0 + (-best.1).exp()),
            bbox: BBox::new(x1, y1, x2 - x1, y2 - y1),
        });
    }
    Ok(out)
}

/// The input size and head layout [`decode_dfl`] needs.
#[derive(Debug, Clone, Copy)]
pub struct DflHead<'a> {
    pub width: u32,
    pub height: u32,
    pub strides: &'a [u32],
    pub reg_max: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_channels_first_and_ignores_extra_rows() {
        // 3 anchors, 1 class, 2 extra (mask) rows: 7 rows.
        let anchors = 3;
        let mut o = vec![0f32; 7 * anchors];
        let set = |o: &mut Vec<f32>, r: usize, a: usize, v: f32| o[r * anchors + a] = v;
        for (r, v) in [
            (0, 100.0),
            (1, 50.0),
            (2, 40.0),
            (3, 10.0),
            (4, 0.9),
            (5, 7.0),
            (6, 7.0),
        ] {
            set(&mut o, r, 1, v);
        }
        set(&mut o, 4, 2, 0.2);
        let got = decode(&o, 7, anchors, 1, &[true], 0.25).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].bbox, BBox::new(80.0, 45.0, 40.0, 10.0));
        assert!((got[0].score - 0.9).abs() < 1e-6);
        assert!(
            decode(&o, 7, anchors, 1, &[false], 0.25)
                .unwrap()
                .is_empty()
        );
        assert!(decode(&o[..5], 7, anchors, 1, &[true], 0.25).is_err());
        assert!(decode(&o, 4, 5, 1, &[true], 0.25).is_err());
    }

    #[test]
    fn decodes_the_raw_head_for_any_input_size() {
        // 32x16 input, strides 8 and 16: 4x2 + 2x1 = 10 anchors; 2 bins, 1 class: 9 rows.
        let (bins, anchors) = (2usize, 10usize);
        let mut o = vec![0f32; (4 * bins + 1) * anchors];
        o[8 * anchors..].fill(-10.0);
        // Anchor 9 = stride 16, cell (1, 0), centre (24, 8): sides from bins [0, ln 3]
        // (expectation 0.75 strides = 12 px) left and right, bins [ln 3, 0] (0.25 = 4 px)
        // top and bottom.
        let a = 9;
        for (k, logits) in [
            [0.0, 3f32.ln()],
            [3f32.ln(), 0.0],
            [0.0, 3f32.ln()],
            [3f32.ln(), 0.0],
        ]
        .iter()
        .enumerate()
        {
            for (b, l) in logits.iter().enumerate() {
                o[(k * bins + b) * anchors + a] = *l;
            }
        }
        o[8 * anchors + a] = 2.0;
        // Anchor 3 (stride 8) scores just under the threshold.
        o[8 * anchors + 3] = -0.01;
        let head = DflHead {
            width: 32,
            height: 16,
            strides: &[8, 16],
            reg_max: 2,
        };
        let got = decode_dfl(&o, head, 1, &[true], 0.5).unwrap();
        assert_eq!(got.len(), 1);
        let b = got[0].bbox;
        assert!(
            (b.x - 12.0).abs() < 1e-4 && (b.y - 4.0).abs() < 1e-4,
            "{b:?}"
        );
        assert!(
            (b.w - 24.0).abs() < 1e-4 && (b.h - 8.0).abs() < 1e-4,
            "{b:?}"
        );
        assert!((got[0].score - 0.880_797).abs() < 1e-5);
        assert!(decode_dfl(&o, head, 1, &[false], 0.5).unwrap().is_empty());
        let wrong = DflHead { width: 64, ..head };
        assert!(
            decode_dfl(&o, wrong, 1, &[true], 0.5)
                .unwrap_err()
                .contains("64x16")
        );
    }
}

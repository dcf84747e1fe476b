//! Ultralytics YOLOv8 decoding: output `[1, rows, anchors]` (channels first), rows =
//! `cx, cy, w, h` in input pixels, then one score per class (sigmoid applied), then any
//! extra rows (segmentation mask coefficients), which are ignored.

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
}

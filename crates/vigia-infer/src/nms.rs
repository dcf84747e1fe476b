//! Class-aware non-maximum suppression.

use vigia_core::BBox;

/// A candidate box before suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub class_id: u32,
    pub score: f32,
    pub bbox: BBox,
}

/// Greedy NMS per class: keeps the highest-scored box, drops boxes of the same class that
/// overlap it by more than `iou_threshold`, repeats. Returns at most `max_keep` boxes,
/// highest scores first. Boxes of different classes never suppress each other.
pub fn nms(candidates: Vec<Candidate>, iou_threshold: f32, max_keep: usize) -> Vec<Candidate> {
    nms_grouped(candidates, iou_threshold, max_keep, &[])
}

/// Like [`nms`], but classes mapped to the same group by `group_of` (indexed by class id;
/// classes beyond it are their own group) suppress each other: a vehicle detected as both
/// `car` and `truck` keeps only its best box.
pub fn nms_grouped(
    mut candidates: Vec<Candidate>,
    iou_threshold: f32,
    max_keep: usize,
    group_of: &[u32],
) -> Vec<Candidate> {
    let group = |c: &Candidate| {
        group_of
            .get(c.class_id as usize)
            .copied()
            .unwrap_or(u32::MAX - c.class_id)
    };
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Candidate> = Vec::new();
    for c in candidates {
        if keep.len() >= max_keep {
            break;
        }
        let suppressed = keep
            .iter()
            .any(|k| group(k) == group(&c) && k.bbox.iou(&c.bbox) > iou_threshold);
        if !suppressed {
            keep.push(c);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(class_id: u32, score: f32, x: f32) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox: BBox::new(x, 0.0, 10.0, 10.0),
        }
    }

    #[test]
    fn suppresses_overlaps_of_the_same_class_only() {
        let out = nms(
            vec![
                c(0, 0.6, 1.0),
                c(0, 0.9, 0.0),
                c(1, 0.8, 0.0),
                c(0, 0.7, 50.0),
            ],
            0.5,
            10,
        );
        let got: Vec<(u32, f32)> = out.iter().map(|k| (k.class_id, k.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.8), (0, 0.7)]);
    }

    #[test]
    fn grouped_classes_suppress_each_other() {
        // Classes 2 and 7 share group 100; class 0 is alone.
        let mut groups = vec![0u32; 8];
        for (i, g) in groups.iter_mut().enumerate() {
            *g = i as u32;
        }
        groups[2] = 100;
        groups[7] = 100;
        let out = nms_grouped(
            vec![c(2, 0.9, 0.0), c(7, 0.7, 1.0), c(0, 0.8, 0.0)],
            0.5,
            10,
            &groups,
        );
        let got: Vec<u32> = out.iter().map(|k| k.class_id).collect();
        assert_eq!(got, vec![2, 0]);
    }

    #[test]
    fn threshold_is_exclusive_and_max_keep_applies() {
        // IoU of boxes offset by 5 of 10: 50/150 = 0.333.
        let out = nms(vec![c(0, 0.9, 0.0), c(0, 0.8, 5.0)], 1.0 / 3.0 + 1e-6, 10);
        assert_eq!(out.len(), 2);
        let out = nms(vec![c(0, 0.9, 0.0), c(0, 0.8, 5.0)], 0.3, 10);
        assert_eq!(out.len(), 1);
        let out = nms(
            (0..10).map(|i| c(0, 0.5, i as f32 * 100.0)).collect(),
            0.5,
            3,
        );
        assert_eq!(out.len(), 3);
        assert!(nms(Vec::new(), 0.5, 3).is_empty());
    }
}

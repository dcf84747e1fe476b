//! Axis-aligned boxes.

use serde::{Deserialize, Serialize};

/// An axis-aligned box: top-left corner and size. Units depend on context: pixels of the
/// source frame inside the pipeline, normalised `[0, 1]` coordinates in published events.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BBox {
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    /// Builds a box from its corners.
    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self::new(x1, y1, (x2 - x1).max(0.0), (y2 - y1).max(0.0))
    }

    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    pub fn x2(&self) -> f32 {
        self.x + self.w
    }

    pub fn y2(&self) -> f32 {
        self.y + self.h
    }

    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Whether the point (`x`, `y`) lies in the box (edges included).
    pub fn contains(&self, (x, y): (f32, f32)) -> bool {
        x >= self.x && x <= self.x2() && y >= self.y && y <= self.y2()
    }

    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2().min(other.x2()) - self.x.max(other.x)).max(0.0);
        let iy = (self.y2().min(other.y2()) - self.y.max(other.y)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Clips the box to `[0, width] x [0, height]`.
    pub fn clip(&self, width: f32, height: f32) -> BBox {
        let x1 = self.x.clamp(0.0, width);
        let y1 = self.y.clamp(0.0, height);
        let x2 = self.x2().clamp(0.0, width);
        let y2 = self.y2().clamp(0.0, height);
        BBox::from_corners(x1, y1, x2, y2)
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &BBox) -> BBox {
        BBox::from_corners(
            self.x.min(other.x),
            self.y.min(other.y),
            self.x2().max(other.x2()),
            self.y2().max(other.y2()),
        )
    }

    /// The box grown by `by` on every side.
    pub fn grown(&self, by: f32) -> BBox {
        BBox::from_corners(self.x - by, self.y - by, self.x2() + by, self.y2() + by)
    }

    /// Divides by the frame size, giving normalised coordinates.
    pub fn normalised(&self, width: u32, height: u32) -> BBox {
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        BBox::new(self.x / w, self.y / h, self.w / w, self.h / h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_and_growth() {
        let u = BBox::new(0.0, 10.0, 10.0, 10.0).union(&BBox::new(30.0, 0.0, 5.0, 5.0));
        assert_eq!(u, BBox::new(0.0, 0.0, 35.0, 20.0));
        assert_eq!(u.grown(2.0), BBox::new(-2.0, -2.0, 39.0, 24.0));
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 5.0, 5.0)), 0.0);
        let b = BBox::new(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::default()), 0.0);
    }

    #[test]
    fn clip_and_normalise() {
        let b = BBox::new(-5.0, 10.0, 20.0, 200.0).clip(100.0, 100.0);
        assert_eq!(b, BBox::new(0.0, 10.0, 15.0, 90.0));
        let n = BBox::new(10.0, 20.0, 50.0, 40.0).normalised(100, 200);
        assert_eq!(n, BBox::new(0.1, 0.1, 0.5, 0.2));
    }
}

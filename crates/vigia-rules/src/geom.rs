//! Geometry in normalised frame coordinates.

/// A point `[x, y]`.
pub type Point = [f32; 2];

/// Whether `p` is inside `poly` (even-odd rule; points on an edge may go either way).
pub fn inside(poly: &[Point], p: Point) -> bool {
    let mut inside = false;
    let n = poly.len();
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Signed distance of `p` from the line through `a` → `b` (positive on side A, the left of
/// the image for a line drawn top to bottom), and where its projection falls along the
/// segment (0 at `a`, 1 at `b`).
pub fn side(a: Point, b: Point, p: Point) -> (f32, f32) {
    let d = [b[0] - a[0], b[1] - a[1]];
    let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(f32::EPSILON);
    let v = [p[0] - a[0], p[1] - a[1]];
    let cross = d[1] * v[0] - d[0] * v[1];
    let t = (v[0] * d[0] + v[1] * d[1]) / (len * len);
    // For a line drawn downwards (d = (0, 1)) the cross product is positive to the right of
    // the image; side A is the other half (the left), hence the sign flip.
    (-cross / len, t)
}

/// Area of a polygon (shoelace), for validation.
pub fn area(poly: &[Point]) -> f32 {
    let n = poly.len();
    let mut s = 0.0;
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        s += a[0] * b[1] - b[0] * a[1];
    }
    (s / 2.0).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_in_polygon() {
        let square = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]];
        assert!(inside(&square, [0.4, 0.4]));
        assert!(!inside(&square, [0.7, 0.4]));
        assert!(!inside(&square, [0.4, 0.1]));
        // Concave: an L shape.
        let l = [
            [0.0, 0.0],
            [0.5, 0.0],
            [0.5, 0.2],
            [0.2, 0.2],
            [0.2, 0.5],
            [0.0, 0.5],
        ];
        assert!(inside(&l, [0.1, 0.4]));
        assert!(!inside(&l, [0.4, 0.4]));
        assert!((area(&square) - 0.16).abs() < 1e-6);
    }

    #[test]
    fn sides_of_a_line_drawn_top_to_bottom() {
        let (a, b) = ([0.5, 0.0], [0.5, 1.0]);
        let (left, t) = side(a, b, [0.3, 0.5]);
        assert!(
            left > 0.0 && (t - 0.5).abs() < 1e-6,
            "side A is the left: {left}"
        );
        let (right, _) = side(a, b, [0.8, 0.25]);
        assert!(right < 0.0);
        assert!((right + 0.3).abs() < 1e-6);
        assert_eq!(side(a, b, [0.5, 0.7]).0, 0.0);
        let (_, beyond) = side(a, b, [0.4, 1.5]);
        assert!(beyond > 1.0);
    }
}

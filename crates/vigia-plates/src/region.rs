//! Where and at what resolution to look for plates: the part of the picture the vehicles
//! occupy, at the scale their plates need.
//!
//! A plate is about a quarter of its vehicle's width, so a vehicle read
//! `scan_vehicle_width` pixels wide shows the plate detector a plate of ~80 pixels (at the
//! default 320) — plenty for the detector; the OCR reads the plate from the full-resolution
//! picture anyway. A vehicle already smaller than that is read at its own resolution, never
//! enlarged. Compared with the whole 1280x720 frame at 640 pixels wide, one car reads at a
//! fraction of the pixels; a far, small vehicle at twice the resolution.

use vigia_core::BBox;

/// Each vehicle box grows by this share of its size on every side (a box that clips the
/// bumper keeps its plate).
pub const VEHICLE_MARGIN: f32 = 0.1;

/// The part of a `width x height` picture to scan for plates and the largest scale to read
/// it at: the union of the `vehicles` (each with [`VEHICLE_MARGIN`]) inside `zone` (the
/// camera's read zone, or the whole picture), scaled so the widest vehicle is at most
/// `vehicle_width` pixels wide. `None` when nothing is left to scan (the vehicles lie
/// outside the zone). With no vehicles (or `vehicle_width` 0: feature off) the whole zone
/// at the model's full input size.
pub fn scan_region(
    width: u32,
    height: u32,
    zone: Option<BBox>,
    vehicles: &[BBox],
    vehicle_width: u32,
) -> Option<(Option<BBox>, f32)> {
    let (fw, fh) = (width as f32, height as f32);
    if vehicle_width == 0 || vehicles.is_empty() {
        return Some((zone, f32::INFINITY));
    }
    let zone = zone.unwrap_or(BBox::new(0.0, 0.0, fw, fh)).clip(fw, fh);
    let mut union: Option<(f32, f32, f32, f32)> = None;
    let mut widest = 0f32;
    for v in vehicles {
        let (mx, my) = (v.w * VEHICLE_MARGIN, v.h * VEHICLE_MARGIN);
        let x1 = (v.x - mx).max(zone.x);
        let y1 = (v.y - my).max(zone.y);
        let x2 = (v.x2() + mx).min(zone.x2());
        let y2 = (v.y2() + my).min(zone.y2());
        if x2 - x1 < 1.0 || y2 - y1 < 1.0 {
            continue;
        }
        widest = widest.max(v.w);
        union = Some(match union {
            None => (x1, y1, x2, y2),
            Some((a, b, c, d)) => (a.min(x1), b.min(y1), c.max(x2), d.max(y2)),
        });
    }
    let (x1, y1, x2, y2) = union?;
    let scale = (vehicle_width as f32 / widest.max(1.0)).min(1.0);
    Some((Some(BBox::from_corners(x1, y1, x2, y2)), scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vehicle_is_scanned_with_a_margin_at_the_scale_its_plate_needs() {
        let car = BBox::new(400.0, 200.0, 640.0, 400.0);
        let (region, scale) = scan_region(1280, 720, None, &[car], 320).unwrap();
        assert_eq!(
            region,
            Some(BBox::from_corners(336.0, 160.0, 1104.0, 640.0))
        );
        assert_eq!(scale, 0.5);
        // A small vehicle is read at its own resolution, not enlarged.
        let far = BBox::new(100.0, 100.0, 160.0, 100.0);
        assert_eq!(scan_region(1280, 720, None, &[far], 320).unwrap().1, 1.0);
    }

    #[test]
    fn vehicles_share_one_region_clipped_to_the_picture_and_the_zone() {
        let a = BBox::new(0.0, 600.0, 200.0, 120.0);
        let b = BBox::new(900.0, 300.0, 400.0, 300.0);
        let (region, scale) = scan_region(1280, 720, None, &[a, b], 320).unwrap();
        assert_eq!(region, Some(BBox::from_corners(0.0, 270.0, 1280.0, 720.0)));
        assert_eq!(scale, 0.8);
        let zone = BBox::new(640.0, 0.0, 640.0, 720.0);
        let (region, scale) = scan_region(1280, 720, Some(zone), &[a, b], 320).unwrap();
        assert_eq!(
            region,
            Some(BBox::from_corners(860.0, 270.0, 1280.0, 630.0))
        );
        assert_eq!(scale, 0.8);
        // Vehicles all outside the zone: nothing to scan.
        assert_eq!(
            scan_region(
                1280,
                720,
                Some(BBox::new(0.0, 0.0, 100.0, 100.0)),
                &[b],
                320
            ),
            None
        );
    }

    #[test]
    fn without_vehicles_or_when_off_the_whole_zone_is_scanned() {
        let zone = Some(BBox::new(10.0, 20.0, 300.0, 200.0));
        let car = BBox::new(400.0, 200.0, 640.0, 400.0);
        assert_eq!(
            scan_region(1280, 720, zone, &[], 320),
            Some((zone, f32::INFINITY))
        );
        assert_eq!(
            scan_region(1280, 720, None, &[car], 0),
            Some((None, f32::INFINITY))
        );
    }
}

//! Vehicles whose plate is already read with confidence, per camera: the one hint that
//! flows back from analytics (which knows the passes) to the inference workers (which
//! decide whether to run the plate detector on a frame). A plain shared map, so neither
//! side depends on the other.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::{BBox, CameraId};

/// A vehicle now counts as the settled one when its box overlaps a settled box this much
/// (the boxes are from the previous analysed frame: a vehicle moves a little in between).
pub const SAME_VEHICLE_IOU: f32 = 0.5;

/// Per camera, the boxes (in the last analysed frame) of vehicles whose pass is settled.
#[derive(Debug, Default)]
pub struct SettledVehicles {
    boxes: RwLock<HashMap<CameraId, Vec<BBox>>>,
}

impl SettledVehicles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces `camera`'s settled vehicle boxes.
    pub fn set(&self, camera: &CameraId, boxes: Vec<BBox>) {
        let mut map = self.boxes.write().unwrap_or_else(|e| e.into_inner());
        if boxes.is_empty() {
            map.remove(camera);
        } else {
            map.insert(camera.clone(), boxes);
        }
    }

    /// The ones of `vehicles` that are not settled vehicles of `camera`.
    pub fn unsettled(&self, camera: &CameraId, vehicles: &[BBox]) -> Vec<BBox> {
        let map = self.boxes.read().unwrap_or_else(|e| e.into_inner());
        let settled = map.get(camera).map(Vec::as_slice).unwrap_or_default();
        vehicles
            .iter()
            .filter(|v| !settled.iter().any(|s| s.iou(v) >= SAME_VEHICLE_IOU))
            .copied()
            .collect()
    }

    /// Whether every one of `vehicles` (at least one) is a settled vehicle of `camera`.
    pub fn all_settled(&self, camera: &CameraId, vehicles: &[BBox]) -> bool {
        !vehicles.is_empty() && self.unsettled(camera, vehicles).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vehicle_must_be_settled() {
        let s = SettledVehicles::new();
        let cam = CameraId::new("c").unwrap();
        let a = BBox::new(0.0, 0.0, 100.0, 100.0);
        let b = BBox::new(300.0, 0.0, 100.0, 100.0);
        assert!(!s.all_settled(&cam, &[a]));
        s.set(&cam, vec![a]);
        assert!(s.all_settled(&cam, &[BBox::new(5.0, 5.0, 100.0, 100.0)]));
        // A second vehicle, not settled: read.
        assert!(!s.all_settled(&cam, &[a, b]));
        // No vehicle: nothing to skip.
        assert!(!s.all_settled(&cam, &[]));
        s.set(&cam, Vec::new());
        assert!(!s.all_settled(&cam, &[a]));
    }

    #[test]
    fn unsettled_vehicles_are_the_others() {
        let s = SettledVehicles::new();
        let cam = CameraId::new("c").unwrap();
        let a = BBox::new(0.0, 0.0, 100.0, 100.0);
        let b = BBox::new(300.0, 0.0, 100.0, 100.0);
        assert_eq!(s.unsettled(&cam, &[a, b]), vec![a, b]);
        s.set(&cam, vec![BBox::new(4.0, 2.0, 100.0, 100.0)]);
        assert_eq!(s.unsettled(&cam, &[a, b]), vec![b]);
    }
}

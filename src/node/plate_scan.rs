//! Which part of an analysed frame an LPR camera's plate reader looks at: the vehicles in
//! view (less those whose pass is settled), now and then the whole read zone when
//! something moved but no vehicle was found, or nothing.

use std::sync::atomic::{AtomicU32, Ordering};

use vigia_core::{BBox, CameraId};
use vigia_infer::motion::Decision;

use super::inference::{Route, Shared};

/// The vehicles whose plates to read in this frame: `Some(empty)` reads the whole read
/// zone at the plate detector's full input size, `None` skips the plate reader. With the
/// vehicle gate on, a frame with no vehicle is read only when the motion gate saw
/// something move, on every `lpr.scan_without_vehicle_every`-th such frame in a row (see
/// [`one_in`]): this scan is for a vehicle too close for the object detector (its front
/// filling the picture). It reads the whole zone at full size, not as one vehicle at
/// `scan_vehicle_width`: at that scale the plate detector lost a plate a quarter of the
/// frame wide (`QIL001` in the rendered co_cars scenario, docs/accuracy.md). With vehicles
/// see [`settled_scan`].
pub(super) fn plate_scan(
    shared: &Shared,
    route: &Route,
    cam: &CameraId,
    decision: Decision,
    vehicles: Vec<BBox>,
) -> Option<Vec<BBox>> {
    let routing = &shared.routing;
    if !vehicles.is_empty() {
        route.without_vehicle.store(0, Ordering::Relaxed);
        return settled_scan(shared, route, cam, vehicles);
    }
    if !routing.vehicle_gate {
        return Some(vehicles);
    }
    // Only frames where something moved count (the worker resets the run on the others).
    let moved = matches!(decision, Decision::Motion);
    (moved && one_in(&route.without_vehicle, routing.scan_without_vehicle_every))
        .then_some(vehicles)
}

/// Counts a call on `counter`; true on the `every`-th call and each `every` after (2: the
/// second, fourth, ...; 1: every call; 0: never). Not on the first with the default 2: the
/// frame right after a vehicle left shows motion and no vehicle, and is one on its own; a
/// vehicle too close for the object detector gives one such frame after another.
fn one_in(counter: &AtomicU32, every: u32) -> bool {
    every > 0 && (counter.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(every)
}

/// The vehicles whose plates to read in this frame (`None`: none, skip the plate reader).
/// Vehicles with a settled pass are left out, except on one check frame in
/// `settled_read_every` (so a settled vehicle still gets a check read now and then, and a
/// new vehicle at the same spot is noticed); when every vehicle in view is settled the
/// frame is skipped.
fn settled_scan(
    shared: &Shared,
    route: &Route,
    cam: &CameraId,
    vehicles: Vec<BBox>,
) -> Option<Vec<BBox>> {
    let every = shared.routing.settled_read_every;
    if every <= 1 || vehicles.is_empty() {
        return Some(vehicles);
    }
    let unsettled = shared.routing.settled.unsettled(cam, &vehicles);
    let check = route.plates_skipped.load(Ordering::Relaxed) + 1 >= every;
    let read_all = unsettled.len() == vehicles.len()
        || (shared.routing.read_settled_vehicles && !unsettled.is_empty());
    if check || read_all {
        route.plates_skipped.store(0, Ordering::Relaxed);
        return Some(vehicles);
    }
    // The settled vehicles are left out of this frame.
    route.plates_skipped.fetch_add(1, Ordering::Relaxed);
    if unsettled.is_empty() {
        shared
            .metrics
            .plate_scans_skipped
            .with_label_values(&[cam.as_str()])
            .inc();
        return None;
    }
    Some(unsettled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_without_a_vehicle_are_scanned_from_the_second_in_a_row_then_one_in_every() {
        let c = AtomicU32::new(0);
        let got: Vec<bool> = (0..7).map(|_| one_in(&c, 2)).collect();
        assert_eq!(got, [false, true, false, true, false, true, false]);
        let c = AtomicU32::new(0);
        let got: Vec<bool> = (0..7).map(|_| one_in(&c, 3)).collect();
        assert_eq!(got, [false, false, true, false, false, true, false]);
        // A vehicle seen (or a frame without motion) resets the count.
        c.store(0, Ordering::Relaxed);
        assert!(!one_in(&c, 2));
        assert!(one_in(&c, 2));
        let c = AtomicU32::new(0);
        assert!((0..5).all(|_| one_in(&c, 1)));
        assert!((0..5).all(|_| !one_in(&c, 0)));
    }
}

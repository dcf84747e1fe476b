//! Detector output.

use std::sync::Arc;

use crate::geom::BBox;

/// One detected object, in pixel coordinates of the frame it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Index of the class in the model's label list.
    pub class_id: u32,
    /// The class name from the model manifest (e.g. `car`).
    pub label: Arc<str>,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    pub bbox: BBox,
}

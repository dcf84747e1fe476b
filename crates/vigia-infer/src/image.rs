//! RGB views and preprocessing: fitting a picture (or a region of it) to a model's input
//! and writing the input tensor in the layout, channel order and normalisation the
//! manifest states.

use crate::InferError;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use vigia_core::{BBox, Frame};

use crate::manifest::{
    ColorOrder, InputDtype, InputFit, InputSpec, Layout, PadPosition, ResizeMode,
};

/// A borrowed packed-RGB picture.
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    pub width: u32,
    pub height: u32,
    /// Bytes between row starts (>= `width * 3`).
    pub stride: usize,
    pub data: &'a [u8],
}

impl<'a> RgbView<'a> {
    /// Checks that `data` holds `height` rows of `stride` bytes (the last row may be short).
    pub fn new(width: u32, height: u32, stride: usize, data: &'a [u8]) -> Result<Self, InferError> {
        let row = width as usize * 3;
        if width == 0 || height == 0 {
            return Err(InferError::Image(format!("empty picture {width}x{height}")));
        }
        if stride < row {
            return Err(InferError::Image(format!(
                "stride {stride} is shorter than a row of {row} bytes"
            )));
        }
        let need = stride * (height as usize - 1) + row;
        if data.len() < need {
            return Err(InferError::Image(format!(
                "{width}x{height} RGB with stride {stride} needs {need} bytes, got {}",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            stride,
            data,
        })
    }

    /// A view of a frame's pixels.
    pub fn from_frame(frame: &'a Frame) -> Result<Self, InferError> {
        Self::new(frame.width, frame.height, frame.stride(), frame.bytes())
    }

    /// The pixel at `(x, y)`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = y as usize * self.stride + x as usize * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Maps boxes from model input coordinates back to source picture coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    /// Top-left of the region that was fitted, in source pixels.
    pub origin_x: f32,
    pub origin_y: f32,
}

impl Transform {
    pub fn to_source(&self, b: &BBox) -> BBox {
        BBox::new(
            (b.x - self.pad_x) / self.scale_x + self.origin_x,
            (b.y - self.pad_y) / self.scale_y + self.origin_y,
            b.w / self.scale_x,
            b.h / self.scale_y,
        )
    }
}

/// Computes the fitted size and transform for a `rw x rh` region into the input.
pub fn fit(spec: &InputSpec, rw: f32, rh: f32) -> (u32, u32, Transform) {
    let (iw, ih) = (spec.width as f32, spec.height as f32);
    let (nw, nh, sx, sy) = match spec.resize {
        ResizeMode::Stretch => (spec.width, spec.height, iw / rw, ih / rh),
        ResizeMode::Letterbox => {
            let s = (iw / rw).min(ih / rh);
            let nw = ((rw * s).round() as u32).clamp(1, spec.width);
            let nh = ((rh * s).round() as u32).clamp(1, spec.height);
            (nw, nh, s, s)
        }
    };
    let (px, py) = match (spec.resize, spec.pad_position) {
        (ResizeMode::Letterbox, PadPosition::Center) => {
            ((spec.width - nw) / 2, (spec.height - nh) / 2)
        }
        _ => (0, 0),
    };
    (
        nw,
        nh,
        Transform {
            scale_x: sx,
            scale_y: sy,
            pad_x: px as f32,
            pad_y: py as f32,
            origin_x: 0.0,
            origin_y: 0.0,
        },
    )
}

/// Reusable preprocessing state for one model input (buffers and the resizer).
pub struct Preprocessor {
    spec: InputSpec,
    /// The manifest's input size: the largest with `fit = "aspect"`.
    max: (u32, u32),
    resizer: Resizer,
    compact: Vec<u8>,
    resized: Vec<u8>,
    /// Normalised value of each byte per model channel (f32 inputs).
    lut: [[f32; 256]; 3],
}

impl Preprocessor {
    pub fn new(spec: InputSpec) -> Self {
        let mut lut = [[0f32; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (p, v) in table.iter_mut().enumerate() {
                *v = (p as f32 * spec.scale - spec.mean[c]) / spec.std[c];
            }
        }
        Self {
            max: (spec.width, spec.height),
            spec,
            resizer: Resizer::new(),
            compact: Vec::new(),
            resized: Vec::new(),
            lut,
        }
    }

    pub fn spec(&self) -> &InputSpec {
        &self.spec
    }

    /// With `fit = "aspect"`, sizes the input to a `rw x rh` picture: letterboxed into the
    /// manifest's size, each side rounded up to `fit_multiple` (so the picture keeps the
    /// scale it would have in the full size, with less padding). Returns the input size
    /// (always the manifest's for `fit = "fixed"`).
    pub fn fit_to(&mut self, rw: f32, rh: f32) -> (u32, u32) {
        self.fit_scaled(rw, rh, f32::INFINITY)
    }

    /// The scale a whole `w x h` picture is read at, when the input size is free
    /// (`fit = "aspect"`); `None` for a fixed-size input.
    pub fn full_scale(&self, w: f32, h: f32) -> Option<f32> {
        (self.spec.fit == InputFit::Aspect && w >= 1.0 && h >= 1.0)
            .then(|| (self.max.0 as f32 / w).min(self.max.1 as f32 / h))
    }

    /// Like [`Preprocessor::fit_to`], with the picture scaled by at most `max_scale` (a
    /// region read at the resolution it needs rather than the largest the model takes).
    pub fn fit_scaled(&mut self, rw: f32, rh: f32, max_scale: f32) -> (u32, u32) {
        if let Some(full) = self.full_scale(rw, rh) {
            let (mw, mh) = self.max;
            let s = full.min(max_scale);
            let m = self.spec.fit_multiple.max(1);
            let up = |v: f32, cap: u32| ((v.round() as u32).max(1).div_ceil(m) * m).min(cap);
            self.spec.width = up(rw * s, mw);
            self.spec.height = up(rh * s, mh);
        }
        (self.spec.width, self.spec.height)
    }

    /// Elements of one input (one batch item).
    pub fn item_len(&self) -> usize {
        self.spec.width as usize * self.spec.height as usize * 3
    }

    /// Resizes `img` (or `region` of it, in source pixels) into the internal buffer.
    fn resize(
        &mut self,
        img: &RgbView,
        region: Option<BBox>,
    ) -> Result<(u32, u32, Transform), InferError> {
        let full = BBox::new(0.0, 0.0, img.width as f32, img.height as f32);
        let r = region.map_or(full, |r| r.clip(img.width as f32, img.height as f32));
        if r.w < 1.0 || r.h < 1.0 {
            return Err(InferError::Image(format!(
                "region {r:?} is empty inside {}x{}",
                img.width, img.height
            )));
        }
        let (nw, nh, mut t) = fit(&self.spec, r.w, r.h);
        t.origin_x = r.x;
        t.origin_y = r.y;
        let row = img.width as usize * 3;
        let src: &[u8] = if img.stride == row {
            &img.data[..row * img.height as usize]
        } else {
            self.compact.clear();
            for y in 0..img.height as usize {
                let start = y * img.stride;
                self.compact
                    .extend_from_slice(&img.data[start..start + row]);
            }
            &self.compact
        };
        let src = ImageRef::new(img.width, img.height, src, PixelType::U8x3)
            .map_err(|e| InferError::Image(format!("source picture: {e}")))?;
        self.resized.resize(nw as usize * nh as usize * 3, 0);
        let mut dst = Image::from_slice_u8(nw, nh, &mut self.resized, PixelType::U8x3)
            .map_err(|e| InferError::Image(format!("resize buffer: {e}")))?;
        // f32 corners turned into origin + size can end a hair past the picture's edge.
        let (cx, cy) = (f64::from(r.x), f64::from(r.y));
        let cw = f64::from(r.w).min(f64::from(img.width) - cx);
        let ch = f64::from(r.h).min(f64::from(img.height) - cy);
        let opts = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .crop(cx, cy, cw, ch);
        self.resizer
            .resize(&src, &mut dst, &opts)
            .map_err(|e| InferError::Image(format!("resize: {e}")))?;
        Ok((nw, nh, t))
    }

    /// Writes one f32 input item for `img` (or `region` of it) into `out`
    /// (`item_len()` elements). Returns the transform back to source pixels.
    pub fn fill_f32(
        &mut self,
        img: &RgbView,
        region: Option<BBox>,
        out: &mut [f32],
    ) -> Result<Transform, InferError> {
        if self.spec.dtype == InputDtype::U8 || out.len() != self.item_len() {
            return Err(InferError::Image(
                "input buffer does not match the model input".to_string(),
            ));
        }
        let (nw, nh, t) = self.resize(img, region)?;
        let lut = &self.lut;
        write_item(&self.spec, &self.resized, (nw, nh), &t, out, |c, p| {
            lut[c][p as usize]
        });
        Ok(t)
    }

    /// Writes one u8 input item (no normalisation) into `out`.
    pub fn fill_u8(
        &mut self,
        img: &RgbView,
        region: Option<BBox>,
        out: &mut [u8],
    ) -> Result<Transform, InferError> {
        if self.spec.dtype != InputDtype::U8 || out.len() != self.item_len() {
            return Err(InferError::Image(
                "input buffer does not match the model input".to_string(),
            ));
        }
        let (nw, nh, t) = self.resize(img, region)?;
        write_item(&self.spec, &self.resized, (nw, nh), &t, out, |_, p| p);
        Ok(t)
    }
}

/// Writes one input item: padding everywhere, then the resized picture (`nw x nh` packed
/// RGB) at the transform's offset, in the spec's layout and channel order; `value(c, byte)`
/// gives the element for model channel `c`.
fn write_item<T: Copy>(
    spec: &InputSpec,
    resized: &[u8],
    (nw, nh): (u32, u32),
    t: &Transform,
    out: &mut [T],
    value: impl Fn(usize, u8) -> T,
) {
    let (w, h) = (spec.width as usize, spec.height as usize);
    let index = |x: usize, y: usize, c: usize| match spec.layout {
        Layout::Nchw => c * w * h + y * w + x,
        Layout::Nhwc => (y * w + x) * 3 + c,
    };
    for c in 0..3 {
        let v = value(c, spec.pad_value);
        match spec.layout {
            Layout::Nchw => out[c * w * h..(c + 1) * w * h].fill(v),
            Layout::Nhwc => out.iter_mut().skip(c).step_by(3).for_each(|o| *o = v),
        }
    }
    let (px, py) = (t.pad_x as usize, t.pad_y as usize);
    let row_len = nw as usize * 3;
    for c in 0..3 {
        // Source channel feeding model channel c.
        let sc = match spec.color {
            ColorOrder::Rgb => c,
            ColorOrder::Bgr => 2 - c,
        };
        // Consecutive pixels of a row are 1 apart (planar) or 3 apart (interleaved).
        let step = match spec.layout {
            Layout::Nchw => 1,
            Layout::Nhwc => 3,
        };
        for y in 0..nh as usize {
            let row = &resized[y * row_len..(y + 1) * row_len];
            let start = index(px, y + py, c);
            for (o, px_bytes) in out[start..]
                .iter_mut()
                .step_by(step)
                .zip(row.chunks_exact(3))
            {
                *o = value(c, px_bytes[sc]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(resize: ResizeMode, pad: PadPosition, color: ColorOrder, layout: Layout) -> InputSpec {
        InputSpec {
            name: "x".into(),
            dtype: InputDtype::F32,
            layout,
            color,
            width: 8,
            height: 8,
            resize,
            pad_position: pad,
            pad_value: 114,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            fit: InputFit::Fixed,
            fit_multiple: 32,
        }
    }

    #[test]
    fn an_aspect_fitted_input_keeps_the_scale_and_drops_the_padding() {
        let mut spec = spec(
            ResizeMode::Letterbox,
            PadPosition::TopLeft,
            ColorOrder::Rgb,
            Layout::Nchw,
        );
        (spec.width, spec.height) = (416, 416);
        let mut fixed = Preprocessor::new(spec.clone());
        assert_eq!(
            fixed.fit_to(768.0, 432.0),
            (416, 416),
            "fixed inputs keep their size"
        );
        spec.fit = InputFit::Aspect;
        let mut pre = Preprocessor::new(spec);
        // 768x432 at scale 416/768 is 416x234: 256 rows, not 416.
        assert_eq!(pre.fit_to(768.0, 432.0), (416, 256));
        assert_eq!(pre.item_len(), 416 * 256 * 3);
        let (_, _, t) = fit(pre.spec(), 768.0, 432.0);
        assert!(
            (t.scale_x - 416.0 / 768.0).abs() < 1e-6,
            "same scale as the square input"
        );
        // Portrait, square and tiny pictures.
        assert_eq!(pre.fit_to(432.0, 768.0), (256, 416));
        assert_eq!(pre.fit_to(100.0, 100.0), (416, 416));
        assert_eq!(pre.fit_to(1920.0, 200.0), (416, 64));
        // A camera's `detector_width = 320`: 768x432 at scale 320/768 is 320x180 → 320x192,
        // and the picture keeps that scale (not letterboxed back up to 416).
        assert_eq!(pre.fit_scaled(768.0, 432.0, 320.0 / 768.0), (320, 192));
        let (_, _, t) = fit(pre.spec(), 768.0, 432.0);
        assert!((t.scale_x - 320.0 / 768.0).abs() < 1e-6, "{t:?}");
    }

    /// A 16x8 picture: left half red (200,10,20), right half blue (5,6,250).
    fn picture(stride_pad: usize) -> (Vec<u8>, usize) {
        let (w, h) = (16usize, 8usize);
        let stride = w * 3 + stride_pad;
        let mut d = vec![0u8; stride * h];
        for y in 0..h {
            for x in 0..w {
                let px = if x < 8 { [200, 10, 20] } else { [5, 6, 250] };
                d[y * stride + x * 3..y * stride + x * 3 + 3].copy_from_slice(&px);
            }
        }
        (d, stride)
    }

    #[test]
    fn letterbox_top_left_keeps_aspect_and_pads_bottom() {
        let (d, stride) = picture(0);
        let img = RgbView::new(16, 8, stride, &d).unwrap();
        let mut p = Preprocessor::new(spec(
            ResizeMode::Letterbox,
            PadPosition::TopLeft,
            ColorOrder::Bgr,
            Layout::Nchw,
        ));
        let mut out = vec![0f32; p.item_len()];
        let t = p.fill_f32(&img, None, &mut out).unwrap();
        assert_eq!((t.scale_x, t.pad_x, t.pad_y), (0.5, 0.0, 0.0));
        // 16x8 -> 8x4 at the top; rows 4..8 are padding (114) in every channel.
        let plane = 64;
        for c in 0..3 {
            for y in 4..8 {
                for x in 0..8 {
                    assert_eq!(out[c * plane + y * 8 + x], 114.0);
                }
            }
        }
        // BGR order: channel 0 is blue. Left pixels are red -> B=20, R=200.
        assert_eq!(out[0], 20.0);
        assert_eq!(out[2 * plane], 200.0);
        assert_eq!(out[7], 250.0, "right edge is blue");
        // A box in model coordinates maps back to source pixels.
        let b = t.to_source(&BBox::new(2.0, 1.0, 4.0, 2.0));
        assert_eq!(b, BBox::new(4.0, 2.0, 8.0, 4.0));
    }

    #[test]
    fn letterbox_center_splits_padding_and_strided_input_matches_packed() {
        let s = spec(
            ResizeMode::Letterbox,
            PadPosition::Center,
            ColorOrder::Rgb,
            Layout::Nhwc,
        );
        let (d0, st0) = picture(0);
        let (d1, st1) = picture(4);
        let mut p = Preprocessor::new(s);
        let mut a = vec![0f32; p.item_len()];
        let mut b = vec![0f32; p.item_len()];
        let t = p
            .fill_f32(&RgbView::new(16, 8, st0, &d0).unwrap(), None, &mut a)
            .unwrap();
        p.fill_f32(&RgbView::new(16, 8, st1, &d1).unwrap(), None, &mut b)
            .unwrap();
        assert_eq!(a, b, "row padding must not leak into the tensor");
        assert_eq!((t.pad_x, t.pad_y), (0.0, 2.0));
        // NHWC, RGB: row 0 is padding, row 2 holds the picture.
        assert_eq!(&a[0..3], &[114.0, 114.0, 114.0]);
        let i = (2 * 8) * 3;
        assert_eq!(&a[i..i + 3], &[200.0, 10.0, 20.0]);
        let b2 = t.to_source(&BBox::new(0.0, 2.0, 8.0, 4.0));
        assert_eq!(b2, BBox::new(0.0, 0.0, 16.0, 8.0));
    }

    #[test]
    fn region_crop_and_stretch_and_normalisation() {
        let (d, stride) = picture(0);
        let img = RgbView::new(16, 8, stride, &d).unwrap();
        let mut s = spec(
            ResizeMode::Stretch,
            PadPosition::TopLeft,
            ColorOrder::Rgb,
            Layout::Nchw,
        );
        s.scale = 1.0 / 255.0;
        s.mean = [0.5; 3];
        s.std = [0.5; 3];
        let mut p = Preprocessor::new(s);
        let mut out = vec![0f32; p.item_len()];
        // The right (blue) half only.
        let t = p
            .fill_f32(&img, Some(BBox::new(8.0, 0.0, 8.0, 8.0)), &mut out)
            .unwrap();
        let blue = (250.0 / 255.0 - 0.5) / 0.5;
        assert!((out[2 * 64 + 3 * 8 + 3] - blue).abs() < 1e-5);
        assert_eq!(
            t.to_source(&BBox::new(0.0, 0.0, 8.0, 8.0)),
            BBox::new(8.0, 0.0, 8.0, 8.0)
        );
    }

    #[test]
    fn u8_nhwc_fill() {
        let (d, stride) = picture(0);
        let img = RgbView::new(16, 8, stride, &d).unwrap();
        let mut s = spec(
            ResizeMode::Stretch,
            PadPosition::TopLeft,
            ColorOrder::Rgb,
            Layout::Nhwc,
        );
        s.dtype = InputDtype::U8;
        let mut p = Preprocessor::new(s);
        let mut out = vec![0u8; p.item_len()];
        p.fill_u8(&img, None, &mut out).unwrap();
        assert_eq!(&out[0..3], &[200, 10, 20]);
        assert_eq!(&out[7 * 3..7 * 3 + 3], &[5, 6, 250]);
    }

    #[test]
    fn rejects_short_buffers_and_empty_regions() {
        assert!(RgbView::new(4, 4, 12, &[0u8; 40]).is_err());
        assert!(RgbView::new(4, 4, 10, &[0u8; 64]).is_err());
        let d = vec![0u8; 48];
        let img = RgbView::new(4, 4, 12, &d).unwrap();
        let mut p = Preprocessor::new(spec(
            ResizeMode::Stretch,
            PadPosition::TopLeft,
            ColorOrder::Rgb,
            Layout::Nchw,
        ));
        let mut out = vec![0f32; p.item_len()];
        assert!(
            p.fill_f32(&img, Some(BBox::new(10.0, 10.0, 5.0, 5.0)), &mut out)
                .is_err()
        );
    }
}

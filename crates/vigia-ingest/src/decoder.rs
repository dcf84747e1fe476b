//! Decoder selection.
//!
//! The `nvcodec` and `va` plugins are installed on every machine but register their
//! elements only when a driver is present, so probing the element factory tells whether
//! hardware decoding is possible here.

use gstreamer as gst;
use gstreamer::prelude::ObjectExt;

use crate::config::DecoderPreference;

/// Compressed video formats vigia decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    /// From a caps structure name (`video/x-h264`) or an RTP encoding name (`H264`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "video/x-h264" | "h264" => Some(Codec::H264),
            "video/x-h265" | "h265" | "hevc" => Some(Codec::H265),
            _ => None,
        }
    }

    pub fn depayloader(&self) -> &'static str {
        match self {
            Codec::H264 => "rtph264depay",
            Codec::H265 => "rtph265depay",
        }
    }

    pub fn parser(&self) -> &'static str {
        match self {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        }
    }
}

/// Decoder element names for a preference, in the order tried.
pub fn candidates(codec: Codec, pref: DecoderPreference) -> Vec<&'static str> {
    let nvidia = match codec {
        Codec::H264 => "nvh264dec",
        Codec::H265 => "nvh265dec",
    };
    let vaapi = match codec {
        Codec::H264 => "vah264dec",
        Codec::H265 => "vah265dec",
    };
    let software = match codec {
        Codec::H264 => "avdec_h264",
        Codec::H265 => "avdec_h265",
    };
    match pref {
        DecoderPreference::Auto => vec![nvidia, vaapi, software],
        DecoderPreference::Nvidia => vec![nvidia],
        DecoderPreference::Vaapi => vec![vaapi],
        DecoderPreference::Software => vec![software],
        DecoderPreference::Openh264 => match codec {
            Codec::H264 => vec!["openh264dec"],
            Codec::H265 => vec![software],
        },
    }
}

/// What this machine's GStreamer offers vigia (for `vigia doctor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GstReport {
    pub version: String,
    /// Elements every camera needs that are missing, with the package that brings them.
    pub missing: Vec<(String, String)>,
    /// Per codec (`H264`, `H265`): each decoder vigia may use and whether it is here.
    pub decoders: Vec<(String, Vec<(String, bool)>)>,
}

/// Probes the element factories (after [`crate::init`]).
pub fn report() -> GstReport {
    const REQUIRED: &[&str] = &[
        "rtspsrc",
        "rtph264depay",
        "rtph265depay",
        "h264parse",
        "h265parse",
        "parsebin",
        "videoconvertscale",
        "appsink",
        "videotestsrc",
    ];
    let here = |name: &str| gst::ElementFactory::find(name).is_some();
    GstReport {
        version: gst::version_string().to_string(),
        missing: REQUIRED
            .iter()
            .filter(|n| !here(n))
            .map(|n| (n.to_string(), hint_for(n).to_string()))
            .collect(),
        decoders: [Codec::H264, Codec::H265]
            .into_iter()
            .map(|c| {
                // What `auto` tries, then OpenH264 (`decoder = "openh264"`).
                let mut names = candidates(c, DecoderPreference::Auto);
                for d in candidates(c, DecoderPreference::Openh264) {
                    if !names.contains(&d) {
                        names.push(d);
                    }
                }
                let list = names
                    .into_iter()
                    .map(|d| (d.to_string(), here(d)))
                    .collect();
                (format!("{c:?}"), list)
            })
            .collect(),
    }
}

/// Creates the first available decoder; `Err` lists what was tried. `threads` sets a
/// software decoder's `max-threads` (0 = libav's choice); decoders without the property
/// ignore it.
pub(crate) fn make(
    codec: Codec,
    pref: DecoderPreference,
    threads: u32,
) -> Result<gst::Element, String> {
    let tried = candidates(codec, pref);
    for name in &tried {
        if gst::ElementFactory::find(name).is_some()
            && let Ok(e) = gst::ElementFactory::make(name).build()
        {
            if e.has_property("max-threads") {
                e.set_property("max-threads", i32::try_from(threads).unwrap_or(i32::MAX));
            }
            return Ok(e);
        }
    }
    Err(format!(
        "no {codec:?} decoder available (tried {}); the software decoders come with gstreamer1.0-libav (openh264dec with gstreamer1.0-plugins-bad), hardware ones need the NVIDIA or VA driver",
        tried.join(", ")
    ))
}

/// Which package brings a GStreamer element (for error messages).
pub(crate) fn hint_for(factory: &str) -> &'static str {
    match factory {
        "rtspsrc" | "rtph264depay" | "rtph265depay" => {
            "install gstreamer1.0-plugins-good (the README's set-up does)"
        }
        "h264parse" | "h265parse" => "install gstreamer1.0-plugins-bad (the README's set-up does)",
        "parsebin" | "videoconvertscale" | "videotestsrc" | "appsink" => {
            "install gstreamer1.0-plugins-base (the README's set-up does)"
        }
        _ => "check the GStreamer plugins (the README's set-up installs them)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gstreamer::prelude::*;

    #[test]
    fn auto_prefers_hardware_then_software() {
        assert_eq!(
            candidates(Codec::H264, DecoderPreference::Auto),
            vec!["nvh264dec", "vah264dec", "avdec_h264"]
        );
        assert_eq!(
            candidates(Codec::H265, DecoderPreference::Software),
            vec!["avdec_h265"]
        );
        assert_eq!(
            candidates(Codec::H264, DecoderPreference::Openh264),
            vec!["openh264dec"]
        );
        assert_eq!(
            candidates(Codec::H265, DecoderPreference::Openh264),
            vec!["avdec_h265"]
        );
        assert_eq!(Codec::from_name("H265"), Some(Codec::H265));
        assert_eq!(Codec::from_name("video/x-vp8"), None);
    }

    #[test]
    fn software_decoder_gets_the_configured_threads() {
        gst::init().unwrap();
        for threads in [0, 1, 3] {
            let dec = make(Codec::H264, DecoderPreference::Software, threads).unwrap();
            assert_eq!(dec.property::<i32>("max-threads"), threads as i32);
        }
    }

    #[test]
    fn the_report_lists_openh264_once_for_h264_only() {
        gst::init().unwrap();
        let r = report();
        let names = |codec: &str| -> Vec<String> {
            r.decoders
                .iter()
                .find(|(c, _)| c == codec)
                .map(|(_, l)| l.iter().map(|d| d.0.clone()).collect())
                .unwrap()
        };
        assert_eq!(
            names("H264"),
            ["nvh264dec", "vah264dec", "avdec_h264", "openh264dec"]
        );
        assert_eq!(names("H265"), ["nvh265dec", "vah265dec", "avdec_h265"]);
    }

    #[test]
    fn software_decoder_exists_here_and_missing_hardware_is_explained() {
        gst::init().unwrap();
        let dec = make(Codec::H264, DecoderPreference::Auto, 1).unwrap();
        assert!(dec.factory().is_some());
        if gst::ElementFactory::find("nvh264dec").is_none() {
            let err = make(Codec::H264, DecoderPreference::Nvidia, 1).unwrap_err();
            assert!(err.contains("nvh264dec"), "{err}");
        }
    }
}

//! ONVIF device client, for onboarding third-party cameras: find them on the network
//! (WS-Discovery), ask them for their media profiles and the RTSP URI of a profile
//! (Device and Media services, ONVIF Profile S), authenticated with WS-UsernameToken
//! password digests computed against the device's own clock.
//!
//! - [`discovery`]: WS-Discovery probes (multicast or directed) and their matches.
//! - [`device`]: one device: its clock, information, media service, profiles, stream URIs.
//! - [`soap`]: SOAP 1.2 envelopes, WS-UsernameToken digests, faults.
//! - [`error`]: the crate's error type; no error text contains a password.
//!
//! Written here rather than taken from a crate: the Rust ONVIF crates generate the whole
//! schema set (tens of thousands of lines, a long build on 2 cores) or are unmaintained,
//! and vigia needs five calls. SOAP rides on `hyper`'s HTTP/1.1 client, XML is read with
//! `roxmltree`, digests come from `sha1`.

pub mod device;
pub mod discovery;
pub mod error;
mod http;
pub mod soap;
mod xml;

pub use device::{Credentials, Device, DeviceAddress, DeviceInformation, Profile};
pub use discovery::Discovered;
pub use error::OnvifError;

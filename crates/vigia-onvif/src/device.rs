//! One ONVIF device: its clock (for WS-UsernameToken), its information, the address of its
//! media service, its media profiles and the RTSP URI of a profile.
//!
//! Addresses: `onvif://host[:port][/path]` — port 80 and `/onvif/device_service` (the
//! address ONVIF Core fixes for the device service) unless given. Service addresses the
//! device reports (XAddrs) are reached on the configured host and port with the reported
//! path: cameras behind NAT or a port forward (common on links to neighbouring
//! municipalities) report addresses vigia cannot reach.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::error::OnvifError;
use crate::http::{self, HttpUrl};
use crate::soap::{self, UsernameToken};
use crate::xml;

const NS_TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
const NS_TRT: &str = "http://www.onvif.org/ver10/media/wsdl";
const NS_TT: &str = "http://www.onvif.org/ver10/schema";
/// The device service's path when the address gives none (ONVIF Core §5.1.1).
pub const DEVICE_SERVICE_PATH: &str = "/onvif/device_service";

/// A user name and password for a device. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// Where a device's device service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAddress(HttpUrl);

impl DeviceAddress {
    /// Parses `onvif://host[:port][/path]` (or the `http://` XAddr a discovery returned).
    pub fn parse(url: &str) -> Result<Self, OnvifError> {
        let err = |message: String| OnvifError::Address {
            url: url.to_string(),
            message,
        };
        if url.starts_with("http://") || url.starts_with("https://") {
            return HttpUrl::parse(url).map(Self).map_err(err);
        }
        let rest = url
            .strip_prefix("onvif://")
            .ok_or_else(|| err("use onvif://host[:port][/path]".into()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) if i + 1 < rest.len() => rest.split_at(i),
            Some(i) => (&rest[..i], DEVICE_SERVICE_PATH),
            None => (rest, DEVICE_SERVICE_PATH),
        };
        let (host, port) = http::split_host_port(authority, 80).map_err(err)?;
        Ok(Self(HttpUrl {
            host,
            port,
            path: path.to_string(),
        }))
    }

    /// The device service's URL.
    pub fn url(&self) -> String {
        self.0.to_string()
    }

    pub fn host(&self) -> &str {
        &self.0.host
    }

    /// A service address the device reported, reached on this host and port.
    fn rebase(&self, xaddr: &str) -> HttpUrl {
        let path = HttpUrl::parse(xaddr)
            .map(|u| u.path)
            .unwrap_or_else(|_| self.0.path.clone());
        HttpUrl {
            path,
            ..self.0.clone()
        }
    }
}

/// What a device says about itself (GetDeviceInformation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceInformation {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    pub serial_number: Option<String>,
}

/// A media profile (GetProfiles), with what an integrator picks a stream by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub token: String,
    pub name: String,
    /// `H264`, `H265`, `JPEG`...; `None` for a profile without a video encoder.
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f32>,
}

impl Profile {
    fn has_video(&self) -> bool {
        self.encoding.is_some()
    }
}

/// Picks the profile named `wanted` (its name, case-insensitively, or its token), or the
/// first profile with a video encoder.
pub fn choose_profile<'a>(
    profiles: &'a [Profile],
    wanted: Option<&str>,
) -> Result<&'a Profile, OnvifError> {
    match wanted {
        Some(w) => profiles
            .iter()
            .find(|p| p.token == w)
            .or_else(|| profiles.iter().find(|p| p.name.eq_ignore_ascii_case(w)))
            .ok_or_else(|| OnvifError::NoProfile {
                wanted: w.to_string(),
                available: profiles
                    .iter()
                    .map(|p| format!("{} (token {})", p.name, p.token))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        None => profiles
            .iter()
            .find(|p| p.has_video())
            .ok_or(OnvifError::NoVideoProfile),
    }
}

/// A client for one device.
pub struct Device {
    address: DeviceAddress,
    credentials: Option<Credentials>,
    /// The device's clock minus ours, once read.
    clock_offset: TimeDelta,
    media: Option<HttpUrl>,
    timeout: Duration,
}

impl Device {
    pub fn new(address: DeviceAddress, credentials: Option<Credentials>) -> Self {
        Self {
            address,
            credentials,
            clock_offset: TimeDelta::zero(),
            media: None,
            timeout: Duration::from_secs(5),
        }
    }

    /// Each request's time limit (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn address(&self) -> &DeviceAddress {
        &self.address
    }

    /// The device's clock minus ours (zero until [`Device::sync_clock`]).
    pub fn clock_offset(&self) -> TimeDelta {
        self.clock_offset
    }

    /// Reads the device's UTC clock (GetSystemDateAndTime, which needs no credentials) so
    /// that tokens are created on the device's time: cameras with a wrong clock refuse
    /// tokens made on ours.
    pub async fn sync_clock(&mut self) -> Result<DateTime<Utc>, OnvifError> {
        let url = self.address.0.clone();
        let asked = Utc::now();
        let device_time = self
            .call(
                &url,
                "GetSystemDateAndTime",
                NS_TDS,
                &format!(r#"<tds:GetSystemDateAndTime xmlns:tds="{NS_TDS}"/>"#),
                false,
                read_utc_time,
            )
            .await?;
        self.clock_offset = device_time - asked;
        Ok(device_time)
    }

    /// GetDeviceInformation.
    pub async fn information(&self) -> Result<DeviceInformation, OnvifError> {
        let url = self.address.0.clone();
        self.call(
            &url,
            "GetDeviceInformation",
            NS_TDS,
            &format!(r#"<tds:GetDeviceInformation xmlns:tds="{NS_TDS}"/>"#),
            true,
            |r| {
                Some(DeviceInformation {
                    manufacturer: xml::child_text(r, "Manufacturer"),
                    model: xml::child_text(r, "Model"),
                    firmware_version: xml::child_text(r, "FirmwareVersion"),
                    serial_number: xml::child_text(r, "SerialNumber"),
                })
            },
        )
        .await
    }

    /// The media service's address (GetCapabilities, category Media), on the configured
    /// host and port. Devices that do not answer it are asked on the device service's
    /// address, which many serve every service on.
    pub async fn media_service(&mut self) -> Result<String, OnvifError> {
        if let Some(m) = &self.media {
            return Ok(m.to_string());
        }
        let url = self.address.0.clone();
        let body = format!(
            r#"<tds:GetCapabilities xmlns:tds="{NS_TDS}"><tds:Category>Media</tds:Category></tds:GetCapabilities>"#
        );
        let xaddr = self
            .call(&url, "GetCapabilities", NS_TDS, &body, true, |r| {
                let media = xml::find(r, "Media")?;
                xml::child_text(media, "XAddr")
            })
            .await;
        let media = match xaddr {
            Ok(x) => self.address.rebase(&x),
            Err(e @ (OnvifError::NotAuthorized { .. } | OnvifError::NeedsCredentials { .. })) => {
                return Err(e);
            }
            Err(e) => {
                tracing::debug!(device = %url, error = %e, "GetCapabilities failed; asking the device service for media");
                url
            }
        };
        self.media = Some(media.clone());
        Ok(media.to_string())
    }

    /// GetProfiles.
    pub async fn profiles(&mut self) -> Result<Vec<Profile>, OnvifError> {
        self.media_service().await?;
        let url = self.media.clone().expect("set by media_service");
        self.call(
            &url,
            "GetProfiles",
            NS_TRT,
            &format!(r#"<trt:GetProfiles xmlns:trt="{NS_TRT}"/>"#),
            true,
            |r| {
                Some(
                    xml::children(r, "Profiles")
                        .filter_map(read_profile)
                        .collect(),
                )
            },
        )
        .await
    }

    /// GetStreamUri for RTP unicast over RTSP.
    pub async fn stream_uri(&mut self, profile_token: &str) -> Result<String, OnvifError> {
        self.media_service().await?;
        let url = self.media.clone().expect("set by media_service");
        let body = format!(
            r#"<trt:GetStreamUri xmlns:trt="{NS_TRT}" xmlns:tt="{NS_TT}"><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>{}</trt:ProfileToken></trt:GetStreamUri>"#,
            xml::escape(profile_token)
        );
        self.call(&url, "GetStreamUri", NS_TRT, &body, true, |r| {
            let media = xml::child(r, "MediaUri")?;
            xml::child_text(media, "Uri")
        })
        .await
    }

    /// The RTSP URI of the profile `wanted` (or the first with video): clock, media
    /// service, profiles, stream URI. What a camera configured as `onvif://` does at every
    /// (re)start, so a URI that changed when the camera rebooted is followed.
    pub async fn resolve(&mut self, wanted: Option<&str>) -> Result<(Profile, String), OnvifError> {
        if let Err(e) = self.sync_clock().await {
            // Tokens on our clock may still work; say why the clock is not corrected.
            tracing::debug!(device = %self.address.url(), error = %e, "device clock not read");
        }
        let profiles = self.profiles().await?;
        let profile = choose_profile(&profiles, wanted)?.clone();
        let uri = self.stream_uri(&profile.token).await?;
        Ok((profile, uri))
    }

    async fn call<T>(
        &self,
        url: &HttpUrl,
        operation: &str,
        ns: &str,
        body: &str,
        authenticate: bool,
        read: impl FnOnce(roxmltree::Node<'_, '_>) -> Option<T>,
    ) -> Result<T, OnvifError> {
        let token = match (&self.credentials, authenticate) {
            (Some(c), true) => Some(UsernameToken::new(
                &c.username,
                &c.password,
                Utc::now() + self.clock_offset,
            )),
            _ => None,
        };
        let envelope = soap::envelope(body, token.as_ref());
        let action = format!("{ns}/{operation}");
        let (status, text) = http::post(url, &action, envelope, self.timeout).await?;
        let shown = url.to_string();
        soap::answer(operation, &shown, status, &text, read).map_err(|e| match e {
            OnvifError::NotAuthorized { operation } if self.credentials.is_none() => {
                OnvifError::NeedsCredentials { operation }
            }
            e => e,
        })
    }
}

fn read_profile(p: roxmltree::Node<'_, '_>) -> Option<Profile> {
    let token = p.attribute("token")?.to_string();
    let encoder = xml::child(p, "VideoEncoderConfiguration");
    let resolution = encoder.and_then(|e| xml::child(e, "Resolution"));
    let dim = |name: &str| resolution.and_then(|r| xml::child_text(r, name)?.parse().ok());
    Some(Profile {
        name: xml::child_text(p, "Name").unwrap_or_else(|| token.clone()),
        token,
        encoding: encoder.and_then(|e| xml::child_text(e, "Encoding")),
        width: dim("Width"),
        height: dim("Height"),
        frame_rate: encoder
            .and_then(|e| xml::child(e, "RateControl"))
            .and_then(|r| xml::child_text(r, "FrameRateLimit")?.parse().ok()),
    })
}

/// `SystemDateAndTime/UTCDateTime` as a time.
fn read_utc_time(r: roxmltree::Node<'_, '_>) -> Option<DateTime<Utc>> {
    let utc = xml::find(r, "UTCDateTime")?;
    let num = |parent: &str, name: &str| -> Option<u32> {
        xml::child_text(xml::child(utc, parent)?, name)?
            .parse()
            .ok()
    };
    let date = NaiveDate::from_ymd_opt(
        num("Date", "Year")? as i32,
        num("Date", "Month")?,
        num("Date", "Day")?,
    )?;
    let time = date.and_hms_opt(
        num("Time", "Hour")?,
        num("Time", "Minute")?,
        num("Time", "Second")?,
    )?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = DeviceAddress::parse("onvif://10.1.2.3").unwrap();
        assert_eq!(a.url(), "http://10.1.2.3/onvif/device_service");
        let a = DeviceAddress::parse("onvif://cam.local:8080/").unwrap();
        assert_eq!(a.url(), "http://cam.local:8080/onvif/device_service");
        let a = DeviceAddress::parse("onvif://cam:8899/onvif/services").unwrap();
        assert_eq!(a.url(), "http://cam:8899/onvif/services");
        assert_eq!(
            a.rebase("http://192.168.0.137:8080/onvif/media")
                .to_string(),
            "http://cam:8899/onvif/media"
        );
        assert!(DeviceAddress::parse("rtsp://cam/x").is_err());
        assert!(DeviceAddress::parse("onvif://admin:pw@cam").is_err());
        assert!(DeviceAddress::parse("onvif://cam:99999").is_err());
        assert_eq!(
            DeviceAddress::parse("http://10.0.0.9:2020/onvif/device_service")
                .unwrap()
                .url(),
            "http://10.0.0.9:2020/onvif/device_service"
        );
    }

    fn profile(token: &str, name: &str, video: bool) -> Profile {
        Profile {
            token: token.into(),
            name: name.into(),
            encoding: video.then(|| "H264".into()),
            width: None,
            height: None,
            frame_rate: None,
        }
    }

    #[test]
    fn profiles_are_chosen_by_name_or_token_else_the_first_with_video() {
        let ps = [
            profile("audio0", "Audio", false),
            profile("Profile_1", "mainStream", true),
            profile("Profile_2", "subStream", true),
        ];
        assert_eq!(choose_profile(&ps, None).unwrap().token, "Profile_1");
        assert_eq!(
            choose_profile(&ps, Some("SUBSTREAM")).unwrap().token,
            "Profile_2"
        );
        assert_eq!(
            choose_profile(&ps, Some("Profile_2")).unwrap().name,
            "subStream"
        );
        let e = choose_profile(&ps, Some("third")).unwrap_err().to_string();
        assert!(e.contains("mainStream (token Profile_1)"), "{e}");
        assert_eq!(
            choose_profile(&ps[..1], None).unwrap_err(),
            OnvifError::NoVideoProfile
        );
    }
}

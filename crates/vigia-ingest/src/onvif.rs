//! ONVIF cameras: before each start of the pipeline, the device is asked for the RTSP URI
//! of the configured profile, so a URI that changed when the camera rebooted (new
//! session path, new port) is followed on the next reconnect.

use vigia_onvif::{Credentials, Device, DeviceAddress};

use crate::config::CameraConfig;
use crate::source::{Source, redact_url};

/// The camera's source, with an ONVIF device resolved to its RTSP stream. The error says
/// what failed, without credentials.
pub async fn resolve_source(cfg: &CameraConfig) -> Result<Source, String> {
    let source = cfg.source().map_err(|e| e.to_string())?;
    let Source::Onvif {
        device,
        user,
        password,
    } = source
    else {
        return Ok(source);
    };
    let user = cfg.username.clone().or(user);
    let password = cfg.password().map_err(|e| e.to_string())?.or(password);
    let credentials = user.clone().map(|username| Credentials {
        username,
        password: password.clone().unwrap_or_default(),
    });
    let address = DeviceAddress::parse(&device).map_err(|e| e.to_string())?;
    let mut client = Device::new(address, credentials);
    let (profile, uri) = client
        .resolve(cfg.onvif_profile.as_deref())
        .await
        .map_err(|e| format!("ONVIF {device}: {e}"))?;
    tracing::info!(
        camera = %cfg.id,
        device = %device,
        profile = %profile.name,
        encoding = profile.encoding.as_deref().unwrap_or("?"),
        stream = %redact_url(&uri),
        clock_offset_s = client.clock_offset().num_seconds(),
        "ONVIF camera resolved to its stream"
    );
    match Source::parse(&uri) {
        Ok(Source::Rtsp {
            url,
            user: uri_user,
            password: uri_password,
        }) => Ok(Source::Rtsp {
            url,
            user: user.or(uri_user),
            password: password.or(uri_password),
        }),
        _ => Err(format!(
            "ONVIF {device}: profile {:?} streams at {}, not an rtsp:// URI",
            profile.name,
            redact_url(&uri)
        )),
    }
}

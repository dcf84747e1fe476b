//! `vigia discover`: finds ONVIF cameras (WS-Discovery), asks each for its information,
//! media profiles and their RTSP URIs, and prints them with a `[[cameras]]` entry to paste
//! into the config (human-readable, or JSON with `--json`).

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use vigia_onvif::{Credentials, Device, DeviceAddress, DeviceInformation, Profile, discovery};

#[derive(clap::Args)]
pub struct Args {
    /// Send the probe to this address (`host:port`, usually port 3702) instead of the
    /// WS-Discovery multicast group: for networks that do not carry multicast between the
    /// node and the cameras. Repeatable.
    #[arg(long = "to", value_name = "HOST:PORT")]
    to: Vec<String>,
    /// Also query this device directly (`onvif://host[:port][/path]`), without probing.
    /// Repeatable.
    #[arg(long = "device", value_name = "URL")]
    devices: Vec<String>,
    /// How long to wait for answers to the probe, milliseconds.
    #[arg(long, default_value_t = 3000)]
    wait_ms: u64,
    /// User name for the devices (their profiles and stream URIs need one).
    #[arg(long)]
    username: Option<String>,
    /// Environment variable holding the devices' password.
    #[arg(long)]
    password_env: Option<String>,
    /// File holding the devices' password (first line).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Print JSON (one array of devices) instead of text.
    #[arg(long)]
    json: bool,
}

/// One device and what it told.
#[derive(Debug, Serialize)]
pub struct Found {
    /// The address vigia reaches it on (`onvif://...`).
    pub url: String,
    pub endpoint: Option<String>,
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub information: Option<DeviceInformation>,
    pub profiles: Vec<FoundProfile>,
    /// Why the device could not be queried fully.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FoundProfile {
    #[serde(flatten)]
    pub profile: Profile,
    pub stream_uri: Option<String>,
}

pub fn run(a: &Args) -> ExitCode {
    super::quiet_logs();
    let json = a.json;
    super::finish(
        super::block_on(discover(a)).and_then(|found| {
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &found)?;
                writeln!(out)?;
            } else {
                write_text(&mut out, &found, a)?;
            }
            Ok(found)
        }),
        |found| format!("{} ONVIF device(s)", found.len()),
        |found| !found.is_empty(),
        3,
    )
}

/// Probes, then queries every device found (and every `--device`).
pub async fn discover(a: &Args) -> Result<Vec<Found>> {
    let password =
        vigia_core::secrets::read_secret(a.password_env.as_deref(), a.password_file.as_deref())?;
    if password.is_some() && a.username.is_none() {
        bail!("a password needs --username");
    }
    let credentials = a.username.clone().map(|username| Credentials {
        username,
        password: password.unwrap_or_default(),
    });
    let mut found = Vec::new();
    for d in &a.devices {
        let address = DeviceAddress::parse(d)?;
        found.push(query(address, credentials.clone(), None).await);
    }
    if !a.devices.is_empty() && a.to.is_empty() {
        return Ok(found);
    }
    let targets = targets(&a.to)?;
    let matches = discovery::probe(&targets, Duration::from_millis(a.wait_ms))
        .await
        .context("WS-Discovery probe")?;
    for m in matches {
        let Some(address) = m.xaddrs.iter().find_map(|x| DeviceAddress::parse(x).ok()) else {
            tracing::warn!(endpoint = %m.endpoint, "device answered without a usable address");
            continue;
        };
        found.push(query(address, credentials.clone(), Some(m)).await);
    }
    Ok(found)
}

fn targets(to: &[String]) -> Result<Vec<SocketAddr>> {
    if to.is_empty() {
        return Ok(vec![discovery::MULTICAST.parse()?]);
    }
    to.iter()
        .map(|t| {
            t.to_socket_addrs()
                .with_context(|| format!("--to {t}"))?
                .next()
                .with_context(|| format!("--to {t}: no address"))
        })
        .collect()
}

async fn query(
    address: DeviceAddress,
    credentials: Option<Credentials>,
    probe: Option<discovery::Discovered>,
) -> Found {
    let url = address.url().replacen("http://", "onvif://", 1);
    let url = url
        .strip_suffix(vigia_onvif::device::DEVICE_SERVICE_PATH)
        .unwrap_or(&url)
        .to_string();
    let mut found = Found {
        url,
        endpoint: probe.as_ref().map(|p| p.endpoint.clone()),
        name: probe.as_ref().and_then(|p| p.scope("name")),
        hardware: probe.as_ref().and_then(|p| p.scope("hardware")),
        information: None,
        profiles: Vec::new(),
        error: None,
    };
    let mut device = Device::new(address, credentials);
    let _ = device.sync_clock().await;
    let result: Result<(), vigia_onvif::OnvifError> = async {
        found.information = Some(device.information().await?);
        for profile in device.profiles().await? {
            let stream_uri = match profile.encoding {
                // Shown and printed: a URI with a password in it is masked.
                Some(_) => Some(vigia_ingest::source::redact_url(
                    &device.stream_uri(&profile.token).await?,
                )),
                None => None,
            };
            found.profiles.push(FoundProfile {
                profile,
                stream_uri,
            });
        }
        Ok(())
    }
    .await;
    found.error = result.err().map(|e| e.to_string());
    found
}

/// A camera id from a device's name: lowercase letters, digits and `-`.
fn camera_id(f: &Found, n: usize) -> String {
    let base = f
        .name
        .clone()
        .or_else(|| f.information.as_ref().and_then(|i| i.model.clone()))
        .unwrap_or_else(|| "onvif".into());
    let mut id: String = base
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    id = id.trim_matches('-').to_string();
    if id.is_empty() {
        id = "onvif".into();
    }
    format!("{id}-{}", n + 1)
}

fn write_text(out: &mut impl Write, found: &[Found], a: &Args) -> Result<()> {
    for (n, f) in found.iter().enumerate() {
        writeln!(out, "{}", f.url)?;
        if let Some(e) = &f.endpoint {
            writeln!(out, "  endpoint: {e}")?;
        }
        if let Some(name) = &f.name {
            writeln!(out, "  name: {name}")?;
        }
        if let Some(i) = &f.information {
            let part = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
            writeln!(
                out,
                "  device: {} {} (firmware {})",
                part(&i.manufacturer),
                part(&i.model),
                part(&i.firmware_version)
            )?;
        }
        for p in &f.profiles {
            let size = match (p.profile.width, p.profile.height) {
                (Some(w), Some(h)) => format!(" {w}x{h}"),
                _ => String::new(),
            };
            writeln!(
                out,
                "  profile {:?} (token {}): {}{size} {}",
                p.profile.name,
                p.profile.token,
                p.profile.encoding.as_deref().unwrap_or("no video"),
                p.stream_uri.as_deref().unwrap_or_default()
            )?;
        }
        if let Some(e) = &f.error {
            writeln!(out, "  error: {e}")?;
        }
        writeln!(out, "\n  [[cameras]]")?;
        writeln!(out, "  id = \"{}\"", camera_id(f, n))?;
        writeln!(out, "  url = \"{}\"", f.url)?;
        if let Some(p) = f.profiles.iter().find(|p| p.profile.encoding.is_some()) {
            writeln!(out, "  onvif_profile = \"{}\"", p.profile.name)?;
        }
        if let Some(u) = &a.username {
            writeln!(out, "  username = \"{u}\"")?;
        }
        match (&a.password_env, &a.password_file) {
            (Some(v), _) => writeln!(out, "  password_env = \"{v}\"")?,
            (_, Some(f)) => writeln!(out, "  password_file = \"{}\"", f.display())?,
            _ => {}
        }
        writeln!(out)?;
    }
    Ok(())
}

//! The configuration file (TOML).
//!
//! Loading reports every problem it can find in one go, each with its path
//! (`cameras[2].url: ...`): each section (and each camera) is deserialized on its own, so
//! one bad value does not hide the others, and the values are then checked together
//! (unique ids, files that exist, models whose labels include the configured classes).
//! Relative paths resolve against the directory of the config file. The reference is
//! docs/config.md.

use std::fmt;
use std::path::{Path, PathBuf};

mod check;
mod paths;
mod simulator;

pub use simulator::{SimStreamConfig, SimulatorConfig};

use serde::de::DeserializeOwned;
use vigia_infer::InferenceConfig;
use vigia_infer::motion::MotionConfig;
use vigia_ingest::CameraConfig;
use vigia_lpr::LprConfig;
use vigia_rules::RuleConfig;

use vigia_analytics::{AlarmsConfig, SnapshotConfig};
use vigia_outbox::OutboxConfig;
use vigia_publish::{MqttConfig, Topics};
use vigia_telemetry::TelemetryConfig;
use vigia_track::TrackerConfig;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Site name (topic-safe). Default `site`.
    pub site: String,
    /// Node name (topic-safe). Default: the host name.
    pub node: String,
    /// State directory (the outbox lives in `<data_dir>/outbox` unless `outbox.dir` is set).
    /// Default `data` beside the config file.
    pub data_dir: PathBuf,
    pub telemetry: TelemetryConfig,
    pub inference: InferenceConfig,
    pub tracker: TrackerConfig,
    pub lpr: LprConfig,
    /// `[motion]`: the motion gate.
    pub motion: MotionConfig,
    /// `[[rules]]`: incident rules.
    pub rules: Vec<RuleConfig>,
    /// Offset of local time from UTC for rule schedules, `"-05:00"`. Default `"+00:00"`.
    pub utc_offset: chrono::FixedOffset,
    pub snapshots: SnapshotConfig,
    pub outbox: OutboxConfig,
    pub mqtt: MqttConfig,
    pub simulator: Option<SimulatorConfig>,
    pub cameras: Vec<CameraConfig>,
    /// `[alarms]`: panic buttons and community alarms (docs/alarms.md).
    pub alarms: AlarmsConfig,
    /// `[fleet]`: cameras from etcd, shared with other nodes (docs/deploy.md).
    pub fleet: Option<vigia_fleet::FleetConfig>,
    /// How often `vigia run` looks for changes to this file, seconds (its cameras and
    /// rules reload live; SIGHUP reloads at once). 0: only on SIGHUP or the API. Default 5.
    pub reload_watch_secs: u64,
    /// The file this was loaded from.
    pub source: PathBuf,
}

/// One problem, at a path in the file (`cameras[2].url`).
pub use vigia_core::FieldError as ConfigError;

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} problem{}",
            self.file.display(),
            self.errors.len(),
            if self.errors.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const SECTIONS: &[&str] = &[
    "site",
    "node",
    "data_dir",
    "telemetry",
    "inference",
    "tracker",
    "lpr",
    "motion",
    "rules",
    "utc_offset",
    "snapshots",
    "outbox",
    "mqtt",
    "simulator",
    "cameras",
    "alarms",
    "fleet",
    "reload_watch_secs",
];

pub(crate) struct Collector {
    errors: Vec<ConfigError>,
}

impl Collector {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// A section's problems, at `prefix.field`.
    pub(crate) fn fields(&mut self, prefix: &str, errors: Vec<ConfigError>) {
        self.errors
            .extend(errors.into_iter().map(|e| e.within(prefix)));
    }

    /// Deserializes `value` as `T`, recording an error at `prefix` + the inner path.
    fn take<T: DeserializeOwned>(&mut self, prefix: &str, value: toml::Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let path = if inner == "." {
                    prefix.to_string()
                } else if inner.starts_with('[') {
                    format!("{prefix}{inner}")
                } else {
                    format!("{prefix}.{inner}")
                };
                // toml appends "in `key`" lines; the path already says where.
                let msg = e.into_inner().to_string();
                let msg = msg
                    .lines()
                    .filter(|l| !l.starts_with("in `") && !l.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                self.push(path, msg);
                None
            }
        }
    }
}

fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "node".to_string()
    } else {
        cleaned
    }
}

impl Config {
    /// Loads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let (cfg, errors) = Self::load_lenient(path)?;
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors {
                file: path.to_path_buf(),
                errors,
            })
        }
    }

    /// Loads a config file keeping what parsed (defaults for the rest) with its problems:
    /// for `vigia doctor`, which checks the parts of a broken file that are there.
    /// `Err` only when the file cannot be read or is not TOML.
    pub fn load_lenient(path: &Path) -> Result<(Self, Vec<ConfigError>), ConfigErrors> {
        let fail = |errors: Vec<ConfigError>| ConfigErrors {
            file: path.to_path_buf(),
            errors,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(vec![ConfigError::new(
                ".",
                format!("cannot read the file: {e}"),
            )])
        })?;
        Self::parse_lenient(&text, &Self::base_dir(path), path).map_err(fail)
    }

    /// The directory a config file's relative paths resolve against: its own.
    pub fn base_dir(path: &Path) -> PathBuf {
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        base.canonicalize().unwrap_or(base)
    }

    /// Parses config text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path, source: &Path) -> Result<Self, Vec<ConfigError>> {
        let (cfg, errors) = Self::parse_lenient(text, base, source)?;
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// Parses config text into what parsed and every problem; `Err` when it is not TOML.
    fn parse_lenient(
        text: &str,
        base: &Path,
        source: &Path,
    ) -> Result<(Self, Vec<ConfigError>), Vec<ConfigError>> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            vec![ConfigError::new(
                ".",
                format!("not valid TOML: {}", e.to_string().trim_end()),
            )]
        })?;
        let mut c = Collector { errors: Vec::new() };
        // Position in the file of each camera that parsed (error paths use these).
        let mut positions = Vec::new();
        let mut rule_positions = Vec::new();
        let mut cfg = Config::defaults(source);
        for (key, value) in table {
            match key.as_str() {
                "site" => cfg.site = c.take("site", value).unwrap_or(cfg.site),
                "node" => cfg.node = c.take("node", value).unwrap_or(cfg.node),
                "data_dir" => cfg.data_dir = c.take("data_dir", value).unwrap_or(cfg.data_dir),
                "telemetry" => cfg.telemetry = c.take("telemetry", value).unwrap_or_default(),
                "inference" => cfg.inference = c.take("inference", value).unwrap_or_default(),
                "tracker" => cfg.tracker = c.take("tracker", value).unwrap_or_default(),
                "lpr" => cfg.lpr = c.take("lpr", value).unwrap_or_default(),
                "motion" => cfg.motion = c.take("motion", value).unwrap_or_default(),
                "utc_offset" => {
                    if let Some(s) = c.take::<String>("utc_offset", value) {
                        match s.parse::<chrono::FixedOffset>() {
                            Ok(o) => cfg.utc_offset = o,
                            Err(_) => c.push(
                                "utc_offset",
                                format!("{s:?} is not an offset like \"-05:00\""),
                            ),
                        }
                    }
                }
                "rules" => match value {
                    toml::Value::Array(items) => {
                        for (i, item) in items.into_iter().enumerate() {
                            if let Some(r) = c.take::<RuleConfig>(&format!("rules[{i}]"), item) {
                                cfg.rules.push(r);
                                rule_positions.push(i);
                            }
                        }
                    }
                    _ => c.push("rules", "must be an array of tables ([[rules]])"),
                },
                "snapshots" => cfg.snapshots = c.take("snapshots", value).unwrap_or_default(),
                "outbox" => cfg.outbox = c.take("outbox", value).unwrap_or_default(),
                "mqtt" => cfg.mqtt = c.take("mqtt", value).unwrap_or_default(),
                "simulator" => cfg.simulator = c.take("simulator", value),
                "alarms" => cfg.alarms = c.take("alarms", value).unwrap_or_default(),
                "fleet" => cfg.fleet = c.take("fleet", value),
                "reload_watch_secs" => {
                    cfg.reload_watch_secs = c.take("reload_watch_secs", value).unwrap_or(5)
                }
                "cameras" => match value {
                    toml::Value::Array(items) => {
                        for (i, item) in items.into_iter().enumerate() {
                            if let Some(cam) =
                                c.take::<CameraConfig>(&format!("cameras[{i}]"), item)
                            {
                                cfg.cameras.push(cam);
                                positions.push(i);
                            }
                        }
                    }
                    _ => c.push("cameras", "must be an array of tables ([[cameras]])"),
                },
                other => c.push(
                    other,
                    format!("unknown key; expected one of {}", SECTIONS.join(", ")),
                ),
            }
        }
        cfg.resolve_paths(base);
        cfg.check(&mut c, &positions);
        cfg.check_rules(&mut c, &rule_positions);
        Ok((cfg, c.errors))
    }

    /// Every default (what an empty file gives), before path resolution and checks.
    pub fn defaults(source: &Path) -> Self {
        Config {
            site: "site".to_string(),
            node: host_name(),
            data_dir: PathBuf::from("data"),
            telemetry: TelemetryConfig::default(),
            inference: InferenceConfig::default(),
            tracker: TrackerConfig::default(),
            lpr: LprConfig::default(),
            motion: MotionConfig::default(),
            rules: Vec::new(),
            utc_offset: chrono::FixedOffset::east_opt(0).expect("zero offset"),
            snapshots: SnapshotConfig::default(),
            outbox: OutboxConfig::default(),
            mqtt: MqttConfig::default(),
            simulator: None,
            cameras: Vec::new(),
            alarms: AlarmsConfig::default(),
            fleet: None,
            reload_watch_secs: 5,
            source: source.to_path_buf(),
        }
    }

    /// The configuration the tools (`vigia read`, `vigia eval`) use without a config file:
    /// every default, with manifests from `models/` in the current directory or a parent.
    pub fn tool_defaults() -> Self {
        let mut cfg = Self::defaults(Path::new("(defaults)"));
        cfg.inference.detector.manifest = vigia_plates::default_manifest("yolox_nano_fit.toml");
        cfg.lpr.plate_detector = vigia_plates::default_manifest("platedet_fit_int8.toml");
        cfg.lpr.ocr = vigia_plates::default_manifest("cct_xs_v1_global.toml");
        cfg.lpr.look_alike_ocr = vigia_plates::default_manifest("ppocr_v4_rec.toml");
        cfg
    }

    /// Where the outbox lives.
    pub fn outbox_dir(&self) -> PathBuf {
        self.outbox
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// Where snapshots live.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.snapshots
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("snapshots"))
    }

    /// The MQTT topic prefix.
    pub fn topic_prefix(&self) -> String {
        self.mqtt
            .topic_prefix
            .clone()
            .unwrap_or_else(|| Topics::default_prefix(&self.site, &self.node))
    }

    /// The MQTT client id.
    pub fn client_id(&self) -> String {
        self.mqtt
            .client_id
            .clone()
            .unwrap_or_else(|| format!("vigia-{}-{}", self.site, self.node))
    }
}

#[cfg(test)]
mod tests;

//! The configuration file (TOML).
//!
//! Loading reports every problem it can find in one go, each with its path
//! (`cameras[2].url: ...`): each section (and each camera) is deserialized on its own, so
//! one bad value does not hide the others, and the values are then checked together
//! (unique ids, files that exist, models whose labels include the configured classes).
//! Relative paths resolve against the directory of the config file. The reference is
//! docs/config.md.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use vigia_core::CameraId;
use vigia_infer::motion::MotionConfig;
use vigia_infer::{InferenceConfig, ModelManifest};
use vigia_ingest::CameraConfig;
use vigia_lpr::LprConfig;
use vigia_rules::RuleConfig;

use crate::snapshots::SnapshotConfig;
use vigia_outbox::OutboxConfig;
use vigia_publish::{MqttConfig, Topics};
use vigia_telemetry::TelemetryConfig;
use vigia_track::TrackerConfig;

/// `[simulator]`: an in-process RTSP server that serves video files as looping cameras
/// (the demo; also handy to test a deployment without cameras).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Where the RTSP server listens. Default `127.0.0.1:8554`.
    #[serde(default = "default_sim_listen")]
    pub listen: SocketAddr,
    /// The streams: `rtsp://<listen>/<path>` serves `file` (H.264) in a loop.
    pub streams: Vec<SimStreamConfig>,
}

fn default_sim_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8554))
}

/// One simulated camera stream: a video file, or a slideshow of photos (rendered once into
/// `<data_dir>/simulator/<path>.mp4`; each photo slides across the frame like a passing
/// vehicle).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimStreamConfig {
    /// URL path (letters, digits, `-`, `_`).
    pub path: String,
    /// H.264 video file (MP4, MKV, TS).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Photos (JPEG, PNG) to render into a video instead of `file`.
    #[serde(default)]
    pub slideshow: Vec<PathBuf>,
}

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
    /// The file this was loaded from.
    pub source: PathBuf,
}

/// One problem, at a path in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

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
];

struct Collector {
    errors: Vec<ConfigError>,
}

impl Collector {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
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

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Config {
    /// Loads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let fail = |errors: Vec<ConfigError>| ConfigErrors {
            file: path.to_path_buf(),
            errors,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(vec![ConfigError {
                path: ".".into(),
                message: format!("cannot read the file: {e}"),
            }])
        })?;
        let base = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let base = base.canonicalize().unwrap_or(base);
        Self::parse(&text, &base, path).map_err(fail)
    }

    /// Parses config text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path, source: &Path) -> Result<Self, Vec<ConfigError>> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            vec![ConfigError {
                path: ".".into(),
                message: format!("not valid TOML: {}", e.to_string().trim_end()),
            }]
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
        if c.errors.is_empty() {
            Ok(cfg)
        } else {
            Err(c.errors)
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.data_dir = resolve(base, &self.data_dir);
        if let Some(d) = &self.snapshots.dir {
            self.snapshots.dir = Some(resolve(base, d));
        }
        if let Some(d) = &self.outbox.dir {
            self.outbox.dir = Some(resolve(base, d));
        }
        if let Some(l) = &self.inference.ort_library {
            self.inference.ort_library = Some(resolve(base, l));
        }
        self.inference.models_dirs = self
            .inference
            .models_dirs
            .iter()
            .map(|d| resolve(base, d))
            .collect();
        self.inference.detector.manifest = resolve(base, &self.inference.detector.manifest);
        self.lpr.plate_detector = resolve(base, &self.lpr.plate_detector);
        self.lpr.ocr = resolve(base, &self.lpr.ocr);
        for g in &mut self.lpr.grammar_files {
            *g = resolve(base, g);
        }
        for h in &mut self.lpr.hotlists {
            h.path = resolve(base, &h.path);
        }
        for r in &mut self.rules {
            if let Some(c) = &mut r.classifier {
                c.manifest = resolve(base, &c.manifest);
            }
        }
        for f in [
            &mut self.mqtt.password_file,
            &mut self.mqtt.ca_file,
            &mut self.mqtt.client_cert_file,
            &mut self.mqtt.client_key_file,
        ] {
            if let Some(p) = f {
                *f = Some(resolve(base, p));
            }
        }
        if let Some(sim) = &mut self.simulator {
            for s in &mut sim.streams {
                s.file = s.file.as_ref().map(|f| resolve(base, f));
                for p in &mut s.slideshow {
                    *p = resolve(base, p);
                }
            }
        }
        for cam in &mut self.cameras {
            if let Some(rest) = cam.url.strip_prefix("file://")
                && !rest.starts_with('/')
            {
                cam.url = format!("file://{}", base.join(rest).display());
            }
            if let Some(f) = &cam.password_file {
                cam.password_file = Some(resolve(base, f));
            }
        }
    }

    fn check(&self, c: &mut Collector, positions: &[usize]) {
        for (name, value) in [("site", &self.site), ("node", &self.node)] {
            if CameraId::new(value.as_str()).is_err() {
                c.push(
                    name,
                    format!("{value:?}: use 1 to 64 ASCII letters, digits, '-' or '_' (it is part of MQTT topics)"),
                );
            }
        }
        let mut ids = HashSet::new();
        for (cam, &i) in self.cameras.iter().zip(positions) {
            if !ids.insert(cam.id.clone()) {
                c.push(
                    format!("cameras[{i}].id"),
                    format!("duplicate camera id {:?}", cam.id.as_str()),
                );
            }
            for (field, msg) in cam.validate() {
                c.push(format!("cameras[{i}].{field}"), msg);
            }
        }
        for (field, msg) in self.inference.validate() {
            c.push(format!("inference.{field}"), msg);
        }
        for (field, msg) in self.tracker.validate() {
            c.push(format!("tracker.{field}"), msg);
        }
        if self.cameras.iter().any(|c| c.lpr) {
            for (field, msg) in self.lpr.validate() {
                c.push(format!("lpr.{field}"), msg);
            }
            for (key, path) in [
                ("lpr.plate_detector", &self.lpr.plate_detector),
                ("lpr.ocr", &self.lpr.ocr),
            ] {
                if let Err(e) = ModelManifest::load(path) {
                    c.push(key, e.to_string());
                }
            }
        }
        for (field, msg) in self.snapshots.validate() {
            c.push(format!("snapshots.{field}"), msg);
        }
        for (field, msg) in self.outbox.validate() {
            c.push(format!("outbox.{field}"), msg);
        }
        let mqtt_errors = self.mqtt.validate();
        let tls = self
            .mqtt
            .url
            .as_deref()
            .is_some_and(|u| vigia_publish::BrokerUrl::parse(u).is_ok_and(|u| u.tls));
        if mqtt_errors.is_empty() && tls {
            // Reads the CA, certificate and key now, so a bad file is reported by
            // `check-config` and at start, not at the first connection attempt.
            match self.mqtt.tls_files().client_config() {
                Ok(_) => {}
                Err(vigia_publish::PublishError::File {
                    field,
                    path,
                    message,
                }) => c.push(
                    format!("mqtt.{field}"),
                    format!("{}: {message}", path.display()),
                ),
                Err(e) => c.push("mqtt.url", e.to_string()),
            }
        }
        for (field, msg) in mqtt_errors {
            c.push(format!("mqtt.{field}"), msg);
        }
        if let Some(sim) = &self.simulator {
            let mut paths = HashSet::new();
            if sim.streams.is_empty() {
                c.push("simulator.streams", "must list at least one stream");
            }
            for (i, s) in sim.streams.iter().enumerate() {
                if CameraId::new(s.path.as_str()).is_err() {
                    c.push(
                        format!("simulator.streams[{i}].path"),
                        "use letters, digits, '-' or '_'",
                    );
                }
                if !paths.insert(s.path.clone()) {
                    c.push(
                        format!("simulator.streams[{i}].path"),
                        format!("duplicate path {:?}", s.path),
                    );
                }
                match (&s.file, s.slideshow.is_empty()) {
                    (Some(f), true) => {
                        if !f.is_file() {
                            c.push(
                                format!("simulator.streams[{i}].file"),
                                format!("{} does not exist", f.display()),
                            );
                        }
                    }
                    (None, false) => {
                        for (j, p) in s.slideshow.iter().enumerate() {
                            if !p.is_file() {
                                c.push(
                                    format!("simulator.streams[{i}].slideshow[{j}]"),
                                    format!("{} does not exist", p.display()),
                                );
                            }
                        }
                    }
                    _ => c.push(
                        format!("simulator.streams[{i}]"),
                        "set either file or slideshow",
                    ),
                }
            }
        }
        let det = &self.inference.detector;
        match ModelManifest::load(&det.manifest) {
            Err(e) => c.push("inference.detector.manifest", e.to_string()),
            Ok(m) => {
                for class in &det.classes {
                    if !m.labels.contains(class) {
                        c.push(
                            "inference.detector.classes",
                            format!("{class:?} is not a label of model {}", m.name),
                        );
                    }
                }
            }
        }
    }

    fn check_rules(&self, c: &mut Collector, positions: &[usize]) {
        for (field, msg) in self.motion.validate() {
            c.push(format!("motion.{field}"), msg);
        }
        let detected = &self.inference.detector.classes;
        let mut names = HashSet::new();
        for (r, &i) in self.rules.iter().zip(positions) {
            let at = |f: &str| format!("rules[{i}].{f}");
            for (field, msg) in r.validate() {
                c.push(at(&field), msg);
            }
            if !self.cameras.iter().any(|cam| cam.id == r.camera) {
                c.push(
                    at("camera"),
                    format!("no camera {:?} in [[cameras]]", r.camera.as_str()),
                );
            }
            if !names.insert((r.camera.clone(), r.name.clone())) {
                c.push(
                    at("name"),
                    format!(
                        "duplicate rule name {:?} on camera {:?}",
                        r.name,
                        r.camera.as_str()
                    ),
                );
            }
            if !detected.is_empty() {
                for class in r.watched_classes() {
                    if !detected.contains(&class) {
                        c.push(
                            at("classes"),
                            format!("{class:?} is not detected: add it to inference.detector.classes or leave it out"),
                        );
                    }
                }
            }
            if let Some(g) = &r.classifier {
                match ModelManifest::load(&g.manifest) {
                    Err(e) => c.push(at("classifier.manifest"), e.to_string()),
                    Ok(m) => {
                        if m.task != vigia_infer::manifest::Task::Classify {
                            c.push(
                                at("classifier.manifest"),
                                format!("{} is not a classify model", m.name),
                            );
                        } else if !m.labels.contains(&g.label) {
                            c.push(
                                at("classifier.label"),
                                format!(
                                    "{:?} is not a label of {} ({:?})",
                                    g.label, m.name, m.labels
                                ),
                            );
                        }
                    }
                }
            }
        }
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
            source: source.to_path_buf(),
        }
    }

    /// The configuration the tools (`vigia read`, `vigia eval`) use without a config file:
    /// every default, with manifests from `models/` in the current directory or a parent.
    pub fn tool_defaults() -> Self {
        let mut cfg = Self::defaults(Path::new("(defaults)"));
        cfg.inference.detector.manifest = crate::plates::default_manifest("yolox_nano.toml");
        cfg.lpr.plate_detector = crate::plates::default_manifest("platedet.toml");
        cfg.lpr.ocr = crate::plates::default_manifest("cct_xs_v1_global.toml");
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
mod tests {
    use super::*;

    fn manifest() -> String {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        format!(
            "[inference.detector]\nmanifest = \"{}\"\n",
            root.join("models/yolox_nano.toml").display()
        )
    }

    fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let full = format!("{text}\n{}", manifest());
        Config::parse(
            &full,
            Path::new("/etc/vigia"),
            Path::new("/etc/vigia/vigia.toml"),
        )
    }

    fn paths(errs: &[ConfigError]) -> Vec<&str> {
        errs.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn tls_files_are_checked_and_named_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("ca.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let errs = parse(&format!(
            "[mqtt]\nurl = \"mqtts://broker:8883\"\nca_file = \"{}\"\n",
            junk.display()
        ))
        .unwrap_err();
        assert_eq!(paths(&errs), vec!["mqtt.ca_file"]);
        assert!(
            errs[0].message.contains("no certificate"),
            "{}",
            errs[0].message
        );
        // Relative paths resolve against the config file's directory.
        let errs = parse("[mqtt]\nurl = \"mqtts://broker\"\nca_file = \"ca.pem\"\n").unwrap_err();
        assert!(
            errs[0].message.contains("/etc/vigia/ca.pem"),
            "{}",
            errs[0].message
        );
        let errs =
            parse("[mqtt]\nurl = \"mqtt://broker\"\nclient_key_file = \"k.pem\"\n").unwrap_err();
        assert_eq!(
            paths(&errs),
            vec!["mqtt.client_key_file", "mqtt.client_cert_file"]
        );
    }

    #[test]
    fn minimal_config_has_documented_defaults() {
        let c = parse("site = \"medellin\"\nnode = \"edge-01\"").unwrap();
        assert_eq!(c.topic_prefix(), "sies/medellin/edge-01");
        assert_eq!(c.client_id(), "vigia-medellin-edge-01");
        assert_eq!(c.data_dir, PathBuf::from("/etc/vigia/data"));
        assert_eq!(c.outbox_dir(), PathBuf::from("/etc/vigia/data/outbox"));
        assert!(c.mqtt.url.is_none());
        assert!(c.cameras.is_empty());
    }

    #[test]
    fn rule_errors_name_the_rule_and_field() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            r#"
utc_offset = "Bogota"
[motion]
width = 4
[[cameras]]
id = "lobby"
url = "rtsp://10.0.0.1/live"
[[rules]]
name = "ok"
camera = "lobby"
kind = "zone_intrusion"
zone = [[0, 0], [1, 0], [1, 1]]
[[rules]]
name = "ok"
camera = "lobby"
kind = "loitering"
[[rules]]
name = "elsewhere"
camera = "gate"
kind = "line_crossing"
line = [[0.5, 0], [0.5, 2]]
[[rules]]
name = "boats"
camera = "lobby"
kind = "zone_intrusion"
zone = [[0, 0], [1, 0], [1, 1]]
classes = ["boat"]
colour = "red"
[[rules]]
name = "scored"
camera = "lobby"
kind = "crowding"
zone = [[0, 0], [1, 0], [1, 1]]
min_count = 1
schedule = [{{ days = ["someday"], from = "25:00", to = "06:00" }}]
classifier = {{ manifest = "{cls}", label = "fight" }}
[[rules]]
name = "boats-only"
camera = "lobby"
kind = "zone_intrusion"
zone = [[0, 0], [1, 0], [1, 1]]
classes = ["boat"]
"#,
            cls = root.join("models/ppocr_cls.toml").display()
        );
        let errs = parse(&text).unwrap_err();
        let p = paths(&errs);
        for want in [
            "utc_offset",
            "motion.width",
            "rules[1].name",
            "rules[1].zone",
            "rules[1].dwell_secs",
            "rules[2].camera",
            "rules[2].line",
            "rules[3].colour",
            "rules[5].classes",
            "rules[4].min_count",
            "rules[4].schedule[0]",
            "rules[4].classifier.label",
        ] {
            assert!(p.contains(&want), "missing {want} in {errs:#?}");
        }
        // A good rule is accepted with its defaults.
        let ok = parse(
            "[[cameras]]\nid = \"lobby\"\nurl = \"rtsp://h/x\"\n[[rules]]\nname = \"exit\"\ncamera = \"lobby\"\nkind = \"line_crossing\"\nline = [[0.5, 0], [0.5, 1]]\n",
        )
        .unwrap();
        assert_eq!(ok.rules.len(), 1);
        assert_eq!(ok.rules[0].severity, vigia_core::event::Severity::Medium);
    }

    #[test]
    fn reports_every_error_with_its_path() {
        let text = r#"
site = "a b"
colour = "red"
[outbox]
fsync = "sometimes"
[mqtt]
inflight_window = 0
[[cameras]]
id = "ok-1"
url = "rtsp://10.0.0.1/live"
[[cameras]]
id = "ok-1"
url = "rtsp://10.0.0.2/live"
[[cameras]]
id = "bad/id"
url = "rtsp://10.0.0.3/live"
[[cameras]]
id = "cam-4"
url = "ftp://x"
analysis_fps = -1.0
[[cameras]]
id = "cam-5"
url = "rtsp://h/x"
stall_timeout = 5
"#;
        let errs = parse(text).unwrap_err();
        let p = paths(&errs);
        for want in [
            "colour",
            "outbox.fsync",
            "cameras[2].id",
            "cameras[4].stall_timeout",
            "site",
            "cameras[1].id",
            "cameras[3].url",
            "cameras[3].analysis_fps",
            "mqtt.inflight_window",
        ] {
            assert!(p.contains(&want), "missing {want} in {errs:#?}");
        }
        let unknown = errs
            .iter()
            .find(|e| e.path == "cameras[4].stall_timeout")
            .unwrap();
        assert!(unknown.message.starts_with("unknown field"), "{unknown}");
        assert!(!unknown.message.contains('\n'), "{unknown}");
    }

    #[test]
    fn toml_syntax_errors_name_the_line() {
        let errs = parse("site = \"x\"\n[mqtt\nurl = 1").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("line 2"), "{}", errs[0]);
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = Config::parse(
            "data_dir = \"state\"\n[outbox]\ndir = \"/abs/outbox\"\n[inference.detector]\nmanifest = \"../models/yolox_nano.toml\"\n",
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs"),
            Path::new("x.toml"),
        )
        .unwrap();
        assert!(c.data_dir.ends_with("configs/state"));
        assert_eq!(c.outbox_dir(), PathBuf::from("/abs/outbox"));
    }

    #[test]
    fn unknown_classes_and_missing_files_are_reported() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            "[inference.detector]\nmanifest = \"{}\"\nclasses = [\"car\", \"unicorn\"]\n[simulator]\nstreams = [{{ path = \"a\", file = \"/no/such.mp4\" }}]\n[[cameras]]\nid = \"f\"\nurl = \"file:///no/such/file.mp4\"\n",
            root.join("models/yolox_nano.toml").display()
        );
        let errs = Config::parse(&text, Path::new("/"), Path::new("x.toml")).unwrap_err();
        let p = paths(&errs);
        assert_eq!(
            p,
            vec![
                "cameras[0].url",
                "simulator.streams[0].file",
                "inference.detector.classes"
            ],
            "{errs:#?}"
        );
        assert!(errs[2].message.contains("unicorn"));
    }

    #[test]
    fn shipped_configs_are_valid() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // The edge example names install paths; point its manifest at this checkout.
        let edge = std::fs::read_to_string(root.join("configs/edge.example.toml"))
            .unwrap()
            .replace(
                "/opt/vigia/models/yolox_nano.toml",
                &root.join("models/yolox_nano.toml").display().to_string(),
            );
        let c = Config::parse(&edge, &root.join("configs"), Path::new("edge.example.toml"))
            .unwrap_or_else(|e| panic!("{e:#?}"));
        assert_eq!(c.cameras.len(), 3);
        assert_eq!(c.topic_prefix(), "sies/medellin/edge-norte-01");
        // The demo config refers to ../shared; check it where that exists.
        if root.join("../shared/data/video").is_dir() {
            Config::load(&root.join("configs/demo.toml")).unwrap();
        }
    }
}

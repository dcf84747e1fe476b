//! Checks of the values together, once every section parsed: unique ids, files that
//! exist, models whose labels include the configured classes, rules that name real cameras.

use std::collections::HashSet;

use vigia_core::CameraId;
use vigia_infer::ModelManifest;

use super::{Collector, Config};

impl Config {
    pub(super) fn check(&self, c: &mut Collector, positions: &[usize]) {
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
            c.fields(&format!("cameras[{i}]"), cam.validate());
        }
        c.fields("telemetry", self.telemetry.validate());
        c.fields("inference", self.inference.validate());
        c.fields("tracker", self.tracker.validate());
        if self.cameras.iter().any(|c| c.lpr) {
            c.fields("lpr", self.lpr.validate());
            let look_alike = self.lpr.look_alike_ocr().map(|p| ("lpr.look_alike_ocr", p));
            for (key, path) in [
                ("lpr.plate_detector", self.lpr.plate_detector.as_path()),
                ("lpr.ocr", self.lpr.ocr.as_path()),
            ]
            .into_iter()
            .chain(look_alike)
            {
                if let Err(e) = ModelManifest::load(path) {
                    c.push(key, e.to_string());
                }
            }
        }
        c.fields("snapshots", self.snapshots.validate());
        let ids: Vec<CameraId> = self.cameras.iter().map(|c| c.id.clone()).collect();
        c.fields("alarms", self.alarms.validate(&ids));
        if let Some(f) = &self.fleet {
            c.fields("fleet", f.validate());
        }
        c.fields("outbox", self.outbox.validate());
        self.check_mqtt(c);
        self.check_simulator(c);
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
                if m.input.fit != vigia_infer::manifest::InputFit::Aspect {
                    for (cam, &i) in self.cameras.iter().zip(positions) {
                        if cam.detector_width.is_some() {
                            c.push(
                                format!("cameras[{i}].detector_width"),
                                format!(
                                    "model {} has a fixed input size ({}x{}); detector_width needs a detector with fit = \"aspect\" (models/yolox_nano_fit.toml)",
                                    m.name, m.input.width, m.input.height
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    fn check_mqtt(&self, c: &mut Collector) {
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
        c.fields("mqtt", mqtt_errors);
    }

    fn check_simulator(&self, c: &mut Collector) {
        let Some(sim) = &self.simulator else {
            return;
        };
        {
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
    }

    pub(super) fn check_rules(&self, c: &mut Collector, positions: &[usize]) {
        c.fields("motion", self.motion.validate());
        let detected = &self.inference.detector.classes;
        let mut names = HashSet::new();
        for (r, &i) in self.rules.iter().zip(positions) {
            let at = |f: &str| format!("rules[{i}].{f}");
            c.fields(&format!("rules[{i}]"), r.validate());
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
}

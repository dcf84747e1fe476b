//! Relative paths in the file resolve against the file's directory.

use std::path::{Path, PathBuf};

use super::Config;

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Config {
    pub(super) fn resolve_paths(&mut self, base: &Path) {
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
        if let Some(p) = self.lpr.look_alike_ocr() {
            self.lpr.look_alike_ocr = resolve(base, p);
        }
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
            &mut self.telemetry.http_token_file,
            &mut self.telemetry.http_tls_cert_file,
            &mut self.telemetry.http_tls_key_file,
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
}

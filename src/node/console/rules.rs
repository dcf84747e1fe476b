//! The console's rule editor: a camera's zones and lines as the config file has them, and
//! an edited zone or line turned into the TOML it corresponds to, checked with the same
//! checks as `vigia check-config` (the whole file, with the edit, through
//! [`Config::parse`]).
//!
//! The file is edited with `toml_edit`, which keeps every comment and layout of the rest
//! of the file; the console shows the edited `[[rules]]` table. Checking writes nothing.
//! Saving ([`save_edit`]) writes the file only when the whole edited file passes the checks
//! and the file has not changed since it was read: a copy of the old file is kept beside it
//! (`<file>.bak-<UTC time>`) and the new text replaces it atomically (written to a temporary
//! file, synced, renamed); the node then reloads it live like any other change.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use serde::{Deserialize, Serialize};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use crate::config::Config;

/// A rule as the console draws it.
#[derive(Debug, Serialize)]
pub struct RuleView {
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
    pub severity: &'static str,
    pub zone: Option<Vec<[f32; 2]>>,
    pub line: Option<[[f32; 2]; 2]>,
    /// `wrong_way`: the allowed direction.
    pub direction: Option<[f32; 2]>,
}

/// The rules of `camera` in the config file.
pub fn camera_rules(config: &Path, camera: &str) -> Result<Vec<RuleView>> {
    let (cfg, _) = Config::load_lenient(config).map_err(|e| anyhow!("{e}"))?;
    if !cfg.cameras.iter().any(|c| c.id.as_str() == camera) {
        return Err(anyhow!("no camera {camera:?} in {}", config.display()));
    }
    Ok(cfg
        .rules
        .iter()
        .filter(|r| r.camera.as_str() == camera)
        .map(|r| RuleView {
            name: r.name.clone(),
            kind: r.kind.as_str(),
            enabled: r.enabled,
            severity: r.severity.as_str(),
            zone: r.zone.clone(),
            line: r.line,
            direction: r.direction,
        })
        .collect())
}

/// An edit made in the console: a rule's new zone or line (fractions of the frame).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEdit {
    pub rule: String,
    #[serde(default)]
    pub zone: Option<Vec<[f32; 2]>>,
    #[serde(default)]
    pub line: Option<[[f32; 2]; 2]>,
}

/// What an edit comes to.
#[derive(Debug, Serialize)]
pub struct EditOutcome {
    /// The whole file with the edit passes `vigia check-config`.
    pub ok: bool,
    /// `path: message`, as `check-config` prints them.
    pub errors: Vec<String>,
    /// The edited rule's `[[rules]]` table.
    pub toml: String,
}

/// Applies `edit` to `camera`'s rule in the file's text and checks the result.
pub fn check_edit(config: &Path, camera: &str, edit: &RuleEdit) -> Result<EditOutcome> {
    Ok(checked(config, camera, edit)?.2)
}

/// The file's text, the text with the edit, and the verdict on it.
fn checked(config: &Path, camera: &str, edit: &RuleEdit) -> Result<(String, String, EditOutcome)> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let (edited, table) = apply(&text, camera, edit)?;
    let errors: Vec<String> = match Config::parse(&edited, &Config::base_dir(config), config) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    };
    let outcome = EditOutcome {
        ok: errors.is_empty(),
        errors,
        toml: table,
    };
    Ok((text, edited, outcome))
}

/// A saved edit.
#[derive(Debug, Serialize)]
pub struct Saved {
    #[serde(flatten)]
    pub outcome: EditOutcome,
    /// Where the file was before the edit (`None`: not saved, the edit was refused).
    pub backup: Option<PathBuf>,
}

/// Applies `edit` and, when the whole file passes the checks, writes it (see the module
/// docs).
pub fn save_edit(config: &Path, camera: &str, edit: &RuleEdit) -> Result<Saved> {
    let (text, edited, outcome) = checked(config, camera, edit)?;
    if !outcome.ok {
        return Ok(Saved {
            outcome,
            backup: None,
        });
    }
    let name = config
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file", config.display()))?
        .to_string_lossy()
        .to_string();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let backup = config.with_file_name(format!("{name}.bak-{stamp}"));
    std::fs::write(&backup, &text)
        .with_context(|| format!("writing the backup {}", backup.display()))?;
    let tmp = config.with_file_name(format!(".{name}.console-tmp"));
    write_synced(&tmp, edited.as_bytes(), config)?;
    // Someone else's change since the read is not overwritten.
    if std::fs::read_to_string(config).ok().as_deref() != Some(text.as_str()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!(
            "{} changed while the edit was checked; nothing was saved: check again",
            config.display()
        ));
    }
    std::fs::rename(&tmp, config).with_context(|| format!("replacing {}", config.display()))?;
    if let Some(dir) = config.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself is durable once the directory is synced.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(Saved {
        outcome,
        backup: Some(backup),
    })
}

/// Writes `bytes` to `tmp` with `like`'s permissions, and syncs it.
fn write_synced(tmp: &Path, bytes: &[u8], like: &Path) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(like) {
        let _ = std::fs::set_permissions(tmp, meta.permissions());
    }
    Ok(())
}

/// The file's text with the edit, and the edited rule's table as TOML.
fn apply(text: &str, camera: &str, edit: &RuleEdit) -> Result<(String, String)> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| anyhow!("the config file is not TOML: {e}"))?;
    let rules = doc
        .get_mut("rules")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| anyhow!("the config file has no [[rules]]"))?;
    let table = rules
        .iter_mut()
        .find(|t| {
            t.get("name").and_then(Item::as_str) == Some(edit.rule.as_str())
                && t.get("camera").and_then(Item::as_str) == Some(camera)
        })
        .ok_or_else(|| anyhow!("camera {camera:?} has no rule {:?}", edit.rule))?;
    match (&edit.zone, &edit.line) {
        (Some(zone), None) => set_points(table, "zone", zone),
        (None, Some(line)) => set_points(table, "line", line),
        _ => return Err(anyhow!("an edit sets either `zone` or `line`")),
    }
    let snippet = format!("[[rules]]\n{table}");
    Ok((doc.to_string(), snippet))
}

/// `key = [[x, y], ...]`, rounded to 1/1000 of the frame (finer than a pixel at 720p).
fn set_points(table: &mut Table, key: &str, points: &[[f32; 2]]) {
    let round = |v: f32| (f64::from(v) * 1000.0).round() / 1000.0;
    let mut outer = Array::new();
    for p in points {
        let mut inner = Array::new();
        inner.push(round(p[0]));
        inner.push(round(p[1]));
        outer.push(inner);
    }
    let decor = table
        .get(key)
        .and_then(Item::as_value)
        .map(|v| v.decor().clone());
    let mut value = Value::Array(outer);
    if let Some(d) = decor {
        *value.decor_mut() = d;
    }
    table.insert(key, Item::Value(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# The lobby.
site = "s"

[[cameras]]
id = "lobby"
url = "rtsp://10.0.0.1/live"

[[rules]]
name = "table-area"   # the tables
camera = "lobby"
kind = "zone_intrusion"
zone = [[0.4, 0.6], [0.75, 0.6], [0.75, 0.98]]

[[rules]]
name = "exit"
camera = "lobby"
kind = "line_crossing"
line = [[0.78, 0.3], [0.78, 1.0]]
"#;

    fn edit(rule: &str, zone: Option<Vec<[f32; 2]>>, line: Option<[[f32; 2]; 2]>) -> RuleEdit {
        RuleEdit {
            rule: rule.into(),
            zone,
            line,
        }
    }

    #[test]
    fn an_edited_zone_keeps_the_rest_of_the_file() {
        let e = edit(
            "table-area",
            Some(vec![[0.1, 0.2], [0.5, 0.2], [0.3333, 0.9]]),
            None,
        );
        let (text, table) = apply(FILE, "lobby", &e).unwrap();
        assert!(text.starts_with("# The lobby."), "{text}");
        assert!(
            text.contains("name = \"table-area\"   # the tables"),
            "{text}"
        );
        assert!(
            text.contains("zone = [[0.1, 0.2], [0.5, 0.2], [0.333, 0.9]]"),
            "{text}"
        );
        assert!(text.contains("line = [[0.78, 0.3], [0.78, 1.0]]"), "{text}");
        assert!(
            table.starts_with("[[rules]]\nname = \"table-area\""),
            "{table}"
        );
        assert!(
            table.contains("zone = [[0.1, 0.2], [0.5, 0.2], [0.333, 0.9]]"),
            "{table}"
        );
        assert!(!table.contains("exit"), "{table}");
    }

    #[test]
    fn edits_name_an_existing_rule_and_one_shape() {
        let line = Some([[0.5, 0.0], [0.5, 1.0]]);
        let (_, table) = apply(FILE, "lobby", &edit("exit", None, line)).unwrap();
        assert!(table.contains("line = [[0.5, 0.0], [0.5, 1.0]]"), "{table}");
        let err = apply(FILE, "lobby", &edit("nope", None, line)).unwrap_err();
        assert!(err.to_string().contains("no rule \"nope\""), "{err}");
        let err = apply(FILE, "gate", &edit("exit", None, line)).unwrap_err();
        assert!(err.to_string().contains("camera \"gate\""), "{err}");
        let err = apply(FILE, "lobby", &edit("exit", None, None)).unwrap_err();
        assert!(err.to_string().contains("either"), "{err}");
    }

    #[test]
    fn the_edit_is_checked_like_check_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigia.toml");
        let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let detector = format!(
            "\n[inference.detector]\nmanifest = \"{}\"\n",
            models.join("yolox_nano.toml").display()
        );
        std::fs::write(&path, format!("{FILE}{detector}")).unwrap();
        let good = edit(
            "table-area",
            Some(vec![[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]),
            None,
        );
        let out = check_edit(&path, "lobby", &good).unwrap();
        assert!(out.ok, "{:?}", out.errors);
        // A zone of two points and one outside the frame: refused with the rule's path.
        let bad = edit("table-area", Some(vec![[0.1, 0.1], [1.5, 0.1]]), None);
        let out = check_edit(&path, "lobby", &bad).unwrap();
        assert!(!out.ok);
        assert!(
            out.errors.iter().any(|e| e.starts_with("rules[0].zone")),
            "{:?}",
            out.errors
        );
        let views = camera_rules(&path, "lobby").unwrap();
        assert_eq!(views.len(), 2);
        assert_eq!(views[1].kind, "line_crossing");
        assert!(camera_rules(&path, "gate").is_err());
    }

    #[test]
    fn a_saved_edit_replaces_the_file_and_keeps_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigia.toml");
        let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let original = format!(
            "{FILE}\n[inference.detector]\nmanifest = \"{}\"\n",
            models.join("yolox_nano.toml").display()
        );
        std::fs::write(&path, &original).unwrap();
        // Refused: nothing written, no backup.
        let bad = edit("table-area", Some(vec![[0.1, 0.1], [1.5, 0.1]]), None);
        let out = save_edit(&path, "lobby", &bad).unwrap();
        assert!(!out.outcome.ok && out.backup.is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
        // Accepted: the file has the new zone and its comments; the backup is the old file.
        let good = edit(
            "table-area",
            Some(vec![[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]),
            None,
        );
        let out = save_edit(&path, "lobby", &good).unwrap();
        assert!(out.outcome.ok, "{:?}", out.outcome.errors);
        let now = std::fs::read_to_string(&path).unwrap();
        assert!(
            now.contains("zone = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]"),
            "{now}"
        );
        assert!(now.contains("# the tables"), "{now}");
        let backup = out.backup.unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
        assert!(Config::load(&path).is_ok());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }
}

//! Shared by the integration tests: the published event schema.

#![allow(dead_code)]

pub mod process;
pub mod samples;

use std::sync::OnceLock;

use serde_json::Value;

/// The start of a test node's config: identity, state directory, HTTP port, ONNX Runtime
/// and models from the set-up, the YOLOX detector. `telemetry` and `inference` are extra
/// lines for those tables; the caller appends `[mqtt]`, cameras, rules.
pub fn node_config_head(
    node: &str,
    data_dir: &std::path::Path,
    http_port: u16,
    telemetry: &str,
    inference: &str,
) -> String {
    let root = vigia_testkit::paths::project_root();
    format!(
        r#"
site = "test"
node = "{node}"
data_dir = "{data}"
[telemetry]
http_listen = "127.0.0.1:{http_port}"
{telemetry}
[inference]
ort_library = "{root}/.vigia/onnxruntime/libonnxruntime.so.1.31.1"
models_dirs = ["{root}/.vigia/models"]
{inference}
[inference.detector]
manifest = "{root}/models/yolox_nano_fit.toml"
"#,
        data = data_dir.display(),
        root = root.display(),
    )
}

/// The event contract's JSON Schema, as published in docs/.
pub fn event_schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| load_schema("vigia.event.v1.schema.json"))
}

fn load_schema(name: &str) -> jsonschema::Validator {
    let path = vigia_testkit::paths::project_root()
        .join("docs/schema")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

/// The node stats schema (docs/schema/vigia.stats.v1.schema.json).
pub fn stats_schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| load_schema("vigia.stats.v1.schema.json"))
}

/// The ONVIF mirror schema (docs/schema/onvif-ej.v1.schema.json).
pub fn onvif_schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| load_schema("onvif-ej.v1.schema.json"))
}

/// Every way `event` breaks the schema (empty when it validates).
pub fn schema_errors(event: &Value) -> Vec<String> {
    errors_of(event_schema(), event)
}

fn errors_of(validator: &jsonschema::Validator, v: &Value) -> Vec<String> {
    validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Panics, naming the event and the errors, when `event` does not validate.
pub fn assert_valid_event(event: &Value) {
    let errors = schema_errors(event);
    assert!(
        errors.is_empty(),
        "event does not match docs/schema/vigia.event.v1.schema.json:\n{}\n{}",
        serde_json::to_string_pretty(event).unwrap_or_default(),
        errors.join("\n")
    );
}

fn assert_valid(validator: &jsonschema::Validator, what: &str, v: &Value) {
    let errors = errors_of(validator, v);
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{v}\n{}",
        errors.join("\n")
    );
}

/// Panics, naming the message and the errors, when node stats do not validate.
pub fn assert_valid_stats(stats: &Value) {
    assert_valid(stats_schema(), "stats", stats);
}

/// Panics when an ONVIF-style mirror message does not validate.
pub fn assert_valid_onvif(m: &Value) {
    assert_valid(onvif_schema(), "ONVIF mirror message", m);
}

/// The value of the first Prometheus sample whose line starts with `name` (0 when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

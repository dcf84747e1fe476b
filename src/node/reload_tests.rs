use std::path::Path;

use super::*;

fn config(body: &str) -> Config {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let manifest = models.join("yolox_nano.toml");
    let text = format!(
        "{body}\n[inference.detector]\nmanifest = \"{}\"\n[lpr]\nplate_detector = \"{}\"\nocr = \"{}\"\nlook_alike_ocr = \"{}\"\n",
        manifest.display(),
        models.join("platedet.toml").display(),
        models.join("cct_xs_v1_global.toml").display(),
        models.join("ppocr_v4_rec.toml").display(),
    );
    Config::parse(&text, Path::new("/"), Path::new("/etc/vigia/vigia.toml")).unwrap()
}

const TWO: &str = r#"
[[cameras]]
id = "a"
url = "test://ball"
[[cameras]]
id = "b"
url = "test://smpte"
[[rules]]
name = "yard"
camera = "b"
kind = "zone_intrusion"
zone = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]
"#;

#[test]
fn the_plan_touches_only_cameras_whose_entry_or_rules_changed() {
    let running = config(TWO);
    assert_eq!(plan(&running, &running), Plan::default());

    // b's rule changes, c is added, a stays: only b restarts.
    let new = config(&format!(
        "{}\n[[cameras]]\nid = \"c\"\nurl = \"test://snow\"\n",
        TWO.replace("[0.0, 0.0], [1.0, 0.0]", "[0.0, 0.0], [0.5, 0.0]")
    ));
    let p = plan(&running, &new);
    let ids = |c: &[CameraConfig]| c.iter().map(|c| c.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&p.changed), ["b"]);
    assert_eq!(ids(&p.added), ["c"]);
    assert!(p.removed.is_empty() && p.needs_restart.is_empty(), "{p:?}");

    // a is removed, b's URL changes, MQTT changes (that one waits for a restart).
    let new = config(
        &TWO.replace("[[cameras]]\nid = \"a\"\nurl = \"test://ball\"\n", "")
            .replace("test://smpte", "test://smpte?fps=5")
            .replace(
                "[[rules]]",
                "[mqtt]\nurl = \"mqtt://broker:1884\"\n[[rules]]",
            ),
    );
    let p = plan(&running, &new);
    assert_eq!(p.removed, [CameraId::new("a").unwrap()]);
    assert_eq!(ids(&p.changed), ["b"]);
    assert_eq!(p.needs_restart, ["mqtt"]);

    // Disabling a camera is a change (it stops, and stays listed as disabled).
    let new = config(&TWO.replace(
        "url = \"test://ball\"",
        "url = \"test://ball\"\nenabled = false",
    ));
    assert_eq!(ids(&plan(&running, &new).changed), ["a"]);
}

#[test]
fn a_change_that_needs_models_not_loaded_is_refused_with_its_path() {
    let running = config(TWO);
    let new = config(&TWO.replace(
        "url = \"test://smpte\"",
        "url = \"test://smpte\"\nlpr = true",
    ));
    let p = plan(&running, &new);
    let errors = refusals(&new, &p, false);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("cameras[1].lpr: needs a restart"),
        "{errors:?}"
    );
    assert!(refusals(&new, &p, true).is_empty());
}

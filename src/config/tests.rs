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
    errs.iter().map(|e| e.field.as_str()).collect()
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
    let errs = parse("[mqtt]\nurl = \"mqtt://broker\"\nclient_key_file = \"k.pem\"\n").unwrap_err();
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
        .find(|e| e.field == "cameras[4].stall_timeout")
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
            "/opt/vigia/models/yolox_nano_fit.toml",
            &root
                .join("models/yolox_nano_fit.toml")
                .display()
                .to_string(),
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

#[test]
fn hotlist_layouts_are_checked_at_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("sijin.txt");
    std::fs::write(&f, "Hurto;ANT;ABC123\n").unwrap();
    let f = f.display();
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let lpr = format!(
        "[[cameras]]\nid = \"gate\"\nurl = \"test://ball\"\nlpr = true\n[lpr]\nplate_detector = \"{}\"\nocr = \"{}\"\nlook_alike_ocr = \"{}\"\n",
        models.join("platedet.toml").display(),
        models.join("cct_xs_v1_global.toml").display(),
        models.join("ppocr_v4_rec.toml").display()
    );
    let errs = parse(&format!(
        "{lpr}hotlists = [{{ path = \"{f}\", format = \"genetec\", fields = [\"Category\"] }}, {{ path = \"{f}\", delimiter = \";;\", priority = 101 }}]\n"
    ))
    .unwrap_err();
    assert_eq!(
        paths(&errs),
        vec![
            "lpr.hotlists[0].fields",
            "lpr.hotlists[1].delimiter",
            "lpr.hotlists[1].priority"
        ],
        "{errs:?}"
    );
    let ok = parse(&format!(
        "{lpr}hotlists = [{{ path = \"{f}\", format = \"genetec\", fields = [\"Category\", \"PlateState\", \"PlateNumber\"], priority = 0 }}]\n"
    ));
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn detector_width_needs_a_free_input_size_and_a_sane_width() {
    // The fixed 416x416 YOLOX-nano cannot read a camera at another size: said, not ignored.
    let errs = parse(
        "[[cameras]]\nid = \"a\"\nurl = \"test://ball\"\ndetector_width = 320\n[[cameras]]\nid = \"b\"\nurl = \"test://ball\"\ndetector_width = 8\n",
    )
    .unwrap_err();
    assert_eq!(
        paths(&errs),
        vec![
            "cameras[1].detector_width",
            "cameras[0].detector_width",
            "cameras[1].detector_width"
        ],
        "{errs:#?}"
    );
    assert!(errs[0].message.contains("32..=4096"), "{}", errs[0].message);
    assert!(
        errs[1].message.contains("fixed input size"),
        "{}",
        errs[1].message
    );
    // The default detector has a free input size.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ok = format!(
        "[inference.detector]\nmanifest = \"{}\"\n[[cameras]]\nid = \"a\"\nurl = \"test://ball\"\ndetector_width = 320\n",
        root.join("models/yolox_nano_fit.toml").display()
    );
    let c = Config::parse(&ok, Path::new("/"), Path::new("x.toml"))
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(c.cameras[0].detector_width, Some(320));
}

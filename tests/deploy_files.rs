//! The container image (deploy/Dockerfile), the compose file (deploy/compose.yaml and
//! deploy/compose/) and the Kubernetes manifests (deploy/k8s/), read and cross-checked
//! against each other and the code: ports, paths, the user, image names, the broker,
//! Prometheus and Grafana wiring, the fleet's etcd members, secrets. Where podman can
//! build here, the image is built and run too.

use std::path::{Path, PathBuf};

use vigia::Config;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

/// A config file's text, loaded as far as it parses; every problem must be a path that
/// exists only inside the image (models under /opt/vigia).
fn image_config(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("vigia.toml");
    std::fs::write(&f, text).unwrap();
    let (cfg, errors) = Config::load_lenient(&f).unwrap();
    for e in &errors {
        assert!(e.to_string().contains("/opt/vigia/"), "{e}\n{text}");
    }
    cfg
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read("deploy/Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_uppercase(), v.trim().to_string())
        })
        .collect()
}

fn one<'a>(d: &'a [(String, String)], key: &str) -> &'a str {
    let all: Vec<&str> = d
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(all.len(), 1, "{key}: {all:?}");
    all[0]
}

const CONFIG_PATH: &str = "/etc/vigia/vigia.toml";

#[test]
fn the_dockerfile_matches_the_container_config_and_the_repository() {
    let d = dockerfile();
    let cfg = image_config(&read("configs/container.toml"));
    let port = cfg.telemetry.http_listen.port();
    assert_eq!(one(&d, "EXPOSE"), port.to_string());
    assert!(one(&d, "HEALTHCHECK").contains(&format!("http://127.0.0.1:{port}/healthz")));
    let cmd = one(&d, "CMD");
    assert!(
        cmd.contains(CONFIG_PATH) && cmd.contains("\"run\""),
        "{cmd}"
    );
    assert_eq!(one(&d, "USER"), "vigia", "never root");
    assert_eq!(
        one(&d, "VOLUME"),
        format!("[\"{}\"]", cfg.data_dir.display())
    );
    assert!(
        d.iter()
            .any(|(k, v)| k == "RUN" && v.contains("useradd --system --uid 10001")),
        "the uid the Kubernetes securityContext uses"
    );
    // Every COPY from the build context exists (or is the set-up's output, .vigia/).
    let copies: Vec<&str> = d
        .iter()
        .filter(|(k, v)| k == "COPY" && !v.starts_with("--from"))
        .map(|(_, v)| v.as_str())
        .collect();
    for c in &copies {
        let src = c.split_whitespace().next().unwrap();
        if src.starts_with(".vigia/") {
            if vigia_testkit::paths::in_ci() {
                let p = root().join(src.trim_end_matches('/'));
                assert!(p.exists(), "{src}: the set-up should have made it");
            }
        } else if let Some(dir) = src.strip_suffix("/*.toml") {
            assert!(
                std::fs::read_dir(root().join(dir)).unwrap().count() > 0,
                "{src}"
            );
        } else {
            assert!(root().join(src).exists(), "{src}");
        }
    }
    assert!(
        copies
            .iter()
            .any(|c| *c == format!("configs/container.toml {CONFIG_PATH}"))
    );
    // The ONNX Runtime library where vigia looks in a container: ../lib beside its binary.
    let lib = format!("libonnxruntime.so.{}", vigia_infer::runtime::ORT_VERSION);
    assert!(
        copies
            .iter()
            .any(|c| c.ends_with(&format!("/usr/local/lib/{lib}"))),
        "{copies:?}"
    );
    assert!(
        d.iter()
            .any(|(k, v)| k == "COPY" && v.ends_with("/usr/local/bin/vigia"))
    );
    assert!(vigia_infer::runtime::LOCAL_LIBRARY.ends_with(&lib));
    // The build needs protoc (etcd-client), as the set-up installs it.
    assert!(
        d.iter()
            .any(|(k, v)| k == "RUN" && v.contains("protobuf-compiler"))
    );
    assert!(read("deploy/setup.sh").contains("protobuf-compiler"));
    for pkg in [
        "gstreamer1.0-libav",
        "gstreamer1.0-plugins-good",
        "gstreamer1.0-plugins-bad",
        "libgstrtspserver-1.0-0",
    ] {
        assert!(
            d.iter().any(|(k, v)| k == "RUN" && v.contains(pkg)),
            "{pkg}"
        );
    }
    let ignore = read("deploy/Dockerfile.dockerignore");
    assert!(ignore.lines().any(|l| l == "target/"));
    assert!(
        !ignore
            .lines()
            .any(|l| l == ".vigia/" || l.starts_with("models"))
    );
}

/// The services of deploy/compose.yaml.
fn compose() -> Yaml {
    yaml("deploy/compose.yaml").remove(0)
}

/// `(source, target)` of a service's volumes.
fn mounts(service: &Yaml) -> Vec<(String, String)> {
    service["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| {
            let parts: Vec<&str> = s(v).split(':').collect();
            (parts[0].to_string(), parts[1].to_string())
        })
        .collect()
}

fn mount_of(service: &Yaml, source: &str) -> String {
    mounts(service)
        .into_iter()
        .find(|(s, _)| s == source)
        .unwrap_or_else(|| panic!("no mount of {source}"))
        .1
}

#[test]
fn compose_wires_vigia_to_its_broker_prometheus_and_grafana() {
    let c = compose();
    let svc = &c["services"];
    let deploy = root().join("deploy");
    for name in ["mosquitto", "vigia", "prometheus", "grafana"] {
        assert!(!svc[name].is_badvalue(), "service {name}");
        for (src, _) in mounts(&svc[name]) {
            if src.starts_with("./") && !src.ends_with("mosquitto.passwd") {
                assert!(deploy.join(&src).exists(), "{name}: {src}");
            }
        }
    }
    // vigia: its config where the image's CMD reads it, its state on a volume.
    let v = &svc["vigia"];
    assert_eq!(s(&v["build"]["dockerfile"]), "deploy/Dockerfile");
    assert!(
        deploy
            .join(s(&v["build"]["context"]))
            .join("deploy/Dockerfile")
            .exists()
    );
    assert_eq!(mount_of(v, "./compose/vigia.toml"), CONFIG_PATH);
    let cfg = image_config(&read("deploy/compose/vigia.toml"));
    assert_eq!(
        mount_of(v, "vigia-data"),
        cfg.data_dir.display().to_string()
    );
    let port = cfg.telemetry.http_listen.port();
    assert_eq!(s(&v["ports"][0]), format!("{port}:{port}"));
    for env in [
        cfg.telemetry.http_token_env.clone().unwrap(),
        cfg.mqtt.password_env.clone().unwrap(),
    ] {
        assert!(!v["environment"][env.as_str()].is_badvalue(), "{env}");
    }
    // The broker vigia is told of is the compose mosquitto, with a password and persistence.
    assert_eq!(cfg.mqtt.url.as_deref(), Some("mqtt://mosquitto:1883"));
    let m = &svc["mosquitto"];
    assert_eq!(s(&m["ports"][0]), "1883:1883");
    let conf = read("deploy/compose/mosquitto.conf");
    let setting = |k: &str| {
        conf.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap_or_else(|| panic!("mosquitto.conf: {k}"))
            .to_string()
    };
    assert_eq!(setting("listener"), "1883");
    assert_eq!(setting("allow_anonymous"), "false");
    assert_eq!(
        setting("password_file"),
        mount_of(m, "./compose/mosquitto.passwd")
    );
    assert_eq!(setting("persistence"), "true");
    assert_eq!(
        setting("persistence_location").trim_end_matches('/'),
        mount_of(m, "mosquitto-data")
    );
    assert!(
        read(".gitignore").contains("deploy/compose/mosquitto.passwd"),
        "a secret"
    );
    // Prometheus scrapes vigia and loads the project's rules.
    let p = &svc["prometheus"];
    let prom = yaml("deploy/compose/prometheus.yml").remove(0);
    assert_eq!(
        mount_of(p, "./compose/prometheus.yml"),
        "/etc/prometheus/prometheus.yml"
    );
    assert_eq!(
        s(&prom["rule_files"][0]),
        mount_of(p, "./prometheus/vigia-alerts.yml")
    );
    assert_eq!(
        s(&prom["scrape_configs"][0]["static_configs"][0]["targets"][0]),
        format!("vigia:{port}")
    );
    assert!(
        cfg.telemetry.metrics_public,
        "Prometheus sends no token here"
    );
    // Grafana: the datasource is that Prometheus, the dashboard is the project's.
    let g = &svc["grafana"];
    let ds = yaml("deploy/compose/grafana/datasource.yaml").remove(0);
    assert_eq!(s(&ds["datasources"][0]["url"]), "http://prometheus:9090");
    assert_eq!(s(&p["ports"][0]), "9090:9090");
    let dash = mount_of(g, "./grafana/vigia-dashboard.json");
    let providers = yaml("deploy/compose/grafana/dashboards.yaml").remove(0);
    assert_eq!(
        Path::new(&dash).parent().unwrap(),
        Path::new(s(&providers["providers"][0]["options"]["path"]))
    );
}

/// The documents of a manifest file, by kind.
fn kind<'a>(docs: &'a [Yaml], k: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| s(&d["kind"]) == k)
        .unwrap_or_else(|| panic!("no {k}"))
}

#[test]
fn kubernetes_manifests_agree_with_the_image_and_the_fleet() {
    let etcd = yaml("deploy/k8s/etcd.yaml");
    let etcd_set = kind(&etcd, "StatefulSet");
    let members = etcd_set["spec"]["replicas"].as_i64().unwrap();
    assert_eq!(members, 3);
    let etcd_svc = s(&kind(&etcd, "Service")["metadata"]["name"]).to_string();
    let client_port = kind(&etcd, "Service")["spec"]["ports"][0]["port"]
        .as_i64()
        .unwrap();
    let secrets = yaml("deploy/k8s/vigia-secrets.yaml");
    let secret = kind(&secrets, "Secret");
    let version = env!("CARGO_PKG_VERSION");
    for (file, gpu) in [
        ("deploy/k8s/vigia.yaml", false),
        ("deploy/k8s/vigia-gpu.yaml", true),
    ] {
        let docs = yaml(file);
        let text = s(&kind(&docs, "ConfigMap")["data"]["vigia.toml"]).to_string();
        assert!(
            !text.lines().any(|l| l.starts_with("node ")),
            "{file}: node is the pod's host name"
        );
        let cfg = image_config(&text);
        let fleet = cfg
            .fleet
            .clone()
            .unwrap_or_else(|| panic!("{file}: [fleet]"));
        let want: Vec<String> = (0..members)
            .map(|i| format!("http://etcd-{i}.{etcd_svc}:{client_port}"))
            .collect();
        assert_eq!(fleet.etcd, want, "{file}");
        assert!(
            fleet.plate_reader,
            "{file}: LPR cameras may land on any pod"
        );
        let set = kind(&docs, "StatefulSet");
        let pod = &set["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        let port = cfg.telemetry.http_listen.port() as i64;
        assert_eq!(
            c["ports"][0]["containerPort"].as_i64(),
            Some(port),
            "{file}"
        );
        assert_eq!(
            kind(&docs, "Service")["spec"]["ports"][0]["port"].as_i64(),
            Some(port)
        );
        assert_eq!(
            s(&set["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]),
            port.to_string()
        );
        for (probe, path) in [
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
            ("startupProbe", "/healthz"),
        ] {
            assert_eq!(s(&c[probe]["httpGet"]["path"]), path, "{file} {probe}");
            assert_eq!(s(&c[probe]["httpGet"]["port"]), "http", "{file} {probe}");
        }
        let args: Vec<&str> = c["args"].as_vec().unwrap().iter().map(s).collect();
        assert_eq!(args, ["run", "--config", CONFIG_PATH], "{file}");
        let mount = |name: &str| {
            c["volumeMounts"]
                .as_vec()
                .unwrap()
                .iter()
                .find(|m| s(&m["name"]) == name)
                .map(|m| s(&m["mountPath"]).to_string())
                .unwrap()
        };
        assert_eq!(format!("{}/vigia.toml", mount("config")), CONFIG_PATH);
        assert_eq!(mount("data"), cfg.data_dir.display().to_string());
        assert_eq!(pod["securityContext"]["runAsUser"].as_i64(), Some(10001));
        // Secrets: the environment variables the config reads.
        assert_eq!(
            s(&c["envFrom"][0]["secretRef"]["name"]),
            s(&secret["metadata"]["name"])
        );
        for env in [
            cfg.telemetry.http_token_env.clone().unwrap(),
            cfg.mqtt.password_env.clone().unwrap(),
        ] {
            assert!(!secret["stringData"][env.as_str()].is_badvalue(), "{env}");
        }
        let image = s(&c["image"]);
        assert!(
            image.starts_with(&format!("registry.example/vigia:{version}")),
            "{image}"
        );
        let limits = &c["resources"]["limits"];
        if gpu {
            assert_eq!(limits["nvidia.com/gpu"].as_i64(), Some(1));
            assert_eq!(cfg.inference.execution_provider.as_str(), "cuda");
            assert!(image.ends_with("-cuda"));
        } else {
            assert!(limits["nvidia.com/gpu"].is_badvalue());
            assert_eq!(cfg.inference.execution_provider.as_str(), "cpu");
        }
    }
}

/// Builds and runs the image where podman can (it needs the base images from a registry).
#[test]
fn the_image_builds_and_runs_where_podman_can() {
    let podman = std::process::Command::new("podman")
        .arg("--version")
        .output();
    if podman.is_err() {
        vigia_testkit::paths::skip_unsupported(
            "container image",
            "podman is not installed here; the Dockerfile is checked by the other tests",
        );
        return;
    }
    let base = "docker.io/library/debian:12-slim";
    let have = std::process::Command::new("podman")
        .args(["image", "exists", base])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        vigia_testkit::paths::skip_unsupported(
            "container image",
            "no base image here and no registry to pull it from (this sandbox); see docs/deploy.md",
        );
        return;
    }
    let tag = "localhost/vigia:test";
    let built = std::process::Command::new("podman")
        .args(["build", "-f", "deploy/Dockerfile", "-t", tag, "."])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(built.success(), "podman build");
    let out = std::process::Command::new("podman")
        .args(["run", "--rm", tag, "doctor"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok    gstreamer") && text.contains("ok    onnxruntime"),
        "{text}"
    );
}

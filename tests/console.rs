//! The web console in a real browser: Debian's headless Chromium, driven over WebDriver
//! (chromedriver) by `fantoccini`, against the real `vigia` binary running the demo's three
//! cameras (recorded videos and plate photos served over RTSP by the simulator, the
//! embedded MQTT broker), behind an API token.
//!
//! It checks what docs/console.md promises: the console refuses a browser without the
//! token and loads with it; the camera grid shows the demo's cameras streaming with track
//! boxes drawn (found by their colour in a screenshot); an event the node publishes on MQTT
//! is in the events list within 2 s; a zone dragged in the browser gives TOML that
//! `vigia check-config` accepts. Screenshots of every page and the page weights are written
//! to `target/console-screenshots/` (and to `docs/console/` with `VIGIA_SCREENSHOTS=docs`).
//!
//! Run: `cargo test --test console`.

#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use vigia_testkit::{free_port, http, mqtt::Subscriber, paths};

use common::process::VigiaProcess;

const TOKEN: &str = "console-test-token-5a1f";
/// The colour the console draws track boxes in (console.js `BOX`).
const BOX: [u8; 3] = [255, 0, 255];

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(log: &Path) -> Driver {
        let port = free_port().unwrap();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) starts");
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo's config on free ports, with an API token, a state directory of its own and
/// absolute paths.
fn demo_config(dir: &Path, http_port: u16, rtsp_port: u16, mqtt_port: u16) -> PathBuf {
    let root = paths::project_root();
    let configs = root.join("configs");
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let text = std::fs::read_to_string(configs.join("demo.toml")).unwrap();
    let replace = |text: String, from: &str, to: &str| {
        assert!(text.contains(from), "configs/demo.toml has no {from:?}");
        text.replace(from, to)
    };
    let mut text = replace(
        text,
        "data_dir = \"../.vigia/demo-data\"",
        &format!("data_dir = \"{}\"", dir.join("data").display()),
    );
    text = replace(
        text,
        "http_listen = \"127.0.0.1:9400\"",
        &format!(
            "http_listen = \"127.0.0.1:{http_port}\"\nhttp_token_file = \"{}\"",
            token_file.display()
        ),
    );
    text = replace(text, "127.0.0.1:8554", &format!("127.0.0.1:{rtsp_port}"));
    text = replace(text, "\"../", &format!("\"{}/../", configs.display()));
    text = replace(
        text,
        "\"demo-hotlist.csv\"",
        &format!("\"{}/demo-hotlist.csv\"", configs.display()),
    );
    text.push_str(&format!(
        "\n[mqtt]\nembedded_listen = \"127.0.0.1:{mqtt_port}\"\n"
    ));
    let path = dir.join("demo.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                "--force-device-scale-factor=1",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let caps = caps.as_object().unwrap().clone();
    let url = format!("http://127.0.0.1:{}", driver.port);
    let t0 = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return c,
            Err(e) if t0.elapsed() < Duration::from_secs(20) => {
                eprintln!("waiting for chromedriver: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("cannot start Chromium through chromedriver: {e}"),
        }
    }
}

/// Runs `script` (a function body returning a value) until it returns something truthy.
async fn wait_for(c: &Client, what: &str, within: Duration, script: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        let truthy =
            !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
        if truthy {
            return v;
        }
        assert!(t0.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Switches the console to the page `hash`, counting what it transfers from then on.
async fn show(c: &Client, hash: &str) {
    c.execute(
        "performance.clearResourceTimings(); location.hash = arguments[0]",
        vec![json!(hash)],
    )
    .await
    .unwrap();
}

/// Where screenshots go.
fn shots_dir() -> Vec<PathBuf> {
    let root = paths::project_root();
    let mut dirs = vec![root.join("target/console-screenshots")];
    if std::env::var("VIGIA_SCREENSHOTS").as_deref() == Ok("docs") {
        dirs.push(root.join("docs/console"));
    }
    dirs
}

async fn screenshot(c: &Client, name: &str) -> image::RgbaImage {
    let png = c.screenshot().await.unwrap();
    for dir in shots_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    }
    image::load_from_memory(&png).unwrap().to_rgba8()
}

/// Keeps screenshot `from` as `to`.
fn keep_screenshot(from: &str, to: &str) {
    for dir in shots_dir() {
        std::fs::copy(
            dir.join(format!("{from}.png")),
            dir.join(format!("{to}.png")),
        )
        .unwrap();
    }
}

/// Pixels of the box colour inside `rect` (`[x, y, w, h]`, CSS pixels = screenshot pixels).
fn box_pixels(shot: &image::RgbaImage, rect: &[f64]) -> usize {
    let (x0, y0) = (rect[0].max(0.0) as u32, rect[1].max(0.0) as u32);
    let x1 = ((rect[0] + rect[2]) as u32).min(shot.width());
    let y1 = ((rect[1] + rect[3]) as u32).min(shot.height());
    let near = |p: &image::Rgba<u8>| (0..3).all(|i| p[i].abs_diff(BOX[i]) <= 40);
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .filter(|&(x, y)| near(shot.get_pixel(x, y)))
        .count()
}

/// KB transferred since the resource timings were last cleared: every resource, or only the
/// console's own script and stylesheet; with the document itself when `with_document`.
async fn weight_kb(c: &Client, with_document: bool, assets_only: bool) -> f64 {
    let script = format!(
        "const n = performance.getEntriesByType('navigation')[0];
         const r = performance.getEntriesByType('resource')
           .filter(e => !{assets_only} || e.name.includes('/console/assets/'))
           .reduce((s, e) => s + e.transferSize, 0);
         return (r + ({with_document} ? n.transferSize : 0)) / 1024;"
    );
    c.execute(&script, vec![]).await.unwrap().as_f64().unwrap()
}

#[test]
fn the_console_in_a_real_browser() {
    let chromium = Path::new("/usr/bin/chromium").exists();
    let driver = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok();
    if !chromium || !driver {
        paths::skip(
            "console",
            "Chromium and chromedriver are missing (Debian packages chromium, chromium-driver; `make test` installs them)",
        );
        return;
    }
    if paths::shared_file("data/video/car-detection.mp4").is_err() {
        paths::skip("console", "../shared/data is missing");
        return;
    }
    tokio::runtime::Runtime::new().unwrap().block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let (http_port, rtsp_port, mqtt_port) = (
        free_port().unwrap(),
        free_port().unwrap(),
        free_port().unwrap(),
    );
    let config = demo_config(dir.path(), http_port, rtsp_port, mqtt_port);
    let log = dir.path().join("vigia.log");
    let node = VigiaProcess::spawn(&config, &log);
    let t0 = Instant::now();
    while !matches!(http::get(http_port, "/readyz").await, Ok((200, _))) {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the demo node was not ready in 90 s; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Without the token the console's data is refused outright.
    for path in [
        "/console/api/health",
        "/console/api/events",
        "/console/api/rules/lobby",
    ] {
        let (code, _) = http::get(http_port, path).await.unwrap();
        assert_eq!(code, 401, "{path} without a token");
    }

    let driver = Driver::start(&dir.path().join("chromedriver.log"));
    let c = browser(&driver, &dir.path().join("chromium")).await;
    let base = format!("http://127.0.0.1:{http_port}");
    let result = pages(&c, &base, mqtt_port, &config).await;
    let _ = c.close().await;
    drop(driver);
    node.terminate();
    if let Err(e) = result {
        panic!(
            "{e}\nvigia's log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

async fn pages(c: &Client, base: &str, mqtt_port: u16, config: &Path) -> Result<(), String> {
    let mut weights = Vec::new();
    let t = Instant::now();
    login(c, base, &mut weights).await;
    eprintln!("login checked at {:?}", t.elapsed());
    cameras(c, &mut weights).await;
    eprintln!("cameras checked at {:?}", t.elapsed());
    events(c, mqtt_port, &mut weights).await;
    eprintln!("events checked at {:?}", t.elapsed());
    rules(c, config, &mut weights).await;
    eprintln!("rules checked at {:?}", t.elapsed());
    health(c, &mut weights).await;
    eprintln!("health checked at {:?}", t.elapsed());
    let report: String = weights
        .iter()
        .map(|(page, kb)| format!("{page}: {kb:.1} KB\n"))
        .collect();
    eprintln!("console page weights (transferred on first load):\n{report}");
    for dir in shots_dir() {
        std::fs::write(dir.join("weights.txt"), &report).unwrap();
    }
    Ok(())
}

/// Refused without the token, signed in with it.
async fn login(c: &Client, base: &str, weights: &mut Vec<(String, f64)>) {
    c.goto(&format!("{base}/console/")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(
        url.path(),
        "/console/login",
        "without a session the console sends to its login"
    );
    assert!(
        c.find(Locator::Css("#grid")).await.is_err(),
        "no camera grid without a token"
    );
    let field = c.find(Locator::Css("input[name=token]")).await.unwrap();
    field.send_keys("not-the-token").await.unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let refused = wait_for(
        c,
        "the refusal",
        Duration::from_secs(5),
        "return document.querySelector('.error') && document.querySelector('.error').textContent",
    )
    .await;
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("not this node's API token"),
        "{refused}"
    );
    screenshot(c, "login").await;
    let field = c.find(Locator::Css("input[name=token]")).await.unwrap();
    field.send_keys(TOKEN).await.unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        c,
        "the console after signing in",
        Duration::from_secs(10),
        "return location.pathname === '/console/' && document.querySelector('#grid')",
    )
    .await;
    // First load: the page, its script and stylesheet and the first data requests.
    tokio::time::sleep(Duration::from_secs(2)).await;
    weights.push((
        "console page: HTML, script and stylesheet".into(),
        weight_kb(c, true, true).await,
    ));
    weights.push((
        "console first load with its first 2 s of data (status, cameras, three pictures, recent events)".into(),
        weight_kb(c, true, false).await,
    ));
}

/// The demo's three cameras streaming, with track boxes drawn where objects are.
async fn cameras(c: &Client, weights: &mut Vec<(String, f64)>) {
    wait_for(c, "three streaming cameras", Duration::from_secs(30),
        "return [...document.querySelectorAll('.cam')].filter(e => e.dataset.state === 'streaming').length === 3").await;
    // Cars in the car park, people in the lobby: boxes drawn on each. Boxes come and go
    // with the scene, so a screenshot counts for a camera when its picture held boxes before
    // and after it was taken (the same picture); the page's screenshot is kept from a moment
    // with boxes on both when there is one.
    const STATE: &str = "return ['car-park', 'lobby'].map(id => {
         const c = document.querySelector(`.cam[data-camera='${id}'] canvas`);
         const r = c.getBoundingClientRect();
         return [+(c.dataset.boxes || 0), c.dataset.seq || '', r.x, r.y, r.width, r.height];
       })";
    let t0 = Instant::now();
    let mut checked = [false, false];
    while !(checked[0] && checked[1]) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no boxes drawn on {} in 120 s",
            if checked[0] {
                "the lobby"
            } else {
                "the car park"
            }
        );
        let before = c.execute(STATE, vec![]).await.unwrap();
        let boxed: Vec<bool> = (0..2).map(|i| before[i][0].as_f64() > Some(0.0)).collect();
        let useful = (0..2).any(|i| boxed[i] && !checked[i]) || (boxed[0] && boxed[1]);
        if !useful {
            tokio::time::sleep(Duration::from_millis(150)).await;
            continue;
        }
        let shot = screenshot(c, "cameras-now").await;
        let after = c.execute(STATE, vec![]).await.unwrap();
        for (i, cam) in ["car-park", "lobby"].iter().enumerate() {
            if !boxed[i] || before[i] != after[i] {
                continue;
            }
            let rect: Vec<f64> = (2..6).map(|k| after[i][k].as_f64().unwrap()).collect();
            let n = box_pixels(&shot, &rect);
            assert!(
                n >= 40,
                "{cam}: only {n} box-coloured pixels in its picture at {rect:?}"
            );
            checked[i] = true;
        }
        if boxed[0] && boxed[1] && before == after {
            keep_screenshot("cameras-now", "cameras");
        }
    }
    let names = c
        .execute(
            "return [...document.querySelectorAll('.cam')].map(e => e.dataset.camera).sort()",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(names, json!(["car-park", "lobby", "lpr-gate"]));
    let _ = weights;
}

/// An event the center receives is in the list within 2 s.
async fn events(c: &Client, mqtt_port: u16, weights: &mut Vec<(String, f64)>) {
    show(c, "events").await;
    wait_for(
        c,
        "the live feed",
        Duration::from_secs(10),
        "return document.querySelector('#feed-state').textContent === 'live'",
    )
    .await;
    let mut sub = Subscriber::connect(mqtt_port, "#").await;
    let t0 = Instant::now();
    let (id, received) = loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), sub.rx.recv())
            .await
            .expect("an event on MQTT within 60 s")
            .unwrap();
        let Ok(v) = serde_json::from_slice::<Value>(&msg.payload) else {
            continue;
        };
        if !msg.retain && v["schema"] == "vigia.event/1" && v["id"].is_string() {
            break (v["id"].as_str().unwrap().to_string(), Instant::now());
        }
        assert!(t0.elapsed() < Duration::from_secs(60));
    };
    let seen = wait_for(
        c,
        "the published event in the list",
        Duration::from_secs(2),
        &format!("return !!document.querySelector('#events li[data-id=\"{id}\"]')"),
    )
    .await;
    assert_eq!(seen, json!(true));
    eprintln!(
        "event {id} in the browser's list {:?} after MQTT delivered it (or before)",
        received.elapsed()
    );
    screenshot(c, "events").await;
    weights.push((
        "events page (pictures of the recent plate reads and incidents)".into(),
        weight_kb(c, false, false).await,
    ));
}

/// The lobby's zone dragged in the browser gives TOML that `vigia check-config` accepts.
async fn rules(c: &Client, config: &Path, weights: &mut Vec<(String, f64)>) {
    show(c, "camera/lobby").await;
    wait_for(
        c,
        "the lobby's rules",
        Duration::from_secs(10),
        "return document.querySelector('#rules li[data-rule=\"table-area\"]')",
    )
    .await;
    wait_for(
        c,
        "the lobby's live picture",
        Duration::from_secs(20),
        "return +(document.querySelector('#live').dataset.seq || 0) > 0",
    )
    .await;
    c.find(Locator::Css("#rules li[data-rule=\"table-area\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let before = wait_for(
        c,
        "the rule's TOML",
        Duration::from_secs(10),
        "return document.querySelector('#toml').textContent",
    )
    .await;
    // The zone's first point, relative to the canvas's centre (WebDriver's origin).
    let canvas = c.find(Locator::Css("#live")).await.unwrap();
    let at = c
        .execute(
            "const c = document.querySelector('#live'); const r = c.getBoundingClientRect();
             return [(0.4 - 0.5) * r.width, (0.6 - 0.5) * r.height];",
            vec![],
        )
        .await
        .unwrap();
    let at: Vec<f64> = serde_json::from_value(at).unwrap();
    let drag = MouseActions::new("mouse".to_string())
        .then(PointerAction::MoveToElement {
            element: canvas,
            duration: None,
            x: at[0],
            y: at[1],
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(300)),
            x: -60.0,
            y: -40.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.unwrap();
    let toml = wait_for(c, "the edited TOML", Duration::from_secs(10),
        &format!("const t = document.querySelector('#toml').textContent; return t !== {before} && document.querySelector('[data-check]') && t", before = serde_json::to_string(&before).unwrap())).await;
    let toml = toml.as_str().unwrap().to_string();
    let verdict = c
        .execute(
            "return document.querySelector('[data-check]').dataset.check",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(verdict, json!("ok"), "{toml}");
    let table: toml::Table = toml.parse().unwrap();
    let zone = &table["rules"].as_array().unwrap()[0]["zone"];
    let first: Vec<f64> = zone[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_float().unwrap())
        .collect();
    assert!(
        first[0] < 0.37 && first[1] < 0.57,
        "the dragged point moved up-left: {first:?}\n{toml}"
    );
    screenshot(c, "camera-rules").await;
    // Saved to the node's file (a backup kept) and reloaded live: the lobby restarts.
    c.find(Locator::Css("#save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let saved = wait_for(c, "the saved edit", Duration::from_secs(20),
        "const p = document.querySelector('[data-saved]'); return p && [p.dataset.saved, p.textContent]").await;
    assert_eq!(saved[0], json!("reloaded"), "{saved}");
    assert!(
        saved[1].as_str().unwrap().contains("lobby restarted"),
        "{saved}"
    );
    let file = std::fs::read_to_string(config).unwrap();
    assert!(
        file.contains(&format!("zone = [[{}, {}]", first[0], first[1])),
        "{file}"
    );
    let backups = std::fs::read_dir(config.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("demo.toml.bak-")
        })
        .count();
    assert_eq!(backups, 1);
    weights.push((
        "camera view and rules (live pictures until the edit)".into(),
        weight_kb(c, false, false).await,
    ));

    // The browser's TOML in place of the rule in the original file: check-config accepts it.
    let backup = std::fs::read_dir(config.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("demo.toml.bak-"))
        .unwrap();
    let text = std::fs::read_to_string(backup).unwrap();
    let start = text.find("[[rules]]\nname = \"table-area\"").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let edited = format!("{}{}{}", &text[..start], toml.trim_end(), &text[end..]);
    let file = config.with_file_name("edited.toml");
    std::fs::write(&file, edited).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-config refused the browser's TOML:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The health charts from the node's own samples.
async fn health(c: &Client, weights: &mut Vec<(String, f64)>) {
    show(c, "health").await;
    wait_for(
        c,
        "six charts",
        Duration::from_secs(10),
        "return document.querySelectorAll('[data-chart]').length === 6",
    )
    .await;
    // Each chart has a line once there is a sample.
    wait_for(
        c,
        "lines in the charts",
        Duration::from_secs(25),
        "return document.querySelectorAll('[data-chart] polyline').length >= 5",
    )
    .await;
    screenshot(c, "health").await;
    weights.push((
        "health (an hour of samples)".into(),
        weight_kb(c, false, false).await,
    ));
}

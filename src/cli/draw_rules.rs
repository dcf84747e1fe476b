//! `vigia draw-rules`: a camera's zones, lines and directions drawn on a real frame, so an
//! integrator can check a rule's geometry before deploying it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file with the `[[rules]]`.
    #[arg(short, long)]
    config: PathBuf,
    /// The camera (default: the only camera with rules).
    #[arg(long)]
    camera: Option<String>,
    /// A picture of the camera's view (JPEG, PNG) or a video of it; default: the
    /// camera's own `file://` source.
    #[arg(long)]
    image: Option<PathBuf>,
    /// For a video: the time of the frame, in seconds.
    #[arg(long, default_value_t = 0.0)]
    at: f64,
    /// Where to write the picture (PNG or JPEG).
    #[arg(short, long)]
    out: PathBuf,
}

#[allow(clippy::print_stdout)]
pub fn run(a: &Args) -> ExitCode {
    let cfg = match super::load_config(Some(&a.config)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match draw_camera_rules(&cfg, a.camera.as_deref(), a.image.as_deref(), a.at, &a.out) {
        Ok(legend) => {
            for l in legend {
                println!("{l}");
            }
            println!("wrote {}", a.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(&e),
    }
}

/// Draws the rules of `camera` (default: the only camera with rules) on a frame of it —
/// `image` (a picture, or a video at `at` seconds) or else the camera's own file — and
/// writes it to `out`. Returns the legend.
pub fn draw_camera_rules(
    cfg: &Config,
    camera: Option<&str>,
    image: Option<&Path>,
    at: f64,
    out: &Path,
) -> Result<Vec<String>> {
    let mut with_rules: Vec<&str> = cfg.rules.iter().map(|r| r.camera.as_str()).collect();
    with_rules.sort_unstable();
    with_rules.dedup();
    let camera = match camera {
        Some(c) => {
            if !cfg.cameras.iter().any(|cam| cam.id.as_str() == c) {
                bail!("no camera {c:?} in the configuration");
            }
            c.to_string()
        }
        None => match with_rules.as_slice() {
            [one] => (*one).to_string(),
            [] => bail!("the configuration has no [[rules]]"),
            many => bail!(
                "several cameras have rules ({}): pick one with --camera",
                many.join(", ")
            ),
        },
    };
    let rules: Vec<_> = cfg
        .rules
        .iter()
        .filter(|r| r.camera.as_str() == camera)
        .cloned()
        .collect();
    let source = match image {
        Some(p) => p.to_path_buf(),
        None => {
            let cam = cfg
                .cameras
                .iter()
                .find(|c| c.id.as_str() == camera)
                .expect("checked above");
            match cam.source() {
                Ok(vigia_ingest::Source::File { path }) => path,
                _ => {
                    bail!("camera {camera} is not a file: give a picture of its view with --image")
                }
            }
        }
    };
    let is_picture = matches!(
        source
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("jpg" | "jpeg" | "png")
    );
    let mut img = if is_picture {
        image::open(&source)
            .with_context(|| format!("{}: cannot decode the picture", source.display()))?
            .to_rgb8()
    } else {
        if !(at.is_finite() && at >= 0.0) {
            bail!("--at must be a time in seconds, not {at}");
        }
        let still =
            vigia_ingest::still::grab_frame(&source, std::time::Duration::from_secs_f64(at))
                .map_err(anyhow::Error::msg)?;
        image::RgbImage::from_raw(still.width, still.height, still.rgb)
            .context("a frame of the wrong size")?
    };
    let legend = vigia_rules::draw::draw_rules(&mut img, &rules);
    img.save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(legend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_the_demo_lobby_rules_on_a_frame_of_its_video() {
        let Ok(video) =
            vigia_testkit::paths::shared_file("data/video/one-by-one-person-detection.mp4")
        else {
            vigia_testkit::paths::skip("draws_the_demo_lobby_rules", "no ../shared");
            return;
        };
        let root = vigia_testkit::paths::project_root();
        let cfg = Config::load(&root.join("configs/demo.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lobby.png");
        let legend = draw_camera_rules(&cfg, Some("lobby"), Some(&video), 30.0, &out).unwrap();
        assert_eq!(legend.len(), 3, "{legend:?}");
        assert!(legend[2].contains("line_crossing"), "{legend:?}");
        let img = image::open(&out).unwrap();
        assert_eq!((img.width(), img.height()), (768, 432));
        // Several cameras have rules: the tool asks which one.
        let e = draw_camera_rules(&cfg, None, Some(&video), 0.0, &out).unwrap_err();
        assert!(e.to_string().contains("--camera"), "{e}");
        let e = draw_camera_rules(&cfg, Some("nope"), None, 0.0, &out).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}

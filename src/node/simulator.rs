//! The demo's cameras: `[simulator]` streams served over RTSP by `vigia-sim`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vigia_sim::rtsp::{RtspCameraServer, SimStream};

use crate::config::{Config, SimulatorConfig};

/// Starts the simulator's RTSP server (slideshows rendered first, once).
pub async fn start(cfg: &Config) -> Result<Option<RtspCameraServer>> {
    let Some(sim) = cfg.simulator.clone() else {
        return Ok(None);
    };
    let render_dir = cfg.data_dir.join("simulator");
    let server = tokio::task::spawn_blocking(move || serve(&sim, &render_dir))
        .await?
        .context("starting the simulator's RTSP server")?;
    tracing::info!(
        port = server.port(),
        "simulator serving recorded cameras over RTSP"
    );
    Ok(Some(server))
}

fn serve(sim: &SimulatorConfig, render_dir: &Path) -> Result<RtspCameraServer> {
    let mut streams = Vec::new();
    for s in &sim.streams {
        let file = match &s.file {
            Some(f) => f.clone(),
            None => render_slideshow_cached(render_dir, &s.path, &s.slideshow)?,
        };
        streams.push(SimStream {
            path: s.path.clone(),
            file,
            start_at: Default::default(),
        });
    }
    Ok(RtspCameraServer::start(
        &sim.listen.ip().to_string(),
        sim.listen.port(),
        &streams,
    )?)
}

/// Renders a slideshow stream once; reuses the file while it is newer than its photos.
fn render_slideshow_cached(dir: &Path, name: &str, photos: &[PathBuf]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join(format!("{name}.mp4"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = modified(&out)
        .is_some_and(|t| photos.iter().all(|p| modified(p).is_some_and(|pt| pt <= t)));
    if !fresh {
        tracing::info!(
            stream = name,
            photos = photos.len(),
            "rendering the simulator slideshow"
        );
        let tmp = dir.join(format!(".{name}.mp4.tmp"));
        vigia_sim::render::render_slideshow(
            photos,
            &tmp,
            &vigia_sim::render::RenderSpec::default(),
        )?;
        std::fs::rename(&tmp, &out)?;
    }
    Ok(out)
}

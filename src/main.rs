//! The `vigia` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use vigia::{Config, RunOptions};
use vigia_telemetry::LogFormat;

#[derive(Parser)]
#[command(
    name = "vigia",
    version,
    about = "City CCTV cameras in, events a monitoring center can act on out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Run {
        /// Configuration file.
        #[arg(short, long, default_value = "configs/demo.toml")]
        config: PathBuf,
        /// Log format (overrides telemetry.log_format).
        #[arg(long, value_enum)]
        log_format: Option<LogFormatArg>,
        /// Print one line per event acknowledged by the broker on stdout.
        #[arg(long)]
        print_events: bool,
    },
    /// Check a configuration file and report every problem with its path.
    CheckConfig {
        /// Configuration file.
        file: PathBuf,
    },
    /// Read the plates in images; prints JSON.
    Read {
        /// Configuration file (models, grammars); default: built-in defaults.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Image files (JPEG, PNG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Score the plate chain on a labelled folder (openalpr benchmark format).
    Eval {
        /// Folder of images with `IMAGE.txt` labels (`file x y w h PLATE`).
        #[arg(long)]
        dataset: PathBuf,
        /// Configuration file (models, grammars); default: built-in defaults.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Draw a camera's rules (zones, lines with their A/B sides, allowed directions) on a
    /// frame of it; prints the legend.
    DrawRules {
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
    },
}

fn tool_config(config: Option<&PathBuf>) -> Result<Config, ExitCode> {
    match config {
        Some(p) => Config::load(p).map_err(|e| {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{e}");
            }
            ExitCode::from(2)
        }),
        None => Ok(Config::tool_defaults()),
    }
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} camera{}, site {}, node {})",
                    file.display(),
                    cfg.cameras.len(),
                    if cfg.cameras.len() == 1 { "" } else { "s" },
                    cfg.site,
                    cfg.node
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Read { config, images } => {
            let cfg = match tool_config(config.as_ref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let _ = vigia_telemetry::logging::init(LogFormat::Text, "warn");
            match vigia::tools::read(&cfg, &images) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Eval {
            dataset,
            config,
            json,
        } => {
            let cfg = match tool_config(config.as_ref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let _ = vigia_telemetry::logging::init(LogFormat::Text, "warn");
            match vigia::tools::evaluate(&cfg, &dataset) {
                Ok(r) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    } else {
                        print!("{}", r.table());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::DrawRules {
            config,
            camera,
            image,
            at,
            out,
        } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match vigia::tools::draw_camera_rules(
                &cfg,
                camera.as_deref(),
                image.as_deref(),
                at,
                &out,
            ) {
                Ok(legend) => {
                    for l in legend {
                        println!("{l}");
                    }
                    println!("wrote {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            config,
            log_format,
            print_events,
        } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let format = match log_format {
                Some(LogFormatArg::Json) => LogFormat::Json,
                Some(LogFormatArg::Text) => LogFormat::Text,
                None => cfg.telemetry.log_format,
            };
            if let Err(e) = vigia_telemetry::logging::init(format, &cfg.telemetry.log_filter) {
                eprintln!("telemetry.log_filter: {e}");
                return ExitCode::from(2);
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("vigia-rt")
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(cfg, RunOptions { print_events })) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "vigia failed");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(cfg: Config, opts: RunOptions) -> anyhow::Result<()> {
    let app = vigia::start(cfg, opts).await?;
    let stop = app.stop_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; draining (a second signal exits at once)");
        stop.cancel();
        wait_for_signal().await;
        tracing::warn!("second signal; exiting without draining (the outbox keeps pending events)");
        std::process::exit(130);
    });
    app.wait().await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

//! The `vigia` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Feed synthetic events through the node's outbox and publisher to its broker; prints
    /// each event id once the outbox accepted it (proves a broker link end to end).
    Loadgen {
        /// Configuration file (its [mqtt], [outbox], site and node are used).
        #[arg(short, long)]
        config: PathBuf,
        /// Events to generate (0: only deliver what the outbox holds).
        #[arg(long, default_value_t = 100)]
        events: u64,
        /// Events per second.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        /// Camera id the synthetic events name.
        #[arg(long, default_value = "loadgen")]
        camera: String,
        /// Seconds to wait for the broker to acknowledge everything before exiting.
        #[arg(long, default_value_t = 30.0)]
        wait: f64,
    },
    /// Subscribe to a node's events and print them as JSON lines, dropping duplicate
    /// deliveries by event id; `--check` validates each against the published schema.
    Tail {
        /// A node's configuration file (its [mqtt] broker, credentials, TLS and topic
        /// prefix); or give the broker with --url and the options below.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Broker URL (`mqtt://host[:port]`, `mqtts://host[:port]`); overrides the config's.
        #[arg(long)]
        url: Option<String>,
        /// TLS: PEM file of the CA that signed the broker's certificate.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// TLS: client certificate (PEM), with --client-key.
        #[arg(long)]
        client_cert: Option<PathBuf>,
        /// TLS: client key (PEM).
        #[arg(long)]
        client_key: Option<PathBuf>,
        /// Broker user name.
        #[arg(long)]
        username: Option<String>,
        /// Environment variable holding the broker password.
        #[arg(long)]
        password_env: Option<String>,
        /// File holding the broker password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Topic filter (default `<prefix>/#` with --config, else `sies/#`).
        #[arg(long)]
        topic: Option<String>,
        /// Validate every event against the schema (docs/schema/vigia.event.v1.schema.json).
        #[arg(long)]
        check: bool,
        /// Exit after this many distinct events.
        #[arg(long)]
        count: Option<u64>,
        /// Exit after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// Print duplicate deliveries too, marked `"duplicate": true`.
        #[arg(long)]
        show_duplicates: bool,
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
            let cfg = match tool_config(Some(&config)) {
                Ok(c) => c,
                Err(code) => return code,
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
        Command::Loadgen {
            config,
            events,
            rate,
            camera,
            wait,
        } => {
            let cfg = match tool_config(Some(&config)) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let _ = vigia_telemetry::logging::init(LogFormat::Text, "warn");
            let opts = vigia::delivery::LoadgenOptions {
                events,
                rate,
                camera,
                wait: Duration::from_secs_f64(wait.max(0.0)),
            };
            let out = Box::new(std::io::stdout());
            match block_on(vigia::delivery::loadgen(cfg, opts, out)) {
                Ok(r) => {
                    eprintln!(
                        "loadgen: accepted {}, acknowledged {}, pending {}, corrupt regions skipped {}, {:.1} s",
                        r.accepted, r.acknowledged, r.pending, r.corrupt_regions_skipped, r.seconds
                    );
                    if r.pending == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(3)
                    }
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Tail {
            config,
            url,
            ca_file,
            client_cert,
            client_key,
            username,
            password_env,
            password_file,
            topic,
            check,
            count,
            seconds,
            show_duplicates,
        } => {
            let (mut mqtt, default_filter) = match &config {
                Some(path) => match tool_config(Some(path)) {
                    Ok(c) => (c.mqtt.clone(), format!("{}/#", c.topic_prefix())),
                    Err(code) => return code,
                },
                None if url.is_none() => {
                    eprintln!("vigia tail: give --config NODE.toml or --url mqtt[s]://host[:port]");
                    return ExitCode::from(2);
                }
                None => (vigia_publish::MqttConfig::default(), "sies/#".to_string()),
            };
            // Flags win over the config file.
            mqtt.url = url.or(mqtt.url.take());
            mqtt.ca_file = ca_file.or(mqtt.ca_file.take());
            mqtt.client_cert_file = client_cert.or(mqtt.client_cert_file.take());
            mqtt.client_key_file = client_key.or(mqtt.client_key_file.take());
            mqtt.username = username.or(mqtt.username.take());
            if password_env.is_some() || password_file.is_some() {
                mqtt.password_env = password_env;
                mqtt.password_file = password_file;
            }
            let problems = mqtt.validate();
            if !problems.is_empty() {
                for (field, msg) in problems {
                    eprintln!("mqtt.{field}: {msg}");
                }
                return ExitCode::from(2);
            }
            let _ = vigia_telemetry::logging::init(LogFormat::Text, "warn");
            let opts = vigia::delivery::TailOptions {
                filter: topic.unwrap_or(default_filter),
                check,
                count,
                duration: seconds.map(|s| Duration::from_secs_f64(s.max(0.0))),
                show_duplicates,
            };
            let out = Box::new(std::io::stdout());
            match block_on(vigia::delivery::tail(mqtt, opts, out)) {
                Ok(r) => {
                    eprintln!(
                        "tail: {} messages, {} events, {} duplicates dropped, {} invalid, {} other",
                        r.messages, r.events, r.duplicates, r.invalid, r.other
                    );
                    if r.invalid == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(4)
                    }
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
            let cfg = match tool_config(Some(&config)) {
                Ok(c) => c,
                Err(code) => return code,
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

/// Runs a tool's future on a small runtime.
fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(f)
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

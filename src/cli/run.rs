//! `vigia run`: the service, until SIGINT/SIGTERM (drains) or a second signal (exits at
//! once; the outbox keeps what is pending). SIGHUP reloads the config file (its cameras and
//! rules; see `node::reload`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use vigia_telemetry::LogFormat;

use crate::config::Config;
use crate::node::{self, RunOptions};

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file.
    #[arg(short, long, default_value = "configs/demo.toml")]
    config: PathBuf,
    /// Log format (overrides telemetry.log_format).
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Print one line per event acknowledged by the broker on stdout.
    #[arg(long)]
    print_events: bool,
}

#[allow(clippy::print_stderr)]
pub fn run(a: &Args) -> ExitCode {
    let cfg = match super::load_config(Some(&a.config)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let format = match a.log_format {
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
    let opts = RunOptions {
        print_events: a.print_events,
    };
    match runtime.block_on(serve(cfg, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "vigia failed");
            super::fail(&e)
        }
    }
}

async fn serve(cfg: Config, opts: RunOptions) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered before the (slow) start, so an early SIGHUP does not kill the process and
    // an early SIGTERM or Ctrl-C drains (the default action would kill it with its events
    // still being delivered).
    let hup = signal(SignalKind::hangup());
    let mut stops = Stops {
        term: signal(SignalKind::terminate()).ok(),
        int: signal(SignalKind::interrupt()).ok(),
    };
    let scheme = match cfg.telemetry.http_tls_cert_file {
        Some(_) => "https",
        None => "http",
    };
    let demo = opts.print_events;
    let app = node::start(cfg, opts).await?;
    let console = format!("{scheme}://{}/console/", app.http_addr);
    tracing::info!(%console, "web console");
    if demo {
        #[allow(clippy::print_stdout)]
        {
            println!("vigia console: {console}");
        }
    }
    let reload = app.reloader();
    tokio::spawn(async move {
        let Ok(mut hup) = hup else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            if reload.reload().await.is_none() {
                break;
            }
        }
    });
    let stop = app.stop_token();
    tokio::spawn(async move {
        stops.next().await;
        tracing::info!("signal received; draining (a second signal exits at once)");
        stop.cancel();
        stops.next().await;
        tracing::warn!("second signal; exiting without draining (the outbox keeps pending events)");
        std::process::exit(130);
    });
    app.wait().await
}

/// SIGTERM and SIGINT (Ctrl-C), registered once.
struct Stops {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Stops {
    /// The next SIGTERM or SIGINT.
    async fn next(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.term) => {}
            _ = one(&mut self.int) => {}
        }
    }
}

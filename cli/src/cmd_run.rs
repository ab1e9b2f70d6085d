//! `rota run`: run one service, or all of them in one process.

use crate::Target;
use anyhow::Context;
use rota_shell::clock::{ClockConfig, run_clock};
use rota_shell::service::{ServiceConfig, SnapshotTurns, run_service_with, snapshot_turns};
use rota_shell::shared_reader::SharedReader;
use rota_shell::shutdown::{SHUTDOWN_GRACE, join_within};
use rota_shell::{CellLog, Shutdown};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::task::JoinSet;

/// Run a service of the cell until SIGINT or SIGTERM.
///
/// Services: admission, placement, fairshare, clock, or all. Several
/// instances of a service may run; one holds the lease and decides, the
/// others stand by.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rota run all\n  rota run placement --state-dir /var/lib/rota --instance placement-b"
)]
pub struct RunArgs {
    /// admission, placement, fairshare, preemption, clock or all.
    #[arg(value_parser = ["admission", "placement", "fairshare", "preemption", "clock", "all"])]
    pub service: String,
    /// Directory for snapshots (sled); without it, a restart folds the log from the start.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// This instance's name in lease claims (default: a new unique name).
    #[arg(long)]
    pub instance: Option<String>,
    /// Write a snapshot after this many applied events.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// A standby takes over after the lease holder has been silent this many milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub lease_timeout_ms: u64,
}

pub async fn run(target: &Target, args: RunArgs) -> anyhow::Result<ExitCode> {
    let log = target.connect().await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let services: Vec<&str> = match args.service.as_str() {
        "all" => crate::local::SERVICES
            .iter()
            .copied()
            .chain(["clock"])
            .collect(),
        one => vec![one],
    };
    let instance = args
        .instance
        .clone()
        .unwrap_or_else(|| format!("{}-{}", std::process::id(), ulid::Ulid::new()));
    // The deciding services of one process read the log once, together.
    let deciding = services.iter().filter(|s| **s != "clock").count();
    let together = Together {
        reader: (deciding > 1)
            .then(|| SharedReader::start(log.clone(), deciding, shutdown.clone())),
        snapshot_turns: snapshot_turns(),
    };
    let mut tasks = JoinSet::new();
    for service in services {
        spawn_service(
            &mut tasks, &log, service, &instance, &args, &shutdown, &together,
        )
        .await?;
    }
    eprintln!(
        "rota: running {} on cell {} at {}",
        args.service,
        target.cell,
        target.url()
    );
    // The first service to end, by a signal or by an error, ends them all.
    let mut failed = false;
    if let Some(joined) = tasks.join_next().await {
        failed |= report_end(joined);
    }
    shutdown.trigger();
    match join_within(&mut tasks, SHUTDOWN_GRACE).await {
        Ok(ended) => {
            for joined in ended {
                failed |= report_end(joined);
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Says how a service task ended; true when it failed.
fn report_end(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> bool {
    match joined {
        Ok(Ok(())) => false,
        Ok(Err(error)) => {
            eprintln!("error: {error:#}");
            true
        }
        Err(error) => {
            eprintln!("error: a service task panicked: {error}");
            true
        }
    }
}

/// What the services of one process share: one reader of the log, and the
/// turn to snapshot.
pub struct Together {
    pub reader: Option<SharedReader>,
    pub snapshot_turns: SnapshotTurns,
}

/// Starts one service's loop as a task of `tasks`.
pub async fn spawn_service(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    log: &CellLog,
    service: &str,
    instance: &str,
    args: &RunArgs,
    shutdown: &Shutdown,
    together: &Together,
) -> anyhow::Result<()> {
    // Each service of the process on a connection of its own.
    let log = log.connect_again().await?;
    let shutdown = shutdown.clone();
    if service == "clock" {
        tasks.spawn(async move { Ok(run_clock(log, ClockConfig::default(), shutdown).await?) });
        return Ok(());
    }
    let core = rota_replay::standard_core(&log.cell, service)
        .with_context(|| format!("unknown service {service:?}"))?;
    let mut config = ServiceConfig::new(format!("{service}-{instance}"));
    config.state_dir = args.state_dir.as_ref().map(|dir| dir.join(service));
    config.snapshot_every_events = args.snapshot_every.max(1);
    config.lease_timeout = Duration::from_millis(args.lease_timeout_ms);
    config.snapshot_turns = together.snapshot_turns.clone();
    let shared = together.reader.clone();
    tasks.spawn(async move {
        run_service_with(log, core, config, shutdown, shared).await?;
        Ok(())
    });
    Ok(())
}

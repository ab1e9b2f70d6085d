//! What `rota demo` and `rota bench` share: a nats-server of their own
//! unless one is given, an empty cell, and the whole scheduler in this
//! process.

use crate::Target;
use anyhow::{Context, bail};
use rota_shell::access_files::LocalAccess;
use rota_shell::clock::{ClockConfig, run_clock};
use rota_shell::nats_cluster::{CLUSTER_SIZE, NatsCluster};
use rota_shell::nats_server::NatsServer;
use rota_shell::nodes::{NodeSpec, SimRunner, run_nodes_with};
use rota_shell::service::{ServiceConfig, run_service_with};
use rota_shell::shared_reader::SharedReader;
use rota_shell::{CellLog, Shutdown};
use tokio::task::JoinSet;

/// The deciding services every local run starts.
pub const SERVICES: [&str; 4] = rota_replay::DECIDING_SERVICES;

/// A server this process started: one, or a cluster. It is held, not read:
/// dropping it stops the servers.
#[allow(dead_code)]
pub enum LocalServer {
    Single(NatsServer),
    Cluster(NatsCluster),
}

/// The server to use: the one `--nats` names, or a new one (a cluster of
/// [`CLUSTER_SIZE`] with `cluster`) with a temporary store, kept alive by
/// the returned handle, and, given `access`, its users and their
/// permissions. `command` names the caller in the line that says so,
/// printed on standard output, or on standard error when `quiet` (standard
/// output holds a report).
pub fn server(
    target: &Target,
    command: &str,
    quiet: bool,
    access: Option<&LocalAccess>,
    cluster: bool,
) -> anyhow::Result<(Option<LocalServer>, String)> {
    if let Some(url) = &target.nats_url {
        return Ok((None, url.clone()));
    }
    let binary = rota_shell::nats_server::find_nats_server().map_err(anyhow::Error::msg)?;
    let config = access.map(LocalAccess::config);
    let (server, url, what) = if cluster {
        let cluster = NatsCluster::start(config).map_err(anyhow::Error::msg)?;
        let url = cluster.url();
        let what = format!("a cluster of {CLUSTER_SIZE} {}", binary.display());
        (LocalServer::Cluster(cluster), url, what)
    } else {
        let server =
            NatsServer::start_binary_with(&binary, config, &[]).map_err(anyhow::Error::msg)?;
        let url = server.url.clone();
        (
            LocalServer::Single(server),
            url,
            binary.display().to_string(),
        )
    };
    let started = format!(
        "rota {command}: started {what} on {url} (temporary store{})",
        if access.is_some() {
            "; every part of the run connects as its own identity, over TLS"
        } else {
            ""
        }
    );
    if quiet {
        eprintln!("{started}");
    } else {
        println!("{started}");
    }
    Ok((Some(server), url))
}

/// Checks that the cell has no events yet.
pub async fn empty_cell(log: &CellLog, url: &str, cell: &str, command: &str) -> anyhow::Result<()> {
    if log.last_seq().await? > 0 {
        bail!(
            "cell {cell:?} at {url} already has events; the {command} needs an empty cell (use --cell {command}-<n> or a fresh server)"
        );
    }
    Ok(())
}

/// Starts the deciding services, the clock and a simulated fleet of `nodes`
/// as tasks of `tasks`, each on a connection of its own (the services' and
/// the clock's like `log`, the fleet's like `fleet_log`); the services and
/// the fleet read the log through one shared reader, which `observers`
/// more readers of the caller's are to subscribe to (the reader waits for
/// them before it starts). Returns that reader.
#[allow(clippy::too_many_arguments)]
pub async fn spawn_scheduler(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    log: &CellLog,
    fleet_log: &CellLog,
    nodes: Vec<NodeSpec>,
    time_scale: f64,
    instance_suffix: &str,
    observers: usize,
    shutdown: &Shutdown,
) -> anyhow::Result<SharedReader> {
    let shared = SharedReader::start(
        log.connect_again().await?,
        SERVICES.len() + 1 + observers,
        shutdown.clone(),
    );
    for service in SERVICES {
        let core = rota_replay::standard_core(&log.cell, service).context("known service")?;
        let config = ServiceConfig::new(format!("{service}-{instance_suffix}"));
        let (log, shutdown) = (log.connect_again().await?, shutdown.clone());
        let shared = Some(shared.clone());
        tasks.spawn(async move {
            run_service_with(log, core, config, shutdown, shared).await?;
            Ok(())
        });
    }
    let (clock_log, clock_shutdown) = (log.connect_again().await?, shutdown.clone());
    tasks.spawn(
        async move { Ok(run_clock(clock_log, ClockConfig::default(), clock_shutdown).await?) },
    );
    let (log, shutdown) = (fleet_log.connect_again().await?, shutdown.clone());
    let runner = SimRunner::new(time_scale);
    let fleet_shared = shared.clone();
    tasks.spawn(async move {
        run_nodes_with(log, nodes, runner, shutdown, Some(fleet_shared)).await?;
        Ok(())
    });
    Ok(shared)
}

//! A JetStream cluster of nats-servers on loopback ports, each with a
//! temporary store: what the test harness and `rota demo --cluster` run
//! the cell's log on, so that it survives losing a server.
//!
//! A JetStream cluster needs its routes when it starts, so the cluster ports
//! are chosen here: free ports are found by binding and released before the
//! servers start. Another process may take one in that gap; a server that
//! then cannot listen makes the start fail, and it is tried again with new
//! ports, up to [`CLUSTER_START_ATTEMPTS_MAX`] times.

use crate::nats_server::{NatsServer, find_nats_server};
use std::net::TcpListener;
use std::time::Duration;

/// Servers in a cluster: the smallest that keeps a majority through the loss
/// of one.
pub const CLUSTER_SIZE: usize = 3;

/// Most tries at starting a cluster, each with new cluster ports.
pub const CLUSTER_START_ATTEMPTS_MAX: usize = 3;

/// How long a new cluster may take to elect its JetStream meta leader.
pub const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the start-up wait looks for a leader.
const LEADER_POLL: Duration = Duration::from_millis(50);

/// How each server's name begins; its index in the cluster follows.
const SERVER_NAME_PREFIX: &str = "rota-";

/// The name the servers give their cluster.
const CLUSTER_NAME: &str = "rota";

pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts [`CLUSTER_SIZE`] servers of the best suitable nats-server
    /// found, routed to each other, with `config` (authorization, TLS) if
    /// given.
    pub fn start(config: Option<&std::path::Path>) -> Result<NatsCluster, String> {
        let binary = find_nats_server()?;
        let mut last_error = String::new();
        for _ in 0..CLUSTER_START_ATTEMPTS_MAX {
            match start_once(&binary, config) {
                Ok(cluster) => return Ok(cluster),
                Err(error) => last_error = error,
            }
        }
        Err(format!(
            "no cluster of {CLUSTER_SIZE} nats-servers started in {CLUSTER_START_ATTEMPTS_MAX} tries; the last failed with: {last_error}"
        ))
    }

    /// The index in [`NatsCluster::servers`] of the server named `name`
    /// (as the stream's leader is named in its info).
    pub fn index_of(name: &str) -> Option<usize> {
        name.strip_prefix(SERVER_NAME_PREFIX)?.parse().ok()
    }

    /// The client URLs of every server, comma-separated, as `--nats` takes
    /// them: a client connects to any and moves to another when it goes.
    pub fn url(&self) -> String {
        self.servers
            .iter()
            .map(|server| server.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn start_once(
    binary: &std::path::Path,
    config: Option<&std::path::Path>,
) -> Result<NatsCluster, String> {
    let ports = free_ports(CLUSTER_SIZE)?;
    let routes = ports
        .iter()
        .map(|port| format!("nats://127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut servers = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        let args = vec![
            "--name".to_string(),
            format!("{SERVER_NAME_PREFIX}{index}"),
            "--cluster_name".to_string(),
            CLUSTER_NAME.to_string(),
            "--cluster".to_string(),
            format!("nats://127.0.0.1:{port}"),
            "--routes".to_string(),
            routes.clone(),
        ];
        servers.push(NatsServer::start_binary_with(binary, config, &args)?);
    }
    let cluster = NatsCluster { servers };
    cluster.wait_for_meta_leader()?;
    Ok(cluster)
}

impl NatsCluster {
    /// Waits until the servers have elected the leader that JetStream's
    /// requests need, which their logs announce.
    fn wait_for_meta_leader(&self) -> Result<(), String> {
        let deadline = std::time::Instant::now() + CLUSTER_READY_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if self
                .servers
                .iter()
                .any(|server| server.log_text().contains("new metadata leader"))
            {
                return Ok(());
            }
            std::thread::sleep(LEADER_POLL);
        }
        Err(format!(
            "the cluster elected no JetStream leader within {CLUSTER_READY_TIMEOUT:?}; a server's log ends:\n{}",
            self.servers[0].log_tail()
        ))
    }
}

/// `count` loopback ports that were free a moment ago.
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    listeners
        .iter()
        .map(|listener| {
            listener
                .local_addr()
                .map(|addr| addr.port())
                .map_err(|e| format!("cannot read a bound port: {e}"))
        })
        .collect()
}

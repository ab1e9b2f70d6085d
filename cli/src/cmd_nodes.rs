//! `rota agent` and `rota sim-fleet`: node agents.

use crate::Target;
use anyhow::bail;
use rota_events::{Resources, check_name};
use rota_shell::Shutdown;
use rota_shell::nodes::{NodeSpec, ProcessRunner, SimRunner, run_nodes};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Most nodes one sim-fleet process simulates.
pub const SIM_FLEET_NODES_MAX: usize = 100_000;

/// Run a node agent: registers this machine as a node and runs the jobs bound
/// to it as real processes (no shell), reporting starts and exits.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  rota agent --node $(hostname -s) --cpu-milli 8000 --memory-bytes 17179869184 --gpus 0 --log-dir /tmp/rota-jobs"
)]
pub struct AgentArgs {
    /// The node's name.
    #[arg(long)]
    pub node: String,
    #[command(flatten)]
    pub capacity: CapacityArgs,
    /// Labels, as key=value; repeatable.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Taints that repel jobs not tolerating them, as key=value; repeatable.
    #[arg(long = "taint")]
    pub taints: Vec<String>,
    /// The node's zone.
    #[arg(long)]
    pub zone: Option<String>,
    /// The model of the node's GPUs.
    #[arg(long)]
    pub gpu_model: Option<String>,
    /// What an hour of the node costs, in the operator's units.
    #[arg(long, default_value_t = 0)]
    pub cost: u32,
    /// Write each job's stdout and stderr to <dir>/<job>.out and .err.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
}

/// What each node offers.
#[derive(clap::Args, Debug, Clone)]
pub struct CapacityArgs {
    /// CPU in thousandths of a core.
    #[arg(long, default_value_t = 8000)]
    pub cpu_milli: u64,
    /// Memory in bytes.
    #[arg(long, default_value_t = 16 << 30)]
    pub memory_bytes: u64,
    /// Whole GPUs.
    #[arg(long, default_value_t = 0)]
    pub gpus: u32,
}

impl CapacityArgs {
    fn resources(&self) -> Resources {
        Resources {
            cpu_milli: self.cpu_milli,
            memory_bytes: self.memory_bytes,
            gpus: self.gpus,
            ..Default::default()
        }
    }
}

/// Simulate N nodes that run each bound job for its declared duration
/// (duration_ms divided by the time scale), for demos and load.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  rota sim-fleet --nodes 500 --cpu-milli 64000 --memory-bytes 274877906944 --gpus 8 --time-scale 60"
)]
pub struct SimFleetArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 10)]
    pub nodes: usize,
    #[command(flatten)]
    pub capacity: CapacityArgs,
    /// Node names are <prefix>-00000, <prefix>-00001, ...
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// How much faster than real time jobs run: 60 runs a one-minute job in one second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

pub async fn agent(target: &Target, args: AgentArgs) -> anyhow::Result<ExitCode> {
    check_name("node", &args.node)?;
    let labels = parse_labels(&args.labels)?;
    let log = target.connect().await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let taints = parse_labels(&args.taints)?
        .into_iter()
        .map(|(key, value)| rota_events::Taint {
            key,
            value,
            effect: rota_events::TaintEffect::NoSchedule,
        })
        .collect();
    let node = NodeSpec {
        name: args.node.clone(),
        capacity: args.capacity.resources(),
        labels,
        taints,
        topology: rota_events::Topology {
            zone: args.zone.clone(),
            rack: None,
        },
        cost: args.cost,
        gpu_model: args.gpu_model.clone(),
    };
    eprintln!("rota agent: node {} on cell {}", args.node, target.cell);
    let report = run_nodes(log, vec![node], ProcessRunner::new(args.log_dir), shutdown).await?;
    eprintln!(
        "rota agent: stopped after {} starts and {} ends",
        report.started, report.finished
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn sim_fleet(target: &Target, args: SimFleetArgs) -> anyhow::Result<ExitCode> {
    let nodes = fleet_nodes(&args.prefix, args.nodes, args.capacity.resources())?;
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        bail!(
            "--time-scale is {}; it must be a positive number",
            args.time_scale
        );
    }
    let log = target.connect().await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    eprintln!(
        "rota sim-fleet: {} nodes on cell {}",
        nodes.len(),
        target.cell
    );
    let report = run_nodes(log, nodes, SimRunner::new(args.time_scale), shutdown).await?;
    eprintln!(
        "rota sim-fleet: stopped after {} starts and {} ends",
        report.started, report.finished
    );
    Ok(ExitCode::SUCCESS)
}

/// The nodes of a simulated fleet.
pub fn fleet_nodes(
    prefix: &str,
    count: usize,
    capacity: Resources,
) -> anyhow::Result<Vec<NodeSpec>> {
    if count == 0 || count > SIM_FLEET_NODES_MAX {
        bail!("--nodes is {count}; it must be 1 to {SIM_FLEET_NODES_MAX}");
    }
    let nodes: Vec<NodeSpec> = (0..count)
        .map(|i| NodeSpec {
            name: format!("{prefix}-{i:05}"),
            capacity,
            ..NodeSpec::default()
        })
        .collect();
    check_name("node", &nodes[0].name)?;
    Ok(nodes)
}

fn parse_labels(labels: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    labels
        .iter()
        .map(|label| match label.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => bail!("label {label:?} is not key=value"),
        })
        .collect()
}

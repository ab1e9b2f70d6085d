//! `rota`: every way to use Rota from a terminal: run the services, submit
//! and follow jobs, run node agents, replay the log, and the demo.

mod cmd_auth;
mod cmd_bench;
mod cmd_demo;
mod cmd_explain;
mod cmd_nodes;
mod cmd_policy;
mod cmd_replay;
mod cmd_roster;
mod cmd_run;
mod cmd_shares;
mod cmd_simulate;
mod cmd_status;
mod cmd_submit;
mod cmd_tenants;
mod cmd_watch;
mod document;
mod local;
mod render;
mod summary;
mod workload;

use clap::{Parser, Subcommand};

/// Where to find the log: shared by every command.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The NATS server to use [default: nats://127.0.0.1:4222; `rota demo`
    /// starts its own unless this is given].
    #[arg(long = "nats", env = "NATS_URL", global = true)]
    pub nats_url: Option<String>,
    /// The cell (scheduling domain) to use.
    #[arg(long, default_value = "default", global = true)]
    pub cell: String,
    /// Connect as the identity whose NKey seed file this is (as `rota auth
    /// init` writes them); without it, connect with no credentials.
    #[arg(long = "creds", env = "NATS_CREDS", global = true)]
    pub creds: Option<std::path::PathBuf>,
    /// Connect over TLS, trusting the server only if its certificate is
    /// signed by this authority (as `rota auth init` writes it, tls/ca.pem).
    #[arg(long = "tls-ca", env = "NATS_CA", global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// On how many servers of a JetStream cluster to keep the cell's stream
    /// (1 to 5), when this command provisions it: it is created or changed
    /// to that count. Without it an existing stream keeps its count.
    #[arg(long, env = "ROTA_REPLICAS", global = true, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: Option<u8>,
}

/// The NATS URL used when none is given.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

impl Target {
    /// The NATS URL to connect to.
    pub fn url(&self) -> &str {
        self.nats_url.as_deref().unwrap_or(DEFAULT_NATS_URL)
    }

    /// The credentials of `--creds` and the authority of `--tls-ca`.
    pub fn access(&self) -> anyhow::Result<rota_shell::access::Access> {
        let credentials = self
            .creds
            .as_deref()
            .map(rota_shell::access::Credentials::load)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        if let Some(ca) = &self.tls_ca
            && !ca.is_file()
        {
            anyhow::bail!(
                "--tls-ca {} is not a file; give the authority's certificate, as `rota auth init` writes it to <out>/tls/ca.pem",
                ca.display()
            );
        }
        Ok(rota_shell::access::Access {
            credentials,
            tls_ca: self.tls_ca.clone(),
            replicas: self.replicas.map(usize::from),
        })
    }

    /// Connects to the cell's log as the identity of `--creds`, over TLS
    /// with `--tls-ca`.
    pub async fn connect(&self) -> anyhow::Result<rota_shell::CellLog> {
        self.connect_to(self.url()).await
    }

    /// Connects to the cell's log at `url` as [`Target::connect`] does.
    pub async fn connect_to(&self, url: &str) -> anyhow::Result<rota_shell::CellLog> {
        Ok(rota_shell::CellLog::connect_as(url, &self.cell, &self.access()?).await?)
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "rota",
    version,
    about = "Rota: an event-sourced job scheduler over NATS JetStream",
    long_about = "Rota: an event-sourced job scheduler over NATS JetStream.\n\n\
        Every job, node report and service decision is an event in the cell's log;\n\
        every decision can be replayed and verified.",
    after_help = "Examples:\n  rota demo\n  rota run all --state-dir /var/lib/rota\n  rota submit job.yaml --tenant acme\n  rota watch --tenant acme"
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Run(cmd_run::RunArgs),
    Submit(cmd_submit::SubmitArgs),
    Cancel(cmd_submit::CancelArgs),
    Status(cmd_status::StatusArgs),
    Explain(cmd_explain::ExplainArgs),
    Watch(cmd_watch::WatchArgs),
    Agent(cmd_nodes::AgentArgs),
    SimFleet(cmd_nodes::SimFleetArgs),
    Demo(cmd_demo::DemoArgs),
    Bench(cmd_bench::BenchArgs),
    Simulate(cmd_simulate::SimulateArgs),
    /// The cell's placement policy.
    #[command(subcommand)]
    Policy(cmd_policy::PolicyCommand),
    /// The cell's tenant tree and fair-share policy.
    #[command(subcommand)]
    Tenants(cmd_tenants::TenantsCommand),
    Shares(cmd_shares::SharesArgs),
    /// Replay the log: re-derive and verify every recorded decision.
    #[command(subcommand)]
    Replay(cmd_replay::ReplayCommand),
    /// Identities and their permissions, enforced by the NATS server.
    #[command(subcommand)]
    Auth(cmd_auth::AuthCommand),
    /// The keys whose signatures the cell's fold takes.
    #[command(subcommand)]
    Roster(cmd_roster::RosterCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROTA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        let target = cli.target;
        match cli.command {
            Command::Run(args) => cmd_run::run(&target, args).await,
            Command::Submit(args) => cmd_submit::submit(&target, args).await,
            Command::Cancel(args) => cmd_submit::cancel(&target, args).await,
            Command::Status(args) => cmd_status::status(&target, args).await,
            Command::Explain(args) => cmd_explain::explain(&target, args).await,
            Command::Watch(args) => cmd_watch::watch(&target, args).await,
            Command::Agent(args) => cmd_nodes::agent(&target, args).await,
            Command::SimFleet(args) => cmd_nodes::sim_fleet(&target, args).await,
            Command::Demo(args) => cmd_demo::demo(&target, args).await,
            Command::Bench(args) => cmd_bench::bench(&target, args).await,
            Command::Simulate(args) => cmd_simulate::simulate(args),
            Command::Replay(command) => cmd_replay::replay(&target, command).await,
            Command::Policy(command) => cmd_policy::policy(&target, command).await,
            Command::Tenants(command) => cmd_tenants::tenants(&target, command).await,
            Command::Shares(args) => cmd_shares::shares(&target, args).await,
            Command::Auth(command) => cmd_auth::auth(&target, command).await,
            Command::Roster(command) => cmd_roster::roster(&target, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

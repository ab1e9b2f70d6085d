//! `rota auth init`: the identities of a cell, as a nats-server
//! configuration with one NKey user per identity and a seed file for each.

use crate::Target;
use rota_events::check_name;
use rota_shell::access::{Identity, SERVICES};
use rota_shell::access_files::{
    AUTH_CONFIG_FILE, AccessFiles, CREDS_DIR, SERVER_CONFIG_FILE, TLS_DIR,
};
use rota_shell::roster::ROSTER_FILE;
use std::path::PathBuf;
use std::process::ExitCode;

/// Most tenants or nodes one `rota auth init` writes: the configuration
/// lists every user, and the server reads it whole at start.
pub const IDENTITIES_MAX: usize = 10_000;

#[derive(clap::Subcommand, Debug)]
pub enum AuthCommand {
    /// Write a server configuration in which every identity may publish
    /// and read only what its part allows, and a seed file for each.
    #[command(
        after_help = "Writes, under --out: auth.conf (the authorization block: one NKey user per identity with publish and subscribe allow-lists), nats-server.conf (JetStream and TLS on, including auth.conf), tls/ (the cell's certificate authority ca.pem, and the server's certificate and key for localhost, 127.0.0.1 and each --host), creds/<identity>.nk, one secret seed file per identity (operator, auditor, services, service-<name> for each service, fleet, tenant-<name> for each --tenant, agent-<node> for each --node), and roster.json, every identity's public key, for the operator to set as the cell's roster (`rota roster set`): from then on the fold takes only events signed by their writers. Start the server with `nats-server -c <out>/nats-server.conf -sd <store>`, and give each `rota` command its identity with --creds or NATS_CREDS and the authority with --tls-ca or NATS_CA. docs/security.md says who may do what.\n\nExample:\n  rota auth init --out ./auth --tenant acme --tenant beta --node gpu-01\n  nats-server -c ./auth/nats-server.conf -sd /var/lib/rota\n  rota roster set --file ./auth/roster.json --creds ./auth/creds/operator.nk --tls-ca ./auth/tls/ca.pem\n  rota submit job.yaml --creds ./auth/creds/tenant-acme.nk --tls-ca ./auth/tls/ca.pem"
    )]
    Init(InitArgs),
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The directory to write; it must not hold a configuration already.
    #[arg(long)]
    pub out: PathBuf,
    /// A tenant to give credentials (repeat for more).
    #[arg(long = "tenant")]
    pub tenants: Vec<String>,
    /// A node whose agent to give credentials (repeat for more).
    #[arg(long = "node")]
    pub nodes: Vec<String>,
    /// A host name or address clients reach the server by, besides
    /// localhost and 127.0.0.1, for its certificate (repeat for more).
    #[arg(long = "host")]
    pub hosts: Vec<String>,
}

pub async fn auth(target: &Target, command: AuthCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuthCommand::Init(args) => init(&target.cell, &args),
    }
}

fn init(cell: &str, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let identities = identities(args)?;
    let files =
        AccessFiles::write(&args.out, cell, identities, &args.hosts).map_err(anyhow::Error::msg)?;
    println!(
        "wrote {} users for cell {cell} to {}: {SERVER_CONFIG_FILE}, {AUTH_CONFIG_FILE}, {CREDS_DIR}/<identity>.nk, {TLS_DIR}/ and {ROSTER_FILE} (clients: --creds {CREDS_DIR}/<identity>.nk --tls-ca {}; set the roster as the operator with `rota roster set --file {ROSTER_FILE}`)",
        files.users(),
        args.out.display(),
        files.tls.ca.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every identity of the cell: the fixed ones, then the tenants and nodes
/// asked for, each checked as a subject token.
fn identities(args: &InitArgs) -> anyhow::Result<Vec<Identity>> {
    for (what, names) in [("tenant", &args.tenants), ("node", &args.nodes)] {
        if names.len() > IDENTITIES_MAX {
            anyhow::bail!(
                "{} {what}s given; at most {IDENTITIES_MAX} per `rota auth init`",
                names.len()
            );
        }
        for name in names {
            check_name(what, name)?;
        }
    }
    let mut identities = Identity::of_every_cell();
    identities.extend(SERVICES.iter().map(|s| Identity::Service(s.to_string())));
    identities.extend(args.tenants.iter().cloned().map(Identity::Tenant));
    identities.extend(args.nodes.iter().cloned().map(Identity::Agent));
    identities.dedup();
    Ok(identities)
}

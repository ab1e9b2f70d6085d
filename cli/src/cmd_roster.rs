//! `rota roster`: the keys whose signatures the cell's fold takes, set as
//! an event in the log by the operator.

use crate::Target;
use rota_shell::roster::{ROSTER_FILE, RosterFile, current_roster, set_roster};
use std::path::PathBuf;
use std::process::ExitCode;

/// Largest roster file read, in bytes: a roster is one message of the log.
pub const ROSTER_FILE_BYTES_MAX: u64 = 1 << 20;

#[derive(clap::Subcommand, Debug)]
pub enum RosterCommand {
    /// Set the cell's roster from a file: from this point of the log on,
    /// the fold takes an event other than a tenant's only when a key the
    /// roster names for an identity that may write it signed it.
    #[command(
        after_help = "Run as the operator (--creds <auth>/creds/operator.nk): the first roster must be signed by an operator key it names, each later one by an operator of the roster in force.\n\nExample:\n  rota auth init --out ./auth --tenant acme --node gpu-01\n  rota roster set --file ./auth/roster.json --creds ./auth/creds/operator.nk --tls-ca ./auth/tls/ca.pem"
    )]
    Set {
        /// The roster file, as `rota auth init` writes it (roster.json).
        #[arg(long)]
        file: PathBuf,
    },
    /// Print the roster in force: its version and whose each key is.
    Show,
}

pub async fn roster(target: &Target, command: RosterCommand) -> anyhow::Result<ExitCode> {
    match command {
        RosterCommand::Set { file } => set(target, &file).await,
        RosterCommand::Show => show(target).await,
    }
}

async fn set(target: &Target, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text = crate::document::read_bounded(file, "roster", ROSTER_FILE_BYTES_MAX)?;
    let roster = RosterFile::parse(&text, file).map_err(anyhow::Error::msg)?;
    let members = roster.members.len();
    let log = target.connect().await?;
    let (version, seq) = set_roster(&log, roster.members).await?;
    println!(
        "roster version {version} set at sequence {seq}: {members} keys; events other than tenants' must now be signed by them"
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(target: &Target) -> anyhow::Result<ExitCode> {
    let log = target.connect().await?;
    let roster = current_roster(&log).await?;
    if !roster.is_set() {
        println!(
            "the cell has no roster: its fold takes unsigned events; set one with `rota roster set --file <auth>/{ROSTER_FILE}`"
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "roster version {}: {} keys",
        roster.version,
        roster.members.len()
    );
    for (key, identity) in &roster.members {
        println!("  {}  {key}", identity.name());
    }
    Ok(ExitCode::SUCCESS)
}

//! `rota tenants`: the cell's tenant tree and fair-share policy, set as an
//! event in the log.

use crate::Target;
use rota_events::{Body, Event, TenantConfig, TenantsSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest tenants file read, in bytes.
pub const TENANTS_FILE_BYTES_MAX: u64 = 4 << 20;

#[derive(clap::Subcommand, Debug)]
pub enum TenantsCommand {
    /// Set the tenant tree and fair-share policy from a YAML or JSON file; it
    /// replaces the previous configuration from this point of the log on.
    #[command(after_help = "Example:
  rota tenants set --file tenants.yaml

A tenants file (YAML or JSON; every field but names optional):
  fair_share:
    mode: classic            # classic, fair_tree or drf
    half_life_s: 604800      # usage halves after a week
    weights: {cpu_core_milli: 1000, memory_gib_milli: 250, gpu_device_milli: 2000}
    update_interval_s: 60
    significant_change: 50   # of 1000
  unknown_tenants: {admit: true, shares: 1}
  tenants:
    - name: physics
      shares: 60
      quota:
        guaranteed: {cpu_milli: 64000, memory_bytes: 274877906944}
        max: {cpu_milli: 96000, memory_bytes: 412316860416}
      children:
        - {name: alice, shares: 1, limits: {max_running_jobs: 100, max_pending_jobs: 1000}}
        - {name: bob, shares: 1}
    - name: biology
      shares: 40
      quota: {guaranteed: {cpu_milli: 32000, memory_bytes: 137438953472}}")]
    Set {
        /// The tenants file.
        #[arg(long)]
        file: PathBuf,
    },
}

pub async fn tenants(target: &Target, command: TenantsCommand) -> anyhow::Result<ExitCode> {
    let TenantsCommand::Set { file } = command;
    let config = read_tenants_file(&file)?;
    let tenants = config.tenants.len();
    let mode = config.fair_share.mode.as_str();
    let log = target.connect().await?;
    let event = Event::new(
        ulid::Ulid::new().to_string(),
        &target.cell,
        Body::TenantsSet(TenantsSet { config }),
    );
    let seq = log.publish(&event).await?;
    println!(
        "tenants set at sequence {seq}: {tenants} top-level tenants, fair share {mode}; see them with: rota shares"
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks a tenants file.
pub fn read_tenants_file(path: &Path) -> anyhow::Result<TenantConfig> {
    let text = crate::document::read_bounded(path, "tenants", TENANTS_FILE_BYTES_MAX)?;
    let config: TenantConfig = crate::document::parse_strict(&text)
        .map_err(|e| anyhow::anyhow!("invalid tenants file {}: {e}", path.display()))?;
    config
        .validate()
        .map_err(|problem| anyhow::anyhow!("invalid tenants file {}: {problem}", path.display()))?;
    let encoded = rota_events::encode(&Event::new(
        "size-check",
        "size-check",
        Body::TenantsSet(TenantsSet {
            config: config.clone(),
        }),
    ));
    if encoded.len() > rota_events::EVENT_BYTES_MAX {
        anyhow::bail!(
            "{} encodes to {} bytes, over the {} an event may have; use fewer tenants (unknown tenants may be admitted under the root instead of listed)",
            path.display(),
            encoded.len(),
            rota_events::EVENT_BYTES_MAX
        );
    }
    Ok(config)
}

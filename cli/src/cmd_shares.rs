//! `rota shares`: the tenant tree as Slurm's `sshare` shows it, folded from
//! the log at its head or at any earlier sequence.

use crate::Target;
use rota_events::{ResourceAmounts, ResourceLimits, TenantLimits};
use rota_projections::CellState;
use rota_projections::accounts::fairness::{
    self, classic, dominant_share, effective_usage, fair_tree, subtree_usage,
};
use rota_projections::accounts::quota::borrowed;
use rota_projections::accounts::ready_capacity;
use rota_projections::accounts::tree::ROOT;
use serde::Serialize;
use std::process::ExitCode;

/// Show every tenant's shares, usage, fair-share factor, dominant share and
/// quota, as of the log's head or of sequence `--at`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  rota shares\n  rota shares --at 12000 --json")]
pub struct SharesArgs {
    /// Fold the log only up to this sequence (inclusive).
    #[arg(long)]
    pub at: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One tenant's line.
#[derive(Debug, Serialize)]
pub struct ShareRow {
    pub tenant: String,
    /// Below the root: 1 for top-level tenants.
    pub depth: usize,
    pub parent: Option<String>,
    pub raw_shares: u32,
    pub norm_shares: f64,
    /// Decayed weighted resource-seconds of the tenant and its subtree.
    pub raw_usage: f64,
    pub norm_usage: f64,
    pub effective_usage: f64,
    /// The factor placement uses now: the last published one (leaves).
    pub fair_share: Option<u32>,
    /// The factor the policy's mode gives now (leaves).
    pub fair_share_now: Option<u32>,
    pub classic_factor: f64,
    pub fair_tree_factor: Option<f64>,
    /// The largest fraction of the cell's capacity held in any resource.
    pub drf_share: f64,
    pub running_jobs: u32,
    pub pending_jobs: u32,
    pub allocated: ResourceAmounts,
    pub guaranteed: Option<ResourceLimits>,
    pub max: Option<ResourceLimits>,
    /// What it holds beyond its guarantee: reclaimable by its cohort.
    pub borrowed: Option<ResourceAmounts>,
    pub limits: TenantLimits,
}

/// The rows of `state`'s tenant tree, depth first.
pub fn rows(state: &CellState) -> Vec<ShareRow> {
    let accounts = &state.accounts;
    let tree = &accounts.tree;
    let usage = subtree_usage(accounts, state.now_ms);
    let norm_shares = tree.normalized_shares();
    let effective = effective_usage(tree, &usage);
    let classic_factors = classic(tree, &usage);
    let fair_tree_factors = fair_tree(tree, &usage);
    let capacity = ready_capacity(state);
    let now_factors: std::collections::BTreeMap<usize, u32> =
        fairness::leaf_factors(accounts, state.now_ms, &capacity)
            .into_iter()
            .collect();
    let holdings = accounts.holdings();
    let pending = accounts.subtree_pending();
    let mut order = Vec::new();
    let mut stack: Vec<usize> = tree.nodes[ROOT].children.iter().rev().copied().collect();
    while let Some(node) = stack.pop() {
        order.push(node);
        stack.extend(tree.nodes[node].children.iter().rev());
    }
    order
        .into_iter()
        .map(|i| {
            let node = &tree.nodes[i];
            let leaf = node.is_leaf();
            ShareRow {
                tenant: node.name.clone(),
                depth: tree.depth(i),
                parent: node
                    .parent
                    .filter(|p| *p != ROOT)
                    .map(|p| tree.nodes[p].name.clone()),
                raw_shares: node.shares,
                norm_shares: norm_shares[i],
                raw_usage: usage[i],
                norm_usage: if usage[ROOT] > 0.0 {
                    usage[i] / usage[ROOT]
                } else {
                    0.0
                },
                effective_usage: effective[i],
                fair_share: leaf
                    .then(|| accounts.factors.get(&node.name).copied())
                    .flatten(),
                fair_share_now: leaf.then(|| now_factors.get(&i).copied()).flatten(),
                classic_factor: classic_factors[i],
                fair_tree_factor: leaf.then_some(fair_tree_factors[i]),
                drf_share: dominant_share(&holdings.allocated[i], &capacity),
                running_jobs: holdings.running[i],
                pending_jobs: pending[i],
                allocated: holdings.allocated[i],
                guaranteed: node.quota.map(|q| q.guaranteed),
                max: node.quota.map(|q| q.max),
                borrowed: node.quota.map(|_| borrowed(tree, &holdings, i)),
                limits: node.limits,
            }
        })
        .collect()
}

pub async fn shares(target: &Target, args: SharesArgs) -> anyhow::Result<ExitCode> {
    let log = target.connect().await?;
    let entries = log.read_all().await?;
    let head = entries.last().map_or(0, |e| e.seq);
    if let Some(at) = args.at
        && at > head
    {
        anyhow::bail!("--at {at} is past the log's head, sequence {head}; give 1 to {head}");
    }
    let mut state = CellState::new(&target.cell);
    for entry in entries
        .iter()
        .take_while(|e| args.at.is_none_or(|at| e.seq <= at))
    {
        state.apply(entry);
    }
    let rows = rows(&state);
    if args.json {
        let report = serde_json::json!({
            "cell": target.cell,
            "at_seq": state.applied_seq,
            "at_ms": state.now_ms,
            "mode": state.accounts.config.fair_share.mode.as_str(),
            "half_life_s": state.accounts.config.fair_share.half_life_s,
            "tenants": rows,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&state, &rows);
    Ok(ExitCode::SUCCESS)
}

fn print_table(state: &CellState, rows: &[ShareRow]) {
    let policy = &state.accounts.config.fair_share;
    println!(
        "cell {} at sequence {}: fair share {}, usage half-life {} s",
        state.cell,
        state.applied_seq,
        policy.mode.as_str(),
        policy.half_life_s
    );
    println!(
        "{:<24} {:>9} {:>10} {:>12} {:>10} {:>10} {:>9} {:>8} {:>7} {:>7}",
        "Tenant",
        "RawShares",
        "NormShares",
        "RawUsage",
        "NormUsage",
        "EffectvUsg",
        "FairShare",
        "DRFShare",
        "Running",
        "Pending"
    );
    for row in rows {
        let name = format!("{}{}", " ".repeat(row.depth.saturating_sub(1)), row.tenant);
        let factor = row
            .fair_share
            .map_or(String::new(), |f| format!("{:.3}", f64::from(f) / 1000.0));
        println!(
            "{:<24} {:>9} {:>10.6} {:>12.0} {:>10.6} {:>10.6} {:>9} {:>8.4} {:>7} {:>7}",
            name,
            row.raw_shares,
            row.norm_shares,
            row.raw_usage,
            row.norm_usage,
            row.effective_usage,
            factor,
            row.drf_share,
            row.running_jobs,
            row.pending_jobs
        );
    }
    let quotas: Vec<&ShareRow> = rows.iter().filter(|r| r.guaranteed.is_some()).collect();
    if quotas.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<24} {:<13} {:>16} {:>16} {:>16} {:>22}",
        "Quota", "resource", "used", "guaranteed", "max", "borrowed (reclaimable)"
    );
    for row in quotas {
        let guaranteed = row.guaranteed.unwrap_or_default();
        let borrowed = row.borrowed.unwrap_or_default();
        let limit = |amounts: Option<ResourceLimits>, r: usize| {
            amounts
                .and_then(|a| a.named()[r].1)
                .map_or("-".to_string(), |v| v.to_string())
        };
        for (r, (resource, used)) in row.allocated.named().iter().enumerate() {
            if guaranteed.named()[r].1.is_none() {
                continue;
            }
            println!(
                "{:<24} {:<13} {:>16} {:>16} {:>16} {:>22}",
                row.tenant,
                resource,
                used,
                limit(row.guaranteed, r),
                limit(row.max, r),
                borrowed.named()[r].1
            );
        }
    }
}

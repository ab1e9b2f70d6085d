//! Fair share over real JetStream, with admission, placement and the
//! fair-share service running: the DRF paper's allocation while both
//! tenants stay backlogged; usage-based factors changing which job starts
//! next; a tenant over its maximum quota held, not lost, and run when its
//! usage drops, with borrowed quota reported as reclaimable by
//! `rota shares` at the head of the log and at an earlier sequence.

use rota_events::*;
use rota_projections::{CellState, JobState, LogEntry};
use rota_shell::access::Identity;
use rota_shell::nodes::{NodeSpec, SimRunner, run_nodes};
use rota_testkit::{CELL, TestBed, assert_replay_clean};
use std::sync::Arc;

const ROTA: &str = env!("CARGO_BIN_EXE_rota");

/// Runs `rota <args>` as `identity` against the bed's server.
fn rota(bed: &TestBed, identity: Identity, args: &[&str]) -> std::process::Output {
    bed.rota(ROTA, &identity, args)
}

fn tenants(mode: FairShareMode, tenants: Vec<TenantNode>) -> Event {
    let config = TenantConfig {
        fair_share: FairSharePolicy {
            mode,
            ..Default::default()
        },
        tenants,
        ..Default::default()
    };
    Event::new("tenants", CELL, Body::TenantsSet(TenantsSet { config }))
}

fn task(tenant: &str, id: &str, cpu_milli: u64, memory_gib: u64, duration_ms: u64) -> Event {
    let body = Body::JobSubmitted(Arc::new(JobSubmitted {
        job: id.into(),
        resources: Resources {
            cpu_milli,
            memory_bytes: memory_gib << 30,
            ..Default::default()
        },
        duration_ms: Some(duration_ms),
        ..Default::default()
    }));
    Event::new(id, CELL, body).with_tenant(tenant)
}

fn node(name: &str, cpu_milli: u64, memory_gib: u64) -> NodeSpec {
    NodeSpec {
        name: name.into(),
        capacity: Resources {
            cpu_milli,
            memory_bytes: memory_gib << 30,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn all_finished(count: usize) -> impl Fn(&CellState) -> bool {
    move |s| s.jobs.len() == count && s.jobs.values().all(|j| j.state == JobState::Finished)
}

/// Jobs holding a node, per tenant.
fn holding(state: &CellState, tenant: &str) -> usize {
    state.holding.get(tenant).map_or(0, |jobs| jobs.len())
}

fn pending(state: &CellState, tenant: &str) -> u32 {
    state
        .accounts
        .tenants
        .get(tenant)
        .map_or(0, |account| account.pending_jobs)
}

/// The state placement intended after each of its rounds: the fold up to
/// the round's basis, with the round applied.
fn after_each_placement_round(entries: &[LogEntry]) -> Vec<CellState> {
    let mut outcomes = Vec::new();
    let mut at_basis = CellState::new(CELL);
    let mut next = 0;
    for (i, entry) in entries.iter().enumerate() {
        let Ok(event) = &entry.event else { continue };
        let Some(round) = event.round.as_ref().filter(|r| r.service == "placement") else {
            continue;
        };
        if round.index != 0 {
            continue;
        }
        while next < entries.len() && entries[next].seq <= round.basis {
            at_basis.apply(&entries[next]);
            next += 1;
        }
        let mut after = at_basis.clone();
        for landed in &entries[i..i + round.size as usize] {
            after.apply(landed);
        }
        outcomes.push(after);
    }
    outcomes
}

/// Ghodsi et al., NSDI 2011: 9 CPUs and 18 GB; A's tasks need <1 CPU,
/// 4 GB>, B's <3 CPUs, 1 GB>. While both have tasks waiting, every
/// placement round leaves A running 3 and B running 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drf_runs_three_tasks_of_a_and_two_of_b_while_both_are_backlogged() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    bed.submit(&[tenants(
        FairShareMode::Drf,
        vec![TenantNode::leaf("a", 1), TenantNode::leaf("b", 1)],
    )])
    .await;
    let mut jobs = Vec::new();
    for i in 0..12 {
        jobs.push(task("a", &format!("a-{i:02}"), 1000, 4, 300));
        jobs.push(task("b", &format!("b-{i:02}"), 3000, 1, 300));
    }
    bed.submit(&jobs).await;
    bed.wait_for("every task admitted", |s| {
        s.jobs.len() == jobs.len() && s.jobs.values().all(|j| j.state == JobState::Pending)
    })
    .await;
    // The node registers only now, so that placement meets both tenants
    // backlogged from its first round on.
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        vec![node("drf-node", 9000, 18)],
        SimRunner::new(1.0),
        bed.shutdown.clone(),
    ));
    bed.wait_for("every task finished", all_finished(jobs.len()))
        .await;
    let entries = bed.entries().await;
    let rounds = after_each_placement_round(&entries);
    let backlogged: Vec<&CellState> = rounds
        .iter()
        .filter(|s| pending(s, "a") > 0 && pending(s, "b") > 0)
        .collect();
    assert!(
        backlogged.len() >= 3,
        "both tenants were backlogged for {} rounds only",
        backlogged.len()
    );
    for state in backlogged {
        assert_eq!(
            (holding(state, "a"), holding(state, "b")),
            (3, 2),
            "after the placement round at sequence {}",
            state.applied_seq
        );
    }
    bed.stop_services().await;
    fleet.await.unwrap().unwrap();
    assert_replay_clean(&bed.entries().await);
}

/// Equal shares, classic fair share: a tenant that has been using the
/// node ranks below one that has not, so when the node frees up the
/// newcomer's job starts before the heavy user's older ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_changes_which_job_starts_next() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    bed.submit(&[tenants(
        FairShareMode::Classic,
        vec![TenantNode::leaf("heavy", 1), TenantNode::leaf("light", 1)],
    )])
    .await;
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        vec![node("one-core", 1000, 4)],
        SimRunner::new(1.0),
        bed.shutdown.clone(),
    ));
    bed.submit(&[task("heavy", "h0", 1000, 1, 1500)]).await;
    bed.wait_for("h0 running", |s| {
        s.jobs
            .get("h0")
            .is_some_and(|j| j.state == JobState::Running)
    })
    .await;
    bed.submit(&[
        task("heavy", "h1", 1000, 1, 100),
        task("heavy", "h2", 1000, 1, 100),
    ])
    .await;
    bed.submit(&[task("light", "l1", 1000, 1, 100)]).await;
    let state = bed.wait_for("all four finished", all_finished(4)).await;
    let started = |id: &str| state.jobs[id].first_bound_ms.unwrap();
    assert!(
        started("l1") < started("h1"),
        "the light user's later job started first: l1 at {}, h1 at {}",
        started("l1"),
        started("h1")
    );
    let factors = &state.accounts.factors;
    assert!(
        factors["light"] > factors["heavy"],
        "published factors: {factors:?}"
    );
    bed.stop_services().await;
    fleet.await.unwrap().unwrap();
    assert_replay_clean(&bed.entries().await);
}

/// Red and blue share a lab's cohort, each guaranteed 4 of the node's 8
/// CPUs; red may borrow up to 6. Red's eight one-CPU jobs: six run (two on
/// borrowed quota, reclaimable), two are held, not lost, and run once red's
/// usage drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_maximum_quota_is_held_then_runs() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    // The tree comes from a file, through the CLI.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "fair_share: {mode: classic, half_life_s: 3600}
tenants:
  - name: lab
    children:
      - name: red
        quota:
          guaranteed: {cpu_milli: 4000}
          max: {cpu_milli: 6000}
      - name: blue
        quota: {guaranteed: {cpu_milli: 4000}}
",
    )
    .unwrap();
    let set = rota(
        &bed,
        Identity::Operator,
        &["tenants", "set", "--file", file.path().to_str().unwrap()],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        bad.path(),
        "tenants: [{name: red, quota: {guaranteed: {cpu_milli: 4000}, max: {cpu_milli: 2000}}}]\n",
    )
    .unwrap();
    let refused = rota(
        &bed,
        Identity::Operator,
        &["tenants", "set", "--file", bad.path().to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(
            "quota.max.cpu_milli is 2000, below quota.guaranteed.cpu_milli 4000; max must be at least the guarantee"
        ),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let jobs: Vec<Event> = (0..8)
        .map(|i| task("red", &format!("red-{i}"), 1000, 1, 1500))
        .collect();
    bed.submit(&jobs).await;
    bed.wait_for("every red job admitted", |s| {
        s.jobs.len() == 8 && s.jobs.values().all(|j| j.state == JobState::Pending)
    })
    .await;
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        vec![node("lab-node", 8000, 16)],
        SimRunner::new(1.0),
        bed.shutdown.clone(),
    ));
    let state = bed
        .wait_for("six red jobs on the node", |s| holding(s, "red") == 6)
        .await;
    let borrowing_seq = state.applied_seq;
    let held: Vec<&String> = state
        .jobs
        .iter()
        .filter(|(_, j)| j.state == JobState::Pending)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(held.len(), 2, "two held, none lost");
    assert_eq!(
        state.jobs.values().filter(|j| j.reclaimable).count(),
        2,
        "the two on borrowed quota are reclaimable"
    );
    let explained = rota(&bed, Identity::Auditor, &["explain", held[0]]);
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(
        text.contains(
            "held: tenant red's maximum quota: cpu_milli 6000 in use + 1000 asked exceeds 6000"
        ),
        "{text}"
    );

    let state = bed.wait_for("all eight finished", all_finished(8)).await;
    assert_eq!(holding(&state, "red"), 0);

    // `rota shares` at the head: nothing borrowed any more; at the
    // sequence when six ran: 2 CPUs borrowed, reclaimable.
    let shares = rota(&bed, Identity::Auditor, &["shares"]);
    let text = String::from_utf8_lossy(&shares.stdout);
    assert!(shares.status.success(), "{text}");
    for needle in [
        "lab",
        " red",
        " blue",
        "borrowed (reclaimable)",
        "FairShare",
    ] {
        assert!(text.contains(needle), "shares lacks {needle:?}:\n{text}");
    }
    let at = borrowing_seq.to_string();
    let json = rota(&bed, Identity::Auditor, &["shares", "--at", &at, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json.stdout)));
    assert_eq!(report["at_seq"], borrowing_seq);
    let row = |name: &str| {
        report["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tenant"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("red")["running_jobs"], 6);
    assert_eq!(row("red")["pending_jobs"], 2);
    assert_eq!(row("red")["borrowed"]["cpu_milli"], 2000);
    assert_eq!(row("blue")["guaranteed"]["cpu_milli"], 4000);
    assert_eq!(row("lab")["running_jobs"], 6);
    assert!(row("red")["raw_usage"].as_f64().unwrap() >= 0.0);
    let too_far = rota(&bed, Identity::Auditor, &["shares", "--at", "99999999"]);
    assert!(!too_far.status.success());
    assert!(
        String::from_utf8_lossy(&too_far.stderr).contains("past the log's head"),
        "{}",
        String::from_utf8_lossy(&too_far.stderr)
    );

    bed.stop_services().await;
    fleet.await.unwrap().unwrap();
    assert_replay_clean(&bed.entries().await);
}

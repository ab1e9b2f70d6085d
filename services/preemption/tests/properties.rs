//! Properties of every round over random clusters and queues: no protected
//! job is ever a victim, every victim set is minimal, and no job is
//! preempted past its class's most.

mod cell;

use cell::*;
use rota_events::*;
use rota_preemption::invariants::{check_preemption_counts, check_round, fits_without};
use rota_projections::{OccupantTerms, SeededRng};

const SEEDS: u64 = 300;
const ROUNDS: usize = 6;

fn random_cell(rng: &mut SeededRng) -> Cell {
    let mut cell = Cell::new();
    let class = |rng: &mut SeededRng| ClassPreemption {
        preempts: Preempts::Never,
        preemptible: rng.below(4) != 0,
        mode: *rng.pick(&[PreemptionMode::Requeue, PreemptionMode::Cancel]),
        grace_s: 0,
        min_run_s: *rng.pick(&[0, 0, 30, 300]),
        max_preemptions: 1 + rng.below(3) as u32,
    };
    let low = class(rng);
    let mid = class(rng);
    cell.policy(
        &[
            ("high", 900, preempting()),
            ("mid", 500, mid),
            ("low", 100, low),
        ],
        |policy| policy.preemption.min_interval_s = *rng.pick(&[0, 60]),
    );
    let nodes = 1 + rng.below(6);
    for n in 0..nodes {
        let cpus = *rng.pick(&[4, 8, 16]);
        let name = format!("n{n}");
        cell.node(&name, cpus);
        let mut free = cpus;
        let mut j = 0;
        while free > 0 {
            let cpus = (1 + rng.below(4)).min(free);
            let class = *rng.pick(&["low", "mid", "high"]);
            cell.run(&format!("r{n}-{j}"), "acme", Some(class), cpus, &name);
            cell.advance_s(rng.below(120));
            free -= cpus;
            j += 1;
        }
    }
    for w in 0..1 + rng.below(6) {
        let class = *rng.pick(&["low", "mid", "high", "high"]);
        cell.wait(&format!("w{w}"), "acme", Some(class), 1 + rng.below(8));
    }
    cell
}

#[test]
fn every_round_spares_the_protected_and_takes_a_minimal_set() {
    let mut preempted = 0;
    for seed in 0..SEEDS {
        let mut rng = SeededRng::new(seed);
        let mut cell = random_cell(&mut rng);
        for _ in 0..ROUNDS {
            let before = cell.state.clone();
            let round = cell.decide_and_apply();
            if let Err(broken) = check_round(&before, &round) {
                panic!("seed {seed}: {broken}");
            }
            let victims = Cell::victims(&round);
            preempted += victims.len();
            for victim in &victims {
                cell.victim_ends(victim);
            }
            if let Err(broken) = check_preemption_counts(&cell.state) {
                panic!("seed {seed}: {broken}");
            }
            // Requeued victims and waiting jobs run where they now fit, as
            // placement would bind them, so that later rounds see new runs.
            bind_what_fits(&mut cell);
            cell.advance_s(rng.below(200));
        }
    }
    assert!(
        preempted > SEEDS as usize,
        "the workloads preempted too little to test: {preempted}"
    );
}

/// Binds every pending job to the first node with room (nominated jobs to
/// their node), as a simple placement would.
fn bind_what_fits(cell: &mut Cell) {
    let pending: Vec<String> = cell.state.placement.pending.ids().cloned().collect();
    for id in pending {
        let job = &cell.state.jobs[&id];
        let nominated = cell.state.nominations.get(&id).map(|n| n.node.clone());
        let held: Vec<String> = cell
            .state
            .nominations
            .iter()
            .map(|(_, n)| n.node.clone())
            .collect();
        let node = cell.state.nodes.iter().find(|(name, _)| {
            let allowed = match &nominated {
                Some(node) => node == *name,
                None => !held.contains(name),
            };
            allowed && fits_without(&cell.state, &id, name, &[])
        });
        if let Some((name, _)) = node {
            let (name, resources, tenant) = (name.clone(), job.spec.resources, job.tenant.clone());
            cell.decision(
                "placement",
                Body::JobBound(JobBound {
                    job: id.clone(),
                    node: name,
                    resources,
                    ..Default::default()
                }),
                &tenant,
            );
        }
    }
}

/// The cheapest plan by brute force: every node that could hold the job,
/// every allowed unprotected victim, no bound to prune by.
fn cheapest_by_brute_force(
    view: &rota_preemption::RoundView<'_>,
    job: &rota_projections::Job,
) -> Option<(String, rota_preemption::Cost)> {
    use rota_preemption::{Cost, Room, Victim, minimal_set, rules_for};
    let request = &job.spec.resources;
    let extended = &job.spec.constraints.extended;
    for allowed in rules_for(view, job) {
        let mut best: Option<(String, Cost)> = None;
        for (name, node) in &view.state.nodes {
            if node.state != rota_projections::NodeState::Ready
                || !request.fits_within(&node.whole())
                || rota_projections::node_filters::refusal(job, node).is_some()
            {
                continue;
            }
            let mut eligible: Vec<Victim<'_>> = Vec::new();
            for o in view.state.occupants.on_node(name) {
                let terms = OccupantTerms::of(o);
                let priority = view.class_of(terms.class).priority;
                if allowed.allows(view, o, &terms, priority) && view.protection(&terms).is_none() {
                    eligible.push(Victim::new(o, &terms, priority, view.state.now_ms));
                }
            }
            let room = Room::free_on(node, extended);
            if room.fits(request, extended) || eligible.is_empty() {
                continue;
            }
            if !minimal_set(&room, &mut eligible, request, extended) {
                continue;
            }
            let cost = Cost::of(&eligible);
            if best.as_ref().is_none_or(|(_, b)| cost < *b) {
                best = Some((name.clone(), cost));
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

#[test]
fn the_search_finds_the_cheapest_node_that_brute_force_finds() {
    let mut compared = 0;
    for seed in 0..SEEDS {
        let mut rng = SeededRng::new(seed);
        let cell = random_cell(&mut rng);
        let view = rota_preemption::RoundView::of(&cell.state);
        for id in cell.state.placement.pending.ids() {
            let job = &cell.state.jobs[id];
            let found = match rota_preemption::outlook(&view, id, job) {
                rota_preemption::Outlook::Preempts(plan) => {
                    Some((plan.node.to_string(), plan.cost))
                }
                rota_preemption::Outlook::Fits { .. } => continue,
                _ => None,
            };
            assert_eq!(
                found,
                cheapest_by_brute_force(&view, job),
                "seed {seed}, job {id}"
            );
            compared += usize::from(found.is_some());
        }
    }
    assert!(
        compared > SEEDS as usize,
        "too few plans compared: {compared}"
    );
}

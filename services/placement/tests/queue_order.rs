//! The queue's multifactor priority as given/when/then: the job's own
//! priority against the time it has waited, under the policy's weights.

mod common;

use common::{Driver, r};
use rota_events::*;
use rota_projections::ServiceCore;

/// One node with room for one job; an old low-priority job, then 200 s
/// later a new high-priority one. Returns the job placed first.
fn first_placed(queue: QueueWeights) -> String {
    let mut driver = Driver::new();
    driver.policy(PlacementPolicy {
        queue,
        ..Default::default()
    });
    driver.node("only", r(1000, 1, 0));
    driver.job("blocker", r(1000, 1, 0), 0);
    driver.round();
    driver.job("old-low", r(1000, 1, 0), -1000);
    driver.tick_at(200_000);
    driver.job("new-high", r(1000, 1, 0), 1000);
    // The blocker ends; one of the two waiting jobs gets the node.
    let node = driver.core.state().jobs["blocker"].node.clone().unwrap();
    driver.push(
        Event::new(
            "end",
            "default",
            Body::JobFinished(JobFinished {
                job: "blocker".into(),
                node,
                outcome: Outcome::Succeeded,
                exit_code: Some(0),
                signal: None,
                message: None,
            }),
        )
        .with_tenant("t"),
    );
    let bound = driver.round();
    assert_eq!(bound.len(), 1);
    let explanation = rota_placement::explain(driver.core.state(), "old-low").unwrap();
    assert_eq!(explanation.multifactor.priority_factor, 0);
    assert_eq!(
        explanation.multifactor.age_factor, 1000,
        "waited past age_max_s"
    );
    bound[0].0.clone()
}

#[test]
fn priority_wins_until_age_outweighs_it() {
    let age_max_s = 100;
    let priority_heavy = QueueWeights {
        priority: 1000,
        age: 100,
        fair_share: 0,
        age_max_s,
    };
    assert_eq!(first_placed(priority_heavy), "new-high");
    let age_heavy = QueueWeights {
        priority: 900,
        age: 1000,
        fair_share: 0,
        age_max_s,
    };
    assert_eq!(first_placed(age_heavy), "old-low");
}

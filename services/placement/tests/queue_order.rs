//! The queue's multifactor priority as given/when/then: the job's own
//! priority against the time it has waited, and priority classes, under the
//! policy's weights.

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
                checkpointed: false,
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
        age_max_s,
        ..Default::default()
    };
    assert_eq!(first_placed(priority_heavy), "new-high");
    let age_heavy = QueueWeights {
        priority: 900,
        age: 1000,
        age_max_s,
        ..Default::default()
    };
    assert_eq!(first_placed(age_heavy), "old-low");
}

#[test]
fn a_priority_class_outranks_job_priority_and_the_default_class_applies() {
    let mut driver = Driver::new();
    driver.policy(PlacementPolicy {
        priority_classes: [("high".to_string(), 900), ("batch".to_string(), 100)].into(),
        default_priority_class: Some("batch".into()),
        ..Default::default()
    });
    driver.node("only", r(1000, 1, 0));
    driver.job("blocker", r(1000, 1, 0), 0);
    driver.round();
    let with_class = |job: &str, class: Option<&str>, priority: i32| JobSubmitted {
        job: job.into(),
        resources: r(1000, 1, 0),
        priority,
        priority_class: class.map(str::to_string),
        ..Default::default()
    };
    driver.job_with(with_class("urgent-batch", None, 1000));
    driver.job_with(with_class("plain-high", Some("high"), 0));
    driver.job_with(with_class("low-batch", Some("batch"), -1000));
    let state = driver.core.state();
    let order: Vec<&str> = rota_placement::queue::ordered(state)
        .map(|(id, _)| id.as_str())
        .collect();
    // high: 1000 x 900 + 1000 x 500; urgent batch: 1000 x 100 + 1000 x 1000.
    assert_eq!(order, ["plain-high", "urgent-batch", "low-batch"]);
    let explanation = rota_placement::explain(state, "urgent-batch").unwrap();
    assert_eq!(
        explanation.multifactor.class_factor, 100,
        "the default class"
    );
    assert_eq!(explanation.queue_position, Some(2));
}

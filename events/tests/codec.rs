//! The wire format as a client sees it: round trips, JSON ingress, upcasting
//! of older versions, and every way a message can be refused.

use rota_events::*;
use std::collections::BTreeMap;
use std::sync::Arc;

fn submitted(job: &str) -> Event {
    Event::new(
        format!("ev-{job}"),
        "default",
        Body::JobSubmitted(Arc::new(JobSubmitted {
            job: job.to_string(),
            name: Some("train".to_string()),
            command: vec!["sleep".to_string(), "1".to_string()],
            resources: Resources {
                cpu_milli: 2000,
                memory_bytes: 1 << 30,
                gpus: 1,
                ..Default::default()
            },
            duration_ms: Some(1000),
            walltime_s: Some(60),
            priority: 5,
            priority_class: Some("high".to_string()),
            labels: BTreeMap::new(),
            constraints: Constraints {
                node_selector: BTreeMap::from([("zone".to_string(), "z1".to_string())]),
                tolerations: vec![Toleration {
                    key: "dedicated".into(),
                    value: None,
                    effect: None,
                }],
                gpu_model: Some("A100".into()),
                ..Default::default()
            },
            checkpoint: None,
        })),
    )
    .with_tenant("acme")
}

#[test]
fn messagepack_and_json_round_trip_to_the_same_event() {
    let event = submitted("j1");
    let subject = event.subject();
    assert_eq!(subject, "rota.default.job.acme.j1.submitted");
    let from_msgpack = decode(&subject, Encoding::MessagePack, &encode(&event)).unwrap();
    let from_json = decode(&subject, Encoding::Json, &encode_as(&event, Encoding::Json)).unwrap();
    assert_eq!(from_msgpack, event);
    assert_eq!(from_json, event);
}

#[test]
fn a_version_1_submission_still_decodes_and_is_upcast() {
    let v1 = serde_json::json!({
        "id": "old-1", "type": "job.submitted", "v": 1, "cell": "default", "tenant": "acme",
        "data": {"job": "j-old", "cpus": 2, "memory_mb": 512, "gpus": 1, "duration_ms": 50}
    });
    let payload = rmp_serde::to_vec_named(&v1).unwrap();
    let event = decode(
        "rota.default.job.acme.j-old.submitted",
        Encoding::MessagePack,
        &payload,
    )
    .unwrap();
    let Body::JobSubmitted(spec) = event.body else {
        panic!("not a submission")
    };
    assert_eq!(
        spec.resources,
        Resources {
            cpu_milli: 2000,
            memory_bytes: 512 * 1024 * 1024,
            gpus: 1,
            ..Default::default()
        }
    );
    assert_eq!(spec.duration_ms, Some(50));
}

#[test]
fn a_policy_logged_before_pending_jobs_max_existed_reads_as_the_default() {
    let old = serde_json::json!({
        "id": "p-old", "type": "policy.set", "v": 1, "cell": "default",
        "data": {"placement": {"backfill": "conservative", "default_estimate_s": 600}}
    });
    let event = decode(
        "rota.default.policy.set",
        Encoding::MessagePack,
        &rmp_serde::to_vec_named(&old).unwrap(),
    )
    .unwrap();
    let Body::PolicySet(set) = event.body else {
        panic!("not a policy")
    };
    assert_eq!(set.placement.pending_jobs_max, PENDING_JOBS_MAX_DEFAULT);
    assert_eq!(set.placement.backfill, Backfill::Conservative);
    assert_eq!(PlacementPolicy::default().pending_jobs_max, 100_000);
}

#[test]
fn unknown_fields_are_ignored() {
    let json = serde_json::json!({
        "id": "x1", "type": "job.cancel_requested", "v": 1, "cell": "default", "tenant": "acme",
        "future_field": [1, 2, 3],
        "data": {"job": "j1", "also_new": true}
    });
    let event = decode(
        "rota.default.job.acme.j1.cancel_requested",
        Encoding::Json,
        &serde_json::to_vec(&json).unwrap(),
    )
    .unwrap();
    assert_eq!(event.body.type_name(), "job.cancel_requested");
}

#[test]
fn every_bad_input_says_what_was_wrong() {
    let subject = "rota.default.job.acme.j1.submitted";
    let cases: Vec<(Vec<u8>, InputErrorKind, &str)> = vec![
        (vec![0xc1, 0x00], InputErrorKind::Malformed, "envelope"),
        (
            br#"{"id":"a","type":"job.submitted","v":9,"cell":"default","data":{}}"#.to_vec(),
            InputErrorKind::UnknownVersion,
            "versions 1 and 2",
        ),
        (
            br#"{"id":"a","type":"job.exploded","v":1,"cell":"default","data":{}}"#.to_vec(),
            InputErrorKind::UnknownType,
            "job.exploded",
        ),
        (
            br#"{"id":"a","type":"job.submitted","v":2,"cell":"default","tenant":"acme","data":{"job":"j1"}}"#
                .to_vec(),
            InputErrorKind::Malformed,
            "resources",
        ),
        (
            br#"{"id":"a","type":"job.submitted","v":2,"cell":"default","tenant":"other","data":{"job":"j1","resources":{"cpu_milli":1}}}"#
                .to_vec(),
            InputErrorKind::SubjectMismatch,
            "rota.default.job.other.j1.submitted",
        ),
        (
            br#"{"id":"a b","type":"job.submitted","v":2,"cell":"default","tenant":"acme","data":{"job":"j1","resources":{"cpu_milli":1}}}"#
                .to_vec(),
            InputErrorKind::Malformed,
            "id \"a b\"",
        ),
    ];
    for (payload, kind, needle) in cases {
        let encoding = if payload[0] == b'{' {
            Encoding::Json
        } else {
            Encoding::MessagePack
        };
        let error = decode(subject, encoding, &payload).unwrap_err();
        assert_eq!(error.kind, kind, "{error}");
        assert!(error.detail.contains(needle), "{error} lacks {needle:?}");
    }
    let huge = vec![b' '; EVENT_BYTES_MAX + 1];
    let error = decode(subject, Encoding::Json, &huge).unwrap_err();
    assert_eq!(error.kind, InputErrorKind::Oversized);
    assert!(error.detail.contains(&EVENT_BYTES_MAX.to_string()));
}

#[test]
fn decisions_carry_deterministic_message_ids() {
    let mut event = Event::new(
        "x",
        "default",
        Body::JobAdmitted(JobAdmitted { job: "j1".into() }),
    )
    .with_tenant("acme");
    event.round = Some(RoundTag {
        service: "admission".into(),
        epoch: 3,
        basis: 41,
        index: 2,
        size: 5,
    });
    assert_eq!(event.msg_id(), "admission.3.41.2");
    assert_eq!(event.subject(), "rota.default.job.acme.j1.admitted");
}

#[test]
fn a_node_with_more_gpu_devices_than_the_limit_is_refused_at_decode() {
    let node = |gpus: u32| {
        Event::new(
            format!("reg-{gpus}"),
            "default",
            Body::NodeRegistered(NodeRegistered {
                node: "n1".into(),
                capacity: Resources {
                    cpu_milli: 1000,
                    memory_bytes: 1 << 30,
                    gpus,
                    ..Default::default()
                },
                ..Default::default()
            }),
        )
    };
    let at_limit = node(NODE_GPU_DEVICES_MAX);
    let subject = at_limit.subject();
    assert!(decode(&subject, Encoding::MessagePack, &encode(&at_limit)).is_ok());
    let error = decode(&subject, Encoding::MessagePack, &encode(&node(u32::MAX))).unwrap_err();
    assert_eq!(error.kind, InputErrorKind::Malformed);
    assert_eq!(
        error.detail,
        "capacity.gpus is 4294967295; a node may have 0 to 64 GPU devices"
    );
}

/// A roster of the most members, each with the longest identity name, is
/// within its size limit and decodes; any other event that large is
/// oversized.
#[test]
fn the_largest_roster_fits_its_limit_and_no_other_event_may_be_that_large() {
    let name = "x".repeat(NAME_CHARS_MAX);
    let key = PublicKey::parse("UANOIOQI3DXB4R6UNEUTWLRM6VJ7BHA7TWCOMUDY4KFPKDLG2LF2SGZ3").unwrap();
    let members = (0..ROSTER_MEMBERS_MAX)
        .map(|i| RosterMember {
            key: key.clone(),
            identity: match i {
                0 => Identity::Operator,
                _ => Identity::Service(name.clone()),
            },
        })
        .collect();
    let roster = Event::new(
        "r1",
        "default",
        Body::RosterSet(RosterSet {
            version: 1,
            members,
        }),
    );
    let bytes = encode(&roster);
    assert!(bytes.len() > EVENT_BYTES_MAX);
    assert!(
        bytes.len() <= ROSTER_EVENT_BYTES_MAX,
        "{} bytes",
        bytes.len()
    );
    assert!(decode("rota.default.roster.set", Encoding::MessagePack, &bytes).is_ok());
    let error = decode("rota.default.policy.set", Encoding::MessagePack, &bytes).unwrap_err();
    assert_eq!(error.kind, InputErrorKind::Oversized);
}

//! Any text, read as a document a person writes (a job spec, a policy file,
//! a tenants file), parses or fails with an error, and what parses is
//! validated, without a panic. It uses the same reader `rota submit`,
//! `rota policy set --file` and `rota tenants set --file` use.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rota_events::{JobSubmitted, PlacementPolicy, TenantConfig};

#[allow(dead_code)]
#[path = "../../../cli/src/document.rs"]
mod document;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = document::parse(text);
    if let Ok(spec) = document::parse_strict::<JobSubmitted>(text) {
        let _ = rota_events::encode_as(
            &rota_events::Event::new("e", "default", rota_events::Body::JobSubmitted(spec.into())),
            rota_events::Encoding::Json,
        );
    }
    if let Ok(policy) = document::parse_strict::<PlacementPolicy>(text) {
        let _ = policy.validate();
    }
    if let Ok(tenants) = document::parse_strict::<TenantConfig>(text) {
        let _ = tenants.validate();
    }
});

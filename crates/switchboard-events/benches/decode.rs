//! Decode throughput on representative fixture bodies.
//!
//! `cargo bench -p switchboard-events --bench decode` prints, per body, the size, the mean
//! time per `decode` call and the throughput. Plain `Instant` loops: enough to spot a
//! regression by an order of magnitude, which is what matters for a worker whose real cost
//! is network calls.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard_events::{decode, encode, load_fixture};

const CASES: &[&str] = &[
    "java-2025-06-15_createVOIPCallAndAnswerThenAddParticipantFinallyRemoveParticipantAutomatedTest__CallConnected",
    "synthetic-participantsupdated-teams-agents",
    "synthetic-eventgrid-incomingcall-pstn-aeg",
    "py-2023-06-noversion_test_play_media_in_a_call__IncomingCall-dataOnly",
    "synthetic-partial-batch",
    "malformed-truncated-json",
];

fn time_it(mut f: impl FnMut()) -> (u32, Duration) {
    // Warm up, then run for at least ~300 ms.
    for _ in 0..200 {
        f();
    }
    let mut iters = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        for _ in 0..100 {
            f();
        }
        iters += 100;
    }
    (iters, start.elapsed())
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/messages");
    println!(
        "{:<58} {:>7} {:>10} {:>9}",
        "body", "bytes", "ns/decode", "MB/s"
    );
    for name in CASES {
        let f = load_fixture(dir.join(format!("{name}.json"))).expect("fixture");
        let body = f.body_bytes().to_vec();
        let (iters, elapsed) = time_it(|| {
            let _ = black_box(decode(black_box(&body)));
        });
        let ns = elapsed.as_nanos() as f64 / f64::from(iters);
        let mbs = body.len() as f64 / ns * 1e3;
        let short = if name.len() > 58 {
            &name[name.len() - 58..]
        } else {
            name
        };
        println!("{short:<58} {:>7} {ns:>10.0} {mbs:>9.1}", body.len());
    }
    // Encoding, as the simulator does for every callback it emits.
    let f =
        load_fixture(dir.join("synthetic-participantsupdated-teams-agents.json")).expect("fixture");
    let events = decode(f.body_bytes()).expect("decodes").events;
    let (iters, elapsed) = time_it(|| {
        let _ = black_box(encode(black_box(&events), true));
    });
    println!(
        "{:<58} {:>7} {:>10.0}",
        "encode(participantsupdated-teams-agents)",
        "",
        elapsed.as_nanos() as f64 / f64::from(iters)
    );
}

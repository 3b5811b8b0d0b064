//! Tracing: each attempt is a span carrying operation, attempt and status, and no secret
//! reaches the logs. In its own test binary because tracing caches per-callsite interest
//! process-wide: a test on another thread touching the same callsites without a subscriber
//! would make this one flaky.

mod common;

use std::sync::{Arc, Mutex};

use common::{status, Acs};
use switchboard_callautomation::*;
use switchboard_events::CommunicationIdentifier;

fn add() -> AddParticipantRequest {
    AddParticipantRequest::new(CommunicationIdentifier::teams_user("agent-1"))
}

/// A `MakeWriter` collecting everything the fmt layer writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn each_attempt_is_a_span_with_operation_status_and_attempt_and_secrets_stay_out() {
    use tracing_subscriber::fmt::format::FmtSpan;
    // The call is set up before the subscriber, so only the attempts under test are captured.
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let client = acs.client();
    acs.script([status(503)]);
    client
        .add_participant(&call, &add(), RequestOptions::default())
        .await
        .unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let closes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("call_automation.attempt") && l.contains("close"))
        .collect();
    assert_eq!(closes.len(), 2, "{log}");
    assert!(
        closes[0].contains("operation=\"CallConnection_AddParticipant\"")
            || closes[0].contains("operation=CallConnection_AddParticipant"),
        "{}",
        closes[0]
    );
    assert!(
        closes[0].contains("attempt=1") && closes[0].contains("status=503"),
        "{}",
        closes[0]
    );
    assert!(
        closes[1].contains("attempt=2") && closes[1].contains("status=202"),
        "{}",
        closes[1]
    );
    // Neither the key nor a signature ever reaches the log.
    let signature = acs.requests()[0]
        .header("authorization")
        .unwrap()
        .rsplit("Signature=")
        .next()
        .unwrap()
        .to_owned();
    assert!(!log.contains(common::KEY_B64));
    assert!(!log.contains(&signature));
}

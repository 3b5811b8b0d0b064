//! Retry behaviour on real sockets against the simulator, whose faults play the failing
//! service: what is retried, what is reused across attempts, how long the client waits, and
//! when it gives up. Waits are measured on tokio's paused clock (`start_paused`), so the
//! assertions are exact and the tests take no wall time.

mod common;

use std::time::Duration;

use common::{error, fast_options, status, Acs};
use switchboard_callautomation::*;
use switchboard_events::{CallConnectionId, CommunicationIdentifier};
use tokio::time::Instant;

fn add() -> AddParticipantRequest {
    let mut r = AddParticipantRequest::new(CommunicationIdentifier::teams_user("agent-1"));
    r.invitation_timeout_in_seconds = Some(20);
    r
}

fn options(attempts: u32, deadline: Option<Duration>) -> ClientOptions {
    let mut o = fast_options();
    o.retry.max_attempts = attempts;
    o.retry.total_deadline = deadline;
    o
}

#[tokio::test]
async fn transient_503_then_success_reuses_repeatability_and_body_bytes() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let client = acs.client();
    acs.script([error(503, "ServiceUnavailable", "try again")]);
    let r = client
        .add_participant(&call, &add(), RequestOptions::default())
        .await
        .unwrap();
    assert!(r.invitation_id.is_some());
    let reqs = acs.requests();
    assert_eq!(reqs.len(), 2);
    let (a, b) = (&reqs[0], &reqs[1]);
    for h in [
        "repeatability-request-id",
        "repeatability-first-sent",
        "x-ms-client-request-id",
    ] {
        assert!(a.header(h).is_some(), "{h}");
        assert_eq!(a.header(h), b.header(h), "{h} differs between attempts");
    }
    assert_eq!(a.body(), b.body(), "same body bytes");
    assert_eq!(
        a.header("x-ms-content-sha256"),
        b.header("x-ms-content-sha256")
    );
    // Each attempt carried its own valid signature (x-ms-date is re-stamped per attempt).
    assert!(a.auth.is_ok() && b.auth.is_ok());
}

#[tokio::test]
async fn every_retryable_status_is_retried_and_others_are_not() {
    let acs = Acs::hmac().await;
    let client = acs.client();
    for code in [408, 429, 500, 502, 503, 504] {
        // Each successful hang-up ends its call.
        let call = acs.connected_call().await.id;
        acs.script([status(code)]);
        client
            .hang_up(&call, RequestOptions::default())
            .await
            .unwrap();
        assert_eq!(acs.take_requests().len(), 2, "{code} is retried");
    }
    let call = acs.connected_call().await.id;
    for status in [400, 401, 403, 404, 409, 412, 501] {
        acs.script([error(status, "E", "no")]);
        let err = client
            .hang_up(&call, RequestOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.attempts(), 1);
        assert_eq!(acs.take_requests().len(), 1, "{status} is not retried");
    }
}

#[tokio::test]
async fn retries_stop_at_max_attempts_with_the_last_error() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let client = acs.client_with(
        Credential::access_key(common::KEY_B64).unwrap(),
        options(4, None),
    );
    acs.script((0..10).map(|_| error(500, "InternalServerError", "boom")));
    let err = client
        .terminate_call(&call, RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 4);
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable(), "the caller may try again later");
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
    let reqs = acs.requests();
    assert_eq!(reqs.len(), 4);
    let ids: std::collections::HashSet<_> = reqs
        .iter()
        .map(|r| r.header("repeatability-request-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one logical request, one repeatability id");
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_honoured() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let client = acs.client();
    acs.script([error(429, "TooManyRequests", "slow down").header("retry-after", "7")]);
    let start = Instant::now();
    client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap();
    let waited = start.elapsed();
    // Exactly the asked-for wait on the paused clock (the backoff would have been 1 ms).
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_millis(7100),
        "{waited:?}"
    );
    assert_eq!(acs.requests().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_and_ms_headers_are_honoured() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let client = acs.client();
    acs.script([status(503).header("retry-after-ms", "2500")]);
    let start = Instant::now();
    client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_millis(2600),
        "{waited:?}"
    );
    // An HTTP date is relative to the wall clock: at least a few seconds out, not in the past.
    let call = acs.connected_call().await.id;
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(4));
    acs.script([status(503).header("retry-after", &at)]);
    let start = Instant::now();
    client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited <= Duration::from_secs(4),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_without_retry_after() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let mut o = options(4, None);
    o.retry.initial_delay = Duration::from_millis(400);
    o.retry.max_delay = Duration::from_secs(10);
    let client = acs.client_with(Credential::access_key(common::KEY_B64).unwrap(), o);
    acs.script([status(503), status(503), status(503)]);
    let start = Instant::now();
    client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap();
    // 400 + 800 + 1600 ms with jitter off.
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(2800) && waited < Duration::from_millis(2900),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn total_deadline_stops_retries_that_cannot_finish_in_time() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let client = acs.client_with(
        Credential::access_key(common::KEY_B64).unwrap(),
        options(10, Some(Duration::from_secs(12))),
    );
    acs.script((0..10).map(|_| status(503).header("retry-after", "5")));
    let start = Instant::now();
    let err = client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap_err();
    // Attempts at t = 0, 5 and 10 s; a third wait would end at 15 s > 12 s, so stop at once.
    assert_eq!(err.attempts(), 3);
    assert_eq!(acs.requests().len(), 3);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_secs(12),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_attempt_times_out_and_is_retried_with_the_same_headers() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let mut o = options(3, Some(Duration::from_secs(60)));
    o.request_timeout = Duration::from_secs(2);
    let client = acs.client_with(Credential::access_key(common::KEY_B64).unwrap(), o);
    acs.script([status(202).delayed(Duration::from_secs(30))]);
    let start = Instant::now();
    let r = client
        .add_participant(&call, &add(), RequestOptions::default())
        .await
        .unwrap();
    assert!(r.invitation_id.is_some());
    assert!(start.elapsed() >= Duration::from_secs(2));
    let reqs = acs.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("repeatability-request-id"),
        reqs[1].header("repeatability-request-id")
    );
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeout_is_cut_to_the_remaining_deadline() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let mut o = options(5, Some(Duration::from_secs(3)));
    o.request_timeout = Duration::from_secs(20);
    let client = acs.client_with(Credential::access_key(common::KEY_B64).unwrap(), o);
    acs.script((0..5).map(|_| status(204).delayed(Duration::from_secs(3600))));
    let start = Instant::now();
    let err = client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout);
    assert!(err.is_retryable());
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_retryable_transport_error() {
    // Bind and drop a listener: nothing listens on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = CallAutomationClient::from_connection_string(
        &format!(
            "endpoint=http://127.0.0.1:{port}/;accesskey={}",
            common::KEY_B64
        ),
        options(3, Some(Duration::from_secs(30))),
    )
    .unwrap();
    let err = client
        .get_call(&CallConnectionId::from("call-1"), RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transport);
    assert!(err.is_retryable());
    assert_eq!(err.attempts(), 3);
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn per_request_retry_override() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let client = acs.client();
    acs.script([status(503), status(503)]);
    let opts = RequestOptions {
        retry: Some(RetryOptions::none()),
        ..RequestOptions::default()
    };
    let err = client.hang_up(&call, opts).await.unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(acs.take_requests().len(), 1);
}

#[tokio::test]
async fn an_excessive_retry_after_is_not_waited_for() {
    let acs = Acs::hmac().await;
    let call = acs.connected_call().await.id;
    let client = acs.client_with(
        Credential::access_key(common::KEY_B64).unwrap(),
        options(5, None),
    );
    acs.script([status(429).header("retry-after", "3600")]);
    let err = client
        .hang_up(&call, RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(err.is_retryable(), "the caller can reschedule");
    assert_eq!(err.attempts(), 1);
}

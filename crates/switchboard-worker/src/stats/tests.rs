use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use switchboard_store::{SqliteStore, SystemClock};
use time::OffsetDateTime;
use tower::ServiceExt as _;

use super::*;

fn record() -> CallRecord {
    let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    CallRecord {
        id: "c-1".into(),
        from: "+14255550123".into(),
        to: "+18005550101".into(),
        started_at: t,
        answered_at: None,
        ended_at: Some(t + time::Duration::seconds(30)),
        queue: "support".into(),
        queues: vec!["support".into(), "sales".into()],
        wait_secs: 30,
        talk_secs: 0,
        agents: Vec::new(),
        answered_by: None,
        result: "abandoned",
        reason: "caller hung up, \"twice\"\nthen left".into(),
        recording_id: None,
    }
}

#[test]
fn csv_rows_quote_what_needs_quoting_and_match_the_header() {
    let row = record().csv_row();
    assert_eq!(
        row,
        "c-1,2027-01-15T08:00:00Z,,2027-01-15T08:00:30Z,+14255550123,+18005550101,support,\
         support;sales,30,0,,,abandoned,\"caller hung up, \"\"twice\"\"\nthen left\","
    );
    // Without the quoted field, the columns line up with the header.
    let plain = CallRecord {
        reason: "ended".into(),
        ..record()
    };
    assert_eq!(
        plain.csv_row().split(',').count(),
        CallRecord::CSV_HEADER.split(',').count()
    );
}

async fn get(source: StatsSource, peer: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = Request::get("/api/stats").body(Body::empty()).unwrap();
    if let Some(p) = peer {
        req.extensions_mut()
            .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
    }
    let res = stats_router(source).oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn the_api_answers_loopback_clients_only_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db"))
        .await
        .unwrap();
    let mut queues = QueueMembers::new();
    queues.insert("support".into(), None);
    let source = StatsSource {
        store: Arc::new(store),
        clock: Arc::new(SystemClock),
        options: StatsOptions::default(),
        queues,
        remote: false,
    };
    let (status, body) = get(source.clone(), Some("127.0.0.1:50000")).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["agents", "asOf", "queues", "serviceLevelSecs", "todaySince"]
    );
    assert_eq!(body["queues"][0]["queue"], "support");
    assert_eq!(body["queues"][0]["waiting"], 0);
    let (status, _) = get(source.clone(), Some("[::1]:50000")).await;
    assert_eq!(status, 200);

    let (status, body) = get(source.clone(), Some("10.1.2.3:50000")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("stats.api_remote"));
    // Where the request came from is unknown: refused too.
    let (status, _) = get(source.clone(), None).await;
    assert_eq!(status, 403);

    let remote = StatsSource {
        remote: true,
        ..source
    };
    let (status, _) = get(remote, Some("10.1.2.3:50000")).await;
    assert_eq!(status, 200);
}

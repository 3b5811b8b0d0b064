//! The wallboard in a real headless browser (Debian's Chromium over the DevTools protocol):
//! after a scripted run through the real pipeline (simulator, ingress, worker, SQLite), the
//! rendered page shows the figures the store gives, and it follows the calls live over
//! server-sent events, without a reload.
//!
//! `SWITCHBOARD_WALLBOARD_SCREENSHOT=docs/wallboard.png` keeps the screenshot (the README's).

#[path = "browser/mod.rs"]
mod browser;

use std::time::Duration;

use serde_json::Value;
use switchboard_routing::{Roster, RoutingConfig};
use switchboard_sim::StartCall;
use switchboard_store::SystemClock;
use switchboard_testkit::fixtures::*;
use switchboard_testkit::*;
use switchboard_worker::stats::{self, wallboard_router, StatsOptions, StatsSource};
use tokio_util::sync::CancellationToken;

fn call_to(number: &str) -> StartCall {
    StartCall {
        to: Some(number.to_string()),
        from: Some("+14255550123".into()),
        ..StartCall::default()
    }
}

/// One figure as the page shows it (`data-q`, `data-w`, `data-k` attributes).
fn cell(queue: &str, window: Option<&str>, key: &str) -> String {
    let w = window
        .map(|w| format!("[data-w=\"{w}\"]"))
        .unwrap_or_default();
    format!(
        "(document.querySelector('[data-q=\"{queue}\"]{w}[data-k=\"{key}\"]') || {{}}).textContent"
    )
}

/// The figures a test compares, read from the page in one evaluation (`{}` while the page is
/// still loading).
fn figures() -> String {
    format!(
        "(() => {{ try {{ return JSON.stringify({{updates: Number(document.body.dataset.updates || 0), \
         status: document.getElementById('status').dataset.state, \
         waiting: {}, answered: {}, abandoned: {}, offered: {}, sl: {}, busy: {}, \
         salesAnswered: {}}}); }} catch (e) {{ return '{{}}'; }} }})()",
        cell("support", None, "waiting"),
        cell("support", Some("today"), "answered"),
        cell("support", Some("today"), "abandoned"),
        cell("support", Some("today"), "offered"),
        cell("support", Some("today"), "serviceLevel"),
        cell("support", None, "agents.busy"),
        cell("sales", Some("today"), "answered"),
    )
}

fn parse(v: &Value) -> Value {
    serde_json::from_str(v.as_str().unwrap_or("{}")).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_page_shows_the_store_figures_and_follows_calls_live() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let world = Stack::start().await;
    let worker = world.worker().await;
    // Carmen (support's only agent) talks long, so a second support call waits.
    world
        .sim
        .set_agent_talk_time(CARMEN, Some(Duration::from_secs(30)))
        .unwrap();
    let sold = world
        .sim
        .start_call(call_to(SALES_LINE))
        .unwrap()
        .correlation_id;
    world.all_ended(std::slice::from_ref(&sold), 40).await;
    let talking = world
        .sim
        .start_call(call_to(SUPPORT_LINE))
        .unwrap()
        .correlation_id;
    world
        .until(20, "Carmen on the first support call", async || {
            let s = world.live(&talking).await?;
            s.ledger.answered_at.is_some().then_some(())
        })
        .await;
    let waiting = world
        .sim
        .start_call(call_to(SUPPORT_LINE))
        .unwrap()
        .correlation_id;
    world
        .until(20, "the second support call waiting", async || {
            let s = world.live(&waiting).await?;
            (!s.ledger.visits.is_empty()).then_some(())
        })
        .await;

    // The wallboard over the same store, as `switchboard wallboard` serves it.
    let routing = RoutingConfig::from_toml_str(FLOW).unwrap();
    let source = StatsSource {
        store: world.store.clone(),
        clock: std::sync::Arc::new(SystemClock),
        options: StatsOptions::default(),
        queues: stats::queue_members(&routing, &Roster::offline(&routing).unwrap()),
        remote: false,
    };
    let stop = CancellationToken::new();
    let app = wallboard_router(source.clone(), Duration::from_millis(300), stop.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let served = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { served.cancelled().await })
        .await
    });

    let mut page = browser::Browser::open(&chromium, &url, 1280, 900).await;
    let shown = page
        .until(
            60,
            "the page live with one support caller waiting",
            &figures(),
            |v| {
                let f = parse(v);
                f["status"] == "live" && f["waiting"] == "1" && f["salesAnswered"] == "1"
            },
        )
        .await;
    let shown = parse(&shown);
    // The same figures the store gives.
    let s = source.snapshot().await.unwrap();
    let q = |n: &str| s.queues.iter().find(|q| q.queue == n).unwrap().clone();
    let support = q("support");
    assert_eq!(shown["waiting"], support.waiting.to_string(), "{shown}");
    assert_eq!(shown["answered"], support.today.answered.to_string());
    assert_eq!(shown["offered"], support.today.offered.to_string());
    assert_eq!(shown["busy"], support.agents.busy.to_string());
    assert_eq!(
        shown["salesAnswered"],
        q("sales").today.answered.to_string()
    );
    assert_eq!((support.today.offered, support.agents.busy), (2, 1));
    let before = shown["updates"].as_u64().unwrap();
    if let Some(path) = std::env::var_os("SWITCHBOARD_WALLBOARD_SCREENSHOT") {
        let png = page.screenshot().await;
        std::fs::write(&path, &png).unwrap();
    }

    // The waiting caller hangs up: the page shows it abandoned without being reloaded.
    world.sim.hang_up_caller(&waiting).unwrap();
    let after = page
        .until(30, "the abandoned call on the page", &figures(), |v| {
            let f = parse(v);
            f["waiting"] == "0" && f["abandoned"] == "1"
        })
        .await;
    let after = parse(&after);
    assert!(
        after["updates"].as_u64().unwrap() > before,
        "updated by the stream, not reloaded: {after}"
    );
    // One answered within the threshold and one abandoned: 50 %.
    assert_eq!(after["sl"], "50%", "{after}");
    let png = page.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);

    drop(page);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops with open streams closed")
        .unwrap()
        .unwrap();
    world.sim.hang_up_caller(&talking).unwrap();
    world.all_ended(&[talking, waiting], 40).await;
    worker.stop().await;
    world.shutdown().await;
}

//! Read-side views over many calls (statistics, call history): `list_calls` and
//! `list_archived_since`.

use serde_json::json;

use super::factory::StoreFactory;
use super::support::{fixture, ok, secs};
use crate::clock::Clock;

/// `list_calls` returns every unexpired call document by key, with its version, and nothing
/// archived, deleted or expired.
pub async fn list_calls_shows_live_calls(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    assert!(ok("list_calls", s.list_calls(10).await).is_empty());
    for (key, ttl) in [("c-b", 60), ("c-a", 600), ("c-c", 600), ("c-d", 600)] {
        ok(
            "put_call_if",
            s.put_call_if(key, None, &json!({ "k": key }), secs(ttl))
                .await,
        );
    }
    ok(
        "archive_call",
        s.archive_call("c-c", &json!({}), secs(600)).await,
    );
    ok("delete_call", s.delete_call("c-d").await);
    let listed = ok("list_calls", s.list_calls(10).await);
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["c-a", "c-b"],
        "live calls by key; archived and deleted ones gone"
    );
    assert_eq!(listed[0].1.value, json!({ "k": "c-a" }));
    let got = ok("get_call", s.get_call("c-a").await).expect("present");
    assert_eq!(listed[0].1.version, got.version);
    assert_eq!(ok("list_calls", s.list_calls(1).await).len(), 1, "limit");
    assert!(ok("list_calls", s.list_calls(0).await).is_empty());

    fx.clock.advance(secs(60));
    let keys: Vec<String> = ok("list_calls", s.list_calls(10).await)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["c-a"], "an expired call is not listed");
}

/// `list_archived_since` is the window of records archived at or after `since`, newest first,
/// unexpired only.
pub async fn archived_since_is_a_window(f: &dyn StoreFactory) {
    let fx = fixture(f).await;
    let s = fx.store.as_ref();
    let t0 = fx.clock.now();
    ok(
        "archive_call",
        s.archive_call("old", &json!({}), secs(3600)).await,
    );
    fx.clock.advance(secs(10));
    let t1 = fx.clock.now();
    ok(
        "archive_call",
        s.archive_call("mid-b", &json!({}), secs(3600)).await,
    );
    ok(
        "archive_call",
        s.archive_call("mid-a", &json!({}), secs(15)).await,
    );
    fx.clock.advance(secs(10));
    ok(
        "archive_call",
        s.archive_call("new", &json!({ "n": 1 }), secs(3600)).await,
    );

    let keys = |v: Vec<crate::model::ArchivedCall>| -> Vec<String> {
        v.into_iter().map(|r| r.call_key).collect()
    };
    assert_eq!(
        keys(ok(
            "list_archived_since",
            s.list_archived_since(t1, 10).await
        )),
        ["new", "mid-a", "mid-b"],
        "newest first, ties by key, nothing before `since`"
    );
    assert_eq!(
        keys(ok(
            "list_archived_since",
            s.list_archived_since(t0, 10).await
        ))
        .len(),
        4,
        "`since` is inclusive"
    );
    assert_eq!(
        keys(ok(
            "list_archived_since",
            s.list_archived_since(t0, 2).await
        )),
        ["new", "mid-a"],
        "limit"
    );
    assert!(ok("list_archived_since", s.list_archived_since(t0, 0).await).is_empty());
    let later = fx.clock.now() + secs(1);
    assert!(ok(
        "list_archived_since",
        s.list_archived_since(later, 10).await
    )
    .is_empty());

    fx.clock.advance(secs(5));
    assert_eq!(
        keys(ok(
            "list_archived_since",
            s.list_archived_since(t1, 10).await
        )),
        ["new", "mid-b"],
        "an expired record is not listed"
    );
}

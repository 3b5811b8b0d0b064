//! The store conformance suite against a real `redis-server` started by the test (one per
//! test, on a free port). Skips without the binary unless `CI` is set, where it fails.

switchboard_store::conformance_tests!(
    match switchboard_redis::testing::RedisFactory::new_or_skip() {
        Some(f) => f,
        None => return,
    }
);

//! switchboard-worker (work in progress).

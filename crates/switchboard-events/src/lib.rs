//! switchboard-events (work in progress).

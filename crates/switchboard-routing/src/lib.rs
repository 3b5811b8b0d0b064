//! switchboard-routing (work in progress).

//! switchboard-sim (work in progress).

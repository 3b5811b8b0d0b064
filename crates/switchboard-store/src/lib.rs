//! switchboard-store (work in progress).

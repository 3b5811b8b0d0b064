//! switchboard-queue (work in progress).

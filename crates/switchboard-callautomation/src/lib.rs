//! switchboard-callautomation (work in progress).

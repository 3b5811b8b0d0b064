//! The callback ingress: `POST /api/callbacks` → JWT check → one queue message per event.
pub mod jwt;

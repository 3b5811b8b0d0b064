//! Identifier generation. Every id the simulator mints comes from one seeded RNG, so a
//! sequential test gets the same call connection ids, server call ids and event ids on every
//! run. The shapes follow what the real service emits.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Mints ids. Not shared across threads on its own: the engine keeps it behind its lock.
pub struct IdGen {
    rng: StdRng,
}

impl IdGen {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A random (version 4) UUID, lower-case hyphenated.
    pub fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    /// A call connection id. Real ones are GUIDs whose first group encodes a region/shard
    /// (`02001680-…`); ours are plain random GUIDs of the same shape.
    pub fn call_connection_id(&mut self) -> String {
        self.uuid()
    }

    /// A server call id: standard base64 (with padding) of a conversation URL, like the
    /// service's `aHR0cHM6Ly9hcGkuZmxpZ2h0cHJveHkuc2t5cGUuY29tL…` values.
    pub fn server_call_id(&mut self) -> String {
        let conv = self.uuid();
        let i: u32 = self.rng.random_range(1..100);
        let url =
            format!("https://sim.switchboard.local/api/v2/cp/conv-sim-01/conv/{conv}?i={i}&e=0");
        STANDARD.encode(url)
    }

    /// A recording id: base64url (no padding) JSON, as the service returns.
    pub fn recording_id(&mut self, call_connection_id: &str) -> String {
        let specific = self.uuid();
        let json = format!(
            "{{\"PlatformEndpointId\":\"{call_connection_id}\",\"ResourceSpecificId\":\"{specific}\"}}"
        );
        URL_SAFE_NO_PAD.encode(json)
    }

    /// A PSTN caller number in the North American fictional range (`+1 425 555 01xx`).
    pub fn caller_number(&mut self) -> String {
        let n: u32 = self.rng.random_range(100..200);
        format!("+1425555{:04}", n)
    }

    /// 64 random bits (seeds, opaque tokens).
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A fresh 32-byte access key, base64.
    pub fn access_key(&mut self) -> String {
        let mut key = [0u8; 32];
        self.rng.fill_bytes(&mut key);
        STANDARD.encode(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let mut a = IdGen::new(7);
        let mut b = IdGen::new(7);
        let ua = a.uuid();
        assert_eq!(ua, b.uuid());
        assert!(uuid::Uuid::parse_str(&ua).is_ok());
        let sc = a.server_call_id();
        assert_eq!(sc, b.server_call_id());
        let decoded = String::from_utf8(STANDARD.decode(&sc).unwrap()).unwrap();
        assert!(decoded.starts_with("https://"));
        let rid = a.recording_id("cc");
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&rid).unwrap()).unwrap();
        assert_eq!(json["PlatformEndpointId"], "cc");
        let n = a.caller_number();
        assert!(n.starts_with("+1425555") && n.len() == 12);
        assert_ne!(IdGen::new(8).uuid(), IdGen::new(7).uuid());
    }
}

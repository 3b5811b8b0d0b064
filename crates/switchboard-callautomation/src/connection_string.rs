//! ACS connection strings: `endpoint=https://<resource>.communication.azure.com/;accesskey=<base64>`.

use std::fmt;

use url::Url;

use crate::auth::AccessKey;

/// Why a connection string was rejected. Messages never contain the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    /// `endpoint=` is absent or empty.
    #[error("the connection string has no endpoint= part")]
    MissingEndpoint,
    /// `accesskey=` is absent or empty.
    #[error("the connection string has no accesskey= part")]
    MissingAccessKey,
    /// The endpoint is not an absolute http(s) URL with a host.
    #[error("the connection string endpoint is not a valid http(s) URL: {0}")]
    InvalidEndpoint(String),
    /// The key is not base64.
    #[error("the connection string access key is not valid base64")]
    InvalidAccessKey,
    /// A part without `=`.
    #[error("malformed connection string part {0:?} (expected key=value)")]
    Malformed(String),
}

/// A parsed connection string.
#[derive(Clone)]
pub struct ConnectionString {
    /// The resource endpoint.
    pub endpoint: Url,
    /// The access key.
    pub access_key: AccessKey,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("endpoint", &self.endpoint.as_str())
            .field("access_key", &self.access_key)
            .finish()
    }
}

impl ConnectionString {
    /// Parses `endpoint=…;accesskey=…` (keys case-insensitive, any order, `;`-separated,
    /// surrounding whitespace and empty parts ignored, unknown keys ignored).
    pub fn parse(s: &str) -> Result<Self, ConnectionStringError> {
        let mut endpoint = None;
        let mut key = None;
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            // Split at the first '=' only: base64 keys end in '=' padding.
            let Some((k, v)) = part.split_once('=') else {
                // Do not echo the part: it might be a pasted key.
                let shown: String = part.chars().take(12).collect();
                return Err(ConnectionStringError::Malformed(format!("{shown}…")));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim()),
                "accesskey" => key = Some(v.trim()),
                _ => {}
            }
        }
        let endpoint = endpoint
            .filter(|e| !e.is_empty())
            .ok_or(ConnectionStringError::MissingEndpoint)?;
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or(ConnectionStringError::MissingAccessKey)?;
        let endpoint = parse_endpoint(endpoint).map_err(ConnectionStringError::InvalidEndpoint)?;
        let access_key =
            AccessKey::from_base64(key).map_err(|_| ConnectionStringError::InvalidAccessKey)?;
        Ok(Self {
            endpoint,
            access_key,
        })
    }
}

/// An endpoint must be an absolute http(s) URL with a host, no credentials, query or fragment.
pub(crate) fn parse_endpoint(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{s:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{s:?}: scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?}: no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the endpoint must not contain credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?}: must not have a query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_portal_format() {
        let cs = ConnectionString::parse(
            "endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0LWtleQ==",
        )
        .unwrap();
        assert_eq!(
            cs.endpoint.as_str(),
            "https://contoso.communication.azure.com/"
        );
        let shown = format!("{cs:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        // Case, order, spacing, trailing separators, unknown keys.
        let cs = ConnectionString::parse(
            " AccessKey = c2VjcmV0LWtleQ== ; Endpoint=http://127.0.0.1:8080 ; extra=1 ;",
        )
        .unwrap();
        assert_eq!(cs.endpoint.as_str(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn rejects_with_clear_errors_and_never_echoes_the_key() {
        use ConnectionStringError::*;
        assert_eq!(
            ConnectionString::parse("accesskey=c2VjcmV0").unwrap_err(),
            MissingEndpoint
        );
        assert_eq!(
            ConnectionString::parse("endpoint=https://x").unwrap_err(),
            MissingAccessKey
        );
        assert_eq!(
            ConnectionString::parse("endpoint=https://x;accesskey=").unwrap_err(),
            MissingAccessKey
        );
        assert_eq!(
            ConnectionString::parse("endpoint=https://x;accesskey=!!notbase64").unwrap_err(),
            InvalidAccessKey
        );
        assert!(matches!(
            ConnectionString::parse("endpoint=ftp://x;accesskey=c2VjcmV0").unwrap_err(),
            InvalidEndpoint(_)
        ));
        assert!(matches!(
            ConnectionString::parse("endpoint=x.communication.azure.com;accesskey=c2VjcmV0")
                .unwrap_err(),
            InvalidEndpoint(_)
        ));
        let err = ConnectionString::parse("endpoint=https://x;c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")
            .unwrap_err();
        assert!(matches!(err, Malformed(_)));
        assert!(!err.to_string().contains("c2VjcmV0c2VjcmV0c2VjcmV0"));
        assert_eq!(ConnectionString::parse("").unwrap_err(), MissingEndpoint);
    }

    #[test]
    fn endpoint_rules() {
        assert!(parse_endpoint("https://u:p@x").is_err());
        assert!(parse_endpoint("https://x/?a=b").is_err());
        assert!(parse_endpoint("https://x/#f").is_err());
        assert!(parse_endpoint("http://[::1]:9000").is_ok());
        assert!(parse_endpoint("https://x/prefix/").is_ok());
        // Found by the round-trip property: an "xn--" label that is not valid
        // punycode is not a host name.
        assert!(matches!(
            ConnectionString::parse(
                "endpoint=https://xn--04f.communication.azure.com/;accesskey=AA=="
            )
            .unwrap_err(),
            ConnectionStringError::InvalidEndpoint(_)
        ));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_and_never_echoes_the_input(s in ".{0,80}") {
                if let Err(e) = ConnectionString::parse(&s) {
                    let msg = e.to_string();
                    // A long input never comes back whole in an error. Long is
                    // counted in characters, as the truncation is: ten
                    // multibyte characters are over 16 bytes but are echoed.
                    if s.chars().count() > 16 {
                        prop_assert!(!msg.contains(&s));
                    }
                }
            }

            #[test]
            fn round_trips_any_valid_parts(
                // No "--": a label with hyphens in positions 3-4 is reserved
                // (RFC 5891 4.2.3.1), and "xn--" labels must be valid
                // punycode, so the parser rightly rejects e.g. "xn--04f".
                host in "[a-z](-?[a-z0-9]){0,20}",
                port in proptest::option::of(1u16..),
                key in proptest::collection::vec(any::<u8>(), 1..48),
                upper in any::<bool>(),
            ) {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
                let endpoint = match port {
                    Some(p) => format!("https://{host}.communication.azure.com:{p}/"),
                    None => format!("https://{host}.communication.azure.com/"),
                };
                let (ek, kk) = if upper { ("ENDPOINT", "AccessKey") } else { ("endpoint", "accesskey") };
                let cs = ConnectionString::parse(&format!("{ek}={endpoint};{kk}={b64}")).unwrap();
                let expected = url::Url::parse(&endpoint).unwrap();
                prop_assert_eq!(cs.endpoint, expected);
            }
        }
    }
}

//! The identity provider's signing keys (a JWK Set): fetched from a URL or read from a
//! file at start, and again when a token names a key not in the set (a rotation) — at most
//! once per [`MIN_REFETCH`], so tokens with made-up key ids cannot make the gateway hammer
//! the provider — or when the set is older than [`MAX_AGE`]. A failed refresh keeps the
//! keys already known.
//!
//! Keys a token carries itself (`jwk`, `jku`, `x5u` in its header) are never used: a
//! token is only as good as a key the operator's provider published.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, DecodingKey, Header, jwk::Jwk};

use super::jwt::TokenError;

/// The least time between two fetches of the set.
pub(super) const MIN_REFETCH: Duration = Duration::from_secs(5);
/// The most time a fetched set is used before it is fetched again.
pub(super) const MAX_AGE: Duration = Duration::from_secs(3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_JWKS_BYTES: usize = 1024 * 1024;
const MAX_KEYS: usize = 100;

/// A key of the set, ready to verify signatures.
pub(super) struct SigningKey {
    pub key: DecodingKey,
    /// The algorithm the set ties the key to (`alg`), if it does.
    pub alg: Option<Algorithm>,
}

impl SigningKey {
    /// Whether this key may verify a signature made with `alg`: the same family (an RSA
    /// key never checks an HMAC, the confusion behind "HS256 signed with the public key")
    /// and, if the set names an algorithm for it, that one.
    fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

enum Source {
    Url {
        url: String,
        client: reqwest::Client,
    },
    File(PathBuf),
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<SigningKey>>,
    /// Every key, with or without a `kid` (for tokens that name none).
    all: Vec<Arc<SigningKey>>,
    fetched: Option<Instant>,
}

/// The signing keys, and where they come from.
pub(super) struct Jwks {
    source: Source,
    keys: ArcSwap<KeySet>,
    /// Held while fetching: concurrent requests for an unknown key wait for one fetch.
    /// Holds when the last fetch was tried.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    pub fn from_url(url: String) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self::new(Source::Url { url, client }))
    }

    /// Reads the set from `path` now (a config error if it is not one).
    pub fn from_file(path: PathBuf) -> Result<Self, String> {
        let jwks = Self::new(Source::File(path.clone()));
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let set = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        jwks.keys.store(Arc::new(set));
        Ok(jwks)
    }

    fn new(source: Source) -> Self {
        Self {
            source,
            keys: ArcSwap::from_pointee(KeySet::default()),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    /// Fetches the set at start (a URL's; a file was read already). A failure is logged:
    /// the first token to need a key tries again.
    pub async fn load(&self) {
        if let Source::Url { url, .. } = &self.source
            && let Err(e) = self.refresh(Duration::ZERO).await
        {
            tracing::warn!(%url, error = %e, "could not fetch the JWKS; tokens are refused until it can be");
        }
    }

    /// The key that verifies a token with `header`.
    pub async fn key_for(&self, header: &Header) -> Result<Arc<SigningKey>, TokenError> {
        let stale = self
            .keys
            .load()
            .fetched
            .is_some_and(|at| at.elapsed() > MAX_AGE);
        if !stale && let Some(key) = self.find(header)? {
            return Ok(key);
        }
        if let Err(e) = self.refresh(MIN_REFETCH).await {
            tracing::warn!(error = %e, "could not refresh the JWKS");
        }
        self.find(header)?.ok_or(TokenError::UnknownKey)
    }

    /// The key for `header` in the set as it is, `None` if there is none (yet).
    fn find(&self, header: &Header) -> Result<Option<Arc<SigningKey>>, TokenError> {
        let keys = self.keys.load();
        let key = match &header.kid {
            Some(kid) => keys.by_kid.get(kid).cloned(),
            None => {
                let mut fitting = keys.all.iter().filter(|k| k.fits(header.alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Some(only.clone()),
                    _ => None,
                }
            }
        };
        match key {
            Some(key) if !key.fits(header.alg) => Err(TokenError::Algorithm(header.alg)),
            other => Ok(other),
        }
    }

    /// Fetches (or reads) the set again unless it was tried less than `min_interval` ago.
    async fn refresh(&self, min_interval: Duration) -> Result<(), String> {
        let tried_before = self.keys.load().fetched;
        let mut last = self.fetching.lock().await;
        if self.keys.load().fetched != tried_before {
            return Ok(()); // another request fetched it while this one waited
        }
        if last.is_some_and(|at| at.elapsed() < min_interval) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let text = match &self.source {
            Source::Url { url, client } => fetch(client, url).await?,
            Source::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?,
        };
        let set = parse(&text)?;
        tracing::debug!(keys = set.all.len(), "JWKS loaded");
        self.keys.store(Arc::new(set));
        Ok(())
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("GET {url}: more than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JWK Set's signing keys. Keys of kinds this gateway cannot use (or marked for
/// encryption) are skipped, so one odd key does not cost the provider's other keys.
fn parse(text: &[u8]) -> Result<KeySet, String> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(text).map_err(|e| format!("not a JWK Set: {e}"))?;
    if set.keys.len() > MAX_KEYS {
        return Err(format!("{} keys; at most {MAX_KEYS}", set.keys.len()));
    }
    let mut keys = KeySet {
        fetched: Some(Instant::now()),
        ..KeySet::default()
    };
    for value in set.keys {
        if value.get("use").and_then(|u| u.as_str()) == Some("enc") {
            continue;
        }
        let jwk = match serde_json::from_value::<Jwk>(value) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::debug!(error = %e, "skipping a JWK this gateway cannot read");
                continue;
            }
        };
        // A key tied to an algorithm that signs nothing (RSA-OAEP, …) is not a signing key.
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => match alg.to_string().parse::<Algorithm>() {
                Ok(alg) => Some(alg),
                Err(_) => continue,
            },
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            tracing::debug!(kid = ?jwk.common.key_id, "skipping a JWK that is not a usable key");
            continue;
        };
        let key = Arc::new(SigningKey { key, alg });
        if let Some(kid) = jwk.common.key_id {
            keys.by_kid.insert(kid, key.clone());
        }
        keys.all.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_JWK: &str = r#"{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;

    #[test]
    fn a_set_keeps_the_keys_it_can_use() {
        let text = format!(
            r#"{{"keys":[{RSA_JWK},{{"kty":"RSA","kid":"e1","use":"enc","n":"x","e":"AQAB"}},{{"kty":"weird","kid":"w"}}]}}"#
        );
        let set = parse(text.as_bytes()).unwrap();
        assert_eq!(set.all.len(), 1);
        assert!(set.by_kid.contains_key("r1"));
        assert!(set.by_kid["r1"].fits(Algorithm::RS256));
        assert!(
            !set.by_kid["r1"].fits(Algorithm::HS256),
            "no HMAC with an RSA key"
        );
        assert!(
            !set.by_kid["r1"].fits(Algorithm::PS256),
            "the set ties it to RS256"
        );
        assert!(parse(b"{}").is_err());
        assert!(parse(b"[1,2]").is_err());
    }
}

//! JWT bearer tokens from an identity provider (`gateway.auth.jwt`): verified against the
//! provider's published keys (`jwks.rs`), its issuer, the token's times and the
//! endpoint it is presented to (RFC 8707: the `aud` must name this gateway), then mapped
//! from its claims (`sub`, `scope`, `groups`, any claim) to the same allowlists API keys
//! carry. Only asymmetric algorithms are accepted unless `algorithms` lists others.
//!
//! A verified token is remembered (by its SHA-256) until it expires, so a client that
//! sends the same token with every request pays for the signature once. Each subject
//! has its own rate limit state, and the access of its latest token is what its
//! sessions reach between requests.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use indexmap::IndexMap;
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Access, Grant,
    allow::Allow,
    decisions::Decisions,
    jwks::Jwks,
    limits::{Limits, RateLimit},
    policy::{PolicyTable, caller_facts},
};
use crate::model::FieldError;

/// Verified tokens remembered at most (beyond it, expired ones are forgotten first).
const MAX_REMEMBERED_TOKENS: usize = 10_000;
/// Subjects whose rate limit state is kept at most.
const MAX_SUBJECTS: usize = 100_000;

/// `gateway.auth.jwt` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// Audiences accepted besides the gateway's own URIs (the endpoint's canonical URI
    /// and the gateway's base URL).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Where the provider publishes its signing keys (a JWK Set).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A JWK Set in a file, instead of `jwks_url`.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Accepted signature algorithms [default: every asymmetric one: RS*, PS*, ES256,
    /// ES384, EdDSA].
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds [default: 30].
    #[serde(default)]
    pub leeway_secs: Option<u64>,
    /// The claim naming the caller [default: `sub`].
    #[serde(default)]
    pub subject_claim: Option<String>,
    /// The claim listing the token's scopes (a space-separated string or a list)
    /// [default: `scope`, else `scp`].
    #[serde(default)]
    pub scope_claim: Option<String>,
    /// The claim listing the caller's groups [default: `groups`].
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Scopes every token must carry; without them, `403 insufficient_scope`.
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// What a token reaches, by its claims (the union of the grants that apply to it).
    /// Absent: every verified token reaches everything.
    #[serde(default)]
    pub grants: Option<Vec<ClaimGrant>>,
    /// Each subject's rate limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Announced in the Protected Resource Metadata [default: the issuer].
    #[serde(default)]
    pub authorization_servers: Option<Vec<String>>,
    /// Announced in the Protected Resource Metadata [default: `required_scopes` and the
    /// grants' scopes].
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// One grant: to whom it applies (any selector matching; none: every token) and what
/// it reaches (as an API key's `servers` and `tools`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimGrant {
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claims and a value each must have (equal, or contained in a list).
    #[serde(default)]
    pub claims: IndexMap<String, String>,
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Named policies the grant's tools are also subject to.
    #[serde(default)]
    pub policies: Vec<String>,
}

/// Why a token was refused (the `error_description` of the `401`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("the token's signing key is not one the identity provider publishes")]
    UnknownKey,
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not the one this gateway trusts")]
    Issuer,
    #[error("the token's audience is not this gateway")]
    Audience,
    #[error("the token has no usable {0:?} claim")]
    Claim(String),
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.into_kind() {
            ErrorKind::InvalidSignature => TokenError::Signature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::Issuer,
            ErrorKind::InvalidAudience => TokenError::Audience,
            ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                TokenError::Claim(claim)
            }
            _ => TokenError::Malformed,
        }
    }
}

/// The caller a verified token names, and what it reaches.
#[derive(Debug)]
pub struct TokenCaller {
    pub subject: String,
    /// `jwt:<subject>` (see [`super::Identity::principal`]).
    pub principal: String,
    pub scopes: Vec<String>,
    audiences: Vec<String>,
    /// `exp`, in seconds since the epoch.
    expires_at: u64,
    pub(super) allows: Vec<Arc<Allow>>,
    pub(super) limits: Arc<Limits>,
    /// What policies see of the caller (`caller`).
    pub(super) facts: cel::Value,
    pub(super) decisions: Decisions,
    /// The token itself: only ever sent to a configured token-exchange endpoint
    /// (RFC 8693), never upstream.
    pub(super) token: crate::secret::Secret,
}

impl TokenCaller {
    fn is_expired(&self, now: u64, leeway: u64) -> bool {
        self.expires_at.saturating_add(leeway) <= now
    }
}

struct CompiledGrant {
    grant: ClaimGrant,
    allow: Arc<Allow>,
}

/// A subject's state: its rate limit and its latest token.
struct Subject {
    limits: Arc<Limits>,
    latest: Arc<TokenCaller>,
}

/// Verifies tokens and maps them to callers.
pub struct JwtAuth {
    /// One per accepted algorithm (the library checks one family at a time).
    validations: Vec<Validation>,
    leeway: u64,
    audiences: Vec<String>,
    subject_claim: String,
    scope_claim: Option<String>,
    groups_claim: String,
    required_scopes: Vec<String>,
    grants: Option<Vec<CompiledGrant>>,
    rate_limit: Option<RateLimit>,
    /// Announced in the Protected Resource Metadata.
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    jwks: Jwks,
    verified: Mutex<HashMap<[u8; 32], Arc<TokenCaller>>>,
    subjects: Mutex<HashMap<String, Subject>>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("issuer", &self.validations[0].iss)
            .finish_non_exhaustive()
    }
}

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl JwtAuth {
    /// Checks the configuration (a JWKS file is read now, a URL fetched by [`Self::load`]);
    /// errors name the field under `gateway.auth.jwt`. Grants' policies are looked up in
    /// `policies`.
    pub fn new(config: JwtConfig, policies: &Arc<PolicyTable>) -> Result<Self, FieldError> {
        let issuer = config.issuer.trim().to_owned();
        if issuer.is_empty() {
            return Err(FieldError::invalid("issuer", "is required"));
        }
        let jwks = match (config.jwks_url, config.jwks_file) {
            (Some(url), None) => {
                let parsed = url::Url::parse(&url)
                    .map_err(|e| FieldError::invalid("jwks_url", e.to_string()))?;
                if !matches!(parsed.scheme(), "https" | "http") {
                    return Err(FieldError::invalid("jwks_url", "must be an http(s) URL"));
                }
                Jwks::from_url(url).map_err(|e| FieldError::invalid("jwks_url", e))?
            }
            (None, Some(path)) => {
                Jwks::from_file(path).map_err(|e| FieldError::invalid("jwks_file", e))?
            }
            _ => {
                return Err(FieldError::invalid(
                    "jwks_url",
                    "give exactly one of jwks_url and jwks_file",
                ));
            }
        };
        let algorithms = config.algorithms.unwrap_or_else(|| ASYMMETRIC.to_vec());
        if algorithms.is_empty() {
            return Err(FieldError::invalid("algorithms", "must not be empty"));
        }
        let leeway = config.leeway_secs.unwrap_or(30);
        let validations = algorithms
            .into_iter()
            .map(|alg| {
                let mut validation = Validation::new(alg);
                validation.leeway = leeway;
                validation.validate_nbf = true;
                validation.set_issuer(&[&issuer]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                // The audience depends on the endpoint: checked by `accepts_audience`.
                validation.validate_aud = false;
                validation
            })
            .collect();
        Limits::new(config.rate_limit.as_ref())?;
        let grants = config
            .grants
            .map(|grants| {
                grants
                    .into_iter()
                    .enumerate()
                    .map(|(i, grant)| {
                        let allow = Allow::new(
                            grant.servers.as_deref(),
                            grant.tools.as_deref(),
                            &grant.policies,
                            policies,
                        )
                        .map_err(|e| {
                            FieldError::invalid(format!("grants[{i}].{}", e.field), e.message)
                        })?;
                        if let Some(unknown) = grant
                            .policies
                            .iter()
                            .find(|name| policies.get(name).is_none())
                        {
                            return Err(FieldError::invalid(
                                format!("grants[{i}].policies"),
                                format!("no policy named {unknown:?} in the policies: block"),
                            ));
                        }
                        Ok(CompiledGrant {
                            grant,
                            allow: Arc::new(allow),
                        })
                    })
                    .collect::<Result<Vec<_>, FieldError>>()
            })
            .transpose()?;
        let scopes_supported = config.scopes_supported.unwrap_or_else(|| {
            let mut scopes = config.required_scopes.clone();
            for grant in grants.iter().flatten() {
                scopes.extend(grant.grant.scopes.iter().cloned());
            }
            scopes.dedup();
            scopes
        });
        Ok(Self {
            validations,
            leeway,
            audiences: config.audiences,
            subject_claim: config.subject_claim.unwrap_or_else(|| "sub".into()),
            scope_claim: config.scope_claim,
            groups_claim: config.groups_claim.unwrap_or_else(|| "groups".into()),
            required_scopes: config.required_scopes,
            grants,
            rate_limit: config.rate_limit,
            authorization_servers: config.authorization_servers.unwrap_or(vec![issuer]),
            scopes_supported,
            jwks,
            verified: Mutex::default(),
            subjects: Mutex::default(),
        })
    }

    /// Fetches the provider's keys (at start).
    pub async fn load(&self) {
        self.jwks.load().await;
    }

    /// The caller `token` names, if it is a token of the provider's, valid now.
    pub async fn verify(&self, token: &str) -> Result<Arc<TokenCaller>, TokenError> {
        let digest = super::keys::digest(token);
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(caller) = self.remembered(&digest, now) {
            return Ok(caller);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let validation = self
            .validations
            .iter()
            .find(|v| v.algorithms == [header.alg])
            .ok_or(TokenError::Algorithm(header.alg))?;
        let key = self.jwks.key_for(&header).await?;
        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation)?.claims;
        let caller = self.caller(&claims, token)?;
        self.remember(digest, &caller, now);
        Ok(caller)
    }

    /// Whether `caller`'s token was issued for one of `endpoint` (the URIs the request's
    /// endpoint is known by) or a configured audience.
    pub fn accepts_audience(&self, caller: &TokenCaller, endpoint: &[&str]) -> bool {
        let trim = |s: &str| s.trim_end_matches('/').to_owned();
        caller.audiences.iter().map(|a| trim(a)).any(|aud| {
            endpoint.iter().any(|e| trim(e) == aud) || self.audiences.iter().any(|a| trim(a) == aud)
        })
    }

    /// The scopes every token must carry; `None` if `caller`'s has them all.
    pub fn missing_scopes(&self, caller: &TokenCaller) -> Option<&[String]> {
        let has_all = self
            .required_scopes
            .iter()
            .all(|scope| caller.scopes.contains(scope));
        (!has_all).then_some(&self.required_scopes[..])
    }

    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// What the latest valid token of `principal`'s subject reaches (nothing once it
    /// has expired): for sessions, between their requests.
    pub fn access_of(&self, principal: &str) -> Option<Access> {
        let subject = principal.strip_prefix("jwt:")?;
        let now = jsonwebtoken::get_current_timestamp();
        let subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            subjects
                .get(subject)
                .filter(|s| !s.latest.is_expired(now, self.leeway))
                .map_or(Access::NOTHING, |s| Access(Grant::Token(s.latest.clone()))),
        )
    }

    fn remembered(&self, digest: &[u8; 32], now: u64) -> Option<Arc<TokenCaller>> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified
            .get(digest)
            .filter(|caller| !caller.is_expired(now, self.leeway))
            .cloned()
    }

    fn remember(&self, digest: [u8; 32], caller: &Arc<TokenCaller>, now: u64) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= MAX_REMEMBERED_TOKENS {
            verified.retain(|_, c| !c.is_expired(now, self.leeway));
            if verified.len() >= MAX_REMEMBERED_TOKENS {
                verified.clear();
            }
        }
        verified.insert(digest, caller.clone());
    }

    /// The caller of a token whose signature and times were checked.
    fn caller(
        &self,
        claims: &Map<String, Value>,
        token: &str,
    ) -> Result<Arc<TokenCaller>, TokenError> {
        let subject = claims
            .get(&self.subject_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::Claim(self.subject_claim.clone()))?
            .to_owned();
        let scopes = match &self.scope_claim {
            Some(claim) => strings(claims.get(claim), true),
            None => strings(claims.get("scope").or_else(|| claims.get("scp")), true),
        };
        let groups = strings(claims.get(&self.groups_claim), false);
        let audiences = strings(claims.get("aud"), false);
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(|| TokenError::Claim("exp".into()))?;
        let allows = match &self.grants {
            None => vec![Arc::new(Allow::default())],
            Some(grants) => grants
                .iter()
                .filter(|g| applies(&g.grant, &subject, &scopes, &groups, claims))
                .map(|g| g.allow.clone())
                .collect(),
        };
        let mut subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        let limits = match subjects.get(&subject) {
            Some(known) => known.limits.clone(),
            None => Arc::new(Limits::new(self.rate_limit.as_ref()).unwrap_or_default()),
        };
        let principal = format!("jwt:{subject}");
        let facts = caller_facts(serde_json::json!({
            "principal": principal, "kind": "jwt", "id": subject, "name": subject,
            "subject": subject, "groups": groups, "scopes": scopes, "claims": claims,
            "metadata": {},
        }));
        let caller = Arc::new(TokenCaller {
            facts,
            decisions: Decisions::default(),
            token: crate::secret::Secret::new(token),
            principal,
            subject,
            scopes,
            audiences,
            expires_at,
            allows,
            limits: limits.clone(),
        });
        if subjects.len() >= MAX_SUBJECTS && !subjects.contains_key(&caller.subject) {
            let now = jsonwebtoken::get_current_timestamp();
            subjects.retain(|_, s| !s.latest.is_expired(now, self.leeway));
        }
        if subjects.len() < MAX_SUBJECTS || subjects.contains_key(&caller.subject) {
            subjects.insert(
                caller.subject.clone(),
                Subject {
                    limits,
                    latest: caller.clone(),
                },
            );
        }
        Ok(caller)
    }
}

/// Whether `grant` applies to a token with these claims.
fn applies(
    grant: &ClaimGrant,
    subject: &str,
    scopes: &[String],
    groups: &[String],
    claims: &Map<String, Value>,
) -> bool {
    let unconditional = grant.subjects.is_empty()
        && grant.groups.is_empty()
        && grant.scopes.is_empty()
        && grant.claims.is_empty();
    unconditional
        || grant.subjects.iter().any(|s| s == subject)
        || grant.groups.iter().any(|g| groups.contains(g))
        || grant.scopes.iter().any(|s| scopes.contains(s))
        || grant
            .claims
            .iter()
            .any(|(name, want)| has_value(claims.get(name), want))
}

fn has_value(claim: Option<&Value>, want: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == want,
        Some(Value::Array(items)) => items.iter().any(|v| has_value(Some(v), want)),
        Some(Value::Bool(b)) => b.to_string() == want,
        Some(Value::Number(n)) => n.to_string() == want,
        _ => false,
    }
}

/// A claim's strings: a list's, or one string's (split at spaces for scopes).
fn strings(claim: Option<&Value>, space_separated: bool) -> Vec<String> {
    match claim {
        Some(Value::String(s)) if space_separated => {
            s.split_whitespace().map(str::to_owned).collect()
        }
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

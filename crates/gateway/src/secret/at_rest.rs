//! Encryption of stored secrets (`MCP_GATEWAY_SECRET_KEY`).
//!
//! Each secret value of a stored registration (`auth_value`, every `headers` value, every
//! stdio `env` value) is sealed on its own with AES-256-GCM under a fresh random 96-bit
//! nonce and stored as `enc:v1:<base64(nonce || ciphertext || tag)>`. The version prefix
//! lets a later scheme sit beside this one and tells an encrypted value from a plaintext
//! one written before a key was configured.
//!
//! The key: `MCP_GATEWAY_SECRET_KEY` given as 64 hex digits or as base64 of exactly 32
//! bytes is used as is; any other non-empty value is a passphrase, stretched with
//! HKDF-SHA256 (salt `mcp-gateway`, info `secrets-at-rest v1`) into the 32-byte key.
//! HKDF is not a password hash: a passphrase must itself be long and random.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, Key, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng},
};
use base64::{Engine, engine::general_purpose::STANDARD};

/// The prefix of a value encrypted by this version of the scheme.
pub const PREFIX_V1: &str = "enc:v1:";
/// Any encrypted value, whatever its version (`enc:v<n>:`).
const PREFIX_ANY: &str = "enc:v";
const NONCE_LEN: usize = 12;
const HKDF_SALT: &[u8] = b"mcp-gateway";
const HKDF_INFO: &[u8] = b"secrets-at-rest v1";

/// How the key was given (for the start-up log line; never the key itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// 64 hexadecimal digits.
    Hex,
    /// Base64 of 32 bytes.
    Base64,
    /// Any other string, stretched with HKDF-SHA256.
    Passphrase,
}

impl KeyForm {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Hex => "a 256-bit key in hex",
            Self::Base64 => "a 256-bit key in base64",
            Self::Passphrase => "a passphrase (key derived with HKDF-SHA256)",
        }
    }
}

/// The key that seals stored secrets. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey {
    cipher: Aes256Gcm,
    form: KeyForm,
}

/// Why a stored value could not be opened. Never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("is encrypted but MCP_GATEWAY_SECRET_KEY is not set")]
    NoKey,
    #[error(
        "cannot be decrypted with the configured MCP_GATEWAY_SECRET_KEY (a different key, or a damaged value)"
    )]
    WrongKey,
    #[error("is encrypted with an unknown scheme (written by a newer mcp-gateway?)")]
    UnknownVersion,
}

impl SecretKey {
    /// Reads the configured key; `None` for an empty value.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let (bytes, form) = if let Some(bytes) = decode_hex32(value) {
            (bytes, KeyForm::Hex)
        } else if let Some(bytes) = STANDARD
            .decode(value)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            (bytes, KeyForm::Base64)
        } else {
            let mut okm = [0u8; 32];
            hkdf::Hkdf::<sha2::Sha256>::new(Some(HKDF_SALT), value.as_bytes())
                .expand(HKDF_INFO, &mut okm)
                .expect("32 bytes is a valid HKDF-SHA256 output length");
            (okm, KeyForm::Passphrase)
        };
        Some(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            form,
        })
    }

    pub fn form(&self) -> KeyForm {
        self.form
    }

    /// Seals one value: `enc:v1:<base64(nonce || ciphertext)>`.
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory string cannot fail");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        format!("{PREFIX_V1}{}", STANDARD.encode(sealed))
    }

    fn open_v1(&self, body: &str) -> Result<String, OpenError> {
        let sealed = STANDARD.decode(body).map_err(|_| OpenError::WrongKey)?;
        if sealed.len() < NONCE_LEN {
            return Err(OpenError::WrongKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| OpenError::WrongKey)?;
        String::from_utf8(plaintext).map_err(|_| OpenError::WrongKey)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(***, {:?})", self.form)
    }
}

/// Whether a stored value is encrypted (any version).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX_ANY)
        && value[PREFIX_ANY.len()..]
            .split_once(':')
            .is_some_and(|(v, _)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

/// Opens a stored value: a plaintext value (written before a key was set) is returned as
/// it is; an encrypted one needs the key.
pub fn open(value: &str, key: Option<&SecretKey>) -> Result<String, OpenError> {
    if !is_sealed(value) {
        return Ok(value.to_owned());
    }
    let Some(body) = value.strip_prefix(PREFIX_V1) else {
        return Err(OpenError::UnknownVersion);
    };
    key.ok_or(OpenError::NoKey)?.open_v1(body)
}

fn decode_hex32(value: &str) -> Option<[u8; 32]> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn key_forms() {
        assert_eq!(SecretKey::parse(HEX).unwrap().form(), KeyForm::Hex);
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(SecretKey::parse(&b64).unwrap().form(), KeyForm::Base64);
        assert_eq!(
            SecretKey::parse("correct horse battery staple")
                .unwrap()
                .form(),
            KeyForm::Passphrase
        );
        assert!(SecretKey::parse("  ").is_none());
        // The same 32 bytes in hex and in base64 are the same key.
        let hex_key = SecretKey::parse(HEX).unwrap();
        let bytes: Vec<u8> = (0u8..32).collect();
        let b64_key = SecretKey::parse(&STANDARD.encode(bytes)).unwrap();
        assert_eq!(open(&hex_key.seal("x"), Some(&b64_key)).unwrap(), "x");
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let key = SecretKey::parse("a passphrase").unwrap();
        let a = key.seal("hunter2");
        let b = key.seal("hunter2");
        assert!(a.starts_with(PREFIX_V1), "{a}");
        assert_ne!(a, b, "every value gets its own nonce");
        assert!(!a.contains("hunter2"));
        assert_eq!(open(&a, Some(&key)).unwrap(), "hunter2");
        assert_eq!(open(&key.seal(""), Some(&key)).unwrap(), "");
    }

    #[test]
    fn plaintext_passes_and_failures_are_named() {
        let key = SecretKey::parse(HEX).unwrap();
        assert_eq!(open("plain", Some(&key)).unwrap(), "plain");
        assert_eq!(open("plain", None).unwrap(), "plain");
        let sealed = key.seal("s3cret");
        assert_eq!(open(&sealed, None), Err(OpenError::NoKey));
        let other = SecretKey::parse("another key").unwrap();
        assert_eq!(open(&sealed, Some(&other)), Err(OpenError::WrongKey));
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push('A');
        assert_eq!(open(&damaged, Some(&key)), Err(OpenError::WrongKey));
        assert_eq!(open("enc:v1:", Some(&key)), Err(OpenError::WrongKey));
        assert_eq!(
            open("enc:v9:abc", Some(&key)),
            Err(OpenError::UnknownVersion)
        );
        assert_eq!(format!("{key:?}"), "SecretKey(***, Hex)");
        let message = OpenError::WrongKey.to_string();
        assert!(!message.contains("s3cret"));
    }
}

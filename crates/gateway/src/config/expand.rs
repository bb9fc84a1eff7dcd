//! `${VAR}` substitution in configuration strings.
//!
//! `${VAR}` is replaced by the variable's value and is an error when it is unset;
//! `${VAR:-default}` falls back to `default`; `$$` is a literal `$`. Anything else is kept.

use super::{ConfigError, env::Env};

/// Expands `${VAR}` references in `input`; `field` names the setting for error messages.
pub fn expand(input: &str, field: &str, env: &dyn Env) -> Result<String, ConfigError> {
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(ConfigError::invalid(
                    field,
                    "has an unterminated ${ reference",
                ));
            };
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::invalid(
                    field,
                    format!("has an invalid variable name in ${{{reference}}}"),
                ));
            }
            match (env.var(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(ConfigError::invalid(
                        field,
                        format!("refers to environment variable {name}, which is not set"),
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env::MapEnv;

    #[test]
    fn substitutes_defaults_and_escapes() {
        let env = MapEnv::new([("TOKEN", "abc"), ("EMPTY", "")]);
        assert_eq!(expand("Bearer ${TOKEN}", "f", &env).unwrap(), "Bearer abc");
        assert_eq!(expand("${MISSING:-dflt}", "f", &env).unwrap(), "dflt");
        assert_eq!(expand("${EMPTY}", "f", &env).unwrap(), "");
        assert_eq!(expand("$$HOME $5", "f", &env).unwrap(), "$HOME $5");
        assert_eq!(expand("plain", "f", &env).unwrap(), "plain");
    }

    #[test]
    fn names_the_field_and_variable() {
        let err = expand("${NOPE}", "mcp_servers.a.auth_value", &MapEnv::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("mcp_servers.a.auth_value") && msg.contains("NOPE"),
            "{msg}"
        );
        assert!(expand("${OPEN", "f", &MapEnv::default()).is_err());
        assert!(expand("${A B}", "f", &MapEnv::default()).is_err());
    }
}

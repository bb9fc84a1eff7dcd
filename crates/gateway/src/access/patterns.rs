//! An allowlist of glob patterns (`github__*`, `srv-?`, `*`), as API keys carry them.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Compiled patterns; a name is allowed when any of them matches it whole.
#[derive(Debug, Clone)]
pub struct Patterns {
    set: GlobSet,
}

impl Patterns {
    /// Compiles `patterns`; the error names the pattern that is not a glob.
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            if pattern.trim().is_empty() {
                return Err("contains an empty pattern".to_owned());
            }
            let glob = Glob::new(pattern).map_err(|e| format!("pattern {pattern:?}: {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(Self { set })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.set.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Patterns {
        Patterns::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn globs_match_whole_names() {
        let p = patterns(&["github__*", "time__get_?"]);
        assert!(p.matches("github__create_issue"));
        assert!(p.matches("time__get_t"));
        assert!(!p.matches("time__get_time"));
        assert!(!p.matches("xgithub__a"));
        assert!(
            !p.matches("GITHUB__a"),
            "case matters: names are case-sensitive"
        );
        assert!(!patterns(&[]).matches("anything"));
        assert!(patterns(&["*"]).matches("a/b__c"));
    }

    #[test]
    fn bad_patterns_are_named() {
        let err = Patterns::new(&["ok".into(), "a[".into()]).unwrap_err();
        assert!(err.contains("a["), "{err}");
        assert!(Patterns::new(&[" ".into()]).is_err());
    }
}

//! The result of one check of `herald check --online`: what was checked and whether it
//! works, in words for the operator (never a secret).

/// One line of `herald check --online`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `feed wp-de`, `telegram`, `matrix room #news:example.org`.
    pub subject: String,
    /// What was found when it works, or why it does not.
    pub outcome: Result<String, String>,
}

impl Check {
    pub fn ok(subject: impl Into<String>, found: impl Into<String>) -> Check {
        Check {
            subject: subject.into(),
            outcome: Ok(found.into()),
        }
    }

    pub fn failed(subject: impl Into<String>, reason: impl Into<String>) -> Check {
        Check {
            subject: subject.into(),
            outcome: Err(reason.into()),
        }
    }

    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }
}

impl std::fmt::Display for Check {
    /// `feed wp-de: OK — 10 items`, `telegram: FAILED — 401 Unauthorized: …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(found) => write!(f, "{}: OK — {found}", self.subject),
            Err(reason) => write!(f, "{}: FAILED — {reason}", self.subject),
        }
    }
}

/// An error with its causes, each once (`error sending request: connection refused`):
/// the HTTP clients' own texts leave out why a request failed.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_reads_as_one_line_with_its_outcome() {
        assert_eq!(
            Check::ok("feed wp-de", "10 items").to_string(),
            "feed wp-de: OK — 10 items"
        );
        let failed = Check::failed("telegram", "401 Unauthorized: the token was refused");
        assert!(!failed.passed());
        assert_eq!(
            failed.to_string(),
            "telegram: FAILED — 401 Unauthorized: the token was refused"
        );
    }

    #[test]
    fn causes_are_added_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(with_causes(&Outer(io)), "error sending request: refused");
        #[derive(Debug, thiserror::Error)]
        #[error("network error: refused")]
        struct Said(#[source] std::io::Error);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(with_causes(&Said(io)), "network error: refused");
    }
}

//! Three-valued logic for policy evaluation. `Unknown` marks a point where AWS has not
//! documented its behaviour; the evaluator resolves it by the caller's safe reading.

/// A truth value that may be undecided by AWS's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Truth {
    /// Certainly false.
    False,
    /// Not decided by AWS's documented semantics.
    Unknown,
    /// Certainly true.
    True,
}

impl Truth {
    /// Kleene conjunction: false wins, then unknown.
    #[must_use]
    pub fn and(self, other: Truth) -> Truth {
        self.min(other)
    }

    /// Kleene disjunction: true wins, then unknown.
    #[must_use]
    pub fn or(self, other: Truth) -> Truth {
        self.max(other)
    }

    /// Negation; unknown stays unknown.
    #[must_use]
    pub fn negate(self) -> Truth {
        match self {
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
            Truth::True => Truth::False,
        }
    }
}

impl From<bool> for Truth {
    fn from(b: bool) -> Self {
        if b { Truth::True } else { Truth::False }
    }
}

#[cfg(test)]
mod tests {
    use super::Truth::*;

    #[test]
    fn kleene_tables() {
        assert_eq!(True.and(Unknown), Unknown);
        assert_eq!(False.and(Unknown), False);
        assert_eq!(True.or(Unknown), True);
        assert_eq!(False.or(Unknown), Unknown);
        assert_eq!(Unknown.negate(), Unknown);
        assert_eq!(True.negate(), False);
    }
}

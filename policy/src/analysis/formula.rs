//! Formulas over the variables of a request: what "this statement applies" means, as
//! constraints on each variable's value class.
//!
//! The evaluator is three-valued ([`Truth::Unknown`] marks what AWS does not document). A
//! question is always asked in one direction, so the analysis needs only two two-valued
//! projections of every formula: `may_hold` (true or unknown) and `may_fail` (false or
//! unknown). An Allow that may hold and Denies that may each fail give an Allow under the
//! reading that grants most; a Deny that may hold, or Allows that may each fail, give a denial
//! under the reading that grants least.

use crate::actions::ActionSet;
use crate::logic::Truth;

/// A set of value classes of one variable. For a single-valued variable the bit after the last
/// class stands for "absent".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// No class.
    pub fn none(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64).max(1)])
    }

    /// Every class of `n`.
    pub fn all(n: usize) -> Bits {
        let mut b = Bits::none(n);
        for i in 0..n {
            b.insert(i);
        }
        b
    }

    /// Adds class `i`.
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Whether class `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// In place intersection.
    pub fn intersect_with(&mut self, other: &Bits) {
        for (i, a) in self.0.iter_mut().enumerate() {
            *a &= other.0.get(i).copied().unwrap_or(0);
        }
    }

    /// Whether the two sets share a class.
    pub fn meets(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }

    /// Whether no class is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The lowest class in the set.
    pub fn first(&self) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// The classes of `self` not in `other`.
    pub fn minus(&self, other: &Bits) -> Bits {
        Bits(
            self.0
                .iter()
                .enumerate()
                .map(|(i, w)| w & !other.0.get(i).copied().unwrap_or(0))
                .collect(),
        )
    }

    /// Whether `self` holds every class of `other`.
    pub fn covers(&self, other: &Bits) -> bool {
        other
            .0
            .iter()
            .enumerate()
            .all(|(i, b)| b & !self.0.get(i).copied().unwrap_or(0) == 0)
    }
}

/// One constraint on one variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lit {
    /// The action is one of these.
    Action(ActionSet),
    /// A single-valued variable's class (or absence) is one of these.
    In(usize, Bits),
    /// A multivalued variable holds a value of one of these classes.
    SomeIn(usize, Bits),
    /// Every value of a multivalued variable is of one of these classes.
    AllIn(usize, Bits),
    /// A multivalued variable is absent (or empty).
    Empty(usize),
    /// A multivalued variable holds at least one value.
    NonEmpty(usize),
}

/// A two-valued formula in negation normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum F {
    /// Always.
    True,
    /// Never.
    False,
    /// One constraint.
    Lit(Lit),
    /// Every one.
    And(Vec<F>),
    /// At least one.
    Or(Vec<F>),
}

impl F {
    /// Conjunction, simplified.
    pub fn and(items: Vec<F>) -> F {
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            match i {
                F::True => {}
                F::False => return F::False,
                F::And(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => F::True,
            1 => out.pop().unwrap_or(F::True),
            _ => F::And(out),
        }
    }

    /// Disjunction, simplified.
    pub fn or(items: Vec<F>) -> F {
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            match i {
                F::False => {}
                F::True => return F::True,
                F::Or(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => F::False,
            1 => out.pop().unwrap_or(F::False),
            _ => F::Or(out),
        }
    }

    /// From a truth value.
    pub fn from_bool(b: bool) -> F {
        if b { F::True } else { F::False }
    }
}

/// A three-valued formula: each leaf already knows both of its projections.
#[derive(Debug, Clone)]
pub enum T3 {
    /// A constant.
    Const(Truth),
    /// A constraint: `may_hold` and `may_fail`.
    Leaf(F, F),
    /// Kleene conjunction.
    And(Vec<T3>),
    /// Kleene disjunction.
    Or(Vec<T3>),
    /// Negation.
    Not(Box<T3>),
}

impl T3 {
    /// True or unknown.
    pub fn may_hold(&self) -> F {
        match self {
            T3::Const(t) => F::from_bool(*t != Truth::False),
            T3::Leaf(h, _) => h.clone(),
            T3::And(items) => F::and(items.iter().map(T3::may_hold).collect()),
            T3::Or(items) => F::or(items.iter().map(T3::may_hold).collect()),
            T3::Not(inner) => inner.may_fail(),
        }
    }

    /// False or unknown.
    pub fn may_fail(&self) -> F {
        match self {
            T3::Const(t) => F::from_bool(*t != Truth::True),
            T3::Leaf(_, f) => f.clone(),
            T3::And(items) => F::or(items.iter().map(T3::may_fail).collect()),
            T3::Or(items) => F::and(items.iter().map(T3::may_fail).collect()),
            T3::Not(inner) => inner.may_hold(),
        }
    }

    /// A leaf from the truth of each class of a single-valued variable (`absent`: the truth
    /// when it is absent, if it can be).
    pub fn per_class(var: usize, truths: &[Truth], absent: Option<Truth>) -> T3 {
        let n = truths.len() + 1;
        let (mut hold, mut fail) = (Bits::none(n), Bits::none(n));
        let absent_bit = truths.len();
        for (i, t) in truths
            .iter()
            .copied()
            .chain(absent)
            .enumerate()
            .map(|(i, t)| (if i < truths.len() { i } else { absent_bit }, t))
        {
            if t != Truth::False {
                hold.insert(i);
            }
            if t != Truth::True {
                fail.insert(i);
            }
        }
        let lit = |b: Bits| {
            if b.is_empty() {
                F::False
            } else {
                F::Lit(Lit::In(var, b))
            }
        };
        T3::Leaf(lit(hold), lit(fail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projections_follow_kleene() {
        let u = T3::Const(Truth::Unknown);
        let t = T3::Const(Truth::True);
        let f = T3::Const(Truth::False);
        assert_eq!(T3::And(vec![u.clone(), t.clone()]).may_hold(), F::True);
        assert_eq!(T3::And(vec![u.clone(), t.clone()]).may_fail(), F::True);
        assert_eq!(T3::And(vec![f.clone(), u.clone()]).may_hold(), F::False);
        assert_eq!(T3::Or(vec![t.clone(), u.clone()]).may_fail(), F::False);
        assert_eq!(T3::Not(Box::new(t)).may_hold(), F::False);
        let leaf = T3::per_class(
            0,
            &[Truth::True, Truth::False, Truth::Unknown],
            Some(Truth::False),
        );
        let F::Lit(Lit::In(_, hold)) = leaf.may_hold() else {
            panic!()
        };
        assert!(hold.contains(0) && !hold.contains(1) && hold.contains(2) && !hold.contains(3));
    }
}

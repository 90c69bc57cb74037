//! A search for an assignment of value classes that satisfies a set of formulas: branch on the
//! disjunctions, narrow each variable's classes on the constraints, backtrack when a variable
//! has none left. Every variable has finitely many classes, so the search is complete; it stops
//! at a node budget and then says so.

use crate::actions::ActionSet;

use super::formula::{Bits, F, Lit};

/// What a variable may still be.
#[derive(Debug, Clone)]
pub enum Dom {
    /// A single-valued variable: its classes, the absent bit last.
    One(Bits),
    /// A multivalued variable.
    Many {
        /// It may be absent (empty).
        empty_ok: bool,
        /// It may hold values.
        nonempty_ok: bool,
        /// Every value it holds is of one of these classes.
        all: Bits,
        /// For each entry, it holds a value of one of those classes.
        some: Vec<Bits>,
    },
}

impl Dom {
    fn feasible(&self) -> bool {
        match self {
            Dom::One(b) => !b.is_empty(),
            Dom::Many {
                empty_ok,
                nonempty_ok,
                all,
                some,
            } => {
                (*empty_ok && some.is_empty())
                    || (*nonempty_ok && !all.is_empty() && some.iter().all(|s| s.meets(all)))
            }
        }
    }
}

/// The action and every variable's remaining classes.
#[derive(Debug, Clone)]
pub struct State {
    /// The actions still possible.
    pub action: ActionSet,
    /// Per variable.
    pub doms: Vec<Dom>,
}

/// The search ran out of its node budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

/// Applies one constraint; false when it leaves nothing.
fn apply(state: &mut State, lit: &Lit) -> bool {
    match lit {
        Lit::Action(a) => {
            state.action = state.action.intersect(*a);
            return !state.action.is_empty();
        }
        Lit::In(v, b) => {
            if let Some(Dom::One(d)) = state.doms.get_mut(*v) {
                d.intersect_with(b);
            }
        }
        Lit::SomeIn(v, b) => {
            if let Some(Dom::Many { empty_ok, some, .. }) = state.doms.get_mut(*v) {
                *empty_ok = false;
                some.push(b.clone());
            }
        }
        Lit::AllIn(v, b) => {
            if let Some(Dom::Many { all, .. }) = state.doms.get_mut(*v) {
                all.intersect_with(b);
            }
        }
        Lit::Empty(v) => {
            if let Some(Dom::Many { nonempty_ok, .. }) = state.doms.get_mut(*v) {
                *nonempty_ok = false;
            }
        }
        Lit::NonEmpty(v) => {
            if let Some(Dom::Many { empty_ok, .. }) = state.doms.get_mut(*v) {
                *empty_ok = false;
            }
        }
    }
    let v = match lit {
        Lit::In(v, _) | Lit::SomeIn(v, _) | Lit::AllIn(v, _) | Lit::Empty(v) | Lit::NonEmpty(v) => {
            *v
        }
        Lit::Action(_) => return true,
    };
    state.doms.get(v).is_none_or(Dom::feasible)
}

/// A cheap test whether `f` can still hold; false only when it certainly cannot.
fn viable(state: &State, f: &F) -> bool {
    match f {
        F::True => true,
        F::False => false,
        F::Lit(Lit::Action(a)) => !state.action.intersect(*a).is_empty(),
        F::Lit(Lit::In(v, b)) => match state.doms.get(*v) {
            Some(Dom::One(d)) => d.meets(b),
            _ => true,
        },
        F::Lit(Lit::SomeIn(v, b)) => match state.doms.get(*v) {
            Some(Dom::Many {
                nonempty_ok, all, ..
            }) => *nonempty_ok && all.meets(b),
            _ => true,
        },
        F::Lit(Lit::Empty(v)) => match state.doms.get(*v) {
            Some(Dom::Many { empty_ok, .. }) => *empty_ok,
            _ => true,
        },
        F::Lit(Lit::NonEmpty(v)) => match state.doms.get(*v) {
            Some(Dom::Many { nonempty_ok, .. }) => *nonempty_ok,
            _ => true,
        },
        F::Lit(Lit::AllIn(..)) => true,
        F::And(items) => items.iter().all(|i| viable(state, i)),
        F::Or(items) => items.iter().any(|i| viable(state, i)),
    }
}

/// Finds a state in which every goal holds.
#[derive(Debug)]
pub struct Solver {
    budget: usize,
    used: usize,
}

impl Solver {
    /// A solver that gives up after `budget` search nodes.
    pub fn new(budget: usize) -> Solver {
        Solver { budget, used: 0 }
    }

    /// Nodes used so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// A state satisfying every goal, `None` when there is none.
    pub fn solve(&mut self, state: State, goals: Vec<&F>) -> Result<Option<State>, Exhausted> {
        self.used += 1;
        if self.used > self.budget {
            return Err(Exhausted);
        }
        let mut state = state;
        let mut stack = goals;
        let mut ors: Vec<&F> = Vec::new();
        while let Some(g) = stack.pop() {
            match g {
                F::True => {}
                F::False => return Ok(None),
                F::Lit(l) => {
                    if !apply(&mut state, l) {
                        return Ok(None);
                    }
                }
                F::And(items) => stack.extend(items.iter()),
                F::Or(_) => ors.push(g),
            }
        }
        // The disjunction with the fewest live alternatives goes first; one with a single
        // alternative is simply asserted.
        let mut best: Option<(usize, Vec<&F>)> = None;
        for (i, or) in ors.iter().enumerate() {
            let F::Or(items) = or else { continue };
            let live: Vec<&F> = items.iter().filter(|f| viable(&state, f)).collect();
            if live.is_empty() {
                return Ok(None);
            }
            if best.as_ref().is_none_or(|(_, b)| live.len() < b.len()) {
                let single = live.len() == 1;
                best = Some((i, live));
                if single {
                    break;
                }
            }
        }
        let Some((index, alternatives)) = best else {
            return Ok(Some(state));
        };
        let rest: Vec<&F> = ors
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, f)| *f)
            .collect();
        for alt in alternatives {
            let mut goals = rest.clone();
            goals.push(alt);
            if let Some(found) = self.solve(state.clone(), goals)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(n: usize, set: &[usize]) -> Bits {
        let mut b = Bits::none(n);
        for i in set {
            b.insert(*i);
        }
        b
    }

    #[test]
    fn finds_a_consistent_choice_and_refutes_a_contradiction() {
        let state = State {
            action: ActionSet::all(),
            doms: vec![
                Dom::One(Bits::all(3)),
                Dom::Many {
                    empty_ok: true,
                    nonempty_ok: true,
                    all: Bits::all(2),
                    some: Vec::new(),
                },
            ],
        };
        // (x in {0} or x in {1}) and x not 0 and the set holds class 1 and only class 1.
        let goals = [
            F::Or(vec![
                F::Lit(Lit::In(0, bits(3, &[0]))),
                F::Lit(Lit::In(0, bits(3, &[1]))),
            ]),
            F::Lit(Lit::In(0, bits(3, &[1, 2]))),
            F::Lit(Lit::SomeIn(1, bits(2, &[1]))),
            F::Lit(Lit::AllIn(1, bits(2, &[1]))),
        ];
        let found = Solver::new(100)
            .solve(state.clone(), goals.iter().collect())
            .unwrap()
            .unwrap();
        let Dom::One(x) = &found.doms[0] else {
            panic!()
        };
        assert_eq!(x.first(), Some(1));
        let contradiction = [
            F::Lit(Lit::SomeIn(1, bits(2, &[0]))),
            F::Lit(Lit::AllIn(1, bits(2, &[1]))),
        ];
        assert!(
            Solver::new(100)
                .solve(state, contradiction.iter().collect())
                .unwrap()
                .is_none()
        );
    }
}

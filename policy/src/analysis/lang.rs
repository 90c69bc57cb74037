//! Regular languages over strings: the values a condition can match, and the shapes of AWS's
//! identifiers. Every string comparison IAM offers (equality, case-insensitive equality, `*`/`?`
//! wildcards, ARN part-by-part matching, `true`/`false`) is a regular language, so one product
//! search answers which combinations of them a value can realise ([`cells`]).

use smallvec::{SmallVec, smallvec};
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::pattern::PatternChar;

/// A set of characters: sorted, disjoint, inclusive ranges. Most sets are one character or
/// one range (a literal's), so up to two ranges live inline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CharSet(Ranges);

type Ranges = SmallVec<[(char, char); 2]>;

impl CharSet {
    /// Every character.
    pub fn any() -> CharSet {
        CharSet(smallvec![('\0', char::MAX)])
    }

    /// One character.
    pub fn one(c: char) -> CharSet {
        CharSet(smallvec![(c, c)])
    }

    /// One character in either ASCII case.
    pub fn ascii_ci(c: char) -> CharSet {
        let (l, u) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
        if l == u {
            CharSet::one(c)
        } else {
            CharSet::from_ranges([(l, l), (u, u)])
        }
    }

    /// The inclusive range `a..=b`.
    pub fn range(a: char, b: char) -> CharSet {
        CharSet(smallvec![(a, b)])
    }

    /// From ranges in any order, overlapping or not.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (char, char)>) -> CharSet {
        let mut ranges: Ranges = ranges.into_iter().collect();
        ranges.sort_unstable();
        let mut out = Ranges::with_capacity(ranges.len());
        for (a, b) in ranges {
            match out.last_mut() {
                Some((_, hi)) if u32::from(a) <= u32::from(*hi).saturating_add(1) => {
                    if b > *hi {
                        *hi = b;
                    }
                }
                _ => out.push((a, b)),
            }
        }
        CharSet(out)
    }

    /// Every character but `c`.
    pub fn all_but(c: char) -> CharSet {
        CharSet::any().minus(&CharSet::one(c))
    }

    /// The union.
    pub fn union(&self, other: &CharSet) -> CharSet {
        CharSet::from_ranges(self.0.iter().chain(other.0.iter()).copied())
    }

    /// The characters of `self` not in `other`.
    pub fn minus(&self, other: &CharSet) -> CharSet {
        let mut out = Ranges::new();
        for &(a, b) in &self.0 {
            let mut lo = u32::from(a);
            let hi = u32::from(b);
            for &(oa, ob) in &other.0 {
                let (oa, ob) = (u32::from(oa), u32::from(ob));
                if ob < lo || oa > hi {
                    continue;
                }
                if oa > lo {
                    push_range(&mut out, lo, oa - 1);
                }
                lo = ob.saturating_add(1);
                if lo > hi {
                    break;
                }
            }
            if lo <= hi {
                push_range(&mut out, lo, hi);
            }
        }
        CharSet::from_ranges(out)
    }

    /// Whether `c` is in the set.
    pub fn contains(&self, c: char) -> bool {
        self.0.iter().any(|&(a, b)| a <= c && c <= b)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Pushes the range `lo..=hi` of code points, skipping the surrogate gap (not `char`s).
fn push_range(out: &mut Ranges, lo: u32, hi: u32) {
    const GAP: (u32, u32) = (0xD800, 0xDFFF);
    let mut pieces: SmallVec<[(u32, u32); 2]> = smallvec![(lo, hi)];
    if lo <= GAP.1 && hi >= GAP.0 {
        pieces.clear();
        if lo < GAP.0 {
            pieces.push((lo, GAP.0 - 1));
        }
        if hi > GAP.1 {
            pieces.push((GAP.1 + 1, hi));
        }
    }
    for (a, b) in pieces {
        if let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b)) {
            out.push((a, b));
        }
    }
}

/// A regular expression over [`CharSet`]s.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Re {
    /// The empty string.
    Empty,
    /// No string at all.
    Never,
    /// One character of the set.
    Set(CharSet),
    /// One after the other.
    Cat(Vec<Re>),
    /// Either.
    Alt(Vec<Re>),
    /// Any number of repetitions, none included.
    Star(Box<Re>),
    /// Between `min` and `max` repetitions.
    Repeat(Box<Re>, u32, u32),
}

impl Re {
    /// Exactly `s`.
    pub fn literal(s: &str) -> Re {
        Re::Cat(s.chars().map(|c| Re::Set(CharSet::one(c))).collect())
    }

    /// `s` in any ASCII case.
    pub fn literal_ascii_ci(s: &str) -> Re {
        Re::Cat(s.chars().map(|c| Re::Set(CharSet::ascii_ci(c))).collect())
    }

    /// Any string of characters from `set`.
    pub fn star_of(set: CharSet) -> Re {
        Re::Star(Box::new(Re::Set(set)))
    }

    /// Any string.
    pub fn any_string() -> Re {
        Re::star_of(CharSet::any())
    }

    /// At least `min` characters of `set`.
    pub fn at_least(set: CharSet, min: u32) -> Re {
        Re::Cat(vec![Re::repeat(set.clone(), min, min), Re::star_of(set)])
    }

    /// Between `min` and `max` characters of `set`.
    pub fn repeat(set: CharSet, min: u32, max: u32) -> Re {
        Re::Repeat(Box::new(Re::Set(set)), min, max)
    }

    /// A wildcard pattern: `*` is any run of `star` characters, `?` one `one` character, literal
    /// characters match themselves (case-sensitively).
    pub fn glob(p: &[PatternChar], star: &CharSet, one: &CharSet) -> Re {
        Re::Cat(
            p.iter()
                .map(|c| match c {
                    PatternChar::Star => Re::star_of(star.clone()),
                    PatternChar::One => Re::Set(one.clone()),
                    PatternChar::Lit(c) => Re::Set(CharSet::one(*c)),
                })
                .collect(),
        )
    }

    /// `ArnLike` with six or more parts: the first five parts are matched within their part
    /// (wildcards do not cross `:`), the sixth takes the rest of the ARN.
    pub fn arn_glob(p: &[PatternChar]) -> Re {
        let no_colon = CharSet::all_but(':');
        let any = CharSet::any();
        let mut parts = p.splitn(6, |c| *c == PatternChar::Lit(':'));
        let mut seq = Vec::new();
        for i in 0..6 {
            let Some(part) = parts.next() else {
                return Re::Never;
            };
            if i > 0 {
                seq.push(Re::Set(CharSet::one(':')));
            }
            if i < 5 {
                seq.push(Re::glob(part, &no_colon, &no_colon));
            } else {
                seq.push(Re::glob(part, &any, &any));
            }
        }
        Re::Cat(seq)
    }
}

/// A non-deterministic automaton without ε-moves: states `0..n`, the start set, accepting
/// states, and per state its moves.
#[derive(Debug, Clone)]
pub struct Nfa {
    moves: Vec<Vec<(CharSet, usize)>>,
    accept: Vec<bool>,
    start: Vec<usize>,
}

/// A set of NFA states, as a bit set.
pub type States = Vec<u64>;

impl Nfa {
    /// Builds the automaton of `re`.
    pub fn new(re: &Re) -> Nfa {
        if let Some(nfa) = Nfa::sequence(re) {
            return nfa;
        }
        let mut b = Builder::default();
        let (s, e) = b.build(re);
        b.finish(s, e)
    }

    /// The automaton of a sequence of character sets and starred sets (every literal and
    /// wildcard pattern), built directly: one state per set read, a starred set loops on the
    /// state it stands at. The general construction would reach the same language through
    /// epsilon closures, at a cost quadratic in the length.
    fn sequence(re: &Re) -> Option<Nfa> {
        let Re::Cat(items) = re else {
            return None;
        };
        let mut moves: Vec<Vec<(CharSet, usize)>> = vec![Vec::new()];
        for item in items {
            let here = moves.len() - 1;
            match item {
                Re::Set(set) => {
                    if !set.is_empty()
                        && let Some(m) = moves.get_mut(here)
                    {
                        m.push((set.clone(), here + 1));
                    }
                    moves.push(Vec::new());
                }
                Re::Star(inner) => match inner.as_ref() {
                    Re::Set(set) => {
                        if !set.is_empty()
                            && let Some(m) = moves.get_mut(here)
                        {
                            m.push((set.clone(), here));
                        }
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
        let mut accept = vec![false; moves.len()];
        if let Some(last) = accept.last_mut() {
            *last = true;
        }
        Some(Nfa {
            moves,
            accept,
            start: vec![0],
        })
    }

    /// The number of states.
    pub fn len(&self) -> usize {
        self.accept.len()
    }

    /// Whether the automaton has no state.
    pub fn is_empty(&self) -> bool {
        self.accept.is_empty()
    }

    /// The start set.
    pub fn start(&self) -> States {
        let mut s = empty_states(self.len());
        for &i in &self.start {
            set_bit(&mut s, i);
        }
        s
    }

    /// Whether `s` holds an accepting state.
    pub fn accepts(&self, s: &[u64]) -> bool {
        iter_bits(s).any(|i| self.accept.get(i).copied().unwrap_or(false))
    }

    /// The states reached from `s` on `c`.
    pub fn step(&self, s: &States, c: char) -> States {
        let mut next = empty_states(self.len());
        for i in iter_bits(s) {
            for (set, t) in self.moves.get(i).map(Vec::as_slice).unwrap_or_default() {
                if set.contains(c) {
                    set_bit(&mut next, *t);
                }
            }
        }
        next
    }

    /// The states reached from `s` on the string `text`.
    pub fn run(&self, s: &States, text: &str) -> States {
        text.chars().fold(s.clone(), |acc, c| self.step(&acc, c))
    }

    /// Whether the language holds `text`.
    pub fn matches(&self, text: &str) -> bool {
        self.accepts(&self.run(&self.start(), text))
    }

    fn char_sets(&self) -> impl Iterator<Item = &CharSet> {
        self.moves.iter().flatten().map(|(s, _)| s)
    }
}

fn empty_states(n: usize) -> States {
    vec![0; n.div_ceil(64).max(1)]
}

fn set_bit(s: &mut States, i: usize) {
    if let Some(w) = s.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

fn iter_bits(s: &[u64]) -> impl Iterator<Item = usize> + '_ {
    s.iter().enumerate().flat_map(|(wi, w)| {
        let mut w = *w;
        std::iter::from_fn(move || {
            if w == 0 {
                return None;
            }
            let b = w.trailing_zeros() as usize;
            w &= w - 1;
            Some(wi * 64 + b)
        })
    })
}

fn is_empty_states(s: &States) -> bool {
    s.iter().all(|w| *w == 0)
}

/// Thompson's construction, then ε-moves removed.
#[derive(Default)]
struct Builder {
    moves: Vec<Vec<(CharSet, usize)>>,
    eps: Vec<Vec<usize>>,
}

impl Builder {
    fn state(&mut self) -> usize {
        self.moves.push(Vec::new());
        self.eps.push(Vec::new());
        self.moves.len() - 1
    }

    fn eps(&mut self, a: usize, b: usize) {
        if let Some(e) = self.eps.get_mut(a) {
            e.push(b);
        }
    }

    /// Returns the fragment's entry and exit states.
    fn build(&mut self, re: &Re) -> (usize, usize) {
        match re {
            Re::Empty => {
                let s = self.state();
                (s, s)
            }
            Re::Never => {
                let (s, e) = (self.state(), self.state());
                (s, e)
            }
            Re::Set(set) => {
                let (s, e) = (self.state(), self.state());
                if !set.is_empty()
                    && let Some(m) = self.moves.get_mut(s)
                {
                    m.push((set.clone(), e));
                }
                (s, e)
            }
            Re::Cat(items) => {
                let s = self.state();
                let mut cur = s;
                for item in items {
                    let (a, b) = self.build(item);
                    self.eps(cur, a);
                    cur = b;
                }
                (s, cur)
            }
            Re::Alt(items) => {
                let (s, e) = (self.state(), self.state());
                for item in items {
                    let (a, b) = self.build(item);
                    self.eps(s, a);
                    self.eps(b, e);
                }
                (s, e)
            }
            Re::Star(inner) => {
                let (s, e) = (self.state(), self.state());
                let (a, b) = self.build(inner);
                self.eps(s, a);
                self.eps(s, e);
                self.eps(b, a);
                self.eps(b, e);
                (s, e)
            }
            Re::Repeat(inner, min, max) => {
                let s = self.state();
                let mut cur = s;
                let mut ends = Vec::new();
                for i in 0..*max {
                    if i >= *min {
                        ends.push(cur);
                    }
                    let (a, b) = self.build(inner);
                    self.eps(cur, a);
                    cur = b;
                }
                let e = self.state();
                self.eps(cur, e);
                for x in ends {
                    self.eps(x, e);
                }
                (s, e)
            }
        }
    }

    fn closure(&self, from: usize) -> Vec<usize> {
        let mut seen = vec![false; self.moves.len()];
        let mut stack = vec![from];
        let mut out = Vec::new();
        while let Some(s) = stack.pop() {
            if seen.get(s).copied().unwrap_or(true) {
                continue;
            }
            if let Some(x) = seen.get_mut(s) {
                *x = true;
            }
            out.push(s);
            stack.extend(self.eps.get(s).map(Vec::as_slice).unwrap_or_default());
        }
        out
    }

    fn finish(self, start: usize, end: usize) -> Nfa {
        let n = self.moves.len();
        let closures: Vec<Vec<usize>> = (0..n).map(|s| self.closure(s)).collect();
        let mut moves = vec![Vec::new(); n];
        let mut accept = vec![false; n];
        for (s, cl) in closures.iter().enumerate() {
            for &t in cl {
                if t == end
                    && let Some(a) = accept.get_mut(s)
                {
                    *a = true;
                }
                for (set, dst) in self.moves.get(t).map(Vec::as_slice).unwrap_or_default() {
                    if let Some(m) = moves.get_mut(s) {
                        m.push((set.clone(), *dst));
                    }
                }
            }
        }
        // Keep only the states the start reaches by moves, renumbered: a literal of n
        // characters ends with n + 1 states.
        let mut index: Vec<Option<usize>> = vec![None; n];
        let mut order = vec![start];
        if let Some(i) = index.get_mut(start) {
            *i = Some(0);
        }
        let mut k = 0;
        while let Some(&s) = order.get(k) {
            k += 1;
            for (_, t) in moves.get(s).map(Vec::as_slice).unwrap_or_default() {
                if let Some(slot) = index.get_mut(*t)
                    && slot.is_none()
                {
                    *slot = Some(order.len());
                    order.push(*t);
                }
            }
        }
        let renumbered_moves = order
            .iter()
            .map(|s| {
                let mut ms: Vec<(CharSet, usize)> = moves
                    .get(*s)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|(set, t)| {
                        index.get(*t).copied().flatten().map(|t| (set.clone(), t))
                    })
                    .collect();
                ms.dedup();
                ms
            })
            .collect();
        let renumbered_accept = order
            .iter()
            .map(|s| accept.get(*s).copied().unwrap_or(false))
            .collect();
        Nfa {
            moves: renumbered_moves,
            accept: renumbered_accept,
            start: vec![0],
        }
    }
}

/// One automaton run alongside the others in [`cells`].
#[derive(Debug, Clone)]
pub struct Probe {
    /// The language's automaton (one per language in a session: its identity is the
    /// language's).
    pub nfa: Rc<Nfa>,
    /// Where it starts (an automaton's own start, or where an earlier part of a longer string
    /// left it).
    pub start: States,
    /// Whether a cell records the exact state set the probe ends in, not just acceptance: for
    /// strings this value is the first part of (a principal ARN split into account and name).
    pub track_states: bool,
}

impl Probe {
    /// A probe for `re` from its own start.
    pub fn new(re: &Re, nfas: &NfaCache) -> Probe {
        Probe::of(nfas.get(re))
    }

    /// A probe for an automaton from its own start.
    pub fn of(nfa: Rc<Nfa>) -> Probe {
        let start = nfa.start();
        Probe {
            nfa,
            start,
            track_states: false,
        }
    }
}

/// Automata built once per language: one `Rc` per expression and one per policy text, so an
/// address names a language (see [`ByAddress`]; two addresses may name one language, which
/// only costs a repeated split).
#[derive(Debug, Default)]
pub struct NfaCache {
    by_re: RefCell<HashMap<Re, Rc<Nfa>, FxBuild>>,
    /// Policy values by how they are read and their text: most probes are these, and a hit
    /// needs no expression built or hashed.
    by_text: RefCell<HashMap<(TextReading, String), Rc<Nfa>, FxBuild>>,
}

/// How a policy value's text becomes a language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextReading {
    /// Exactly the text.
    Literal,
    /// The text in any ASCII case.
    AsciiCi,
    /// A wildcard pattern (the text escapes literal `*`, `?` and `\`).
    Glob,
}

impl NfaCache {
    /// The automaton of `re`.
    pub fn get(&self, re: &Re) -> Rc<Nfa> {
        if let Some(n) = self.by_re.borrow().get(re) {
            return Rc::clone(n);
        }
        let n = Rc::new(Nfa::new(re));
        self.by_re.borrow_mut().insert(re.clone(), Rc::clone(&n));
        n
    }

    /// The automaton of `text` read as `reading`; `build` gives the expression on a miss (it
    /// must be that reading of the text).
    pub fn get_text(
        &self,
        reading: TextReading,
        text: &str,
        build: impl FnOnce() -> Re,
    ) -> Rc<Nfa> {
        let key = (reading, text.to_owned());
        if let Some(n) = self.by_text.borrow().get(&key) {
            return Rc::clone(n);
        }
        // Not also filed by expression: a text's language is looked up by its text.
        let n = Rc::new(Nfa::new(&build()));
        self.by_text.borrow_mut().insert(key, Rc::clone(&n));
        n
    }
}

/// An automaton compared and hashed by address: within a session each language has one
/// automaton, so this is the language's identity at the cost of a pointer.
#[derive(Debug, Clone)]
pub struct ByAddress(pub Rc<Nfa>);

impl PartialEq for ByAddress {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ByAddress {}

impl std::hash::Hash for ByAddress {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::ptr::hash(Rc::as_ptr(&self.0), h);
    }
}

/// What one probe says about one cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeResult {
    /// Whether the probe accepts.
    Accepts(bool),
    /// The state set it ends in.
    Ends(States),
}

/// A class of strings no probe tells apart, with one of them.
#[derive(Debug, Clone)]
pub struct Cell {
    /// A shortest string of the class.
    pub witness: String,
    /// Each probe's result on every string of the class.
    pub results: Vec<ProbeResult>,
}

/// The outcome of [`cells`].
#[derive(Debug, Clone)]
pub struct Cells {
    /// Every realisable class, each with a witness.
    pub cells: Vec<Cell>,
    /// False when the search stopped at its budget: more classes may exist.
    pub complete: bool,
}

/// [`distinct_cells`] for probes that may repeat (one value compared by many statements):
/// each distinct probe is followed once and its result copied to its repeats.
pub fn cells(shape: &Nfa, probes: &[Probe], budget: usize) -> Cells {
    let mut distinct: Vec<Probe> = Vec::new();
    let mut slot: Vec<usize> = Vec::with_capacity(probes.len());
    for p in probes {
        let same = |d: &Probe| {
            Rc::ptr_eq(&d.nfa, &p.nfa) && d.start == p.start && d.track_states == p.track_states
        };
        match distinct.iter().position(same) {
            Some(i) => slot.push(i),
            None => {
                slot.push(distinct.len());
                distinct.push(p.clone());
            }
        }
    }
    if distinct.len() == probes.len() {
        return distinct_cells(shape, probes, budget);
    }
    let mut out = distinct_cells(shape, &distinct, budget);
    for cell in &mut out.cells {
        cell.results = slot
            .iter()
            .filter_map(|&i| cell.results.get(i).cloned())
            .collect();
    }
    out
}

/// Partitions the strings of `shape` into classes on which every probe gives one result, and
/// returns one shortest string per class. A breadth-first search over the product of the
/// automata; characters are grouped into the classes the automata can tell apart, so the search
/// is finite. The probes run as one automaton (their disjoint union, [`Union`]), so a product
/// state is the shape's states and one state set for every probe at once; a probe whose part
/// is empty is dead (its result is settled), and a character that kills every probe is
/// followed once per shape state. Once no probe can change its result the class is settled,
/// and the string is completed by the shortest way the shape accepts. It stops after `budget`
/// product states, and then says so.
#[expect(
    clippy::too_many_lines,
    reason = "one breadth-first search whose queue, visited table and budget every step updates; split, that state would be threaded through each helper"
)]
pub fn distinct_cells(shape: &Nfa, probes: &[Probe], budget: usize) -> Cells {
    let minterms = minterms(std::iter::once(shape).chain(probes.iter().map(|p| p.nfa.as_ref())));
    let shape_table = Table::new(shape, &minterms);
    let union = Union::new(probes, &minterms);
    let sw = shape_table.width;
    // A product state as one key: the shape's states (a fixed number of words), then the
    // probes' live states.
    let encode = |shape_states: &[u64], states: &[u32]| -> Box<[u64]> {
        let mut v: Vec<u64> = Vec::with_capacity(shape_states.len() + states.len());
        v.extend_from_slice(shape_states);
        v.extend(states.iter().map(|&s| u64::from(s)));
        v.into_boxed_slice()
    };
    let start_shape = shape.start();
    let start_states = union.start(probes);
    let mut seen: FxSet<Box<[u64]>> =
        FxSet::with_capacity_and_hasher(budget.min(256), FxBuild::default());
    let mut queue: VecDeque<(Vec<u64>, Vec<u32>, String)> = VecDeque::new();
    let mut found: HashMap<Box<[u64]>, Cell, FxBuild> = HashMap::default();
    let mut order: Vec<Box<[u64]>> = Vec::new();
    let mut completions: HashMap<Vec<u64>, Option<String>, FxBuild> = HashMap::default();
    seen.insert(encode(&start_shape, &start_states));
    queue.push_back((start_shape, start_states, String::new()));
    let mut complete = true;
    let mut all_dead_found = false;
    let words = minterms.len().div_ceil(64).max(1);
    let (mut next_shape, mut next): (Vec<u64>, Vec<u32>) = (Vec::new(), Vec::new());
    let mut rejecting_found = false;
    let record = |found: &mut HashMap<Box<[u64]>, Cell, FxBuild>,
                  order: &mut Vec<Box<[u64]>>,
                  states: &[u32],
                  witness: &dyn Fn() -> String| {
        let key = union.key(states);
        if !found.contains_key(&key) {
            let cell = Cell {
                witness: witness(),
                results: union.results(states),
            };
            found.insert(key.clone(), cell);
            order.push(key);
        }
    };
    // Every minterm, as a bit set: a state set that some minterm kills is not a fixed point.
    let mut every = vec![0u64; words];
    for m in 0..minterms.len() {
        set_bit(&mut every, m);
    }
    let mut active: Vec<u64> = Vec::with_capacity(words);
    while let Some((shape_states, states, text)) = queue.pop_front() {
        let dead = states.is_empty();
        union.active_into(&states, &mut active);
        if dead || (active == every && union.is_fixed_point(&states)) {
            // No probe can change any more: one way to finish the string is enough.
            if found.contains_key(&union.key(&states)) {
                continue;
            }
            let suffix = completions
                .entry(shape_states.clone())
                .or_insert_with(|| shortest_accepted(shape, &shape_table, &minterms, &shape_states))
                .clone();
            if let Some(suffix) = suffix {
                all_dead_found |= dead;
                record(&mut found, &mut order, &states, &|| {
                    format!("{text}{suffix}")
                });
            }
            continue;
        }
        // A state no probe accepts in (and no tracked probe is in) has the class every
        // probe rejects: once that is found, such states add nothing.
        if shape.accepts(&shape_states) && !(union.rejects_all(&states) && rejecting_found) {
            rejecting_found |= union.rejects_all(&states);
            record(&mut found, &mut order, &states, &|| text.clone());
        }
        // `active`: the characters some probe moves on; the others kill every probe.
        for (m, &c) in minterms.iter().enumerate() {
            let is_active = active.get(m / 64).is_some_and(|w| w & (1 << (m % 64)) != 0);
            // Every probe dead is one class; once it has a string, other ways there add nothing.
            if !is_active && all_dead_found {
                continue;
            }
            next_shape.clear();
            next_shape.resize(sw, 0);
            shape_table.step_into(&shape_states, 0, m, &mut next_shape, 0);
            if is_empty_states(&next_shape) {
                continue;
            }
            if is_active {
                union.step_into(&states, m, &mut next);
            } else {
                next.clear();
            }
            if next.is_empty() {
                // Every probe dead: settle it here rather than queue it.
                if all_dead_found {
                    continue;
                }
                let suffix = completions
                    .entry(next_shape.clone())
                    .or_insert_with(|| {
                        shortest_accepted(shape, &shape_table, &minterms, &next_shape)
                    })
                    .clone();
                if let Some(suffix) = suffix {
                    record(&mut found, &mut order, &next, &|| {
                        let mut t = text.clone();
                        t.push(c);
                        t.push_str(&suffix);
                        t
                    });
                    all_dead_found = true;
                }
                continue;
            }
            if seen.len() >= budget {
                if !seen.contains(&encode(&next_shape, &next)) {
                    complete = false;
                }
                continue;
            }
            if !seen.insert(encode(&next_shape, &next)) {
                continue;
            }
            let mut t = text.clone();
            t.push(c);
            queue.push_back((next_shape.clone(), next.clone(), t));
        }
    }
    let cells = order
        .into_iter()
        .filter_map(|key| found.remove(&key))
        .collect();
    Cells { cells, complete }
}

/// The probes' automata side by side as one: probe `i`'s state `s` is state `offset[i] + s`.
/// Moves are kept per state with the minterms they take (a literal or wildcard state has one
/// or two), so a step costs what the live states cost, however many probes there are.
struct Union {
    /// Where each probe's states begin; one more entry for the end.
    offset: Vec<usize>,
    /// Each state's probe.
    probe_of: Vec<usize>,
    /// Whether each probe's result is its end states (a split string's first part).
    tracked: Vec<bool>,
    /// The probes that are tracked.
    tracked_probes: Vec<usize>,
    /// Accepting states, as a bit set.
    accept: Vec<u64>,
    /// Accepting states and every state of a tracked probe: the states a key reads.
    flagged: Vec<u64>,
    /// State `s`'s moves are `moves[first[s]..first[s + 1]]`: a target and the index of the
    /// minterm set (in `masks`, `active_words` words each) it moves on.
    first: Vec<u32>,
    moves: Vec<(u32, u32)>,
    masks: Vec<u64>,
    /// Per state, the minterms it moves on (`active_words` words each).
    active: Vec<u64>,
    active_words: usize,
    minterms: usize,
}

impl Union {
    fn new(probes: &[Probe], minterms: &[char]) -> Union {
        let mut offset = Vec::with_capacity(probes.len() + 1);
        let mut probe_of = Vec::new();
        let mut n = 0;
        for (i, p) in probes.iter().enumerate() {
            offset.push(n);
            n += p.nfa.len();
            probe_of.resize(n, i);
        }
        offset.push(n);
        let words = n.div_ceil(64).max(1);
        let active_words = minterms.len().div_ceil(64).max(1);
        let mut accept = vec![0u64; words];
        let mut first = Vec::with_capacity(n + 1);
        let mut moves: Vec<(u32, u32)> = Vec::new();
        // Each distinct character set's minterms, computed once (a policy's probes share a few).
        let mut sets: HashMap<&CharSet, usize, FxBuild> = HashMap::default();
        let mut masks: Vec<u64> = Vec::new();
        let mut active = vec![0u64; n * active_words];
        for (p, base) in probes.iter().zip(&offset) {
            for (s, state_moves) in p.nfa.moves.iter().enumerate() {
                let g = base + s;
                if p.nfa.accept.get(s).copied().unwrap_or(false) {
                    set_bit(&mut accept, g);
                }
                first.push(moves.len() as u32);
                for (set, t) in state_moves {
                    let next = sets.len();
                    let mi = *sets.entry(set).or_insert_with(|| {
                        let mut mask = vec![0u64; active_words];
                        for (m, &c) in minterms.iter().enumerate() {
                            if set.contains(c) {
                                set_bit(&mut mask, m);
                            }
                        }
                        masks.extend(mask);
                        next
                    });
                    moves.push(((base + t) as u32, mi as u32));
                    for k in 0..active_words {
                        if let (Some(a), Some(m)) = (
                            active.get_mut(g * active_words + k),
                            masks.get(mi * active_words + k),
                        ) {
                            *a |= m;
                        }
                    }
                }
            }
        }
        first.push(moves.len() as u32);
        let mut flagged = accept.clone();
        for (p, range) in probes.iter().zip(offset.windows(2)) {
            if let (true, [lo, hi]) = (p.track_states, range) {
                for st in *lo..*hi {
                    set_bit(&mut flagged, st);
                }
            }
        }
        Union {
            offset,
            probe_of,
            tracked: probes.iter().map(|p| p.track_states).collect(),
            tracked_probes: (0..probes.len())
                .filter(|&i| probes.get(i).is_some_and(|p| p.track_states))
                .collect(),
            accept,
            flagged,
            first,
            moves,
            masks,
            active,
            active_words,
            minterms: minterms.len(),
        }
    }

    /// Every probe at its start: the live states, sorted.
    fn start(&self, probes: &[Probe]) -> Vec<u32> {
        let mut s = Vec::new();
        for (p, base) in probes.iter().zip(&self.offset) {
            for i in iter_bits(&p.start) {
                if i < p.nfa.len() {
                    s.push((base + i) as u32);
                }
            }
        }
        s
    }

    /// The states reached from `from` on minterm `m`, sorted, into `out` (cleared first).
    /// State sets are lists: past a common prefix few states live, however many probes.
    fn step_into(&self, from: &[u32], m: usize, out: &mut Vec<u32>) {
        out.clear();
        let (word, bit) = (m / 64, 1u64 << (m % 64));
        for &s in from {
            let s = s as usize;
            let (Some(&a), Some(&b)) = (self.first.get(s), self.first.get(s + 1)) else {
                continue;
            };
            for &(t, mi) in self.moves.get(a as usize..b as usize).unwrap_or_default() {
                let takes = self
                    .masks
                    .get(mi as usize * self.active_words + word)
                    .is_some_and(|w| w & bit != 0);
                if takes {
                    out.push(t);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The minterms some state of `from` moves on, into `out` (as many words as it has).
    fn active_into(&self, from: &[u32], out: &mut Vec<u64>) {
        out.clear();
        out.resize(self.active_words, 0);
        for &s in from {
            let s = s as usize;
            for (k, o) in out.iter_mut().enumerate().take(self.active_words) {
                if let Some(x) = self.active.get(s * self.active_words + k) {
                    *o |= x;
                }
            }
        }
    }

    /// Whether no character changes any probe's states: every result is final. (Probes' state
    /// sets are disjoint, so the union is unchanged exactly when each part is.)
    fn is_fixed_point(&self, s: &[u32]) -> bool {
        let mut next = Vec::with_capacity(s.len());
        (0..self.minterms).all(|m| {
            self.step_into(s, m, &mut next);
            next == s
        })
    }

    fn is_flagged(&self, st: usize) -> bool {
        self.flagged
            .get(st / 64)
            .is_some_and(|w| w & (1 << (st % 64)) != 0)
    }

    /// The results as a compact key: a bit per probe that accepts, then each tracked probe's
    /// states. Two state sets share a key exactly when they share their results.
    fn key(&self, s: &[u32]) -> Box<[u64]> {
        let probes = self.tracked.len();
        let mut key = vec![0u64; probes.div_ceil(64).max(1)];
        // Only accepting states and tracked probes' states can set a bit.
        for &st in s {
            let st = st as usize;
            if self.is_flagged(st)
                && let Some(&p) = self.probe_of.get(st)
            {
                // A tracked probe's own states follow below; its bit says "alive".
                set_bit(&mut key, p);
            }
        }
        for &p in &self.tracked_probes {
            key.extend(self.part(s, p));
        }
        key.into_boxed_slice()
    }

    /// Whether every probe rejects (none accepts and none is tracked) in `s`.
    fn rejects_all(&self, s: &[u32]) -> bool {
        s.iter().all(|&st| !self.is_flagged(st as usize))
    }

    /// Probe `p`'s states in `s`, numbered as its own automaton numbers them.
    fn part(&self, s: &[u32], p: usize) -> Vec<u64> {
        let (Some(&lo), Some(&hi)) = (self.offset.get(p), self.offset.get(p + 1)) else {
            return Vec::new();
        };
        let mut out = empty_states(hi - lo);
        for &st in s {
            let st = st as usize;
            if (lo..hi).contains(&st) {
                set_bit(&mut out, st - lo);
            }
        }
        out
    }

    /// Each probe's result on the strings that lead to `s`: one pass over its states.
    fn results(&self, s: &[u32]) -> Vec<ProbeResult> {
        let mut results: Vec<ProbeResult> = self
            .tracked
            .iter()
            .enumerate()
            .map(|(p, tracked)| {
                if *tracked {
                    let len = self.offset.get(p + 1).copied().unwrap_or(0)
                        - self.offset.get(p).copied().unwrap_or(0);
                    ProbeResult::Ends(empty_states(len))
                } else {
                    ProbeResult::Accepts(false)
                }
            })
            .collect();
        for &st in s {
            let st = st as usize;
            let Some(&p) = self.probe_of.get(st) else {
                continue;
            };
            let local = st - self.offset.get(p).copied().unwrap_or(0);
            match results.get_mut(p) {
                Some(ProbeResult::Ends(own)) => set_bit(own, local),
                Some(ProbeResult::Accepts(a)) => {
                    *a |= self
                        .accept
                        .get(st / 64)
                        .is_some_and(|w| w & (1 << (st % 64)) != 0);
                }
                None => {}
            }
        }
        results
    }
}

/// The shortest string that takes `shape` from `from` to acceptance, if any.
fn shortest_accepted(
    shape: &Nfa,
    table: &Table,
    minterms: &[char],
    from: &States,
) -> Option<String> {
    let mut seen: FxSet<States> = FxSet::default();
    let mut queue: VecDeque<(States, String)> = VecDeque::new();
    seen.insert(from.clone());
    queue.push_back((from.clone(), String::new()));
    while let Some((s, text)) = queue.pop_front() {
        if shape.accepts(&s) {
            return Some(text);
        }
        for (m, &c) in minterms.iter().enumerate() {
            let mut next = vec![0u64; table.width];
            table.step_into(&s, 0, m, &mut next, 0);
            if is_empty_states(&next) || !seen.insert(next.clone()) {
                continue;
            }
            let mut t = text.clone();
            t.push(c);
            queue.push_back((next, t));
        }
    }
    None
}

/// An automaton's moves per state and character class, precomputed.
struct Table {
    /// `(state * minterms + minterm) * width ..`: the next states.
    next: Vec<u64>,
    minterms: usize,
    states: usize,
    width: usize,
}

impl Table {
    fn new(nfa: &Nfa, minterms: &[char]) -> Table {
        let width = nfa.len().div_ceil(64).max(1);
        let mut next = vec![0u64; nfa.len() * minterms.len() * width];
        for (s, moves) in nfa.moves.iter().enumerate() {
            for (set, t) in moves {
                for (m, &c) in minterms.iter().enumerate() {
                    if !set.contains(c) {
                        continue;
                    }
                    if let Some(w) = next.get_mut((s * minterms.len() + m) * width + t / 64) {
                        *w |= 1 << (t % 64);
                    }
                }
            }
        }
        Table {
            next,
            minterms: minterms.len(),
            states: nfa.len(),
            width,
        }
    }

    /// ORs into `out[at..]` the states reached on minterm `m` from the set in `from[base..]`.
    fn step_into(&self, from: &[u64], base: usize, m: usize, out: &mut [u64], at: usize) {
        for wi in 0..self.width {
            let mut w = from.get(base + wi).copied().unwrap_or(0);
            while w != 0 {
                let s = wi * 64 + w.trailing_zeros() as usize;
                w &= w - 1;
                if s >= self.states {
                    break;
                }
                let row = (s * self.minterms + m) * self.width;
                for k in 0..self.width {
                    if let (Some(o), Some(x)) = (out.get_mut(at + k), self.next.get(row + k)) {
                        *o |= x;
                    }
                }
            }
        }
    }
}

/// A fast hasher for the search's keys (bit sets and their tuples), which an attacker does not
/// choose freely enough to make collisions a concern.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            if let Some(d) = b.get_mut(..rest.len()) {
                d.copy_from_slice(rest);
            }
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Builds [`Fx`] hashers.
pub type FxBuild = std::hash::BuildHasherDefault<Fx>;
type FxSet<T> = std::collections::HashSet<T, FxBuild>;

/// One representative character for each class of characters the automata cannot tell apart,
/// readable where possible.
fn minterms<'a>(nfas: impl Iterator<Item = &'a Nfa>) -> Vec<char> {
    // Many automata share a few sets (a literal's characters): each distinct one once.
    let mut distinct: FxSet<&CharSet> = FxSet::default();
    let mut sets: Vec<&CharSet> = Vec::new();
    for nfa in nfas {
        for set in nfa.char_sets() {
            if distinct.insert(set) {
                sets.push(set);
            }
        }
    }
    let mut bounds: Vec<u32> = vec![0];
    for set in &sets {
        for &(a, b) in &set.0 {
            bounds.push(u32::from(a));
            bounds.push(u32::from(b).saturating_add(1));
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    // Intervals that lie in exactly the same sets behave alike: one representative each.
    // Per class: which sets hold it, and its intervals of code points.
    type Class = (Vec<bool>, Vec<(u32, u32)>);
    let mut classes: Vec<Class> = Vec::new();
    for (i, &lo) in bounds.iter().enumerate() {
        let hi = bounds
            .get(i + 1)
            .map_or(u32::from(char::MAX), |n| n.saturating_sub(1));
        if lo > u32::from(char::MAX) || lo > hi {
            continue;
        }
        let Some(c) = char::from_u32(lo).or_else(|| char::from_u32(hi)) else {
            continue;
        };
        let membership: Vec<bool> = sets.iter().map(|s| s.contains(c)).collect();
        match classes.iter_mut().find(|(m, _)| *m == membership) {
            Some((_, intervals)) => intervals.push((lo, hi)),
            None => classes.push((membership, vec![(lo, hi)])),
        }
    }
    let mut out: Vec<char> = classes
        .iter()
        .filter_map(|(_, intervals)| {
            PREFERRED
                .chars()
                .find(|c| {
                    intervals
                        .iter()
                        .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(*c)))
                })
                .or_else(|| {
                    intervals
                        .iter()
                        .find_map(|&(lo, hi)| representative(lo, hi))
                })
        })
        .collect();
    // Readable witnesses: the search tries characters in this order.
    out.sort_by_key(|c| (PREFERRED.find(*c).unwrap_or(usize::MAX), *c));
    out
}

/// Characters a reader recognises, in the order the search tries them.
const PREFERRED: &str = "xyzqjkvwabcdefghilmnoprstu0123456789-_./XYZQJKVWABCDEFGHILMNOPRSTU+=,@";

fn representative(lo: u32, hi: u32) -> Option<char> {
    if let Some(c) = (lo..=hi.min(0x7E))
        .filter(|v| *v >= 0x21)
        .find_map(char::from_u32)
    {
        return Some(c);
    }
    (lo..=hi).take(0x900).find_map(char::from_u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Pattern;

    fn glob(p: &str) -> Re {
        Re::glob(
            Pattern::compile(p).chars(),
            &CharSet::any(),
            &CharSet::any(),
        )
    }

    #[test]
    fn automata_match_like_the_patterns() {
        let g = Nfa::new(&glob("sso.*.amazonaws.com"));
        assert!(g.matches("sso.us-east-1.amazonaws.com"));
        assert!(!g.matches("ssoXus-east-1.amazonaws.com"));
        let ci = Nfa::new(&Re::literal_ascii_ci("true"));
        assert!(ci.matches("TrUe") && !ci.matches("true "));
        let arn = Nfa::new(&Re::arn_glob(
            Pattern::compile("arn:aws:iam::*:role/*").chars(),
        ));
        assert!(arn.matches("arn:aws:iam::111122223333:role/a:b"));
        assert!(!arn.matches("arn:aws:iam::1:2:role/a"));
        let d12 = Nfa::new(&Re::repeat(CharSet::range('0', '9'), 12, 12));
        assert!(d12.matches("123456789012") && !d12.matches("12345678901"));
        let r = Nfa::new(&Re::repeat(CharSet::range('a', 'z'), 2, 4));
        assert!(!r.matches("a") && r.matches("ab") && r.matches("abcd") && !r.matches("abcde"));
        assert!(!Nfa::new(&Re::Never).matches(""));
    }

    #[test]
    fn cells_separate_every_combination() {
        let shape = Nfa::new(&Re::any_string());
        let nfas = NfaCache::default();
        let probes = vec![
            Probe::new(&glob("a*"), &nfas),
            Probe::new(&glob("*b"), &nfas),
            Probe::new(&Re::literal("ab"), &nfas),
        ];
        let out = cells(&shape, &probes, 10_000);
        assert!(out.complete);
        let mut sigs: Vec<Vec<bool>> = out
            .cells
            .iter()
            .map(|c| {
                c.results
                    .iter()
                    .map(|r| matches!(r, ProbeResult::Accepts(true)))
                    .collect()
            })
            .collect();
        sigs.sort();
        // Neither, only a*, only *b, both but not "ab" (e.g. "axb"), and "ab" itself.
        assert_eq!(
            sigs,
            vec![
                vec![false, false, false],
                vec![false, true, false],
                vec![true, false, false],
                vec![true, true, false],
                vec![true, true, true],
            ]
        );
        for c in &out.cells {
            for (p, r) in probes.iter().zip(&c.results) {
                assert_eq!(ProbeResult::Accepts(p.nfa.matches(&c.witness)), *r);
            }
        }
    }

    #[test]
    fn budget_is_reported() {
        let shape = Nfa::new(&Re::any_string());
        let nfas = NfaCache::default();
        let probes: Vec<Probe> = (0..6)
            .map(|i| Probe::new(&glob(&format!("*{i}*{i}*")), &nfas))
            .collect();
        let out = cells(&shape, &probes, 5);
        assert!(!out.complete);
    }

    #[test]
    fn char_set_algebra() {
        let s = CharSet::any().minus(&CharSet::range('b', 'y'));
        assert!(s.contains('a') && s.contains('z') && !s.contains('m'));
        assert!(CharSet::ascii_ci('q').contains('Q'));
        let u = CharSet::one('a').union(&CharSet::one('b'));
        assert_eq!(u, CharSet::range('a', 'b'));
    }
}

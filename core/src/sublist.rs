//! The subscription index: a token trie with `*`, `>` and queue groups, plus a match cache.
//!
//! Each level of the trie maps literal tokens to nodes and has at most one `*` node and one `>`
//! node. A node holds the plain subscriptions and the queue groups whose subject ends there.
//! Matching a literal subject walks the literal, `*` and `>` branches at every level.
//!
//! Publishing matches the same few subjects over and over, so results are cached per literal
//! subject. Every cached result remembers the generation it was computed in; inserting or
//! removing a wildcard subscription bumps the generation, which invalidates the whole cache at
//! once, while a literal subscription only evicts its own subject's entry. Results are shared
//! (`Arc`) so a publish can hold its result while deliveries mutate other state.
//!
//! Member order inside a node is insertion order and removal keeps it, so the same sequence of
//! operations always yields the same results: the simulator depends on that.

/// Hash maps keyed by subject: foldhash, seeded per process like std's SipHash (so crafted
/// subjects cannot aim at collisions) but several times cheaper on short keys; hashing the
/// subject was a tenth of a publish's cost.
type HashMap<K, V> = foldhash::HashMap<K, V>;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::subject::{self, FULL_WILDCARD, SINGLE_WILDCARD};

/// A subject that cannot be subscribed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid subject")]
pub struct InvalidSubject;

/// Everything that matched one literal subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<T> {
    /// Plain subscriptions: each receives a copy.
    pub plain: SmallVec<[T; 8]>,
    /// Queue groups by name: one member of each receives a copy.
    pub queues: SmallVec<[QueueMatch<T>; 2]>,
}

/// The members of one queue group that matched a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMatch<T> {
    /// The group's name.
    pub name: Box<[u8]>,
    /// Members in subscription order.
    pub members: SmallVec<[T; 4]>,
}

impl<T> Default for Match<T> {
    fn default() -> Self {
        Match {
            plain: SmallVec::new(),
            queues: SmallVec::new(),
        }
    }
}

impl<T> Match<T> {
    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

#[derive(Debug)]
struct Level<T> {
    literals: HashMap<Box<[u8]>, Node<T>>,
    single: Option<Box<Node<T>>>,
    full: Option<Box<Node<T>>>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Level {
            literals: HashMap::default(),
            single: None,
            full: None,
        }
    }
}

impl<T> Level<T> {
    fn is_empty(&self) -> bool {
        self.literals.is_empty() && self.single.is_none() && self.full.is_none()
    }
}

#[derive(Debug)]
struct Node<T> {
    next: Option<Box<Level<T>>>,
    plain: Vec<T>,
    queues: Vec<(Box<[u8]>, Vec<T>)>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            next: None,
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty() && self.next.is_none()
    }
}

struct CacheEntry<T> {
    generation: u64,
    result: Arc<Match<T>>,
}

/// Cached results kept before the cache is emptied and refilled.
const CACHE_LIMIT: usize = 4096;

/// A subscription index over values of type `T` (subscription handles).
pub struct Sublist<T> {
    root: Level<T>,
    count: usize,
    generation: u64,
    cache: HashMap<Box<[u8]>, CacheEntry<T>>,
    cache_hits: u64,
    matches: u64,
    inserts: u64,
    removes: u64,
}

/// Counters for monitoring (`/subsz`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SublistStats {
    /// Entries indexed.
    pub subscriptions: u64,
    /// Cached match results.
    pub cache_entries: u64,
    /// Inserts since creation.
    pub inserts: u64,
    /// Removals since creation.
    pub removes: u64,
    /// Lookups since creation.
    pub matches: u64,
    /// Lookups answered from the cache.
    pub cache_hits: u64,
    /// Largest number of entries one cached result holds.
    pub max_fanout: u64,
    /// Entries summed over cached results (for the average fan-out).
    pub total_fanout: u64,
}

impl<T> Default for Sublist<T> {
    fn default() -> Self {
        Sublist {
            root: Level::default(),
            count: 0,
            generation: 0,
            cache: HashMap::default(),
            cache_hits: 0,
            matches: 0,
            inserts: 0,
            removes: 0,
        }
    }
}

impl<T: Copy + Eq> Sublist<T> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many subscriptions are indexed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no subscription is indexed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// (lookups answered from the cache, all lookups).
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.cache_hits, self.matches)
    }

    /// Counters for monitoring.
    pub fn stats(&self) -> SublistStats {
        let mut stats = SublistStats {
            subscriptions: self.count as u64,
            cache_entries: self.cache.len() as u64,
            inserts: self.inserts,
            removes: self.removes,
            matches: self.matches,
            cache_hits: self.cache_hits,
            ..SublistStats::default()
        };
        for entry in self.cache.values() {
            let fanout = (entry.result.plain.len() + entry.result.queues.len()) as u64;
            stats.max_fanout = stats.max_fanout.max(fanout);
            stats.total_fanout += fanout;
        }
        stats
    }

    /// Adds `value` under `subject`, in queue group `queue` if given.
    pub fn insert(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) -> Result<(), InvalidSubject> {
        if !subject::is_valid_subject(subject) {
            return Err(InvalidSubject);
        }
        let mut level = &mut self.root;
        let mut tokens = subject::tokens(subject).peekable();
        let node = loop {
            let token = tokens.next().ok_or(InvalidSubject)?;
            let node: &mut Node<T> = if token == SINGLE_WILDCARD {
                level.single.get_or_insert_with(Box::default)
            } else if token == FULL_WILDCARD {
                level.full.get_or_insert_with(Box::default)
            } else {
                level.literals.entry(token.into()).or_default()
            };
            if tokens.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(Box::default);
        };
        match queue {
            None => node.plain.push(value),
            Some(name) => match node.queues.iter_mut().find(|(n, _)| &**n == name) {
                Some((_, members)) => members.push(value),
                None => node.queues.push((name.into(), vec![value])),
            },
        }
        self.count += 1;
        self.inserts += 1;
        self.invalidate(subject);
        Ok(())
    }

    /// Removes `value` from `subject` (and `queue`); returns whether it was there.
    pub fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) -> bool {
        let tokens: SmallVec<[&[u8]; 16]> = subject::tokens(subject).collect();
        let removed = remove_from(&mut self.root, &tokens, queue, value);
        if removed {
            self.count -= 1;
            self.removes += 1;
            self.invalidate(subject);
        }
        removed
    }

    /// Everything that matches the literal `subject`.
    pub fn matches(&mut self, subject: &[u8]) -> Arc<Match<T>> {
        self.matches += 1;
        if let Some(entry) = self.cache.get(subject) {
            if entry.generation == self.generation {
                self.cache_hits += 1;
                return Arc::clone(&entry.result);
            }
        }
        let mut result = Match::default();
        let tokens: SmallVec<[&[u8]; 16]> = subject::tokens(subject).collect();
        // A subject with an empty token (`foo..bar`, `.foo`) matches nothing, not even `>`.
        if !tokens.iter().any(|t| t.is_empty()) {
            collect(&self.root, &tokens, &mut result);
        }
        let result = Arc::new(result);
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(
            subject.into(),
            CacheEntry {
                generation: self.generation,
                result: Arc::clone(&result),
            },
        );
        result
    }

    fn invalidate(&mut self, subject: &[u8]) {
        if subject::has_wildcard(subject) {
            self.generation += 1;
        } else {
            self.cache.remove(subject);
        }
    }
}

fn remove_from<T: Copy + Eq>(level: &mut Level<T>, tokens: &[&[u8]], queue: Option<&[u8]>, value: T) -> bool {
    let Some((&token, rest)) = tokens.split_first() else {
        return false;
    };
    let (removed, node_empty) = {
        let node = if token == SINGLE_WILDCARD {
            level.single.as_deref_mut()
        } else if token == FULL_WILDCARD {
            level.full.as_deref_mut()
        } else {
            level.literals.get_mut(token)
        };
        let Some(node) = node else { return false };
        let removed = if rest.is_empty() {
            remove_value(node, queue, value)
        } else {
            match node.next.as_deref_mut() {
                Some(next) => {
                    let removed = remove_from(next, rest, queue, value);
                    if next.is_empty() {
                        node.next = None;
                    }
                    removed
                }
                None => false,
            }
        };
        (removed, node.is_empty())
    };
    if node_empty {
        if token == SINGLE_WILDCARD {
            level.single = None;
        } else if token == FULL_WILDCARD {
            level.full = None;
        } else {
            level.literals.remove(token);
        }
    }
    removed
}

fn remove_value<T: Copy + Eq>(node: &mut Node<T>, queue: Option<&[u8]>, value: T) -> bool {
    match queue {
        None => remove_ordered(&mut node.plain, value),
        Some(name) => {
            let Some(index) = node.queues.iter().position(|(n, _)| &**n == name) else {
                return false;
            };
            let removed = remove_ordered(&mut node.queues[index].1, value);
            if node.queues[index].1.is_empty() {
                node.queues.remove(index);
            }
            removed
        }
    }
}

fn remove_ordered<T: Eq>(values: &mut Vec<T>, value: T) -> bool {
    match values.iter().position(|v| *v == value) {
        Some(index) => {
            values.remove(index);
            true
        }
        None => false,
    }
}

fn collect<T: Copy + Eq>(level: &Level<T>, tokens: &[&[u8]], result: &mut Match<T>) {
    let Some((&token, rest)) = tokens.split_first() else {
        return;
    };
    if let Some(full) = &level.full {
        add_node(full, result);
    }
    if let Some(single) = &level.single {
        descend(single, rest, result);
    }
    if let Some(literal) = level.literals.get(token) {
        descend(literal, rest, result);
    }
}

fn descend<T: Copy + Eq>(node: &Node<T>, rest: &[&[u8]], result: &mut Match<T>) {
    if rest.is_empty() {
        add_node(node, result);
    } else if let Some(next) = &node.next {
        collect(next, rest, result);
    }
}

fn add_node<T: Copy + Eq>(node: &Node<T>, result: &mut Match<T>) {
    result.plain.extend(node.plain.iter().copied());
    for (name, members) in &node.queues {
        match result.queues.iter_mut().find(|q| q.name == *name) {
            Some(group) => group.members.extend(members.iter().copied()),
            None => result.queues.push(QueueMatch {
                name: name.clone(),
                members: members.iter().copied().collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(list: &mut Sublist<u32>, subject: &str) -> Vec<u32> {
        let mut v: Vec<u32> = list.matches(subject.as_bytes()).plain.to_vec();
        v.sort();
        v
    }

    #[test]
    fn literal_and_wildcards() {
        let mut list = Sublist::new();
        list.insert(b"foo.bar", None, 1).unwrap();
        list.insert(b"foo.*", None, 2).unwrap();
        list.insert(b"foo.>", None, 3).unwrap();
        list.insert(b">", None, 4).unwrap();
        list.insert(b"*.bar", None, 5).unwrap();
        assert_eq!(plain(&mut list, "foo.bar"), vec![1, 2, 3, 4, 5]);
        assert_eq!(plain(&mut list, "foo.baz"), vec![2, 3, 4]);
        assert_eq!(plain(&mut list, "foo.bar.baz"), vec![3, 4]);
        assert_eq!(plain(&mut list, "foo"), vec![4]);
        assert_eq!(plain(&mut list, "foo..bar"), Vec::<u32>::new());
        assert_eq!(plain(&mut list, ""), Vec::<u32>::new());
        assert_eq!(list.len(), 5);
    }

    #[test]
    fn invalid_subjects_are_refused() {
        let mut list = Sublist::new();
        for bad in ["", "foo..bar", "foo.>.bar", ".foo", "foo."] {
            assert_eq!(list.insert(bad.as_bytes(), None, 1), Err(InvalidSubject), "{bad}");
        }
        assert!(list.is_empty());
    }

    #[test]
    fn cache_sees_inserts_and_removes() {
        let mut list = Sublist::new();
        list.insert(b"a.b", None, 1).unwrap();
        assert_eq!(plain(&mut list, "a.b"), vec![1]);
        list.insert(b"a.*", None, 2).unwrap();
        assert_eq!(plain(&mut list, "a.b"), vec![1, 2]);
        list.insert(b"a.b", None, 3).unwrap();
        assert_eq!(plain(&mut list, "a.b"), vec![1, 2, 3]);
        assert!(list.remove(b"a.*", None, 2));
        assert_eq!(plain(&mut list, "a.b"), vec![1, 3]);
        assert!(list.remove(b"a.b", None, 1));
        assert!(!list.remove(b"a.b", None, 1));
        assert_eq!(plain(&mut list, "a.b"), vec![3]);
        let (hits, total) = list.cache_stats();
        assert!(hits < total);
    }

    #[test]
    fn queue_groups_merge_by_name() {
        let mut list = Sublist::new();
        list.insert(b"work.a", Some(b"q"), 1).unwrap();
        list.insert(b"work.*", Some(b"q"), 2).unwrap();
        list.insert(b"work.a", Some(b"other"), 3).unwrap();
        list.insert(b"work.a", None, 4).unwrap();
        let m = list.matches(b"work.a");
        assert_eq!(m.plain.to_vec(), vec![4]);
        assert_eq!(m.queues.len(), 2);
        let q = m.queues.iter().find(|g| &*g.name == b"q").unwrap();
        let mut members = q.members.to_vec();
        members.sort();
        assert_eq!(members, vec![1, 2]);
        assert!(list.remove(b"work.a", Some(b"q"), 1));
        assert!(!list.remove(b"work.a", Some(b"q"), 1));
        assert!(!list.remove(b"work.a", None, 1));
    }

    #[test]
    fn removal_prunes_the_trie() {
        let mut list = Sublist::new();
        list.insert(b"a.b.c.d", None, 1).unwrap();
        assert!(list.remove(b"a.b.c.d", None, 1));
        assert!(list.root.is_empty());
        assert!(!list.remove(b"a.b", None, 1));
    }
}

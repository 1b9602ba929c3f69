//! Property tests for the sublist: its matches agree with the plain matcher in
//! `subject::matches`, through inserts, removals and cache hits.

use natrix_core::subject;
use natrix_core::sublist::Sublist;
use proptest::prelude::*;

fn token() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just("foo"), Just("*"), Just(">")]
}

fn pattern() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(token(), 1..5).prop_map(|t| t.join(".").into_bytes())
}

fn literal() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c"), Just("foo")], 1..5)
        .prop_map(|t| t.join(".").into_bytes())
}

#[derive(Debug, Clone)]
enum Step {
    Insert(Vec<u8>, Option<u8>),
    Remove(usize),
    Match(Vec<u8>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (pattern(), proptest::option::of(0u8..3)).prop_map(|(p, q)| Step::Insert(p, q)),
        1 => any::<usize>().prop_map(Step::Remove),
        3 => literal().prop_map(Step::Match),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sublist_agrees_with_the_naive_matcher(steps in proptest::collection::vec(step(), 1..60)) {
        let mut list: Sublist<u32> = Sublist::new();
        // The model: every live subscription as (id, pattern, queue).
        let mut model: Vec<(u32, Vec<u8>, Option<u8>)> = Vec::new();
        let mut next_id = 0u32;
        for step in steps {
            match step {
                Step::Insert(pattern, queue) => {
                    let name = queue.map(|q| vec![b'q', q]);
                    let valid = subject::is_valid_subject(&pattern);
                    prop_assert_eq!(list.insert(&pattern, name.as_deref(), next_id).is_ok(), valid);
                    if valid {
                        model.push((next_id, pattern, queue));
                    }
                    next_id += 1;
                }
                Step::Remove(pick) => {
                    if model.is_empty() {
                        continue;
                    }
                    let (id, pattern, queue) = model.remove(pick % model.len());
                    let name = queue.map(|q| vec![b'q', q]);
                    prop_assert!(list.remove(&pattern, name.as_deref(), id));
                    prop_assert!(!list.remove(&pattern, name.as_deref(), id));
                }
                Step::Match(subject) => {
                    let result = list.matches(&subject);
                    let mut plain: Vec<u32> = result.plain.to_vec();
                    plain.sort_unstable();
                    let mut expected_plain: Vec<u32> = model
                        .iter()
                        .filter(|(_, p, q)| q.is_none() && subject::matches(p, &subject))
                        .map(|(id, _, _)| *id)
                        .collect();
                    expected_plain.sort_unstable();
                    prop_assert_eq!(plain, expected_plain);
                    for q in 0u8..3 {
                        let name = [b'q', q];
                        let mut members: Vec<u32> = result
                            .queues
                            .iter()
                            .filter(|g| *g.name == name)
                            .flat_map(|g| g.members.iter().copied())
                            .collect();
                        members.sort_unstable();
                        let mut expected: Vec<u32> = model
                            .iter()
                            .filter(|(_, p, mq)| *mq == Some(q) && subject::matches(p, &subject))
                            .map(|(id, _, _)| *id)
                            .collect();
                        expected.sort_unstable();
                        prop_assert_eq!(members, expected);
                    }
                    prop_assert!(result.queues.iter().all(|g| !g.members.is_empty()));
                }
            }
            prop_assert_eq!(list.len(), model.len());
        }
    }
}

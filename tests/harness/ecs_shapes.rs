//! Property-based generators over real ECS shapes, for fuzzing what reads
//! user input: every public ECS document of `tests/fixtures/ecs`, mutated a
//! few fields at a time (a field removed, set to a hostile value of any
//! type, an array element duplicated), and cluster query language
//! expressions built from its grammar with hostile words mixed in. Starting
//! from real documents keeps most cases deep in the code (a random string
//! rarely gets past the JSON parser); the mutations reach the edges.
use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::fixture::repo_root;

/// The ECS JSON documents of the corpus, parsed, with their paths.
pub fn corpus() -> Vec<(String, Value)> {
    let root = repo_root().join("tests/fixtures/ecs");
    let mut files: Vec<PathBuf> = vec![];
    for dir in std::fs::read_dir(&root).expect("tests/fixtures/ecs") {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            files.extend(std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().path()).filter(|f| f.extension().is_some_and(|e| e == "json")));
        }
    }
    files.sort();
    files.into_iter().map(|f| {
        let text = std::fs::read_to_string(&f).unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        (f.strip_prefix(&root).unwrap().display().to_string(), value)
    }).collect()
}

/// Values that have broken parsers before, of every JSON type.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![0i64, -1, 1, 65535, 65536, i32::MAX as i64, i32::MIN as i64, i64::MAX, i64::MIN]).prop_map(|n| json!(n)),
        prop::sample::select(vec![0.5f64, -0.0, 1e308, 3.0e-7]).prop_map(|n| json!(n)),
        prop::sample::select(vec!["", " ", "0", "-1", "65536", "1 vCPU", ".5 GB", "a:b:c", "arn:aws:ecs:::", "${X}", "ü", "\u{0}", "../..",
            "CMD-SHELL", "NONE", "awsvpc", "host", "bridge", "FARGATE", "EC2", "ARM64", "-", "a-", "-a", "A_B", "x=y", "[", "(", "'\"",
            "attribute:ecs.az in [", "sidecar", "app", "web"]).prop_map(|s| json!(s)),
        "[ -~]{0,40}".prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{}])),
        Just(json!("x".repeat(300))),
    ]
}

/// One change to a document: at the `selector`-th of its places, what to do.
#[derive(Clone, Debug)]
pub enum Mutation {
    Remove,
    Set(Value),
    DuplicateInArray,
}

fn mutation() -> impl Strategy<Value = (usize, Mutation)> {
    let what = prop_oneof![
        1 => Just(Mutation::Remove),
        3 => hostile_value().prop_map(Mutation::Set),
        1 => Just(Mutation::DuplicateInArray),
    ];
    (any::<usize>(), what)
}

/// The JSON pointers of every place in `value` (the root excluded).
fn places(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => fields.iter().for_each(|(k, v)| {
            let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(here.clone());
            places(v, here, out);
        }),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
            let here = format!("{at}/{i}");
            out.push(here.clone());
            places(v, here, out);
        }),
        _ => {}
    }
}

/// Applies `mutation` at one of `document`'s places.
pub fn mutate(document: &mut Value, (selector, mutation): &(usize, Mutation)) {
    let mut all = vec![];
    places(document, String::new(), &mut all);
    let Some(pointer) = all.get(selector % all.len().max(1)).cloned() else { return };
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    let Some(container) = document.pointer_mut(parent) else { return };
    match (container, mutation) {
        (Value::Object(fields), Mutation::Remove) => {
            fields.remove(&last);
        }
        (Value::Array(items), Mutation::Remove) => {
            if let Ok(i) = last.parse::<usize>() && i < items.len() {
                items.remove(i);
            }
        }
        (Value::Object(fields), Mutation::Set(v)) => {
            fields.insert(last, v.clone());
        }
        (Value::Array(items), Mutation::Set(v)) => {
            if let Ok(i) = last.parse::<usize>() && i < items.len() {
                items[i] = v.clone();
            }
        }
        (Value::Array(items), Mutation::DuplicateInArray) => {
            if let Ok(i) = last.parse::<usize>() && i < items.len() {
                items.insert(i, items[i].clone());
            }
        }
        (Value::Object(fields), Mutation::DuplicateInArray) => {
            // Not in an array: wrap the field's value in one, a common slip.
            if let Some(v) = fields.get_mut(&last) {
                *v = Value::Array(vec![v.take()]);
            }
        }
        _ => {}
    }
}

/// A corpus document with 0 to 5 mutations, and which document it came from.
pub fn mutated_document(corpus: Vec<(String, Value)>) -> impl Strategy<Value = (String, Value)> {
    let count = corpus.len();
    (0..count, prop::collection::vec(mutation(), 0..6)).prop_map(move |(i, mutations)| {
        let (name, mut document) = corpus[i].clone();
        mutations.iter().for_each(|m| mutate(&mut document, m));
        (name, document)
    })
}

/// The text handed to `berth import`: a mutated document, at times cut short
/// or with a character dropped (what a bad copy and paste does).
pub fn import_input(corpus: Vec<(String, Value)>) -> impl Strategy<Value = String> {
    (mutated_document(corpus), 0..4u8, any::<usize>()).prop_map(|((_, document), damage, at)| {
        let text = serde_json::to_string_pretty(&document).unwrap();
        let cut = text.char_indices().map(|(i, _)| i).nth(at % text.chars().count().max(1)).unwrap_or(0);
        match damage {
            0 => text[..cut].to_string(),
            1 => format!("{}{}", &text[..cut], &text[cut..].chars().skip(1).collect::<String>()),
            _ => text,
        }
    })
}

/// The task definitions of the corpus (unwrapped from the CLI envelopes), as objects.
pub fn task_definitions(corpus: &[(String, Value)]) -> Vec<(String, Value)> {
    corpus.iter().flat_map(|(name, document)| {
        berth::import::resources(&document.to_string()).unwrap_or_default().into_iter()
            .filter(|r| r.kind == berth::import::ResourceKind::TaskDefinition)
            .map(|r| (name.clone(), Value::Object(r.fields)))
            .collect::<Vec<_>>()
    }).collect()
}

/// A cluster query language expression: from the grammar, with hostile
/// words and stray characters mixed in now and then.
pub fn cql_expression() -> impl Strategy<Value = String> {
    let subject = prop::sample::select(vec!["attribute:ecs.instance-type", "attribute:ecs.availability-zone", "attribute:ecs.os-type",
        "attribute:ecs.cpu-architecture", "attribute:stack", "attribute:", "ec2InstanceId", "task:group", "agentConnected", "agentVersion",
        "registeredAt", "runningTasksCount", "attribute:a.b-c_d"]);
    let operator = prop::sample::select(vec!["==", "!=", ">", ">=", "<", "<=", "exists", "!exists", "in", "!in", "=~", "!~", "equals", "not_exists"]);
    let word = prop_oneof![
        prop::sample::select(vec!["t2.micro", "us-east-1a", "linux", "x86_64", "prod", "g2.*", "(g2|p3).*", "'quoted value'", "\"dq\"",
            "[a, b]", "[]", "[a,", "2018-01-01T00:00:00Z", "10", "-1", "*", "", "'", "\"", "((", "))", "\\", "ü"]).prop_map(String::from),
        "[ -~]{0,12}",
    ];
    let condition = (subject, operator, word).prop_map(|(s, o, w)| format!("{s} {o} {w}"));
    condition.prop_recursive(4, 16, 3, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec![" and ", " && ", " or ", " || ", " AND ", " "]), inner.clone())
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            (prop::sample::select(vec!["not ", "!", "! ", "not"]), inner.clone()).prop_map(|(n, e)| format!("{n}{e}")),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("({e}")),
            (inner, "[ -~]{0,3}").prop_map(|(e, junk)| format!("{e}{junk}")),
        ]
    })
}

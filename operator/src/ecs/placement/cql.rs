//! Parser for the ECS cluster query language used by `memberOf` constraints (§2.10).
//!
//! Grammar, loosest binding first:
//! ```text
//! expression := and-chain (("||" | "or") and-chain)*
//! and-chain  := unary (("&&" | "and") unary)*
//! unary      := ("!" | "not") unary | "(" expression ")" | subject operator [argument]
//! ```
//! Arguments are bare words or quoted with `'` or `"`, as the ECS docs quote list items
//! (`ec2InstanceId in ['i-abcd1234', 'i-wxyz7890']`); quotes keep spaces and punctuation. A regex argument also runs on through balanced parentheses, so
//! `=~ (g2|p3).*` parses. The parser works on characters and reports 1-based columns; it
//! never panics, whatever the input.

use std::fmt;

/// ECS's limit on a `memberOf` expression.
pub const MAX_EXPRESSION_CHARS: usize = 2000;
/// Bound on nested parentheses and negations, so deep input cannot exhaust the stack.
const MAX_NESTING: usize = 64;
const ATTRIBUTE_PREFIX: &str = "attribute:";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expression {
    Condition(Condition),
    Not(Box<Expression>),
    And(Vec<Expression>),
    Or(Vec<Expression>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub subject: Subject,
    pub predicate: Predicate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `attribute:<name>`, built-in (`ecs.*`) or custom.
    Attribute(String),
    Ec2InstanceId,
    TaskGroup,
    AgentConnected,
    AgentVersion,
    RegisteredAt,
    RunningTasksCount,
}

const SUBJECT_KEYWORDS: [(&str, Subject); 6] = [
    ("ec2InstanceId", Subject::Ec2InstanceId),
    ("task:group", Subject::TaskGroup),
    ("agentConnected", Subject::AgentConnected),
    ("agentVersion", Subject::AgentVersion),
    ("registeredAt", Subject::RegisteredAt),
    ("runningTasksCount", Subject::RunningTasksCount),
];

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attribute(name) => write!(f, "{ATTRIBUTE_PREFIX}{name}"),
            other => {
                let keyword = SUBJECT_KEYWORDS
                    .iter()
                    .find(|(_, s)| s == other)
                    .map_or("?", |(k, _)| k);
                f.write_str(keyword)
            }
        }
    }
}

/// An operator with its argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Predicate {
    Equals(String),
    NotEquals(String),
    GreaterThan(String),
    GreaterThanOrEqual(String),
    LessThan(String),
    LessThanOrEqual(String),
    Exists,
    NotExists,
    In(Vec<String>),
    NotIn(Vec<String>),
    Matches(String),
    NotMatches(String),
}

impl Predicate {
    /// The operator's canonical spelling, for messages.
    pub fn operator(&self) -> &'static str {
        match self {
            Self::Equals(_) => "==",
            Self::NotEquals(_) => "!=",
            Self::GreaterThan(_) => ">",
            Self::GreaterThanOrEqual(_) => ">=",
            Self::LessThan(_) => "<",
            Self::LessThanOrEqual(_) => "<=",
            Self::Exists => "exists",
            Self::NotExists => "!exists",
            Self::In(_) => "in",
            Self::NotIn(_) => "!in",
            Self::Matches(_) => "=~",
            Self::NotMatches(_) => "!~",
        }
    }
}

/// The operator as written, before its argument is read.
#[derive(Clone, Copy)]
enum Operator {
    Equals,
    NotEquals,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Exists,
    NotExists,
    In,
    NotIn,
    Matches,
    NotMatches,
}

/// Every spelling of every operator, symbolic ones longest first so `>=` wins over `>`.
const OPERATORS: [(&str, Operator); 22] = [
    ("==", Operator::Equals),
    ("=~", Operator::Matches),
    ("!=", Operator::NotEquals),
    ("!~", Operator::NotMatches),
    ("!exists", Operator::NotExists),
    ("!in", Operator::NotIn),
    (">=", Operator::GreaterThanOrEqual),
    (">", Operator::GreaterThan),
    ("<=", Operator::LessThanOrEqual),
    ("<", Operator::LessThan),
    ("equals", Operator::Equals),
    ("not_equals", Operator::NotEquals),
    ("greater_than_equal", Operator::GreaterThanOrEqual),
    ("greater_than", Operator::GreaterThan),
    ("less_than_equal", Operator::LessThanOrEqual),
    ("less_than", Operator::LessThan),
    ("exists", Operator::Exists),
    ("not_exists", Operator::NotExists),
    ("in", Operator::In),
    ("not_in", Operator::NotIn),
    ("matches", Operator::Matches),
    ("not_matches", Operator::NotMatches),
];

/// Where parsing stopped and what would have been accepted there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: expected {expected}, found {found}")]
pub struct ParseError {
    /// 1-based character column.
    pub column: usize,
    pub expected: String,
    pub found: String,
}

/// Parses a `memberOf` expression.
pub fn parse(input: &str) -> Result<Expression, ParseError> {
    let length = input.chars().count();
    if length > MAX_EXPRESSION_CHARS {
        return Err(ParseError {
            column: MAX_EXPRESSION_CHARS + 1,
            expected: format!("at most {MAX_EXPRESSION_CHARS} characters"),
            found: format!("{length} characters"),
        });
    }
    let mut parser = Parser {
        chars: input.chars().collect(),
        position: 0,
    };
    let expression = parser.expression(0)?;
    parser.skip_whitespace();
    if parser.position < parser.chars.len() {
        return Err(parser.error("`&&`, `||`, `and`, `or` or the end of the expression"));
    }
    Ok(expression)
}

struct Parser {
    chars: Vec<char>,
    position: usize,
}

/// Characters that end a bare value: whitespace and the language's own punctuation.
fn ends_bare_value(c: char) -> bool {
    c.is_whitespace() || "()[],&|!=<>~\"'".contains(c)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_subject_char(c: char) -> bool {
    c.is_alphanumeric() || "-_./\\:".contains(c)
}

impl Parser {
    fn expression(&mut self, depth: usize) -> Result<Expression, ParseError> {
        let mut alternatives = vec![self.and_chain(depth)?];
        while self.eat_combinator("||", "or") {
            alternatives.push(self.and_chain(depth)?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Expression::Or(alternatives)
        })
    }

    fn and_chain(&mut self, depth: usize) -> Result<Expression, ParseError> {
        let mut operands = vec![self.unary(depth)?];
        while self.eat_combinator("&&", "and") {
            operands.push(self.unary(depth)?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Expression::And(operands)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expression, ParseError> {
        self.skip_whitespace();
        if depth >= MAX_NESTING {
            return Err(self.error(&format!(
                "at most {MAX_NESTING} nested parentheses or negations"
            )));
        }
        if self.eat_keyword("not") || self.eat_bang() {
            return Ok(Expression::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.eat("(") {
            let inner = self.expression(depth + 1)?;
            self.skip_whitespace();
            if !self.eat(")") {
                return Err(self.error("`)`, `&&`, `||`, `and` or `or`"));
            }
            return Ok(inner);
        }
        self.condition()
    }

    fn condition(&mut self) -> Result<Expression, ParseError> {
        let subject = self.subject()?;
        self.skip_whitespace();
        let predicate = match self.operator()? {
            Operator::Equals => Predicate::Equals(self.value()?),
            Operator::NotEquals => Predicate::NotEquals(self.value()?),
            Operator::GreaterThan => Predicate::GreaterThan(self.value()?),
            Operator::GreaterThanOrEqual => Predicate::GreaterThanOrEqual(self.value()?),
            Operator::LessThan => Predicate::LessThan(self.value()?),
            Operator::LessThanOrEqual => Predicate::LessThanOrEqual(self.value()?),
            Operator::Exists => Predicate::Exists,
            Operator::NotExists => Predicate::NotExists,
            Operator::In => Predicate::In(self.list()?),
            Operator::NotIn => Predicate::NotIn(self.list()?),
            Operator::Matches => Predicate::Matches(self.regex()?),
            Operator::NotMatches => Predicate::NotMatches(self.regex()?),
        };
        Ok(Expression::Condition(Condition { subject, predicate }))
    }

    fn subject(&mut self) -> Result<Subject, ParseError> {
        const EXPECTED: &str = "a subject (attribute:<name>, ec2InstanceId, task:group, agentConnected, agentVersion, \
                                registeredAt or runningTasksCount), `not`, `!` or `(`";
        let start = self.position;
        let word = self.take_while(is_subject_char);
        if let Some(name) = word.strip_prefix(ATTRIBUTE_PREFIX) {
            let length = name.chars().count();
            if (1..=128).contains(&length) {
                return Ok(Subject::Attribute(name.to_string()));
            }
            self.position = start + ATTRIBUTE_PREFIX.len();
            return Err(self.error("an attribute name of 1 to 128 characters"));
        }
        match SUBJECT_KEYWORDS
            .iter()
            .find(|(keyword, _)| *keyword == word)
        {
            Some((_, subject)) => Ok(subject.clone()),
            None => {
                self.position = start;
                Err(self.error(EXPECTED))
            }
        }
    }

    fn operator(&mut self) -> Result<Operator, ParseError> {
        for (spelling, operator) in OPERATORS {
            let matched = if spelling.ends_with(is_word_char) {
                self.eat_keyword(spelling)
            } else {
                self.eat(spelling)
            };
            if matched {
                return Ok(operator);
            }
        }
        Err(self.error("an operator (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~ or their word forms)"))
    }

    fn value(&mut self) -> Result<String, ParseError> {
        self.skip_whitespace();
        if let Some(quoted) = self.quoted()? {
            return Ok(quoted);
        }
        let value = self.take_while(|c| !ends_bare_value(c));
        if value.is_empty() {
            return Err(self.error("a value"));
        }
        Ok(value)
    }

    fn regex(&mut self) -> Result<String, ParseError> {
        self.skip_whitespace();
        if let Some(quoted) = self.quoted()? {
            return Ok(quoted);
        }
        let mut open_parentheses = 0usize;
        let pattern = self.take_while(|c| match c {
            '(' => {
                open_parentheses += 1;
                true
            }
            ')' if open_parentheses == 0 => false,
            ')' => {
                open_parentheses -= 1;
                true
            }
            c => !c.is_whitespace(),
        });
        if pattern.is_empty() {
            return Err(self.error("a regular expression"));
        }
        Ok(pattern)
    }

    fn list(&mut self) -> Result<Vec<String>, ParseError> {
        self.skip_whitespace();
        if !self.eat("[") {
            return Err(self.error("`[` starting a list such as [a, b]"));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            self.skip_whitespace();
            if self.eat("]") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(self.error("`,` or `]`"));
            }
        }
    }

    /// A string in matching single or double quotes, if one starts here.
    fn quoted(&mut self) -> Result<Option<String>, ParseError> {
        let Some(&quote) = self
            .chars
            .get(self.position)
            .filter(|c| **c == '"' || **c == '\'')
        else {
            return Ok(None);
        };
        let start = self.position;
        self.position += 1;
        let content = self.take_while(|c| c != quote);
        if !self.eat(&quote.to_string()) {
            self.position = start;
            return Err(self.error(&format!("a closing {quote} for this quoted string")));
        }
        Ok(Some(content))
    }

    fn eat_combinator(&mut self, symbol: &str, keyword: &str) -> bool {
        self.skip_whitespace();
        self.eat(symbol) || self.eat_keyword(keyword)
    }

    /// `!` as negation, not the start of `!=`, `!~`, `!exists` or `!in` (which follow a subject).
    fn eat_bang(&mut self) -> bool {
        self.at("!") && !self.at("!=") && !self.at("!~") && self.eat("!")
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let after = self.position + keyword.chars().count();
        self.at(keyword)
            && !self.chars.get(after).is_some_and(|&c| is_word_char(c))
            && self.eat(keyword)
    }

    fn eat(&mut self, text: &str) -> bool {
        let matched = self.at(text);
        if matched {
            self.position += text.chars().count();
        }
        matched
    }

    fn at(&self, text: &str) -> bool {
        let mut remaining = self.chars.get(self.position..).unwrap_or_default().iter();
        text.chars()
            .all(|expected| remaining.next() == Some(&expected))
    }

    fn take_while(&mut self, mut accept: impl FnMut(char) -> bool) -> String {
        let start = self.position;
        while self.chars.get(self.position).is_some_and(|&c| accept(c)) {
            self.position += 1;
        }
        self.chars[start..self.position].iter().collect()
    }

    fn skip_whitespace(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn error(&self, expected: &str) -> ParseError {
        let rest: String = self
            .chars
            .get(self.position..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| !c.is_whitespace())
            .take(24)
            .collect();
        let found = if self.position >= self.chars.len() {
            "the end of the expression".to_string()
        } else {
            format!("`{rest}`")
        };
        ParseError {
            column: self.position + 1,
            expected: expected.to_string(),
            found,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn condition(subject: Subject, predicate: Predicate) -> Expression {
        Expression::Condition(Condition { subject, predicate })
    }

    fn attribute(name: &str) -> Subject {
        Subject::Attribute(name.to_string())
    }

    #[test]
    fn documented_examples_parse() {
        assert_eq!(
            parse("attribute:ecs.instance-type =~ g2.*"),
            Ok(condition(
                attribute("ecs.instance-type"),
                Predicate::Matches("g2.*".into())
            ))
        );
        assert_eq!(
            parse("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"),
            Ok(condition(
                attribute("ecs.availability-zone"),
                Predicate::In(vec!["us-east-1a".into(), "us-east-1b".into()])
            ))
        );
        assert_eq!(
            parse("task:group == service:production"),
            Ok(condition(
                Subject::TaskGroup,
                Predicate::Equals("service:production".into())
            ))
        );
        assert_eq!(
            parse("not(task:group == database)"),
            Ok(Expression::Not(Box::new(condition(
                Subject::TaskGroup,
                Predicate::Equals("database".into())
            ))))
        );
    }

    #[test]
    fn every_operator_spelling_parses_to_its_predicate() {
        let cases = [
            ("== a", Predicate::Equals("a".into())),
            ("equals a", Predicate::Equals("a".into())),
            ("!= a", Predicate::NotEquals("a".into())),
            ("not_equals a", Predicate::NotEquals("a".into())),
            ("> 1", Predicate::GreaterThan("1".into())),
            ("greater_than 1", Predicate::GreaterThan("1".into())),
            (">= 1", Predicate::GreaterThanOrEqual("1".into())),
            (
                "greater_than_equal 1",
                Predicate::GreaterThanOrEqual("1".into()),
            ),
            ("< 1", Predicate::LessThan("1".into())),
            ("less_than 1", Predicate::LessThan("1".into())),
            ("<= 1", Predicate::LessThanOrEqual("1".into())),
            ("less_than_equal 1", Predicate::LessThanOrEqual("1".into())),
            ("exists", Predicate::Exists),
            ("!exists", Predicate::NotExists),
            ("not_exists", Predicate::NotExists),
            ("in [a]", Predicate::In(vec!["a".into()])),
            ("!in [a,b]", Predicate::NotIn(vec!["a".into(), "b".into()])),
            (
                "not_in [ a , b ]",
                Predicate::NotIn(vec!["a".into(), "b".into()]),
            ),
            ("=~ a.*", Predicate::Matches("a.*".into())),
            ("matches a.*", Predicate::Matches("a.*".into())),
            ("!~ a.*", Predicate::NotMatches("a.*".into())),
            ("not_matches a.*", Predicate::NotMatches("a.*".into())),
        ];
        for (text, predicate) in cases {
            assert_eq!(
                parse(&format!("attribute:x {text}")),
                Ok(condition(attribute("x"), predicate)),
                "{text}"
            );
        }
    }

    #[test]
    fn all_subjects_parse() {
        for (keyword, subject) in SUBJECT_KEYWORDS {
            assert_eq!(
                parse(&format!("{keyword} exists")),
                Ok(condition(subject.clone(), Predicate::Exists))
            );
            assert_eq!(subject.to_string(), keyword);
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_both_spellings_work() {
        let a = || condition(attribute("a"), Predicate::Exists);
        let b = || condition(attribute("b"), Predicate::Exists);
        let c = || condition(attribute("c"), Predicate::Exists);
        let expected = Expression::Or(vec![a(), Expression::And(vec![b(), c()])]);
        assert_eq!(
            parse("attribute:a exists || attribute:b exists && attribute:c exists"),
            Ok(expected.clone())
        );
        assert_eq!(
            parse("attribute:a exists or attribute:b exists and attribute:c exists"),
            Ok(expected)
        );
        assert_eq!(
            parse("(attribute:a exists or attribute:b exists) and !attribute:c exists"),
            Ok(Expression::And(vec![
                Expression::Or(vec![a(), b()]),
                Expression::Not(Box::new(c()))
            ]))
        );
    }

    #[test]
    fn regex_arguments_keep_balanced_parentheses_and_quotes_keep_spaces() {
        assert_eq!(
            parse("not(attribute:t =~ (g2|p3).*)"),
            Ok(Expression::Not(Box::new(condition(
                attribute("t"),
                Predicate::Matches("(g2|p3).*".into())
            ))))
        );
        assert_eq!(
            parse("attribute:t == 'a b'"),
            Ok(condition(attribute("t"), Predicate::Equals("a b".into())))
        );
    }

    #[test]
    fn quoted_values_keep_spaces_commas_and_brackets() {
        assert_eq!(
            parse(r#"attribute:ecs.instance-type in ["t2.small", 't2.medium']"#),
            Ok(condition(
                attribute("ecs.instance-type"),
                Predicate::In(vec!["t2.small".into(), "t2.medium".into()])
            ))
        );
        assert_eq!(
            parse(r#"attribute:team not_in ['a, b', "c d", ']', bare,"(x)"]"#),
            Ok(condition(
                attribute("team"),
                Predicate::NotIn(vec![
                    "a, b".into(),
                    "c d".into(),
                    "]".into(),
                    "bare".into(),
                    "(x)".into()
                ])
            ))
        );
        assert_eq!(
            parse(r#"attribute:note == "it's" and attribute:t =~ 'a b|(c'"#),
            Ok(Expression::And(vec![
                condition(attribute("note"), Predicate::Equals("it's".into())),
                condition(attribute("t"), Predicate::Matches("a b|(c".into())),
            ]))
        );
        assert_eq!(
            parse("attribute:x == ''"),
            Ok(condition(attribute("x"), Predicate::Equals(String::new())))
        );
        assert_eq!(
            parse(r#"attribute:x in ["a" "b"]"#).unwrap_err().expected,
            "`,` or `]`"
        );
    }

    #[test]
    fn task_group_may_appear_inside_or() {
        assert_eq!(
            parse("task:group == service:web or task:group in [service:api, family:batch]"),
            Ok(Expression::Or(vec![
                condition(Subject::TaskGroup, Predicate::Equals("service:web".into())),
                condition(
                    Subject::TaskGroup,
                    Predicate::In(vec!["service:api".into(), "family:batch".into()])
                ),
            ]))
        );
    }

    #[test]
    fn runtime_subjects_take_dates_and_versions_as_bare_values() {
        assert_eq!(
            parse("registeredAt < 2018-06-18T22:28:28+00:00"),
            Ok(condition(
                Subject::RegisteredAt,
                Predicate::LessThan("2018-06-18T22:28:28+00:00".into())
            ))
        );
        assert_eq!(
            parse("agentVersion >= v1.34.2 && runningTasksCount <= 3"),
            Ok(Expression::And(vec![
                condition(
                    Subject::AgentVersion,
                    Predicate::GreaterThanOrEqual("v1.34.2".into())
                ),
                condition(
                    Subject::RunningTasksCount,
                    Predicate::LessThanOrEqual("3".into())
                ),
            ]))
        );
    }

    #[test]
    fn errors_name_the_column_and_what_was_expected() {
        let error = parse("attribute:x ==").unwrap_err();
        assert_eq!(
            error.to_string(),
            "column 15: expected a value, found the end of the expression"
        );
        let error = parse("attribute:x === y").unwrap_err();
        assert_eq!((error.column, error.expected.as_str()), (15, "a value"));
        let error = parse("colour == red").unwrap_err();
        assert_eq!(error.column, 1);
        assert!(error.expected.starts_with("a subject"));
        let error = parse("attribute:x in [a b]").unwrap_err();
        assert_eq!(
            (error.column, error.expected.as_str(), error.found.as_str()),
            (19, "`,` or `]`", "`b]`")
        );
        let error = parse("(attribute:x exists").unwrap_err();
        assert_eq!(error.expected, "`)`, `&&`, `||`, `and` or `or`");
        let error = parse("attribute:x exists attribute:y exists").unwrap_err();
        assert_eq!(error.column, 20);
        assert_eq!(
            parse("attribute: exists").unwrap_err().expected,
            "an attribute name of 1 to 128 characters"
        );
        assert_eq!(
            parse("attribute:x == 'open").unwrap_err().expected,
            "a closing ' for this quoted string"
        );
        assert_eq!(
            parse("attribute:x in a").unwrap_err().expected,
            "`[` starting a list such as [a, b]"
        );
    }

    #[test]
    fn length_and_nesting_are_bounded() {
        let long = format!("attribute:x == {}", "a".repeat(MAX_EXPRESSION_CHARS));
        assert_eq!(
            parse(&long).unwrap_err().expected,
            "at most 2000 characters"
        );
        let deep = format!("{}attribute:x exists{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep).unwrap_err().expected.contains("nested"));
        let negations = format!("{}attribute:x exists", "!".repeat(1000));
        assert!(parse(&negations).is_err());
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        assert!(parse("attribute:x existsfoo").is_err());
        assert!(parse("attribute:x exists andattribute:y exists").is_err());
        assert!(parse("notattribute:x exists").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(input in ".{0,300}") {
            let _ = parse(&input);
        }

        #[test]
        fn arbitrary_language_shaped_text_never_panics(
            input in prop::collection::vec(prop::sample::select(vec![
                "attribute:a", "task:group", "ec2InstanceId", "==", "!=", "!", "not", "(", ")", "[", "]", ",", "&&", "||",
                "and", "or", "in", "!in", "exists", "!exists", "=~", "!~", ">=", "<", "x", "'", "\"", " ", "é", "\u{0}",
            ]), 0..60).prop_map(|tokens| tokens.concat())
        ) {
            let _ = parse(&input);
        }
    }
}

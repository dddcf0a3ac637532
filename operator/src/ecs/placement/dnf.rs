//! Disjunctive normal form of a query: an OR of ANDs of conditions, with every `not` pushed
//! into the conditions by flipping operators. Node affinity is exactly that shape
//! (nodeSelectorTerms are ORed, the matchExpressions of a term ANDed).

use super::cql::{Condition, Expression, Predicate};

/// An OR of conjunctions; an empty conjunction is true, an empty disjunction false.
pub type Disjunction = Vec<Vec<Condition>>;

/// The expansion would exceed `max_terms` conjunctions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyTerms;

pub fn disjunctive_normal_form(
    expression: &Expression,
    max_terms: usize,
) -> Result<Disjunction, TooManyTerms> {
    normalise(expression, false, max_terms)
}

fn normalise(
    expression: &Expression,
    negated: bool,
    max_terms: usize,
) -> Result<Disjunction, TooManyTerms> {
    match (expression, negated) {
        (Expression::Condition(condition), false) => Ok(vec![vec![condition.clone()]]),
        (Expression::Condition(condition), true) => Ok(negate(condition)),
        (Expression::Not(inner), _) => normalise(inner, !negated, max_terms),
        (Expression::And(operands), false) | (Expression::Or(operands), true) => operands
            .iter()
            .try_fold(vec![Vec::new()], |product, operand| {
                let factor = normalise(operand, negated, max_terms)?;
                if product.len().saturating_mul(factor.len()) > max_terms {
                    return Err(TooManyTerms);
                }
                Ok(product
                    .iter()
                    .flat_map(|left| {
                        factor
                            .iter()
                            .map(move |right| [left.as_slice(), right].concat())
                    })
                    .collect())
            }),
        (Expression::Or(operands), false) | (Expression::And(operands), true) => {
            operands.iter().try_fold(Vec::new(), |mut sum, operand| {
                sum.extend(normalise(operand, negated, max_terms)?);
                if sum.len() > max_terms {
                    Err(TooManyTerms)
                } else {
                    Ok(sum)
                }
            })
        }
    }
}

/// `not condition` as a disjunction. Equality, membership, existence and regex flip
/// exactly, because Kubernetes `NotIn` (like a negated ECS condition) also matches nodes
/// without the label. An order comparison is false on a node without the attribute, so
/// its negation also admits such nodes: `not(a > 5)` is `a <= 5 || a !exists`.
fn negate(condition: &Condition) -> Disjunction {
    let with = |predicate: Predicate| Condition {
        subject: condition.subject.clone(),
        predicate,
    };
    let or_absent =
        |predicate: Predicate| vec![vec![with(predicate)], vec![with(Predicate::NotExists)]];
    match &condition.predicate {
        Predicate::Equals(v) => vec![vec![with(Predicate::NotEquals(v.clone()))]],
        Predicate::NotEquals(v) => vec![vec![with(Predicate::Equals(v.clone()))]],
        Predicate::In(vs) => vec![vec![with(Predicate::NotIn(vs.clone()))]],
        Predicate::NotIn(vs) => vec![vec![with(Predicate::In(vs.clone()))]],
        Predicate::Exists => vec![vec![with(Predicate::NotExists)]],
        Predicate::NotExists => vec![vec![with(Predicate::Exists)]],
        Predicate::Matches(r) => vec![vec![with(Predicate::NotMatches(r.clone()))]],
        Predicate::NotMatches(r) => vec![vec![with(Predicate::Matches(r.clone()))]],
        Predicate::GreaterThan(v) => or_absent(Predicate::LessThanOrEqual(v.clone())),
        Predicate::GreaterThanOrEqual(v) => or_absent(Predicate::LessThan(v.clone())),
        Predicate::LessThan(v) => or_absent(Predicate::GreaterThanOrEqual(v.clone())),
        Predicate::LessThanOrEqual(v) => or_absent(Predicate::GreaterThan(v.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::placement::cql::{Subject, parse};

    fn dnf(text: &str) -> Result<Vec<Vec<String>>, TooManyTerms> {
        let expression = parse(text).expect("parses");
        let terms = disjunctive_normal_form(&expression, 64)?;
        Ok(terms
            .iter()
            .map(|term| {
                term.iter()
                    .map(|c| format!("{} {}", c.subject, c.predicate.operator()))
                    .collect()
            })
            .collect())
    }

    #[test]
    fn and_of_ors_distributes() {
        let terms =
            dnf("(attribute:a exists or attribute:b exists) and attribute:c exists").unwrap();
        assert_eq!(
            terms,
            vec![
                vec!["attribute:a exists", "attribute:c exists"],
                vec!["attribute:b exists", "attribute:c exists"]
            ]
        );
    }

    #[test]
    fn de_morgan_pushes_not_inwards_and_flips_operators() {
        let terms =
            dnf("not(attribute:a == x and (attribute:b in [y] or attribute:c =~ z.*))").unwrap();
        assert_eq!(
            terms,
            vec![
                vec!["attribute:a !="],
                vec!["attribute:b !in", "attribute:c !~"]
            ]
        );
        assert_eq!(
            dnf("!!attribute:a exists").unwrap(),
            vec![vec!["attribute:a exists"]]
        );
    }

    #[test]
    fn negated_comparison_also_admits_nodes_without_the_attribute() {
        assert_eq!(
            dnf("!(attribute:n > 4)").unwrap(),
            vec![vec!["attribute:n <="], vec!["attribute:n !exists"]]
        );
        let negated =
            disjunctive_normal_form(&parse("not(attribute:n >= 4)").unwrap(), 64).unwrap();
        assert_eq!(negated[0][0].predicate, Predicate::LessThan("4".into()));
        assert_eq!(negated[1][0].subject, Subject::Attribute("n".into()));
    }

    #[test]
    fn expansion_is_bounded() {
        let factor = |i: usize| format!("(attribute:a{i} exists or attribute:b{i} exists)");
        let six = (0..6).map(factor).collect::<Vec<_>>().join(" and ");
        assert_eq!(dnf(&six).unwrap().len(), 64);
        let seven = (0..7).map(factor).collect::<Vec<_>>().join(" and ");
        assert_eq!(dnf(&seven), Err(TooManyTerms));
    }
}

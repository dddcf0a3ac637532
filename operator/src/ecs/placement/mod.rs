//! ECS placement (§2.10) on Kubernetes (§4.7): the cluster query language of `memberOf`,
//! placement constraints → required affinities, spread strategies → topology spread
//! constraints for kube-scheduler; and, for what kube-scheduler cannot express (binpack,
//! random, ordered strategies), Berth's own choice of node (`place`).

pub mod affinity;
pub mod cql;
pub mod dnf;
pub mod node_labels;
pub mod node_match;
pub mod place;
pub mod resources;
pub mod strategy;

pub use affinity::{
    ConstraintContext, PlacementConstraintItem, SchedulingConstraints, translate_constraints,
    translate_member_of,
};
pub use cql::{Condition, Expression, ParseError, Predicate, Subject, parse};
pub use place::{NodeSlot, Placement, Strategy};
pub use resources::Resources;
pub use strategy::{BinpackResource, PlacementStrategyItem, parse_strategies, topology_spreads};

/// Why a placement constraint or strategy cannot be honoured; messages are meant for the
/// user, in a status condition or a Warning event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("invalid memberOf expression: {0}")]
    Parse(#[from] ParseError),
    #[error("{what} is not supported by Berth: {reason}")]
    Unsupported { what: String, reason: String },
    #[error(
        "memberOf expression expands to more than {max} alternatives once `or` and `not` are distributed; simplify it"
    )]
    TooManyAlternatives { max: usize },
    #[error(
        "task:group conditions cannot be combined with `or`: Kubernetes ANDs pod affinity terms"
    )]
    TaskGroupInDisjunction,
    #[error("{condition} needs an integer argument, got {value:?}")]
    NotAnInteger { condition: String, value: String },
    #[error(
        "invalid regular expression {pattern:?} (Berth uses Rust regex syntax, without look-around or backreferences): {reason}"
    )]
    InvalidRegex { pattern: String, reason: String },
    #[error("no node has a value of label {label} that matches {pattern:?}")]
    NoMatchingLabelValue { label: String, pattern: String },
    #[error("attribute {0:?} is not a valid Kubernetes node label key")]
    InvalidLabelKey(String),
    #[error("at most {max} placement constraints are allowed, got {count}")]
    TooManyConstraints { count: usize, max: usize },
    #[error("unknown placement constraint type {0:?}; expected distinctInstance or memberOf")]
    UnknownConstraintType(String),
    #[error("a distinctInstance placement constraint takes no expression")]
    ExpressionNotAllowed,
    #[error("a memberOf placement constraint needs an expression")]
    MissingExpression,
    #[error("at most {max} placement strategies are allowed, got {count}")]
    TooManyStrategies { count: usize, max: usize },
    #[error("unknown placement strategy type {0:?}; expected random, spread or binpack")]
    UnknownStrategyType(String),
    #[error(
        "placement strategy {strategy_type} does not accept field {field:?}; expected {expected}"
    )]
    InvalidStrategyField {
        strategy_type: String,
        field: String,
        expected: String,
    },
}

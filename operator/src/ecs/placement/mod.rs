//! ECS placement (§2.10) on Kubernetes (§4.7): the cluster query language of `memberOf`,
//! placement constraints → required affinities, spread strategies → topology spread
//! constraints for kube-scheduler; and, for what kube-scheduler cannot express (binpack,
//! random, ordered strategies) and for `memberOf` expressions affinity cannot express
//! (`member_of`), Berth's own choice of node (`place`), to which it pins the task.

pub mod affinity;
pub mod cql;
pub mod dnf;
pub mod member_of;
pub mod node_labels;
#[cfg(test)]
pub mod node_match;
pub mod place;
pub mod resources;
pub mod strategy;
pub mod usage;

pub use affinity::{
    ConstraintContext, PlacementConstraintItem, SchedulingConstraints, translate_constraints,
    translate_member_of,
};
pub use cql::{Condition, Expression, ParseError, Predicate, Subject, parse};
pub use member_of::{NodeFacts, holds, needs_berth_placement};
pub use place::{NodeSlot, Placement, Strategy, Unplaced};
pub use resources::Resources;
pub use strategy::{BinpackResource, PlacementStrategyItem, parse_strategies, topology_spreads};
pub use usage::{Held, Holding, NodeUsage};

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
        "task:group conditions combined with `or` cannot be pod affinity (Kubernetes ANDs pod affinity terms); Berth places such tasks itself"
    )]
    TaskGroupInDisjunction,
    #[error("{condition} needs {expected}, got {value:?}")]
    InvalidArgument {
        condition: String,
        value: String,
        expected: &'static str,
    },
    #[error("{subject} does not take operator {operator}; ECS allows {allowed}")]
    InvalidOperator {
        subject: String,
        operator: &'static str,
        allowed: &'static str,
    },
    #[error(
        "invalid regular expression {pattern:?} (Berth uses Rust regex syntax, without look-around or backreferences): {reason}"
    )]
    InvalidRegex { pattern: String, reason: String },
    #[error("attribute {0:?} is not a valid Kubernetes node label key")]
    InvalidLabelKey(String),
    #[error(
        "attribute:{attribute} value {value:?} is not a valid Kubernetes label value, so node affinity cannot compare it; Berth places such tasks itself"
    )]
    InvalidLabelValue { attribute: String, value: String },
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

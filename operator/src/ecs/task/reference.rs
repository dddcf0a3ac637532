//! `taskDefinition` references as ECS takes them: `family`, `family:revision`
//! or a task-definition ARN (of which only `family:revision` is used).

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDefinitionRef {
    pub family: String,
    /// None means the latest ACTIVE revision.
    pub revision: Option<i32>,
}

impl std::fmt::Display for TaskDefinitionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.revision {
            Some(r) => write!(f, "{}:{r}", self.family),
            None => f.write_str(&self.family),
        }
    }
}

/// Parses a reference; the CRD schema already checked its shape, so this
/// only fails on strings that bypassed it.
pub fn parse(reference: &str) -> Option<TaskDefinitionRef> {
    let tail = match reference.strip_prefix("arn:") {
        Some(arn) => arn.split_once(":task-definition/")?.1,
        None => reference,
    };
    let (family, revision) = match tail.rsplit_once(':') {
        Some((family, rev)) => (family, Some(rev.parse::<i32>().ok().filter(|r| *r > 0)?)),
        None => (tail, None),
    };
    let valid = !family.is_empty() && family.len() <= 255 && family.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| TaskDefinitionRef { family: family.to_string(), revision })
}

/// A task definition revision ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub family: String,
    pub revision: i32,
    pub spec: crate::api::TaskDefinitionSpec,
}

impl Resolved {
    /// `family:revision`, as ECS shows it.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.family, self.revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_three_ecs_forms() {
        assert_eq!(parse("web"), Some(TaskDefinitionRef { family: "web".into(), revision: None }));
        assert_eq!(parse("web_api-2:17"), Some(TaskDefinitionRef { family: "web_api-2".into(), revision: Some(17) }));
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
        assert_eq!(parse(arn), Some(TaskDefinitionRef { family: "web".into(), revision: Some(7) }));
        assert_eq!(parse(arn).unwrap().to_string(), "web:7");
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for bad in ["", "web:", "web:0", "web:x", "a b", "arn:aws:s3:::bucket", "web:1:2"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}

//! The AWS CLI's argument style: `--name value`, `--name=value`, lists as several values
//! after one option (`--services a b c`), and flags without a value. Each verb takes what
//! it knows; whatever is left is refused, naming the option.

use std::collections::BTreeMap;

use super::CliError;

/// The options of one invocation, in the order given.
#[derive(Debug, Default)]
pub struct Args {
    options: BTreeMap<String, Vec<String>>,
    positional: Vec<String>,
}

impl Args {
    /// Splits `words` into options (each with the values up to the next option) and the
    /// words before the first option. `-n NS` is kubectl's spelling of `--namespace NS`.
    pub fn parse(words: &[String]) -> Result<Args, CliError> {
        let mut args = Args::default();
        let mut current: Option<String> = None;
        for word in words {
            let option = match word.as_str() {
                "-n" => Some(("--namespace", None)),
                "-o" => Some(("--output", None)),
                "-f" => Some(("--file", None)),
                w if w.starts_with("--") => Some(match w.split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (w, None),
                }),
                _ => None,
            };
            match option {
                Some((name, value)) => {
                    if args.options.contains_key(name) {
                        return Err(CliError::usage(format!("{name} is given more than once")));
                    }
                    args.options.insert(name.to_string(), value.map(str::to_string).into_iter().collect());
                    current = Some(name.to_string());
                }
                None => match &current {
                    Some(name) => args.options.get_mut(name).expect("current option is recorded").push(word.clone()),
                    None => args.positional.push(word.clone()),
                },
            }
        }
        Ok(args)
    }

    /// The words before the first option (a wait's waiter name, import's file).
    pub fn positional(&mut self) -> Vec<String> {
        std::mem::take(&mut self.positional)
    }

    /// The one value of `name`, if given. Words after it are positional
    /// (`import --namespace prod file.json`); a verb without positionals refuses them.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, CliError> {
        let Some(mut values) = self.options.remove(name) else { return Ok(None) };
        if values.is_empty() {
            return Err(CliError::usage(format!("{name} needs a value")));
        }
        self.positional.extend(values.drain(1..));
        Ok(values.pop())
    }

    /// The one value of `name`, which must be given.
    pub fn required(&mut self, name: &str) -> Result<String, CliError> {
        self.value(name)?.ok_or_else(|| CliError::usage(format!("{name} is required")))
    }

    /// The values of a list option (`--tasks a b c`; commas also separate, as in kubectl).
    pub fn list(&mut self, name: &str) -> Result<Vec<String>, CliError> {
        let values: Vec<String> = self.options.remove(name).unwrap_or_default().iter()
            .flat_map(|v| v.split(',')).filter(|v| !v.is_empty()).map(str::to_string).collect();
        Ok(values)
    }

    /// A list option that must have at least one value.
    pub fn required_list(&mut self, name: &str) -> Result<Vec<String>, CliError> {
        let values = self.list(name)?;
        if values.is_empty() {
            return Err(CliError::usage(format!("{name} is required")));
        }
        Ok(values)
    }

    /// A number option within `range`.
    pub fn number(&mut self, name: &str, range: std::ops::RangeInclusive<i64>) -> Result<Option<i64>, CliError> {
        let Some(text) = self.value(name)? else { return Ok(None) };
        let number: i64 = text.parse().map_err(|_| CliError::usage(format!("{name}: {text:?} is not a whole number")))?;
        if !range.contains(&number) {
            return Err(CliError::usage(format!("{name}: {number} is outside {}..={}", range.start(), range.end())));
        }
        Ok(Some(number))
    }

    /// `--name` (true), `--no-name` (false) or neither (None), as the AWS CLI spells booleans.
    pub fn switch(&mut self, name: &str) -> Result<Option<bool>, CliError> {
        let negated = format!("--no-{}", name.trim_start_matches("--"));
        match (self.flag(name)?, self.flag(&negated)?) {
            (true, true) => Err(CliError::usage(format!("{name} and {negated} contradict each other"))),
            (true, false) => Ok(Some(true)),
            (false, true) => Ok(Some(false)),
            (false, false) => Ok(None),
        }
    }

    /// A flag without a value.
    pub fn flag(&mut self, name: &str) -> Result<bool, CliError> {
        match self.options.remove(name) {
            None => Ok(false),
            Some(values) if values.is_empty() => Ok(true),
            Some(values) => Err(CliError::usage(format!("{name} takes no value, got {}", values.join(" ")))),
        }
    }

    /// Refuses what no one took.
    pub fn finish(self) -> Result<(), CliError> {
        if let Some(word) = self.positional.first() {
            return Err(CliError::usage(format!("unexpected argument {word:?}")));
        }
        match self.options.keys().next() {
            Some(name) => Err(CliError::usage(format!("unknown option {name}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Args {
        Args::parse(&line.split_whitespace().map(str::to_string).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn lists_take_every_word_up_to_the_next_option() {
        let mut args = parse("--services web api,worker --cluster=prod -n other");
        assert_eq!(args.list("--services").unwrap(), ["web", "api", "worker"]);
        assert_eq!(args.value("--cluster").unwrap().as_deref(), Some("prod"));
        assert_eq!(args.value("--namespace").unwrap().as_deref(), Some("other"));
        args.finish().unwrap();
    }

    #[test]
    fn errors_name_the_option() {
        let mut args = parse("--desired-count many --bogus --force-new-deployment yes");
        assert!(args.number("--desired-count", 0..=10).unwrap_err().to_string().contains("--desired-count"));
        assert!(args.flag("--force-new-deployment").unwrap_err().to_string().contains("--force-new-deployment"));
        assert_eq!(args.finish().unwrap_err().to_string(), "unknown option --bogus");
        let mut args = parse("--count 11");
        assert!(args.number("--count", 1..=10).unwrap_err().to_string().contains("outside 1..=10"));
        assert!(Args::parse(&["--a".into(), "--a".into()]).is_err());
        let mut args = parse("--count 2 3");
        assert_eq!(args.value("--count").unwrap().as_deref(), Some("2"));
        assert_eq!(args.finish().unwrap_err().to_string(), "unexpected argument \"3\"");
    }

    #[test]
    fn switches_read_both_spellings() {
        assert_eq!(parse("--protection-enabled").switch("--protection-enabled").unwrap(), Some(true));
        assert_eq!(parse("--no-protection-enabled").switch("--protection-enabled").unwrap(), Some(false));
        assert_eq!(parse("").switch("--protection-enabled").unwrap(), None);
        assert!(parse("--x --no-x").switch("--x").is_err());
    }

    #[test]
    fn words_before_options_are_positional() {
        let mut args = parse("services-stable --services web");
        assert_eq!(args.positional(), ["services-stable"]);
        assert_eq!(args.required_list("--services").unwrap(), ["web"]);
        assert!(args.required("--cluster").is_err());
        let mut args = parse("import --namespace prod file.json");
        assert_eq!(args.value("--namespace").unwrap().as_deref(), Some("prod"));
        assert_eq!(args.positional(), ["import", "file.json"]);
    }
}

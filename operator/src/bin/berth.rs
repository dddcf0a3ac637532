//! The `berth` command line. `berth import [FILE|-] [--namespace NS] [--name NAME]` turns ECS JSON into
//! Berth manifests on stdout, with a note on stderr for every field it drops.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use berth::import::{ImportOptions, import};

const USAGE: &str = "usage: berth import [FILE|-] [--namespace NS] [--name NAME]

Reads ECS JSON from FILE, or stdin when FILE is - or missing: a RegisterTaskDefinition or
CreateService input (--cli-input-json), describe-task-definition or describe-services output,
aws scheduler get-schedule output, [aws events describe-rule output, list-targets-by-rule
output], or a JSON array of these. Prints Berth manifests as multi-document YAML.

  -n, --namespace NS   set metadata.namespace (an ECS cluster maps to a namespace)
      --name NAME      name the service, as aws ecs create-service --service-name does
                       (for an input without serviceName)";

/// What the command line asks for.
struct ImportArgs {
    file: Option<String>,
    options: ImportOptions,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let parsed = match args.split_first() {
        Some((command, rest)) if command == "import" => parse_import_args(rest),
        _ => Err(anyhow::anyhow!("expected the subcommand import")),
    };
    let import_args = match parsed {
        Ok(import_args) => import_args,
        Err(error) => {
            eprintln!("berth: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run_import(&import_args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth import: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_import_args(args: &[String]) -> anyhow::Result<ImportArgs> {
    let mut import_args = ImportArgs {
        file: None,
        options: ImportOptions::default(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-n" || arg == "--namespace" {
            let namespace = args
                .next()
                .with_context(|| format!("{arg} needs a namespace"))?;
            import_args.options.namespace = Some(namespace.clone());
        } else if arg == "--name" {
            let name = args.next().with_context(|| format!("{arg} needs a name"))?;
            import_args.options.name = Some(name.clone());
        } else if let Some(name) = arg.strip_prefix("--name=") {
            import_args.options.name = Some(name.to_owned());
        } else if let Some(namespace) = arg.strip_prefix("--namespace=") {
            import_args.options.namespace = Some(namespace.to_owned());
        } else if arg.starts_with('-') && arg != "-" {
            bail!("unknown option {arg}");
        } else if import_args.file.replace(arg.clone()).is_some() {
            bail!("more than one input file");
        }
    }
    Ok(import_args)
}

fn run_import(import_args: &ImportArgs) -> anyhow::Result<()> {
    let input = match import_args.file.as_deref() {
        None | Some("-") => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("cannot read stdin")?;
            input
        }
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
        }
    };
    let imported = import(&input, &import_args.options)?;
    for note in &imported.notes {
        eprintln!("{note}");
    }
    print!("{}", imported.to_yaml()?);
    Ok(())
}

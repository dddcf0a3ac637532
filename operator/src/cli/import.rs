//! `berth import [FILE|-] [--namespace NS] [--name NAME]`: ECS JSON to Berth manifests on
//! stdout, with a note on stderr for every field it drops.

use std::io::Read;

use super::CliError;
use super::args::Args;
use crate::import::{ImportOptions, import};

pub fn run(mut args: Args) -> Result<(), CliError> {
    let options = ImportOptions { namespace: args.value("--namespace")?, name: args.value("--name")? };
    let mut files = args.positional();
    args.finish()?;
    if files.len() > 1 {
        return Err(CliError::usage("import: more than one input file"));
    }
    let input = match files.pop().as_deref() {
        None | Some("-") => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).map_err(|e| CliError::usage(format!("import: cannot read stdin: {e}")))?;
            input
        }
        Some(file) => std::fs::read_to_string(file).map_err(|e| CliError::usage(format!("import: cannot read {file}: {e}")))?,
    };
    let imported = import(&input, &options).map_err(|e| CliError::usage(format!("import: {e}")))?;
    for note in &imported.notes {
        eprintln!("{note}");
    }
    print!("{}", imported.to_yaml().map_err(|e| CliError::usage(format!("import: {e}")))?);
    Ok(())
}

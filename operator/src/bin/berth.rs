//! The `berth` command line (also `kubectl ecs`, installed as `kubectl-ecs`): see
//! [`berth::cli`], or `berth --help`.

fn main() -> std::process::ExitCode {
    berth::cli::main(std::env::args().skip(1).collect())
}

//! The `berth` command line, also installed as the kubectl plugin `kubectl-ecs`: the AWS
//! CLI's ECS verbs against the current kubeconfig (the ECS cluster is a namespace),
//! printing the AWS CLI's JSON or a table; `plan`, a dry run of a change; `advise`, EC2 or
//! Fargate with numbers; and `import`, ECS JSON to manifests.
//!
//! Each verb group is a module; the decisions (output shapes, waiters, the plan's
//! simulation, costs) are pure functions beside thin reads and writes.

pub mod advise;
pub mod args;
pub use crate::ecs::arn;
pub mod cluster;
pub mod deployments;
pub mod import;
pub mod output;
pub mod plan;
pub mod services;
pub mod shape;
pub mod task_definitions;
pub mod tasks;
pub mod wait;

use std::process::ExitCode;

use args::Args;
use cluster::Cluster;
use output::{Format, Response};

const USAGE: &str = "usage: berth <verb> [options]            (as a kubectl plugin: kubectl ecs <verb> [options])

ECS verbs, with the AWS CLI's options and output (--output json|table, default table);
the ECS cluster is a namespace: --cluster NAME (or -n NAME), default the kubeconfig context's.
  describe-services         --services NAME...
  list-services             [--launch-type T] [--scheduling-strategy S]
  update-service            --service NAME [--desired-count N] [--task-definition REF] [--force-new-deployment]
  describe-task-definition  --task-definition FAMILY[:REVISION]|ARN
  list-task-definitions     [--family-prefix P] [--status ACTIVE|INACTIVE] [--sort ASC|DESC]
  register-task-definition  --cli-input-json JSON|file://PATH
  list-tasks                [--service-name S] [--family F] [--started-by S] [--desired-status RUNNING|STOPPED]
  describe-tasks            --tasks ID...
  run-task                  --task-definition REF [--count N] [--started-by S] [--group G] [--launch-type T] [--overrides JSON]
  stop-task                 --task ID [--reason TEXT]
  update-task-protection    --tasks ID... --protection-enabled|--no-protection-enabled [--expires-in-minutes N (1-2880, default 120)]
  get-task-protection       --tasks ID...
  list-service-deployments      --service NAME [--status S,...]      BLUE_GREEN, LINEAR and CANARY deployments
  describe-service-deployments  --service-deployment-arns ARN...     stage, traffic weights, hooks awaiting action
  stop-service-deployment       --service-deployment-arn ARN [--stop-type ROLLBACK]
  continue-service-deployment   --service-deployment-arn ARN --hook-id ID [--action CONTINUE|ROLLBACK]
  wait services-stable      --services NAME... [--timeout SECONDS]     exit 255 on failure or timeout
  wait tasks-running        --tasks ID... [--timeout SECONDS]
  wait tasks-stopped        --tasks ID... [--timeout SECONDS]
Berth's own:
  plan      -f FILE         what applying a changed Service or TaskDefinition would do: the deployment,
                            the rollout's batches and where new tasks go
  advise    [--prices FILE] [--region R] [--ec2-utilization F]   EC2 or Fargate per Service and per family of
                            TaskRuns: monthly costs from a price table (default us-east-1), the choice and why
  import    [FILE|-] [--namespace NS] [--name NAME]   ECS JSON to Berth manifests: a RegisterTaskDefinition
                            or CreateService input, describe-task-definition or describe-services output,
                            aws scheduler get-schedule output, [aws events describe-rule output,
                            list-targets-by-rule output], or a JSON array of these

Exit codes as the AWS CLI's: 0 done, 252 bad arguments, 253 no usable kubeconfig,
254 the API server refused or something asked for is not there, 255 a wait failed or timed out.";

/// Why a command failed, with the AWS CLI's exit code for it.
#[derive(Debug)]
pub struct CliError {
    pub exit_code: u8,
    pub message: String,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl CliError {
    /// The command line is wrong (AWS CLI: 252).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { exit_code: 252, message: message.into() }
    }

    /// No usable kubeconfig (AWS CLI: 253, the environment or configuration is invalid).
    pub fn config(message: impl Into<String>) -> CliError {
        CliError { exit_code: 253, message: message.into() }
    }

    /// The API server refused a request (AWS CLI: 254, the service returned an error).
    pub fn api(error: kube::Error) -> CliError {
        CliError::api_message(error.to_string())
    }

    pub fn api_message(message: impl Into<String>) -> CliError {
        CliError { exit_code: 254, message: message.into() }
    }

    /// A waiter failed or gave up (AWS CLI: 255).
    pub fn waiter(message: impl Into<String>) -> CliError {
        CliError { exit_code: 255, message: message.into() }
    }
}

/// Runs the command line `words` (without the program name).
pub fn main(words: Vec<String>) -> ExitCode {
    let Some((verb, rest)) = words.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(252);
    };
    if verb == "-h" || verb == "--help" || verb == "help" || rest.iter().any(|w| w == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = Args::parse(rest).and_then(|args| {
        if verb == "import" {
            return import::run(args).map(|()| None);
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
            .map_err(|e| CliError::config(format!("cannot start the async runtime: {e}")))?;
        runtime.block_on(run(verb, args))
    });
    match result {
        Ok(Some(printed)) => {
            print!("{printed}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth {verb}: {error}");
            if error.exit_code == 252 {
                eprintln!("(berth --help lists the verbs and their options)");
            }
            ExitCode::from(error.exit_code)
        }
    }
}

/// The verbs that talk to the cluster.
const VERBS: [&str; 19] = ["describe-services", "list-services", "update-service", "describe-task-definition", "list-task-definitions",
    "register-task-definition", "list-tasks", "describe-tasks", "run-task", "stop-task", "update-task-protection", "get-task-protection", "wait", "plan", "advise",
    "list-service-deployments", "describe-service-deployments", "stop-service-deployment", "continue-service-deployment"];

/// A verb that talks to the cluster; its printed answer, if it has one.
async fn run(verb: &str, mut args: Args) -> Result<Option<String>, CliError> {
    if !VERBS.contains(&verb) {
        return Err(CliError::usage(format!("unknown verb {verb:?}")));
    }
    let format = Format::parse(args.value("--output")?.as_deref())?;
    let cluster_name = match (args.value("--cluster")?, args.value("--namespace")?) {
        (Some(_), Some(_)) => return Err(CliError::usage("--cluster and --namespace name the same thing: give one")),
        (cluster, namespace) => cluster.or(namespace),
    };
    let cluster = Cluster::connect(cluster_name).await?;
    let response: Response = match verb {
        "describe-services" => services::describe_services(&cluster, args).await?,
        "list-services" => services::list_services(&cluster, args).await?,
        "update-service" => services::update_service(&cluster, args).await?,
        "describe-task-definition" => task_definitions::describe_task_definition(&cluster, args).await?,
        "list-task-definitions" => task_definitions::list_task_definitions(&cluster, args).await?,
        "register-task-definition" => task_definitions::register_task_definition(&cluster, args).await?,
        "list-tasks" => tasks::list_tasks(&cluster, args).await?,
        "describe-tasks" => tasks::describe_tasks(&cluster, args).await?,
        "run-task" => tasks::run_task(&cluster, args).await?,
        "stop-task" => tasks::stop_task(&cluster, args).await?,
        "update-task-protection" => tasks::update_task_protection(&cluster, args).await?,
        "get-task-protection" => tasks::get_task_protection(&cluster, args).await?,
        "list-service-deployments" => deployments::list_service_deployments(&cluster, args).await?,
        "describe-service-deployments" => deployments::describe_service_deployments(&cluster, args).await?,
        "stop-service-deployment" => deployments::stop_service_deployment(&cluster, args).await?,
        "continue-service-deployment" => deployments::continue_service_deployment(&cluster, args).await?,
        "wait" => return wait::wait(&cluster, args).await.map(|()| None),
        "plan" => plan::run(&cluster, args).await?,
        "advise" => advise::run(&cluster, args).await?,
        other => return Err(CliError::usage(format!("unknown verb {other:?}"))),
    };
    Ok(Some(response.render(format)))
}

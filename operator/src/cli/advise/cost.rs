//! EC2 or Fargate for one workload, with numbers: the monthly cost of running it on
//! Fargate (billed per task size and task-hour) and on EC2 instances dedicated to it
//! (billed per instance-hour, tasks binpacked onto the cheapest instance type, instances
//! up all month at the peak's size), and the choice in the terms ECS users know.

use serde::{Deserialize, Serialize};

/// A price table (`us-east-1.json` is the default; `--prices FILE` replaces it).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    pub region: String,
    pub source: String,
    pub hours_per_month: f64,
    pub fargate: FargatePrices,
    pub ec2: Vec<InstanceType>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FargatePrices {
    pub vcpu_hour: f64,
    pub gb_hour: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceType {
    pub instance_type: String,
    pub vcpu: f64,
    #[serde(rename = "memoryGiB")]
    pub memory_gib: f64,
    pub hourly: f64,
}

/// The default price table.
pub fn default_prices() -> Prices {
    serde_json::from_str(include_str!("us-east-1.json")).expect("the bundled price table is valid")
}

/// What a workload ran.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// vCPUs and GiB of one task.
    pub vcpu: f64,
    pub memory_gib: f64,
    /// Tasks running at the peak (what EC2 capacity must hold).
    pub peak_tasks: f64,
    /// Task-hours a month (what Fargate bills).
    pub task_hours: f64,
}

/// EC2 only pays when it saves at least this much: below it, running instances
/// (AMIs, patching, scaling the capacity provider) costs more than it saves.
pub const EC2_MIN_SAVING: f64 = 0.10;
/// A service of this many tasks or fewer leaves most of an instance idle.
pub const SMALL_SERVICE_TASKS: f64 = 2.0;
/// A service that may scale to this many times the tasks it runs is bursty: EC2 capacity
/// sized for its peak idles most of the month.
pub const BURSTY: f64 = 1.5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    Ec2,
    Fargate,
}

/// The costs and the choice.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Advice {
    pub fargate_monthly: f64,
    pub ec2_monthly: f64,
    pub ec2_instance_type: String,
    pub ec2_instances: u32,
    pub recommendation: Mode,
    pub reason: String,
}

/// Fargate's monthly bill: the task size times the task-hours.
pub fn fargate_monthly(workload: &Workload, prices: &Prices) -> f64 {
    workload.task_hours * (workload.vcpu * prices.fargate.vcpu_hour + workload.memory_gib * prices.fargate.gb_hour)
}

/// The cheapest instance type and count that hold the peak at `utilization` (binpack
/// leaves some of each instance unused), up all month.
pub fn ec2_monthly(workload: &Workload, prices: &Prices, utilization: f64) -> Option<(f64, String, u32)> {
    let cpu = workload.vcpu * workload.peak_tasks / utilization;
    let memory = workload.memory_gib * workload.peak_tasks / utilization;
    prices.ec2.iter()
        .filter(|t| t.vcpu >= workload.vcpu && t.memory_gib >= workload.memory_gib)
        .map(|t| {
            let count = (cpu / t.vcpu).max(memory / t.memory_gib).ceil().max(1.0) as u32;
            (f64::from(count) * t.hourly * prices.hours_per_month, t.instance_type.clone(), count)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

pub fn advise(workload: &Workload, prices: &Prices, utilization: f64, periodic: bool) -> Option<Advice> {
    let fargate = fargate_monthly(workload, prices);
    let (ec2, instance_type, instances) = ec2_monthly(workload, prices, utilization)?;
    let saving = if fargate > 0.0 { 1.0 - ec2 / fargate } else { 0.0 };
    let average = workload.task_hours / prices.hours_per_month;
    let (recommendation, reason) = if periodic {
        (Mode::Fargate, format!("periodic: tasks run {:.0} task-hours a month; Fargate bills only those, EC2 instances would idle between runs", workload.task_hours))
    } else if workload.peak_tasks <= SMALL_SERVICE_TASKS {
        (Mode::Fargate, format!("small: {} task(s) would leave most of a {instance_type} idle", workload.peak_tasks))
    } else if saving >= EC2_MIN_SAVING {
        (Mode::Ec2, format!("steady and large: {instances}x {instance_type} with binpack placement saves {:.0}% over Fargate", saving * 100.0))
    } else if workload.peak_tasks >= BURSTY * average {
        (Mode::Fargate, format!("bursty: {average:.0} task(s) run now and up to {} may; EC2 must hold the peak all month, Fargate bills what runs",
            workload.peak_tasks))
    } else {
        (Mode::Fargate, format!("EC2 would save {:.0}% (less than {:.0}%): not worth managing instances", saving * 100.0, EC2_MIN_SAVING * 100.0))
    };
    Some(Advice { fargate_monthly: round_cents(fargate), ec2_monthly: round_cents(ec2), ec2_instance_type: instance_type, ec2_instances: instances, recommendation, reason })
}

fn round_cents(dollars: f64) -> f64 {
    (dollars * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(vcpu: f64, memory_gib: f64, tasks: f64) -> Workload {
        Workload { vcpu, memory_gib, peak_tasks: tasks, task_hours: tasks * 730.0 }
    }

    #[test]
    fn a_small_service_stays_on_fargate() {
        // 2 tasks of 0.25 vCPU / 0.5 GiB: Fargate 2 x 730 x (0.25 x 0.04048 + 0.5 x 0.004445) = 18.02 $;
        // EC2: one t3.medium, 730 x 0.0416 = 30.37 $.
        let advice = advise(&steady(0.25, 0.5, 2.0), &default_prices(), 0.9, false).unwrap();
        assert_eq!((advice.fargate_monthly, advice.ec2_monthly), (18.02, 30.37));
        assert_eq!((advice.ec2_instance_type.as_str(), advice.ec2_instances), ("t3.medium", 1));
        assert_eq!(advice.recommendation, Mode::Fargate);
        assert!(advice.reason.starts_with("small"), "{}", advice.reason);
    }

    #[test]
    fn a_steady_large_service_goes_to_ec2_with_binpack() {
        // 40 tasks of 0.5 vCPU / 1 GiB: Fargate 40 x 730 x (0.5 x 0.04048 + 1 x 0.004445) = 720.80 $.
        // EC2 at 90 %: 22.2 vCPU and 44.4 GiB -> 12 t3.medium (2 vCPU, 4 GiB): 12 x 0.0416 x 730 = 364.42 $, 49 % less.
        let advice = advise(&steady(0.5, 1.0, 40.0), &default_prices(), 0.9, false).unwrap();
        assert_eq!((advice.fargate_monthly, advice.ec2_monthly), (720.8, 364.42));
        assert_eq!((advice.ec2_instance_type.as_str(), advice.ec2_instances), ("t3.medium", 12));
        assert_eq!(advice.recommendation, Mode::Ec2);
        assert!(advice.reason.contains("binpack") && advice.reason.contains("49%"), "{}", advice.reason);
    }

    #[test]
    fn a_thin_saving_is_not_worth_instances() {
        // Without burstable types, 20 tasks of 2 vCPU / 4 GiB: Fargate 20 x 730 x (2 x 0.04048 + 4 x 0.004445) = 1441.60 $.
        let prices = Prices { ec2: default_prices().ec2.into_iter().filter(|t| t.instance_type != "t3.medium").collect(), ..default_prices() };
        // EC2 at 90 %: 44.4 vCPU, 88.9 GiB -> 23 c5.large: 23 x 0.085 x 730 = 1427.15 $, 1 % less.
        let advice = advise(&steady(2.0, 4.0, 20.0), &prices, 0.9, false).unwrap();
        assert_eq!((advice.fargate_monthly, advice.ec2_monthly, advice.ec2_instances), (1441.6, 1427.15, 23));
        assert_eq!(advice.recommendation, Mode::Fargate);
        assert!(advice.reason.contains("save 1%"), "{}", advice.reason);
    }

    #[test]
    fn a_bursty_service_stays_on_fargate_when_capacity_for_its_peak_costs_more() {
        // Autoscaled to at most 40 tasks (0.5 vCPU / 1 GiB), 6 running: Fargate bills 6 x 730 task-hours = 108.12 $;
        // EC2 holds the 40 all month: 12 t3.medium, 364.42 $.
        let autoscaled = Workload { vcpu: 0.5, memory_gib: 1.0, peak_tasks: 40.0, task_hours: 6.0 * 730.0 };
        let advice = advise(&autoscaled, &default_prices(), 0.9, false).unwrap();
        assert_eq!((advice.fargate_monthly, advice.ec2_monthly), (108.12, 364.42));
        assert_eq!(advice.recommendation, Mode::Fargate);
        assert!(advice.reason.starts_with("bursty: 6 task(s) run now and up to 40"), "{}", advice.reason);
    }

    #[test]
    fn periodic_work_goes_to_fargate() {
        // A nightly run of 10 tasks (1 vCPU / 2 GiB) for 1 hour: 300 task-hours a month.
        // Fargate 300 x (0.04048 + 2 x 0.004445) = 14.81 $; EC2 holds 10 tasks all month.
        let nightly = Workload { vcpu: 1.0, memory_gib: 2.0, peak_tasks: 10.0, task_hours: 300.0 };
        let advice = advise(&nightly, &default_prices(), 0.9, true).unwrap();
        assert_eq!(advice.fargate_monthly, 14.81);
        assert!(advice.ec2_monthly > 10.0 * advice.fargate_monthly, "{advice:?}");
        assert_eq!(advice.recommendation, Mode::Fargate);
        assert!(advice.reason.starts_with("periodic"), "{}", advice.reason);
    }

    #[test]
    fn a_task_no_instance_type_holds_has_no_ec2_estimate() {
        assert_eq!(advise(&steady(16.0, 64.0, 3.0), &default_prices(), 0.9, false), None);
    }
}

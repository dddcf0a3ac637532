//! Issue 6 acceptance (the README's main command): the demo `cargo plane up`
//! shows, run here against the shared plane and operator: tasks across all
//! zones, a failed task replaced, and a roll to a new revision.
use berth_tests::fixture::{client, operator, plane, unique_suffix};

#[tokio::test]
async fn the_demo_shows_zones_a_replacement_and_a_roll() {
    operator();
    let ns = format!("demo-{}", unique_suffix());
    let mut story = Vec::new();
    let report = berth_tests::demo::run(client().await, &plane().kubectl(), &ns, &mut story).await.unwrap();
    let story = String::from_utf8(story).unwrap();
    eprintln!("{story}");
    assert_eq!(report.tasks_per_zone.len(), 3, "{story}");
    assert!(report.tasks_per_zone.values().all(|&n| n == 2), "{story}");
    assert!(report.stopped_reason.contains("exit"), "{story}");
    assert!(story.contains("web:2 COMPLETED"), "{story}");
    // The providers are cluster-wide and other test binaries (run one after
    // another) create their own under these names.
    plane().kubectl().run(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
    plane().kubectl().run(&["delete", "capacityprovider", "ec2", "fargate", "--ignore-not-found"]).unwrap();
}

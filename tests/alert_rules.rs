//! The alert rules (deploy/prometheus/vigia-alerts.yml) checked by Prometheus's own tool:
//! `promtool check rules` (syntax, expressions, templates) and `promtool test rules` with the
//! unit tests in deploy/prometheus/vigia-alerts.test.yml (each alert fires after its `for`
//! with its labels and rendered annotations; a healthy node fires none). promtool comes from
//! Debian's `prometheus` package (deploy/setup.sh installs it).

use std::process::Command;

use vigia_testkit::paths;

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let found = Command::new("promtool").arg("--version").output();
    if found.is_err() {
        assert!(!paths::in_ci(), "promtool is missing: run deploy/setup.sh");
        paths::skip("alert_rules", "no promtool (run deploy/setup.sh)");
        return;
    }
    let dir = paths::project_root().join("deploy/prometheus");
    for args in [
        ["check", "rules", "vigia-alerts.yml"],
        ["test", "rules", "vigia-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

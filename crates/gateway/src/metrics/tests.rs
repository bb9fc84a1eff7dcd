use std::time::Duration;

use super::*;
use crate::upstream::UpstreamError;

fn meters_with(tools: &[&str]) -> ServerMeters {
    let meters = ServerMeters::default();
    meters.listed_tools(tools.iter().copied());
    meters
}

#[test]
fn a_request_is_in_flight_while_metered_then_counted_by_its_outcome() {
    let meters = meters_with(&["echo"]);
    let metering = Metering::start(&meters, "tools/call", "echo");
    assert_eq!(meters.tool("echo").in_flight(), 1);
    assert_eq!(meters.method("tools/call").unwrap().in_flight(), 1);
    metering.note(Outcome::Ok);
    drop(metering);
    let echo = meters.tool("echo");
    assert_eq!((echo.in_flight(), echo.count(Outcome::Ok)), (0, 1));
    assert_eq!(meters.method("tools/call").unwrap().count(Outcome::Ok), 1);
}

#[test]
fn the_first_outcome_noted_stands_and_none_is_a_cancellation() {
    let meters = meters_with(&["echo"]);
    let metering = Metering::start(&meters, "tools/call", "echo");
    let clock = metering.clock();
    clock.note(Outcome::of(&UpstreamError::Timeout(Duration::from_secs(1))));
    metering.note(Outcome::Failed);
    drop(metering);
    drop(Metering::start(&meters, "tools/call", "echo"));
    let echo = meters.tool("echo");
    assert_eq!(echo.count(Outcome::Timeout), 1);
    assert_eq!(echo.count(Outcome::Failed), 0);
    assert_eq!(echo.count(Outcome::Cancelled), 1);
}

#[test]
fn the_gateways_share_is_the_time_not_spent_upstream() {
    let meters = meters_with(&["echo"]);
    let metering = Metering::start(&meters, "tools/call", "echo");
    std::thread::sleep(Duration::from_millis(5));
    metering.clock().waited(Duration::from_millis(4));
    metering.note(Outcome::Ok);
    drop(metering);
    let echo = meters.tool("echo");
    let text = {
        let mut metrics = PromRegistry::default();
        metrics.register("d", "", echo.duration().clone());
        metrics.register("o", "", echo.overhead().clone());
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &metrics).unwrap();
        text
    };
    let sum = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (total, own) = (sum("d_sum"), sum("o_sum"));
    assert!(total >= 0.005, "{text}");
    assert!((total - own - 0.004).abs() < 1e-6, "{total} - {own}");
}

#[test]
fn a_withdrawn_request_is_not_counted() {
    let meters = meters_with(&["echo"]);
    Metering::start(&meters, "tools/call", "echo").withdraw();
    let echo = meters.tool("echo");
    assert_eq!((echo.in_flight(), echo.total()), (0, 0));
}

#[test]
fn unlisted_names_share_one_series_and_a_relisted_tool_keeps_its_counts() {
    let meters = meters_with(&["echo"]);
    Metering::refused(
        &meters,
        "tools/call",
        "whatever-a-client-sent",
        Outcome::RateLimited,
    );
    let names: Vec<String> = meters.tools().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["echo", UNLISTED_TOOL]);
    drop(Metering::start(&meters, "tools/call", "echo"));
    meters.listed_tools(["echo", "add"].into_iter());
    assert_eq!(meters.tool("echo").total(), 1);
    meters.listed_tools(["add"].into_iter());
    let names: Vec<String> = meters.tools().into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        ["add", UNLISTED_TOOL],
        "a tool no longer listed is not exported"
    );
}

#[test]
fn requests_of_the_last_minute_are_counted_per_server() {
    let meters = meters_with(&["echo"]);
    for _ in 0..3 {
        let metering = Metering::start(&meters, "tools/call", "echo");
        metering.note(Outcome::Ok);
    }
    drop(Metering::start(&meters, "prompts/get", "greet"));
    assert_eq!(meters.last_minute(), 4);
    assert_eq!(meters.tool("echo").last_minute(), 0, "tools keep no ring");
}

#[test]
fn the_format_follows_accept() {
    assert_eq!(Format::from_accept(None), Format::Prometheus);
    assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
    let open_metrics = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";
    assert_eq!(Format::from_accept(Some(open_metrics)), Format::OpenMetrics);
}

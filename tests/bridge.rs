//! `--bridge URL`: a real HTTP server on 127.0.0.1 serves snapshots (and misbehaves).

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Guard, NOW, example};

/// Serves `body` with `status` to at most `max` requests, counting them; stops by itself.
fn serve(
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    max: usize,
) -> (String, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/snapshots", server.server_addr().to_ip().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for _ in 0..max {
            let Ok(Some(req)) = server.recv_timeout(Duration::from_secs(20)) else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let header = tiny_http::Header::from_bytes("Content-Type", content_type).unwrap();
            let _ = req.respond(
                tiny_http::Response::from_data(body.clone())
                    .with_status_code(status)
                    .with_header(header),
            );
        }
    });
    (url, count)
}

fn check_bridge(url: &str) -> common::Out {
    Guard::new()
        .args(["check", "--json", "--now", NOW, "--bridge", url])
        .run()
}

#[test]
fn a_bridge_serves_each_shape() {
    for (file, code) in [
        ("healthy.json", 0),
        ("opus-weekly-pinned.json", 12),
        ("two-organizations.json", 20),
    ] {
        let (url, count) = serve(
            200,
            std::fs::read(example(file)).unwrap(),
            "application/json",
            1,
        );
        let out = check_bridge(&url);
        assert_eq!(out.code, Some(code), "{file}: {}", out.stderr);
        let j = out.json();
        assert_eq!(j["source"]["kind"], "bridge");
        assert_eq!(count.load(Ordering::SeqCst), 1, "one GET");
    }
    // A bare usage body from a bridge is fetched now.
    let body = br#"{"five_hour":{"utilization":100.0,"resets_at":"2026-11-20T10:00:00Z"},"seven_day":null}"#.to_vec();
    let (url, _) = serve(200, body, "application/json", 1);
    let out = check_bridge(&url);
    assert_eq!(out.code, Some(10));
    assert_eq!(out.json()["source"]["age_seconds"], 0);
}

#[test]
fn bridge_failures_are_unknown_with_the_reason() {
    let cases: Vec<(u16, Vec<u8>, &'static str, &str)> = vec![
        (404, b"not here".to_vec(), "text/plain", "HTTP 404"),
        (500, b"{}".to_vec(), "application/json", "HTTP 500"),
        (
            200,
            b"<html><body>Just a moment...</body></html>".to_vec(),
            "text/html",
            "not valid JSON",
        ),
        (
            200,
            b"{\"five_hour\":".to_vec(),
            "application/json",
            "not valid JSON",
        ),
        (
            200,
            vec![b' '; 5 << 20],
            "application/json",
            "larger than 4 MiB",
        ),
    ];
    for (status, body, ct, why) in cases {
        let (url, _) = serve(status, body, ct, 1);
        let out = check_bridge(&url);
        assert_eq!(out.code, Some(20), "{why}: {}", out.stderr);
        let because = out.json()["unknown_because"].to_string();
        assert!(because.contains(why), "{why}: {because}");
    }
}

#[test]
fn a_refused_connection_is_quick_and_named() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/snapshots");
    let out = check_bridge(&url);
    assert_eq!(out.code, Some(20));
    assert!(out.stderr.contains("could not connect"), "{}", out.stderr);
    assert!(out.stderr.contains(&url), "names the URL: {}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
}

#[test]
fn a_server_that_never_answers_is_bounded() {
    // Accepts the connection and then says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/snapshots", listener.local_addr().unwrap());
    let holder = std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(Duration::from_secs(6));
        drop(conn);
    });
    let out = Guard::new()
        .args(["check", "--now", NOW, "--bridge", &url])
        .timeout(Duration::from_secs(15))
        .run();
    assert_eq!(out.code, Some(20), "{}", out.stderr);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    assert!(
        out.elapsed < Duration::from_secs(7),
        "bounded by the 5 s request timeout: {:?}",
        out.elapsed
    );
    let _ = holder.join();
}

#[test]
fn credentials_in_a_bridge_url_are_never_printed() {
    let (url, _) = serve(404, b"no".to_vec(), "text/plain", 1);
    let secret = url.replace("http://", "http://user:s3cr3t-pass@") + "?token=s3cr3t-query";
    let out = Guard::new()
        .args([
            "check",
            "--json",
            "--explain",
            "--now",
            NOW,
            "--bridge",
            &secret,
        ])
        .run();
    assert_eq!(out.code, Some(20));
    assert!(
        !out.stdout.contains("s3cr3t") && !out.stderr.contains("s3cr3t"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

//! The real binary: migrate, create a system admin, serve (request ids in the logs), and shut down
//! gracefully on SIGTERM, even with an event stream open.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

fn env(cmd: &mut Command, dir: &std::path::Path, url: &str) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SWITCHBOARD_DATA_DIR", dir)
        .env("SWITCHBOARD_DATABASE_URL", url)
        .env("SWITCHBOARD_LISTEN", "127.0.0.1:0")
        .env("SWITCHBOARD_LOG_FORMAT", "json");
}

#[tokio::test]
async fn binary_migrates_creates_admin_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database_url(dir.path()).await;

    let mut c = bin();
    env(&mut c, dir.path(), &url);
    let out = c.arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut c = bin();
    env(&mut c, dir.path(), &url);
    let mut child = c
        .args(["admin", "create-system-admin", "--email", "Root@Example.test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a very long password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("root@example.test"));

    // Bad configuration names the variable and exits non-zero.
    let mut c = bin();
    env(&mut c, dir.path(), &url);
    let out = c.env("SWITCHBOARD_LISTEN", "not-an-address").arg("migrate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_LISTEN"));

    let mut c = bin();
    env(&mut c, dir.path(), &url);
    // tower_http at debug: one line per request, to check that it carries the request id.
    c.env("SWITCHBOARD_LOG", "info,tower_http=debug");
    let mut server = c.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = server.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("server log line");
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["fields"]["message"] == "switchboard listening"
        {
            break v["fields"]["addr"].as_str().unwrap().to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    };
    let client = reqwest::Client::new();
    let res = client
        .post(format!("http://{addr}/api/auth/login"))
        .json(&json!({"email": "root@example.test", "password": "a very long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    // The request's log lines carry the id the response header gave.
    let mut logged: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logged
        .iter()
        .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["span"]["request_id"] == request_id.as_str()))
    {
        assert!(Instant::now() < deadline, "no log line with request id {request_id}: {logged:#?}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            logged.push(line);
        }
    }
    logged.extend(rx.try_iter());
    assert!(!logged.iter().any(|l| l.contains("a very long password")));

    // An open event stream (a browser tab on the inbox) must not hold the shutdown up.
    let user: Value = client
        .post(format!("http://{addr}/api/auth/register"))
        .json(&json!({"tenantName": "Acme", "name": "Ana", "email": "ana@acme.test", "password": "a long password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stream = client
        .get(format!("http://{addr}/api/events"))
        .bearer_auth(user["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    // SIGTERM: the process exits cleanly.
    let pid = server.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "graceful exit, got {status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The stream was ended by the server, not cut by the test.
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.bytes()).await.expect("the event stream ended");
}

//! The moto server harness itself: it starts, answers, resets, and is gone
//! after drop; a missing venv is an error that says what to run.

use std::net::TcpStream;
use std::time::Duration;

use cdc_moto::{MotoError, MotoServer};

#[test]
fn a_server_starts_resets_and_stops_on_drop() {
    // GIVEN a started server
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let endpoint = moto.endpoint_url().to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    // WHEN its own API is asked THEN it answers
    let (status, body) = moto.api().moto_api("GET", "/moto-api/data.json").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_start().starts_with('{'), "{body}");
    // AND raw AWS JSON calls reach the emulated services
    let (status, body) = moto.api().aws_json("dynamodb", "DynamoDB_20120810.ListTables", "{}").unwrap();
    assert_eq!((status, body.replace(' ', "")), (200, r#"{"TableNames":[]}"#.to_string()));
    moto.reset().unwrap();
    let log = moto.log_path().to_path_buf();
    assert!(log.is_file());
    // WHEN it is dropped THEN the port no longer answers and the log is gone
    let addr = endpoint.trim_start_matches("http://").parse().unwrap();
    drop(moto);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(), "moto_server still answers");
    assert!(!log.exists());
}

#[test]
fn a_missing_venv_says_to_run_python_tools() {
    // GIVEN a venv folder without moto_server WHEN a server is started THEN the error names the script
    let empty = tempfile::tempdir().unwrap();
    let err = MotoServer::start_in(empty.path()).err().expect("must fail");
    assert!(matches!(err, MotoError::NotInstalled(_)), "{err}");
    assert!(err.to_string().contains("scripts/python-tools"), "{err}");
}

#[test]
fn two_servers_run_side_by_side() {
    // GIVEN two servers THEN they use different ports, so parallel tests never share state
    let a = MotoServer::start().unwrap();
    let b = MotoServer::start().unwrap();
    assert_ne!(a.endpoint_url(), b.endpoint_url());
}

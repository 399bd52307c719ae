//! The `gateway` binary as a shell user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use gateway::configuration::LicenceSettings;
use services::licences::Claims;

/// `gateway verify-qr … | head -1`: the reader is gone before the report is written. The command
/// ends quietly, with the verdict's status, not with a panic on the broken pipe.
#[test]
fn verify_qr_into_a_closed_pipe_exits_quietly() {
    let keys = LicenceSettings::default().presentation_keys().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = Claims::new(
        "1.2.156.3005.2.1.2.3.001.X",
        "张*",
        now,
        now + 600,
        "j".into(),
    );
    let payload = keys.sign(&claims).unwrap();
    let dir = std::env::temp_dir().join(format!("zsb-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, serde_json::to_vec(&keys.jwks()).unwrap()).unwrap();

    for (payload, status) in [(payload.as_str(), Some(0)), ("not-a-payload", Some(1))] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["verify-qr", "--jwks"])
            .arg(&jwks)
            .arg(payload)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("Broken pipe"), "{stderr}");
        assert_eq!(out.status.code(), status, "{payload}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
